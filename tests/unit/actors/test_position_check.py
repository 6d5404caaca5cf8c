"""The pure parts of the position check (``actors.position_check``): Dhan's positions and
holdings -> the broker's truth per key, the book -> fills, and when two book reads agree."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.position_check import broker_positions, fills_from, holding_segment, same_fills
from dhan.codes import ExchangeSegment, LegName, OrderStatus, ProductType, TransactionType
from dhan.models import Holding, Order, Position
from store.records import BrokerPosition, OrderFill, PositionKey

from .copies import order

O = OrderStatus  # noqa: E741  # one letter keeps the table rows on one line

_POSITION = Position(
    security_id="1333",
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    net_qty=0,
)


def position(net: int, *, cf_buy: int = 0, cf_sell: int = 0, **fields: object) -> Position:
    """A row whose day quantities are its net less what it carried (as the broker's are)."""
    day = net - (cf_buy - cf_sell)
    fields.setdefault("day_buy_qty", max(day, 0))
    fields.setdefault("day_sell_qty", max(-day, 0))
    return replace(  # type: ignore[arg-type]  # test data by keyword
        _POSITION,
        net_qty=net,
        carry_forward_buy_qty=cf_buy,
        carry_forward_sell_qty=cf_sell,
        **fields,
    )


def holding(total: int, *, available: int | None = None, exchange: str = "NSE") -> Holding:
    return Holding(
        security_id="1333",
        exchange=exchange,
        total_qty=total,
        available_qty=total if available is None else available,
    )


INTRADAY = PositionKey("NSE_EQ", "1333", "INTRADAY")
CNC = PositionKey("NSE_EQ", "1333", "CNC")
MARGIN_FNO = PositionKey("NSE_FNO", "35000", "MARGIN")


@pytest.mark.parametrize(
    ("positions", "holdings", "truth"),
    [
        ([], [], []),
        # today's position: net = netQty, nothing carried
        ([position(10)], [], [BrokerPosition(INTRADAY, 10, 0)]),
        ([position(-5)], [], [BrokerPosition(INTRADAY, -5, 0)]),
        # a carried F&O position: carried = carryForwardBuyQty - carryForwardSellQty
        (
            [
                position(
                    75,
                    cf_buy=150,
                    cf_sell=75,
                    security_id="35000",
                    exchange_segment=ExchangeSegment.NSE_FNO,
                    product_type=ProductType.MARGIN,
                )
            ],
            [],
            [BrokerPosition(MARGIN_FNO, 75, 75)],
        ),
        # a closed position is still a key (net 0): the journal's row is set to 0
        ([position(0)], [], [BrokerPosition(INTRADAY, 0, 0)]),
        # shares held from earlier days: the CNC key, net and carried
        ([], [holding(100)], [BrokerPosition(CNC, 100, 100)]),
        # ... pledged or in T+1 (not available to sell) are held all the same: totalQty
        ([], [holding(100, available=60)], [BrokerPosition(CNC, 100, 100)]),
        # ... sold today: the sale is in the positions (netQty -40), the holding unchanged
        (
            [position(-40, product_type=ProductType.CNC)],
            [holding(100)],
            [BrokerPosition(CNC, 60, 100)],
        ),
        # ... or the sold holdings repeated as carried buys the sale closes (netQty 0): the
        # day's quantities read both views right
        (
            [position(0, cf_buy=40, product_type=ProductType.CNC)],
            [holding(100)],
            [BrokerPosition(CNC, 60, 100)],
        ),
        # ... and bought more today
        (
            [position(25, product_type=ProductType.CNC)],
            [holding(100)],
            [BrokerPosition(CNC, 125, 100)],
        ),
        # ... all sold today: flat
        (
            [position(-100, product_type=ProductType.CNC)],
            [holding(100)],
            [BrokerPosition(CNC, 0, 100)],
        ),
        # a BSE holding is the BSE_EQ key; an empty holding row is no key
        (
            [],
            [holding(5, exchange="BSE"), holding(0)],
            [BrokerPosition(PositionKey("BSE_EQ", "1333", "CNC"), 5, 5)],
        ),
        # two rows of one key add up (Dhan sends one; a duplicate must not vanish)
        ([position(3), position(4)], [], [BrokerPosition(INTRADAY, 7, 0)]),
    ],
)
def test_the_brokers_truth_per_key(
    positions: list[Position], holdings: list[Holding], truth: list[BrokerPosition]
) -> None:
    assert broker_positions(positions, holdings) == truth


@pytest.mark.parametrize(
    ("exchange", "segment"),
    [
        ("NSE", "NSE_EQ"),
        ("BSE", "BSE_EQ"),
        ("ALL", "NSE_EQ"),
        (None, "NSE_EQ"),
        (" nse ", "NSE_EQ"),
    ],
)
def test_a_holdings_exchange_names_its_cash_segment(exchange: str | None, segment: str) -> None:
    assert holding_segment(exchange) == segment


KEY = PositionKey("NSE_EQ", "1333", "INTRADAY")


@pytest.mark.parametrize(
    ("book", "fills"),
    [
        ([], []),
        # unfilled orders are no fill
        ([order(O.PENDING), order(O.CANCELLED, order_id="B-2")], []),
        ([order(O.PART_TRADED, filled_qty=4)], [OrderFill("B-1", KEY, "BUY", 4)]),
        (
            [order(O.TRADED, filled_qty=10, transaction_type=TransactionType.SELL)],
            [OrderFill("B-1", KEY, "SELL", 10)],
        ),
        # an exit leg sharing its entry's order id is ledgered apart
        (
            [
                order(O.TRADED, filled_qty=10, leg_name=LegName.ENTRY_LEG),
                order(O.TRADED, filled_qty=10, leg_name=LegName.TARGET_LEG),
            ],
            [OrderFill("B-1", KEY, "BUY", 10), OrderFill("B-1:TARGET_LEG", KEY, "BUY", 10)],
        ),
    ],
)
def test_the_books_fills(book: list[Order], fills: list[OrderFill]) -> None:
    assert fills_from(book) == fills


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ([], [], True),
        ([order(O.PENDING)], [order(O.PENDING, price=1490.0)], True),  # a modify: no fill
        ([order(O.PENDING)], [order(O.PART_TRADED, filled_qty=2)], False),
        ([order(O.PART_TRADED, filled_qty=2)], [order(O.TRADED, filled_qty=10)], False),
        ([], [order(O.TRADED, filled_qty=10)], False),  # a new order that filled between
        ([], [order(O.PENDING)], True),  # a new order with no fill
        ([order(O.TRADED, filled_qty=10)], [order(O.TRADED, filled_qty=10)], True),
    ],
)
def test_two_book_reads_agree_when_every_fill_is_the_same(
    first: list[Order], second: list[Order], same: bool
) -> None:
    assert same_fills(first, second) is same


def test_unjournaled_fills_and_the_position_as_the_journal_knows_it() -> None:
    from actors.position_check import as_journal_knows, unjournaled
    from store.records import BrokerPosition, OrderFill, PositionKey

    k1 = PositionKey("NSE_EQ", "1333", "INTRADAY")
    k2 = PositionKey("NSE_EQ", "11536", "INTRADAY")
    fills = [
        OrderFill("A", k1, "BUY", 10),  # counted
        OrderFill("B", k1, "SELL", 4),  # 1 of 4 counted
        OrderFill("C", k2, "BUY", 5),  # never seen
    ]
    unseen = unjournaled(fills, {"A": 10, "B": 1})
    assert unseen == {k1: -3, k2: 5}
    broker = [BrokerPosition(k1, 6, 0)]  # 10 - 4; k2's 5 not yet a position row here
    knows = {b.key: b for b in as_journal_knows(broker, unseen)}
    assert knows == {k1: BrokerPosition(k1, 9, 0), k2: BrokerPosition(k2, -5, 0)}
