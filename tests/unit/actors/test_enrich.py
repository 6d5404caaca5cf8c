"""``actors.enrich``: what the feed adds to a leader frame -- MPP market orders kept MARKET, bracket
values, super-order stops -- as tables of the pure rules, and the MPP memory on a real journal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from actors.enrich import (
    SnapshotEnricher,
    band_in,
    beyond_market,
    entry_modified,
    mpp_view,
    trailed,
)
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from dhan.order_feed import OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from store.records import LeaderOrderSnapshot
from tests.unit.store.factories import snapshot

BUY, SELL = TransactionType.BUY, TransactionType.SELL
MKT, LMT, SL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LOSS


def frame(
    order_type: OrderType = LMT,
    price: float = 100.5,
    *,
    side: TransactionType = BUY,
    ltp: float | None = None,
    order_id: str = "L1",
    seq: int | None = None,
) -> LeaderOrderSnapshot:
    """A leader snapshot as a socket frame shows it (``RefLtp`` the market price, if any)."""
    raw: dict[str, object] = {"OrderNo": order_id}
    if ltp is not None:
        raw["RefLtp"] = ltp
    return snapshot(
        order_id, order_type=order_type, price=price, transaction_type=side, raw=raw, seq=seq
    )


@pytest.mark.parametrize(
    ("first", "band", "snap", "expected"),
    [
        # not a LIMIT rendering of a MARKET order: nothing to decide
        (LMT, None, frame(LMT, 105.0, ltp=100.0), (LMT, 105.0, LMT, None)),
        (MKT, None, frame(MKT, 0.0), (MKT, 0.0, MKT, None)),
        (MKT, 105.0, frame(SL, 95.0), (SL, 95.0, MKT, 105.0)),
        # the first LIMIT beyond the market is the band: the followers see MARKET
        (MKT, None, frame(LMT, 105.0, ltp=100.0), (MKT, 0.0, MKT, 105.0)),
        (MKT, None, frame(LMT, 95.0, side=SELL, ltp=100.0), (MKT, 0.0, MKT, 95.0)),
        # no market price known (a REST row): taken as the band
        (MKT, None, frame(LMT, 105.0), (MKT, 0.0, MKT, 105.0)),
        # a first LIMIT on the market's side: the leader re-priced it
        (MKT, None, frame(LMT, 95.0, ltp=100.0), (LMT, 95.0, LMT, None)),
        (MKT, None, frame(LMT, 105.0, side=SELL, ltp=100.0), (LMT, 105.0, LMT, None)),
        # the band again (any market price): still the protected MARKET order
        (MKT, 105.0, frame(LMT, 105.0, ltp=110.0), (MKT, 0.0, MKT, 105.0)),
        # any other price, even beyond the market: the leader's re-price
        (MKT, 105.0, frame(LMT, 106.0, ltp=100.0), (LMT, 106.0, LMT, None)),
    ],
)
def test_a_limit_rendering_of_a_market_order_is_market_only_at_its_band(
    first: OrderType,
    band: float | None,
    snap: LeaderOrderSnapshot,
    expected: tuple[OrderType, float, OrderType, float | None],
) -> None:
    view, first_after, band_after = mpp_view(snap, first, band)
    assert (view.order_type, view.price, first_after, band_after) == expected
    assert view.leader_order_id == snap.leader_order_id and view.quantity == snap.quantity


@pytest.mark.parametrize(
    ("snap", "beyond"),
    [
        (frame(LMT, 105.0, ltp=100.0), True),
        (frame(LMT, 100.0, ltp=100.0), False),
        (frame(LMT, 95.0, ltp=100.0), False),
        (frame(LMT, 95.0, side=SELL, ltp=100.0), True),
        (frame(LMT, 105.0, side=SELL, ltp=100.0), False),
        (frame(LMT, 95.0), True),  # no market price: could be the band
        (frame(LMT, 95.0, ltp=0.0), True),
        (replace(frame(LMT, 95.0), raw={"refltp": 100.0}), False),  # keys in any case
        (replace(frame(LMT, 95.0), raw={"RefLtp": "100"}), True),  # not a number: unknown
    ],
)
def test_a_band_lies_beyond_the_market_or_where_the_market_is_unknown(
    snap: LeaderOrderSnapshot, beyond: bool
) -> None:
    assert beyond_market(snap) is beyond


@pytest.mark.parametrize(
    ("raw", "band"),
    [
        ({"OrderType": "LMT", "Price": 105.0}, 105.0),
        ({"orderType": "LIMIT", "price": 105}, 105.0),
        ({"OrderType": "MKT", "Price": 0.0}, None),  # the MARKET frame itself
        ({"OrderType": "LMT", "Price": 0.0}, None),
        ({"OrderType": "LMT", "Price": "105"}, None),
        ({}, None),  # a REST row keeps no frame
    ],
)
def test_the_band_of_a_journaled_market_order_is_its_frames_limit_price(
    raw: dict[str, object], band: float | None
) -> None:
    assert band_in(replace(frame(MKT, 0.0), raw=raw)) == band


def update(
    status: OrderStatus = OrderStatus.PENDING,
    *,
    leg: LegName | None = LegName.ENTRY_LEG,
    price: float = 100.0,
    trigger: float = 0.0,
    traded: int = 0,
) -> OrderUpdate:
    """A super order's frame (entry or leg) of 10 x 1333."""
    return OrderUpdate(
        order_no="S1",
        status=status,
        raw_status=str(status),
        quantity=10,
        traded_qty=traded,
        remaining_quantity=10 - traded,
        exchange_segment=ExchangeSegment.NSE_EQ,
        security_id="1333",
        product_type=ProductType.INTRADAY,
        transaction_type=BUY,
        order_type=LMT,
        price=price,
        trigger_price=trigger,
        leg_name=leg,
        is_super=True,
    )


def entry(
    side: TransactionType = BUY,
    *,
    status: OrderStatus = OrderStatus.PENDING,
    filled: int = 0,
    stop: float | None = 95.0,
    jump: float | None = 1.0,
) -> LeaderOrderSnapshot:
    """A journaled super entry: target 110, stop ``stop``, trailing jump ``jump``."""
    return snapshot(
        "S1",
        status=status,
        filled_qty=filled,
        transaction_type=side,
        target_price=110.0,
        stop_loss_price=stop,
        trailing_jump=jump,
        is_super=True,
    )


@pytest.mark.parametrize(
    ("journaled", "frame_", "modified"),
    [
        (entry(), update(), True),  # open, same status and fill: a modify (or a duplicate)
        (entry(), update(OrderStatus.TRADED, traded=10), False),
        (entry(), update(OrderStatus.PART_TRADED, traded=4), False),
        (entry(status=OrderStatus.TRANSIT), update(), False),
        (entry(status=OrderStatus.PART_TRADED, filled=4), update(traded=4), False),
        (entry(status=OrderStatus.CANCELLED), update(OrderStatus.CANCELLED), False),
    ],
)
def test_a_super_entry_frame_is_a_modify_when_neither_status_nor_fill_moved(
    journaled: LeaderOrderSnapshot, frame_: OrderUpdate, modified: bool
) -> None:
    assert entry_modified(journaled, frame_) is modified


SL_LEG = LegName.STOP_LOSS_LEG


@pytest.mark.parametrize(
    ("journaled", "frame_", "by_broker"),
    [
        (entry(), update(leg=SL_LEG, trigger=97.0), True),  # two whole jumps up, for a buy
        (entry(), update(leg=SL_LEG, price=96.0), True),  # no trigger: the price is the stop
        (entry(), update(leg=SL_LEG, trigger=96.5), False),  # not a whole jump
        (entry(), update(leg=SL_LEG, trigger=93.0), False),  # against the position
        (entry(), update(leg=SL_LEG, trigger=95.0), False),  # unchanged: the legs' first frames
        (entry(SELL, stop=105.0), update(leg=SL_LEG, trigger=103.0), True),
        (entry(SELL, stop=105.0), update(leg=SL_LEG, trigger=107.0), False),
        (entry(jump=None), update(leg=SL_LEG, trigger=97.0), False),  # no trailing
        (entry(jump=0.0), update(leg=SL_LEG, trigger=97.0), False),
        (entry(stop=None), update(leg=SL_LEG, trigger=97.0), False),
        (entry(), update(OrderStatus.TRADED, leg=SL_LEG, trigger=93.0), True),  # finished
        (entry(), update(OrderStatus.CANCELLED, leg=SL_LEG, trigger=50.0), True),
    ],
)
def test_a_stop_moved_by_whole_jumps_in_the_positions_favour_was_trailed_by_the_broker(
    journaled: LeaderOrderSnapshot, frame_: OrderUpdate, by_broker: bool
) -> None:
    assert trailed(journaled, frame_) is by_broker


# -- the enricher's memory of first types and bands, on a real journal ----------------------


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


@pytest.fixture
def enricher(journal: Journal) -> SnapshotEnricher:
    # these cases read nothing over REST: a client on a closed port would fail them if they did
    client = DhanClient(base_url="http://127.0.0.1:9/v2", client_id="leader", access_token="x")
    return SnapshotEnricher(journal, client)


def kinds(enricher: SnapshotEnricher, *frames: LeaderOrderSnapshot) -> list[tuple[str, float]]:
    out = []
    for f in frames:
        view = enricher.keep_market(f)
        out.append((str(view.order_type), view.price))
    return out


def test_a_protected_market_order_stays_market_until_the_leader_reprices_it(
    enricher: SnapshotEnricher,
) -> None:
    assert kinds(
        enricher,
        frame(MKT, 0.0, ltp=100.0),
        frame(LMT, 105.0, ltp=100.0),  # the band
        frame(LMT, 105.0, ltp=101.0),  # the band again (a partial fill)
        frame(LMT, 104.0, ltp=101.0),  # the leader's re-price
        frame(LMT, 105.0, ltp=100.0),  # now a LIMIT order: the old band is a price like any
    ) == [("MARKET", 0.0), ("MARKET", 0.0), ("MARKET", 0.0), ("LIMIT", 104.0), ("LIMIT", 105.0)]


def test_a_market_order_modified_back_to_market_gets_a_new_band(
    enricher: SnapshotEnricher,
) -> None:
    assert kinds(
        enricher,
        frame(MKT, 0.0),
        frame(LMT, 105.0, ltp=100.0),
        frame(LMT, 103.0, ltp=100.0),  # re-priced
        frame(MKT, 0.0),  # and made MARKET again
        frame(LMT, 108.0, ltp=102.0),  # its new band
    ) == [("MARKET", 0.0), ("MARKET", 0.0), ("LIMIT", 103.0), ("MARKET", 0.0), ("MARKET", 0.0)]


def test_after_a_restart_the_band_comes_from_the_journaled_market_frame(
    journal: Journal, enricher: SnapshotEnricher
) -> None:
    market = frame(MKT, 0.0, seq=1)
    journal.record_leader_snapshot(replace(market, raw={"OrderType": "LMT", "Price": 105.0}), [])
    assert kinds(enricher, frame(LMT, 105.0, ltp=110.0), frame(LMT, 106.0, ltp=100.0)) == [
        ("MARKET", 0.0),  # the journal's band, though the market has passed it
        ("LIMIT", 106.0),
    ]


def test_a_limit_order_the_journal_knows_as_limit_is_mirrored_as_it_is(
    journal: Journal, enricher: SnapshotEnricher
) -> None:
    journal.record_leader_snapshot(frame(LMT, 99.0, seq=1), [])
    assert kinds(enricher, frame(LMT, 105.0, ltp=100.0)) == [("LIMIT", 105.0)]
    assert enricher.first_type == {"L1": LMT}


def test_a_periodic_reconcile_learns_no_first_type_the_journal_never_saw(
    enricher: SnapshotEnricher,
) -> None:
    row = frame(LMT, 105.0)
    assert enricher.keep_market(row, learn=False) is row
    assert enricher.first_type == {}  # the socket's MARKET frame may still be on its way
    assert kinds(enricher, frame(MKT, 0.0), frame(LMT, 105.0)) == [
        ("MARKET", 0.0),
        ("MARKET", 0.0),
    ]


def test_a_new_orders_first_frame_is_its_first_type_without_a_journal_read(
    journal: Journal, enricher: SnapshotEnricher
) -> None:
    # the journal says MARKET, but a TRANSIT frame after the reconcile is the order's first
    journal.record_leader_snapshot(frame(MKT, 0.0, seq=1), [])
    view = enricher.keep_market(frame(LMT, 105.0, ltp=100.0), new=True)
    assert (view.order_type, enricher.first_type) == (LMT, {"L1": LMT})


def test_bracket_values_missing_from_a_frame_come_from_the_journal(
    journal: Journal, enricher: SnapshotEnricher
) -> None:
    journaled = snapshot(
        "B1",
        product_type=ProductType.BO,
        bo_profit_value=10.0,
        bo_stop_loss_value=5.0,
        trigger_price=99.0,
        seq=1,
    )
    journal.record_leader_snapshot(journaled, [])
    bare = snapshot("B1", product_type=ProductType.BO, trigger_price=0.0, seq=2)
    done = enricher.with_bracket_values(bare)
    assert (done.bo_profit_value, done.bo_stop_loss_value, done.trigger_price) == (
        10.0,
        5.0,
        99.0,
    )
    own = enricher.with_bracket_values(replace(bare, trigger_price=98.0))
    assert own.trigger_price == 98.0  # the frame's own trigger wins
