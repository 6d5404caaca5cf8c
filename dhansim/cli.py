"""Command line of the simulator: ``python -m dhansim`` and ``python -m copytrader sim``.

``configure_parser`` adds the options, ``run`` serves on one port (REST ``/v2``, the order-update
socket ``/order-update`` and the admin API ``/sim``) until SIGINT/SIGTERM and returns 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from dhansim.journal import DEFAULT_JOURNAL_SIZE
from dhansim.server import Simulator, serve_forever
from dhansim.switches import Switches

#: Shorthand flags for the most used switches (``--switch NAME=VALUE`` reaches every switch).
_FLAG_SWITCHES: tuple[tuple[str, str, Any], ...] = (
    ("--no-broker-oco", "broker_oco", False),
    ("--no-rate-limits", "rate_limits", False),
    ("--no-market-protection", "market_protection", False),
    ("--no-random-walk", "random_walk", False),
    ("--quirks", "quirks", True),
    ("--bo-absolute", "bo_values_absolute", True),
)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 = any free)")
    p.add_argument("--seed", type=int, default=0, help="seed of prices and fault draws")
    p.add_argument(
        "--journal-size",
        type=int,
        default=DEFAULT_JOURNAL_SIZE,
        help=f"journal ring size in entries (default {DEFAULT_JOURNAL_SIZE})",
    )
    p.add_argument(
        "--switch",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a behaviour switch (JSON value), e.g. --switch mpp_percent=5; "
        f"names: {', '.join(Switches().as_dict())}",
    )
    for flag, name, value in _FLAG_SWITCHES:
        p.add_argument(
            flag,
            dest=f"flag_{name}",
            action="store_const",
            const=value,
            default=None,
            help=f"same as --switch {name}={json.dumps(value)}",
        )
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def switches_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The switch overrides named on the command line; ``ValueError`` for a malformed one."""
    switches: dict[str, Any] = {}
    for _flag, name, _value in _FLAG_SWITCHES:
        value = getattr(args, f"flag_{name}", None)
        if value is not None:
            switches[name] = value
    for item in args.switch:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--switch takes NAME=VALUE, got {item!r}")
        try:
            switches[name.strip()] = json.loads(raw)
        except ValueError:
            switches[name.strip()] = raw
    Switches().updated(switches)  # validate names and types before binding the port
    return switches


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad option."""
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        switches = switches_from_args(args)
        sim = Simulator(
            seed=args.seed,
            host=args.host,
            port=args.port,
            journal_size=args.journal_size,
            **switches,
        )
    except ValueError as exc:
        logging.getLogger("dhansim").error("bad option: %s", exc)
        return 2
    asyncio.run(serve_forever(sim))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dhansim", description="DhanHQ v2 simulator")
    configure_parser(parser)
    return run(parser.parse_args(argv))
