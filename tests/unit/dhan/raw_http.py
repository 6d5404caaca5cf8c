"""A raw HTTP/1.1 server on loopback whose every answer is scripted, byte for byte.

For what aiohttp will not do on purpose: close a keep-alive connection after an answer, drop a
request on a reused connection, answer with a malformed status line. Each request is recorded
with the number of the connection it came on.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

from tests.unit.dhan.waiting import wait_until


class After(StrEnum):
    """What the server does with the connection once it has written the answer."""

    KEEP = "keep"  # wait for the next request
    CLOSE = "close"  # send FIN, wait until the client's kernel has acknowledged it, close
    DROP = "drop"  # close at once (with no answer written: the client sees EOF or a reset)
    RESET = "reset"  # abort the connection with a TCP reset, no answer written


@dataclass(frozen=True, slots=True)
class Received:
    connection: int  # 0 for the first accepted connection, 1 for the next, ...
    head: bytes
    body: bytes


#: (connection number, request number on that connection) -> (answer bytes, what next)
Script = Callable[[int, int], tuple[bytes, After]]

#: Linux tcp_states.h: FIN_WAIT2, TIME_WAIT, CLOSE -- our FIN was acknowledged by the peer
_FIN_ACKED_STATES = (5, 6, 7)


def answer(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


class ScriptedHttpServer:
    """Serves ``script`` on ``127.0.0.1``, one thread per connection (TLS with ``tls``)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self._script = script
        self._tls = tls
        self._srv = socket.socket()
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(8)
        self.port = int(self._srv.getsockname()[1])
        self.received: list[Received] = []
        self.accepted = 0
        #: set each time a CLOSE connection's FIN has reached the client
        self.fin_acknowledged = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # wakes the blocked accept() (close does not)
            self._srv.shutdown(socket.SHUT_RDWR)
        self._srv.close()
        self._accept.join(2)
        for t in self._threads:
            t.join(2)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return  # closed by stop()
            number = self.accepted
            self.accepted += 1
            t = threading.Thread(target=self._connection, args=(conn, number), daemon=True)
            self._threads.append(t)
            t.start()

    def _connection(self, raw: socket.socket, number: int) -> None:
        conn = raw
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(raw, server_side=True)
            conn.settimeout(10)
            buffered = b""
            for request_no in range(1_000):
                head, body, buffered = read_request(conn, buffered)
                if head is None:
                    return  # the client closed the connection
                self.received.append(Received(number, head, body))
                data, after = self._script(number, request_no)
                if after is After.DROP:
                    return
                if after is After.RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closed with a zero linger: RST
                conn.sendall(data)
                if after is After.CLOSE:
                    _close_and_wait_for_the_ack(conn)
                    self.fin_acknowledged.set()
                    return
        except (OSError, ssl.SSLError):
            return  # a client that went away or refused our certificate
        finally:
            conn.close()


def read_request(conn: socket.socket, buffered: bytes) -> tuple[bytes | None, bytes, bytes]:
    """One request from ``conn``: (head or None at EOF, body, what was read beyond it)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b"", b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, rest[:length], rest[length:]


def _close_and_wait_for_the_ack(conn: socket.socket) -> None:
    """Send FIN and return once the peer's kernel acknowledged it: the client's socket is at
    EOF from then on, so a test does not race the kernel."""
    conn.shutdown(socket.SHUT_WR)
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is not None:

        def fin_acked() -> bool:
            (state,) = struct.unpack("B", conn.getsockopt(socket.IPPROTO_TCP, tcp_info, 1))
            return state in _FIN_ACKED_STATES

        wait_until(fin_acked, timeout_s=5.0, poll_s=0.001)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1 (no trust store knows it); skips the
    test where openssl cannot make one."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("openssl cannot make a self-signed certificate here")
    return cert, key
