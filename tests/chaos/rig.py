"""Shared pieces of the chaos suite: config, the bracket exit cycle, settle-and-check.

Everything is real: an engine (in this process or a child process), a dhansim over loopback
and a SQLite journal. The check is :func:`copytrader.chaos.check_invariants`, polled with a
deadline after the faults stop until the books converge, then printed Jepsen style.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from copytrader.chaos import ChaosReport, RandomLeader, check_invariants
from copytrader.config import Config, FollowerConfig, ReconcilePolicy
from dhan.codes import OrderStatus
from dhan.correlation import correlation_id_for, first_generation_id
from dhan.models import Trade
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal
from store.records import is_held_skip
from store.states import IntentState
from tests.integration.engine_harness import LEADER_ID, build_config, follower_config

_UNSETTLED = frozenset(IntentState) - {
    IntentState.DONE,
    IntentState.REJECTED,
    IntentState.FAILED,
    IntentState.SKIPPED,
    IntentState.WORKING,
}

#: An engine that stops within its default 10 s leaves actors whose inboxes are long behind
#: running in this process (abandoned, still polling): give it longer in the suite.
STOP_TIMEOUT_S = 60.0

#: Sizings the chaos check can verify: every copy is at least one share.
_MULTIPLIERS = (1.0, 2.0, 3.0, 1.5)

#: The balance of a follower the broker refuses some entries for lack of funds (the rest of
#: the accounts have plenty): its exits must then close only what it holds.
POOR_BALANCE = 100_000.0


def chaos_followers(n: int, prefix: str = "c") -> list[FollowerConfig]:
    """``n`` enabled followers with mixed sizing: multipliers, and a fixed size in the third
    of every five (so any run of three or more has one) -- a fixed follower's exits are where
    copying the leader's quantity over-closes."""
    out = []
    for i in range(n):
        client_id = f"16{i:08d}"
        if i % 5 == 2:
            out.append(follower_config(f"{prefix}{i}", client_id, fixed=2 + i % 3))
        else:
            out.append(follower_config(f"{prefix}{i}", client_id, multiplier=_MULTIPLIERS[i % 4]))
    return out


def chaos_balances(followers: Sequence[FollowerConfig]) -> dict[str, float]:
    """Client id -> balance for ``create_accounts``: the second follower of every five (a
    multiplier x2) is poor (:data:`POOR_BALANCE`), so the broker rejects some of its entries."""
    return {f.client_id: POOR_BALANCE for i, f in enumerate(followers) if i % 5 == 1}


def chaos_config(sim: Simulator, tmp_path: Path, followers: Sequence[FollowerConfig]) -> Config:
    """The harness config with policy ``copy_all`` (the check then knows what must be copied)
    and slower polling ticks, so many open brackets do not swamp two cores.

    Kill plans count hits per fault point across all followers, so every planned follower kill
    may land on one follower within a minute; the follower restart limit sits above the
    plan's total so such a run tests recovery, not the quarantine policy (its own tests).
    """
    cfg = build_config(sim, tmp_path, followers, policy=ReconcilePolicy.COPY_ALL)
    return dataclasses.replace(
        cfg,
        engine=dataclasses.replace(
            cfg.engine,
            follower_tick_s=2.0,
            bracket_tick_s=1.0,
            follower_max_restarts=15,
            leader_reconcile_s=2.0,
        ),
    )


def wait_for(
    predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1
) -> Any:
    """Poll ``predicate`` until truthy; None after ``timeout_s`` (the caller decides)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)  # polling interval: the deadline decides, not the sleep


def _half_closed(book: list[dict[str, Any]]) -> list[str]:
    """Follower brackets with one exit leg traded and the other still open."""
    legs: dict[str, dict[str, str]] = {}
    for o in book:
        if o.get("legName") in ("TARGET_LEG", "STOP_LOSS_LEG"):
            key = str(o.get("parentOrderId") or o.get("orderId"))
            legs.setdefault(key, {})[str(o["legName"])] = str(o["orderStatus"])
    out = []
    for key, by_leg in legs.items():
        states = [OrderStatus(s) for s in by_leg.values()]
        if OrderStatus.TRADED in states and any(s.is_open for s in states):
            out.append(key)
    return out


def exit_brackets(
    leader: RandomLeader,
    sim: Simulator,
    followers: Sequence[FollowerConfig],
    timeout_s: float,
    journal: Journal | None = None,
) -> None:
    """Rally (targets fill), wait for the engine's one-cancels-other on every follower, then
    drop (stops fill: a stop the engine failed to cancel fills too and the check sees it) and
    calm. With ``broker_oco`` off the engine is the only one cancelling the other leg."""
    # The price must not run from one exit to the other faster than anyone could cancel: a
    # copy placed just before the rally fills on the way down and meets both of its exits
    # within milliseconds (seen: all ten copies of one bracket). So every copy of a leader
    # bracket is in place and filled, with its exits waiting, before the rally.
    # up to a minute: under the actor-kill run's load a follower's writes can queue
    # 30 s and more behind Dhan's per-minute limit (seen: a copy that came 30 s late met a
    # leader bracket already exited, and its legs rested at levels the market had left)
    waited = time.monotonic()
    ready = wait_for(
        lambda: not _brackets_being_copied(sim, followers, journal),
        min(timeout_s, 60.0),
        "bracket copies in place",
    )
    if time.monotonic() - waited > 10.0:
        print(f"chaos: brackets exit: copies in place after {time.monotonic() - waited:.0f} s")
    if not ready:
        print(
            "chaos: brackets exit: copies still arriving: "
            f"{_brackets_being_copied(sim, followers, journal)}"
        )
    started = time.monotonic()
    leader.rally()
    pending = wait_for(
        lambda: not any(_half_closed(sim.admin.orders(f.client_id)) for f in followers),
        timeout_s,
        "one-cancels-other after the rally",
    )
    took_s = time.monotonic() - started
    print(
        f"chaos: brackets exit: one-cancels-other {'done' if pending else 'NOT done'} "
        f"{took_s:.1f} s after the rally"
    )
    leader.drop()
    leader.calm()


def _is_bracket_entry(o: dict[str, Any]) -> bool:
    # a super order's legs share its order id and correlationId: only its ENTRY_LEG counts
    return (
        o.get("parentOrderId") is None
        and o.get("legName") in (None, "ENTRY_LEG")
        and (o.get("productType") in ("BO", "CO") or o.get("kind") == "SUPER_ENTRY")
    )


def _brackets_being_copied(
    sim: Simulator, followers: Sequence[FollowerConfig], journal: Journal | None = None
) -> list[str]:
    """Follower copies of filled leader brackets that are missing or not filled yet; with
    ``journal``, not those it skipped (a super order's entry sized as an exit of a position
    the follower does not hold: no copy is coming)."""
    filled = [
        str(o["orderId"])
        for o in sim.admin.orders(LEADER_ID)
        if _is_bracket_entry(o) and o.get("orderStatus") == "TRADED"
    ]
    waiting = []
    for f in followers:
        by_cid = {
            o.get("correlationId"): o for o in sim.admin.orders(f.client_id) if _is_bracket_entry(o)
        }
        for oid in filled:
            copy = by_cid.get(correlation_id_for(f.name, oid))
            if copy is None and journal is not None and _skipped(journal, f.name, oid):
                continue
            if copy is None or copy.get("orderStatus") in ("TRANSIT", "PENDING"):
                waiting.append(f"{f.name}/{oid}")
    return waiting


def _skipped(journal: Journal, follower: str, leader_order_id: str) -> bool:
    """The journal skipped ``follower``'s copy of the order for good (not a held copy)."""
    intents = journal.intents(follower, leader_order_id=leader_order_id)
    return bool(intents) and all(
        i.state is IntentState.SKIPPED and not is_held_skip(i.skip_reason) for i in intents
    )


def books(sim: Simulator, followers: Sequence[FollowerConfig]) -> dict[str, list[dict[str, Any]]]:
    return {f.name: sim.admin.orders(f.client_id) for f in followers}


def trade_books(
    sim: Simulator, leader_id: str, followers: Sequence[FollowerConfig]
) -> dict[str, list[Trade]]:
    """Each account's ``GET /trades`` ("leader" and each follower's name), read through the
    broker's REST API as any client would (the leader's token is the harness's)."""
    accounts = [("leader", leader_id, f"tok-{leader_id}")]
    accounts += [(f.name, f.client_id, f.access_token.reveal()) for f in followers]
    out: dict[str, list[Trade]] = {}
    for name, client_id, token in accounts:
        with DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=token) as c:
            out[name] = c.trades()
    return out


def check_now(
    sim: Simulator,
    leader_id: str,
    followers: Sequence[FollowerConfig],
    journal: Journal,
    *,
    positions: bool = False,
) -> ChaosReport:
    """The check of the books now; ``positions``: the accounts' trades too (the positions'
    reversed / over-closed / drift counts), read after the books."""
    intents = journal.intents()
    leader_book = sim.admin.orders(leader_id)
    follower_books = books(sim, followers)
    trades = trade_books(sim, leader_id, followers) if positions else None
    return check_invariants(
        leader_book,
        follower_books,
        followers,
        intents,
        journal.unresolved_count(),
        trades=trades,
        exit_bases=journal.exit_bases,  # an exit's copy is judged against its basis
    )


def settle_and_check(
    sim: Simulator,
    leader_id: str,
    followers: Sequence[FollowerConfig],
    journal: Journal,
    timeout_s: float = 60.0,
) -> ChaosReport:
    """Poll the check until it is clean or ``timeout_s`` passes; print and return the last."""
    started = time.monotonic()
    last_print = [started]

    def clean_now() -> ChaosReport | None:
        report = check_now(sim, leader_id, followers, journal)
        now = time.monotonic()
        if report.bad and now - last_print[0] >= 15.0:
            # a slow settle says what it is waiting for (a CI log is all we get)
            last_print[0] = now
            print(f"chaos: settling {now - started:.0f} s: {report.render().splitlines()[0]}")
            for problem in [*report.problems, *report.journal.problems][:5]:
                print(f"    {problem}")
        return _clean(report)

    wait_for(clean_now, timeout_s, "convergence", interval_s=0.5)
    print(f"chaos: settled in {time.monotonic() - started:.1f} s")
    # the final check: the books once more, and the positions the accounts' fills add up to
    report = check_now(sim, leader_id, followers, journal, positions=True)
    print(report.render())
    if report.bad:
        stuck = Counter(
            (i.follower, str(i.state)) for i in journal.intents() if i.state in _UNSETTLED
        )
        print(f"chaos: unsettled intents by follower and state: {dict(sorted(stuck.items()))}")
        print_leader_context(sim, leader_id, report)
        print_wrong_context(sim, leader_id, followers, report)
    return report


#: A wrong copy's follower and leader order (``copytrader.chaos`` words it so).
_WRONG = re.compile(r"^wrong: (\w+)/(\d{6,}) ")


def print_wrong_context(
    sim: Simulator, leader_id: str, followers: Sequence[FollowerConfig], report: ChaosReport
) -> None:
    """For each leader order with a wrong copy: the leader's order and every follower order
    of that copy (all generations) as the simulator holds them -- type, prices, quantities,
    status, times, the broker's reason. A CI log is all a failed run leaves."""
    named: dict[str, set[str]] = {}
    for problem in report.problems:
        found = _WRONG.search(problem)
        if found:
            named.setdefault(found.group(2), set()).add(found.group(1))
    ids = {f.name: f.client_id for f in followers}

    def line(o: Mapping[str, Any]) -> str:
        return (
            f"{o['orderId']} {o.get('correlationId') or '-'} {o['transactionType']}"
            f" {o.get('requestedOrderType') or o.get('orderType')} q={o['quantity']}"
            f" filled={o['filledQty']} price={o.get('price')} trigger={o.get('triggerPrice')}"
            f" {o['orderStatus']} created={o.get('createTime')} updated={o.get('updateTime')}"
            f" {o.get('omsErrorDescription') or ''}"
        )

    for oid, names in sorted(named.items())[:4]:
        print(f"chaos: wrong copies of leader order {oid}:")
        for o in sim.admin.orders(leader_id):
            if str(o["orderId"]) == oid:
                print(f"    leader {line(o)}")
        for name in sorted(names):
            first = correlation_id_for(name, oid)
            for o in sim.admin.orders(ids[name]):
                cid = str(o.get("correlationId") or "")
                if cid and first_generation_id(cid) == first:
                    print(f"    {name} {line(o)}")


#: A position problem's leader order and key (``copytrader.checker`` words it so).
_PROBLEM_ORDER = re.compile(r"/(\d{6,}) (\w+:\w+:\w+)|(\w+:\w+:\w+) .*first at (\d{6,})")


def print_leader_context(sim: Simulator, leader_id: str, report: ChaosReport) -> None:
    """For each leader order a position problem names, the leader's orders of its position
    placed just before it (id, side, type, quantities, status, times): whether its basis could
    have seen their fills. A CI log is all a failed run leaves."""
    named: dict[str, str] = {}
    for problem in report.problems:
        found = _PROBLEM_ORDER.search(problem)
        if found:
            oid = found.group(1) or found.group(4)
            named.setdefault(oid, found.group(2) or found.group(3))
    if not named:
        return
    book = sorted(sim.admin.orders(leader_id), key=lambda o: str(o["orderId"]))
    trades: dict[str, list[str]] = {}
    for t in trade_books(sim, leader_id, [])["leader"]:
        trades.setdefault(t.order_id, []).append(f"{t.exchange_trade_id}x{t.traded_quantity}")
    for oid, key in sorted(named.items())[:6]:
        same = [
            o
            for o in book
            if f"{o['exchangeSegment']}:{o['securityId']}:{o['productType']}" == key
            and str(o["orderId"]) <= oid
        ][-6:]
        print(f"chaos: leader orders of {key} up to {oid}:")
        for o in same:
            print(
                f"    {o['orderId']} {o['transactionType']} {o.get('requestedOrderType')} "
                f"q={o['quantity']} filled={o['filledQty']} {o['orderStatus']} "
                f"placed before trade {o.get('placedBeforeTrade')} "
                f"trades={trades.get(str(o['orderId']), [])}"
            )


def _clean(report: ChaosReport) -> ChaosReport | None:
    return report if report.bad == 0 else None


def assert_clean(report: ChaosReport, context: str = "") -> None:
    """Nothing lost, duplicated, unexpected, unresolved, wrong or left half-closed.

    ``reversed``, ``over_closed`` and ``drift`` under faults are issue 16's last open part:
    while they are not 0 the run is an expected failure that prints them
    (``POSITIONS_EXACT``), after every other count has passed."""
    # few problems in the message: a CI log shows only the start of the failures
    assert report.bad - report.sizing_bad == 0, report.render(max_problems=8) + context
    if report.sizing_bad and not POSITIONS_EXACT:
        print(report.render())
        problems = [
            p for p in report.problems if p.startswith(("reversed", "over_closed", "drift"))
        ]
        pytest.xfail(
            f"issue 16 (open), seed {SEED}: reversed={report.reversed} "
            f"over_closed={report.over_closed} "
            f"drift={report.drift} under "
            "faults (a position the journal learns late sizes an exit; docs/architecture.md)"
            + "".join(f"\n  {p}" for p in problems[:8])
        )
    assert report.sizing_bad == 0, report.render() + context


#: False while issue 16's exits under faults are open: over_closed / drift are reported as an
#: expected failure instead of failing the run (``CHAOS_POSITIONS_EXACT=1`` makes them fail).
POSITIONS_EXACT = os.environ.get("CHAOS_POSITIONS_EXACT") == "1"
#: The seed of the running chaos test (set by its ``seed`` fixture).
SEED: int | None = None
