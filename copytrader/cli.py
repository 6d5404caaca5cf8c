"""The command line: ``python -m copytrader [--config config.yaml] <command>``.

Each subcommand is a small function here; the work lives in the packages it wires together.
Exit codes: 0 ok, 1 a check failed / the engine gave up, 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

COMMANDS_HELP = {
    "run": "start the copy engine from the config (the default command)",
    "demo": "self-contained demo: embedded simulator, scripted leader, N followers, live table",
    "sim": "serve the bundled DhanHQ v2 simulator (REST + order-update socket)",
    "check-config": "validate the config and check every account's token with GET /profile",
    "status": "print followers, open/unresolved intents, quarantines and restarts from the store",
    "reconcile": "report differences between leader and follower books (--apply to fix); "
    "--positions: each follower's positions at the broker against the expected ones",
    "resync": "print the orders that bring FOLLOWER to its expected positions (--apply places "
    "them)",
    "pause": "journal FOLLOWER as paused: no new copies (a running engine applies it within 1 s)",
    "close-only": "journal FOLLOWER as close-only: exits copied, new entries skipped",
    "resume": "journal FOLLOWER back to normal copying (for leader orders from now on)",
    "flatten": "cancel every open order and exit every position of --follower NAME or --all "
    "(a running engine does it on request); --kill-switch then switches trading off for the day",
}


def build_parser(with_sim: bool = True) -> argparse.ArgumentParser:
    """The full parser; ``with_sim=False`` leaves out the simulator's options (and import)."""
    parser = argparse.ArgumentParser(
        prog="python -m copytrader",
        description="Copy-trading engine for the DhanHQ v2 API.",
    )
    parser.add_argument(
        "--config", default="config.yaml", help="path to the YAML config (default: config.yaml)"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="log line format (default: from config, else text)",
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, help_text in COMMANDS_HELP.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != "sim":  # the simulator has its own options
            # the global options are also accepted after the command: `run --config x.yaml`
            p.add_argument("--config", default=argparse.SUPPRESS, help="path to the YAML config")
            p.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS)
            p.add_argument("--log-level", default=argparse.SUPPRESS)
        if name == "sim":
            _configure_sim(p, with_sim)
        elif name == "run":
            p.set_defaults(func=_run)
        elif name == "check-config":
            p.set_defaults(func=_lazy("check_config"))
        elif name == "status":
            p.set_defaults(func=_lazy("status"))
        elif name == "reconcile":
            p.add_argument(
                "--apply", action="store_true", help="run the engine until it has converged"
            )
            p.add_argument(
                "--timeout-s", type=float, default=60.0, help="how long --apply may take"
            )
            p.add_argument(
                "--positions",
                action="store_true",
                help="compare positions instead of books: expected vs the broker's (read-only)",
            )
            p.set_defaults(func=_lazy("reconcile"))
        elif name == "resync":
            p.add_argument("follower", help="the follower's name in the config")
            p.add_argument(
                "--apply", action="store_true", help="place the orders (else only print them)"
            )
            p.set_defaults(func=_lazy_resync)
        elif name in ("pause", "close-only", "resume"):
            p.add_argument("follower", help="the follower's name in the config")
            p.add_argument("--reason", default=None, help="why (journaled and audited)")
            p.add_argument(
                "--create",
                action="store_true",
                help="create the journal at store.url if there is none (to set a mode before"
                " the engine's first run); without it a missing journal is refused (exit 1)",
            )
            p.set_defaults(func=_lazy_set_mode)
        elif name == "flatten":
            which = p.add_mutually_exclusive_group(required=True)
            which.add_argument("--follower", default=None, help="the follower's name")
            which.add_argument("--all", action="store_true", help="every follower")
            p.add_argument(
                "--kill-switch",
                action="store_true",
                help="once flat, activate Dhan's kill switch (no trading for the rest of the day)",
            )
            p.add_argument(
                "--timeout-s",
                type=float,
                default=120.0,
                help="with an engine running: how long to wait for it to flatten (default 120)",
            )
            p.set_defaults(func=_lazy_flatten)
        elif name == "demo":
            p.add_argument("--followers", type=int, default=3, help="followers (default 3)")
            p.add_argument(
                "--seconds", type=float, default=20.0, help="length of the script (default 20)"
            )
            p.add_argument("--seed", type=int, default=7, help="simulator seed")
            p.set_defaults(func=_lazy_demo)
    return parser


def _configure_sim(p: argparse.ArgumentParser, full: bool) -> None:
    if not full:
        # importing the simulator costs ~1 s of CPU; main() asks for the full parser whenever
        # "sim" is on the command line, so a parser without it never selects this command
        return
    from dhansim import cli as sim_cli

    sim_cli.configure_parser(p)
    p.set_defaults(func=sim_cli.run)


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from copytrader import commands

        func: Callable[[argparse.Namespace], int] = getattr(commands, name)
        return func(args)

    return run


def _lazy_resync(args: argparse.Namespace) -> int:
    from copytrader import position_commands

    return position_commands.resync(args)


def _lazy_set_mode(args: argparse.Namespace) -> int:
    from copytrader import operator_commands

    return operator_commands.set_mode(args)


def _lazy_flatten(args: argparse.Namespace) -> int:
    from copytrader import flatten

    return flatten.flatten(args)


def _lazy_demo(args: argparse.Namespace) -> int:
    from copytrader import demo

    return demo.run(args)


def _run(args: argparse.Namespace) -> int:
    from copytrader import runner

    return runner.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(with_sim="sim" in words)
    args = parser.parse_args(words)
    if args.command is None:
        args = parser.parse_args([*words, "run"])
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.error(f"{args.command}: command not available")
    return func(args)
