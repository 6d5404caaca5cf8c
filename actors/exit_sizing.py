"""Exits sized from positions, as pure functions (issue 16).

A leader order is an *exit* when, at its first sight, the leader holds an open position in the
same instrument and product on the other side: a SELL while long, a BUY while short. Copying
such an order as "the leader's quantity, scaled" over-closes or reverses a follower whose entry
was rejected, partly filled or sized differently (``fixed``, ``capital``), or who holds a
position of an earlier day. So an exit is sized from the follower's own position:

- the leader's order of ``x`` against its open ``X`` closes ``min(x, X)`` and opens the rest
  (``split``): SELL 20 while long 10 is a close of 10 and a new short entry of 10 (a flip);
- the follower closes ``round_to_lot(F * close / X)`` of its open ``F``, or all of ``F`` when
  the leader's close is its whole position (``follower_close``), never more than ``F``;
- the rest, if any, is a new entry sized by the follower's sizing like any entry.

``X`` and ``F`` are the *basis*, taken once at the leader order's first sight and journaled with
it (``Journal.exit_bases``): later events of the same order (fills, a modify of its quantity, a
cancel after a partial fill) are sized against the same basis, so the follower's exit stays
proportional to the leader's however the positions move meanwhile. Each side's open quantity
leaves out what the account's other open exits already take (``open_against``): three resting
SELL 10 against a long of 30 are sized against 30, 20 and 10.

Plain products only: the exits of a cover order, a bracket order or a super order are the
broker's legs, mirrored as legs.
"""

from __future__ import annotations

import math

from dhan.codes import ProductType, TransactionType

#: Products whose exits are plain orders (a CO / BO / super order's exits are its legs).
PLAIN_PRODUCTS = frozenset(
    {ProductType.CNC, ProductType.INTRADAY, ProductType.MARGIN, ProductType.MTF}
)

#: The account name of the leader in a basis.
LEADER = "leader"

#: Skip reasons of an exit copy (``Intent.skip_reason``); they are final, not ``waiting: ...``.
NOTHING_TO_CLOSE = "exit: the follower holds no position to close"
CLOSE_BELOW_LOT = "exit: the follower's proportional share is below one lot"


def direction(side: TransactionType | str) -> int:
    """The sign of the position an order on ``side`` *reduces*: +1 (a SELL reduces a long),
    -1 (a BUY reduces a short)."""
    return 1 if str(side) == TransactionType.SELL.value else -1


def open_against(
    net_qty: int,
    side: TransactionType | str,
    *,
    pending_exit_qty: int = 0,
    inflight_entry_qty: int = 0,
) -> int:
    """The open quantity (>= 0) an order on ``side`` can reduce.

    ``net_qty`` signed (> 0 long); ``pending_exit_qty``: the unfilled rest of the account's other
    open exits on ``side`` (already promised to them); ``inflight_entry_qty``: the unfilled rest
    of the account's MARKET entries on the other side that are about to fill (a follower's copy
    whose fill the engine has not heard of yet).
    """
    held = net_qty * direction(side) + inflight_entry_qty - pending_exit_qty
    return max(0, held)


def split(leader_qty: int, leader_open: int) -> tuple[int, int]:
    """``(close, open)``: how much of a leader order of ``leader_qty`` closes the leader's open
    ``leader_open``, and how much is a new entry on the other side (a flip)."""
    qty = max(0, leader_qty)
    close = min(qty, max(0, leader_open))
    return close, qty - close


def round_to_lot(quantity: float, lot: int) -> int:
    """``quantity`` rounded down to a whole number of lots (a tolerance for float error)."""
    lot = max(1, lot)
    return math.floor(quantity / lot + 1e-9) * lot


def follower_close(close: int, leader_open: int, follower_open: int, lot: int) -> int:
    """The follower's part of a leader close of ``close`` out of ``leader_open``.

    All of ``follower_open`` when the leader closes its whole position, else its proportion
    rounded down to the lot; never more than the follower holds; 0 when either side holds
    nothing.
    """
    if close <= 0 or leader_open <= 0 or follower_open <= 0:
        return 0
    if close >= leader_open:
        return follower_open
    return min(follower_open, round_to_lot(follower_open * close / leader_open, lot))


def close_skip_reason(follower_open: int, close_qty: int) -> str | None:
    """Why a follower's exit copy sends nothing (its close is 0 and it opens nothing)."""
    if close_qty > 0:
        return None
    return NOTHING_TO_CLOSE if follower_open <= 0 else CLOSE_BELOW_LOT


def is_exit_candidate(product: ProductType | str, is_leg: bool) -> bool:
    """True when an order of ``product`` may be sized as an exit (a plain order, not a leg)."""
    return not is_leg and str(product) in {p.value for p in PLAIN_PRODUCTS}
