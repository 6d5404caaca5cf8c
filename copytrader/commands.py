"""The operator's one-shot commands: ``check-config``, ``status``, ``reconcile``.

Each prints human-readable lines and returns an exit status. None prints a token: the config
holds them as ``Secret`` and the log filter redacts them anyway.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from copytrader.checker import check_books
from copytrader.config import AccountConfig, Config, FollowerConfig
from copytrader.engine import Engine
from copytrader.logs import setup_logging
from copytrader.runner import broker_endpoints, load_or_exit, secrets_of
from dhan import errors
from dhan.rest import DhanClient
from store import Journal


def _accounts(cfg: Config) -> list[tuple[str, AccountConfig | FollowerConfig]]:
    return [("leader", cfg.leader), *((f.name, f) for f in cfg.followers)]


def check_config(args: argparse.Namespace) -> int:
    """Validate the file, then ``GET /profile`` for every account. Exit 0 all ok, 1 otherwise."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(cfg))
    print(f"config {args.config}: ok ({len(cfg.followers)} followers)")
    failures = 0
    with broker_endpoints(cfg) as (endpoints, _sim):
        for name, account in _accounts(cfg):
            egress = getattr(account, "egress", None)
            client = DhanClient(
                base_url=endpoints.rest_url,
                client_id=account.client_id,
                access_token=account.access_token.reveal(),
                connect_timeout_s=cfg.broker.connect_timeout_s,
                read_timeout_s=cfg.broker.read_timeout_s,
                source_address=egress.source_address if egress else None,
                proxy=egress.proxy if egress else None,
            )
            try:
                profile = client.profile()
            except errors.AuthError as exc:
                failures += 1
                print(f"{name} ({account.client_id}): token rejected ({exc.code}): {exc.message}")
            except errors.DhanError as exc:
                failures += 1
                print(f"{name} ({account.client_id}): cannot check: {type(exc).__name__}: {exc}")
            else:
                validity = profile.token_validity or "unknown expiry"
                print(f"{name} ({account.client_id}): token ok, valid until {validity}")
            finally:
                client.close()
    return 0 if failures == 0 else 1


def status(args: argparse.Namespace) -> int:
    """Followers, intents by state, unresolved intents, quarantines, last restarts."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    journal = Journal.open(cfg.store.url)
    try:
        quarantined = set(journal.quarantined_followers())
        print(f"store {cfg.store.url}")
        print(f"{'follower':<16}{'enabled':<9}{'quarantined':<13}intents by state")
        for f in cfg.followers:
            counts = Counter(str(i.state) for i in journal.intents(f.name))
            by_state = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"
            print(f"{f.name:<16}{f.enabled!s:<9}{(f.name in quarantined)!s:<13}{by_state}")
        unresolved = [
            i
            for i in journal.intents()
            if str(i.state) in ("PLANNED", "SENDING", "UNKNOWN", "MODIFYING", "CANCELLING")
            or (str(i.state) == "WORKING" and not i.in_sync)
        ]
        print(f"\nunresolved intents: {len(unresolved)}")
        for i in unresolved[:20]:
            print(
                f"  #{i.id} {i.follower} leader {i.leader_order_id} {i.state} "
                f"cid={i.correlation_id} {i.error_code or ''} {i.error_message or ''}".rstrip()
            )
        restarts = journal.restarts(limit=10)
        print(f"\nlast restarts: {len(restarts)}")
        for r in restarts:
            print(f"  {r.at:%Y-%m-%d %H:%M:%S} {r.actor}: {r.reason[:120]}")
    finally:
        journal.close()
    return 0


def reconcile(args: argparse.Namespace) -> int:
    """Compare the journal with every follower's book; ``--apply`` lets the engine converge."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(cfg))
    with broker_endpoints(cfg) as (endpoints, _sim):
        if args.apply:
            engine = Engine(cfg, endpoints=endpoints).start()
            deadline = time.monotonic() + args.timeout_s
            try:
                while time.monotonic() < deadline:
                    if engine.ready()[0] and engine.journal.unresolved_count() == 0:
                        break
                    time.sleep(0.2)
            finally:
                engine.stop()
        journal = Journal.open(cfg.store.url)
        try:
            books = {}
            for f in cfg.followers:
                with DhanClient(
                    base_url=endpoints.rest_url,
                    client_id=f.client_id,
                    access_token=f.access_token.reveal(),
                ) as client:
                    try:
                        books[f.name] = [_as_book_row(o) for o in client.list_orders()]
                    except errors.DhanError as exc:
                        print(f"{f.name}: book unavailable: {exc}", file=sys.stderr)
            result = check_books(journal.intents(), books)
        finally:
            journal.close()
    print(f"reconcile: {result.line()}")
    for problem in result.problems:
        print(f"  {problem}")
    return 0 if result.bad == 0 else 1


def _as_book_row(order: object) -> dict[str, object]:
    leg = getattr(order, "leg_name", None)
    return {
        "correlationId": getattr(order, "correlation_id", None),
        "legName": str(leg) if leg is not None else None,
        "orderId": getattr(order, "order_id", None),
    }
