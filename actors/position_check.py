"""Position checks: the journal's positions of one account set to the broker's truth.

``check_positions(client, journal, account)`` reads the order book (O1), ``GET /positions``,
``GET /holdings`` and the order book again (O2). A fill between the two book reads may or may
not be in the positions read between them, so the reads are taken again (at most
``MAX_ATTEMPTS`` rounds) until O1 and O2 agree on every order's filled quantity: then the
positions match O2, and ``Journal.reset_positions`` sets them and marks O2's fills applied in
one transaction (a fill a socket or a settle reports later adds only its delta over O2).

Called after every connect of an account's order socket (the leader feed's and each follower
feed's: the socket has no replay) and at a follower's start when follower sockets are off.
A failed check raises ``PositionCheckFailed`` (or the ``DhanError`` of a read); its callers log
and count it and try again on the next connect, never crash for it.

The pure parts: ``broker_positions`` (Dhan's rows -> ``BrokerPosition``), ``fills_from`` (the
book -> ``OrderFill``), ``fill_of`` (a socket frame -> its ``OrderFill``) and ``same_fills``
(do two books agree).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from dhan.codes import ExchangeSegment, ProductType
from dhan.models import Holding, Order, Position
from dhan.order_feed import OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from store.records import BrokerPosition, OrderFill, PositionCheck, PositionKey, fill_order_id

__all__ = [
    "MAX_ATTEMPTS",
    "PositionCheckFailed",
    "as_journal_knows",
    "broker_positions",
    "check_positions",
    "fill_of",
    "fills_from",
    "holding_segment",
    "same_fills",
    "unjournaled",
]

logger = logging.getLogger(__name__)

#: Rounds of (O1, positions, holdings, O2) before a check gives up (fills kept arriving).
MAX_ATTEMPTS = 3

#: ``GET /holdings`` names the exchange, not the segment; a stock listed on both may read
#: "ALL". Holdings are equity delivery (CNC) positions of the exchange's cash segment; "ALL"
#: is taken as NSE (where the copies are placed unless the leader traded on BSE).
_HOLDING_SEGMENTS: Mapping[str, str] = {
    "NSE": ExchangeSegment.NSE_EQ.value,
    "BSE": ExchangeSegment.BSE_EQ.value,
    "ALL": ExchangeSegment.NSE_EQ.value,
}


class PositionCheckFailed(Exception):
    """The order book kept moving between reads: no consistent view to check against."""


def holding_segment(exchange: str | None) -> str:
    """The exchange segment of a holding's ``exchange`` ("NSE", "BSE", "ALL"; None: NSE)."""
    text = (exchange or "NSE").strip().upper()
    return _HOLDING_SEGMENTS.get(text, text if text.endswith("_EQ") else f"{text}_EQ")


def broker_positions(
    positions: Iterable[Position], holdings: Iterable[Holding]
) -> list[BrokerPosition]:
    """The broker's truth per key, from ``GET /positions`` and ``GET /holdings``.

    Pure. A position row of a product other than CNC: net = ``netQty``, carried =
    ``carryForwardBuyQty - carryForwardSellQty``. CNC: net = ``dayBuyQty - daySellQty`` plus
    the holdings' ``totalQty``, carried = ``totalQty``: holdings are the CNC position of
    earlier days, and a sale of them today shows either as a negative ``netQty`` or as the
    sold holdings repeated in ``carryForwardBuyQty`` (``netQty`` 0) -- the day's quantities
    read both right (docs/simulator.md, ``holdings_sale_view``; the drift gauge,
    ``copytrader.positions.broker_holdings``, reads them the same way). ``totalQty``, not
    ``availableQty``: pledged and T+1 shares are held all the same, and ``availableQty``
    drops with today's sale. Rows of one key are summed (a duplicate must not vanish).
    """
    net: dict[PositionKey, int] = {}
    carried: dict[PositionKey, int] = {}
    for p in positions:
        key = PositionKey(p.exchange_segment.value, p.security_id, p.product_type.value)
        if p.product_type is ProductType.CNC:
            day, cf = p.day_buy_qty - p.day_sell_qty, 0
        else:
            day, cf = p.net_qty, p.carry_forward_buy_qty - p.carry_forward_sell_qty
        net[key] = net.get(key, 0) + day
        carried[key] = carried.get(key, 0) + cf
    for h in holdings:
        if h.total_qty == 0:
            continue
        key = PositionKey(holding_segment(h.exchange), h.security_id, ProductType.CNC.value)
        net[key] = net.get(key, 0) + h.total_qty
        carried[key] = carried.get(key, 0) + h.total_qty
    return [BrokerPosition(key, net[key], carried[key]) for key in net]


def fills_from(orders: Iterable[Order]) -> list[OrderFill]:
    """Every order of the book with a fill, as the cumulative ``OrderFill`` of its order id.

    Pure. An exit leg is ledgered apart from its entry (``store.records.fill_order_id``: a
    super order's legs share their entry's order id).
    """
    return [
        OrderFill(
            order_id=_ledger_id(o),
            key=PositionKey(o.exchange_segment.value, o.security_id, o.product_type.value),
            transaction_type=o.transaction_type.value,
            filled_qty=o.filled_qty,
        )
        for o in orders
        if o.filled_qty > 0
    ]


def fill_of(u: OrderUpdate) -> OrderFill | None:
    """The cumulative fill a frame reports, or None (no fill, or instrument codes unknown:
    the next position check finds it). Pure."""
    if (
        u.traded_qty <= 0
        or u.exchange_segment is None
        or u.security_id is None
        or u.product_type is None
        or u.transaction_type is None
    ):
        return None
    key = PositionKey(u.exchange_segment.value, u.security_id, u.product_type.value)
    leg = u.leg_name.value if u.leg_name is not None else None
    return OrderFill(fill_order_id(u.order_no, leg), key, u.transaction_type.value, u.traded_qty)


def same_fills(first: Iterable[Order], second: Iterable[Order]) -> bool:
    """Pure: do two reads of the book agree on every order's filled quantity (an order absent
    from one read counts as unfilled there)?"""

    def filled(orders: Iterable[Order]) -> dict[str, int]:
        return {_ledger_id(o): o.filled_qty for o in orders if o.filled_qty > 0}

    return filled(first) == filled(second)


def _ledger_id(o: Order) -> str:
    return fill_order_id(o.order_id, o.leg_name.value if o.leg_name is not None else None)


def unjournaled(fills: Iterable[OrderFill], applied: Mapping[str, int]) -> dict[PositionKey, int]:
    """Per key, the signed quantity of the book's fills the journal has not counted yet (a
    frame still on its way): part of a difference a check finds, not a conversion. Pure."""
    moved: dict[PositionKey, int] = {}
    for f in fills:
        delta = f.filled_qty - applied.get(f.order_id, 0)
        if delta > 0:
            sign = 1 if f.transaction_type == "BUY" else -1
            moved[f.key] = moved.get(f.key, 0) + sign * delta
    return moved


def as_journal_knows(
    broker: Iterable[BrokerPosition], unseen: Mapping[PositionKey, int]
) -> list[BrokerPosition]:
    """The broker's positions less the fills the journal has not counted yet. Pure."""
    out = {b.key: b for b in broker}
    for key, moved in unseen.items():
        b = out.get(key)
        base = BrokerPosition(key, 0, 0) if b is None else b
        out[key] = BrokerPosition(key, base.net_qty - moved, base.carried_qty)
    return list(out.values())


def check_positions(
    client: DhanClient,
    journal: Journal,
    account: str,
    *,
    as_journaled: bool = False,
) -> list[PositionCheck]:
    """Set ``account``'s journaled positions to the broker's (see the module docstring).

    Returns the keys where the journal differed, and logs a WARNING for each. Raises
    ``dhan.errors.DhanError`` when a read fails and ``PositionCheckFailed`` when the book
    moved in every round; the journal is then untouched.

    ``as_journaled`` (the leader): the positions are set to the broker's *less the fills of
    the book the journal has not counted yet* (``unjournaled``), and those fills are left to
    the snapshots that journal them. Orders the leader placed while its socket was down are
    then journaled (the reconcile, in order) against the position each found, not against the
    end of the outage -- an entry and its exit placed meanwhile are an entry and an exit. A
    difference left is one no fill explains (a conversion: ``actors.leader_positions``).
    """
    for _ in range(MAX_ATTEMPTS):
        first = client.list_orders()
        positions = client.positions()
        holdings = client.holdings()
        second = client.list_orders()
        if same_fills(first, second):
            break
    else:
        raise PositionCheckFailed(
            f"the order book of {account} moved in each of {MAX_ATTEMPTS} rounds of reads"
        )
    fills = fills_from(second)
    broker = broker_positions(positions, holdings)
    if as_journaled:
        unseen = unjournaled(fills, journal.applied_fills(account))
        broker = as_journal_knows(broker, unseen)
        fills = []
    checks = journal.reset_positions(account, broker, fills)
    for c in checks:
        logger.warning(
            "position of %s in %s %s %s was %d in the journal, %d at the broker: set to the"
            " broker's",
            c.account,
            c.key.exchange_segment,
            c.key.security_id,
            c.key.product_type,
            c.journal_qty,
            c.broker_qty,
        )
    return checks
