"""The direct path's keep-alive connections: reuse, staleness, bursts, TLS, and what was sent.

``DhanClient`` without a proxy runs on ``dhan.transport.DirectTransport``. A connection the
server closed while it was idle must be replaced before a POST goes out on it; an answer the
server never gave must not make anything be resent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dhan.errors import NotSent, OutcomeUnknown
from dhan.rest import DhanClient
from dhan.transport import DirectTransport
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan
from tests.unit.dhan.orders import market_buy
from tests.unit.dhan.raw_http import After, ScriptedHttpServer, answer, self_signed_cert
from tests.unit.dhan.waiting import wait_until

ACK = answer(b'{"orderId": "1", "orderStatus": "TRANSIT"}')
PROFILE = {"dhanClientId": CLIENT_ID}


def client_of(port: int, scheme: str = "http", **kw: object) -> DhanClient:
    return DhanClient(
        base_url=f"{scheme}://127.0.0.1:{port}/v2",
        client_id=CLIENT_ID,
        access_token=TOKEN,
        **kw,  # type: ignore[arg-type]  # test helper: the client checks its keywords
    )


def cids(server: ScriptedHttpServer) -> list[tuple[int, str]]:
    """(connection number, correlationId) of every request the server read."""
    return [(r.connection, json.loads(r.body)["correlationId"]) for r in server.received]


@pytest.fixture
def scripted() -> Iterator[list[ScriptedHttpServer]]:
    servers: list[ScriptedHttpServer] = []
    yield servers
    for s in servers:
        s.stop()


# --- staleness and reuse --------------------------------------------------------------------


def test_an_idle_connection_the_server_closed_is_replaced_and_the_post_is_sent_once(
    scripted: list[ScriptedHttpServer],
):
    # the first connection answers, then the server closes it while it idles in the pool
    server = ScriptedHttpServer(lambda conn, _: (ACK, After.CLOSE if conn == 0 else After.KEEP))
    scripted.append(server)

    with client_of(server.port) as c:
        c.place_order(market_buy(cid="cid-1"))
        assert server.fin_acknowledged.wait(5)
        ack = c.place_order(market_buy(cid="cid-2"))

    assert ack.order_id == "1"
    assert cids(server) == [(0, "cid-1"), (1, "cid-2")]


def test_a_post_on_a_reused_connection_the_server_drops_is_unknown_and_not_resent(
    scripted: list[ScriptedHttpServer],
):
    server = ScriptedHttpServer(lambda _, req: (ACK, After.KEEP if req == 0 else After.DROP))
    scripted.append(server)

    with client_of(server.port) as c:
        c.place_order(market_buy(cid="cid-1"))
        with pytest.raises(OutcomeUnknown) as info:
            c.place_order(market_buy(cid="cid-2"))

    assert info.value.correlation_id == "cid-2"
    assert cids(server) == [(0, "cid-1"), (0, "cid-2")]  # no second try on a new connection
    assert TOKEN not in str(info.value)


def test_an_answer_that_says_connection_close_is_not_reused(scripted: list[ScriptedHttpServer]):
    closing = answer(b'{"orderId": "1", "orderStatus": "TRANSIT"}', extra="Connection: close\r\n")
    server = ScriptedHttpServer(lambda _, __: (closing, After.KEEP))
    scripted.append(server)

    with client_of(server.port) as c:
        c.place_order(market_buy(cid="cid-1"))
        c.place_order(market_buy(cid="cid-2"))

    assert cids(server) == [(0, "cid-1"), (1, "cid-2")]


def test_a_malformed_status_line_is_an_unknown_outcome_sent_once(
    scripted: list[ScriptedHttpServer],
):
    server = ScriptedHttpServer(lambda _, __: (b"HTTP/1.1 two-hundred\r\n\r\n", After.KEEP))
    scripted.append(server)

    with client_of(server.port) as c, pytest.raises(OutcomeUnknown) as info:
        c.place_order(market_buy(cid="cid-1"))

    assert "BadStatusLine" in str(info.value)
    assert cids(server) == [(0, "cid-1")]


# --- a burst, and close() during a call ----------------------------------------------------


def gated(fake: FakeDhan, parties: int) -> None:
    """``GET /profile`` answers only once ``parties`` requests wait together (a burst)."""
    barrier = asyncio.Barrier(parties)

    async def handler(_: web.Request) -> web.StreamResponse:
        await barrier.wait()
        return web.json_response(PROFILE)

    fake.on("GET", "/profile", handler)


def burst(client: DhanClient, n: int) -> None:
    failures: list[BaseException] = []

    def call() -> None:
        try:
            client.profile()
        except BaseException as exc:  # collected and asserted on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert failures == []


def test_a_burst_opens_extra_connections_and_keeps_at_most_pool_maxsize(fake: FakeDhan):
    gated(fake, 4)
    with DhanClient(
        base_url=fake.url + "/v2", client_id=CLIENT_ID, access_token=TOKEN, pool_maxsize=2
    ) as c:
        burst(c, 4)
        burst(c, 4)

    first = {s.peer_port for s in fake.seen[:4]}
    second = {s.peer_port for s in fake.seen[4:]}
    assert len(first) == 4 and len(second) == 4
    assert len(first & second) == 2  # two were kept idle, two were closed on return


def test_a_connection_in_use_when_the_client_is_closed_is_not_kept(fake: FakeDhan):
    release = fake.server.run(_new_event)

    async def held(_: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response(PROFILE)

    fake.on("GET", "/profile", held)
    with DhanClient(base_url=fake.url + "/v2", client_id=CLIENT_ID, access_token=TOKEN) as c:
        caller = threading.Thread(target=c.profile)
        caller.start()
        assert wait_until(lambda: len(fake.seen) == 1, timeout_s=5.0)
        c.close()
        fake.server.call_soon(release.set)
        caller.join(10)
        c.profile()

    assert fake.seen[0].peer_port != fake.seen[1].peer_port


async def _new_event() -> asyncio.Event:
    return asyncio.Event()


def test_raw_deflate_without_the_zlib_wrapper_is_decoded(scripted: list[ScriptedHttpServer]):
    squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = squeezer.compress(json.dumps(PROFILE).encode()) + squeezer.flush()
    server = ScriptedHttpServer(
        lambda _, __: (answer(body, extra="Content-Encoding: deflate\r\n"), After.KEEP)
    )
    scripted.append(server)

    with client_of(server.port) as c:
        assert c.profile().client_id == CLIENT_ID


# --- before the request left: NotSent -------------------------------------------------------


def test_a_tls_handshake_the_server_breaks_off_is_not_sent():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    heard: list[bytes] = []

    def hang_up() -> None:
        conn, _ = srv.accept()
        with conn:
            heard.append(conn.recv(65536))  # the ClientHello, then we close on it

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        with client_of(srv.getsockname()[1], "https") as c, pytest.raises(NotSent) as info:
            c.place_order(market_buy(cid="cid-1"))
    finally:
        thread.join(5)
        srv.close()

    assert heard and heard[0][:1] == b"\x16"  # a TLS handshake record, not an HTTP request
    assert info.value.correlation_id == "cid-1"


# --- TLS against a certificate the transport trusts -----------------------------------------


@pytest.fixture
def trusted_cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


def test_https_answers_on_one_kept_alive_tls_connection(
    scripted: list[ScriptedHttpServer], trusted_cert: tuple[Path, Path]
):
    cert, key = trusted_cert
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = ScriptedHttpServer(lambda _, __: (ACK, After.KEEP), tls=tls)
    scripted.append(server)
    transport = DirectTransport(
        scheme="https",
        host="127.0.0.1",
        port=server.port,
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        ca_certs=str(cert),
    )
    try:
        answers = [
            transport.request("POST", "/v2/orders", {"X-N": str(n)}, b"{}") for n in range(3)
        ]
    finally:
        transport.close()

    assert [a.status for a in answers] == [200, 200, 200]
    assert json.loads(answers[0].body)["orderId"] == "1"
    assert [r.connection for r in server.received] == [0, 0, 0]
    assert server.received[0].head.startswith(b"POST /v2/orders HTTP/1.1\r\n")


# --- answers framed every way HTTP/1.1 allows -----------------------------------------------

PROFILE_JSON = json.dumps(PROFILE).encode()


def chunked(body: bytes, extra: str = "") -> bytes:
    half = len(body) // 2
    chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:]))
    return (
        (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n{extra}\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("wire", "after", "connections"),
    [
        (chunked(PROFILE_JSON), After.KEEP, [0, 0]),
        (b"HTTP/1.1 100 Continue\r\nX-Skip: 1\r\n\r\n" + answer(PROFILE_JSON), After.KEEP, [0, 0]),
        (answer(PROFILE_JSON, extra="not a header\r\ncontent-LENGTH: 0\r\n"), After.KEEP, [0, 0]),
        # the server would keep the connection, the client must not: the answer says close
        (answer(PROFILE_JSON, extra="Connection: keep-alive, close\r\n"), After.KEEP, [0, 1]),
        (answer(PROFILE_JSON, extra="Connection: keep-alive,\r\n close\r\n"), After.KEEP, [0, 1]),
        # no length: the body ends when the server closes the connection
        (
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + PROFILE_JSON,
            After.CLOSE,
            [0, 1],
        ),
    ],
    ids=["chunked", "100 continue", "junk line", "close", "folded close", "http/1.0 to EOF"],
)
def test_every_framing_of_an_answer_is_read_whole_and_reuse_follows_it(
    scripted: list[ScriptedHttpServer], wire: bytes, after: After, connections: list[int]
):
    server = ScriptedHttpServer(lambda _, __: (wire, after))
    scripted.append(server)

    with client_of(server.port, read_timeout_s=2.0) as c:
        first, second = c.profile(), c.profile()

    assert first.client_id == second.client_id == CLIENT_ID
    assert [r.connection for r in server.received] == connections


def test_a_bodiless_204_ends_at_its_head_and_the_connection_is_reused(
    scripted: list[ScriptedHttpServer],
):
    server = ScriptedHttpServer(lambda _, __: (b"HTTP/1.1 204 No Content\r\n\r\n", After.KEEP))
    scripted.append(server)

    with client_of(server.port) as c:
        assert c.cancel_order("42") is None
        assert c.cancel_order("43") is None

    assert [r.connection for r in server.received] == [0, 0]


def test_an_answer_with_too_many_header_lines_is_an_unknown_outcome(
    scripted: list[ScriptedHttpServer],
):
    flood = "".join(f"X-{n}: {n}\r\n" for n in range(150))
    server = ScriptedHttpServer(lambda _, __: (answer(PROFILE_JSON, extra=flood), After.KEEP))
    scripted.append(server)

    with client_of(server.port) as c, pytest.raises(OutcomeUnknown, match="more than 100"):
        c.profile()


# --- on_sent: the request has left, its answer not yet in -----------------------------------


def test_on_sent_runs_once_the_request_has_left_and_before_its_answer(
    scripted: list[ScriptedHttpServer],
):
    sent = threading.Event()
    seen_before_answer: list[bool] = []

    def script(_conn: int, _req: int) -> tuple[bytes, After]:
        # the request is in: the client must already have said so, without the answer
        seen_before_answer.append(sent.wait(5))
        return ACK, After.KEEP

    server = ScriptedHttpServer(script)
    scripted.append(server)
    calls: list[int] = []

    def on_sent() -> None:
        calls.append(1)
        sent.set()

    with client_of(server.port) as c:
        ack = c.place_order(market_buy(cid="cid-1"), on_sent=on_sent)

    assert ack.order_id == "1"
    assert seen_before_answer == [True]
    assert calls == [1]


def test_on_sent_is_not_called_for_a_request_that_never_left():
    with socket.socket() as s:  # a port nobody listens on: the connect is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    calls: list[int] = []

    with client_of(port) as c, pytest.raises(NotSent):
        c.place_order(market_buy(cid="cid-1"), on_sent=lambda: calls.append(1))

    assert calls == []
