"""``flatten (--follower NAME | --all) [--kill-switch]``: take follower accounts flat now.

For each follower: its operator mode is set to ``close_only`` first (``paused`` is kept), so
an engine started meanwhile copies no new entry into it; then every open order of the account
is cancelled (a super order's ``ENTRY_LEG`` while its entry works, which cancels all its legs,
else each working ``TARGET_LEG`` / ``STOP_LOSS_LEG``; a bracket order's legs as the orders
they are in the book), until the book shows none open; then every open position
(``GET /positions``) is exited with MARKET orders, split at the freeze quantity, placed as
``resync`` places them (``copytrader.position_commands._place``: a deterministic ``FL_...``
correlationId looked up before placing, journaled before sending, audited, each waited for);
with ``--kill-switch``, once the account is flat, Dhan's kill switch is activated (it refuses
an account with an open order or position). Exit 0 only when every account is flat.

Idempotent: a second run finds nothing open and says so. Engine stopped: the command takes
the journal's lease (``store.lease``) and does it. Engine running: it never places orders
beside it; it journals a request per follower and waits for the engine to carry it out
(``copytrader.flatten_runner``).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from actors.slicing import max_order_quantity, split_at_freeze
from copytrader.commands import _accounts, _client, _store_errors_exit_1, open_existing_journal
from copytrader.config import Config
from copytrader.drift import IST
from copytrader.engine import BrokerEndpoints
from copytrader.logs import setup_logging
from copytrader.position_commands import (
    Instruments,
    _place,
    _Stop,
    instruments,
    order_tags,
    pacer,
)
from copytrader.positions import FLATTEN_PREFIX, ResyncOrder, resync_correlation_id
from copytrader.runner import broker_endpoints, load_or_exit, secrets_of
from dhan import errors
from dhan.codes import LegName, ProductType, TransactionType
from dhan.rest import DhanClient
from store import Journal, OperatorMode
from store.errors import LeaseHeld
from store.lease import JournalLease
from store.records import PositionKey

logger = logging.getLogger(__name__)

#: The audit actor of flatten's cancels and exits, and the setter of the mode it sets.
FLATTEN_ACTOR = "flatten"
#: The journal mark (account: the follower) counting the follower's flatten runs that ended.
FLATTEN_RUNS_MARK = "flatten_runs"
#: How long the cancels may take to show in the book (seconds) before the run stops.
CANCEL_WAIT_S = 30.0
_POLL_S = 0.25
#: Broker answers that say nothing about the cancel itself: it is asked again.
RETRYABLE = (errors.RateLimited, errors.NotSent, errors.OutcomeUnknown, errors.BadResponse)
#: How long a cancel answered DH-904 (rate limited) waits before the next pass.
RATE_LIMITED_WAIT_S = 1.0


@dataclass
class Flattened:
    """What one account's flatten did."""

    follower: str
    lines: list[str] = field(default_factory=list)
    actions: int = 0  #: cancels sent and exits placed
    flat: bool = False


def _audit(journal: Journal, follower: str, kind: str, **payload: object) -> None:
    journal.append_audit(
        f"flatten_{kind}", actor=FLATTEN_ACTOR, account=follower, payload=dict(payload)
    )


def _open_orders(client: DhanClient) -> list[tuple[str, str, LegName | None]]:
    """What is open at the broker, as (order id, description, super leg to cancel or None)."""
    out: list[tuple[str, str, LegName | None]] = []
    supers = client.list_super_orders()
    super_ids = {s.order_id for s in supers}
    for s in supers:
        what = f"super {s.order_id} {s.transaction_type} {s.quantity} {s.security_id}"
        if s.order_status.is_open:  # its entry works: cancelling it cancels every leg
            out.append((s.order_id, f"{what} (entry {s.order_status})", LegName.ENTRY_LEG))
            continue
        for leg in s.legs:
            if leg.order_status.is_open:
                out.append((s.order_id, f"{what} {leg.leg_name} {leg.order_status}", leg.leg_name))
    for o in client.list_orders():
        if o.order_status.is_open and o.order_id not in super_ids:
            named = f" {o.leg_name}" if o.leg_name not in (None, "NA") else ""
            what = (
                f"order {o.order_id}{named} {o.transaction_type} {o.order_type} {o.quantity} "
                f"{o.security_id} {o.order_status}"
            )
            out.append((o.order_id, what, None))
    return out


def cancel_open_orders(
    client: DhanClient, journal: Journal, done: Flattened, pace: Callable[[], None]
) -> bool:
    """Cancel everything open until the book shows nothing open (True) or the deadline."""
    deadline = time.monotonic() + CANCEL_WAIT_S
    asked: set[tuple[str, str]] = set()
    while True:
        still = _open_orders(client)
        if not still:
            return True
        if time.monotonic() >= deadline:
            for _order_id, what, _leg in still:
                done.lines.append(f"still open after {CANCEL_WAIT_S:g} s: {what}")
            return False
        for order_id, what, leg in still:
            if (order_id, str(leg)) in asked:
                continue  # asked already: Dhan answers 202 and cancels asynchronously
            asked.add((order_id, str(leg)))
            pace()
            try:
                if leg is None:
                    client.cancel_order(order_id)
                else:
                    client.cancel_super_order(order_id, leg)
            except errors.DhanError as exc:  # ended meanwhile, or refused: the next read says
                if isinstance(exc, RETRYABLE):
                    # not a refusal of the cancel: asked again on the next pass (a DH-904
                    # waits out the broker's window first)
                    asked.discard((order_id, str(leg)))
                    if isinstance(exc, errors.RateLimited):
                        time.sleep(RATE_LIMITED_WAIT_S)  # Dhan's per-second window
                _audit(
                    journal,
                    done.follower,
                    "cancel_failed",
                    order_id=order_id,
                    leg=str(leg or ""),
                    error=type(exc).__name__,
                )
                verb = "asked again" if isinstance(exc, RETRYABLE) else "refused"
                done.lines.append(f"cancel {verb} ({type(exc).__name__}): {what}")
                continue
            _audit(journal, done.follower, "cancel", order_id=order_id, leg=str(leg or ""))
            done.lines.append(f"cancelled: {what}")
            done.actions += 1
        time.sleep(_POLL_S)  # polling the book for the cancels, bounded by the deadline


#: Products whose position no plain order can exit (Dhan wants the bracket's values): once
#: their legs are cancelled, Dhan's Exit All squares them off (:func:`exit_brackets`).
BRACKET_PRODUCTS = frozenset({ProductType.BO, ProductType.CO})


def exit_orders(
    client: DhanClient, follower: str, run: str, known: Instruments
) -> list[ResyncOrder]:
    """A MARKET exit of every open position of a plain product, split at the freeze quantity
    (``FL_`` ids)."""
    orders: list[ResyncOrder] = []
    for p in client.positions():
        if p.net_qty == 0 or p.product_type in BRACKET_PRODUCTS:
            continue
        key = PositionKey(str(p.exchange_segment), p.security_id, str(p.product_type))
        side = TransactionType.SELL.value if p.net_qty > 0 else TransactionType.BUY.value
        qty = abs(p.net_qty)
        lot = known.lots.get((key.exchange_segment, key.security_id)) or 1
        instrument = f"{key.exchange_segment}:{key.security_id}"
        max_qty = max_order_quantity(known.freeze.get(instrument), lot)
        for piece, part in enumerate(split_at_freeze(qty, max_qty)):
            cid = resync_correlation_id(follower, run, key, side, qty, piece, prefix=FLATTEN_PREFIX)
            orders.append(ResyncOrder(follower, key, side, part, True, cid))
    return orders


def exit_brackets(client: DhanClient, journal: Journal, done: Flattened) -> None:
    """A bracket / cover order position left open (its legs cancelled): Dhan's Exit All
    (``DELETE /positions``) squares it off -- the account is otherwise flat by now, so that is
    all it touches -- and the positions are polled until flat or the deadline."""
    left = [p for p in client.positions() if p.net_qty and p.product_type in BRACKET_PRODUCTS]
    if not left:
        return
    what = ", ".join(f"{p.security_id} {p.product_type} net {p.net_qty}" for p in left)
    client.exit_all_positions()
    _audit(journal, done.follower, "exit_all", positions=what)
    done.lines.append(f"exit all (Dhan squares off {what})")
    done.actions += 1
    deadline = time.monotonic() + CANCEL_WAIT_S
    while any(p.net_qty for p in client.positions()) and time.monotonic() < deadline:
        time.sleep(_POLL_S)  # polling the broker's square-off, bounded by the deadline


def _run_name(journal: Journal, follower: str) -> tuple[str, int]:
    done = int(journal.get_mark(follower, FLATTEN_RUNS_MARK) or 0)
    day = datetime.now(UTC).astimezone(IST).strftime("%Y%m%d")
    return f"{day}#{done}", done


def flatten_account(
    cfg: Config,
    endpoints: BrokerEndpoints,
    journal: Journal,
    follower: str,
    known: Instruments,
    *,
    kill_switch: bool,
) -> Flattened:
    """Cancel, exit, then (``kill_switch``) switch off one follower account."""
    done = Flattened(follower)
    account = dict(_accounts(cfg))[follower]
    configured = cfg.follower(follower)
    tags: Mapping[str, str] = order_tags(configured) if configured is not None else {}
    pace = pacer(cfg.engine.max_orders_per_second)
    run, runs = _run_name(journal, follower)
    with _client(cfg, endpoints, account) as client:
        try:
            if not cancel_open_orders(client, journal, done, pace):
                return done
            for order in exit_orders(client, follower, run, known):
                line = _place(
                    client,
                    journal,
                    follower,
                    order,
                    run,
                    pace=pace,
                    tags=tags,
                    command=FLATTEN_ACTOR,
                )
                done.lines.append(f"{line}: {order.describe()}")
                done.actions += 1
            exit_brackets(client, journal, done)
            left = [p for p in client.positions() if p.net_qty != 0]
            open_now = _open_orders(client)
        except _Stop as stop:
            done.lines.append(f"stopped: {stop}")
            if stop.spent:
                journal.set_mark(follower, FLATTEN_RUNS_MARK, str(runs + 1))
            return done
        except errors.DhanError as exc:  # a read or a lookup failed: nothing is known yet
            done.lines.append(f"stopped: {type(exc).__name__}: {exc}")
            return done
        for p in left:
            done.lines.append(f"still open: {p.security_id} {p.product_type} net {p.net_qty}")
        done.flat = not left and not open_now
        if done.actions:
            journal.set_mark(follower, FLATTEN_RUNS_MARK, str(runs + 1))
        if done.flat and kill_switch:
            _switch_off(client, journal, done)
    _audit(journal, follower, "done", run=run, flat=done.flat, actions=done.actions)
    return done


def _switch_off(client: DhanClient, journal: Journal, done: Flattened) -> None:
    try:
        if client.kill_switch_active():
            done.lines.append("kill switch: already active")
            return
        text = client.activate_kill_switch()
    except errors.DhanError as exc:
        done.flat = False  # asked for and not done: not the state the operator wanted
        done.lines.append(f"kill switch refused: {type(exc).__name__}: {exc}")
        _audit(journal, done.follower, "kill_switch_refused", error=type(exc).__name__)
        return
    done.actions += 1
    done.lines.append(f"kill switch: {text or 'activated'}")
    _audit(journal, done.follower, "kill_switch", status=text)


def hold_close_only(journal: Journal, names: list[str]) -> None:
    """Every named follower close-only (a paused one stays paused) before anything else."""
    modes = journal.operator_modes()
    for name in names:
        current = modes.get(name)
        if current is not None and current.mode in (OperatorMode.CLOSE_ONLY, OperatorMode.PAUSED):
            continue
        journal.set_operator_mode(
            name, OperatorMode.CLOSE_ONLY, set_by=FLATTEN_ACTOR, reason="flatten"
        )


def through_engine(journal: Journal, names: list[str], kill_switch: bool, timeout_s: float) -> int:
    """Journal a flatten request per follower for the running engine, wait for each outcome
    (polled, at most ``timeout_s``) and print it. 0: every account flat."""
    ids = {
        name: journal.request_flatten(name, kill_switch=kill_switch, requested_by=FLATTEN_ACTOR)
        for name in names
    }
    deadline = time.monotonic() + timeout_s
    flat = True
    for name, request_id in ids.items():
        while (found := journal.flatten_request(request_id)) is not None and (
            found.state == "pending" and time.monotonic() < deadline
        ):
            time.sleep(_POLL_S)  # polling the journal for the engine's outcome, with a deadline
        if found is None or found.state == "pending":
            print(f"{name}: request #{request_id} not done by the engine in {timeout_s:g} s")
            flat = False
            continue
        lines = [line for line in (found.result or "").splitlines() if line]
        if found.state == "done" and not any(_acted(line) for line in lines):
            print(f"{name}: already flat, nothing to do")
        else:
            print(f"{name}: {'flat' if found.state == 'done' else 'NOT flat'} (by the engine)")
        for line in lines:
            print(f"  {line}")
        flat = flat and found.state == "done"
    return 0 if flat else 1


def _acted(line: str) -> bool:
    return line.startswith(("cancelled:", "placed:", "exit all", "kill switch: Kill"))


@_store_errors_exit_1
def flatten(args: argparse.Namespace) -> int:
    """0: every account named is flat; 1: one is not (or an engine runs); 2: bad usage."""
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded
    setup_logging(args.log_level or "WARNING", args.log_format or "text", secrets_of(cfg))
    names = [f.name for f in cfg.followers]
    if args.follower is not None and args.follower not in names:
        print(f"flatten: no follower {args.follower!r} in {args.config} ({', '.join(names)})")
        return 2
    targets = names if args.all else [args.follower]
    journal = open_existing_journal(cfg.store.url)
    lease = None
    try:
        hold_close_only(journal, targets)
        try:
            lease = JournalLease(cfg.store.url).acquire()
        except LeaseHeld as exc:
            print(f"flatten: an engine holds the journal ({exc.holder}): it runs the flatten")
            return through_engine(journal, targets, args.kill_switch, args.timeout_s)
        journal.hold_lease(lease)
        with broker_endpoints(cfg) as (endpoints, _sim):
            known = instruments(cfg, endpoints, journal)
            results = [
                flatten_account(cfg, endpoints, journal, name, known, kill_switch=args.kill_switch)
                for name in targets
            ]
    finally:
        journal.close()
        if lease is not None:
            lease.release()
    for r in results:
        if r.actions == 0 and r.flat:
            print(f"{r.follower}: already flat, nothing to do")
        else:
            print(f"{r.follower}: {'flat' if r.flat else 'NOT flat'} ({r.actions} actions)")
        for line in r.lines:
            print(f"  {line}")
    return 0 if all(r.flat for r in results) else 1
