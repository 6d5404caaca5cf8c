"""A real forward HTTP proxy on loopback, for the proxy transport's tests.

It does what a proxy between an account and Dhan does to the bytes: a ``CONNECT host:port``
opens a tunnel (``200 Connection established``, then both ways byte for byte), an absolute-form
request (``GET http://host:port/path``) is passed on to that host. Each client connection is
bound to the upstream its first request names and relayed unchanged from then on (HTTP/1.1
servers accept absolute-form targets). The upstream's fate is passed on: its reset becomes a
reset of the client's connection, its end of stream an end of stream. An upstream it cannot
reach is answered ``502``. Credentials are not checked; the heads it received are recorded.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from urllib.parse import urlsplit

_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ForwardProxy:
    """Serves on ``127.0.0.1``:ephemeral port, one thread per client connection."""

    def __init__(self) -> None:
        self._srv = socket.socket()
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(8)
        self.port = int(self._srv.getsockname()[1])
        #: the first request head of every client connection (a CONNECT, or a proxied request)
        self.heads: list[bytes] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopping.set()
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
            t = threading.Thread(target=self._client, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = _recv(conn)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            self.heads.append(head)
            method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                address = (host.strip("[]"), int(port))
            else:
                parts = urlsplit(target)
                address = (parts.hostname or "", parts.port or 80)
            try:
                upstream = socket.create_connection(address, timeout=5)
            except OSError:
                conn.sendall(_BAD_GATEWAY)
                return
            with upstream:
                if method == "CONNECT":
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    pending = rest
                else:
                    pending = data
                if pending:
                    upstream.sendall(pending)
                self._relay(conn, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        """Both ways until both ends are done (or the proxy stops); a reset is passed on."""
        peer = {client: upstream, upstream: client}
        open_ends = [client, upstream]
        while open_ends and not self._stopping.is_set():
            readable, _, _ = select.select(open_ends, [], [], 0.05)
            for sock in readable:
                other = peer[sock]
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    _reset(other)
                    return
                if chunk:
                    try:
                        other.sendall(chunk)
                    except OSError:
                        _reset(sock)
                        return
                    continue
                open_ends.remove(sock)  # end of stream: pass it on
                with contextlib.suppress(OSError):
                    other.shutdown(socket.SHUT_WR)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _reset(sock: socket.socket) -> None:
    """Abort ``sock`` with a TCP reset (a close with a zero linger)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
