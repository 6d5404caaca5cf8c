"""The follower's collaborators without its actor, against dhansim and a real journal file:
``CopySteps`` (place, cancel, a refused modify, a lost answer, a refused token) and
``CopySettler`` (adopting what a crashed incarnation sent, refreshing fills). The test thread
plays the actor's thread; ``Actor`` records what the steps asked of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.ack_buffer import AckBuffer
from actors.bracket_spawner import BracketSpawner
from actors.copy_latency import CopyLatency
from actors.copy_settler import CopySettler
from actors.copy_steps import CopySteps
from actors.decisions import Step, next_step
from actors.follower_book import FollowerBook
from actors.follower_pause import FollowerPause
from actors.messages import Action
from actors.orders import place_request
from actors.sizing import SizingContext, desired_intents
from copytrader.metrics import Metrics
from dhan.codes import (
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.rest import DhanClient
from dhansim import Simulator
from store import IntentState, Journal
from store.records import Intent, LeaderOrderSnapshot, SnapshotSource
from supervision import ChildContext
from supervision.faults import Faults
from tests.integration.engine_harness import build_config, create_accounts, follower_config

S = IntentState
LTP = 1600.0


class Actor:
    """The ``FollowerHooks`` of these tests: records what a step asked for."""

    def __init__(self) -> None:
        self.converges = 0
        self.lookups: list[int] = []

    def converge(self) -> None:
        self.converges += 1

    def decide(self, intent: Intent) -> Action | Step | None:
        return next_step(intent, stale=False, sent=False)

    def look_up_later(self, intent_id: int) -> None:
        self.lookups.append(intent_id)


class Rig:
    """One follower's collaborators, wired as ``FollowerActor`` wires them."""

    def __init__(self, sim: Simulator, tmp_path: Path) -> None:
        self.sim = sim
        self.follower = follower_config("solo", "1200000801")
        cfg = build_config(sim, tmp_path, [self.follower])
        create_accounts(sim, cfg)
        sim.admin.set_ltp("NSE_EQ", "1333", LTP)
        self.journal = Journal.open(cfg.store.url)
        self.client = DhanClient(
            base_url=sim.rest_url,
            client_id=self.follower.client_id,
            access_token=self.follower.access_token.reveal(),
        )
        self.actor = Actor()
        self.audit: list[tuple[str, dict[str, Any]]] = []
        self.metrics = Metrics(process=False)
        name = self.follower.name
        context = ChildContext.detached(f"follower.{name}")  # no supervisor: no bracket actors
        book = FollowerBook(self.client, max_age_s=0.5)
        brackets = BracketSpawner(
            context,
            name,
            client=self.client,
            journal=self.journal,
            engine=cfg.engine,
            metrics=self.metrics,
            book=book,
        )
        self.settler = CopySettler(
            name,
            client=self.client,
            journal=self.journal,
            book=book,
            brackets=brackets,
            tick_s=cfg.engine.follower_tick_s,
            audit=self._audit,
        )
        self.acks = AckBuffer(self.journal, name, Faults())
        self.pause = FollowerPause(name, self.follower.client_id, None, self.metrics, self._audit)
        self.steps = CopySteps(
            name,
            hooks=self.actor,
            client=self.client,
            journal=self.journal,
            book=book,
            settler=self.settler,
            brackets=brackets,
            pause=self.pause,
            acks=self.acks,
            latency=CopyLatency(lambda _ns: None),
            metrics=self.metrics,
            faults=Faults(),
            registry=context.registry,
            audit=self._audit,
        )

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        self.audit.append((kind, payload))

    def claim(
        self,
        leader_order_id: str,
        price: float = 1500.0,
        *,
        status: OrderStatus = OrderStatus.PENDING,
        seq: int = 1,
    ) -> Intent:
        """Journal a leader LIMIT BUY of 3 (``status``) and claim its copy (SENDING) as the
        feed does; a later ``seq`` of the same order updates the copy's desired fields."""
        snap = LeaderOrderSnapshot(
            leader_order_id=leader_order_id,
            dedupe_key=f"test|{leader_order_id}|{seq}",
            source=SnapshotSource.SOCKET,
            status=status,
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            validity=Validity.DAY,
            security_id="1333",
            quantity=3,
            price=price,
            seq=seq,
        )
        wanted = desired_intents(snap, [self.follower], SizingContext(lot_sizes={}, balances={}))
        self.journal.record_and_claim(snap, wanted, [self.follower.name])
        (intent,) = self.journal.intents(self.follower.name, leader_order_id=leader_order_id)
        return intent

    def working(self, leader_order_id: str, price: float = 1500.0) -> Intent:
        """A copy placed and its ack journaled."""
        intent = self.claim(leader_order_id, price)
        self.steps.place(intent, None)
        self.acks.flush()
        return self.journal.intent(intent.id)

    def broker(self) -> list[dict[str, Any]]:
        return self.sim.admin.orders(self.follower.client_id)

    def close(self) -> None:
        self.client.close()
        self.journal.close()


@pytest.fixture
def rig(sim: Simulator, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(sim, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_a_placed_copys_ack_is_journaled_at_the_flush_not_before(rig: Rig) -> None:
    intent = rig.claim("L1")
    rig.steps.place(intent, None)
    (order,) = rig.broker()
    assert order["correlationId"] == intent.correlation_id
    assert rig.journal.intent(intent.id).state is S.SENDING  # held in the ack buffer
    rig.acks.flush()
    acked = rig.journal.intent(intent.id)
    assert (acked.state, acked.broker_order_id) == (S.WORKING, order["orderId"])


def test_a_place_whose_answer_is_lost_is_looked_up_and_found_never_sent_twice(rig: Rig) -> None:
    intent = rig.claim("L1")
    rig.sim.admin.set_faults({"per_endpoint": {"POST /orders": {"accept_then_drop_p": 1.0}}})
    rig.steps.place(intent, None)
    rig.sim.admin.clear_faults()
    assert rig.journal.intent(intent.id).state is S.UNKNOWN
    assert rig.actor.lookups == [intent.id]
    rig.steps.resolve_unknown(rig.journal.intent(intent.id))
    (order,) = rig.broker()
    found = rig.journal.intent(intent.id)
    assert (found.state, found.broker_order_id) == (S.WORKING, order["orderId"])


def test_a_refused_token_puts_the_copy_back_to_planned_and_pauses(rig: Rig) -> None:
    intent = rig.claim("L1")
    rig.sim.admin.expire_token(rig.follower.client_id)
    rig.steps.place(intent, None)
    assert rig.journal.intent(intent.id).state is S.PLANNED  # owed, sent once resumed
    assert rig.pause.reason is not None and rig.pause.reason.startswith("token rejected")
    assert rig.broker() == []
    assert [kind for kind, _p in rig.audit] == ["broker_call_failed", "follower_paused"]


def test_the_copy_of_a_cancelled_leader_order_is_cancelled_and_settled_done(rig: Rig) -> None:
    intent = rig.working("L1")
    wanted = rig.claim("L1", status=OrderStatus.CANCELLED, seq=2)
    assert rig.actor.decide(wanted) is Action.CANCEL
    rig.steps.cancel(wanted)
    (order,) = rig.broker()
    assert order["orderStatus"] == "CANCELLED"
    done = rig.journal.intent(intent.id)
    assert (done.state, done.broker_status) == (S.DONE, OrderStatus.CANCELLED)
    assert rig.actor.converges == 0


def test_a_copy_cancelled_while_the_leader_still_wants_it_is_planned_again(rig: Rig) -> None:
    intent = rig.working("L1")  # the leader order is open: our cancel was overtaken
    rig.steps.cancel(intent)
    (order,) = rig.broker()
    assert order["orderStatus"] == "CANCELLED"
    again = rig.journal.intent(intent.id)
    assert (again.state, again.broker_order_id) == (S.PLANNED, None)  # a new broker order
    assert rig.actor.converges == 1


def test_a_modify_refused_because_the_copy_traded_settles_it_as_traded(rig: Rig) -> None:
    intent = rig.working("L1")
    rig.sim.admin.fill(intent.broker_order_id or "")
    rig.steps.modify(intent)
    settled = rig.journal.intent(intent.id)
    assert (settled.state, settled.broker_status, settled.filled_qty) == (
        S.DONE,
        OrderStatus.TRADED,
        3,
    )
    assert ("broker_call_failed", "modify") in [(k, p.get("action")) for k, p in rig.audit]


def test_an_order_a_crashed_incarnation_sent_is_adopted_not_sent_again(rig: Rig) -> None:
    intent = rig.claim("L1")
    ack = rig.client.place_order(place_request(intent))  # type: ignore[arg-type]  # a plain copy
    rig.settler.adopt()
    adopted = rig.journal.intent(intent.id)
    assert (adopted.state, adopted.broker_order_id) == (S.WORKING, ack.order_id)
    assert len(rig.broker()) == 1


def test_a_refresh_settles_a_copy_that_filled_on_its_own(rig: Rig) -> None:
    resting = rig.working("L1")
    other = rig.working("L2", price=1490.0)
    rig.sim.admin.fill(resting.broker_order_id or "")
    rig.settler.refresh({"L1", "L2"})
    filled = rig.journal.intent(resting.id)
    assert (filled.state, filled.filled_qty) == (S.DONE, 3)
    assert rig.journal.intent(other.id).state is S.WORKING  # still resting: not written
