"""``actors.leader_reconcile``: what a REST pass journals -- differences that lasted, the policy for
orders only a reconcile found, the BO/CO legs the journal links to their entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from actors.enrich import SnapshotEnricher
from actors.leader_reconcile import (
    CONFIRM_AFTER_S,
    LeaderReconciler,
    confirmed_differences,
    journaled_parents,
    missed_order_skip,
    same_state,
)
from actors.leader_record import LeaderRecorder, Recorded
from actors.settings import EngineConfig, ReconcilePolicy
from actors.sizing import ExitBasis
from copytrader.metrics import Metrics
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import Order, OrderRequest, SuperOrderRequest
from dhan.rest import DhanClient
from dhansim.pytest_plugin import new_account
from dhansim.server import Simulator
from store import IntentState, Journal
from store.records import LeaderOrderSnapshot, SnapshotSource
from supervision.clock import ManualClock
from tests.unit.actors.test_bracket_parents import _entry, _leg
from tests.unit.actors.test_slicing import follower
from tests.unit.store.factories import snapshot

JOURNALED = snapshot("L1", status=OrderStatus.PENDING, dedupe_key="ws|L1|pending", seq=1)


def row(**fields: object) -> LeaderOrderSnapshot:
    """The REST row of ``JOURNALED``'s order (override what the book says differently)."""
    same = replace(JOURNALED, dedupe_key="rest|L1", source=SnapshotSource.RECONCILE, seq=2)
    return replace(same, **fields)  # type: ignore[arg-type]  # test data by keyword


@pytest.mark.parametrize(
    ("rest", "same"),
    [
        (row(), True),
        (row(updated_at="10:15:02", avg_price=100.0, raw={"createTime": "x"}), True),
        (row(correlation_id="other"), True),  # not a state field
        (row(status=OrderStatus.TRADED), False),
        (row(filled_qty=4), False),
        (row(quantity=12), False),
        (row(price=101.0), False),
        (row(trigger_price=99.0), False),
        (row(order_type=OrderType.MARKET), False),
        (row(target_price=110.0), False),
        (row(stop_loss_price=95.0), False),
        (row(trailing_jump=1.0), False),
        (row(bo_profit_value=10.0), False),
        (row(bo_stop_loss_value=5.0), False),
    ],
)
def test_a_book_row_differs_from_the_journal_only_in_the_orders_state(
    rest: LeaderOrderSnapshot, same: bool
) -> None:
    assert same_state(rest, JOURNALED) is same


@pytest.mark.parametrize(
    ("policy", "status", "skipped"),
    [
        ("copy_all", OrderStatus.PENDING, False),
        ("copy_all", OrderStatus.TRADED, False),
        ("copy_open", OrderStatus.PENDING, False),
        ("copy_open", OrderStatus.PART_TRADED, False),
        ("copy_open", OrderStatus.TRADED, True),
        ("copy_open", OrderStatus.CANCELLED, True),
        ("skip", OrderStatus.PENDING, True),
        ("skip", OrderStatus.TRADED, True),
    ],
)
def test_an_order_only_a_reconcile_found_is_copied_as_the_policy_says(
    policy: str, status: OrderStatus, skipped: bool
) -> None:
    reason = missed_order_skip(policy, row(status=status))
    if skipped:
        assert reason == f"found only by reconcile ({status}); policy {policy}"
    else:
        assert reason is None


@pytest.mark.parametrize(
    ("policy", "status", "basis", "skipped"),
    [
        # an exit (the leader had 10 open on this order's first sight) is copied once traded
        ("copy_open", OrderStatus.TRADED, ExitBasis(10, {"a": 10}), False),
        ("copy_open", OrderStatus.CANCELLED, ExitBasis(10, {"a": 10}), False),
        # an entry (nothing open, or no basis) is not
        ("copy_open", OrderStatus.TRADED, ExitBasis(0, {}), True),
        ("copy_open", OrderStatus.TRADED, None, True),
        # skip / alert are the operator's word, exits included
        ("skip", OrderStatus.TRADED, ExitBasis(10, {"a": 10}), True),
        ("alert", OrderStatus.PENDING, ExitBasis(10, {"a": 10}), True),
        ("copy_all", OrderStatus.TRADED, None, False),
    ],
)
def test_under_copy_open_a_traded_exit_only_a_reconcile_found_is_copied(
    policy: str, status: OrderStatus, basis: ExitBasis | None, skipped: bool
) -> None:
    reason = missed_order_skip(policy, row(status=status), basis)
    assert (reason is not None) == skipped, reason


def lookup(*known: LeaderOrderSnapshot) -> Callable[[str, str], LeaderOrderSnapshot | None]:
    """The journal's latest snapshots, as the reconcile reads them."""
    by_key = {(s.leader_order_id, s.leg_name): s for s in known}
    return lambda order_id, leg: by_key.get((order_id, leg))


CONFIRM_S = 2.0
NEW = row(leader_order_id="L2", dedupe_key="rest|L2")
FILLED = row(status=OrderStatus.TRADED, filled_qty=10, dedupe_key="rest|L1|traded")


@pytest.mark.parametrize(
    ("snaps", "settled_before", "suspects_before", "due", "settled", "suspects"),
    [
        # the journal says it all: settled, read again only when its key changes
        ([row()], set(), {}, [], {"rest|L1"}, {}),
        # a key the last pass settled: not read (the journal may say otherwise: not looked at)
        ([FILLED], {"rest|L1|traded"}, {}, [], {"rest|L1|traded"}, {}),
        # a difference seen first now: a suspect, not journaled yet
        ([FILLED], set(), {}, [], set(), {("L1", ""): 100.0}),
        ([NEW], set(), {}, [], set(), {("L2", ""): 100.0}),
        # still there, but not for long enough: kept with the time first seen
        ([FILLED], set(), {("L1", ""): 99.0}, [], set(), {("L1", ""): 99.0}),
        # lasted CONFIRM_S: journaled, and settled
        ([FILLED], set(), {("L1", ""): 98.0}, [FILLED], {"rest|L1|traded"}, {}),
        ([NEW], set(), {("L2", ""): 90.0}, [NEW], {"rest|L2"}, {}),
        # a suspect the socket settled in the meantime is forgotten
        ([row()], set(), {("L1", ""): 98.0}, [], {"rest|L1"}, {}),
        # an order gone from the book: neither settled nor suspect any more
        ([], {"rest|L1"}, {("L2", ""): 90.0}, [], set(), {}),
    ],
)
def test_a_periodic_pass_journals_a_difference_only_once_it_has_lasted(
    snaps: list[LeaderOrderSnapshot],
    settled_before: set[str],
    suspects_before: dict[tuple[str, str], float],
    due: list[LeaderOrderSnapshot],
    settled: set[str],
    suspects: dict[tuple[str, str], float],
) -> None:
    got = confirmed_differences(
        snaps, lookup(JOURNALED), settled_before, suspects_before, 100.0, CONFIRM_S
    )
    assert got == (due, settled, suspects)


def test_a_leg_is_compared_with_its_own_journaled_snapshot() -> None:
    leg = replace(JOURNALED, leader_order_id="L9", leg_name="TARGET_LEG", parent_order_id="L1")
    moved = replace(row(), leader_order_id="L9", leg_name="TARGET_LEG", price=110.0)
    got = confirmed_differences([moved], lookup(JOURNALED, leg), set(), {}, 100.0, CONFIRM_S)
    assert got == ([], set(), {("L9", "TARGET_LEG"): 100.0})


def journaled_leg(order_id: str, leg: LegName, parent: str | None) -> LeaderOrderSnapshot:
    return snapshot(
        order_id,
        product_type=ProductType.BO,
        leg_name=str(leg),
        parent_order_id=parent,
    )


def test_the_journal_links_the_bo_co_legs_the_socket_showed_with_their_entry() -> None:
    orders: list[Order] = [
        _entry("100"),
        _leg("101", LegName.TARGET_LEG),  # journaled, linked to 100
        _leg("102", LegName.STOP_LOSS_LEG),  # journaled, linked to itself: no link
        _leg("103", LegName.STOP_LOSS_LEG),  # never journaled
        replace(_leg("104", LegName.TARGET_LEG), product_type=ProductType.INTRADAY),  # super
    ]
    known = lookup(
        journaled_leg("101", LegName.TARGET_LEG, "100"),
        journaled_leg("102", LegName.STOP_LOSS_LEG, "102"),
        journaled_leg("104", LegName.TARGET_LEG, "100"),
    )
    assert journaled_parents(orders, known) == {"101": "100"}


# -- the reconciler against the simulator's books ---------------------------------------------

PERIOD_S = 30.0
#: BUY 3 at the market's 1600 (the entry trades at once), target 1650, stop 1550.
SUPER_BUY = SuperOrderRequest(
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="1333",
    quantity=3,
    price=1600.0,
    target_price=1650.0,
    stop_loss_price=1550.0,
)
#: BUY 5 below the market: it rests, open.
RESTING_BUY = OrderRequest(
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    validity=Validity.DAY,
    security_id="1333",
    quantity=5,
    price=1500.0,
)


@pytest.fixture
def leader(sim: Simulator) -> Iterator[DhanClient]:
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    account = new_account(sim)
    with DhanClient(
        base_url=sim.rest_url, client_id=account.client_id, access_token=account.access_token
    ) as client:
        yield client


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


class Passes:
    """A reconciler over a real journal and the simulator, and what it hinted."""

    def __init__(self, journal: Journal, client: DhanClient) -> None:
        self.clock = ManualClock()
        self.metrics = Metrics(process=False)
        self.hinted: list[Recorded] = []
        engine = EngineConfig(
            reconcile_policy=ReconcilePolicy.COPY_OPEN, leader_reconcile_s=PERIOD_S
        )
        self.reconciler = LeaderReconciler(
            client=client,
            journal=journal,
            recorder=LeaderRecorder(journal, lambda: [FOLLOWER], engine, {}, {}),
            enricher=SnapshotEnricher(journal, client),
            engine=engine,
            metrics=self.metrics,
            clock=self.clock,
            actor_id="leader-feed",
            hint=self.hinted.append,
        )

    def count(self, trigger: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "copytrader_leader_reconcile_total", {"trigger": trigger, "outcome": outcome}
        )
        return value or 0.0


FOLLOWER = replace(follower(1.0), name="a").settings


def test_a_connect_pass_journals_both_books_and_applies_the_policy_to_what_it_never_saw(
    leader: DhanClient, journal: Journal
) -> None:
    plain = leader.place_order(RESTING_BUY).order_id
    sup = leader.place_super_order(SUPER_BUY).order_id
    passes = Passes(journal, leader)
    passes.reconciler.reconcile()

    journaled = {(s.leader_order_id, s.leg_name): s for s in journal.leader_snapshots()}
    assert sorted(journaled) == sorted(
        [(plain, ""), (sup, ""), (sup, "STOP_LOSS_LEG"), (sup, "TARGET_LEG")]
    )
    entry = journaled[(sup, "")]
    assert (entry.is_super, entry.target_price, entry.stop_loss_price) == (True, 1650.0, 1550.0)
    (hint,) = passes.hinted
    assert (len(hint.changed), hint.missed) == (4, 2)
    # copy_open: the resting order is copied, the super order that already traded is not
    copies = {i.leader_order_id: i for i in journal.intents("a")}
    assert copies[plain].desired_open and copies[plain].state is IntentState.SENDING
    assert copies[sup].skip_reason == "found only by reconcile (TRADED); policy copy_open"
    missed = [
        r.payload["leader_order_id"]
        for r in journal.audit_after(0)
        if r.kind == "leader_order_missed"
    ]
    assert missed == [sup]
    assert journal.get_mark("leader", "reconciled_at")

    passes.reconciler.reconcile()  # the books again: nothing new
    assert len(passes.hinted) == 1


def test_a_periodic_pass_journals_a_missed_order_only_when_the_next_pass_still_sees_it(
    leader: DhanClient, journal: Journal
) -> None:
    passes = Passes(journal, leader)
    passes.reconciler.reconcile()  # the empty books: the connect pass
    plain = leader.place_order(RESTING_BUY).order_id  # its frames lost
    assert passes.reconciler.periodic_reconcile() == CONFIRM_AFTER_S  # a suspect: look again soon
    assert journal.leader_snapshots() == []
    passes.clock.advance(CONFIRM_AFTER_S)
    assert passes.reconciler.periodic_reconcile() == PERIOD_S
    assert [s.leader_order_id for s in journal.leader_snapshots()] == [plain]
    assert passes.count("periodic", "ok") == 2
    assert [r.changed[0].leader_order_id for r in passes.hinted] == [plain]


def test_a_failing_super_order_book_fails_a_periodic_pass_but_not_a_connect_pass(
    sim: Simulator, leader: DhanClient, journal: Journal
) -> None:
    plain = leader.place_order(RESTING_BUY).order_id
    sim.admin.set_faults({"per_endpoint": {"GET /super/orders": {"error_5xx_p": 1.0}}})
    passes = Passes(journal, leader)
    assert passes.reconciler.periodic_reconcile() == PERIOD_S  # retried a period later
    assert passes.count("periodic", "error") == 1
    assert journal.leader_snapshots() == []
    passes.reconciler.reconcile()  # after a connect the order book alone is journaled
    assert [s.leader_order_id for s in journal.leader_snapshots()] == [plain]


def test_the_books_orders_are_journaled_in_the_order_the_leader_placed_them() -> None:
    from actors.leader_reconcile import chronological

    base = LeaderOrderSnapshot(
        leader_order_id="9",
        dedupe_key="k",
        source=SnapshotSource.RECONCILE,
        status=OrderStatus.TRADED,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.MARKET,
        security_id="1333",
        quantity=1,
        seq=1,
    )
    late = replace(base, leader_order_id="10", raw={"createTime": "2026-12-07 10:00:05"})
    early = replace(base, leader_order_id="11", raw={"createTime": "2026-12-07 10:00:01"})
    unknown = replace(base, leader_order_id="2", raw={})
    same_second = replace(base, leader_order_id="9", raw={"createTime": "2026-12-07 10:00:05"})
    got = sorted([unknown, late, early, same_second], key=chronological)
    assert [s.leader_order_id for s in got] == ["11", "9", "10", "2"]
