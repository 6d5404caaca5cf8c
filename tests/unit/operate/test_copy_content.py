"""``copytrader.copy_content.judge_copy``: a copy's content against the leader's order, scaled.

One table: each row a leader order, a follower's copy (or none), the follower's sizing, and the
verdict with the words that must appear in it. The same function judges ``reconcile`` and the
chaos checker.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.sizing import SizingContext, desired_intent
from copytrader.checker import filled_before_change, is_filled_refusal
from copytrader.config import (
    CapsConfig,
    FiltersConfig,
    FollowerConfig,
    Secret,
    SizingConfig,
    SizingMode,
)
from copytrader.copy_content import (
    LegContent,
    OrderContent,
    Verdict,
    admin_contents,
    exit_basis,
    is_sizing_reason,
    judge_copy,
)
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from store.states import IntentState
from tests.unit.actors.copies import intent as copy_intent

S = OrderStatus
T = LegName.TARGET_LEG
SL = LegName.STOP_LOSS_LEG
EQ = SizingContext(lot_sizes={}, balances={})


def follower(
    mode: SizingMode = SizingMode.MULTIPLIER,
    *,
    multiplier: float = 1.0,
    quantity: int = 0,
    caps: CapsConfig | None = None,
    filters: FiltersConfig | None = None,
) -> FollowerConfig:
    return FollowerConfig(
        name="ana",
        client_id="1600000001",
        access_token=Secret("tok-ana"),
        sizing=SizingConfig(mode=mode, multiplier=multiplier, quantity=quantity),
        caps=caps or CapsConfig(),
        filters=filters or FiltersConfig(),
    )


def limit(status: OrderStatus = S.PENDING, **kw: object) -> OrderContent:
    base = OrderContent(
        order_id="L1",
        status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        price=1500.0,
        validity=Validity.DAY,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def super_order(status: OrderStatus = S.PENDING, **kw: object) -> OrderContent:
    legs = (
        LegContent(T, S.PENDING, 3520.0),
        LegContent(SL, S.PENDING, 3490.0, trailing_jump=0.0),
    )
    return limit(status, security_id="11536", price=3500.0, is_super=True, legs=legs, **kw)


def bo(status: OrderStatus = S.TRADED, **kw: object) -> OrderContent:
    legs = (LegContent(T, S.PENDING, 3520.0, 10), LegContent(SL, S.PENDING, 3490.0, 10))
    order = limit(
        status,
        security_id="11536",
        price=3500.0,
        product_type=ProductType.BO,
        bo_profit_value=20.0,
        bo_stop_loss_value=10.0,
        filled_qty=10 if status is S.TRADED else 0,
        legs=legs,
    )
    return replace(order, **kw)  # type: ignore[arg-type]


def leg_moved(order: OrderContent, leg: LegName, **kw: object) -> OrderContent:
    legs = tuple(replace(x, **kw) if x.leg is leg else x for x in order.legs)  # type: ignore[arg-type]
    return replace(order, legs=legs)


HALF = follower(multiplier=0.5)
DOUBLE = follower(multiplier=2.0)
FIXED_3 = follower(SizingMode.FIXED, quantity=3)

#: (id, leader, copy, follower, recorded reason, verdict, words in the reasons)
CASES = [
    ("same open limit", limit(), limit(), follower(), None, Verdict.OK, ""),
    (
        "protected market copied as the LIMIT at the band its broker shows",
        limit(order_type=OrderType.MARKET, price=0.0, protection_price=1512.5),
        limit(price=1512.5),
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "protected market copied as a LIMIT at another price",
        limit(order_type=OrderType.MARKET, price=0.0, protection_price=1512.5),
        limit(price=1500.0),
        follower(),
        None,
        Verdict.WRONG,
        "order type LIMIT != MARKET",
    ),
    (
        "unprotected market copied as a LIMIT",
        limit(order_type=OrderType.MARKET, price=0.0),
        limit(price=1500.0),
        follower(),
        None,
        Verdict.WRONG,
        "order type LIMIT != MARKET",
    ),
    ("scaled x2", limit(), limit(quantity=20), DOUBLE, None, Verdict.OK, ""),
    ("fixed size", limit(), limit(quantity=3), FIXED_3, None, Verdict.OK, ""),
    (
        "quantity not scaled",
        limit(),
        limit(quantity=10),
        DOUBLE,
        None,
        Verdict.WRONG,
        "quantity 10 != 20",
    ),
    (
        "price not moved",
        limit(price=1510.0),
        limit(),
        follower(),
        None,
        Verdict.WRONG,
        "price 1500 != the leader's 1510",
    ),
    (
        "trigger not moved",
        limit(order_type=OrderType.STOP_LOSS_MARKET, price=0.0, trigger_price=1480.0),
        limit(order_type=OrderType.STOP_LOSS_MARKET, price=0.0, trigger_price=1470.0),
        follower(),
        None,
        Verdict.WRONG,
        "trigger 1470 != the leader's 1480",
    ),
    (
        "order type not changed",
        limit(order_type=OrderType.STOP_LOSS, trigger_price=1490.0),
        limit(),
        follower(),
        None,
        Verdict.WRONG,
        "order type LIMIT != STOP_LOSS",
    ),
    (
        "validity not changed",
        limit(validity=Validity.IOC),
        limit(),
        follower(),
        None,
        Verdict.WRONG,
        "validity DAY != IOC",
    ),
    (
        "an after-market order copied as a regular one",
        limit(after_market=True),
        limit(),
        follower(),
        None,
        Verdict.WRONG,
        "after-market (AMO) False != the leader's True",
    ),
    (
        "a market order's price is not compared",
        limit(order_type=OrderType.MARKET, price=0.0, status=S.TRADED, filled_qty=10),
        limit(order_type=OrderType.MARKET, price=1601.0, status=S.TRADED, filled_qty=10),
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "copy cancelled while the leader order is open (a restart, by hand)",
        limit(),
        limit(status=S.CANCELLED),
        follower(),
        None,
        Verdict.WRONG,
        "copy CANCELLED while the leader order is PENDING",
    ),
    (
        "copy still open beside a cancelled leader order",
        limit(status=S.CANCELLED),
        limit(),
        follower(),
        None,
        Verdict.WRONG,
        "copy still PENDING while the leader order is CANCELLED",
    ),
    (
        "no copy of a cancelled unfilled leader order",
        limit(status=S.CANCELLED),
        None,
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "copy filled less than the leader's, scaled",
        limit(status=S.TRADED, filled_qty=10),
        limit(status=S.TRADED, quantity=10, filled_qty=10),
        DOUBLE,
        None,
        Verdict.WRONG,
        "filled 10 != 20",
    ),
    (
        "copy filled beyond a leader order cut below it: rest still open",
        limit(quantity=4),
        limit(status=S.PART_TRADED, quantity=10, filled_qty=6),
        follower(),
        None,
        Verdict.WRONG,
        "quantity 10 != 4",
    ),
    (
        "leader cancelled after a partial fill: the copy keeps the scaled fill",
        limit(status=S.CANCELLED, filled_qty=4),
        limit(status=S.CANCELLED, quantity=20, filled_qty=8),
        DOUBLE,
        None,
        Verdict.OK,
        "",
    ),
    (
        "below one lot, still: by design",
        limit(quantity=1),
        None,
        HALF,
        "sized below one lot (0.5 < 1)",  # as a journal from before the prefixes has it
        Verdict.BY_DESIGN,
        "below one lot: sized 0.5 < 1",
    ),
    (
        "below one lot no longer holds once the leader raised the order",
        limit(quantity=6),
        None,
        HALF,
        "sized below one lot (0.5 < 1)",
        Verdict.WRONG,
        "the recorded reason no longer holds: sized below one lot",
    ),
    (
        "cut below one lot, then raised again: the cancelled copy is wrong",
        limit(quantity=8),
        limit(status=S.CANCELLED, quantity=2),
        HALF,
        None,
        Verdict.WRONG,
        "copy CANCELLED while the leader order is PENDING",
    ),
    (
        "filtered out: by design",
        limit(),
        None,
        follower(filters=FiltersConfig(security_ids=frozenset({"2885"}))),
        "filtered: security 1333",
        Verdict.BY_DESIGN,
        "filtered: security 1333",
    ),
    (
        "an open copy despite a filter",
        limit(),
        limit(),
        follower(filters=FiltersConfig(security_ids=frozenset({"2885"}))),
        None,
        Verdict.WRONG,
        "still open although filtered",
    ),
    (
        "capped quantity is the right quantity",
        limit(),
        limit(quantity=4),
        follower(caps=CapsConfig(max_order_quantity=4)),
        None,
        Verdict.OK,
        "",
    ),
    (
        "a finished order the policy did not replay: by design",
        limit(status=S.TRADED, filled_qty=10),
        None,
        follower(),
        "found only by reconcile (TRADED); policy copy_open",
        Verdict.BY_DESIGN,
        "policy copy_open",
    ),
    (
        "no copy of an open leader order, no reason",
        limit(),
        None,
        follower(),
        None,
        Verdict.WRONG,
        "no copy while the leader order is PENDING",
    ),
    (
        "capital follower whose balance was unknown: the reason no longer holds",
        limit(quantity=5),
        None,
        follower(SizingMode.CAPITAL),
        "capital sizing: balance unknown",
        Verdict.WRONG,
        "the recorded reason no longer holds",
    ),
    (
        "super order: same legs",
        super_order(),
        super_order(),
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "super order: target moved with the entry pending, not copied",
        leg_moved(super_order(), T, price=3530.0),
        super_order(),
        follower(),
        None,
        Verdict.WRONG,
        "target leg at 3520 != the leader's 3530",
    ),
    (
        "super order: trailing jump added, not copied",
        leg_moved(super_order(S.TRADED, filled_qty=10), SL, trailing_jump=5.0),
        super_order(S.TRADED, filled_qty=10),
        follower(),
        None,
        Verdict.WRONG,
        "stop-loss leg trailing jump 0 != the leader's 5",
    ),
    (
        "super order closed on both sides: the legs' levels no longer matter",
        leg_moved(super_order(S.CLOSED, filled_qty=10), T, status=S.TRADED, price=3530.0),
        leg_moved(super_order(S.CLOSED, filled_qty=10), T, status=S.TRADED),
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "super order: the copy's stop still open after the leader's was cancelled",
        leg_moved(super_order(S.TRADED, filled_qty=10), SL, status=S.CANCELLED),
        super_order(S.TRADED, filled_qty=10),
        follower(),
        None,
        Verdict.WRONG,
        "stop-loss leg PENDING while the leader's is CANCELLED",
    ),
    ("bracket order: same legs", bo(), bo(), follower(), None, Verdict.OK, ""),
    (
        "bracket order: the leader's two exits both filled (no OCO), the copy's once",
        leg_moved(leg_moved(bo(), T, status=S.TRADED), SL, status=S.TRADED),
        leg_moved(leg_moved(bo(), T, status=S.TRADED), SL, status=S.CANCELLED),
        follower(),
        None,
        Verdict.OK,
        "",
    ),
    (
        "bracket order: the copy's stop cancelled while its target still waits",
        bo(),
        leg_moved(bo(), SL, status=S.CANCELLED),
        follower(),
        None,
        Verdict.WRONG,
        "stop-loss leg CANCELLED while the leader's is PENDING",
    ),
    (
        "bracket order: stop moved by the leader, not on the copy",
        leg_moved(bo(), SL, price=3495.0),
        bo(),
        follower(),
        None,
        Verdict.WRONG,
        "stop-loss leg at 3490 != the leader's 3495",
    ),
    (
        "bracket order: the copy's entry filled without legs",
        bo(),
        replace(bo(), legs=()),
        follower(),
        None,
        Verdict.WRONG,
        "no target leg",
    ),
    (
        "bracket order: target value differs while the entries wait",
        bo(S.PENDING),
        bo(S.PENDING, bo_profit_value=25.0),
        follower(),
        None,
        Verdict.WRONG,
        "bracket target value 25 != the leader's 20",
    ),
]


@pytest.mark.parametrize(
    ("leader", "copy", "who", "recorded", "verdict", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_copy_is_judged_by_its_content_against_the_leaders_order_scaled(
    leader, copy, who, recorded, verdict, words
):
    ctx = SizingContext(lot_sizes={}, balances={"leader": 1e6, "ana": 1e6})
    judged = judge_copy(leader, copy, who, ctx, recorded)
    assert judged.verdict is verdict, judged
    assert words in judged.text(), judged


def test_an_unknown_lot_is_no_reason_to_cancel_and_leaves_the_quantity_unchecked():
    fno = limit(exchange_segment=ExchangeSegment.NSE_FNO, security_id="52175", quantity=130)
    cancelled = judge_copy(fno, replace(fno, status=S.CANCELLED), follower(), EQ)
    assert cancelled.verdict is Verdict.WRONG
    assert "copy CANCELLED while the leader order is PENDING" in cancelled.text()
    open_copy = judge_copy(fno, replace(fno, quantity=65), follower(), EQ)
    assert open_copy.verdict is Verdict.OK
    assert "quantity not checked: lot size unknown" in open_copy.text()
    known = SizingContext(lot_sizes={("NSE_FNO", "52175"): 65}, balances={})
    assert judge_copy(fno, replace(fno, quantity=65), follower(), known).verdict is Verdict.WRONG
    # an unknown lot does not undo a decision: a finished order the policy did not replay
    policy = "found only by reconcile (TRADED); policy copy_open"
    traded = replace(fno, status=S.TRADED, filled_qty=130)
    assert judge_copy(traded, None, follower(), EQ, policy).verdict is Verdict.BY_DESIGN


def test_a_capital_follower_is_sized_from_the_balances():
    carol = follower(SizingMode.CAPITAL)
    leader = limit(quantity=5)
    ctx = SizingContext(lot_sizes={}, balances={"leader": 2e6, "ana": 1e6})
    assert judge_copy(leader, replace(leader, quantity=2), carol, ctx).verdict is Verdict.OK
    unknown = judge_copy(leader, None, carol, EQ, "capital sizing: balance unknown")
    assert unknown.verdict is Verdict.WRONG  # a missing fact never excuses a missing copy


SKIPS = [
    (limit(), follower(filters=FiltersConfig(security_ids=frozenset({"9"})))),
    (limit(), follower(filters=FiltersConfig(products=frozenset({ProductType.CNC})))),
    (
        limit(),
        follower(filters=FiltersConfig(exchange_segments=frozenset({ExchangeSegment.BSE_EQ}))),
    ),
    (limit(quantity=1), HALF),
    (limit(), follower(caps=CapsConfig(max_order_value_inr=100.0))),
    (limit(exchange_segment=ExchangeSegment.NSE_FNO), follower()),
    (limit(), follower(SizingMode.CAPITAL)),
]


@pytest.mark.parametrize(("leader", "who"), SKIPS)
def test_every_reason_the_engines_sizing_gives_is_known_as_a_sizing_reason(leader, who):
    reason = desired_intent(leader.as_snapshot(), who, EQ).skip_reason
    assert reason is not None
    assert is_sizing_reason(reason), reason


def test_the_reconcile_policys_reason_is_not_a_sizing_reason():
    assert not is_sizing_reason("found only by reconcile (TRADED); policy copy_open")


def test_the_simulators_admin_view_is_read_with_legs_and_the_requested_order_type():
    entry = {
        "orderId": "9",
        "orderStatus": "TRADED",
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "BO",
        "orderType": "LIMIT",
        "requestedOrderType": "LIMIT",
        "validity": "DAY",
        "securityId": "11536",
        "quantity": 2,
        "filledQty": 2,
        "price": 3500.0,
        "boProfitValue": 20.0,
        "boStopLossValue": 10.0,
        "correlationId": None,
        "legName": None,
        "parentOrderId": None,
    }
    target = {**entry, "orderId": "10", "orderStatus": "PENDING", "legName": "TARGET_LEG"}
    target |= {"parentOrderId": "9", "price": 3520.0, "filledQty": 0}
    stop = {**target, "orderId": "11", "legName": "STOP_LOSS_LEG", "price": 0.0}
    stop |= {"orderType": "STOP_LOSS_MARKET", "requestedOrderType": "STOP_LOSS_MARKET"}
    stop["triggerPrice"] = 3490.0
    market = {**entry, "orderId": "12", "productType": "INTRADAY", "orderType": "LIMIT"}
    market |= {"requestedOrderType": "MARKET", "price": 1601.0}

    contents = admin_contents([entry, target, stop, market])

    assert sorted(contents) == ["12", "9"]
    bracket = contents["9"]
    assert [(leg.leg, leg.price, leg.quantity) for leg in bracket.legs] == [
        (T, 3520.0, 2),
        (SL, 3490.0, 2),
    ]
    assert contents["12"].order_type is OrderType.MARKET


def sell(status: OrderStatus = S.TRADED, quantity: int = 10, **kw: object) -> OrderContent:
    """A leader SELL at the market of ``quantity``, filled when TRADED."""
    filled = quantity if status is S.TRADED else 0
    return limit(
        status,
        transaction_type=TransactionType.SELL,
        order_type=OrderType.MARKET,
        price=0.0,
        quantity=quantity,
        filled_qty=filled,
        **kw,
    )


def basis(leader_open: int, ana: int | None) -> dict[str, int]:
    """``Journal.exit_bases`` of one leader order: the leader's open and ana's."""
    return {"leader": leader_open} | ({} if ana is None else {"ana": ana})


#: (id, leader, copy quantity (None: no copy), follower, recorded reason, basis, verdict, words)
EXIT_CASES = [
    # no basis: an entry, the leader's quantity scaled (unchanged)
    ("no basis: scaled", sell(), 20, DOUBLE, None, {}, Verdict.OK, ""),
    # a close of the leader's whole 10: all of the follower's 14, whatever its sizing says
    ("close all", sell(), 14, DOUBLE, None, basis(10, 14), Verdict.OK, ""),
    ("close sized as entry", sell(), 20, DOUBLE, None, basis(10, 14), Verdict.WRONG, "!= 14"),
    # a part: floor(3 * 4/10) = 1 of a fixed follower's 3
    ("fixed part", sell(quantity=4), 1, FIXED_3, None, basis(10, 3), Verdict.OK, ""),
    (
        "fixed part as fixed",
        sell(quantity=4),
        3,
        FIXED_3,
        None,
        basis(10, 3),
        Verdict.WRONG,
        "!= 1",
    ),
    # a flip: close all 10 (x1) + an entry of 5
    ("flip", sell(quantity=15), 15, follower(), None, basis(10, 10), Verdict.OK, ""),
    ("flip: entry only", sell(quantity=15), 5, follower(), None, basis(10, 0), Verdict.OK, ""),
    # nothing to close: no copy is right, one is wrong
    (
        "nothing to close, none sent",
        sell(),
        None,
        follower(),
        "exit: the follower holds no position to close",
        basis(10, 0),
        Verdict.BY_DESIGN,
        "no position",
    ),
    (
        "nothing to close, sold anyway",
        sell(),
        10,
        follower(),
        None,
        basis(10, 0),
        Verdict.WRONG,
        "no position to close",
    ),
    # a recorded exit reason the basis contradicts is judged again
    (
        "exit reason, but the follower held 4",
        sell(),
        None,
        follower(),
        "exit: the follower holds no position to close",
        basis(10, 4),
        Verdict.WRONG,
        "would be 4",
    ),
    # without the basis an exit's recorded reason holds (reconcile has none to judge by)
    (
        "exit reason, basis unknown",
        sell(),
        None,
        follower(),
        "exit: the follower holds no position to close",
        {},
        Verdict.BY_DESIGN,
        "no position",
    ),
    # a resting exit: its open quantity is the follower's part too
    ("open exit", sell(S.PENDING, 6), 3, HALF, None, basis(10, 5), Verdict.OK, ""),
    (
        "open exit scaled",
        sell(S.PENDING, 6),
        6,
        follower(),
        None,
        basis(10, 5),
        Verdict.WRONG,
        "!= 3",
    ),
]


@pytest.mark.parametrize(
    ("leader", "quantity", "who", "recorded", "bases", "verdict", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in EXIT_CASES],
)
def test_an_exit_copy_is_judged_against_its_basis(
    leader: OrderContent,
    quantity: int | None,
    who: FollowerConfig,
    recorded: str | None,
    bases: dict[str, int],
    verdict: Verdict,
    words: str,
) -> None:
    copy = None
    if quantity is not None:
        filled = quantity if leader.status is S.TRADED else 0
        copy = replace(leader, order_id="F1", quantity=quantity, filled_qty=filled)
    judged = judge_copy(leader, copy, who, EQ, recorded, exit_basis(bases))
    assert judged.verdict is verdict, judged.text()
    assert words in judged.text()


def filled(**kw: object) -> OrderContent:
    return limit(S.TRADED, **{"filled_qty": 10, **kw})


@pytest.mark.parametrize(
    ("leader", "copy", "filled_first", "verdict"),
    [
        # the copy traded at the leader's first price; the leader's modify came too late
        (filled(price=1505.0), filled(price=1500.0), True, Verdict.OK),
        (filled(price=1505.0), filled(price=1500.0), False, Verdict.WRONG),
        # a stop-limit: trigger and price both from before the modify
        (
            filled(order_type=OrderType.STOP_LOSS, price=1506.0, trigger_price=1505.0),
            filled(order_type=OrderType.STOP_LOSS, price=1501.0, trigger_price=1500.0),
            True,
            Verdict.OK,
        ),
        # still resting: the modify is owed, whatever was refused before
        (limit(price=1505.0), limit(price=1500.0), True, Verdict.WRONG),
        # a fill is judged all the same
        (filled(price=1505.0), filled(price=1500.0, filled_qty=7), True, Verdict.WRONG),
    ],
)
def test_a_copy_that_traded_before_the_leaders_modify_reached_it_keeps_its_price(
    leader: OrderContent, copy: OrderContent, filled_first: bool, verdict: Verdict
) -> None:
    judged = judge_copy(leader, copy, follower(), EQ, filled_first=filled_first)
    assert judged.verdict is verdict, judged.text()


@pytest.mark.parametrize(
    ("message", "filled"),
    [
        ("Order is already TRADED; it cannot be modified", True),
        ("order already executed", True),
        ("Order is already CANCELLED; it cannot be modified", False),
        ("RMS:Margin Exceeds: You have insufficient funds", False),
        (None, False),
    ],
)
def test_a_change_refused_because_the_order_had_traded_is_told_apart(
    message: str | None, filled: bool
) -> None:
    assert is_filled_refusal(message) is filled


@pytest.mark.parametrize(
    ("state", "applied", "desired", "filled", "error", "first"),
    [
        # the modify refused because the copy had traded
        (IntentState.DONE, 2, 2, 10, "Order is already TRADED; it cannot be modified", True),
        # the modify lost to a fault, the copy then found traded at its old price
        (IntentState.DONE, 1, 2, 10, "Internal Server Error", True),
        # applied, or only part filled, or still working: not
        (IntentState.DONE, 2, 2, 10, None, False),
        (IntentState.DONE, 1, 2, 4, None, False),
        (IntentState.WORKING, 1, 2, 10, None, False),
    ],
)
def test_a_copy_filled_before_the_leaders_change_is_told_from_the_journal(
    state: IntentState, applied: int, desired: int, filled: int, error: str | None, first: bool
) -> None:
    intent = replace(
        copy_intent(state),
        applied_version=applied,
        desired_version=desired,
        filled_qty=filled,
        error_message=error,
    )
    assert filled_before_change(intent) is first


def test_a_copy_that_ended_before_the_leaders_change_was_journaled_is_told_from_its_prices() -> (
    None
):
    """The leader's change reached the journal only once the copy had ended (a terminal copy is
    never changed again): its journaled price is not the leader's now."""
    done = copy_intent(IntentState.DONE, applied_version=2, filled_qty=10)
    assert filled_before_change(done, limit(S.TRADED, filled_qty=10, price=1505.0))
    assert not filled_before_change(done, limit(S.TRADED, filled_qty=10))
    assert not filled_before_change(done)
