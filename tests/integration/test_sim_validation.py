"""Every validation rule of the simulator answers like Dhan: a DH code, a real message, no 500."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    return DhanRest(sim, sim_account)


def assert_error(response: Any, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errorType", "errorCode", "errorMessage"}
    assert body["errorCode"] == code
    assert fragment.lower() in body["errorMessage"].lower(), body["errorMessage"]


BAD_PLACE_FIELDS = [
    ({"transactionType": "HOLD"}, "Invalid transactionType"),
    ({"transactionType": None}, "Missing required field: transactionType"),
    ({"exchangeSegment": "NSE"}, "Invalid exchangeSegment"),
    ({"exchangeSegment": "IDX_I"}, "not tradable"),
    ({"productType": "MIS"}, "Invalid productType"),
    ({"orderType": "LMT"}, "Invalid orderType"),
    ({"validity": "GTC"}, "Invalid validity"),
    ({"securityId": "999999"}, "Invalid securityId"),
    ({"securityId": None}, "Missing required field: securityId"),
    ({"quantity": 0}, "greater than 0"),
    ({"quantity": -5}, "greater than 0"),
    ({"quantity": "ten"}, "must be an integer"),
    ({"quantity": None}, "Missing required field: quantity"),
    ({"quantity": "--5"}, "must be an integer"),
    ({"quantity": "\u00b2"}, "must be an integer"),
    ({"quantity": "\u0663"}, "must be an integer"),
    ({"quantity": 2**31}, "at most 2147483647"),
    ({"quantity": 10**400}, "at most 2147483647"),
    ({"price": 10**400}, "must be at most"),
    ({"price": 1e-9}, "multiples of tick size"),
    ({"price": 985.03}, "multiples of tick size"),
    ({"price": 0}, "price is required"),
    ({"price": -1}, "must not be negative"),
    ({"orderType": "STOP_LOSS", "triggerPrice": 0}, "triggerPrice is required"),
    ({"orderType": "STOP_LOSS_MARKET", "triggerPrice": None}, "triggerPrice is required"),
    (
        {"orderType": "STOP_LOSS", "price": 990.0, "triggerPrice": 995.0},
        "must not exceed the price",
    ),
    ({"orderType": "STOP_LOSS_MARKET", "triggerPrice": 995.02}, "multiples of tick size"),
    ({"correlationId": "x" * 31}, "at most 30 characters"),
    ({"correlationId": "has space"}, "only letters, digits"),
    ({"correlationId": "dot.not.allowed"}, "only letters, digits"),
    ({"correlationId": "trailing-newline\n"}, "only letters, digits"),
    ({"disclosedQuantity": 1, "quantity": 10}, "at least 30%"),
    ({"disclosedQuantity": 11, "quantity": 10}, "between 0 and quantity"),
    ({"dhanClientId": None}, "Missing required field: dhanClientId"),
    ({"dhanClientId": "9999999999"}, "does not match"),
    ({"afterMarketOrder": True}, "Missing required field: amoTime"),
    ({"productType": "CNC", "exchangeSegment": "NSE_FNO", "securityId": "52175",
      "quantity": 65, "price": 25150.0}, "only for equity"),
    ({"productType": "MARGIN"}, "not allowed for equity"),
    ({"productType": "CO", "triggerPrice": 0}, "required for a cover order"),
    ({"productType": "CO", "triggerPrice": 990.0}, "stop-loss must be below"),
    ({"productType": "BO", "boProfitValue": None, "boStopLossValue": 5}, "required for a bracket"),
    ({"productType": "BO", "orderType": "STOP_LOSS", "triggerPrice": 980.0,
      "boProfitValue": 5, "boStopLossValue": 5}, "only LIMIT or MARKET"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "message"), BAD_PLACE_FIELDS)
def test_a_bad_place_request_is_refused_with_dh905_and_names_the_problem(
    rest: DhanRest, fields: dict[str, Any], message: str
):
    assert_error(rest.place(**fields), 400, "DH-905", message)


#: Field names of every order-writing body, and values a careless or hostile client might send.
FUZZ_FIELDS = (
    "dhanClientId", "transactionType", "exchangeSegment", "productType", "orderType",
    "validity", "securityId", "quantity", "price", "triggerPrice", "disclosedQuantity",
    "afterMarketOrder", "amoTime", "boProfitValue", "boStopLossValue", "correlationId",
    "legName", "orderId", "targetPrice", "stopLossPrice", "trailingJump",
)  # fmt: skip
FUZZ_WORDS = (
    "BUY", "SELL", "LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_MARKET", "CNC", "INTRADAY",
    "MARGIN", "MTF", "CO", "BO", "DAY", "IOC", "NSE_EQ", "NSE_FNO", "IDX_I", "1333", "52175",
    "60101", "ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG", "NA", "OPEN", "--1", "\u00b2", "1e5",
)  # fmt: skip
FUZZ_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**31, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(FUZZ_WORDS),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FUZZ_ENDPOINTS = (
    ("POST", "/orders"),
    ("POST", "/orders/slicing"),
    ("PUT", "/orders/{order}"),
    ("POST", "/super/orders"),
    ("PUT", "/super/orders/{super}"),
)


def test_no_order_body_however_malformed_gets_a_500(sim_factory):
    sim = sim_factory(rate_limits=False)
    rest = DhanRest(sim, new_account(sim, balance=1e12))
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    order = rest.place_ok(price=900.0)
    super_body = {
        "dhanClientId": rest.account.client_id, "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ", "productType": "INTRADAY", "orderType": "LIMIT",
        "securityId": "1333", "quantity": 1, "price": 985.0, "targetPrice": 1000.0,
        "stopLossPrice": 980.0, "trailingJump": 0.0,
    }  # fmt: skip
    super_id = rest.call("POST", "/super/orders", super_body).json()["orderId"]

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        endpoint=st.sampled_from(FUZZ_ENDPOINTS),
        changes=st.dictionaries(st.sampled_from(FUZZ_FIELDS), FUZZ_VALUES, min_size=1, max_size=2),
    )
    def never_500(endpoint: tuple[str, str], changes: dict[str, Any]) -> None:
        # Each example breaks a valid body with one or two junk fields.
        method, path = endpoint
        base = super_body if "super" in path else {
            "dhanClientId": rest.account.client_id, "transactionType": "BUY",
            "exchangeSegment": "NSE_EQ", "productType": "INTRADAY", "orderType": "LIMIT",
            "validity": "DAY", "securityId": "1333", "quantity": 1, "price": 985.0,
        }  # fmt: skip
        path = path.format(order=order, super=super_id)
        response = rest.call(method, path, {**base, **changes})
        assert response.status_code < 500, (method, path, changes, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"errorType", "errorCode", "errorMessage"}

    never_500()
    served = sim.admin.journal(kind="rest", account=rest.account.client_id)
    assert len(served) > 200
    assert not [e for e in served if (e["status"] or 0) >= 500]


def test_quantity_must_be_a_multiple_of_the_lot_size(rest: DhanRest):
    response = rest.place(exchangeSegment="NSE_FNO", securityId="52175", quantity=60, price=25150.0)
    assert_error(response, 400, "DH-905", "multiples of lot size 65")
    ok = rest.place(exchangeSegment="NSE_FNO", securityId="52175", quantity=130, price=25150.0)
    assert ok.status_code == 200, ok.text


def test_index_futures_use_their_own_tick_size(rest: DhanRest):
    response = rest.place(
        exchangeSegment="NSE_FNO", securityId="52175", quantity=65, price=25150.05
    )
    assert_error(response, 400, "DH-905", "tick size 0.1")


def test_a_body_that_is_not_json_or_not_an_object_is_dh905(rest: DhanRest):
    raw = rest.session.post(rest.base + "/orders", data=b"{not json", timeout=5)
    assert_error(raw, 400, "DH-905", "not valid JSON")
    assert_error(rest.call("POST", "/orders", [1, 2]), 400, "DH-905", "JSON object")


def test_the_sdk_style_nulls_for_unused_fields_are_accepted(rest: DhanRest):
    response = rest.place(
        boProfitValue=None, boStopLossValue=None, amoTime=None, triggerPrice=0.0,
        disclosedQuantity=0, afterMarketOrder=False,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["orderStatus"] == "TRANSIT"


def test_a_thirty_char_correlation_id_of_the_allowed_charset_is_accepted(rest: DhanRest):
    cid = "Ab0_-" * 6
    order_id = rest.place_ok(correlationId=cid)
    assert rest.order(order_id)["correlationId"] == cid


def test_missing_or_wrong_credentials_are_dh901_with_401(sim: Simulator, sim_account: SimAccount):
    rest = DhanRest(sim, sim_account)
    for headers in (
        {"access-token": "wrong"},
        {"access-token": ""},
        {"client-id": "1000000999"},
    ):
        response = rest.session.get(rest.base + "/orders", headers=headers, timeout=5)
        assert_error(response, 401, "DH-901", "invalid or expired")


def test_a_call_with_only_the_access_token_is_served_as_dhan_documents_it(rest: DhanRest):
    # requests drops a header set to None: this call carries access-token alone
    no_client_id = rest.session.get(rest.base + "/orders", headers={"client-id": None}, timeout=5)
    assert no_client_id.status_code == 200, no_client_id.text
    body = {
        "dhanClientId": rest.account.client_id, "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ", "productType": "INTRADAY", "orderType": "LIMIT",
        "validity": "DAY", "securityId": "1333", "quantity": 1, "price": 985.0,
    }  # fmt: skip
    placed = rest.session.post(
        rest.base + "/orders", json=body, headers={"client-id": None}, timeout=5
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["orderStatus"] == "TRANSIT"


def test_require_client_id_header_refuses_a_call_without_it(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.set_switches(require_client_id_header=True)
    rest = DhanRest(sim, sim_account)
    no_client_id = rest.session.get(rest.base + "/orders", headers={"client-id": None}, timeout=5)
    assert_error(no_client_id, 401, "DH-901", "invalid or expired")
    assert rest.call("GET", "/orders").status_code == 200


def test_an_expired_token_is_refused_and_a_rotated_token_works(
    sim: Simulator, sim_account: SimAccount
):
    rest = DhanRest(sim, sim_account)
    sim.admin.expire_token(sim_account.client_id)
    assert_error(rest.call("GET", "/orders"), 401, "DH-901", "invalid or expired")
    sim.admin.set_switches(expired_token_code="DH-906")
    assert_error(rest.call("GET", "/profile"), 401, "DH-906", "Invalid Token")
    sim.admin.rotate_token(sim_account.client_id, "fresh-token")
    assert_error(rest.call("GET", "/orders"), 401, "DH-901", "invalid or expired")
    fresh = DhanRest(sim, SimAccount(sim_account.client_id, "fresh-token"))
    assert fresh.call("GET", "/profile").json()["dhanClientId"] == sim_account.client_id


def test_unknown_order_id_and_correlation_id_are_404_dh905(rest: DhanRest):
    assert_error(rest.call("GET", "/orders/123"), 404, "DH-905", "Order not found")
    assert_error(rest.call("GET", "/orders/external/nope"), 404, "DH-905", "Order not found")
    assert_error(rest.call("DELETE", "/orders/123"), 404, "DH-905", "Order not found")
    assert_error(rest.modify("123", orderType="LIMIT"), 404, "DH-905", "Order not found")
    assert_error(rest.call("GET", "/trades/123"), 404, "DH-905", "Order not found")


def test_another_accounts_order_is_not_found(sim: Simulator, rest: DhanRest):
    other = DhanRest(sim, new_account(sim))
    order_id = other.place_ok()
    assert_error(rest.call("GET", f"/orders/{order_id}"), 404, "DH-905", "Order not found")
    assert_error(rest.call("DELETE", f"/orders/{order_id}"), 404, "DH-905", "Order not found")


def test_an_unknown_path_is_a_json_404_not_a_traceback(rest: DhanRest):
    response = rest.call("GET", "/nope")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "DH-905"


def test_insufficient_funds_is_dh906_with_the_required_margin(sim: Simulator):
    poor = DhanRest(sim, new_account(sim, balance=1000.0))
    response = poor.place(productType="CNC", quantity=10, price=985.0)
    assert_error(response, 400, "DH-906", "insufficient funds")
    assert "9850.00" in response.json()["errorMessage"]


def test_insufficient_funds_can_come_back_as_an_rms_rejected_order(sim: Simulator):
    sim.admin.set_switches(rms_reject_as_order=True)
    poor = DhanRest(sim, new_account(sim, balance=1000.0))
    order_id = poor.place_ok(productType="CNC", quantity=10, price=985.0)
    order = poor.wait_status(order_id, "REJECTED")
    assert "insufficient funds" in order["omsErrorDescription"]


def test_a_terminal_order_cannot_be_modified_or_cancelled(rest: DhanRest):
    order_id = rest.place_ok()
    rest.wait_status(order_id, "PENDING")
    assert rest.call("DELETE", f"/orders/{order_id}").status_code == 202
    assert_error(rest.modify(order_id, orderType="LIMIT", price=986.0), 400, "DH-906", "CANCELLED")
    assert_error(rest.call("DELETE", f"/orders/{order_id}"), 400, "DH-906", "CANCELLED")


def test_the_26th_modification_of_an_order_is_refused(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(rate_limits=False)  # 26 writes in a burst exceed 10/s
    order_id = rest.place_ok(price=900.0)
    rest.wait_status(order_id, "PENDING")
    for i in range(25):
        response = rest.modify(order_id, orderType="LIMIT", price=900.0 + (i + 1) * 0.05)
        assert response.status_code == 200, (i, response.text)
    assert_error(rest.modify(order_id, orderType="LIMIT", price=950.0), 400, "DH-906", "25")


def test_modify_validates_like_place(rest: DhanRest):
    order_id = rest.place_ok(price=900.0)
    rest.wait_status(order_id, "PENDING")
    assert_error(rest.modify(order_id, price=900.01), 400, "DH-905", "tick size")
    assert_error(rest.modify(order_id, quantity=0), 400, "DH-905", "greater than 0")
    assert_error(rest.modify(order_id, orderType="STOP"), 400, "DH-905", "Invalid orderType")
    assert_error(rest.modify("other", orderType="LIMIT"), 404, "DH-905", "not found")
    body = {"dhanClientId": rest.account.client_id, "orderId": "1", "price": 901.0}
    assert_error(rest.call("PUT", f"/orders/{order_id}", body), 400, "DH-905", "does not match")


def test_kill_switch_blocks_new_orders(rest: DhanRest):
    response = rest.call("POST", "/killswitch?killSwitchStatus=ACTIVATE")
    assert response.status_code == 200
    assert "activated" in response.json()["killSwitchStatus"]
    assert rest.call("GET", "/killswitch").json()["killSwitchStatus"] == "ACTIVATE"
    assert_error(rest.place(), 400, "DH-906", "Kill switch is active")
    assert rest.call("POST", "/killswitch?killSwitchStatus=DEACTIVATE").status_code == 200
    assert rest.place().status_code == 200


def test_super_order_validation(rest: DhanRest):
    base = {
        "dhanClientId": rest.account.client_id,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "securityId": "1333",
        "quantity": 1,
        "price": 985.0,
        "targetPrice": 1000.0,
        "stopLossPrice": 980.0,
        "trailingJump": 0.0,
    }
    for change, fragment in (
        ({"targetPrice": 980.0}, "targetPrice must be above"),
        ({"stopLossPrice": 990.0}, "stopLossPrice must be below"),
        ({"orderType": "STOP_LOSS"}, "LIMIT or MARKET"),
        ({"productType": "CO"}, "CNC, INTRADAY, MARGIN or MTF"),
        ({"targetPrice": 0, "stopLossPrice": 0}, "targetPrice or stopLossPrice is required"),
        ({"trailingJump": 0.03}, "tick size"),
    ):
        response = rest.call("POST", "/super/orders", {**base, **change})
        assert_error(response, 400, "DH-905", fragment)
    assert rest.call("POST", "/super/orders", base).status_code == 200
