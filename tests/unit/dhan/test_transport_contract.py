"""The transport contract: the direct and the proxy transport answer every failure the same way.

One table of what can happen to a request, run against both transports over real loopback
sockets (the proxy transport through a real forward proxy, ``forward_proxy.py``). Each row
says what the transport must do: return the answer (any status; a redirect is not followed),
raise ``NotSent`` (no byte left: resending is safe) or raise ``SentUnknown`` (the request may
have been written: resolve it by correlationId). ``on_sent`` never runs for a request that was
not sent and always for an answered one; for an unanswered one it runs where the transport
says it does (direct: once written; proxy: once answered, so never). No message carries the
token or the proxy's password. The second test holds ``DhanClient`` to mapping each outcome to
``dhan.errors`` as it always has.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dhan import errors
from dhan.rest import DhanClient
from dhan.transport import (
    DirectTransport,
    NotSent,
    ProxyTransport,
    SentUnknown,
    Transport,
    TransportError,
    for_origin,
)
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan
from tests.unit.dhan.forward_proxy import ForwardProxy
from tests.unit.dhan.orders import market_buy
from tests.unit.dhan.raw_http import After, ScriptedHttpServer, answer, self_signed_cert

PROXY_PASSWORD = "hunter2-pw"
HEADERS = {"access-token": TOKEN, "client-id": CLIENT_ID, "Content-Type": "application/json"}
BODY = json.dumps({"correlationId": "cid-1"}).encode()
ACK = answer(b'{"orderId": "1", "orderStatus": "TRANSIT"}')
BUSY = answer(b'{"errorType": "busy"}', status="503 Service Unavailable")
#: when each transport calls on_sent (the request was written / its answer is in)
CALLS_ON_SENT_WITHOUT_AN_ANSWER = {"direct": True, "proxy": False}


def closed_port() -> int:
    """A loopback port nobody listens on: a connect to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    """The servers of one case; stopped in reverse order of start."""

    tmp_path: Path
    stops: list[Callable[[], None]] = field(default_factory=list)
    #: requests the origin read (it is asked after the call)
    reached: Callable[[], int] = lambda: 0
    #: requests that went where a redirect pointed
    elsewhere: Callable[[], int] = lambda: 0
    proxy: ForwardProxy | None = None

    def scripted(
        self, script: Callable[[int, int], tuple[bytes, After]], tls: ssl.SSLContext | None = None
    ) -> ScriptedHttpServer:
        server = ScriptedHttpServer(script, tls)
        self.stops.append(server.stop)
        self.reached = lambda: len(server.received)
        return server

    def proxy_url(self) -> str:
        if self.proxy is None:
            self.proxy = ForwardProxy()
            self.stops.append(self.proxy.stop)
        return self.proxy.url.replace("://", f"://acct7:{PROXY_PASSWORD}@")


@dataclass(frozen=True)
class Target:
    origin: str
    proxy: str  # the proxy transport's proxy URL (with credentials)


def refused(rig: Rig) -> Target:
    # the direct transport connects to the origin, the proxy transport to its proxy
    return Target(
        f"http://127.0.0.1:{closed_port()}",
        f"http://acct7:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}",
    )


def reset_after_the_request(rig: Rig) -> Target:
    server = rig.scripted(lambda _, __: (b"", After.RESET))
    return Target(f"http://127.0.0.1:{server.port}", rig.proxy_url())


def silent_until_the_read_timeout(rig: Rig) -> Target:
    release = threading.Event()

    def hold(_: int, __: int) -> tuple[bytes, After]:
        release.wait(10)  # until the case ends: the client's read timeout fires first
        return b"", After.DROP

    server = rig.scripted(hold)
    rig.stops.append(release.set)  # runs before the server's stop
    return Target(f"http://127.0.0.1:{server.port}", rig.proxy_url())


def a_5xx(rig: Rig) -> Target:
    server = rig.scripted(lambda _, __: (BUSY, After.KEEP))
    return Target(f"http://127.0.0.1:{server.port}", rig.proxy_url())


def https_to_a_plain_http_server(rig: Rig) -> Target:
    plain = FakeDhan().start()  # answers the TLS hello with a plain-text 400
    rig.stops.append(plain.stop)
    rig.reached = lambda: len(plain.seen)
    return Target(f"https://127.0.0.1:{plain.server.port}", rig.proxy_url())


def https_to_an_untrusted_certificate(rig: Rig) -> Target:
    cert, key = self_signed_cert(rig.tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = rig.scripted(lambda _, __: (ACK, After.KEEP), tls=tls)
    return Target(f"https://127.0.0.1:{server.port}", rig.proxy_url())


def a_redirect(rig: Rig) -> Target:
    elsewhere = ScriptedHttpServer(lambda _, __: (ACK, After.KEEP))
    rig.stops.append(elsewhere.stop)
    moved = (
        "HTTP/1.1 307 Temporary Redirect\r\n"
        f"Location: http://127.0.0.1:{elsewhere.port}/v2/orders\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    server = rig.scripted(lambda _, __: (moved, After.KEEP))
    rig.elsewhere = lambda: len(elsewhere.received)
    return Target(f"http://127.0.0.1:{server.port}", rig.proxy_url())


@dataclass(frozen=True)
class Case:
    setup: Callable[[Rig], Target]
    outcome: type[TransportError] | int  # raised, or the status of the answer returned
    reached: int  # requests the origin read
    client_error: type[errors.DhanError]  # what DhanClient raises for it


CASES = [
    Case(refused, NotSent, 0, errors.NotSent),
    Case(reset_after_the_request, SentUnknown, 1, errors.OutcomeUnknown),
    Case(silent_until_the_read_timeout, SentUnknown, 1, errors.OutcomeUnknown),
    Case(a_5xx, 503, 1, errors.OutcomeUnknown),
    Case(https_to_a_plain_http_server, NotSent, 0, errors.NotSent),
    Case(https_to_an_untrusted_certificate, NotSent, 0, errors.NotSent),
    Case(a_redirect, 307, 1, errors.OtherRejection),
]
IDS = [c.setup.__name__ for c in CASES]
KINDS = ["direct", "proxy"]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    for stop in reversed(r.stops):
        stop()


def transport_of(kind: str, target: Target) -> Transport:
    transport = for_origin(
        target.origin,
        connect_timeout_s=2.0,
        read_timeout_s=1.0,
        proxy=target.proxy if kind == "proxy" else None,
    )
    assert isinstance(transport, DirectTransport if kind == "direct" else ProxyTransport)
    return transport


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_transport_says_whether_the_request_was_sent(kind: str, case: Case, rig: Rig):
    target = case.setup(rig)
    transport = transport_of(kind, target)
    calls: list[int] = []

    def on_sent() -> None:
        calls.append(1)

    try:
        if isinstance(case.outcome, int):
            got = transport.request("POST", "/v2/orders", HEADERS, BODY, on_sent)
            assert got.status == case.outcome
            assert calls == [1]
        else:
            with pytest.raises(case.outcome) as info:
                transport.request("POST", "/v2/orders", HEADERS, BODY, on_sent)
            assert info.value.sent is (case.outcome is SentUnknown)
            written = case.outcome is SentUnknown and CALLS_ON_SENT_WITHOUT_AN_ANSWER[kind]
            assert calls == ([1] if written else [])
            message = str(info.value) + repr(info.value)
            assert TOKEN not in message and PROXY_PASSWORD not in message
    finally:
        transport.close()

    assert rig.reached() == case.reached
    assert rig.elsewhere() == 0  # a redirect is never followed
    if kind == "proxy" and case.setup is not refused:
        assert rig.proxy is not None and len(rig.proxy.heads) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_client_maps_each_outcome_to_its_error_once(kind: str, case: Case, rig: Rig):
    target = case.setup(rig)
    client = DhanClient(
        base_url=target.origin + "/v2",
        client_id=CLIENT_ID,
        access_token=TOKEN,
        transport=transport_of(kind, target),
    )

    with client, pytest.raises(case.client_error) as info:
        client.place_order(market_buy(cid="cid-1"))

    assert type(info.value) is case.client_error
    assert info.value.correlation_id == "cid-1"
    assert info.value.endpoint == "POST /orders"
    if isinstance(case.outcome, int):
        assert info.value.http_status == case.outcome
    assert TOKEN not in str(info.value) and PROXY_PASSWORD not in str(info.value)
    assert rig.reached() == case.reached


def test_https_through_the_proxy_is_answered_inside_one_tunnel(rig: Rig):
    cert, key = self_signed_cert(rig.tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = rig.scripted(lambda _, __: (ACK, After.KEEP), tls=tls)
    transport = ProxyTransport(
        scheme="https",
        host="127.0.0.1",
        port=server.port,
        proxy=rig.proxy_url(),
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        ca_certs=str(cert),
    )
    calls: list[int] = []
    try:
        answers = [
            transport.request("POST", "/v2/orders", HEADERS, BODY, lambda: calls.append(1))
            for _ in range(3)
        ]
    finally:
        transport.close()

    assert [a.status for a in answers] == [200, 200, 200] and calls == [1, 1, 1]
    assert json.loads(answers[0].body)["orderId"] == "1"
    assert [r.connection for r in server.received] == [0, 0, 0]  # kept alive through the tunnel
    assert rig.proxy is not None
    (head,) = rig.proxy.heads
    assert head.startswith(f"CONNECT 127.0.0.1:{server.port} ".encode())
    assert TOKEN.encode() not in head  # the token travels inside TLS
