"""The REST client's transport: connections, framing, proxies, TLS and the NotSent split.

These are the behaviours that belong to the HTTP stack under ``DhanClient`` (urllib3), so they
are pinned here over real loopback sockets: a change of stack must not change any of them.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dhan.errors import NotSent, OutcomeUnknown, Rejected
from dhan.rest import DhanClient
from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan
from tests.unit.dhan.orders import market_buy
from tests.unit.dhan.raw_http import read_request, self_signed_cert
from tests.unit.dhan.waiting import wait_until

PROFILE = {"dhanClientId": CLIENT_ID}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class RawServer:
    """A raw TCP server on a free loopback port; ``handle`` gets each connection in turn."""

    def __init__(self) -> None:
        self._srv = socket.socket()
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(8)
        self.port = int(self._srv.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return  # closed by stop()
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._srv.close()


class SilentCloser(RawServer):
    """Reads each request in full, then closes without a byte of answer."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        head, _body, _rest = read_request(conn, b"")
        if head is not None:
            self.requests.append(head)


# --- connections ----------------------------------------------------------------------------


def test_calls_of_one_client_reuse_one_connection_and_clients_do_not_share(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("GET", "/profile", json_body=PROFILE)
    other = DhanClient(base_url=fake.url + "/v2", client_id=CLIENT_ID, access_token=TOKEN)
    try:
        for _ in range(5):
            client.profile()
        other.profile()
    finally:
        other.close()

    ports = [s.peer_port for s in fake.seen]
    assert len(set(ports[:5])) == 1
    assert ports[5] != ports[0]


def test_calls_after_close_open_a_new_connection(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/profile", json_body=PROFILE)

    client.profile()
    client.close()
    client.profile()

    assert fake.seen[0].peer_port != fake.seen[1].peer_port


# --- framing and answers --------------------------------------------------------------------


def test_the_wire_headers_are_those_the_requests_based_client_sent(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("DELETE", "/orders/42", status=202)
    fake.answer("GET", "/profile", json_body=PROFILE)

    client.cancel_order("42")
    client.profile()

    delete, get = fake.seen
    for seen in (delete, get):
        assert seen.headers["Accept-Encoding"] == "gzip, deflate"
        assert seen.headers["Accept"] == "application/json"
        assert seen.headers["Connection"] == "keep-alive"
        assert seen.headers["User-Agent"].startswith("copytrader/")
    assert delete.headers["Content-Length"] == "0"
    assert "Content-Length" not in get.headers and "Transfer-Encoding" not in get.headers


@pytest.mark.parametrize("coding", [web.ContentCoding.gzip, web.ContentCoding.deflate])
def test_a_compressed_answer_is_decoded(
    fake: FakeDhan, client: DhanClient, coding: web.ContentCoding
):
    async def compressed(_: web.Request) -> web.StreamResponse:
        resp = web.json_response(PROFILE | {"padding": "x" * 2000})
        resp.enable_compression(coding)
        return resp

    fake.on("GET", "/profile", compressed)

    assert client.profile().client_id == CLIENT_ID
    assert fake.seen[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_a_redirect_is_not_followed_so_the_order_and_token_stay_home(
    fake: FakeDhan, client: DhanClient
):
    elsewhere = FakeDhan().start()
    try:

        async def moved(_: web.Request) -> web.StreamResponse:
            return web.Response(status=307, headers={"Location": elsewhere.url + "/v2/orders"})

        fake.on("POST", "/orders", moved)

        with pytest.raises(Rejected) as info:
            client.place_order(market_buy())
    finally:
        elsewhere.stop()

    assert info.value.http_status == 307
    assert len(fake.seen) == 1
    assert elsewhere.seen == []


# --- what reached the server ----------------------------------------------------------------


def test_a_server_that_closes_without_answering_is_an_unknown_outcome_and_not_retried(
    client: DhanClient,
):
    server = SilentCloser()
    try:
        silent = DhanClient(
            base_url=f"http://127.0.0.1:{server.port}/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            read_timeout_s=2.0,
        )
        with silent, pytest.raises(OutcomeUnknown) as info:
            silent.place_order(market_buy())
    finally:
        server.stop()

    assert info.value.endpoint == "POST /orders"
    assert len(server.requests) == 1
    assert server.requests[0].startswith(b"POST /v2/orders ")
    assert TOKEN not in str(info.value)


def test_a_header_value_http_cannot_carry_is_not_sent_and_not_echoed(
    fake: FakeDhan, client: DhanClient
):
    client.update_token("secret-head\nsecret-tail")

    with pytest.raises(NotSent) as info:
        client.profile()

    assert fake.seen == []
    assert "secret" not in str(info.value) and "secret" not in repr(info.value)


# --- proxies --------------------------------------------------------------------------------


def test_proxy_credentials_in_the_url_authenticate_with_basic_auth(fake: FakeDhan):
    proxy = FakeDhan().start()
    try:
        proxy.answer("GET", "/profile", json_body=PROFILE)
        host_port = proxy.url.removeprefix("http://")
        with DhanClient(
            base_url="http://dhan.invalid/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            proxy=f"http://acct7:p%40ss-word@{host_port}",
        ) as proxied:
            proxied.profile()
    finally:
        proxy.stop()

    expected = "Basic " + base64.b64encode(b"acct7:p@ss-word").decode()
    assert proxy.seen[0].headers["Proxy-Authorization"] == expected
    assert fake.seen == []


def test_an_unreachable_proxy_is_not_sent_and_its_password_is_not_echoed():
    with (
        DhanClient(
            base_url="http://dhan.invalid/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            proxy=f"http://acct7:hunter2-pw@127.0.0.1:{free_port()}",
            connect_timeout_s=0.5,
        ) as proxied,
        pytest.raises(NotSent) as info,
    ):
        proxied.place_order(market_buy())

    assert "ProxyError" in str(info.value)
    assert "hunter2-pw" not in str(info.value) and TOKEN not in str(info.value)


class RefusingTunnelProxy(RawServer):
    """A raw HTTP proxy that records each CONNECT request head and refuses it with ``status``."""

    def __init__(self, status: str) -> None:
        self._answer = f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode()
        self.heads: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        head, _body, _rest = read_request(conn, b"")
        if head is not None:
            self.heads.append(head)
            conn.sendall(self._answer)


@pytest.mark.parametrize("status", ["403 Forbidden", "407 Proxy Authentication Required"])
def test_https_through_a_proxy_tunnels_with_connect_and_a_refused_tunnel_is_not_sent(status: str):
    proxy = RefusingTunnelProxy(status)
    try:
        with (
            DhanClient(
                base_url="https://api.dhan.invalid/v2",
                client_id=CLIENT_ID,
                access_token=TOKEN,
                proxy=f"http://acct7:hunter2-pw@127.0.0.1:{proxy.port}",
            ) as proxied,
            pytest.raises(NotSent) as info,
        ):
            proxied.place_order(market_buy())
    finally:
        proxy.stop()

    (head,) = proxy.heads
    assert head.startswith(b"CONNECT api.dhan.invalid:443 ")
    assert b"Proxy-Authorization: Basic " in head
    # the proxy sees only the tunnel request: the token and the order travel inside TLS
    assert TOKEN.encode() not in head and b"access-token" not in head.lower()
    assert status.split()[0] in str(info.value)
    assert "hunter2-pw" not in str(info.value) and TOKEN not in str(info.value)
    assert info.value.correlation_id == "Eabc-0123456789abcdef"


def test_a_proxy_is_reached_from_the_accounts_source_address(fake: FakeDhan, second_loopback: str):
    proxy = FakeDhan().start()
    try:
        proxy.answer("GET", "/profile", json_body=PROFILE)
        with DhanClient(
            base_url="http://dhan.invalid/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            proxy=proxy.url,
            source_address=second_loopback,
        ) as proxied:
            proxied.profile()
    finally:
        proxy.stop()

    assert proxy.seen[0].peer_ip == second_loopback
    assert proxy.seen[0].target == "http://dhan.invalid/v2/profile"
    assert fake.seen == []


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def untrusted_tls_port(tmp_path: Path) -> Iterator[int]:
    """A TLS server on loopback with a self-signed certificate no trust store knows."""
    cert, key = self_signed_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    received.append(tls.recv(65536))  # never reached: the client aborts
            except (OSError, ssl.SSLError):
                conn.close()  # the client refused our certificate: expected

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        srv.close()
        thread.join(2)
    assert received == []


def test_an_untrusted_certificate_is_not_sent(untrusted_tls_port: int):
    with (
        DhanClient(
            base_url=f"https://127.0.0.1:{untrusted_tls_port}/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
        ) as c,
        pytest.raises(NotSent) as info,
    ):
        c.place_order(market_buy())

    assert "certificate" in str(info.value).lower()


# --- against the simulator: nothing is resent behind the caller's back ----------------------


def _sim_client(sim: Simulator, account: SimAccount, read_timeout_s: float) -> DhanClient:
    return DhanClient(
        base_url=sim.rest_url,
        client_id=account.client_id,
        access_token=account.access_token,
        read_timeout_s=read_timeout_s,
    )


def test_a_post_that_timed_out_was_sent_exactly_once(sim: Simulator, sim_account: SimAccount):
    sim.admin.set_faults(
        {
            "per_endpoint": {
                "POST /orders": {
                    "timeout_p": 1.0,
                    "timeout_hold_s": 1.0,
                    "timeout_after_processing": True,
                }
            }
        }
    )
    with _sim_client(sim, sim_account, 0.3) as c, pytest.raises(OutcomeUnknown):
        c.place_order(market_buy("1333", cid=None))

    # a resend would have been made before the client gave up, and be processed at once
    assert len(sim.admin.orders(sim_account.client_id)) == 1

    def posts() -> list[dict[str, object]]:
        entries = sim.admin.journal(kind="rest", account=sim_account.client_id)
        return [e for e in entries if e["endpoint"] == "POST /orders"]

    assert wait_until(lambda: len(posts()) >= 1, timeout_s=5.0)
    assert [e["fault"] for e in posts()] == ["timeout"]


def test_a_post_accepted_then_dropped_is_an_unknown_outcome_sent_once(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.set_faults({"per_endpoint": {"POST /orders": {"accept_then_drop_p": 1.0}}})

    with _sim_client(sim, sim_account, 2.0) as c, pytest.raises(OutcomeUnknown):
        c.place_order(market_buy("1333", cid=None))

    assert len(sim.admin.orders(sim_account.client_id)) == 1
    entries = sim.admin.journal(kind="rest", account=sim_account.client_id)
    assert [e["fault"] for e in entries if e["endpoint"] == "POST /orders"] == ["accept-then-drop"]
