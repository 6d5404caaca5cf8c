"""Static IP (``/ip/setIP``, ``/ip/modifyIP``, ``/ip/getIP``) and the ``static_ip`` switch: an
account with a registered IP accepts order writes only from it; reads stay free."""

from __future__ import annotations

from typing import Any

import pytest

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest
from tests.integration.test_sim_validation import assert_error

HDFC = ("NSE_EQ", "1333")


def register(rest: DhanRest, ip: str, flag: str = "PRIMARY", *, modify: bool = False) -> Any:
    body = {"dhanClientId": rest.account.client_id, "ip": ip, "ipFlag": flag}
    return rest.call("PUT" if modify else "POST", "/ip/modifyIP" if modify else "/ip/setIP", body)


@pytest.fixture
def account(sim: Simulator, sim_account: SimAccount) -> SimAccount:
    sim.admin.set_ltp(*HDFC, 990.0)
    return sim_account


def test_set_and_get_ip_answer_as_documented(sim: Simulator, account: SimAccount):
    rest = DhanRest(sim, account)
    assert rest.call("GET", "/ip/getIP").json() == {
        "dhanClientId": account.client_id,
        "primaryIP": "", "secondaryIP": "", "modifyDatePrimary": "", "modifyDateSecondary": "",
    }  # fmt: skip
    answer = register(rest, "127.0.0.2")
    assert answer.status_code == 200 and answer.json()["status"] == "SUCCESS", answer.text
    assert register(rest, "::1", "SECONDARY").status_code == 200
    got = rest.call("GET", "/ip/getIP").json()
    assert (got["primaryIP"], got["secondaryIP"]) == ("127.0.0.2", "::1")
    assert len(got["modifyDatePrimary"]) == len("2026-12-14")
    # a set IP is changed with modifyIP, and not within 7 days
    assert_error(register(rest, "127.0.0.3"), 400, "DH-906", "already set")
    assert_error(register(rest, "127.0.0.3", modify=True), 400, "DH-906", "cannot be modified")
    sim.admin.set_switches(static_ip_lock_days=0.0)
    assert register(rest, "127.0.0.3", modify=True).status_code == 200
    assert rest.call("GET", "/ip/getIP").json()["primaryIP"] == "127.0.0.3"


def test_an_ip_is_refused_when_malformed_or_registered_to_another_user(
    sim: Simulator, account: SimAccount
):
    rest = DhanRest(sim, account)
    assert_error(register(rest, "not-an-ip"), 400, "DH-905", "Invalid ip")
    assert_error(register(rest, "127.0.0.2", "TERTIARY"), 400, "DH-905", "ipFlag")
    assert register(rest, "127.0.0.2").status_code == 200
    other = DhanRest(sim, new_account(sim))
    assert_error(register(other, "127.0.0.2"), 400, "DH-905", "another user")


@pytest.mark.parametrize("code", ["DH-905", "DH-911"])
def test_with_static_ip_on_order_writes_come_only_from_the_registered_ip(
    sim: Simulator, account: SimAccount, code: str
):
    sim.admin.set_switches(static_ip=True, static_ip_error_code=code)
    home = DhanRest(sim, account, source_ip="127.0.0.2")
    elsewhere = DhanRest(sim, account, source_ip="127.0.0.3")
    assert register(elsewhere, "127.0.0.2").status_code == 200  # set from anywhere
    order_id = home.place_ok(price=985.0)
    refused = elsewhere.place(price=985.0)
    status = 400 if code == "DH-905" else 403
    assert_error(refused, status, code, "Invalid IP: 127.0.0.3")
    assert_error(elsewhere.modify(order_id, price=984.0), status, code, "Invalid IP")
    assert_error(elsewhere.call("DELETE", f"/orders/{order_id}"), status, code, "Invalid IP")
    assert_error(elsewhere.call("DELETE", "/positions"), status, code, "Invalid IP")
    # reads stay free, and the refused writes changed nothing
    assert [o["orderId"] for o in elsewhere.book()] == [order_id]
    assert elsewhere.order(order_id)["price"] == 985.0
    assert elsewhere.call("GET", "/positions").status_code == 200
    assert home.call("DELETE", f"/orders/{order_id}").status_code == 202
    journal = sim.admin.journal(kind="rest", account=account.client_id)
    assert [e["errorCode"] for e in journal if e["status"] in (400, 403)] == [code] * 4


def test_static_ip_off_or_no_registered_ip_accepts_writes_from_anywhere(
    sim: Simulator, account: SimAccount
):
    elsewhere = DhanRest(sim, account, source_ip="127.0.0.3")
    sim.admin.set_switches(static_ip=True)
    elsewhere.place_ok(price=985.0)  # no IP registered yet
    assert register(elsewhere, "127.0.0.2").status_code == 200
    assert elsewhere.place(price=985.0).status_code == 400
    sim.admin.set_switches(static_ip=False)
    elsewhere.place_ok(price=985.0)


def test_the_secondary_ip_is_accepted_too(sim: Simulator, account: SimAccount):
    sim.admin.set_switches(static_ip=True)
    rest = DhanRest(sim, account, source_ip="127.0.0.4")
    assert register(rest, "127.0.0.2").status_code == 200
    assert rest.place(price=985.0).status_code == 400
    assert register(rest, "127.0.0.4", "SECONDARY").status_code == 200
    rest.place_ok(price=985.0)
