"""``flatten`` (issue 17 item 3) against dhansim, the engine stopped: every open order of the
followers' accounts cancelled (plain limits, a working bracket's legs, a super order's legs),
every position exited, judged by each account's own REST book and positions; a second run
does nothing; ``--kill-switch`` switches the accounts off once flat."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from copytrader.engine import BrokerEndpoints, Engine
from copytrader.flatten import FLATTEN_PREFIX, flatten_account, hold_close_only
from copytrader.position_commands import instruments
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType
from dhan.models import SuperOrderRequest
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal, OperatorMode
from store.lease import JournalLease
from tests.integration.cli_rig import Account, CliRig, Output, make_cli_rig
from tests.integration.engine_harness import (
    bo_buy,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)

SEC = "1333"
LTP = 1000.0


@pytest.fixture(params=[False, True], ids=["legs_in_super_book_only", "legs_in_order_book"])
def sim(sim: Simulator, request: pytest.FixtureRequest) -> Simulator:
    sim.admin.set_switches(super_legs_in_order_book=request.param)
    return sim


def client(sim: Simulator, account: Account) -> DhanClient:
    return DhanClient(
        base_url=sim.rest_url, client_id=account.client_id, access_token=account.token
    )


def super_buy(price: float) -> SuperOrderRequest:
    return SuperOrderRequest(
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id=SEC,
        quantity=3,
        price=price,
        target_price=price + 50.0,
        stop_loss_price=price - 50.0,
    )


def open_everything(sim: Simulator, c: DhanClient) -> None:
    """A resting limit BUY, a long position, a short one, a filled bracket with working legs,
    a filled super order with working legs and a resting one."""
    c.place_order(limit_buy(SEC, quantity=5, price=LTP - 100.0))  # rests
    c.place_order(limit_buy(SEC, quantity=7, price=LTP + 10.0, product_type=ProductType.CNC))
    c.place_order(
        limit_buy(SEC, quantity=4, price=LTP - 10.0, transaction_type=TransactionType.SELL)
    )
    c.place_order(bo_buy(quantity=2, price=LTP + 10.0, profit=50.0, stop=50.0, security_id=SEC))
    c.place_super_order(super_buy(LTP + 10.0))  # fills: its legs work
    c.place_super_order(super_buy(LTP - 100.0))  # rests

    def filled() -> bool:
        return any(p.net_qty for p in c.positions()) and any(
            s.order_status.value == "TRADED" for s in c.list_super_orders()
        )

    wait_until(filled, what="positions and a filled super order")


def open_orders(sim: Simulator, c: DhanClient) -> list[str]:
    book = [f"{o.order_id} {o.leg_name} {o.order_status}" for o in c.list_orders()]
    book = [line for line, o in zip(book, c.list_orders(), strict=True) if o.order_status.is_open]
    legs = [
        f"super {s.order_id} {leg.leg_name} {leg.order_status}"
        for s in c.list_super_orders()
        for leg in s.legs
        if leg.order_status.is_open
    ]
    return book + legs


def positions(c: DhanClient) -> dict[str, int]:
    return {f"{p.security_id}:{p.product_type}": p.net_qty for p in c.positions() if p.net_qty}


@contextlib.contextmanager
def open_accounts(
    sim: Simulator, tmp_path: Path, id_base: int
) -> Iterator[tuple[CliRig, list[DhanClient]]]:
    """A CLI rig with followers ana, ben and cy, each with everything of
    :func:`open_everything` open, and a client of each (closed after)."""
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = make_cli_rig(sim, tmp_path, ["ana", "ben", "cy"], id_base=id_base)
    Journal.open(rig.store_url).close()  # the journal an engine would have made
    clients = [client(sim, f) for f in rig.followers]
    try:
        for c in clients:
            open_everything(sim, c)
            assert open_orders(sim, c) and positions(c)
        yield rig, clients
    finally:
        for c in clients:
            c.close()


def test_flatten_all_cancels_every_open_order_exits_every_position_and_a_rerun_does_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    with open_accounts(sim, tmp_path, 2950000000) as (rig, clients):
        first = rig.cli("flatten", "--all")
        assert first.returncode == 0, first.stdout + first.stderr
        for c in clients:
            assert open_orders(sim, c) == []
            assert positions(c) == {}
        for f in rig.followers:
            assert f"{f.name}: flat (" in first.stdout
        assert "cancelled: super" in first.stdout and "placed: order" in first.stdout
        exits = [
            o
            for o in clients[0].list_orders()
            if (o.correlation_id or "").startswith(FLATTEN_PREFIX)
        ]
        # MARKET orders (the book shows them as LIMITs at the market price protection band)
        assert len(exits) == 2 and all(o.order_status.value == "TRADED" for o in exits)

        books = [len(c.list_orders()) for c in clients]
        second = rig.cli("flatten", "--all")
        assert second.returncode == 0, second.stdout + second.stderr
        for f in rig.followers:
            assert f"{f.name}: already flat, nothing to do" in second.stdout
        assert len(clients[0].list_orders()) == books[0]  # nothing placed or cancelled
        with Journal.open(rig.store_url) as journal:
            modes = journal.operator_modes()
            kinds = [r.kind for r in journal.audit_after(0, limit=5000)]
        assert all(modes[f.name].mode is OperatorMode.CLOSE_ONLY for f in rig.followers)
        assert "flatten_cancel" in kinds and "flatten_placed" in kinds
        rig.assert_no_token_in(first.stdout + first.stderr + second.stdout + second.stderr)


def test_flatten_one_follower_with_the_kill_switch_leaves_the_others_and_unknown_names_exit_2(
    sim: Simulator, tmp_path: Path
) -> None:
    with open_accounts(sim, tmp_path, 2960000000) as (rig, clients):
        unknown = rig.cli("flatten", "--follower", "nobody")
        assert unknown.returncode == 2 and "no follower 'nobody'" in unknown.stdout
        done = rig.cli("flatten", "--follower", "ben", "--kill-switch")
        assert done.returncode == 0, done.stdout + done.stderr
        assert open_orders(sim, clients[1]) == [] and positions(clients[1]) == {}
        assert clients[1].kill_switch_active()
        assert "kill switch: Kill Switch has been successfully activated" in done.stdout
        assert open_orders(sim, clients[0]) and positions(clients[0])  # ana untouched
        assert not clients[0].kill_switch_active()
        again = rig.cli("flatten", "--follower", "ben", "--kill-switch")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "ben: already flat, nothing to do" in again.stdout
        assert "kill switch: already active" in again.stdout


def test_flatten_with_the_lease_held_and_no_engine_to_run_it_times_out_and_places_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    with open_accounts(sim, tmp_path, 2970000000) as (rig, clients):
        lease = JournalLease(rig.store_url).acquire()  # held, as by an engine that hangs
        try:
            before = [len(c.list_orders()) for c in clients]
            refused = rig.cli("flatten", "--all", "--timeout-s", "1")
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "an engine holds the journal" in refused.stdout
            assert "not done by the engine in 1 s" in refused.stdout
            assert [len(c.list_orders()) for c in clients] == before
            with Journal.open(rig.store_url) as journal:
                modes = journal.operator_modes()
                pending = journal.flatten_requests()
            assert all(modes[f.name].mode is OperatorMode.CLOSE_ONLY for f in rig.followers)
            assert sorted(r.follower for r in pending) == ["ana", "ben", "cy"]
        finally:
            lease.release()


def test_flatten_all_with_the_engine_running_is_carried_out_by_the_engine_and_a_rerun_does_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    with open_accounts(sim, tmp_path, 2990000000) as (rig, clients):
        proc = rig.popen("run")
        out = Output(proc)
        try:
            out.wait_for("follower cy")  # the per-follower summary: the engine is up
            first = rig.cli("flatten", "--all", "--kill-switch")
            assert first.returncode == 0, first.stdout + first.stderr
            for c in clients:
                assert open_orders(sim, c) == [] and positions(c) == {}
                assert c.kill_switch_active()
            for f in rig.followers:
                assert f"{f.name}: flat (by the engine)" in first.stdout
            second = rig.cli("flatten", "--all")
            assert second.returncode == 0, second.stdout + second.stderr
            for f in rig.followers:
                assert f"{f.name}: already flat, nothing to do" in second.stdout
            with Journal.open(rig.store_url) as journal:
                modes = journal.operator_modes()
                requests = journal.flatten_requests(pending_only=False)
            assert all(modes[f.name].mode is OperatorMode.CLOSE_ONLY for f in rig.followers)
            assert [r.state for r in requests] == ["done"] * 6
            proc.send_signal(signal.SIGTERM)
            assert out.finish() == 0, out.text
        finally:
            if proc.poll() is None:
                proc.kill()
            rig.assert_no_token_in(out.text)


def test_an_engine_started_after_a_flatten_does_not_place_again_the_copies_it_cancelled(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [follower_config("f", "2980000001")])
    (f,) = rig.cfg.followers
    endpoints = BrokerEndpoints(sim.rest_url, sim.order_feed_url)
    c = DhanClient(base_url=sim.rest_url, client_id=f.client_id, access_token=f"tok-{f.client_id}")
    try:
        resting = rig.leader.place_order(limit_buy(SEC, quantity=5, price=LTP - 100.0)).order_id
        rig.wait_copies(resting, lambda _f, cs: len(cs) == 1 and cs[0]["orderStatus"] == "PENDING")
        rig.leader.place_order(limit_buy(SEC, quantity=3, price=LTP + 10.0))
        wait_until(lambda: positions(c) == {f"{SEC}:INTRADAY": 3}, what="the copy filled")
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="copies settled")
        rig.engine.stop()

        with Journal.open(rig.cfg.store.url) as journal:
            lease = JournalLease(rig.cfg.store.url).acquire()
            try:
                journal.hold_lease(lease)
                hold_close_only(journal, ["f"])
                known = instruments(rig.cfg, endpoints, journal)
                done = flatten_account(rig.cfg, endpoints, journal, "f", known, kill_switch=False)
            finally:
                lease.release()
        assert done.flat, done.lines
        assert open_orders(sim, c) == [] and positions(c) == {}

        rig.engine = Engine(rig.cfg, endpoints=endpoints).start()
        wait_until(lambda: rig.engine.ready()[0], 10.0, what="engine ready")
        # the follower has read its book: the copy flatten cancelled is settled as cancelled
        wait_until(
            lambda: (
                (i := rig.engine.journal.intents("f", leader_order_id=resting))
                and i[0].state.is_terminal
                and str(i[0].broker_status) == "CANCELLED"
            ),
            what="the cancelled copy settled",
        )
        later = rig.leader.place_order(limit_buy(SEC, quantity=2, price=LTP + 10.0)).order_id
        wait_until(
            lambda: (
                (i := rig.engine.journal.intents("f", leader_order_id=later)) and i[0].skip_reason
            ),
            what="the next entry recorded (skipped: close-only)",
        )
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="copies settled")
        assert rig.engine.operator_modes.mode_of("f") is OperatorMode.CLOSE_ONLY
        assert open_orders(sim, c) == [] and positions(c) == {}
        assert len(rig.follower_copies(f, resting)) == 1  # the cancelled one, not a new one
    finally:
        c.close()
        rig.stop()
