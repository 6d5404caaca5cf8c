"""The operator's one-shot commands: ``check-config``, ``status``, ``reconcile``.

Each prints human-readable lines and returns an exit status. None prints a token: the config
holds them as ``Secret`` and the log filter redacts them anyway.
"""

from __future__ import annotations

import argparse
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from actors.copy_slippage import day_slippage
from actors.lot_sizes import LOT_SIZES_MARK, parse_lot_sizes
from actors.sizing import SizingContext
from actors.slippage import trading_day
from actors.snapshots import bracket_parents
from copytrader.book_diff import BookDiff, diff_books
from copytrader.checker import CheckResult, check_books
from copytrader.config import AccountConfig, Config, FollowerConfig
from copytrader.drift import DriftReader, journal_lot_sizes
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.logs import setup_logging
from copytrader.positions import format_table
from copytrader.runner import broker_endpoints, load_or_exit, secrets_of
from copytrader.token_renewal import auth_url_for, store_for, with_stored_tokens
from copytrader.token_store import TokenStoreError
from dhan import errors
from dhan.models import Order, SuperOrder
from dhan.rest import DhanClient
from store import Journal
from store.engine import make_engine, normalise_url
from store.errors import StoreError
from store.records import LeaderOrderSnapshot, is_operator_skip
from store.schema import database_revisions
from store.states import IntentState

logger = logging.getLogger(__name__)

#: Intent states that still need the follower to act.
_PENDING = frozenset(
    {
        IntentState.PLANNED,
        IntentState.SENDING,
        IntentState.UNKNOWN,
        IntentState.MODIFYING,
        IntentState.CANCELLING,
    }
)


def _accounts(cfg: Config) -> list[tuple[str, AccountConfig | FollowerConfig]]:
    return [("leader", cfg.leader), *((f.name, f) for f in cfg.followers)]


def check_config(args: argparse.Namespace) -> int:
    """Validate the file, then ``GET /profile`` for every account. Exit 0 all ok, 1 otherwise."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(loaded))
    print(f"config {args.config}: ok ({len(loaded.followers)} followers)")
    store = store_for(loaded, args.config)
    try:
        cfg, sources = with_stored_tokens(loaded, store)
    except TokenStoreError as exc:
        print(f"token store: {exc}")
        return 1
    failures = 0
    with broker_endpoints(cfg) as (endpoints, _sim):
        print(
            f"token store {store.path}; renewal {cfg.tokens.renew_before_s:g} s before expiry; "
            f"PIN + TOTP logins at {auth_url_for(endpoints.rest_url, cfg.tokens.auth_url)}"
        )
        for name, account in _accounts(cfg):
            client = _client(cfg, endpoints, account)
            how = (
                f"token from the {sources.get(name, 'environment')}, "
                f"renewal {'on' if account.renew else 'off'}, "
                f"PIN + TOTP {'configured' if account.auth is not None else 'not configured'}"
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
            print(f"  {how}")
    return 0 if failures == 0 else 1


class NoJournal(StoreError):
    """``store.url`` names no journal: a missing SQLite file, or a database without our schema."""


def open_existing_journal(url: str) -> Journal:
    """The journal at ``url``, for a command that only reads it; ``NoJournal`` when there is none.

    ``Journal.open`` creates a missing journal (right for ``run``): pointed at a wrong folder or
    a mistyped URL, ``status`` and ``reconcile`` would then report an empty journal as clean.
    """
    parsed = normalise_url(url)
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or not Path(path).is_file():
            # checked before connecting: connecting to a missing SQLite file creates it
            raise NoJournal(f"no journal at {where}: the file does not exist (check store.url)")
    engine = make_engine(parsed)
    try:
        with engine.connect() as conn:
            revisions = database_revisions(conn)
    finally:
        engine.dispose()
    if not revisions:
        raise NoJournal(f"no journal at {where}: the database holds no copytrader schema")
    return Journal.open(url)


def _store_errors_exit_1(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """A store that cannot be opened (unreachable, missing, a schema from a newer copytrader)
    is one clear line and exit status 1, as ``run`` does, not a traceback."""

    @functools.wraps(command)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (StoreError, SQLAlchemyError) as exc:
            # the first line: the driver's message (no URL, no password), not the SQL
            first = str(exc).splitlines()[0] if str(exc) else ""
            logger.critical("cannot use the store: %s: %s", type(exc).__name__, first)
            return 1

    return guarded


def config_naming_follower(args: argparse.Namespace) -> Config | int:
    """The config of a command about one follower (``args.follower``), logging set up; or the
    exit status 2 after one line naming what is wrong (a bad config, an unknown follower)."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(loaded))
    names = [f.name for f in loaded.followers]
    if args.follower not in names:
        print(
            f"{args.command}: no follower {args.follower!r} in {args.config} "
            f"({', '.join(names) or 'none'})"
        )
        return 2
    return loaded


@_store_errors_exit_1
def status(args: argparse.Namespace) -> int:
    """Followers, intents by state, unresolved intents, quarantines, positions (expected vs
    the journal's, with the reason of each difference), today's copy slippage per follower
    (from the journal), last restarts."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(cfg))
    journal = open_existing_journal(cfg.store.url)
    try:
        quarantined = set(journal.quarantined_followers())
        modes = journal.operator_modes()
        print(f"store {journal.url}")  # the password hidden
        print(f"{'follower':<16}{'enabled':<9}{'quarantined':<13}{'mode':<12}intents by state")
        operator_skips: dict[str, Counter[str]] = {}
        for f in cfg.followers:
            intents = journal.intents(f.name)
            counts = Counter(str(i.state) for i in intents)
            operator_skips[f.name] = Counter(
                i.skip_reason for i in intents if i.skip_reason and is_operator_skip(i.skip_reason)
            )
            by_state = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"
            mode = str(modes[f.name].mode) if f.name in modes else "normal"
            print(
                f"{f.name:<16}{f.enabled!s:<9}{(f.name in quarantined)!s:<13}{mode:<12}{by_state}"
            )
        print("\noperator modes (pause / close-only / resume)")
        for f in cfg.followers:
            m = modes.get(f.name)
            since = "never set" if m is None else f"{m.mode} since {m.set_at:%Y-%m-%d %H:%M:%S} UTC"
            by = "" if m is None else f" by {m.set_by}" + (f" ({m.reason})" if m.reason else "")
            skipped = ", ".join(f"{n} {r}" for r, n in sorted(operator_skips[f.name].items()))
            print(f"  {f.name + ':':<17}{since}{by}" + (f"; skipped: {skipped}" if skipped else ""))
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
        rows = DriftReader().rows(
            journal,
            [f.name for f in cfg.followers],
            journal_lot_sizes(journal, journal.leader_snapshots()),
        )
        drifting = sum(1 for r in rows if r.drift)
        print(f"\npositions (journal): {len(rows)} rows, {drifting} with drift")
        for line in format_table(rows) if rows else []:
            print(f"  {line}")
        day = trading_day()
        print(
            f"\ncopy slippage today ({day} IST; fully filled copies, bps, + worse for the follower)"
        )
        for f in cfg.followers:
            # "name:" (not the name alone): a line that starts with a follower's name is its
            # row of the table above
            print(f"  {f.name + ':':<17}{day_slippage(journal, f.name, day).line()}")
        restarts = journal.restarts(limit=10)
        print(f"\nlast restarts: {len(restarts)}")
        for r in restarts:
            print(f"  {r.at:%Y-%m-%d %H:%M:%S} {r.actor}: {r.reason[:120]}")
    finally:
        journal.close()
    return 0


@dataclass
class _Report:
    """One reading of the books and the journal, judged."""

    journal_check: CheckResult
    diff: BookDiff | None  #: None when the leader's book could not be read
    unreadable: list[str]  #: accounts whose book could not be read

    @property
    def clean(self) -> bool:
        return (
            self.journal_check.bad == 0
            and self.diff is not None
            and not self.diff.problems
            and not self.unreadable
        )

    def print(self) -> None:
        print(f"reconcile: {self.journal_check.line()}")
        for problem in self.journal_check.problems:
            print(f"  {problem}")
        for name in self.unreadable:
            print(f"  {name}: book unavailable")
        if self.diff is None:
            print("leader vs followers: not compared (the leader's book is unavailable)")
            return
        print(f"leader vs followers: {len(self.diff.problems)} differences")
        for line in self.diff.problems:
            print(f"  {line}")
        if self.diff.notes:
            print(f"by design: {len(self.diff.notes)}")
            for line in self.diff.notes:
                print(f"  {line}")


def _report(cfg: Config, endpoints: BrokerEndpoints) -> _Report:
    books: dict[str, list[Order]] = {}
    supers: dict[str, list[SuperOrder]] = {}
    balances: dict[str, float] = {}
    unreadable = []
    # capital sizing needs the leader's and the follower's available balance, as the engine's
    capital = {f.name for f in cfg.followers if f.sizing.mode == "capital"}
    for name, account in _accounts(cfg):
        with _client(cfg, endpoints, account) as client:
            try:
                books[name] = client.list_orders()
                supers[name] = client.list_super_orders()
            except errors.DhanError as exc:
                books.pop(name, None)
                unreadable.append(name)
                logger.warning("%s: book unavailable: %s", name, exc)
                continue
            if capital and (name == "leader" or name in capital):
                try:
                    balances[name] = client.fund_limits().available_balance
                except errors.DhanError as exc:
                    logger.warning("%s: balance unavailable: %s", name, exc)
    journal = open_existing_journal(cfg.store.url)
    try:
        intents = journal.intents()
        all_snapshots = journal.leader_snapshots()
        # what the engine sized with: the lots it journaled (they outlive a restart), then the
        # ones the kept socket frames name
        lot_sizes = {**parse_lot_sizes(journal.get_mark("leader", LOT_SIZES_MARK))}
        lot_sizes.update(_lot_sizes(all_snapshots))
        # each plain order's exit basis: an exit's copy is judged against it (issue 16)
        bases = {
            s.leader_order_id: journal.exit_bases(s.leader_order_id)
            for s in all_snapshots
            if not s.leg_name and s.parent_order_id is None
        }
    finally:
        journal.close()
    snapshots = {s.leader_order_id: s for s in all_snapshots if s.leg_name in ("", "ENTRY_LEG")}
    leader_book = books.pop("leader", None)
    leader_supers = supers.pop("leader", [])
    # a disabled follower acts on nothing until it is enabled again: its pending copies and its
    # stale orders are by design, not differences
    enabled = [f.name for f in cfg.followers if f.enabled]
    waiting: dict[str, int] = {}
    for intent in intents:
        if intent.follower not in enabled and intent.state in _PENDING:
            waiting[intent.follower] = waiting.get(intent.follower, 0) + 1
    active = [i for i in intents if i.follower in enabled]
    active_books = {name: b for name, b in books.items() if name in enabled}
    check = check_books(
        active, {name: [_as_book_row(o) for o in b] for name, b in active_books.items()}
    )
    diff = None
    if leader_book is not None:
        diff = diff_books(
            leader_book,
            active_books,
            active,
            snapshots,
            [f for f in cfg.followers if f.enabled],
            str(cfg.engine.reconcile_policy),
            ctx=SizingContext(lot_sizes=lot_sizes, balances=balances),
            max_entry_deviation_pct=cfg.engine.max_entry_deviation_pct,
            leader_supers=leader_supers,
            follower_supers=supers,
            bases=bases,
            # a leader's BO/CO legs carry no correlationId when it trades from Dhan's app: the
            # journal's link (from the socket), else the book's shape, as the engine links them
            leader_leg_parents=bracket_parents(
                leader_book,
                {
                    s.leader_order_id: s.parent_order_id
                    for s in all_snapshots
                    if s.leg_name and s.parent_order_id and s.parent_order_id != s.leader_order_id
                },
            ),
        )
        check.wrong = diff.wrong
        diff.notes += [
            f"{name} is disabled (enabled: false): {n} copies wait until it is enabled again"
            for name, n in sorted(waiting.items())
        ]
    return _Report(check, diff, unreadable)


def _lot_sizes(snapshots: Iterable[LeaderOrderSnapshot]) -> dict[tuple[str, str], int]:
    """(segment, security id) -> lot size, from the socket frames the journal kept
    (``LotSize``): what the engine sized with."""
    out: dict[tuple[str, str], int] = {}
    for s in snapshots:
        lot = s.raw.get("LotSize") or s.raw.get("lotSize")
        if isinstance(lot, int | float | str) and str(lot).strip().isdigit() and int(lot) > 0:
            out[(str(s.exchange_segment), s.security_id)] = int(lot)
    return out


@_store_errors_exit_1
def reconcile(args: argparse.Namespace) -> int:
    """The leader's and every follower's book at the broker against the journal: what differs
    and why. Read-only; ``--apply`` runs the engine until the report is clean (or
    ``--timeout-s``) -- stop the service first: one engine per journal."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(cfg))
    if args.positions:
        if args.apply:
            print("reconcile --positions is read-only: `resync FOLLOWER --apply` repairs drift")
            return 2
        from copytrader.position_commands import reconcile_positions

        return reconcile_positions(cfg)
    # also with --apply: a journal that is not there is a wrong store.url, not a fresh start
    open_existing_journal(cfg.store.url).close()
    report: _Report | None = None
    with broker_endpoints(cfg) as (endpoints, _sim):
        if args.apply:
            engine = Engine(cfg, endpoints=endpoints).start()
            deadline = time.monotonic() + args.timeout_s
            try:
                while True:
                    settled = engine.ready()[0] and engine.journal.unresolved_count() == 0
                    report = _report(cfg, endpoints) if settled else None
                    if (report is not None and report.clean) or time.monotonic() >= deadline:
                        break
                    time.sleep(0.5)  # polling the engine's progress, bounded by the deadline
            finally:
                engine.stop()
        if report is None:
            report = _report(cfg, endpoints)
    report.print()
    return 0 if report.clean else 1


def _client(
    cfg: Config, endpoints: BrokerEndpoints, account: AccountConfig | FollowerConfig
) -> DhanClient:
    """A REST client for one account, through its egress (as the engine's own)."""
    egress = getattr(account, "egress", None)
    return DhanClient(
        base_url=endpoints.rest_url,
        client_id=account.client_id,
        access_token=account.access_token.reveal(),
        connect_timeout_s=cfg.broker.connect_timeout_s,
        read_timeout_s=cfg.broker.read_timeout_s,
        source_address=egress.source_address if egress else None,
        proxy=egress.proxy if egress else None,
    )


def _as_book_row(order: object) -> dict[str, object]:
    leg = getattr(order, "leg_name", None)
    return {
        "correlationId": getattr(order, "correlation_id", None),
        "legName": str(leg) if leg is not None else None,
        "orderId": getattr(order, "order_id", None),
        # an earlier correlationId generation must have ended unfilled (checker)
        "orderStatus": str(getattr(order, "order_status", "") or ""),
        "filledQty": getattr(order, "filled_qty", 0),
    }
