"""(package placeholder; see its issue)."""
