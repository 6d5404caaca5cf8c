"""pytest fixtures for tests that need a running simulator (owned by the dhansim work)."""
