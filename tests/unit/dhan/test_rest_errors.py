"""Every way a REST call can fail maps to the right ``dhan.errors`` class, token-free."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dhan.codes import OrderType, Validity
from dhan.errors import (
    AuthError,
    BadResponse,
    DhanError,
    InputError,
    NotFound,
    NotSent,
    OrderError,
    OutcomeUnknown,
    RateLimited,
    StaticIpRefused,
    is_static_ip_refusal,
)
from dhan.models import ModifyRequest
from dhan.rest import DhanClient
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan
from tests.unit.dhan.orders import CID, market_buy


def dh_error(code: str, message: str, error_type: str = "Order_Error") -> dict[str, str]:
    return {"errorType": error_type, "errorCode": code, "errorMessage": message}


def assert_token_free(exc: BaseException) -> None:
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)
    assert TOKEN not in repr(exc.args)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen backlog is full, so new connections are never accepted."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            c = socket.socket()
            c.settimeout(0.2)
            fillers.append(c)
            try:
                c.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.skip("the kernel kept accepting connections; cannot provoke a connect timeout")
        yield port
    finally:
        for c in fillers:
            c.close()
        srv.close()


def test_connection_refused_is_not_sent(closed_port: int):
    with (
        DhanClient(
            base_url=f"http://127.0.0.1:{closed_port}/v2", client_id=CLIENT_ID, access_token=TOKEN
        ) as c,
        pytest.raises(NotSent) as info,
    ):
        c.place_order(market_buy())

    assert info.value.endpoint == "POST /orders"
    assert info.value.correlation_id == CID
    assert "Connection refused" in str(info.value) or "refused" in str(info.value).lower()
    assert_token_free(info.value)


def test_an_unresolvable_host_is_not_sent():
    with (
        DhanClient(
            base_url="http://no-such-host.invalid/v2", client_id=CLIENT_ID, access_token=TOKEN
        ) as c,
        pytest.raises(NotSent),
    ):
        c.profile()


def test_a_connect_timeout_is_not_sent(full_backlog: int):
    with (
        DhanClient(
            base_url=f"http://127.0.0.1:{full_backlog}/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            connect_timeout_s=0.2,
        ) as c,
        pytest.raises(NotSent) as info,
    ):
        c.place_order(market_buy())

    assert "ConnectTimeout" in str(info.value) or "timed out" in str(info.value)


def test_a_read_timeout_is_an_unknown_outcome(fake: FakeDhan, client: DhanClient):
    fake.hang("POST", "/orders")

    with pytest.raises(OutcomeUnknown) as info:
        client.place_order(market_buy())

    assert info.value.correlation_id == CID
    assert info.value.endpoint == "POST /orders"
    assert len(fake.seen) == 1  # it did reach the server: exactly why the outcome is unknown


def test_a_connection_reset_after_sending_is_an_unknown_outcome(fake: FakeDhan, client: DhanClient):
    fake.reset("POST", "/orders")

    with pytest.raises(OutcomeUnknown):
        client.place_order(market_buy())

    assert len(fake.seen) == 1


def test_nothing_is_retried_behind_the_callers_back(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", status=503, body="<html>busy</html>", content_type="text/html")

    with pytest.raises(OutcomeUnknown):
        client.place_order(market_buy())

    assert len(fake.seen) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_with_an_html_body_is_an_unknown_outcome_with_a_short_excerpt(
    fake: FakeDhan, client: DhanClient, status: int
):
    page = "<html><body><h1>Bad Gateway</h1>" + "x" * 5000 + TOKEN + "</body></html>"
    fake.answer("POST", "/orders", status=status, body=page, content_type="text/html")

    with pytest.raises(OutcomeUnknown) as info:
        client.place_order(market_buy())

    assert info.value.http_status == status
    assert "Bad Gateway" in str(info.value)
    assert len(str(info.value)) < 400
    assert_token_free(info.value)


def test_a_5xx_with_a_json_body_but_no_code_is_an_unknown_outcome(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("PUT", "/orders/1", status=500, json_body={"message": "internal"})

    with pytest.raises(OutcomeUnknown):
        client.modify_order("1", ModifyRequest(OrderType.LIMIT, 1, 10.0, None, Validity.DAY))


@pytest.mark.parametrize("code", ["DH-908", "DH-909"])
def test_dh_908_and_909_are_unknown_outcomes(fake: FakeDhan, client: DhanClient, code: str):
    fake.answer("POST", "/orders", status=500, json_body=dh_error(code, "backend trouble"))

    with pytest.raises(OutcomeUnknown) as info:
        client.place_order(market_buy())

    assert info.value.code == code


def test_dh_904_is_rate_limited_with_every_detail(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "POST",
        "/orders",
        status=429,
        json_body=dh_error("DH-904", "Too many requests", "Rate_Limit"),
    )

    with pytest.raises(RateLimited) as info:
        client.place_order(market_buy())

    err = info.value
    assert (err.code, err.http_status, err.endpoint, err.correlation_id) == (
        "DH-904",
        429,
        "POST /orders",
        CID,
    )
    assert "Too many requests" in str(err)


def test_dh_904_under_a_400_is_still_rate_limited(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", status=400, json_body=dh_error("DH-904", "slow down"))

    with pytest.raises(RateLimited):
        client.place_order(market_buy())


def test_a_bare_429_is_rate_limited(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders", status=429, body="")

    with pytest.raises(RateLimited) as info:
        client.list_orders()

    assert info.value.http_status == 429


def test_the_data_api_error_form_keeps_its_numeric_code(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "GET",
        "/orders",
        status=429,
        json_body={"status": "failed", "data": {"805": "Too many requests."}},
    )

    with pytest.raises(RateLimited) as info:
        client.list_orders()

    assert info.value.code == "805"


@pytest.mark.parametrize(
    ("http_status", "code", "message", "refusal"),
    [
        (400, "DH-905", "Invalid IP: 127.0.0.9 is not a static IP registered", True),
        (400, "DH-905", "invalid ip", True),
        (403, "DH-911", "Invalid IP", True),
        (403, "DH-911", "Request from a non-whitelisted IP", True),
        (403, None, "Invalid IP address", True),
        (400, "DH-905", "Missing required fields", False),
        (400, "DH-905", "Invalid price", False),
        (400, "DH-906", "Invalid IP", False),  # an order error whatever its text
        (401, "DH-901", "Client ID or user generated access token is invalid", False),
        (404, "DH-905", "Invalid IP", False),  # 404: no such order
        (500, "DH-908", "Invalid IP", False),  # an unknown outcome stays unknown
        (502, None, "Invalid IP", False),
    ],
)
def test_a_write_refused_for_its_source_address_is_told_from_every_other_rejection(
    http_status: int, code: str | None, message: str, refusal: bool
):
    assert is_static_ip_refusal(http_status=http_status, code=code, message=message) is refusal


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("DH-901", "Client ID or user generated access token is invalid or expired.", AuthError),
        ("DH-906", "Invalid Token", AuthError),
        ("DH-905", "Missing required fields", InputError),
        ("DH-906", "Market is Closed! Want to place an offline order?", OrderError),
        ("DH-905", "Invalid IP: 127.0.0.9 is not a static IP registered", StaticIpRefused),
        ("DH-911", "Invalid IP", StaticIpRefused),
    ],
)
def test_dh_rejections_are_classified_by_code_and_message(
    fake: FakeDhan, client: DhanClient, code: str, message: str, expected: type[DhanError]
):
    fake.answer("POST", "/orders", status=400, json_body=dh_error(code, message))

    with pytest.raises(expected) as info:
        client.place_order(market_buy())

    assert type(info.value) is expected
    assert info.value.code == code and message in str(info.value)


def test_an_error_body_under_a_200_is_still_an_error(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", json_body=dh_error("DH-905", "Invalid IP"))

    with pytest.raises(StaticIpRefused):
        client.place_order(market_buy())


def test_a_token_echoed_by_the_server_is_redacted(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "GET", "/profile", status=401, json_body=dh_error("DH-901", f"token {TOKEN} expired")
    )

    with pytest.raises(AuthError) as info:
        client.profile()

    assert "token *** expired" in str(info.value)
    assert_token_free(info.value)


def test_a_token_cut_by_the_excerpt_of_a_codeless_error_body_leaves_no_prefix(
    fake: FakeDhan, client: DhanClient
):
    # json.dumps gives '{"detail": "xxx...' (12 chars of prefix): the 200-char cut falls
    # in the middle of the token
    fake.answer("GET", "/profile", status=400, json_body={"detail": "x" * 180 + TOKEN})

    with pytest.raises(DhanError) as info:
        client.profile()

    assert info.value.http_status == 400
    assert TOKEN[:8] not in str(info.value)
    assert_token_free(info.value)


def test_an_unknown_order_is_not_found(fake: FakeDhan, client: DhanClient):
    with pytest.raises(NotFound) as info:
        client.get_order("404404")

    assert info.value.endpoint == "GET /orders/404404"


def test_a_2xx_with_unparseable_json_is_a_bad_response(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", body='{"orderId": "1", "orderSt')

    with pytest.raises(BadResponse) as info:
        client.place_order(market_buy())

    assert "not JSON" in str(info.value)
    assert info.value.http_status == 200 and info.value.correlation_id == CID


def test_an_empty_200_where_an_order_ack_is_due_is_a_bad_response(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("POST", "/orders", body="")

    with pytest.raises(BadResponse, match="empty body") as info:
        client.place_order(market_buy())

    err = info.value
    assert (err.http_status, err.endpoint, err.correlation_id) == (200, "POST /orders", CID)


def test_a_missing_required_field_names_the_field_and_endpoint(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", json_body={"orderId": "1"})

    with pytest.raises(BadResponse) as info:
        client.place_order(market_buy())

    assert str(info.value).startswith("orderStatus: missing")
    err = info.value
    assert (err.http_status, err.endpoint, err.correlation_id) == (200, "POST /orders", CID)
    assert_token_free(err)


def test_a_bad_record_from_a_lookup_by_correlation_id_carries_that_id(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("GET", f"/orders/external/{CID}", status=201, json_body=[{"orderId": "1"}])

    with pytest.raises(BadResponse) as info:
        client.get_order_by_correlation_id(CID)

    err = info.value
    assert str(err).startswith("[0].quantity: missing")
    assert (err.http_status, err.endpoint, err.correlation_id) == (
        201,
        f"GET /orders/external/{CID}",
        CID,
    )


def test_a_2xx_body_nested_beyond_reason_is_a_bad_response(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders", body="[" * 100_000 + "]" * 100_000)

    with pytest.raises(BadResponse, match="not JSON") as info:
        client.list_orders()

    assert info.value.http_status == 200


def test_an_error_body_nested_beyond_reason_is_classified_by_its_status(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("POST", "/orders", status=503, body="[" * 100_000 + "]" * 100_000)

    with pytest.raises(OutcomeUnknown) as info:
        client.place_order(market_buy())

    assert info.value.http_status == 503 and len(str(info.value)) < 400


def test_a_bad_row_in_a_list_names_its_index(fake: FakeDhan, client: DhanClient):
    good = {
        "orderId": "1",
        "orderStatus": "PENDING",
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "CNC",
        "orderType": "LIMIT",
        "securityId": "1",
        "quantity": 1,
    }
    fake.answer("GET", "/orders", json_body=[good, good | {"orderStatus": "SIDEWAYS"}])

    with pytest.raises(BadResponse) as info:
        client.list_orders()

    assert str(info.value).startswith("[1].orderStatus: unknown OrderStatus 'SIDEWAYS'")


def test_a_list_endpoint_answering_an_object_is_a_bad_response(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/positions", json_body={"unexpected": "shape"})

    with pytest.raises(BadResponse, match="expected a JSON array") as info:
        client.positions()

    assert (info.value.http_status, info.value.endpoint) == (200, "GET /positions")
