"""Chaos tooling (product code): a seeded random leader and the invariant check, Jepsen style.

The chaos suite (``tests/chaos``) drives the leader account with :class:`RandomLeader` while it
kills actors, processes and connections, then calls :func:`check_invariants`: it judges the
follower books against the *leader's* book (not only against the engine's journal), counts
ok / lost / duplicated / unexpected / unresolved, and returns a :class:`ChaosReport`.
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from actors.sizing import ExitBasis, SizingContext
from copytrader.checker import (
    CheckResult,
    basis_reader,
    check_books,
    current_generations,
    entry_orders,
    filled_before_change,
    is_funds_refusal,
    positions_of,
    refused_by_rms,
    superseded_is_clean,
)
from copytrader.config import FollowerConfig
from copytrader.copy_content import Verdict, admin_contents, judge_copy
from copytrader.scripted import nse_order
from dhan import errors
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import correlation_id_for
from dhan.models import (
    ModifyRequest,
    OrderRequest,
    SuperModifyRequest,
    SuperOrderRequest,
    Trade,
)
from dhan.rest import DhanClient
from store.records import Intent
from store.states import IntentState

SEED_ENV = "CHAOS_SEED"
_EXIT_LEGS = ("TARGET_LEG", "STOP_LOSS_LEG")


def chaos_seed(env: Mapping[str, str] | None = None) -> int:
    """The run's seed: ``CHAOS_SEED`` when set (to replay a failure), else a fresh one."""
    raw = (env if env is not None else os.environ).get(SEED_ENV)
    if raw:
        return int(raw)
    return random.SystemRandom().randrange(1, 2**31)


# -- the check -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChaosReport:
    """Counts of one check. ``bad`` must be 0; ``problems`` says what and where."""

    leader_orders: int
    ok: int
    lost: int
    duplicated: int
    unexpected: int
    unresolved: int
    both_legs_filled: int
    oco_pending: int  #: one exit leg filled, the other still open: one-cancels-other not done
    wrong: int  #: copies whose content differs from the leader's order, scaled (legs included)
    not_copied: int  #: the leader order died unfilled before a copy was needed: fine
    skipped: int  #: no copy, by the engine's sizing (nothing to close...), judged again: fine
    refused: int  #: copies the broker refused for the follower's funds: by design
    reversed: int  #: follower positions on the other side of the leader's (``check_positions``)
    over_closed: int  #: copies that took a follower's position past flat where the leader's didn't
    drift: int  #: follower positions that differ from the leader's orders replayed by the rules
    journal: CheckResult  #: ``check_books`` over the journal's intents (its own counts)
    problems: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, counts: Mapping[str, int], journal: CheckResult, problems: Iterable[str]
    ) -> ChaosReport:
        """The report of ``counts`` named as its count fields (one not named is 0)."""
        unknown = sorted(set(counts) - set(_COUNTS))
        if unknown:
            raise ValueError(f"not a count of a chaos report: {unknown}")
        values: dict[str, Any] = {name: counts.get(name, 0) for name in _COUNTS}
        return cls(journal=journal, problems=tuple(problems), **values)

    @property
    def bad(self) -> int:
        own = self.lost + self.duplicated + self.unexpected + self.unresolved
        legs = self.both_legs_filled + self.oco_pending
        positions = self.reversed + self.over_closed + self.drift
        return own + legs + self.wrong + positions + self.journal.bad

    @property
    def sizing_bad(self) -> int:
        """The part of :attr:`bad` that is exit sizing's under faults: copies that took a
        follower past flat where the leader's order only closed, the positions they left on
        the other side of the leader's (``reversed``: as bad for the follower as a lost copy,
        and always the end of an over-close), and drift."""
        journal = self.journal
        ours = self.reversed + self.over_closed + self.drift
        return ours + journal.reversed + journal.over_closed + journal.drift

    def line(self) -> str:
        counts = " ".join(f"{name}={getattr(self, name)}" for name in _COUNTS)
        return f"{counts} | journal: {self.journal.line()}"

    def render(self, max_problems: int = 30) -> str:
        lines = [f"chaos check: {self.line()}"]
        problems = [*self.problems, *self.journal.problems]
        lines += [f"  {p}" for p in problems[:max_problems]]
        if len(problems) > max_problems:
            lines.append(f"  ... and {len(problems) - max_problems} more")
        return "\n".join(lines)


#: The count fields of a :class:`ChaosReport`, in the order its ``line`` shows them.
_COUNTS = tuple(f.name for f in fields(ChaosReport) if f.type == "int")


def _status(o: Mapping[str, Any]) -> OrderStatus:
    return OrderStatus(str(o.get("orderStatus")))


def _must_copy(leader: Mapping[str, Any]) -> bool:
    """Copy it if it is still working or traded anything; a dead unfilled order may lack one."""
    return _status(leader).is_open or int(leader.get("filledQty") or 0) > 0


def check_invariants(
    leader_book: Iterable[Mapping[str, Any]],
    follower_books: Mapping[str, Iterable[Mapping[str, Any]]],
    followers: Sequence[FollowerConfig],
    intents: Iterable[Intent],
    unresolved: int,
    *,
    trades: Mapping[str, Sequence[Trade]] | None = None,
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> ChaosReport:
    """Judge the books after the engine settled (admin views: ``sim.admin.orders(id)``).

    ``followers`` are the *enabled* followers, all copying every leader order (policy
    ``copy_all``, no filters, sizing that gives at least one share). For each leader entry
    order and follower: exactly one copy when the leader order is working or traded (else at
    most one), none without a leader cause, the copy's content what the leader's order asks
    for, scaled by the engine's sizing (status, quantity, filled quantity, order type, price,
    trigger, validity, each exit leg's status, level and trailing jump), at most one filled
    exit leg per follower bracket and none left open beside a filled one, and no intent the
    journal has not resolved. A copy the broker refused for the follower's funds (the journal
    says so, or the book shows it REJECTED by RMS, unfilled) is ``refused``: by design.

    ``trades``: each account's ``GET /trades`` ("leader" and each follower's name), in time
    order: then the positions are judged too (``checker.check_positions``: ``reversed``,
    ``over_closed``, ``drift``). ``exit_bases``: the journal's ``exit_bases`` (leader order id
    -> basis): an exit's copy is judged against its basis (``copy_content.judge_copy``).
    """
    leader_book = list(leader_book)
    intents = list(intents)
    # copies the broker refused for funds: a place (REJECTED), or a modify (the copy stays as
    # it was; the refusal recorded on it)
    short_of_funds = {
        (i.follower, i.leader_order_id)
        for i in intents
        if not i.leg and is_funds_refusal(i.error_message)
    }
    refusals = {
        (i.follower, i.leader_order_id)
        for i in intents
        if not i.leg and i.state is IntentState.REJECTED and is_funds_refusal(i.error_message)
    }
    skips = {
        (i.follower, i.leader_order_id): i.skip_reason
        for i in intents
        if not i.leg and i.skip_reason and i.broker_order_id is None
    }
    leaders = entry_orders(leader_book)
    contents = admin_contents(leader_book)
    # copies that traded in full before the leader's latest change could reach them
    filled_first = {
        (i.follower, i.leader_order_id)
        for i in intents
        if not i.leg and filled_before_change(i, contents.get(i.leader_order_id))
    }
    ctx = SizingContext(lot_sizes={}, balances={})
    books = {name: list(book) for name, book in follower_books.items()}
    problems: list[str] = []
    counts = Counter({"leader_orders": len(leaders), "unresolved": unresolved})
    bases_of = basis_reader(exit_bases)
    for f in followers:
        book = books.get(f.name, [])
        copy_contents = {c.correlation_id: c for c in admin_contents(book).values()}
        # a copy re-placed after the engine cancelled it below one lot has a later
        # correlationId generation: its earlier orders must have ended unfilled
        copies, earlier = current_generations(entry_orders(book))
        caused = set()
        for lo in leaders:
            lo_id = str(lo["orderId"])
            cid = correlation_id_for(f.name, lo_id)
            caused.add(cid)
            mine = copies.get(cid, [])
            before = [o for o in earlier.get(cid, []) if not superseded_is_clean(o)]
            where = f"{f.name}/{lo['orderId']} ({cid})"
            if len(mine) > 1 or (mine and before):
                counts["duplicated"] += 1
                problems.append(f"duplicated x{len(mine) + len(before)}: {where}")
            elif (not mine and (f.name, lo_id) in refusals) or (
                len(mine) == 1 and refused_by_rms(mine[0])
            ):
                counts["refused"] += 1
            elif not mine and (f.name, lo_id) in skips:
                # no copy by the engine's sizing (an exit with nothing to close, below a lot):
                # judged again against the order's basis
                judged = judge_copy(
                    contents[lo_id], None, f, ctx, skips[f.name, lo_id], bases_of(lo_id)
                )
                if judged.verdict is Verdict.WRONG:
                    counts["wrong"] += 1
                    problems.append(f"wrong: {where}: {judged.text()}{_basis(bases_of(lo_id))}")
                else:
                    counts["skipped"] += 1
            elif not mine and _must_copy(lo):
                counts["lost"] += 1
                problems.append(f"lost: {where} (leader {lo.get('orderStatus')})")
            elif not mine:
                counts["not_copied"] += 1
            else:
                current = str(mine[0].get("correlationId") or "")
                judged = judge_copy(
                    contents[lo_id],
                    copy_contents.get(current),
                    f,
                    ctx,
                    basis=bases_of(lo_id),
                    filled_first=(f.name, lo_id) in filled_first,
                )
                if judged.verdict is Verdict.WRONG and (f.name, lo_id) in short_of_funds:
                    counts["refused"] += 1  # a change the broker refused for funds
                elif judged.verdict is Verdict.WRONG:
                    counts["wrong"] += 1
                    problems.append(f"wrong: {where}: {judged.text()}{_basis(bases_of(lo_id))}")
                else:
                    counts["ok"] += 1
        for cid, orders in copies.items():
            if cid not in caused:
                counts["unexpected"] += len(orders) + len(earlier.get(cid, []))
                problems.append(f"unexpected: {f.name} order(s) with correlationId {cid!r}")
        for parent, legs in _exit_legs(book).items():
            states = [_status(leg) for leg in legs.values()]
            if len(legs) == 2 and all(s is OrderStatus.TRADED for s in states):
                counts["both_legs_filled"] += 1
                problems.append(f"both exit legs filled: {f.name} bracket {parent}")
            elif OrderStatus.TRADED in states and any(s.is_open for s in states):
                counts["oco_pending"] += 1
                problems.append(f"one exit leg filled, the other open: {f.name} bracket {parent}")
    journal = check_books(intents, {f.name: books.get(f.name, []) for f in followers})
    if unresolved:
        problems.append(f"unresolved intents in the journal: {unresolved}")
    if trades is not None:
        positions = positions_of(leader_book, books, followers, trades, refusals, exit_bases)
        counts.update(
            reversed=positions.reversed, over_closed=positions.over_closed, drift=positions.drift
        )
        problems += positions.problems
    return ChaosReport.of(counts, journal, problems)


def _basis(basis: ExitBasis | None) -> str:
    """An exit basis in a problem's words ('' for an entry)."""
    if basis is None or not basis.is_exit:
        return ""
    return f" (exit basis: leader {basis.leader_open}, followers {dict(basis.follower_open)})"


def _exit_legs(book: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Bracket id -> leg name -> leg. CO/BO legs point to their entry; super legs share its id."""
    out: dict[str, dict[str, Mapping[str, Any]]] = {}
    for o in book:
        leg = o.get("legName")
        if leg in _EXIT_LEGS:
            parent = str(o.get("parentOrderId") or o.get("orderId"))
            out.setdefault(parent, {})[str(leg)] = o
    return out


# -- pacing ----------------------------------------------------------------------------------


class RatePacer:
    """Keeps a caller under sliding-window limits, e.g. ``((1.0, 9), (60.0, 240))``.

    A trader's speed, not synchronisation: :meth:`wait` sleeps until one more call fits.
    """

    def __init__(
        self, limits: Sequence[tuple[float, int]], clock: Callable[[], float] = time.monotonic
    ):
        self.limits = tuple(limits)
        self.clock = clock
        self._calls: deque[float] = deque()
        self._stop = threading.Event()

    def wait(self) -> None:
        while True:
            now = self.clock()
            horizon = max(window for window, _ in self.limits)
            while self._calls and now - self._calls[0] >= horizon:
                self._calls.popleft()
            delay = 0.0
            for window, limit in self.limits:
                inside = [t for t in self._calls if now - t < window]
                if len(inside) >= limit:
                    delay = max(delay, window - (now - inside[-limit]))
            if delay <= 0:
                self._calls.append(now)
                return
            self._stop.wait(delay)


# -- the random leader -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaderAction:
    """One thing the leader did: what, on which order, and whether the broker took it."""

    kind: str
    order_id: str | None
    detail: str
    ok: bool = True


@dataclass(slots=True)
class _Resting:
    security_id: str
    order_type: OrderType
    side: TransactionType
    quantity: int
    price: float
    trigger: float
    modifications: int = 0


#: Plain instruments (pinned LTPs; resting orders never fill) and the one brackets trade on.
PLAIN_LTPS: Mapping[str, float] = {"1333": 1600.0, "2885": 2400.0, "1594": 1500.0, "3045": 810.0}
BRACKET_SECURITY, BRACKET_LTP = "11536", 3500.0
#: Bracket exits: targets sit at +20, stops at -10; a rally fills targets, a drop stops.
TARGET_OFFSET, STOP_OFFSET, RALLY, DROP = 20.0, 10.0, 25.0, 15.0

#: Relative weights of the leader's moves (places are orders; modify / cancel act on them).
DEFAULT_WEIGHTS: Mapping[str, int] = {
    "limit_resting": 30,
    "limit_marketable": 10,
    "market": 14,
    "stop": 10,
    "bo": 5,
    "co": 4,
    "super": 5,
    "modify": 6,
    "cancel": 6,
    "reduce": 6,
    "close": 5,
    "flip": 3,
}
#: Moves against the leader's own open position (plain, at the market): part of it, all of
#: it, all of it and as much again the other way.
EXITS = frozenset({"reduce", "close", "flip"})
PLACES = frozenset(
    {"limit_resting", "limit_marketable", "market", "stop", "bo", "co", "super", *EXITS}
)
BRACKETS = frozenset({"bo", "co", "super"})


def _tick(price: float) -> float:
    return round(round(price / 0.05) * 0.05, 2)


def super_buy(quantity: int, price: float) -> SuperOrderRequest:
    """A LIMIT BUY super order on the bracket instrument, its target and stop at the script's
    offsets from ``price``."""
    return SuperOrderRequest(
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id=BRACKET_SECURITY,
        quantity=quantity,
        price=price,
        target_price=price + TARGET_OFFSET,
        stop_loss_price=price - STOP_OFFSET,
    )


class RandomLeader:
    """A seeded trader on the leader account: every order type, modifies, cancels, exits.

    ``set_ltp(security_id, ltp)`` moves the (simulated) market. Plain instruments keep their
    price, so resting orders stay open until the leader modifies or cancels them; brackets
    trade on one instrument whose price the caller moves with :meth:`rally` (targets fill),
    :meth:`drop` (stops fill) and :meth:`calm` -- waiting in between for the engine's
    one-cancels-other is the caller's business. Broker errors are recorded, not raised.
    """

    def __init__(
        self,
        client: DhanClient,
        set_ltp: Callable[[str, float], object],
        seed: int,
        *,
        weights: Mapping[str, int] = DEFAULT_WEIGHTS,
        pacer: RatePacer | None = None,
    ) -> None:
        self.client = client
        self.set_ltp = set_ltp
        self.rng = random.Random(seed)
        self.kinds = list(weights)
        self.weights = [weights[k] for k in self.kinds]
        self.pacer = pacer
        self.placed: list[str] = []
        self.brackets_since_exit = 0
        self.actions: list[LeaderAction] = []
        self.counts: Counter[str] = Counter()
        self._resting: dict[str, _Resting] = {}

    def open_market(self) -> None:
        """Pin every instrument at its base price."""
        for sec, ltp in PLAIN_LTPS.items():
            self.set_ltp(sec, ltp)
        self.calm()

    def calm(self) -> None:
        self.set_ltp(BRACKET_SECURITY, BRACKET_LTP)

    def rally(self) -> None:
        self.set_ltp(BRACKET_SECURITY, BRACKET_LTP + RALLY)

    def drop(self) -> None:
        self.set_ltp(BRACKET_SECURITY, BRACKET_LTP - DROP)
        self.brackets_since_exit = 0

    def step(self, kind: str | None = None) -> LeaderAction:
        """One move (``kind`` or a weighted random one); a modify/cancel with nothing open
        places a resting limit instead."""
        kind = kind or self.rng.choices(self.kinds, self.weights)[0]
        if kind in ("modify", "cancel") and not self._resting:
            kind = "limit_resting"
        if self.pacer is not None:
            self.pacer.wait()
        try:
            action = getattr(self, f"_{kind}")()
        except errors.DhanError as exc:
            action = LeaderAction(kind, None, f"{type(exc).__name__}: {exc.code}", ok=False)
        self.actions.append(action)
        # what was done: an exit with no position to act on trades at the market instead
        self.counts[action.kind if action.ok else f"{action.kind}_failed"] += 1
        if action.ok and kind in PLACES and action.order_id:
            self.placed.append(action.order_id)
            if kind in BRACKETS:
                self.brackets_since_exit += 1
        return action

    # -- moves ---------------------------------------------------------------------------------

    def _plain(self) -> tuple[str, float, int, TransactionType]:
        sec = self.rng.choice(sorted(PLAIN_LTPS))
        side = self.rng.choice((TransactionType.BUY, TransactionType.SELL))
        return sec, PLAIN_LTPS[sec], self.rng.randint(1, 20), side

    def _place(self, req: OrderRequest, kind: str, resting: _Resting | None = None) -> LeaderAction:
        ack = self.client.place_order(req)
        if resting is not None and ack.order_status is not OrderStatus.REJECTED:
            self._resting[ack.order_id] = resting
        return LeaderAction(
            kind, ack.order_id, f"{req.transaction_type} {req.order_type} {req.quantity}"
        )

    def _limit_resting(self) -> LeaderAction:
        sec, ltp, qty, side = self._plain()
        away = self.rng.randint(5, 60) * 0.05 * (ltp / 200)
        price = _tick(ltp - away if side is TransactionType.BUY else ltp + away)
        req = nse_order(sec, qty, OrderType.LIMIT, side, price=price)
        return self._place(
            req, "limit_resting", _Resting(sec, OrderType.LIMIT, side, qty, price, 0.0)
        )

    def _limit_marketable(self) -> LeaderAction:
        sec, ltp, qty, side = self._plain()
        price = _tick(ltp + 1.0 if side is TransactionType.BUY else ltp - 1.0)
        return self._place(
            nse_order(sec, qty, OrderType.LIMIT, side, price=price), "limit_marketable"
        )

    def _market(self) -> LeaderAction:
        sec, _ltp, qty, side = self._plain()
        return self._place(nse_order(sec, qty, OrderType.MARKET, side), "market")

    def _stop(self) -> LeaderAction:
        sec, ltp, qty, side = self._plain()
        away = self.rng.randint(10, 80) * 0.05 * (ltp / 200)
        trigger = _tick(ltp - away if side is TransactionType.SELL else ltp + away)
        if self.rng.random() < 0.5:
            req = nse_order(sec, qty, OrderType.STOP_LOSS_MARKET, side, trigger=trigger)
            rest = _Resting(sec, OrderType.STOP_LOSS_MARKET, side, qty, 0.0, trigger)
        else:  # a stop-limit: SELL limit at or below its trigger, BUY at or above
            price = _tick(trigger - 1.0 if side is TransactionType.SELL else trigger + 1.0)
            req = nse_order(sec, qty, OrderType.STOP_LOSS, side, price=price, trigger=trigger)
            rest = _Resting(sec, OrderType.STOP_LOSS, side, qty, price, trigger)
        return self._place(req, "stop", rest)

    def _bo(self) -> LeaderAction:
        req = nse_order(
            BRACKET_SECURITY,
            self.rng.randint(1, 5),
            OrderType.LIMIT,
            TransactionType.BUY,
            price=BRACKET_LTP,
            product=ProductType.BO,
            bo_profit_value=TARGET_OFFSET,
            bo_stop_loss_value=STOP_OFFSET,
        )
        return self._place(req, "bo")

    def _co(self) -> LeaderAction:
        req = nse_order(
            BRACKET_SECURITY,
            self.rng.randint(1, 5),
            OrderType.MARKET,
            TransactionType.BUY,
            product=ProductType.CO,
            trigger=BRACKET_LTP - STOP_OFFSET,
        )
        return self._place(req, "co")

    def _super(self) -> LeaderAction:
        qty = self.rng.randint(1, 5)
        ack = self.client.place_super_order(super_buy(qty, BRACKET_LTP))
        return LeaderAction("super", ack.order_id, f"BUY super {qty}")

    def _modify(self) -> LeaderAction:
        oid = self.rng.choice(sorted(self._resting))
        r = self._resting[oid]
        if r.modifications >= 3:  # far below Dhan's 25, so every copy can follow
            return self._cancel(oid)
        ltp = PLAIN_LTPS[r.security_id]
        step = self.rng.randint(1, 6) * 0.05 * (ltp / 200)
        # move away from the market only, so a modified order keeps resting: a buy limit and
        # a sell stop sit below the price, a sell limit and a buy stop above it
        below = (r.side is TransactionType.BUY) == (r.order_type is OrderType.LIMIT)
        away = -step if below else step
        if r.order_type is OrderType.LIMIT:
            r.price = _tick(r.price + away)
        else:
            r.trigger = _tick(r.trigger + away)
            if r.order_type is OrderType.STOP_LOSS:
                r.price = _tick(r.price + away)
        if self.rng.random() < 0.3:
            r.quantity += self.rng.randint(1, 5)
        r.modifications += 1
        uses_price = r.order_type in (OrderType.LIMIT, OrderType.STOP_LOSS)
        uses_trigger = r.order_type is not OrderType.LIMIT
        self.client.modify_order(
            oid,
            ModifyRequest(
                order_type=r.order_type,
                quantity=r.quantity,
                price=r.price if uses_price else None,
                trigger_price=r.trigger if uses_trigger else None,
                validity=Validity.DAY,
            ),
        )
        return LeaderAction("modify", oid, f"price {r.price} trigger {r.trigger} qty {r.quantity}")

    def _cancel(self, oid: str | None = None) -> LeaderAction:
        oid = oid or self.rng.choice(sorted(self._resting))
        self._resting.pop(oid, None)
        self.client.cancel_order(oid)
        return LeaderAction("cancel", oid, "cancel")

    def _open_positions(self) -> list[tuple[str, int]]:
        """The leader's open plain positions on the plain instruments (the broker's view)."""
        return sorted(
            (p.security_id, p.net_qty)
            for p in self.client.positions()
            if p.net_qty
            and p.security_id in PLAIN_LTPS
            and p.product_type is ProductType.INTRADAY
            and p.exchange_segment is ExchangeSegment.NSE_EQ
        )

    def _exit(self, kind: str) -> LeaderAction:
        """A MARKET order against an open position: ``reduce`` part of it, ``close`` all of it,
        ``flip`` through zero to the other side. Flat everywhere: a market entry instead."""
        held = self._open_positions()
        if not held:
            return self._market()
        sec, net = self.rng.choice(held)
        size = abs(net)
        if kind == "reduce" and size > 1:
            qty = self.rng.randint(1, size - 1)
        elif kind == "flip":
            qty = size + self.rng.randint(1, 15)
        else:
            qty = size
        side = TransactionType.SELL if net > 0 else TransactionType.BUY
        action = self._place(nse_order(sec, qty, OrderType.MARKET, side), kind)
        return LeaderAction(kind, action.order_id, f"{action.detail} against {net}")

    def _reduce(self) -> LeaderAction:
        return self._exit("reduce")

    def _close(self) -> LeaderAction:
        return self._exit("close")

    def _flip(self) -> LeaderAction:
        return self._exit("flip")


# -- every field of every order type ---------------------------------------------------------


#: The order families :class:`EveryFieldLeader` trades, each with the fields it changes.
FIELD_FAMILIES: Mapping[str, str] = {
    "market": "placed at the market: its order type and filled quantity",
    "limit": "price, quantity, order type (to a stop-limit), validity (to IOC), cancel",
    "stop": "trigger (stop-market and stop-limit), stop-limit price, quantity, cancel",
    "bo": "target leg price, stop-loss leg trigger, a leg cancelled by hand",
    "co": "stop-loss leg trigger",
    "super_pending": "entry price, quantity, target, stop-loss, trailing jump; cancel",
    "super_filled": "target leg, stop-loss leg and its trailing jump; a leg cancelled",
}


@dataclass(slots=True)
class _Tracked:
    order_id: str
    family: str
    security_id: str
    side: TransactionType
    order_type: OrderType
    quantity: int
    price: float
    trigger: float = 0.0
    target: float = 0.0  #: super: target leg; BO: target leg level
    stop: float = 0.0  #: super: stop-loss leg; BO / CO: stop-loss leg trigger
    jump: float = 0.0  #: super: the stop's trailing jump
    live: bool = True


class EveryFieldLeader:
    """A leader that changes every field of every order type, seeded, on a pinned market.

    :meth:`place` opens ``per_family`` orders of each family in :data:`FIELD_FAMILIES` (the
    bracket, cover and "super_filled" entries at the market, so they fill and their exit legs
    exist; every other price away from it, so nothing else fills). Each :meth:`modify_round`
    changes the next field of every live order; :meth:`cancel_some` cancels one of each kind.
    Leader orders carry no correlationId (a trader's app sets none). ``legs_of(entry id)``
    names a BO's exit-leg order ids (e.g. from the simulator's admin view). Broker errors are
    recorded as failed actions, not raised.
    """

    def __init__(
        self,
        client: DhanClient,
        set_ltp: Callable[[str, float], object],
        legs_of: Callable[[str], Mapping[str, str]],
        seed: int,
        *,
        pacer: RatePacer | None = None,
    ) -> None:
        self.client = client
        self.set_ltp = set_ltp
        self.legs_of = legs_of
        self.rng = random.Random(seed)
        self.pacer = pacer
        self.orders: dict[str, _Tracked] = {}
        self.actions: list[LeaderAction] = []
        self.rounds = 0

    @property
    def families(self) -> dict[str, str]:
        """Leader order id -> family."""
        return {oid: t.family for oid, t in self.orders.items()}

    def open_market(self) -> None:
        for sec, ltp in PLAIN_LTPS.items():
            self.set_ltp(sec, ltp)
        self.set_ltp(BRACKET_SECURITY, BRACKET_LTP)

    def _do(self, kind: str, order_id: str | None, detail: str, call: Callable[[], Any]) -> Any:
        if self.pacer is not None:
            self.pacer.wait()
        try:
            result = call()
        except errors.DhanError as exc:
            self.actions.append(
                LeaderAction(kind, order_id, f"{detail}: {type(exc).__name__} {exc}", ok=False)
            )
            return None
        self.actions.append(LeaderAction(kind, order_id, detail))
        return result

    # -- placing ---------------------------------------------------------------------------------

    def place(self, per_family: int = 2) -> None:
        for _ in range(per_family):
            self._place_market()
            self._place_limit()
            self._place_stop(OrderType.STOP_LOSS_MARKET)
            self._place_stop(OrderType.STOP_LOSS)
            self._place_bracket(ProductType.BO)
            self._place_bracket(ProductType.CO)
            self._place_super(filled=False)
            self._place_super(filled=True)

    def _track(self, ack: Any, tracked: _Tracked) -> None:
        if ack is not None and ack.order_status is not OrderStatus.REJECTED:
            tracked.order_id = ack.order_id
            self.orders[ack.order_id] = tracked

    def _place_market(self) -> None:
        sec = self.rng.choice(sorted(PLAIN_LTPS))
        side = self.rng.choice((TransactionType.BUY, TransactionType.SELL))
        qty = self.rng.randint(1, 10)
        req = nse_order(sec, qty, OrderType.MARKET, side)
        t = _Tracked("", "market", sec, side, OrderType.MARKET, qty, 0.0, live=False)
        self._track(
            self._do("place", None, f"market {qty}", lambda: self.client.place_order(req)), t
        )

    def _place_limit(self) -> None:
        sec = self.rng.choice(sorted(PLAIN_LTPS))
        price = _tick(PLAIN_LTPS[sec] * (1 - self.rng.uniform(0.02, 0.05)))
        qty = self.rng.randint(1, 10)
        req = nse_order(sec, qty, OrderType.LIMIT, TransactionType.BUY, price=price)
        t = _Tracked("", "limit", sec, TransactionType.BUY, OrderType.LIMIT, qty, price)
        self._track(
            self._do("place", None, f"limit {qty} @{price}", lambda: self.client.place_order(req)),
            t,
        )

    def _place_stop(self, order_type: OrderType) -> None:
        # a sell stop below the market: it waits for a fall that never comes
        sec = self.rng.choice(sorted(PLAIN_LTPS))
        trigger = _tick(PLAIN_LTPS[sec] * (1 - self.rng.uniform(0.03, 0.06)))
        price = _tick(trigger - 1.0) if order_type is OrderType.STOP_LOSS else 0.0
        qty = self.rng.randint(1, 10)
        req = nse_order(sec, qty, order_type, TransactionType.SELL, price=price, trigger=trigger)
        t = _Tracked("", "stop", sec, TransactionType.SELL, order_type, qty, price, trigger)
        self._track(
            self._do(
                "place",
                None,
                f"{order_type} {qty} @{trigger}",
                lambda: self.client.place_order(req),
            ),
            t,
        )

    def _place_bracket(self, product: ProductType) -> None:
        qty = self.rng.randint(1, 5)
        if product is ProductType.BO:
            req = nse_order(
                BRACKET_SECURITY,
                qty,
                OrderType.LIMIT,
                TransactionType.BUY,
                price=BRACKET_LTP,
                product=ProductType.BO,
                bo_profit_value=TARGET_OFFSET,
                bo_stop_loss_value=STOP_OFFSET,
            )
        else:
            req = nse_order(
                BRACKET_SECURITY,
                qty,
                OrderType.MARKET,
                TransactionType.BUY,
                product=ProductType.CO,
                trigger=BRACKET_LTP - STOP_OFFSET,
            )
        t = _Tracked(
            "",
            "bo" if product is ProductType.BO else "co",
            BRACKET_SECURITY,
            TransactionType.BUY,
            req.order_type,
            qty,
            req.price,
            target=BRACKET_LTP + TARGET_OFFSET,
            stop=BRACKET_LTP - STOP_OFFSET,
        )
        self._track(
            self._do("place", None, f"{product} {qty}", lambda: self.client.place_order(req)), t
        )

    def _place_super(self, *, filled: bool) -> None:
        qty = self.rng.randint(1, 5)
        price = BRACKET_LTP if filled else _tick(BRACKET_LTP - self.rng.randint(20, 40))
        req = super_buy(qty, price)
        target, stop = req.target_price, req.stop_loss_price
        family = "super_filled" if filled else "super_pending"
        t = _Tracked(
            "",
            family,
            BRACKET_SECURITY,
            TransactionType.BUY,
            OrderType.LIMIT,
            qty,
            price,
            target=target,
            stop=stop,
        )
        self._track(
            self._do(
                "place", None, f"super {qty} @{price}", lambda: self.client.place_super_order(req)
            ),
            t,
        )

    # -- changing --------------------------------------------------------------------------------

    def modify_round(self) -> None:
        """The next field of every live order (round ``n`` of each family's list)."""
        n = self.rounds
        self.rounds += 1
        for oid, t in sorted(self.orders.items()):
            if t.live:
                getattr(self, f"_modify_{t.family}")(oid, t, n)

    def _modify_limit(self, oid: str, t: _Tracked, n: int) -> None:
        step = round(self.rng.randint(1, 6) * 0.05 * (PLAIN_LTPS[t.security_id] / 200), 2)
        validity = Validity.DAY
        if t.order_type is OrderType.LIMIT and n % 4 == 0:
            t.price = _tick(t.price - step)
        elif t.order_type is OrderType.LIMIT and n % 4 == 1:
            t.quantity += self.rng.randint(1, 5)
        elif t.order_type is OrderType.LIMIT and n % 4 == 2 and self.rng.random() < 0.5:
            # to a buy stop-limit above the market: still resting, now a stop
            t.order_type = OrderType.STOP_LOSS
            t.trigger = _tick(PLAIN_LTPS[t.security_id] * 1.03)
            t.price = _tick(t.trigger + 1.0)
        elif t.order_type is OrderType.LIMIT and n % 4 == 3 and self.rng.random() < 0.5:
            validity = Validity.IOC  # an IOC cannot rest: the order ends at once
            t.live = False
        elif t.order_type is OrderType.STOP_LOSS:
            t.trigger = _tick(t.trigger + step)
            t.price = _tick(t.trigger + 1.0)
        else:
            t.price = _tick(t.price - step)
        self._modify_plain(oid, t, validity)

    def _modify_stop(self, oid: str, t: _Tracked, n: int) -> None:
        step = round(self.rng.randint(1, 6) * 0.05 * (PLAIN_LTPS[t.security_id] / 200), 2)
        if n % 3 == 1:
            t.quantity += self.rng.randint(1, 5)
        else:
            t.trigger = _tick(t.trigger - step)  # further below the market
            if t.order_type is OrderType.STOP_LOSS:
                t.price = _tick(t.trigger - 1.0 - (step if n % 3 == 2 else 0.0))
        self._modify_plain(oid, t, Validity.DAY)

    def _modify_plain(self, oid: str, t: _Tracked, validity: Validity) -> None:
        req = ModifyRequest(
            order_type=t.order_type,
            quantity=t.quantity,
            price=t.price if t.order_type in (OrderType.LIMIT, OrderType.STOP_LOSS) else None,
            trigger_price=t.trigger if t.order_type is not OrderType.LIMIT else None,
            validity=validity,
        )
        detail = f"{t.order_type} q={t.quantity} p={t.price} t={t.trigger} {validity}"
        self._do("modify", oid, detail, lambda: self.client.modify_order(oid, req))

    def _modify_bo(self, oid: str, t: _Tracked, n: int) -> None:
        legs = self.legs_of(oid)
        if n % 2 == 0 and LegName.TARGET_LEG in legs:
            t.target = _tick(t.target + self.rng.randint(1, 4))
            req = ModifyRequest(
                order_type=OrderType.LIMIT,
                quantity=t.quantity,
                price=t.target,
                trigger_price=None,
                validity=Validity.DAY,
                leg_name=LegName.TARGET_LEG,
            )
            self._do(
                "modify", oid, f"BO target {t.target}", lambda: self.client.modify_order(oid, req)
            )
        else:
            self._move_stop_leg(oid, t)

    def _modify_co(self, oid: str, t: _Tracked, n: int) -> None:
        self._move_stop_leg(oid, t)

    def _move_stop_leg(self, oid: str, t: _Tracked) -> None:
        t.stop = _tick(t.stop - self.rng.randint(1, 4))
        req = ModifyRequest(
            order_type=OrderType.STOP_LOSS_MARKET,
            quantity=t.quantity,
            price=None,
            trigger_price=t.stop,
            validity=Validity.DAY,
            leg_name=LegName.STOP_LOSS_LEG,
        )
        self._do(
            "modify", oid, f"{t.family} stop {t.stop}", lambda: self.client.modify_order(oid, req)
        )

    def _modify_super_pending(self, oid: str, t: _Tracked, n: int) -> None:
        if n % 3 == 0:
            t.price = _tick(t.price - self.rng.randint(1, 3))
            t.target = _tick(t.target + self.rng.randint(1, 4))
        elif n % 3 == 1:
            t.quantity += self.rng.randint(1, 3)
            t.stop = _tick(t.stop - self.rng.randint(1, 4))
        else:
            t.jump = float(self.rng.randint(1, 4))
        req = SuperModifyRequest.entry(
            order_type=OrderType.LIMIT,
            quantity=t.quantity,
            price=t.price,
            target_price=t.target,
            stop_loss_price=t.stop,
            trailing_jump=t.jump,
        )
        detail = f"super entry q={t.quantity} p={t.price} T={t.target} S={t.stop} j={t.jump}"
        self._do("modify", oid, detail, lambda: self.client.modify_super_order(oid, req))

    def _modify_super_filled(self, oid: str, t: _Tracked, n: int) -> None:
        if n % 3 == 0:
            t.target = _tick(t.target + self.rng.randint(1, 4))
            req = SuperModifyRequest.target(t.target)
        else:
            if n % 3 == 1:
                t.stop = _tick(t.stop - self.rng.randint(1, 4))
            t.jump = float(self.rng.randint(1, 4))
            req = SuperModifyRequest.stop_loss(t.stop, t.jump)
        detail = f"super {req.leg_name} T={t.target} S={t.stop} j={t.jump}"
        self._do("modify", oid, detail, lambda: self.client.modify_super_order(oid, req))

    def cancel_some(self) -> None:
        """Cancel one live order of each plain family and a pending super order; cancel one
        exit leg of a bracket and of a filled super order by hand."""
        done: set[str] = set()
        for oid, t in sorted(self.orders.items()):
            if not t.live or t.family in done:
                continue
            done.add(t.family)
            call: Callable[[], Any] | None = None
            if t.family in ("limit", "stop"):
                call = functools.partial(self.client.cancel_order, oid)
            elif t.family == "super_pending":
                call = functools.partial(self.client.cancel_super_order, oid, LegName.ENTRY_LEG)
            elif t.family == "super_filled":  # its stop stays as the leader left it
                call = functools.partial(self.client.cancel_super_order, oid, LegName.TARGET_LEG)
            elif t.family == "bo":
                target = self.legs_of(oid).get(LegName.TARGET_LEG)
                if target is not None:
                    call = functools.partial(self.client.cancel_order, target)
            if call is not None:
                t.live = False
                self._do("cancel", oid, f"cancel ({t.family})", call)


__all__ = (
    "FIELD_FAMILIES",
    "SEED_ENV",
    "ChaosReport",
    "EveryFieldLeader",
    "LeaderAction",
    "RandomLeader",
    "RatePacer",
    "chaos_seed",
    "check_invariants",
)
