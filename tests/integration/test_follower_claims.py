"""A claim handed to a follower in a hint is sent once, however late the hint arrives."""

from __future__ import annotations

import time
from pathlib import Path

from actors.follower import FollowerActor
from actors.messages import Action, LeaderChanged, PermitGranted, Tick
from actors.names import LIMITER, follower_name
from actors.rate_limiter import RateLimiterActor
from actors.rate_windows import AccountWindows
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
from store.records import LeaderOrderSnapshot, SnapshotSource
from supervision import ChildSpec, Supervisor
from supervision.events import EventBus, RestartScheduled
from supervision.testing import EventRecorder
from tests.integration.engine_harness import build_config, create_accounts, follower_config


def test_a_stale_hint_after_a_tick_placed_the_claim_does_not_place_it_again(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("late", "1700000001")
    cfg = build_config(sim, tmp_path, [f])
    create_accounts(sim, cfg)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    journal = Journal.open(cfg.store.url)
    client = DhanClient(
        base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
    )
    snap = LeaderOrderSnapshot(
        leader_order_id="L-1",
        dedupe_key="test|L-1|1",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.PENDING,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        validity=Validity.DAY,
        security_id="1333",
        quantity=3,
        price=1500.0,
        seq=1,
    )
    ctx = SizingContext(lot_sizes={}, balances={})
    claimed = journal.record_and_claim(snap, desired_intents(snap, [f], ctx), [f.name])
    assert claimed is not None and len(claimed) == 1
    root = Supervisor(
        "root",
        [
            ChildSpec.actor(LIMITER, RateLimiterActor),
            ChildSpec.actor(
                follower_name(f.name),
                FollowerActor,
                follower=f,
                client=client,
                journal=journal,
                engine=cfg.engine,
                metrics=Metrics(process=False),
            ),
        ],
    ).start()
    try:
        # the follower started after the claim: it treats it as possibly sent and looks it up,
        # finds nothing, and places it once
        def settle() -> None:
            for _ in range(3):  # request -> grant -> place: each hop is a processed message
                root.registry.ask(follower_name(f.name), Tick(), timeout_s=10)
                root.registry.ask(LIMITER, Tick(), timeout_s=10)

        settle()
        assert journal.intent(claimed[0].id).state is IntentState.WORKING
        # now the hint that carried the claim arrives, late, with its stale SENDING copy
        root.registry.tell(
            follower_name(f.name), LeaderChanged(("L-1",), 0, claimed=tuple(claimed))
        )
        settle()
        cid = claimed[0].correlation_id
        assert [o["correlationId"] for o in sim.admin.orders(f.client_id)].count(cid) == 1
    finally:
        root.stop()
        client.close()
        journal.close()


def test_a_restarted_follower_settles_two_in_flight_claims_without_crashing(
    sim: Simulator, tmp_path: Path
) -> None:
    # Found by the actor-kill chaos run: a lookup that finds nothing puts its intent back to
    # PLANNED and asks for another pass; that pass used to run nested, settle the next stale
    # claim too, and the outer pass then tried to move that claim again (StaleState: a crash
    # in on_start). Claim 1 is still wanted; claim 2's leader order was cancelled meanwhile.
    f = follower_config("restart", "1700000002")
    cfg = build_config(sim, tmp_path, [f])
    create_accounts(sim, cfg)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    journal = Journal.open(cfg.store.url)
    client = DhanClient(
        base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
    )
    ctx = SizingContext(lot_sizes={}, balances={})

    def snap(order_id: str, status: OrderStatus, seq: int) -> LeaderOrderSnapshot:
        return LeaderOrderSnapshot(
            leader_order_id=order_id,
            dedupe_key=f"test|{order_id}|{seq}",
            source=SnapshotSource.SOCKET,
            status=status,
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            validity=Validity.DAY,
            security_id="1333",
            quantity=3,
            price=1500.0,
            seq=seq,
        )

    claims = []
    for oid in ("L-1", "L-2"):
        s = snap(oid, OrderStatus.PENDING, 1)
        claimed = journal.record_and_claim(s, desired_intents(s, [f], ctx), [f.name])
        assert claimed is not None and len(claimed) == 1
        claims.append(claimed[0])
    cancelled = snap("L-2", OrderStatus.CANCELLED, 2)
    journal.record_and_claim(cancelled, desired_intents(cancelled, [f], ctx), [])
    bus = EventBus()
    crashes = EventRecorder(bus)
    root = Supervisor(
        "root",
        [
            ChildSpec.actor(LIMITER, RateLimiterActor),
            ChildSpec.actor(
                follower_name(f.name),
                FollowerActor,
                follower=f,
                client=client,
                journal=journal,
                engine=cfg.engine,
                metrics=Metrics(process=False),
            ),
        ],
        events=bus,
    ).start()
    try:
        for _ in range(3):  # request -> grant -> place
            root.registry.ask(follower_name(f.name), Tick(), timeout_s=10)
            root.registry.ask(LIMITER, Tick(), timeout_s=10)
        assert journal.intent(claims[0].id).state is IntentState.WORKING
        assert journal.intent(claims[1].id).state is IntentState.DONE
        book = [o["correlationId"] for o in sim.admin.orders(f.client_id)]
        assert book == [claims[0].correlation_id]
        assert crashes.of_type(RestartScheduled) == []
    finally:
        root.stop()
        client.close()
        journal.close()


def test_a_copy_that_fits_the_accounts_windows_goes_out_without_a_limiter_round_trip(
    sim: Simulator, tmp_path: Path
) -> None:
    # no RateLimiterActor at all: the follower's fast path stamps the shared windows and sends;
    # once they are full it would have to ask the limiter (and here, would wait forever)
    f = follower_config("fast", "1700000003")
    cfg = build_config(sim, tmp_path, [f])
    create_accounts(sim, cfg)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    journal = Journal.open(cfg.store.url)
    client = DhanClient(
        base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
    )
    windows = AccountWindows.dhan_defaults(((1.0, 10), (60.0, 2)))  # room for two calls
    ctx = SizingContext(lot_sizes={}, balances={})
    root = Supervisor(
        "root",
        [
            ChildSpec.actor(
                follower_name(f.name),
                FollowerActor,
                follower=f,
                client=client,
                journal=journal,
                engine=cfg.engine,
                metrics=Metrics(process=False),
                windows=windows,
            ),
        ],
    ).start()
    try:
        claims = []
        for n in range(3):
            snap = LeaderOrderSnapshot(
                leader_order_id=f"L-{n}",
                dedupe_key=f"test|L-{n}|1",
                source=SnapshotSource.SOCKET,
                status=OrderStatus.PENDING,
                transaction_type=TransactionType.BUY,
                exchange_segment=ExchangeSegment.NSE_EQ,
                product_type=ProductType.INTRADAY,
                order_type=OrderType.LIMIT,
                validity=Validity.DAY,
                security_id="1333",
                quantity=3,
                price=1500.0,
                seq=1,
            )
            claimed = journal.record_and_claim(snap, desired_intents(snap, [f], ctx), [f.name])
            assert claimed is not None
            claims.extend(claimed)
            root.registry.tell(
                follower_name(f.name), LeaderChanged((f"L-{n}",), 0, claimed=tuple(claimed))
            )
        root.registry.ask(follower_name(f.name), Tick(), timeout_s=10)
        states = [journal.intent(c.id).state for c in claims]
        assert states[:2] == [IntentState.WORKING, IntentState.WORKING]
        assert states[2] is not IntentState.WORKING  # the windows were full: it waits
        assert len(sim.admin.orders(f.client_id)) == 2
    finally:
        root.stop()
        client.close()
        journal.close()


def test_a_permit_used_long_after_its_grant_needs_room_in_the_windows_again(
    sim: Simulator, tmp_path: Path
) -> None:
    # a grant is counted when it is given; used much later it would go out next to the calls
    # counted since, so the follower stamps the windows again -- and with no room, waits
    f = follower_config("late-grant", "1700000004")
    cfg = build_config(sim, tmp_path, [f])
    create_accounts(sim, cfg)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    journal = Journal.open(cfg.store.url)
    client = DhanClient(
        base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
    )
    windows = AccountWindows.dhan_defaults(((1.0, 10), (60.0, 1)))  # one call a minute
    ctx = SizingContext(lot_sizes={}, balances={})
    for n in range(2):
        snap = LeaderOrderSnapshot(
            leader_order_id=f"G-{n}",
            dedupe_key=f"test|G-{n}|1",
            source=SnapshotSource.SOCKET,
            status=OrderStatus.PENDING,
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            validity=Validity.DAY,
            security_id="1333",
            quantity=3,
            price=1500.0,
            seq=1,
        )
        # recorded PLANNED (not claimed): only a permit makes the follower place them
        journal.record_and_claim(snap, desired_intents(snap, [f], ctx), [])
    planned = journal.intents(f.name, states=[IntentState.PLANNED])
    assert len(planned) == 2
    root = Supervisor(
        "root",
        [
            ChildSpec.actor(
                follower_name(f.name),
                FollowerActor,
                follower=f,
                client=client,
                journal=journal,
                engine=cfg.engine,
                metrics=Metrics(process=False),
                windows=windows,
            ),
        ],
    ).start()
    try:
        name = follower_name(f.name)
        root.registry.ask(name, Tick(), timeout_s=10)  # converge: the first fits and goes
        placed = [i for i in journal.intents(f.name) if i.state is IntentState.WORKING]
        assert len(placed) == 1
        waiting = next(i for i in journal.intents(f.name) if i.state is IntentState.PLANNED)
        # a grant from ten seconds ago for the second one: the minute's one call is used
        stale = PermitGranted(waiting.id, Action.PLACE, granted_at=time.monotonic() - 10.0)
        root.registry.tell(name, stale)
        root.registry.ask(name, Tick(), timeout_s=10)
        assert journal.intent(waiting.id).state is IntentState.PLANNED
        assert len(sim.admin.orders(f.client_id)) == 1
        # a fresh grant (the limiter stamped it just now) is used as given
        root.registry.tell(
            name, PermitGranted(waiting.id, Action.PLACE, granted_at=time.monotonic())
        )
        root.registry.ask(name, Tick(), timeout_s=10)
        assert journal.intent(waiting.id).state is IntentState.WORKING
    finally:
        root.stop()
        client.close()
        journal.close()
