"""``judge_copy`` with ``engine.max_entry_deviation_pct``: a late entry's copy, a LIMIT at the
bound from the leader's fill (``actors.late_entries``), is right; so is a live copy."""

from __future__ import annotations

import pytest

from actors.sizing import ExitBasis
from copytrader.copy_content import OrderContent, Verdict, judge_copy
from dhan.codes import OrderStatus, OrderType, TransactionType
from tests.unit.operate.test_copy_content import EQ, follower, limit

S = OrderStatus
#: the leader's MARKET BUY of 10, filled at 1600
MARKET_FILLED = limit(
    S.TRADED, order_type=OrderType.MARKET, price=0.0, filled_qty=10, average_traded_price=1600.0
)
#: the same under market price protection, as the REST book shows it: a LIMIT at its band
BANDED = limit(S.TRADED, price=1648.0, filled_qty=10, average_traded_price=1600.0)
SOLD = limit(
    S.TRADED,
    order_type=OrderType.MARKET,
    price=0.0,
    filled_qty=10,
    average_traded_price=1600.0,
    transaction_type=TransactionType.SELL,
)


def bound_copy(price: float, status: OrderStatus = S.TRADED, **kw: object) -> OrderContent:
    return limit(status, price=price, filled_qty=10 if status is S.TRADED else 0, **kw)


CASES = [
    # (id, leader, copy, deviation, exit basis, verdict, words)
    ("late copy at the bound", MARKET_FILLED, bound_copy(1616.0), 1.0, None, Verdict.OK, ""),
    ("late copy of a banded one", BANDED, bound_copy(1616.0), 1.0, None, Verdict.OK, ""),
    ("late sell at the bound", SOLD,
     bound_copy(1584.0, transaction_type=TransactionType.SELL), 1.0, None, Verdict.OK, ""),
    ("a live copy, as the leader's", MARKET_FILLED,
     limit(S.TRADED, order_type=OrderType.MARKET, price=0.0, filled_qty=10), 1.0, None,
     Verdict.OK, ""),
    ("no deviation configured", MARKET_FILLED, bound_copy(1616.0), None, None, Verdict.WRONG,
     "order type LIMIT != MARKET"),
    ("a LIMIT elsewhere", MARKET_FILLED, bound_copy(1620.0), 1.0, None, Verdict.WRONG,
     "order type LIMIT != MARKET"),
    ("an exit is never bounded", SOLD,
     bound_copy(1584.0, transaction_type=TransactionType.SELL), 1.0, ExitBasis(10, {"ana": 10}),
     Verdict.WRONG, "order type LIMIT != MARKET"),
    ("a bounded copy still resting has not copied the fill", MARKET_FILLED,
     bound_copy(1616.0, S.PENDING), 1.0, None, Verdict.WRONG, "filled 0 != 10"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("leader", "copy", "deviation", "basis", "verdict", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_late_entrys_bounded_copy(
    leader: OrderContent,
    copy: OrderContent,
    deviation: float | None,
    basis: ExitBasis | None,
    verdict: Verdict,
    words: str,
) -> None:
    judged = judge_copy(leader, copy, follower(), EQ, None, basis, deviation)

    assert judged.verdict is verdict, judged.text()
    assert words in judged.text()
