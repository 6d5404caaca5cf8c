"""``actors.late_entries``: which late entries are stale; the LIMIT a far MARKET entry becomes."""

from __future__ import annotations

from datetime import datetime

import pytest

from actors.late_entries import (
    IST,
    STALE_PREFIX,
    bounded_entry,
    bounded_price,
    late_intents,
    stale_entry_skip,
    tick_size,
    traded_at_s,
)
from actors.sizing import ExitBasis
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from store.records import DesiredIntent, LeaderOrderSnapshot
from tests.unit.store.factories import desired, snapshot

#: 2026-03-02 10:00:00 IST as a POSIX time: "now" in these tables
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=IST).timestamp()
ENTRY = ExitBasis(0, {})
EXIT = ExitBasis(5, {"f1": 5})
FLIP = ExitBasis(2, {"f1": 2})  # a SELL 10 against the leader's 2 long: closes 2, opens 8


def traded(at: str = "2026-03-02 09:50:00", **fields: object) -> LeaderOrderSnapshot:
    """A MARKET BUY of 10 that filled at 100.0 at ``at`` (IST), as a REST row shows it."""
    base = {
        "status": OrderStatus.TRADED,
        "order_type": OrderType.MARKET,
        "price": 0.0,
        "filled_qty": 10,
        "avg_price": 100.0,
        "updated_at": at,
    }
    return snapshot(**{**base, **fields})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02 09:50:00", NOW - 600),
        ("2026-03-02 09:50:00.123", NOW - 600),  # fraction ignored
        ("", None),
        ("0001-01-01 00:00:00", None),  # Dhan's empty date
        ("10:15:02", None),
        ("2026-13-02 09:50:00", None),
    ],
)
def test_traded_at_reads_the_brokers_ist_update_time(text: str, expected: float | None) -> None:
    assert traded_at_s(snapshot(updated_at=text)) == expected


@pytest.mark.parametrize(
    ("snap", "basis", "max_age_s", "stale"),
    [
        # a traded entry older than the limit is stale; one within it (or at it) is not
        (traded(), ENTRY, 60.0, True),
        (traded(), None, 60.0, True),  # no basis (BO / CO / super): an entry
        (traded(), ENTRY, 600.0, False),
        (traded(), ENTRY, 601.0, False),
        (traded(at="2026-03-02 09:59:30"), ENTRY, 60.0, False),
        # the key off: nothing is stale
        (traded(), ENTRY, None, False),
        # an exit, and a flip (its close must go), are always copied
        (traded(), EXIT, 60.0, False),
        (traded(), FLIP, 60.0, False),
        # resting orders are mirrored as now, even partly filled
        (traded(status=OrderStatus.PENDING, filled_qty=0, avg_price=0.0), ENTRY, 60.0, False),
        (traded(status=OrderStatus.PART_TRADED, filled_qty=4), ENTRY, 60.0, False),
        # an order that ended after a partial fill is judged by its trade time
        (traded(status=OrderStatus.CANCELLED, filled_qty=4), ENTRY, 60.0, True),
        # an order that ended without a fill has nothing to copy: no stale reason needed
        (traded(status=OrderStatus.CANCELLED, filled_qty=0, avg_price=0.0), ENTRY, 60.0, False),
        # a fill whose time the broker did not give cannot be shown fresh
        (traded(at=""), ENTRY, 60.0, True),
        (traded(at="0001-01-01 00:00:00"), ENTRY, 60.0, True),
    ],
)
def test_stale_entries(
    snap: LeaderOrderSnapshot, basis: ExitBasis | None, max_age_s: float | None, stale: bool
) -> None:
    reason = stale_entry_skip(snap, basis, max_age_s, NOW)
    assert (reason is not None) is stale, reason
    if reason is not None:
        assert reason.startswith(STALE_PREFIX)
        assert "engine.max_entry_age_s" in reason


def test_the_stale_reason_says_how_old_the_trade_is() -> None:
    assert stale_entry_skip(traded(), ENTRY, 60.0, NOW) == (
        "stale: traded 600 s ago (engine.max_entry_age_s 60)"
    )


@pytest.mark.parametrize(
    ("side", "leader_price", "pct", "tick", "expected"),
    [
        (TransactionType.BUY, 100.0, 1.0, 0.05, 101.0),
        (TransactionType.SELL, 100.0, 1.0, 0.05, 99.0),
        # rounded to the tick towards the leader's price: never beyond the deviation
        (TransactionType.BUY, 1234.56, 1.0, 0.05, 1246.9),  # 1246.9056
        (TransactionType.SELL, 1234.56, 1.0, 0.05, 1222.25),  # 1222.2144
        (TransactionType.BUY, 73210.0, 0.5, 1.0, 73576.0),  # 73576.05
        (TransactionType.SELL, 73210.0, 0.5, 1.0, 72844.0),  # 72843.95
        (TransactionType.BUY, 0.3, 1.0, 0.05, 0.3),  # 0.303
        # never below one tick
        (TransactionType.SELL, 0.05, 50.0, 0.05, 0.05),
    ],
)
def test_bounded_price(
    side: TransactionType, leader_price: float, pct: float, tick: float, expected: float
) -> None:
    assert bounded_price(side, leader_price, pct, tick) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("snap", "tick"),
    [
        (snapshot(), 0.05),
        (snapshot(raw={"TickSize": 0.01}), 0.01),
        (snapshot(raw={"tickSize": "0.10"}), 0.1),
        (snapshot(raw={"TickSize": 0}), 0.05),  # not a tick
        (snapshot(raw={"TickSize": True}), 0.05),
        (snapshot(exchange_segment=ExchangeSegment.MCX_COMM), 1.0),
        (snapshot(exchange_segment=ExchangeSegment.NSE_FNO), 0.05),
    ],
)
def test_tick_size(snap: LeaderOrderSnapshot, tick: float) -> None:
    assert tick_size(snap) == pytest.approx(tick)


MARKET_COPY = desired(order_type=OrderType.MARKET, price=0.0, quantity=10)


@pytest.mark.parametrize(
    ("snap", "basis", "pct", "intent", "as_limit_at"),
    [
        # a filled MARKET entry: a LIMIT the deviation worse than the leader's fill
        (traded(), ENTRY, 1.0, MARKET_COPY, 101.0),
        (traded(transaction_type=TransactionType.SELL), ENTRY, 1.0, MARKET_COPY, 99.0),
        (traded(status=OrderStatus.CANCELLED, filled_qty=3), ENTRY, 2.5, MARKET_COPY, 102.5),
        # a filled LIMIT beyond the bound (an MPP band as the book shows it) is brought to it
        (traded(order_type=OrderType.LIMIT, price=103.0), ENTRY, 1.0, desired(price=103.0), 101.0),
        (traded(order_type=OrderType.LIMIT, price=97.0, transaction_type=TransactionType.SELL),
         ENTRY, 1.0, desired(price=97.0), 99.0),
        # left as it is
        (traded(), ENTRY, None, MARKET_COPY, None),  # the key off
        (traded(), EXIT, 1.0, MARKET_COPY, None),  # an exit
        (traded(), FLIP, 1.0, MARKET_COPY, None),  # a flip (its close)
        (
            traded(avg_price=0.0, filled_qty=0, status=OrderStatus.PENDING),
            ENTRY,
            1.0,
            MARKET_COPY,
            None,
        ),
        (traded(order_type=OrderType.LIMIT, price=100.0), ENTRY, 1.0, desired(price=100.0), None),
        (traded(order_type=OrderType.LIMIT, price=101.0), ENTRY, 1.0, desired(price=101.0), None),
        (traded(order_type=OrderType.LIMIT, price=99.0, transaction_type=TransactionType.SELL),
         ENTRY, 1.0, desired(price=99.0), None),
        # a resting order is mirrored as now, even partly filled
        (traded(status=OrderStatus.PART_TRADED, filled_qty=3), ENTRY, 1.0, MARKET_COPY, None),
        (traded(order_type=OrderType.LIMIT, price=103.0, status=OrderStatus.PART_TRADED,
                filled_qty=3), ENTRY, 1.0, desired(price=103.0), None),
        # stop-loss types are left to their trigger
        (traded(order_type=OrderType.STOP_LOSS_MARKET), ENTRY, 1.0,
         desired(order_type=OrderType.STOP_LOSS_MARKET, price=0.0), None),
        (traded(product_type=ProductType.BO), None, 1.0, MARKET_COPY, None),
        (traded(product_type=ProductType.CO), None, 1.0, MARKET_COPY, None),
        (traded(is_super=True), None, 1.0, MARKET_COPY, None),
        (
            traded(),
            ENTRY,
            1.0,
            desired(order_type=OrderType.MARKET, skip_reason="filtered: x"),
            None,
        ),
        (traded(), ENTRY, 1.0, desired(order_type=OrderType.MARKET, desired_open=False), None),
    ],
)  # fmt: skip
def test_bounded_entry(
    snap: LeaderOrderSnapshot,
    basis: ExitBasis | None,
    pct: float | None,
    intent: DesiredIntent,
    as_limit_at: float | None,
) -> None:
    out = bounded_entry(intent, snap, basis, pct)
    if as_limit_at is None:
        assert out == intent
        return
    assert out.order_type is OrderType.LIMIT
    assert out.price == pytest.approx(as_limit_at)
    assert (out.quantity, out.correlation_id, out.desired_open) == (
        intent.quantity,
        intent.correlation_id,
        True,
    )


WAITING = desired(order_type=OrderType.MARKET, price=0.0, skip_reason="waiting: lot size unknown")


@pytest.mark.parametrize(
    ("snap", "basis", "age", "pct", "expected"),
    [
        # stale: every copy skipped for age, a transient reason included (never sized again)
        (traded(), ENTRY, 60.0, 1.0, [("stale", False, OrderType.MARKET, 0.0)] * 2),
        # fresh: the deviation bounds the placeable copy, the waiting one keeps its reason
        (traded(at="2026-03-02 09:59:30"), ENTRY, 60.0, 1.0,
         [(None, True, OrderType.LIMIT, 101.0), ("waiting", True, OrderType.MARKET, 0.0)]),
        # an exit: neither rule
        (traded(), EXIT, 60.0, 1.0,
         [(None, True, OrderType.MARKET, 0.0), ("waiting", True, OrderType.MARKET, 0.0)]),
        # both keys off: as the policy left them
        (traded(), ENTRY, None, None,
         [(None, True, OrderType.MARKET, 0.0), ("waiting", True, OrderType.MARKET, 0.0)]),
    ],
)  # fmt: skip
def test_late_intents(
    snap: LeaderOrderSnapshot,
    basis: ExitBasis,
    age: float | None,
    pct: float | None,
    expected: list[tuple[str | None, bool, OrderType, float]],
) -> None:
    out, stale = late_intents(
        snap, [MARKET_COPY, WAITING], basis, max_age_s=age, deviation_pct=pct, now_s=NOW
    )

    assert (stale is not None) is (expected[0][0] == "stale")
    got = [
        (
            i.skip_reason.split(":")[0] if i.skip_reason else None,
            i.desired_open,
            i.order_type,
            i.price,
        )
        for i in out
    ]
    assert got == expected
