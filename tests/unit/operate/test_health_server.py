"""The health endpoint over loopback: /healthz is liveness, /readyz follows the readiness check."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from copytrader.health import HealthServer
from supervision.testing import wait_until


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


class Readiness:
    """A settable readiness check (what Engine.ready answers)."""

    def __init__(self) -> None:
        self.answer: tuple[bool, str] | Exception = (True, "ok")

    def __call__(self) -> tuple[bool, str]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Readiness]]:
    registry = CollectorRegistry()
    Counter("demo_things", "Things.", registry=registry).inc(3)
    ready = Readiness()
    server = HealthServer(registry, ready, "127.0.0.1", 0).start()
    try:
        yield server, ready
    finally:
        server.stop()


def test_readyz_is_200_when_ready_and_503_with_the_json_reason_otherwise(
    served: tuple[HealthServer, Readiness],
) -> None:
    server, ready = served
    assert _get(server.url + "/readyz") == (
        200,
        "application/json",
        '{"ready": true, "reason": "ok"}',
    )
    ready.answer = (False, "store not writable: OperationalError")
    status, content_type, body = _get(server.url + "/readyz")
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body) == {"ready": False, "reason": "store not writable: OperationalError"}
    assert _get(server.url + "/healthz")[0] == 200  # alive, though not ready


def test_a_readiness_check_that_raises_is_not_ready_never_a_500(
    served: tuple[HealthServer, Readiness],
) -> None:
    server, ready = served
    ready.answer = RuntimeError("journal closed")
    status, _, body = _get(server.url + "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "readiness check failed: RuntimeError"


def test_metrics_are_the_registry_in_the_prometheus_text_format_and_other_paths_are_404(
    served: tuple[HealthServer, Readiness],
) -> None:
    server, _ = served
    status, content_type, body = _get(server.url + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    assert "demo_things_total 3.0" in body
    assert _get(server.url + "/metrics?x=1")[0] == 200
    assert _get(server.url + "/nope")[0] == 404


def _server_threads() -> int:
    """Threads serving a health connection (socketserver names them after its method)."""
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)


def test_idle_connections_are_closed_after_a_timeout_and_hold_no_more_threads_than_the_cap() -> (
    None
):
    server = HealthServer(
        CollectorRegistry(),
        Readiness(),
        "127.0.0.1",
        0,
        idle_timeout_s=0.5,
        max_connections=8,
    ).start()
    host, port = server.server.server_address[:2]
    idle = []
    try:
        peak = 0
        for _ in range(60):  # clients that connect and never send a request
            idle.append(socket.create_connection((str(host), int(port)), timeout=5))
            peak = max(peak, _server_threads())
        wait_until(lambda: _server_threads() == 0, 5.0)
        assert peak <= 8
        # every idle socket was closed by the server: each reads EOF (or a reset)
        for sock in idle:
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
        started = time.monotonic()
        assert _get(server.url + "/readyz")[0] == 200
        assert time.monotonic() - started < 1.0
    finally:
        for sock in idle:
            sock.close()
        server.stop()
