"""The order-update socket: login without ack, cuts on bad login, frames, quirks, no replay,
pings, and the socket faults (stall, malformed frames, admin drop)."""

from __future__ import annotations

import json

import pytest
import websocket

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest, FeedClient, wait_until

HDFC = ("NSE_EQ", "1333")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    return DhanRest(sim, sim_account)


def test_a_bad_token_login_is_cut_without_a_close_frame(sim: Simulator, sim_account: SimAccount):
    feed = FeedClient(sim, sim_account, login=False)
    feed.login(sim_account.client_id, "wrong-token")
    assert feed.closed.wait(5)
    assert not feed.close_frame_received and feed.frames == []
    assert sim.admin.socket_count(sim_account.client_id) == 0


def test_a_bad_login_can_get_a_close_frame_by_switch(sim: Simulator, sim_account: SimAccount):
    sim.admin.set_switches(bad_login_close_frame=True)
    feed = FeedClient(sim, sim_account, login=False)
    feed.ws.send(json.dumps({"LoginReq": {"MsgCode": 41, "ClientId": "x"}, "UserType": "SELF"}))
    assert feed.closed.wait(5)
    assert feed.close_frame_received


@pytest.mark.parametrize("close_frame", [False, True])
def test_a_partner_login_is_refused_like_a_bad_login(
    sim: Simulator, sim_account: SimAccount, close_frame: bool
):
    # Partner logins (all users of a partner app) are not modelled: refused as a bad login is.
    sim.admin.set_switches(bad_login_close_frame=close_frame)
    feed = FeedClient(sim, sim_account, login=False)
    login = {"LoginReq": {"MsgCode": 42, "ClientId": sim_account.client_id}, "UserType": "PARTNER"}
    feed.ws.send(json.dumps({**login, "Secret": "partner-secret"}))
    assert feed.closed.wait(5)
    assert feed.close_frame_received is close_frame and feed.frames == []
    assert sim.admin.socket_count() == 0
    assert sim.admin.journal(kind="socket")[-1]["event"] == "login-rejected"


def test_login_gets_no_ack_and_the_first_frame_is_the_first_order_event(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0, correlationId="first")
    alert = feed.wait_alert(lambda a: a["Status"] == "PENDING")
    first = json.loads(feed.frames[0])
    assert first["Type"] == "order_alert" and first["Data"]["Status"] == "TRANSIT"
    assert alert["OrderNo"] == order_id and alert["CorrelationId"] == "first"
    assert alert["LastUpdatedTime"] and alert["ClientId"] == sim_account.client_id
    feed.close()


def test_frames_go_only_to_the_sockets_of_the_orders_account(sim: Simulator, rest: DhanRest):
    mine = FeedClient(sim, rest.account)
    second = FeedClient(sim, rest.account)
    other_account = new_account(sim)
    theirs = FeedClient(sim, other_account)
    order_id = rest.place_ok(price=900.0)
    mine.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    second.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    DhanRest(sim, other_account).place_ok(price=900.0)
    theirs.wait_alert(lambda a: a["Status"] == "PENDING")
    assert {a["ClientId"] for a in theirs.alerts()} == {other_account.client_id}
    assert {a["ClientId"] for a in mine.alerts()} == {rest.account.client_id}
    for feed in (mine, second, theirs):
        feed.close()


def test_every_order_event_of_the_account_reaches_its_socket(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)

    def events(order_id: str) -> list[tuple[str, float]]:
        return [(a["Status"], a["Price"]) for a in feed.alerts() if a["OrderNo"] == order_id]

    modified = rest.place_ok(price=900.0)
    feed.wait_alert(lambda a: a["OrderNo"] == modified and a["Status"] == "PENDING")
    assert rest.modify(modified, orderType="LIMIT", price=901.0).status_code == 200
    assert rest.call("DELETE", f"/orders/{modified}").status_code == 202
    wait_until(lambda: events(modified)[-1:] == [("CANCELLED", 901.0)])
    assert events(modified) == [
        ("TRANSIT", 900.0), ("PENDING", 900.0), ("PENDING", 901.0), ("CANCELLED", 901.0)
    ]  # fmt: skip
    rejected = rest.place_ok(orderType="STOP_LOSS_MARKET", triggerPrice=985.0, price=0)
    alert = feed.wait_alert(lambda a: a["OrderNo"] == rejected and a["Status"] == "REJECTED")
    assert "above LTP" in alert["ReasonDescription"]
    expired = rest.place_ok(price=900.0)
    feed.wait_alert(lambda a: a["OrderNo"] == expired and a["Status"] == "PENDING")
    assert sim.admin.end_of_day() == 1
    feed.wait_alert(lambda a: a["OrderNo"] == expired and a["Status"] == "EXPIRED")
    feed.close()


def test_quirks_add_camel_case_duplicates_and_title_case_statuses(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    sim.admin.set_switches(quirks=True)
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0)
    rest.wait_status(order_id, "PENDING")
    rest.call("DELETE", f"/orders/{order_id}")
    alert = feed.wait_alert(lambda a: a["Status"] == "Cancelled")
    assert list(alert)[:7] == [
        "series",
        "goodTillDaysDate",
        "instrumentType",
        "refLtp",
        "tickSize",
        "algoId",
        "multiplier",
    ]
    assert alert["refLtp"] == alert["RefLtp"] == 990.0
    feed.close()


def test_a_partial_fill_shows_on_the_socket_with_the_configured_status(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    sim.admin.set_switches(feed_part_traded_status="PART_TRADED")
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0, quantity=10)
    rest.wait_status(order_id, "PENDING")
    sim.admin.fill(order_id, quantity=3)
    alert = feed.wait_alert(lambda a: a["TradedQty"] == 3)
    assert (alert["Status"], alert["RemainingQuantity"]) == ("PART_TRADED", 7)
    feed.close()


def test_events_missed_while_disconnected_are_not_replayed(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    first = FeedClient(sim, sim_account)
    assert sim.admin.drop_order_sockets() == 1
    assert first.closed.wait(5) and not first.close_frame_received
    wait_until(lambda: sim.admin.socket_count(sim_account.client_id) == 0)
    missed = rest.place_ok(price=900.0)
    rest.wait_status(missed, "PENDING")
    second = FeedClient(sim, sim_account)
    later = rest.place_ok(price=901.0)
    second.wait_alert(lambda a: a["OrderNo"] == later and a["Status"] == "PENDING")
    assert missed not in {a["OrderNo"] for a in second.alerts()}
    second.close()


def test_the_server_pings_on_the_configured_interval(sim_factory):
    sim = sim_factory(ping_interval_s=0.05)
    account = new_account(sim)
    feed = FeedClient(sim, account)
    wait_until(lambda: feed.pings >= 2)
    feed.close()


def test_a_stalled_socket_answers_no_pings_and_delivers_no_frames(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    feed.ws.ping(b"before")
    wait_until(lambda: feed.pongs == 1)
    sim.admin.set_faults({"socket_stall": True})
    feed.ws.ping(b"during")
    stalled_order = rest.place_ok(price=900.0)
    rest.wait_status(stalled_order, "PENDING")
    wait_until(
        lambda: any(e["result"] == "dropped-stalled" for e in sim.admin.journal(kind="frame"))
    )
    assert feed.pongs == 1 and feed.alerts() == []
    sim.admin.clear_faults()
    wait_until(lambda: feed.pongs == 2)  # the held ping is read and answered at last
    order_id = rest.place_ok(price=901.0)
    feed.wait_alert(lambda a: a["OrderNo"] == order_id)
    assert stalled_order not in {a["OrderNo"] for a in feed.alerts()}
    feed.close()


def test_malformed_frames_are_injected_between_real_ones(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    sim.admin.set_faults({"socket_malformed_p": 1.0})
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0)
    feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    assert len(feed.frames) >= 4  # a broken frame before each of TRANSIT and PENDING
    good = {json.dumps(json.loads(f)) for f in feed.frames if _is_alert(f)}
    assert len(good) == 2
    feed.close()


def _is_alert(text: str) -> bool:
    try:
        frame = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(frame, dict)
        and frame.get("Type") == "order_alert"
        and isinstance(frame.get("Data"), dict)
        and isinstance(frame["Data"].get("OrderNo"), str)
    )


def test_a_socket_that_never_logs_in_is_not_registered(sim: Simulator, sim_account: SimAccount):
    ws = websocket.create_connection(sim.order_feed_url, timeout=5)
    ws.send("hello")
    with pytest.raises((websocket.WebSocketException, OSError)):
        ws.recv()
    assert sim.admin.socket_count() == 0


DOCUMENTED_KEYS = {
    "Exchange", "Segment", "Source", "SecurityId", "ClientId", "ExchOrderNo", "OrderNo",
    "Product", "TxnType", "OrderType", "Validity", "DiscQuantity", "DiscQtyRem",
    "RemainingQuantity", "Quantity", "TradedQty", "Price", "TriggerPrice", "TradedPrice",
    "AvgTradedPrice", "AlgoOrdNo", "OffMktFlag", "OrderDateTime", "ExchOrderTime",
    "LastUpdatedTime", "Remarks", "MktType", "ReasonDescription", "LegNo", "Instrument",
    "Symbol", "DisplayName", "Isin", "Series", "ProductName", "Status", "LotSize", "Multiplier",
    "StrikePrice", "ExpiryDate", "OptType", "GoodTillDaysDate", "RefLtp", "TickSize", "AlgoId",
    "CorrelationId",
}  # fmt: skip


def test_an_order_alert_carries_every_documented_field_and_nothing_in_camel_case(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0, transactionType="SELL", productType="CNC")
    alert = feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    assert set(alert) == DOCUMENTED_KEYS
    assert (alert["TxnType"], alert["Product"], alert["OrderType"]) == ("S", "C", "LMT")
    assert alert["ExchOrderNo"] and alert["OffMktFlag"] == "0" and alert["Source"] == "P"
    feed.close()


def test_order_alert_fields_have_the_types_of_dhans_sample(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    order_id = rest.place_ok(price=900.0, quantity=3)
    alert = feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    # AlgoOrdNo is a number (0: no CO/BO entry leg); GoodTillDaysDate a date (the order's day)
    assert alert["AlgoOrdNo"] == 0 and type(alert["AlgoOrdNo"]) is int
    assert alert["GoodTillDaysDate"] == alert["OrderDateTime"][:10]
    assert len(alert["GoodTillDaysDate"]) == len("2024-09-11")
    for key in ("DiscQuantity", "DiscQtyRem", "RemainingQuantity", "Quantity", "TradedQty"):
        assert type(alert[key]) is int, key
    for key in ("Price", "TriggerPrice", "TradedPrice", "AvgTradedPrice", "RefLtp", "TickSize"):
        assert type(alert[key]) in (int, float), key
    for key in ("SecurityId", "OrderNo", "ExchOrderNo", "AlgoId", "OffMktFlag", "ClientId"):
        assert type(alert[key]) is str, key
    assert type(alert["LegNo"]) is int and type(alert["LotSize"]) is int
    feed.close()


def test_a_socket_that_stops_reading_is_cut_when_its_queue_overflows_and_others_are_served(
    sim: Simulator,
):
    # Freeze quantity 1: one slicing request places 100 resting orders, 200 frames.
    sim.admin.set_switches(rate_limits=False)
    sim.admin.add_instruments(
        {"exchangeSegment": "NSE_EQ", "securityId": "9901", "symbol": "ONE", "freezeQty": 1}
    )
    sim.admin.set_ltp("NSE_EQ", "9901", 100.0)
    account = new_account(sim, balance=1e12)
    rest = DhanRest(sim, account)
    deaf = websocket.create_connection(sim.order_feed_url, timeout=10)  # never reads
    deaf.send(
        json.dumps(
            {
                "LoginReq": {
                    "MsgCode": 42,
                    "ClientId": account.client_id,
                    "Token": account.access_token,
                },
                "UserType": "SELF",
            }
        )
    )
    wait_until(lambda: sim.admin.socket_count(account.client_id) == 1)

    def overflowed() -> bool:
        answer = rest.place(
            "/orders/slicing", securityId="9901", quantity=100, price=50.0, orderType="LIMIT"
        )
        assert answer.status_code == 200, answer.text
        return any(e["event"] == "overflow-cut" for e in sim.admin.journal(kind="socket"))

    # 10,000 queued frames plus whatever the kernel buffers hold: well under 400 requests.
    wait_until(overflowed, timeout_s=60.0, poll_s=0.0)
    wait_until(lambda: sim.admin.socket_count(account.client_id) == 0)
    listener = FeedClient(sim, account)
    order_id = rest.place_ok(securityId="9901", price=60.0)
    listener.wait_alert(lambda a: a["OrderNo"] == order_id)
    listener.close()
    deaf.close()
