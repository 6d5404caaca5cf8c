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
    "reconcile": "report differences between leader and follower books (--apply to fix)",
}


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"copytrader {name}: not available yet in this build", file=sys.stderr)
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
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
            _configure_sim(p)
        elif name == "run":
            p.set_defaults(func=_run)
        elif name == "check-config":
            p.set_defaults(func=_lazy("check_config"))
        elif name == "status":
            p.set_defaults(func=_lazy("status"))
        elif name == "reconcile":
            from copytrader import commands

            commands.configure_reconcile(p)
            p.set_defaults(func=_lazy("reconcile"))
        elif name == "demo":
            from copytrader import demo

            demo.configure_parser(p)
            p.set_defaults(func=demo.run)
        else:
            p.set_defaults(func=_not_yet(name))
    return parser


def _configure_sim(p: argparse.ArgumentParser) -> None:
    try:
        from dhansim import cli as sim_cli
    except ImportError:  # the simulator's CLI lands with its issue
        p.set_defaults(func=_not_yet("sim"))
        return
    sim_cli.configure_parser(p)
    p.set_defaults(func=sim_cli.run)


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from copytrader import commands

        func: Callable[[argparse.Namespace], int] = getattr(commands, name)
        return func(args)

    return run


def _run(args: argparse.Namespace) -> int:
    from copytrader import runner

    return runner.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv or sys.argv[1:]), "run"])
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)
