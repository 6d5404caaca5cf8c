"""The metrics and health HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``.

``/healthz`` answers 200 while the process serves HTTP at all; ``/readyz`` answers 200 only when
the engine says it is ready (leader socket connected and reconciled, store writable) and 503 with
a JSON reason otherwise. A small threaded stdlib server: Prometheus scrapes are rare and cheap.
Connections are bounded: one idle for ``idle_timeout_s`` is closed, and beyond
``max_connections`` at once a new one is closed at once (no thread is started for it), so
idle or slow clients cannot pile threads up in the engine's process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], tuple[bool, str]]

#: A connection that sends nothing for this long is closed (the request line, each header).
IDLE_TIMEOUT_S = 5.0
#: Connections served at once; more are closed on arrival. Probes and scrapes need a few.
MAX_CONNECTIONS = 32


class _BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with at most ``max_connections`` handler threads at a time."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0  #: connections closed on arrival because every slot was taken
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_RDWR)
        super().shutdown_request(request)


class HealthServer:
    """Serves one registry and one readiness check on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: ReadyCheck,
        host: str,
        port: int,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.registry = registry
        self.ready = ready
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = idle_timeout_s  # socket timeout: an idle client is dropped, not waited on

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b'{"status":"ok"}', "application/json")
                elif path == "/readyz":
                    try:
                        ok, reason = outer.ready()
                    except Exception as exc:  # a broken check is "not ready", never a 500
                        ok, reason = False, f"readiness check failed: {type(exc).__name__}"
                    body = json.dumps({"ready": ok, "reason": reason}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b'{"error":"not found"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("health: " + format, *args)

        self.server = _BoundedServer((host, port), Handler, max_connections)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="health-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)
