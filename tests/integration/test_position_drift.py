"""Position drift end to end: ``reconcile --positions``, ``resync [--apply]``, ``status`` and
the ``copytrader_position_drift`` gauge, against dhansim over loopback with a real journal."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from copytrader.drift import DriftReader
from copytrader.instrument_file import sim_instruments_url
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType
from dhan.models import OrderRequest, Position
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal
from store.lease import JournalLease
from store.records import OrderFill, PositionKey
from tests.integration.cli_rig import CliRig, Output, make_cli_rig
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until

KEY = PositionKey("NSE_EQ", "1333", "INTRADAY")
SECURITY = "NSE_EQ:1333:INTRADAY"


def _client(rig: CliRig, name: str) -> DhanClient:
    account = next(a for a in rig.accounts if a.name == name)
    return DhanClient(
        base_url=rig.sim.rest_url, client_id=account.client_id, access_token=account.token
    )


def _net(client: DhanClient) -> int:
    rows: list[Position] = client.positions()
    return sum(
        p.net_qty for p in rows if p.security_id == "1333" and str(p.product_type) == "INTRADAY"
    )


def _journaled(rig: CliRig, name: str) -> int:
    journal = Journal.open(rig.store_url)
    try:
        return sum(p.net_qty for p in journal.positions(name) if p.key == KEY)
    finally:
        journal.close()


def _market(side: TransactionType, quantity: int) -> OrderRequest:
    return limit_buy(
        quantity=quantity, order_type=OrderType.MARKET, price=0.0, transaction_type=side
    )


def _copied_with_a_manual_trade(rig: CliRig) -> tuple[str, str]:
    """``run`` until the leader's MARKET BUY 10 is copied to ana (filled) and skipped for ben
    (a value cap below one share); then ana's owner buys 3 by hand. Returns (leader order id,
    the manual order's id)."""
    rig.sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    proc = rig.popen("run")
    out = Output(proc)
    try:
        out.wait_for("reconciled the leader")  # the engine is up, its leader feed connected
        with _client(rig, "leader") as leader:
            oid = leader.place_order(_market(TransactionType.BUY, 10)).order_id
        with _client(rig, "ana") as ana:
            wait_until(lambda: _net(ana) == 10, 15.0, what="ana's copy filled")
            manual = ana.place_order(_market(TransactionType.BUY, 3)).order_id
            wait_until(lambda: _net(ana) == 13, 10.0, what="ana's manual trade filled")
        journal = Journal.open(rig.store_url)
        try:
            wait_until(
                lambda: any(i.skip_reason for i in journal.intents("ben", leader_order_id=oid)),
                10.0,
                what="ben's copy skipped",
            )
            # the copy's fill and, with the follower's own order socket, the manual one
            wait_until(
                lambda: [p.net_qty for p in journal.positions("ana") if p.key == KEY] == [13],
                10.0,
                what="ana's fills in the journal",
            )
        finally:
            journal.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        status = out.finish()
    assert status == 0, out.text
    return oid, manual


def test_positions_report_resync_plan_and_apply_bring_the_follower_back_to_expected(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(
        sim,
        tmp_path,
        ["ana", "ben"],
        id_base=3100000000,
        extra_follower_yaml={"ben": "caps: {max_order_value_inr: 100}"},
    )
    oid, manual = _copied_with_a_manual_trade(rig)

    # reconcile --positions: the broker's positions against the expected ones, with reasons
    report = rig.cli("reconcile", "--positions")
    assert report.returncode == 1, report.stdout + report.stderr
    lines = report.stdout.splitlines()
    (ana,) = [line for line in lines if line.split()[:2] == ["ana", SECURITY]]
    assert ana.split()[2:6] == ["10", "10", "13", "+3"], ana  # leader, expected, actual, lots
    assert f"manual trade or broker square-off +3: order {manual} BUY 3" in ana
    (ben,) = [line for line in lines if line.split()[:2] == ["ben", SECURITY]]
    assert ben.split()[2:6] == ["10", "0", "0", "0"], ben
    assert f"cap (leader {oid})" in ben

    # status: the same table from the journal (the copies' fills; the manual trade reached the
    # journal with the follower's socket), the skip's reason
    status = rig.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "positions (journal):" in status.stdout
    assert re.search(rf"ben +{SECURITY} +10 +0 +0 +0 +cap \(leader {oid}\)", status.stdout)
    assert re.search(rf"ana +{SECURITY} +10 +10 +13 +\+3 ", status.stdout), status.stdout

    # resync: the plan, nothing placed
    with _client(rig, "ana") as ana_client:
        before = len(ana_client.list_orders())
        plan = rig.cli("resync", "ana")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        (order,) = [line for line in plan.stdout.splitlines() if "cid=RS_" in line]
        assert "ana: exit SELL 3 NSE_EQ:1333 INTRADAY MARKET" in order
        assert "nothing placed" in plan.stdout
        assert len(ana_client.list_orders()) == before and _net(ana_client) == 13

        # --apply needs the journal's lease: refused while an engine holds it
        holder = JournalLease(rig.store_url).acquire()
        try:
            refused = rig.cli("resync", "ana", "--apply")
        finally:
            holder.release()
        assert refused.returncode == 1
        (line,) = [s for s in refused.stderr.splitlines() if "in use by another" in s]
        assert f"pid {os.getpid()}" in line
        assert len(ana_client.list_orders()) == before

        before = _journaled(rig, "ana")
        applied = rig.cli("resync", "ana", "--apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "placed: order" in applied.stdout and "resync ana: done (1 orders)" in applied.stdout
        assert _net(ana_client) == 10
        cid = order.split("cid=")[1].strip()
        resynced = [o for o in ana_client.list_orders() if o.correlation_id == cid]
        assert len(resynced) == 1 and resynced[0].filled_qty == 3
        # its fill journaled into ana's position, as the follower's socket would have
        assert _journaled(rig, "ana") == before - 3

    again = rig.cli("resync", "ana", "--apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resync plan for ana: 0 orders" in again.stdout
    clean = rig.cli("reconcile", "--positions")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    journal = Journal.open(rig.store_url)
    try:
        kinds = [r.kind for r in journal.audit_after(0, limit=10_000) if r.actor == "resync"]
    finally:
        journal.close()
    assert kinds[:4] == ["resync_sending", "resync_placed", "resync_ended", "resync_done"]
    for result in (report, status, plan, refused, applied, again, clean):
        rig.assert_no_token_in(result.stdout + result.stderr)


def test_a_rerun_after_a_crash_finds_the_resync_order_it_placed_and_places_nothing_twice(
    sim: Simulator, tmp_path: Path
) -> None:
    """The crash: the resync order was placed (its correlationId at the broker) but the run
    never finished. The positions have not moved yet (the order is still open): the rerun
    refuses; once it filled, the plan is empty."""
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3200000000)
    Journal.open(rig.store_url).close()
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    with _client(rig, "ana") as ana:
        ana.place_order(_market(TransactionType.BUY, 2))  # a manual trade: expected is flat
        wait_until(lambda: _net(ana) == 2, 10.0, what="manual fill")
    plan = rig.cli("resync", "ana")
    (line,) = [s for s in plan.stdout.splitlines() if "cid=RS_" in s]
    cid = line.split("cid=")[1].strip()
    # the crashed run's order: placed, still open at the broker (a LIMIT below the market)
    with _client(rig, "ana") as ana:
        placed = ana.place_order(
            limit_buy(
                quantity=2, price=1600.0, transaction_type=TransactionType.SELL, correlation_id=cid
            )
        )
        # the rerun sees its own order still open: it places nothing
        rerun = rig.cli("resync", "ana", "--apply")
        assert rerun.returncode == 1, rerun.stdout + rerun.stderr
        assert f"open resync order {placed.order_id} ({cid})" in rerun.stdout
        assert sum(1 for o in ana.list_orders() if o.correlation_id == cid) == 1
        sim.admin.fill(placed.order_id)  # it fills, as the market reaches it
        wait_until(lambda: _net(ana) == 0, 10.0, what="the resync order filled")
        done = rig.cli("resync", "ana", "--apply")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "resync plan for ana: 0 orders" in done.stdout
        assert sum(1 for o in ana.list_orders() if o.correlation_id == cid) == 1


def test_the_drift_gauge_shows_a_manual_trade_in_lots(sim: Simulator, tmp_path: Path) -> None:
    f = follower_config("gauge", "3300000001")
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [f])
    rig.engine.drift.every_s = 0.2  # the sampler's tick (1 s) paces it
    registry = rig.engine.metrics.registry

    def drift() -> float | None:
        labels = {"follower": "gauge", "security": SECURITY}
        return registry.get_sample_value("copytrader_position_drift", labels)

    try:
        leader_order = rig.leader.place_order(_market(TransactionType.BUY, 10))
        rig.wait_copies(leader_order.order_id, lambda _f, c: bool(c) and c[0]["filledQty"] == 10)
        wait_until(lambda: drift() == 0.0, 10.0, what="the copy's position, no drift")
        with DhanClient(
            base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
        ) as follower:
            manual = follower.place_order(_market(TransactionType.BUY, 2))
            wait_until(lambda: follower.get_order(manual.order_id).filled_qty == 2, 10.0)
        # the follower's order socket applies such a fill (helper ffeed); applied here as it does
        rig.engine.journal.apply_fills("gauge", [OrderFill(manual.order_id, KEY, "BUY", 2)])
        wait_until(lambda: drift() == 2.0, 10.0, what="the gauge at +2 lots")
        assert rig.engine.drift.last_s < 1.0
    finally:
        rig.stop()


def test_resync_apply_refuses_while_a_copy_is_not_settled(sim: Simulator, tmp_path: Path) -> None:
    """ana's token expires: her copy of the leader's BUY is never placed (paused). The plan
    would buy it, and the engine would place the copy once ana has a token again: twice.
    ``--apply`` refuses until the copy settles."""
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3400000000)
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    proc = rig.popen("run")
    out = Output(proc)
    try:
        out.wait_for("reconciled the leader")
        sim.admin.expire_token(rig.followers[0].client_id)
        with _client(rig, "leader") as leader:
            oid = leader.place_order(_market(TransactionType.BUY, 4)).order_id
        out.wait_for("follower ana paused")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert out.finish() == 0, out.text
    unreadable = rig.cli("reconcile", "--positions")  # ana's token still refused
    assert unreadable.returncode == 1, unreadable.stdout + unreadable.stderr
    assert "ana: positions unavailable" in unreadable.stdout
    rig.sim.admin.rotate_token(rig.followers[0].client_id, rig.followers[0].token)

    report = rig.cli("reconcile", "--positions")
    assert report.returncode == 1, report.stdout + report.stderr
    assert re.search(
        rf"ana +{SECURITY} +4 +4 +0 +-4 +copy not placed yet \((PLANNED|SENDING|UNKNOWN)\) "
        rf"\(leader {oid}\)",
        report.stdout,
    ), report.stdout
    refused = rig.cli("resync", "ana", "--apply")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "ana: entry BUY 4 NSE_EQ:1333 INTRADAY MARKET" in refused.stdout  # the plan, shown
    assert re.search(rf"unsettled copy #\d+ of leader {oid}", refused.stdout)
    assert "1 copies of ana are not settled" in refused.stdout
    with _client(rig, "ana") as ana:
        assert ana.list_orders() == [] and _net(ana) == 0
    rig.assert_no_token_in(
        out.text + unreadable.stdout + unreadable.stderr + report.stdout + refused.stdout
    )


def test_a_resync_order_whose_answer_is_lost_is_found_by_its_id_not_placed_again(
    sim: Simulator, tmp_path: Path
) -> None:
    """First the answer is lost after the order was placed (found by its correlationId, the
    run goes on); then a place that never reached the exchange (held and timed out): the run
    stops without spending its ids, and the rerun places that order once."""
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3500000000, read_timeout_s=1.0)
    Journal.open(rig.store_url).close()
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    ana_id = rig.followers[0].client_id
    with _client(rig, "ana") as ana:
        ana.place_order(_market(TransactionType.BUY, 5))  # a manual trade: expected is flat
        wait_until(lambda: _net(ana) == 5, 10.0, what="manual fill")

        sim.admin.set_faults(
            {"per_endpoint": {"POST /orders": {"accept_then_drop_p": 1.0}}, "accounts": [ana_id]}
        )
        lost = rig.cli("resync", "ana", "--apply")
        sim.admin.clear_faults()
        assert lost.returncode == 0, lost.stdout + lost.stderr
        assert "placed: order" in lost.stdout
        assert _net(ana) == 0
        resyncs = [o for o in ana.list_orders() if o.correlation_id and "RS_" in o.correlation_id]
        assert len(resyncs) == 1, resyncs

        ana.place_order(_market(TransactionType.BUY, 2))  # another manual trade
        wait_until(lambda: _net(ana) == 2, 10.0, what="second manual fill")
        sim.admin.set_faults(
            {
                "per_endpoint": {"POST /orders": {"timeout_p": 1.0, "timeout_hold_s": 3.0}},
                "accounts": [ana_id],
            }
        )
        unknown = rig.cli("resync", "ana", "--apply")
        sim.admin.clear_faults()
        assert unknown.returncode == 1, unknown.stdout + unknown.stderr
        assert "outcome unknown" in unknown.stdout
        (line,) = [s for s in unknown.stdout.splitlines() if "cid=RS_" in s]
        cid = line.split("cid=")[1].strip()
        assert [o for o in ana.list_orders() if o.correlation_id == cid] == []

        # at once: the broker may still be taking the held order in; not placed again yet
        early = rig.cli("resync", "ana", "--apply")
        assert early.returncode == 1, early.stdout + early.stderr
        assert "not in the book yet; run again in" in early.stdout
        assert [o for o in ana.list_orders() if o.correlation_id == cid] == []
        # a minute later (the mark of its sending, moved back): taken as never placed
        journal = Journal.open(rig.store_url)
        try:
            sent = float(journal.get_mark("ana", f"resync_sent:{cid}") or "nan")
            assert time.time() - sent < 60
            journal.set_mark("ana", f"resync_sent:{cid}", f"{sent - 61:.3f}")
        finally:
            journal.close()
        rerun = rig.cli("resync", "ana", "--apply")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"cid={cid}" in rerun.stdout  # the same run: the same id
        assert len([o for o in ana.list_orders() if o.correlation_id == cid]) == 1
        assert _net(ana) == 0
    journal = Journal.open(rig.store_url)
    try:
        kinds = [r.kind for r in journal.audit_after(0, limit=10_000) if r.actor == "resync"]
    finally:
        journal.close()
    assert kinds.count("resync_unknown") == 1 and kinds.count("resync_done") == 2


def test_exits_sized_from_the_position_leave_no_drift_a_close_with_a_manual_extra_too(
    sim: Simulator, tmp_path: Path
) -> None:
    """The exits as the engine sizes them (from the follower's position): a close that also
    closes the follower's manual extra expects flat (never short), a flip expects the new side
    scaled. The drift of both followers is 0 at every step that has settled."""
    solo = follower_config("solo", "3600000001")  # multiplier 1, with a manual extra
    double = follower_config("double", "3600000002", multiplier=2.0)
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [solo, double])

    def rows() -> dict[str, tuple[int, int, int]]:
        """(expected, actual, drift) per follower (a flat key with nothing to say has no row)."""
        found = DriftReader().rows(rig.engine.journal, ["solo", "double"], {})
        shown = {r.follower: (r.expected, r.actual, r.drift) for r in found if r.key == KEY}
        return {name: shown.get(name, (0, 0, 0)) for name in ("solo", "double")}

    def settled_at(want: dict[str, tuple[int, int, int]]) -> None:
        try:
            wait_until(lambda: rows() == want, 15.0, what=f"drift rows {want}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last rows {rows()}") from None

    try:
        entry = rig.leader.place_order(_market(TransactionType.BUY, 10)).order_id
        rig.wait_copies(entry, lambda _f, c: bool(c) and c[0]["filledQty"] > 0)
        settled_at({"solo": (10, 10, 0), "double": (20, 20, 0)})

        with DhanClient(
            base_url=sim.rest_url,
            client_id=solo.client_id,
            access_token=solo.access_token.reveal(),
        ) as hand:
            manual = hand.place_order(_market(TransactionType.BUY, 5)).order_id
            wait_until(lambda: hand.get_order(manual).filled_qty == 5, 10.0)
        # the follower's socket applies such a fill (helper ffeed); applied here as it does
        rig.engine.journal.apply_fills("solo", [OrderFill(manual, KEY, "BUY", 5)])
        settled_at({"solo": (10, 15, 5), "double": (20, 20, 0)})

        close = rig.leader.place_order(_market(TransactionType.SELL, 10)).order_id
        rig.wait_copies(close, lambda _f, c: bool(c) and c[0]["filledQty"] > 0)
        # solo's close took all 15 (its whole position): flat is what is expected
        settled_at({"solo": (0, 0, 0), "double": (0, 0, 0)})

        again = rig.leader.place_order(_market(TransactionType.BUY, 10)).order_id
        rig.wait_copies(again, lambda _f, c: bool(c) and c[0]["filledQty"] > 0)
        settled_at({"solo": (10, 10, 0), "double": (20, 20, 0)})
        flip = rig.leader.place_order(_market(TransactionType.SELL, 20)).order_id
        rig.wait_copies(flip, lambda _f, c: bool(c) and c[0]["filledQty"] > 0)
        settled_at({"solo": (-10, -10, 0), "double": (-20, -20, 0)})
    finally:
        rig.stop()


def test_resync_closes_a_derivative_in_pieces_within_the_freeze_quantity(
    sim: Simulator, tmp_path: Path
) -> None:
    """BANKNIFTY futures (dhansim's master: lot 30, freeze 900): 2700 bought by hand in three
    orders. With the instrument file the plan closes them in three orders of 900 (the
    exchange takes no more in one); the lot and the freeze quantity come from the file, as the
    engine's own."""
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3700000000)
    url = sim_instruments_url(sim.rest_url)
    text = rig.config.read_text()
    rig.config.write_text(text.replace("broker:\n", f"broker:\n  instruments_url: {url}\n"))
    Journal.open(rig.store_url).close()
    fut = PositionKey("NSE_FNO", "52176", "MARGIN")

    def net(client: DhanClient) -> int:
        return sum(
            p.net_qty
            for p in client.positions()
            if p.security_id == fut.security_id and str(p.product_type) == "MARGIN"
        )

    with _client(rig, "ana") as ana:
        for _ in range(3):
            ana.place_order(
                limit_buy(
                    fut.security_id,
                    quantity=900,
                    order_type=OrderType.MARKET,
                    price=0.0,
                    exchange_segment=ExchangeSegment.NSE_FNO,
                    product_type=ProductType.MARGIN,
                )
            )
        wait_until(lambda: net(ana) == 2700, 10.0, what="2700 bought by hand")

        plan = rig.cli("resync", "ana")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        orders = [s for s in plan.stdout.splitlines() if "cid=RS_" in s]
        assert len(orders) == 3, plan.stdout
        assert all("exit SELL 900 NSE_FNO:52176 MARGIN MARKET" in s for s in orders), orders
        row = next(s for s in plan.stdout.splitlines() if "NSE_FNO:52176:MARGIN" in s)
        assert row.split()[2:6] == ["0", "0", "2700", "+90"], row  # in lots of 30

        applied = rig.cli("resync", "ana", "--apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert net(ana) == 0
        resyncs = [o for o in ana.list_orders() if (o.correlation_id or "").startswith("RS_")]
        assert sorted(o.quantity for o in resyncs) == [900, 900, 900]


@pytest.mark.parametrize("view", ["short", "carried"])
def test_carried_holdings_are_expected_and_a_sale_of_them_by_hand_is_drift(
    sim: Simulator, tmp_path: Path, view: str
) -> None:
    """ana holds 20 shares from an earlier day (holdings) and a carried MARGIN future; she
    sells 5 of the shares by hand. Whichever way the broker shows a sale of holdings in
    GET /positions (``holdings_sale_view``), the table reads 15 held against 20 expected."""
    sim.admin.set_switches(holdings_sale_view=view)
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3800000000 + (view == "carried"))
    Journal.open(rig.store_url).close()
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    ana_id = rig.followers[0].client_id
    sim.admin.carry_positions(
        ana_id,
        {
            "exchangeSegment": "NSE_EQ",
            "securityId": "1333",
            "productType": "CNC",
            "quantity": 20,
            "price": 1400.0,
        },
        {
            "exchangeSegment": "NSE_FNO",
            "securityId": "52176",
            "productType": "MARGIN",
            "quantity": 30,
            "price": 56000.0,
        },
    )
    clean = rig.cli("reconcile", "--positions")
    assert clean.returncode == 0, clean.stdout + clean.stderr  # carried: expected as held

    with _client(rig, "ana") as ana:
        ana.place_order(
            limit_buy(
                quantity=5,
                order_type=OrderType.MARKET,
                price=0.0,
                transaction_type=TransactionType.SELL,
                product_type=ProductType.CNC,
            )
        )
        wait_until(
            lambda: any(o.filled_qty == 5 for o in ana.list_orders()), 10.0, what="sale filled"
        )
    report = rig.cli("reconcile", "--positions")
    assert report.returncode == 1, report.stdout + report.stderr
    (row,) = [s for s in report.stdout.splitlines() if s.split()[:2] == ["ana", "NSE_EQ:1333:CNC"]]
    assert row.split()[2:6] == ["0", "20", "15", "-5"], row
    assert "manual trade or broker square-off -5: order" in row
    (plan,) = [s for s in rig.cli("resync", "ana").stdout.splitlines() if "cid=RS_" in s]
    assert "ana: entry BUY 5 NSE_EQ:1333 CNC MARKET" in plan  # back to the 20 expected
