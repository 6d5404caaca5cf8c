"""Test-suite wide configuration."""

pytest_plugins = ["dhansim.pytest_plugin"]
