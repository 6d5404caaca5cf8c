"""The metrics and health HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``.

``/healthz`` answers 200 while the process serves HTTP at all; ``/readyz`` answers 200 only when
the engine says it is ready (leader socket connected and reconciled, store writable) and 503 with
a JSON reason otherwise. A small threaded stdlib server: Prometheus scrapes are rare and cheap.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], tuple[bool, str]]


class HealthServer:
    """Serves one registry and one readiness check on ``host:port`` (port 0: any free port)."""

    def __init__(self, registry: CollectorRegistry, ready: ReadyCheck, host: str, port: int):
        self.registry = registry
        self.ready = ready
        outer = self

        class Handler(BaseHTTPRequestHandler):
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

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
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
