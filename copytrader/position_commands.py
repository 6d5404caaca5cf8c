"""The position commands: ``reconcile --positions`` and ``resync FOLLOWER [--apply]``.

``reconcile --positions`` reads every account's positions at the broker (``GET /positions`` +
``GET /holdings``) and order book, and prints each follower's expected position (from the
journal's copies) against the broker's, with the reason of every difference. Read-only: no
lease, safe while the engine runs. Exit 0 when no follower drifts, 1 when one does.

``resync FOLLOWER`` prints the orders that would take the follower's broker positions to the
expected ones (exits first); ``--apply`` places them. Never automatic: a manual trade in a
follower's account is the operator's call.

How ``--apply`` places nothing twice and loses nothing:

* It takes the journal's lease (``store.lease``): it refuses while an engine runs (the engine
  could be copying into the same positions), naming the holder.
* It refuses while a resync order of the follower is still open at the broker: the plan is
  computed from the broker's positions, which an open order has not moved yet.
* Every order has a deterministic correlationId (``copytrader.positions.resync_correlation_id``)
  over (follower, run, key, side, quantity); the run is the IST day and the number of resync
  runs of the follower that ended (the journal's ``resync_runs`` mark, raised at the end of a
  run whose orders all settled -- filled, or refused -- never after an unknown outcome or an
  order still open). Before placing, the order is looked up by its
  correlationId (``GET /orders/external``): found, it is not placed again. So a rerun after a
  crash (same run, same positions: same plan, same ids) finds what the crashed run placed; a
  rerun after those orders filled computes the rest of the way from the new positions.
* Each order is journaled before it is sent (a ``resync_sent:<correlationId>`` mark with the
  time, and audit ``resync_sending``) and its outcome after (``resync_placed`` /
  ``resync_rejected`` / ``resync_unknown``); an answer that never came is looked up by
  correlationId, and an order still unknown stops the run. The next run looks it up first;
  absent from the book for less than :data:`SENT_GRACE_S` since it was sent, it is not
  placed again yet (the broker may still be taking it in). The audit rows reach the audit log
  like copies' do.

Resync orders are MARKET, validity DAY, in whole lots; each exit is waited for (filled, or
the run stops) before the next order, so entries never go out beside an unfinished exit.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from actors.rate_windows import AccountWindows, order_rate_limits
from copytrader.commands import (
    _accounts,
    _client,
    _store_errors_exit_1,
    config_naming_follower,
    open_existing_journal,
)
from copytrader.config import Config, FollowerConfig
from copytrader.drift import IST, DriftReader, journal_lot_sizes, trading_day_start
from copytrader.engine import BrokerEndpoints
from copytrader.instrument_file import (
    InstrumentFileUnavailable,
    load_limits,
    merge,
    sim_instruments_url,
)
from copytrader.positions import (
    DriftRow,
    Held,
    ResyncOrder,
    broker_holdings,
    counts_since,
    format_table,
    is_flatten_id,
    is_resync_id,
    plannable,
    resync_plan,
)
from copytrader.runner import broker_endpoints
from dhan import errors
from dhan.codes import (
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import first_generation_id
from dhan.models import Order, OrderRequest
from dhan.rest import DhanClient
from store import Journal
from store.lease import JournalLease
from store.records import Intent, OrderFill, PositionKey

logger = logging.getLogger(__name__)

#: The journal mark (account: the follower) counting the follower's completed resync runs.
RESYNC_RUNS_MARK = "resync_runs"
#: The audit actor of resync orders.
RESYNC_ACTOR = "resync"
#: How long ``resync --apply`` waits for one order to fill before it stops the run.
FILL_WAIT_S = 30.0
_FILL_POLL_S = 0.25
#: A journal mark per resync order sent (account: the follower; value: Unix time sent).
SENT_MARK_PREFIX = "resync_sent:"
#: How long after sending an order that is not in the book a rerun waits before it takes
#: the order as never placed (a slow broker may still be taking it in) and places it.
SENT_GRACE_S = 60.0


def not_copies(book: Sequence[Order], intents: Sequence[Intent]) -> dict[PositionKey, list[str]]:
    """The book's filled orders that are no copy (no intent's broker order or correlationId),
    by key: a manual trade, a broker square-off, or a resync or flatten order (named so)."""
    ids = {i.broker_order_id for i in intents if i.broker_order_id}
    cids = {i.correlation_id for i in intents}
    out: dict[PositionKey, list[str]] = {}
    for o in book:
        if o.filled_qty <= 0 or o.order_id in ids:
            continue
        if o.correlation_id and first_generation_id(o.correlation_id) in cids:
            continue
        if o.leg_name is not None and str(o.leg_name) not in ("NA", "ENTRY_LEG"):
            continue  # a copy's bracket leg (its entry is the copy)
        key = PositionKey(str(o.exchange_segment), o.security_id, str(o.product_type))
        kind = (
            "resync"
            if is_resync_id(o.correlation_id)
            else "flatten"
            if is_flatten_id(o.correlation_id)
            else "order"
        )
        out.setdefault(key, []).append(f"{kind} {o.order_id} {o.transaction_type} {o.filled_qty}")
    return out


def _broker_side(client: DhanClient) -> tuple[dict[PositionKey, Held], list[Order]]:
    """One account's positions (``/positions`` + ``/holdings``) and order book."""
    book = client.list_orders()
    return broker_holdings(client.positions(), client.holdings(), _segment_of), book


def _segment_of(exchange: str | None) -> str:
    """A holding's cash segment: BSE_EQ for "BSE", else NSE_EQ ("NSE", "ALL", None): where
    a stock listed on both is copied unless the leader traded it on BSE."""
    if (exchange or "").strip().upper() == "BSE":
        return str(ExchangeSegment.BSE_EQ)
    return str(ExchangeSegment.NSE_EQ)


@dataclass(frozen=True, slots=True)
class Instruments:
    """What the engine sizes with: lot sizes (the instrument file's, under the journal's) and
    freeze quantities (the file's, under ``engine.freeze_quantities``)."""

    lots: dict[tuple[str, str], int]
    freeze: dict[str, int]


def instruments(cfg: Config, endpoints: BrokerEndpoints, journal: Journal) -> Instruments:
    """As the engine learns them at start (``broker.instruments_url``, else the embedded
    simulator's file), then the journal's lots; a file that cannot be read is logged and left
    out (a derivative's lot then comes from the journal, or stays unknown)."""
    url = cfg.broker.instruments_url
    if url is None and cfg.broker.embedded_sim:
        url = sim_instruments_url(endpoints.rest_url)
    freeze: dict[str, int] = dict(cfg.engine.freeze_quantities)
    lots: dict[tuple[str, str], int] = {}
    if url is not None:
        try:
            freeze, lots = merge(load_limits(url), cfg.engine.freeze_quantities)
        except InstrumentFileUnavailable as exc:
            logger.warning("%s: lot sizes and freeze quantities from the journal only", exc)
    lots.update(journal_lot_sizes(journal, journal.leader_snapshots()))
    return Instruments(lots, freeze)


def broker_report(
    cfg: Config,
    endpoints: BrokerEndpoints,
    journal: Journal,
    names: Sequence[str],
    known: Instruments | None = None,
) -> tuple[list[DriftRow], list[str], dict[str, list[Order]]]:
    """Rows of ``names`` with the broker's positions; the accounts that could not be read;
    the books read (by account)."""
    accounts = dict(_accounts(cfg))
    actual: dict[str, dict[PositionKey, Held]] = {}
    books: dict[str, list[Order]] = {}
    unreadable = []
    for name in ["leader", *names]:
        with _client(cfg, endpoints, accounts[name]) as client:
            try:
                actual[name], books[name] = _broker_side(client)
            except errors.DhanError as exc:
                unreadable.append(name)
                logger.warning("%s: positions unavailable: %s", name, exc)
    intents = journal.intents()
    readable = [n for n in names if n in actual]
    rows = DriftReader().rows(
        journal,
        readable,
        (known or instruments(cfg, endpoints, journal)).lots,
        actual=actual,
        leader=actual.get("leader", {}),
        not_copies={
            n: not_copies(books[n], [i for i in intents if i.follower == n]) for n in readable
        },
    )
    return rows, unreadable, books


def print_rows(title: str, rows: Sequence[DriftRow]) -> None:
    drifting = [r for r in rows if r.drift]
    print(f"{title}: {len(rows)} rows, {len(drifting)} with drift")
    if rows:
        for line in format_table(rows):
            print(f"  {line}")


def reconcile_positions(cfg: Config) -> int:
    """``reconcile --positions``: the table with the broker's positions. 0: no drift."""
    journal = open_existing_journal(cfg.store.url)
    try:
        with broker_endpoints(cfg) as (endpoints, _sim):
            names = [f.name for f in cfg.followers]
            rows, unreadable, _books = broker_report(cfg, endpoints, journal, names)
    finally:
        journal.close()
    print_rows("positions (broker)", rows)
    for name in unreadable:
        print(f"  {name}: positions unavailable")
    return 0 if not unreadable and not any(r.drift for r in rows) else 1


def _unsettled(journal: Journal, follower: str) -> list[Intent]:
    """Today's copies of ``follower`` that are not terminal (planned, in flight, open)."""
    since = trading_day_start()
    return [
        i for i in journal.intents(follower) if not i.state.is_terminal and counts_since(i, since)
    ]


def _run_name(journal: Journal, follower: str, now: datetime | None = None) -> tuple[str, int]:
    done = int(journal.get_mark(follower, RESYNC_RUNS_MARK) or 0)
    day = (now or datetime.now(UTC)).astimezone(IST).strftime("%Y%m%d")
    return f"{day}#{done}", done


def _request(order: ResyncOrder) -> OrderRequest:
    return OrderRequest(
        transaction_type=TransactionType(order.transaction_type),
        exchange_segment=ExchangeSegment(order.key.exchange_segment),
        product_type=ProductType(order.key.product_type),
        order_type=OrderType.MARKET,
        validity=Validity.DAY,
        security_id=order.key.security_id,
        quantity=order.quantity,
        correlation_id=order.correlation_id,
    )


def _payload(
    order: ResyncOrder, run: str, tags: Mapping[str, str] | None = None, **more: object
) -> dict[str, object]:
    """The audit payload of a resync order; ``tags``: the account's (``order_tags``)."""
    return {
        "correlation_id": order.correlation_id,
        "run": run,
        "exchange_segment": order.key.exchange_segment,
        "security_id": order.key.security_id,
        "product_type": order.key.product_type,
        "transaction_type": order.transaction_type,
        "quantity": order.quantity,
        "order_type": "MARKET",
        "exit": order.exit,
        **(tags or {}),
        **more,
    }


def order_tags(follower: FollowerConfig) -> dict[str, str]:
    """What each audit record of the follower's orders carries: its client id and, when
    configured, its exchange algo ID (as the engine's copies: ``Journal.tag_orders``)."""
    tags = {"client_id": follower.client_id}
    if follower.algo_id is not None:
        tags["algo_id"] = follower.algo_id
    return tags


def pacer(max_per_second: int) -> Callable[[], None]:
    """A call that returns once one more order write of the account fits
    ``engine.max_orders_per_second`` (and Dhan's other windows), and counts it."""
    windows = AccountWindows.dhan_defaults(order_rate_limits(max_per_second))

    def pace() -> None:
        while (wait_s := windows.wait_s(time.monotonic())) > 0:
            time.sleep(wait_s)  # pacing the account's order rate, not synchronisation
        windows.take(time.monotonic())

    return pace


def _wait_filled(client: DhanClient, order_id: str, timeout_s: float) -> Order | None:
    """The order once it is no longer open (polled with a deadline), or None at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = client.get_order(order_id)
        if not current.order_status.is_open or time.monotonic() >= deadline:
            return None if current.order_status.is_open else current
        time.sleep(_FILL_POLL_S)  # polling the broker for the order's end, bounded by the deadline


def _journal_fill(journal: Journal, follower: str, order: ResyncOrder, at_broker: Order) -> None:
    """The resync order's fill into the follower's journaled position (the ledger counts an
    order once, whichever path -- this, the follower's socket, a position check -- sees it)."""
    if at_broker.filled_qty > 0:
        filled = at_broker.filled_qty
        fill = OrderFill(at_broker.order_id, order.key, order.transaction_type, filled)
        journal.apply_fills(follower, [fill])


def _sent_at(
    journal: Journal, follower: str, order: ResyncOrder, sent_mark: str = SENT_MARK_PREFIX
) -> float | None:
    """When an earlier run sent this order (Unix time), or None if none did."""
    text = journal.get_mark(follower, sent_mark + order.correlation_id)
    try:
        return float(text) if text else None
    except ValueError:
        return 0.0  # a damaged mark: sent, long ago


class _Stop(Exception):
    """The run stops here (printed; the next run continues from the broker's positions).

    ``spent``: every order of the run is settled (filled, refused, cancelled): the next run
    may take fresh correlationIds. Not spent (an outcome unknown, an order still open): the
    next run must derive the same ids, to find that order first.
    """

    def __init__(self, message: str, *, spent: bool) -> None:
        super().__init__(message)
        self.spent = spent


def _place(
    client: DhanClient,
    journal: Journal,
    follower: str,
    order: ResyncOrder,
    run: str,
    *,
    pace: Callable[[], None],
    tags: Mapping[str, str],
    command: str = RESYNC_ACTOR,
) -> str:
    """Place one resync order unless it is already at the broker; a line saying what happened.
    Raises ``_Stop`` when the run must not go on. ``command``: the audit actor, the prefix of
    the audit kinds (``resync_placed``...) and of the sent marks (``flatten`` places its exits
    the same way)."""
    sent_mark = f"{command}_sent:"
    found = client.get_order_by_correlation_id(order.correlation_id)
    if found is None:
        sent_at = _sent_at(journal, follower, order, sent_mark)
        if sent_at is not None and time.time() - sent_at < SENT_GRACE_S:
            # sent by an earlier run whose answer never came: the broker may still be
            # taking it in; placing it now could place it twice
            wait_s = SENT_GRACE_S - (time.time() - sent_at)
            raise _Stop(
                f"{order.correlation_id}: sent {time.time() - sent_at:.0f} s ago and not in the "
                f"book yet; run again in {wait_s:.0f} s (then it is taken as never placed)",
                spent=False,
            )
    if found is not None:
        journal.append_audit(
            f"{command}_found",
            actor=command,
            account=follower,
            payload=_payload(
                order, run, tags, order_id=found.order_id, status=str(found.order_status)
            ),
        )
        if found.order_status.is_open:
            raise _Stop(
                f"{order.correlation_id}: order {found.order_id} still open; run again later",
                spent=False,
            )
        _journal_fill(journal, follower, order, found)
        if found.order_status is not OrderStatus.TRADED:
            raise _Stop(
                f"{order.correlation_id}: order {found.order_id} ended {found.order_status}; "
                "run again (from the positions it left)",
                spent=True,
            )
        return f"already placed: order {found.order_id} {found.order_status}"
    # journaled before it is sent: a rerun knows it may be at the broker
    journal.set_mark(follower, sent_mark + order.correlation_id, f"{time.time():.3f}")
    journal.append_audit(
        f"{command}_sending", actor=command, account=follower, payload=_payload(order, run, tags)
    )
    pace()
    try:
        ack = client.place_order(_request(order))
    except errors.NotSent as exc:
        journal.append_audit(
            f"{command}_rejected",
            actor=command,
            account=follower,
            payload=_payload(order, run, tags, error=type(exc).__name__),
        )
        raise _Stop(
            f"{order.correlation_id}: not sent ({type(exc).__name__}); run again", spent=True
        ) from None
    except errors.Rejected as exc:  # the broker's answer: not placed
        journal.append_audit(
            f"{command}_rejected",
            actor=command,
            account=follower,
            payload=_payload(order, run, tags, error_code=exc.code, error=type(exc).__name__),
        )
        raise _Stop(f"{order.correlation_id}: rejected ({exc.code}): {exc}", spent=True) from None
    except errors.DhanError as exc:  # no answer (timeout, reset, 5xx, garbled): look it up
        found = client.get_order_by_correlation_id(order.correlation_id)
        if found is None:
            journal.append_audit(
                f"{command}_unknown",
                actor=command,
                account=follower,
                payload=_payload(order, run, tags, error=type(exc).__name__),
            )
            raise _Stop(
                f"{order.correlation_id}: outcome unknown ({type(exc).__name__}); run again: "
                "the order is looked up by its correlationId first",
                spent=False,
            ) from None
        order_id, status = found.order_id, found.order_status
    else:
        order_id, status = ack.order_id, ack.order_status
    journal.append_audit(
        f"{command}_rejected" if status is OrderStatus.REJECTED else f"{command}_placed",
        actor=command,
        account=follower,
        payload=_payload(order, run, tags, order_id=order_id, status=str(status)),
    )
    if status is OrderStatus.REJECTED:
        raise _Stop(f"{order.correlation_id}: order {order_id} rejected", spent=True)
    ended = _wait_filled(client, order_id, FILL_WAIT_S)
    if ended is None:
        raise _Stop(
            f"{order.correlation_id}: order {order_id} not filled within {FILL_WAIT_S:g} s",
            spent=False,
        )
    _journal_fill(journal, follower, order, ended)
    journal.append_audit(
        f"{command}_ended",
        actor=command,
        account=follower,
        payload=_payload(
            order,
            run,
            tags,
            order_id=order_id,
            status=str(ended.order_status),
            filled_qty=ended.filled_qty,
        ),
    )
    if ended.order_status is not OrderStatus.TRADED:
        raise _Stop(
            f"{order.correlation_id}: order {order_id} ended {ended.order_status}", spent=True
        )
    return f"placed: order {order_id} {ended.order_status}"


@_store_errors_exit_1
def resync(args: argparse.Namespace) -> int:
    """Print the orders that take FOLLOWER to its expected positions; ``--apply`` places them."""
    loaded = config_naming_follower(args)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    journal = open_existing_journal(cfg.store.url)
    lease = None
    try:
        if args.apply:
            # one engine per journal: an engine could be copying into the same positions
            lease = JournalLease(cfg.store.url).acquire()
            journal.hold_lease(lease)
        with broker_endpoints(cfg) as (endpoints, _sim):
            return _resync(cfg, endpoints, journal, args.follower, apply=args.apply)
    finally:
        journal.close()
        if lease is not None:
            lease.release()


def _resync(
    cfg: Config, endpoints: BrokerEndpoints, journal: Journal, follower: str, *, apply: bool
) -> int:
    known = instruments(cfg, endpoints, journal)
    rows, unreadable, books = broker_report(cfg, endpoints, journal, [follower], known)
    if follower in unreadable:
        print(f"resync {follower}: positions unavailable at the broker; nothing planned")
        return 1
    print_rows(f"positions of {follower} (broker)", rows)
    open_resyncs = [
        o
        for o in books.get(follower, [])
        if is_resync_id(o.correlation_id) and o.order_status.is_open
    ]
    run, done = _run_name(journal, follower)
    plan = resync_plan(rows, run, known.freeze)
    print(f"resync plan for {follower}: {len(plan)} orders (MARKET, exits first)")
    for order in plan:
        print(f"  {order.describe()}")
    for r in rows:
        if r.drift and not plannable(r):
            print(
                f"  not planned: {r.security}: lot size unknown (learned from the leader's frames)"
            )
    refusals = 0
    for o in open_resyncs:
        refusals += 1
        print(f"  open resync order {o.order_id} ({o.correlation_id}): {o.order_status}")
    if open_resyncs:
        print("resync orders are still open: wait for them (or cancel them), then run again")
    unsettled = _unsettled(journal, follower)
    for i in unsettled[:10]:
        refusals += 1
        print(f"  unsettled copy #{i.id} of leader {i.leader_order_id}: {i.state}")
    if unsettled:
        print(
            f"{len(unsettled)} copies of {follower} are not settled: the plan would race them "
            "(an unsent copy the engine still places, a fill not journaled yet); run the "
            "engine until they settle (status, reconcile), then resync"
        )
    if refusals:
        return 1
    if not apply:
        print("nothing placed: --apply places these orders")
        return 0
    account = dict(_accounts(cfg))[follower]
    configured = cfg.follower(follower)
    tags = order_tags(configured) if configured is not None else {}
    pace = pacer(cfg.engine.max_orders_per_second)
    with _client(cfg, endpoints, account) as client:
        for order in plan:
            try:
                line = _place(client, journal, follower, order, run, pace=pace, tags=tags)
            except _Stop as stop:
                print(f"  stopped: {stop}")
                if stop.spent:
                    _end_run(journal, follower, run, done, f"stopped: {stop}")
                return 1
            except errors.DhanError as exc:  # a lookup or a status read: outcome unknown
                print(f"  stopped: {order.correlation_id}: {type(exc).__name__}: {exc}")
                return 1
            print(f"  {line}: {order.describe()}")
    _end_run(journal, follower, run, done, "done")
    print(f"resync {follower}: done ({len(plan)} orders)")
    return 0


def _end_run(journal: Journal, follower: str, run: str, done: int, outcome: str) -> None:
    """The run's ids are spent: the next run derives new ones (audited)."""
    journal.set_mark(follower, RESYNC_RUNS_MARK, str(done + 1))
    journal.append_audit(
        "resync_done",
        actor=RESYNC_ACTOR,
        account=follower,
        payload={"run": run, "outcome": outcome[:200]},
    )
