"""The operator's mode commands: ``pause NAME``, ``close-only NAME``, ``resume NAME``.

Each writes the follower's mode to the journal (``Journal.set_operator_mode``: who, when, why;
audited ``operator_mode`` in the same transaction) and prints it. No lease: they place no
order, so they work beside a running engine, which reads the modes every half second
(``actors.operator_mode_watch``), and with it stopped (the next start reads them first). What
each mode does to the copies: ``actors.operator_modes``; docs/operations.md, "Operator modes".
"""

from __future__ import annotations

import argparse
import getpass
import logging

from copytrader.commands import (
    _store_errors_exit_1,
    config_naming_follower,
    open_existing_journal,
)
from store import Journal, OperatorMode

logger = logging.getLogger(__name__)

#: The command that sets each mode (also what the journal and the audit trail name as setter).
COMMAND_MODES = {
    "pause": OperatorMode.PAUSED,
    "close-only": OperatorMode.CLOSE_ONLY,
    "resume": OperatorMode.NORMAL,
}

#: What each mode means, as ``status`` and the commands print it.
MODE_MEANING = {
    OperatorMode.NORMAL: "every leader order copied",
    OperatorMode.PAUSED: "no new copies; existing copies' modifies and cancels still mirrored",
    OperatorMode.CLOSE_ONLY: "no new entries; exits, legs, modifies and cancels still mirrored",
}


@_store_errors_exit_1
def set_mode(args: argparse.Namespace) -> int:
    """``pause`` / ``close-only`` / ``resume`` FOLLOWER: journal the mode (0), 2: unknown
    follower or bad configuration, 1: the store cannot be used."""
    loaded = config_naming_follower(args)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    mode = COMMAND_MODES[args.command]
    reason = args.reason or f"by {_operator()}"
    # a missing journal is refused (a mistyped store.url would otherwise make an empty one the
    # engine never reads); --create makes it, to pause a follower before the engine's first run
    opened = Journal.open(cfg.store.url) if args.create else open_existing_journal(cfg.store.url)
    with opened as journal:
        before = journal.operator_modes().get(args.follower)
        journal.set_operator_mode(args.follower, mode, set_by=args.command, reason=reason)
    was = OperatorMode.NORMAL if before is None else before.mode
    print(f"{args.follower}: {was} -> {mode} ({MODE_MEANING[mode]})")
    print("a running engine applies it within a second; a stopped one when it starts")
    return 0


def _operator() -> str:
    """Who ran the command (the OS user), for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): still audited, unnamed
        return "unknown user"
