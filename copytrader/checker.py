"""The invariant check, Jepsen style: compare the journal's intents with the follower books.

For every follower intent: exactly one broker order carries its correlationId when the copy was
placed (``ok``); none when it was rightly never sent (skipped, or the leader order ended first).
Two or more is ``duplicated``; a copy the journal says exists but the broker lacks is ``lost``;
a follower order whose correlationId no intent owns is ``unexpected``. A copy the engine
cancelled (unfilled, below one lot) and placed again when the leader raised its order has a
new correlationId *generation* (``dhan.correlation``): its earlier orders are superseded, fine
when they ended unfilled, a ``duplicated`` copy when one is still open or filled. Given the
leader's book, each copy's content is judged against the leader's order scaled
(``copy_content.judge_copy``: status, quantities, type, price, trigger, validity, every exit
leg): ``wrong`` counts those that differ, and copies missing for a reason that no longer holds.
The demo, the chaos suite and ``copytrader reconcile`` print these counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors import exit_sizing
from actors.sizing import ExitBasis, SizingContext, follower_quantity
from copytrader.config import FollowerConfig
from copytrader.copy_content import (
    OrderContent,
    Verdict,
    admin_contents,
    exit_basis,
    judge_copy,
)
from dhan.codes import TransactionType
from dhan.correlation import correlation_id_for, first_generation_id, generation_of
from dhan.models import Trade
from store.records import Intent, is_held_skip
from store.states import IntentState

_EXIT_LEGS = ("TARGET_LEG", "STOP_LOSS_LEG")
_UNRESOLVED = (
    IntentState.PLANNED,
    IntentState.SENDING,
    IntentState.UNKNOWN,
    IntentState.MODIFYING,
    IntentState.CANCELLING,
)


@dataclass
class CheckResult:
    ok: int = 0  #: copies at the broker exactly once (their content is ``wrong``'s business)
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    unresolved: int = 0
    not_sent: int = 0  #: skipped / ended before copy: correctly absent
    wrong: int = 0  #: copies whose content differs from the leader's order, scaled
    #: the positions' counts (:func:`check_positions`), once :meth:`add_positions` added them
    reversed: int = 0
    over_closed: int = 0
    drift: int = 0
    positions_checked: bool = False  #: the line shows the positions' counts only when checked
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        own = self.lost + self.duplicated + self.unexpected + self.unresolved + self.wrong
        return own + self.reversed + self.over_closed + self.drift

    def line(self) -> str:
        return (
            f"ok={self.ok} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} unresolved={self.unresolved} not_sent={self.not_sent} "
            f"wrong={self.wrong}"
            + (
                f" reversed={self.reversed} over_closed={self.over_closed} drift={self.drift}"
                if self.positions_checked
                else ""
            )
        )

    def add_positions(self, positions: PositionResult) -> None:
        """Take in the counts and problems of a :func:`check_positions`."""
        self.reversed += positions.reversed
        self.over_closed += positions.over_closed
        self.drift += positions.drift
        self.positions_checked = True
        self.problems += positions.problems


def basis_reader(
    exit_bases: Callable[[str], Mapping[str, int]] | None,
) -> Callable[[str], ExitBasis | None]:
    """Leader order id -> its exit basis (read once per order), from the journal's
    ``exit_bases``; None everywhere without one."""
    cache: dict[str, ExitBasis | None] = {}

    def read(leader_order_id: str) -> ExitBasis | None:
        if exit_bases is None:
            return None
        if leader_order_id not in cache:
            cache[leader_order_id] = exit_basis(exit_bases(leader_order_id))
        return cache[leader_order_id]

    return read


def entry_orders(book: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A book without bracket exit legs (those carry the entry's correlationId too)."""
    return [o for o in book if o.get("legName") not in _EXIT_LEGS]


#: Statuses of an earlier generation's order that a re-placed copy may leave behind.
_ENDED_UNFILLED = ("CANCELLED", "REJECTED", "EXPIRED")


def superseded_is_clean(order: Mapping[str, Any]) -> bool:
    """True when an earlier generation's order of a re-placed copy ended unfilled: the engine
    re-places a copy only after such an end, so anything else is a second live copy."""
    return order.get("orderStatus") in _ENDED_UNFILLED and not int(order.get("filledQty") or 0)


def current_generations(
    orders: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, list[Mapping[str, Any]]]]:
    """A book's entry orders by the copy they belong to (its first-generation correlationId):
    ``(current, earlier)`` -- the orders of each copy's latest generation, and those of the
    generations before it."""
    by_copy: dict[str, list[Mapping[str, Any]]] = {}
    for o in orders:
        cid = str(o.get("correlationId") or "")
        by_copy.setdefault(first_generation_id(cid) if cid else cid, []).append(o)
    current: dict[str, list[Mapping[str, Any]]] = {}
    earlier: dict[str, list[Mapping[str, Any]]] = {}
    for first, group in by_copy.items():
        latest = max(generation_of(str(o.get("correlationId") or "")) for o in group)
        for o in group:
            gen = generation_of(str(o.get("correlationId") or ""))
            (current if gen == latest else earlier).setdefault(first, []).append(o)
    return current, earlier


def check_books(
    intents: Iterable[Intent],
    books: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    leader_book: Iterable[Mapping[str, Any]] | None = None,
    followers: Iterable[FollowerConfig] = (),
    ctx: SizingContext | None = None,
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> CheckResult:
    """``books``: follower name -> that follower's order book (REST ``GET /orders`` dicts).

    With ``leader_book`` (the simulator's admin view, as ``books`` then must be) and the
    enabled ``followers``' configs, each copy's content is judged too (``wrong``); an exit's
    copy against its basis when ``exit_bases`` (the journal's) has one.
    """
    intents = list(intents)
    rows = {name: list(book) for name, book in books.items()}
    result = CheckResult()
    counts: dict[str, Counter[str]] = {
        name: Counter(str(o.get("correlationId") or "") for o in entry_orders(book))
        for name, book in rows.items()
    }
    owned: dict[str, set[str]] = {name: set() for name in rows}
    for intent in intents:
        if intent.follower not in counts:
            continue
        owned[intent.follower].add(intent.correlation_id)
        n = counts[intent.follower][intent.correlation_id]
        where = f"{intent.follower}/{intent.leader_order_id} ({intent.correlation_id})"
        if n > 1:
            result.duplicated += 1
            result.problems.append(f"duplicated x{n}: {where}")
        elif intent.state in _UNRESOLVED:
            result.unresolved += 1
            result.problems.append(f"unresolved {intent.state}: {where}")
        elif intent.state is IntentState.SKIPPED and is_held_skip(intent.skip_reason):
            result.unresolved += 1  # an exit copy still to come (``actors.exit_holds``)
            result.problems.append(f"unresolved (held): {where}")
        elif n == 1:
            result.ok += 1
        elif intent.broker_order_id is not None or intent.state is IntentState.WORKING:
            result.lost += 1
            result.problems.append(f"lost: {where}")
        else:
            result.not_sent += 1
    for name, counter in counts.items():
        # the copies whose correlationId an intent owns at a later generation
        replaced = {
            first_generation_id(cid): generation_of(cid)
            for cid in owned[name]
            if generation_of(cid)
        }
        for cid, n in counter.items():
            if cid in owned[name]:
                continue
            if generation_of(cid) < replaced.get(first_generation_id(cid), 0):
                live = [
                    o
                    for o in entry_orders(rows[name])
                    if o.get("correlationId") == cid and not superseded_is_clean(o)
                ]
                if live:
                    result.duplicated += 1
                    result.problems.append(
                        f"duplicated: {name} order(s) with correlationId {cid!r} still open or "
                        "filled beside the copy's later generation"
                    )
                continue  # an earlier generation of a re-placed copy, ended unfilled
            result.unexpected += n
            result.problems.append(f"unexpected: {name} order(s) with correlationId {cid!r}")
    if leader_book is not None:
        _judge_contents(result, intents, rows, leader_book, followers, ctx, exit_bases)
    return result


def _judge_contents(
    result: CheckResult,
    intents: list[Intent],
    books: Mapping[str, list[Mapping[str, Any]]],
    leader_book: Iterable[Mapping[str, Any]],
    followers: Iterable[FollowerConfig],
    ctx: SizingContext | None,
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> None:
    """Count (and say) every copy whose content differs from the leader's order, scaled, and
    every missing copy the counts above do not already name (no intent, or a stale skip)."""
    ctx = ctx or SizingContext(lot_sizes={}, balances={})
    bases_of = basis_reader(exit_bases)
    by_key = {(i.follower, i.leader_order_id): i for i in intents if not i.leg}
    leaders = admin_contents(leader_book)
    for f in followers:
        if f.name not in books:
            continue
        copies = {c.correlation_id: c for c in admin_contents(books[f.name]).values()}
        for oid, leader in sorted(leaders.items()):
            intent = by_key.get((f.name, oid))
            cid = intent.correlation_id if intent is not None else correlation_id_for(f.name, oid)
            copy = copies.get(cid)
            if intent is not None and (
                intent.state in _UNRESOLVED or (copy is None and intent.broker_order_id)
            ):
                continue  # unresolved or lost: counted above
            recorded = intent.skip_reason if intent is not None else None
            judged = judge_copy(
                leader,
                copy,
                f,
                ctx,
                recorded,
                bases_of(oid),
                filled_first=intent is not None and filled_before_change(intent, leader),
            )
            if judged.verdict is Verdict.WRONG:
                result.wrong += 1
                result.problems.append(f"wrong: {f.name}/{oid}: {judged.text()}")


# -- positions: reversed, over-closed, drift -----------------------------------------------------

#: Products whose exits are plain orders; a CO / BO / super order's exits are its broker legs.
PLAIN_PRODUCTS = frozenset({"CNC", "INTRADAY", "MARGIN", "MTF"})

#: A position: (exchange segment, security id, product).
Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of a plain order, as the broker's trade book shows it (in time order).

    ``order_id``: for the leader its own order id; for a follower the *leader's* order id its
    copy copies (the link is the copy's correlationId).
    """

    order_id: str
    key: Key
    qty: int  #: signed: > 0 a BUY, < 0 a SELL


@dataclass
class PositionResult:
    """The positions' counts of one check (see :func:`check_positions`)."""

    reversed: int = 0
    over_closed: int = 0
    drift: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return self.reversed + self.over_closed + self.drift

    def line(self) -> str:
        return f"reversed={self.reversed} over_closed={self.over_closed} drift={self.drift}"


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _opened(before: int, after: int, side: int) -> int:
    """How much a fill on ``side`` (+1 BUY, -1 SELL) grew the position on that side."""
    return max(0, side * after) - max(0, side * before)


def _side_name(side: int) -> str:
    return "long" if side > 0 else "short"


@dataclass(slots=True)
class _LeaderOrder:
    key: Key
    side: int
    first: int  #: index of its first fill in the leader's fills
    leader_open: int  #: the leader's open quantity it could reduce, at its first fill
    filled: int = 0
    opened: int = 0  #: how much it grew the leader's position on its side


def _walk_leader(fills: Sequence[Fill]) -> tuple[dict[str, _LeaderOrder], dict[Key, int]]:
    orders: dict[str, _LeaderOrder] = {}
    net: dict[Key, int] = {}
    for i, f in enumerate(fills):
        before = net.get(f.key, 0)
        side = _sign(f.qty)
        o = orders.get(f.order_id)
        if o is None:
            o = orders[f.order_id] = _LeaderOrder(f.key, side, i, max(0, -side * before))
        after = net[f.key] = before + f.qty
        o.filled += abs(f.qty)
        o.opened += _opened(before, after, side)
    return orders, net


def check_positions(
    leader: Sequence[Fill],
    followers: Mapping[str, Sequence[Fill]],
    configs: Iterable[FollowerConfig],
    *,
    refused: Mapping[str, Iterable[str]] | None = None,
    lot_sizes: Mapping[tuple[str, str], int] | None = None,
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> PositionResult:
    """The broker's positions after settling: ``leader`` and each follower's plain fills in
    time order (a follower's: its copies' only), per position key (segment, security, product).

    ``over_closed``: a copy (follower, leader order) whose fills grew the follower's position on
    the copy's side -- beyond flat, or from flat -- while the leader's order grew nothing on
    that side (it only reduced the leader's position, or never filled). A follower whose entry
    was rejected, partly filled or sized ``fixed`` and that sells the leader's exit, scaled,
    over-closes: it ends short, or shorter, where the leader only closed.

    ``reversed``: a follower's final net on a key is on the other side of the leader's final
    net (or non-zero while the leader is flat), *because of copies*: the copy that last moved
    the follower onto that side (from flat or from the other side) is one whose leader order
    grew nothing on that side. A follower left on a side the leader did open (its exit copy
    refused, say) is not reversed: that is a leftover, and ``drift`` says whether a refused
    copy explains it.

    ``drift``: per follower (sizing ``multiplier`` or ``fixed``, no caps) and key, the final net
    against a replay of the exit rules (``actors.exit_sizing``) over the leader's orders in the
    order of their first fill: an order of ``q`` against the leader's open ``X`` closes
    ``follower_close(close, X, F)`` of the replayed follower's open ``F`` and opens the rest,
    sized as an entry. A copy in ``refused`` (follower -> leader order ids whose copy never
    reached the broker, or was rejected unfilled) explains its part: it adds nothing. Each
    (follower, key) whose net differs counts once. ``lot_sizes``: (segment, security) -> lot;
    1 when not named (cash equity). ``exit_bases`` (the journal's) only adds the engine's
    basis of the first copy that parts from the rules to the drift's words.
    """
    result = PositionResult()
    orders, leader_net = _walk_leader(leader)
    lots = lot_sizes or {}
    refused_by = {name: set(ids) for name, ids in (refused or {}).items()}
    # the leader's orders per key, in the order of their first fill: the replay's sequence
    by_key: dict[Key, list[tuple[str, _LeaderOrder]]] = {}
    for oid, o in sorted(orders.items(), key=lambda item: item[1].first):
        by_key.setdefault(o.key, []).append((oid, o))
    for cfg in configs:
        fills = followers.get(cfg.name, ())
        net: dict[Key, int] = {}
        opened: dict[tuple[str, Key], int] = {}
        opener: dict[Key, str] = {}
        first_seen: dict[tuple[str, Key], int] = {}  #: the follower's net before a copy's fill
        filled: dict[tuple[str, Key], int] = {}  #: what each copy filled, signed
        for f in fills:
            before = net.get(f.key, 0)
            first_seen.setdefault((f.order_id, f.key), before)
            filled[f.order_id, f.key] = filled.get((f.order_id, f.key), 0) + f.qty
            after = net[f.key] = before + f.qty
            side = _sign(f.qty)
            grew = _opened(before, after, side)
            if grew:
                opened[f.order_id, f.key] = opened.get((f.order_id, f.key), 0) + grew
                if side * before <= 0:
                    opener[f.key] = f.order_id
        for (oid, key), grew in sorted(opened.items()):
            lo = orders.get(oid)
            if lo is None or lo.opened == 0:
                result.over_closed += 1
                what = "never filled" if lo is None else f"only closed (open {lo.leader_open})"
                result.problems.append(
                    f"over_closed: {cfg.name}/{oid} {_key_text(key)}: the copy grew the "
                    f"follower's position (at {first_seen[oid, key]} before it) by {grew} "
                    f"while the leader's order {what}{_basis_text(exit_bases, oid, cfg.name)}"
                )
        for key, final in sorted(net.items()):
            lead = leader_net.get(key, 0)
            if final == 0 or _sign(final) == _sign(lead):
                continue
            oid = opener.get(key, "")
            lo = orders.get(oid)
            if lo is not None and lo.opened > 0 and lo.side == _sign(final):
                continue  # a leftover on a side the leader opened: drift's business
            result.reversed += 1
            result.problems.append(
                f"reversed: {cfg.name} {_key_text(key)} ends {final} while the leader ends "
                f"{lead}; copy of {oid or '?'} put it {_side_name(_sign(final))}"
            )
        if cfg.sizing.mode not in ("multiplier", "fixed") or _capped(cfg):
            continue
        skip = refused_by.get(cfg.name, set())
        for key in sorted(set(net) | set(by_key)):
            lot = lots.get(key[:2], 1)
            copied = {oid: q for (oid, k), q in filled.items() if k == key}
            want, where = _replay(by_key.get(key, ()), cfg, lot, skip, copied, exit_bases)
            have = net.get(key, 0)
            if want != have:
                result.drift += 1
                result.problems.append(
                    f"drift: {cfg.name} {_key_text(key)} holds {have}, the leader's orders "
                    f"replayed give {want} (leader {leader_net.get(key, 0)}){where}"
                )
    return result


def _capped(cfg: FollowerConfig) -> bool:
    caps = cfg.caps
    return caps.max_order_quantity is not None or caps.max_order_value_inr is not None


def _replay(
    orders: Iterable[tuple[str, _LeaderOrder]],
    cfg: FollowerConfig,
    lot: int,
    skip: set[str],
    copied: Mapping[str, int],
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> tuple[int, str]:
    """The follower's net on one key after copying ``orders`` by the exit rules, and where
    its copies first part from the rules ('' when none does): ``copied`` is what each copy
    filled (signed), by leader order id."""
    ctx = SizingContext(lot_sizes={}, balances={})
    held = 0
    first = ""
    for oid, o in orders:
        if oid in skip or o.filled == 0:
            want = 0
        else:
            close, opening = exit_sizing.split(o.filled, o.leader_open)
            closing = exit_sizing.follower_close(close, o.leader_open, max(0, -o.side * held), lot)
            entry = follower_quantity(opening, cfg, lot, ctx)[0] if opening else 0
            want = o.side * (closing + entry)
        have = copied.get(oid, 0)
        if not first and have != want:
            first = (
                f"; first at {oid} (leader {o.side * o.filled:+d} against open "
                f"{o.leader_open}): the rules give {want:+d} at {held}, the copy filled {have:+d}"
            )
            first += _basis_text(exit_bases, oid, cfg.name)
        held += want
    return held, first


def _basis_text(
    exit_bases: Callable[[str], Mapping[str, int]] | None, leader_order_id: str, follower: str
) -> str:
    """The engine's journaled basis of a leader order, the leader's and ``follower``'s part."""
    if exit_bases is None:
        return ""
    basis = exit_bases(leader_order_id)
    mine = {k: v for k, v in basis.items() if k in (exit_sizing.LEADER, follower)}
    return f" (the journal's basis: {mine or 'none'})"


def _key_text(key: Key) -> str:
    return ":".join(key)


def is_plain(rows: Iterable[Mapping[str, Any]]) -> bool:
    """True when every row of one order id (admin view, or ``GET /orders``) is a plain order
    of a plain product: not a CO / BO / super order or one of their legs."""
    for row in rows:
        kind = row.get("kind")
        if kind is not None and kind != "PLAIN":
            return False
        if row.get("legName") or row.get("superOrder"):
            return False
        if str(row.get("productType")) not in PLAIN_PRODUCTS:
            return False
    return True


def plain_fills(
    trades: Iterable[Trade],
    book: Iterable[Mapping[str, Any]],
    link: Callable[[Mapping[str, Any]], str | None] = lambda row: str(row["orderId"]),
) -> list[Fill]:
    """The fills of plain orders among ``trades`` (``GET /trades``, in time order), each named
    by ``link(order row)`` (None: not counted): the leader's own order id by default; for a
    follower, the leader order its copy copies."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for row in book:
        rows.setdefault(str(row.get("orderId")), []).append(row)
    names: dict[str, str | None] = {
        oid: link(group[0]) if is_plain(group) else None for oid, group in rows.items()
    }
    out = []
    for t in trades:
        name = names.get(t.order_id)
        if name is None or t.product_type is None:
            continue
        key = (str(t.exchange_segment), t.security_id, str(t.product_type))
        sign = 1 if t.transaction_type is TransactionType.BUY else -1
        out.append(Fill(name, key, sign * t.traded_quantity))
    return out


def copy_linker(
    follower: str, leader_ids: Iterable[str]
) -> Callable[[Mapping[str, Any]], str | None]:
    """A :func:`plain_fills` ``link`` for ``follower``: a copy's leader order id from its
    correlationId (any generation); None for an order that is not a copy."""
    by_cid = {correlation_id_for(follower, oid): oid for oid in leader_ids}

    def link(row: Mapping[str, Any]) -> str | None:
        cid = str(row.get("correlationId") or "")
        return by_cid.get(first_generation_id(cid)) if cid else None

    return link


def is_funds_refusal(message: str | None) -> bool:
    """True for the broker's words for an order refused for the account's funds (RMS)."""
    return "insufficient funds" in (message or "").lower()


#: The broker's words for a change refused because the order had already traded (dhansim:
#: "Order is already TRADED; it cannot be modified"; Dhan's own wording is **U**).
_FILLED_REFUSAL = re.compile(r"\b(already\s+)?(traded|executed|filled)\b", re.IGNORECASE)


def is_filled_refusal(message: str | None) -> bool:
    """True for the broker's refusal of a change to an order that had already traded."""
    text = message or ""
    return "already" in text.lower() and _FILLED_REFUSAL.search(text) is not None


def filled_before_change(intent: Intent, leader: OrderContent | None = None) -> bool:
    """True when ``intent``'s copy traded in full before the leader's latest change could
    reach it: the broker refused the change because the order had traded; or the copy ended
    filled with that change never applied (its modify lost to a fault, then found traded); or
    the change reached the journal only once the copy had ended (its journaled price or
    trigger is not ``leader``'s now: a terminal copy is never changed again). Its price and
    trigger are then the leader's earlier ones (``judge_copy(filled_first=)``); a change the
    engine never sent while the copy rested shows as unresolved before."""
    if is_filled_refusal(intent.error_message):
        return True
    filled = (
        intent.state is IntentState.DONE
        and intent.quantity > 0
        and intent.filled_qty >= intent.quantity
    )
    if not filled:
        return False
    if intent.applied_version < intent.desired_version:
        return True
    return leader is not None and (
        abs(intent.price - leader.price) > 1e-9
        or abs(intent.trigger_price - leader.trigger_price) > 1e-9
    )


def refused_by_rms(order: Mapping[str, Any]) -> bool:
    """An order the broker's RMS rejected unfilled for the account's funds."""
    return (
        order.get("orderStatus") == "REJECTED"
        and not int(order.get("filledQty") or 0)
        and is_funds_refusal(str(order.get("omsErrorDescription") or ""))
    )


def positions_of(
    leader_book: Sequence[Mapping[str, Any]],
    books: Mapping[str, Sequence[Mapping[str, Any]]],
    followers: Sequence[FollowerConfig],
    trades: Mapping[str, Sequence[Trade]],
    refusals: Iterable[tuple[str, str]] = (),
    exit_bases: Callable[[str], Mapping[str, int]] | None = None,
) -> PositionResult:
    """``check_positions`` over the accounts' trade books and order books (admin views). A
    copy explains its part of a follower's position when it never reached the broker (a
    skip, a refusal) or the broker rejected it unfilled."""
    leader_ids = [str(o["orderId"]) for o in entry_orders(leader_book)]
    refused: dict[str, set[str]] = {}
    for name, oid in refusals:
        refused.setdefault(name, set()).add(oid)
    fills = {}
    for f in followers:
        book = books.get(f.name, [])
        copies, _earlier = current_generations(entry_orders(book))
        mine = refused.setdefault(f.name, set())
        for oid in leader_ids:
            rows = copies.get(correlation_id_for(f.name, oid), [])
            if not rows or all(
                o.get("orderStatus") == "REJECTED" and not int(o.get("filledQty") or 0)
                for o in rows
            ):
                mine.add(oid)
        fills[f.name] = plain_fills(trades.get(f.name, ()), book, copy_linker(f.name, leader_ids))
    return check_positions(
        plain_fills(trades.get("leader", ()), leader_book),
        fills,
        followers,
        refused=refused,
        exit_bases=exit_bases,
    )
