"""``python -m copytrader``: the command-line entry point."""

from copytrader.cli import main

raise SystemExit(main())
