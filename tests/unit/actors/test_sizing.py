"""Sizing, caps and filters: leader order -> each follower's desired order (pure functions)."""

from __future__ import annotations

from dataclasses import replace

from actors.sizing import SizingContext, desired_intent, desired_intents
from copytrader.config import (
    CapsConfig,
    FiltersConfig,
    FollowerConfig,
    Secret,
    SizingConfig,
    SizingMode,
)
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store.records import LeaderOrderSnapshot, SnapshotSource, is_transient_skip

NO_FACTS = SizingContext(lot_sizes={}, balances={})


def snap(
    qty: int = 10,
    *,
    segment: ExchangeSegment = ExchangeSegment.NSE_EQ,
    security: str = "1333",
    status: OrderStatus = OrderStatus.PENDING,
    filled: int = 0,
    price: float = 1500.0,
    product: ProductType = ProductType.INTRADAY,
    **kw: object,
) -> LeaderOrderSnapshot:
    return LeaderOrderSnapshot(
        leader_order_id="L1",
        dedupe_key="k",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=segment,
        product_type=product,
        order_type=OrderType.LIMIT,
        security_id=security,
        quantity=qty,
        filled_qty=filled,
        price=price,
        seq=1,
        **kw,  # type: ignore[arg-type]
    )


def follower(sizing: SizingConfig, **kw: object) -> FollowerConfig:
    return FollowerConfig(name="f", client_id="2", access_token=Secret("t"), sizing=sizing, **kw)  # type: ignore[arg-type]


MULT = SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.5)


def test_a_multiplier_scales_and_rounds_down_to_the_lot() -> None:
    ctx = SizingContext(lot_sizes={("NSE_FNO", "35001"): 75}, balances={})
    d = desired_intent(
        snap(150, segment=ExchangeSegment.NSE_FNO, security="35001"), follower(MULT), ctx
    )
    assert d.quantity == 225 and d.skip_reason is None and d.desired_open
    d = desired_intent(
        snap(75, segment=ExchangeSegment.NSE_FNO, security="35001"), follower(MULT), ctx
    )
    assert d.quantity == 75  # 112.5 -> one lot


def test_below_one_lot_is_skipped_with_the_reason() -> None:
    half = follower(SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=0.5))
    d = desired_intent(snap(1), half, NO_FACTS)
    assert d.quantity == 0 and not d.desired_open
    assert d.skip_reason is not None and "below one lot" in d.skip_reason


def test_an_unknown_lot_size_outside_cash_equity_is_never_guessed() -> None:
    d = desired_intent(
        snap(50, segment=ExchangeSegment.NSE_FNO, security="99"), follower(MULT), NO_FACTS
    )
    assert d.skip_reason is not None and "lot size unknown" in d.skip_reason


def test_fixed_sizing_ignores_the_leader_quantity() -> None:
    fixed = follower(SizingConfig(mode=SizingMode.FIXED, quantity=7))
    assert desired_intent(snap(1000), fixed, NO_FACTS).quantity == 7


def test_capital_sizing_follows_the_balance_ratio_and_refuses_without_balances() -> None:
    cap = follower(SizingConfig(mode=SizingMode.CAPITAL, capital_multiplier=1.0))
    ctx = SizingContext(lot_sizes={}, balances={"leader": 1_000_000.0, "f": 250_000.0})
    assert desired_intent(snap(40), cap, ctx).quantity == 10
    d = desired_intent(snap(40), cap, NO_FACTS)
    assert d.skip_reason is not None and "balance unknown" in d.skip_reason


def test_caps_bound_quantity_and_order_value() -> None:
    capped = follower(MULT, caps=CapsConfig(max_order_quantity=12, max_order_value_inr=15_000))
    d = desired_intent(snap(100, price=1500.0), capped, NO_FACTS)
    assert d.quantity == 10  # value cap: 15,000 / 1,500


def test_filters_skip_other_segments_products_and_securities() -> None:
    only_cnc = follower(MULT, filters=FiltersConfig(products=frozenset({ProductType.CNC})))
    d = desired_intent(snap(10), only_cnc, NO_FACTS)
    assert d.skip_reason == "filtered: product INTRADAY"


def test_a_leader_order_cancelled_after_a_partial_fill_is_mirrored_proportionally() -> None:
    d = desired_intent(snap(10, status=OrderStatus.CANCELLED, filled=4), follower(MULT), NO_FACTS)
    assert d.quantity == 6 and d.desired_open


def test_a_leader_order_cancelled_unfilled_wants_no_copy_but_is_no_skip() -> None:
    d = desired_intent(snap(10, status=OrderStatus.CANCELLED), follower(MULT), NO_FACTS)
    assert not d.desired_open and d.skip_reason is None


def test_every_follower_gets_its_own_deterministic_correlation_id() -> None:
    out = desired_intents(snap(10), [follower(MULT)], NO_FACTS)
    assert [d.correlation_id for d in out] == [correlation_id_for("f", "L1")]


def test_exit_legs_of_a_bracket_are_never_placed_by_the_engine() -> None:
    leg = snap(10, leg_name="TARGET_LEG", parent_order_id="L0")
    assert desired_intents(leg, [follower(MULT)], NO_FACTS) == []


def market(qty: int, raw: dict[str, object]) -> LeaderOrderSnapshot:
    """A leader MARKET order as the feed journals it (price 0), with its frame's fields."""
    return replace(snap(qty, price=0.0), order_type=OrderType.MARKET, raw=raw)


VALUE_CAPPED = follower(MULT, caps=CapsConfig(max_order_value_inr=5_000))


def test_the_value_cap_bounds_a_market_order_at_the_reference_price_of_its_frame() -> None:
    d = desired_intent(market(20, {"RefLtp": 1300.0, "Price": 0.0}), VALUE_CAPPED, NO_FACTS)
    assert d.quantity == 3 and d.desired_open  # 5,000 / 1,300
    assert d.order_type is OrderType.MARKET and d.price == 0.0


def test_the_value_cap_of_a_protected_market_order_uses_its_band_price() -> None:
    # market price protection: the frame shows a LIMIT at the band, the feed keeps MARKET / 0
    d = desired_intent(market(20, {"Price": 1365.0, "RefLtp": 1300.0}), VALUE_CAPPED, NO_FACTS)
    assert d.quantity == 3 and d.price == 0.0  # 5,000 / 1,365


def test_a_market_order_with_no_price_known_is_never_sent_uncapped_but_waits() -> None:
    d = desired_intent(market(20, {}), VALUE_CAPPED, NO_FACTS)
    assert d.quantity == 0 and not d.desired_open
    assert is_transient_skip(d.skip_reason)
    # without a value cap no price is needed
    assert desired_intent(market(20, {}), follower(MULT), NO_FACTS).quantity == 30


def test_a_filled_market_order_is_valued_at_its_average_price() -> None:
    filled = replace(market(20, {}), avg_price=800.0, status=OrderStatus.TRADED, filled_qty=20)
    assert desired_intent(filled, VALUE_CAPPED, NO_FACTS).quantity == 6


def test_a_market_order_is_copied_once_accepted_unless_the_follower_copies_on_transit() -> None:
    transit = replace(market(10, {"RefLtp": 100.0}), status=OrderStatus.TRANSIT)
    waits = follower(MULT)  # the default: copy_market_after_accept
    eager = replace(follower(MULT), name="g", copy_market_after_accept=False)
    assert [d.follower for d in desired_intents(transit, [waits, eager], NO_FACTS)] == ["g"]
    for accepted in (OrderStatus.PENDING, OrderStatus.TRADED, OrderStatus.REJECTED):
        later = replace(transit, status=accepted)
        assert [d.follower for d in desired_intents(later, [waits, eager], NO_FACTS)] == ["f", "g"]
    # a resting order type is copied on TRANSIT: if the leader's is rejected, the copy is cancelled
    limit = replace(snap(10), status=OrderStatus.TRANSIT)
    assert [d.follower for d in desired_intents(limit, [waits], NO_FACTS)] == ["f"]
    rejected = desired_intent(replace(limit, status=OrderStatus.REJECTED), waits, NO_FACTS)
    assert not rejected.desired_open and rejected.skip_reason is None


def test_a_bracket_copy_waits_for_the_values_it_cannot_be_placed_without() -> None:
    one = SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.0)
    cases = [
        # (product, extra snapshot fields, waits)
        (ProductType.BO, {}, True),
        (ProductType.BO, {"bo_profit_value": 20.0}, True),
        (ProductType.BO, {"bo_profit_value": 20.0, "bo_stop_loss_value": 10.0}, False),
        (ProductType.CO, {"trigger_price": 0.0}, True),
        (ProductType.CO, {"trigger_price": 1490.0}, False),
        (ProductType.CO, {"bo_stop_loss_value": 10.0}, False),
        (ProductType.INTRADAY, {}, False),
    ]
    for product, extra, waits in cases:
        want = desired_intent(snap(product=product, **extra), follower(one), NO_FACTS)
        assert want.desired_open is not waits, (product, extra)
        assert is_transient_skip(want.skip_reason) is waits, (product, extra)
    # a dead leader bracket with nothing filled still closes its copies: nothing to wait for
    dead = desired_intent(
        snap(product=ProductType.BO, status=OrderStatus.CANCELLED), follower(one), NO_FACTS
    )
    assert (dead.desired_open, dead.skip_reason) == (False, None)
