"""The direct path: keep-alive HTTP/1.1 to one host on ``http.client``.

``DhanClient`` sends every proxy-less request through a ``DirectTransport`` (the hot path). The
connection is made explicitly before a request byte is written, so a failure is known to be
before the request left (:class:`NotSent`: refused, DNS, connect timeout, TLS) or after bytes
may have left (:class:`SentUnknown`: send error, read timeout, reset, no or malformed answer).
``on_sent`` means *written*: the whole request was handed to the socket, its answer not yet
awaited. Nothing is ever resent and no redirect is followed.
"""

from __future__ import annotations

import functools
import http.client
import select
import ssl
import threading
import zlib
from collections.abc import Callable
from typing import Any

from dhan.transport.base import Answer, NotSent, SentUnknown


class _OneWriteMixin:
    """Head and body in one ``sendall``: one loopback / TCP segment instead of two.

    http.client writes them with two calls: two syscalls and, on loopback, two deliveries,
    tens of us of CPU per request. Its own ``_send_output`` handles every other case.
    """

    _buffer: list[bytes]

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if isinstance(message_body, bytes) and not encode_chunked:
            self._buffer.extend((b"", message_body))
            msg = b"\r\n".join(self._buffer)
            del self._buffer[:]
            self.send(msg)  # type: ignore[attr-defined]  # HTTPConnection.send, via the MRO
            return
        super()._send_output(message_body, encode_chunked)  # type: ignore[misc]  # as above


class _Response(http.client.HTTPResponse):
    """http.client's answer, its header block parsed without the email package.

    ``begin`` is http.client's own except for that: its ``parse_headers`` runs email's feed
    parser, ~40 us of CPU per answer (over 10 % of a call) for a list of ``name: value``
    lines. Framing (chunked, Content-Length, Connection) is then decided by http.client.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _header_block(self.fp)  # a 100 Continue's headers: skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _header_block(self.fp)
        tr_enc = self.headers.get("transfer-encoding")
        self.chunked = bool(tr_enc and tr_enc.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (204, 304) or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # no framing: the body ends when the connection does


#: http.client's limits on an answer's header block
_MAX_LINE_BYTES = 65536
_MAX_HEADERS = 100


def _header_block(fp: Any) -> http.client.HTTPMessage:
    """The header lines up to the blank one, as http.client's ``HTTPMessage``.

    A line starting with a space or tab continues the previous value (obsolete folding); a
    line without a colon is ignored; a name repeats as in the email parser (``get`` gives the
    first).
    """
    msg = http.client.HTTPMessage()
    last: tuple[str, str] | None = None
    for _ in range(_MAX_HEADERS + 1):
        line = fp.readline(_MAX_LINE_BYTES + 1)
        if len(line) > _MAX_LINE_BYTES:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            if last is not None:
                msg.set_raw(*last)
            return msg
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if last is not None:
                last = (last[0], f"{last[1]} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if not colon:
            continue
        if last is not None:
            msg.set_raw(*last)
        last = (name, value.strip(" \t"))
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


class _HTTPConnection(_OneWriteMixin, http.client.HTTPConnection):
    response_class = _Response


class _HTTPSConnection(_OneWriteMixin, http.client.HTTPSConnection):
    response_class = _Response


@functools.lru_cache(maxsize=4)
def tls_context(ca_certs: str | None) -> ssl.SSLContext:
    """A verifying TLS client context trusting ``ca_certs`` (None: the OS's trust store).

    Shared by every connection that uses the same bundle: loading a bundle costs ~10 ms.
    """
    ctx = ssl.create_default_context(cafile=ca_certs)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class DirectTransport:
    """A small LIFO pool of keep-alive connections to ``scheme://host:port``. Thread-safe.

    ``connect_timeout_s`` bounds the TCP connect and the TLS handshake; ``read_timeout_s`` each
    wait on the socket afterwards (a limit on silence, not on the whole answer).
    ``source_address`` binds the local IP. Under a burst, extra connections are opened rather
    than waited for; at most ``pool_maxsize`` idle ones are kept.
    """

    def __init__(
        self,
        *,
        scheme: str,
        host: str,
        port: int | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        source_address: str | None = None,
        pool_maxsize: int = 4,
        ca_certs: str | None = None,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        self._https = scheme == "https"
        self._host = host
        self._port = port if port is not None else (443 if self._https else 80)
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._source = (source_address, 0) if source_address is not None else None
        self._maxsize = max(1, pool_maxsize)
        self._context = tls_context(ca_certs) if self._https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        #: bumped by close(): a connection checked out before it is closed on return
        self._generation = 0
        authority = f"[{host}]" if ":" in host else host
        self._where = f"{authority}:{self._port}"

    def __repr__(self) -> str:
        return f"DirectTransport({'https' if self._https else 'http'}://{self._where})"

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their request ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn in idle:
            conn.close()

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer, or raise ``NotSent`` / ``SentUnknown``.

        ``Host`` and, with a body, ``Content-Length`` are added; ``headers`` are sent as given,
        in order. ``on_sent`` is called once the request is written, before the answer is
        awaited (not if writing it failed).
        """
        conn, generation = self._checkout()
        keep = False
        try:
            if conn.sock is None:
                self._connect(conn)
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                for name, value in headers.items():
                    conn.putheader(name, value)
            except (ValueError, http.client.HTTPException) as exc:
                # Still in http.client's buffer: nothing was written to the socket.
                raise NotSent(f"request not written: {_unquoted(exc)}") from None
            try:
                conn.endheaders(body)
                if on_sent is not None:
                    on_sent()
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # Bytes may have left: only the server knows whether it acted on them.
                detail = f"{self._where}: {type(exc).__name__}: {exc}"
                raise SentUnknown(detail) from exc
            keep = conn.sock is not None  # http.client closed it if the answer said so
            try:
                data = _decoded(raw, resp.getheader("Content-Encoding"))
            except zlib.error as exc:
                raise SentUnknown(f"undecodable answer body: {exc}") from exc
            return Answer(resp.status, resp.reason, data)
        finally:
            if keep:
                self._checkin(conn, generation)
            else:
                conn.close()

    # --- the pool -------------------------------------------------------------------------

    def _checkout(self) -> tuple[http.client.HTTPConnection, int]:
        """The most recently used live idle connection, else a new unconnected one."""
        while True:
            with self._lock:
                generation = self._generation
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new_connection(), generation
            if not _is_dropped(conn):
                return conn, generation
            conn.close()  # the server closed it (or sent something unasked): never reuse it

    def _checkin(self, conn: http.client.HTTPConnection, generation: int) -> None:
        with self._lock:
            if generation == self._generation and len(self._idle) < self._maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def _new_connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        try:
            if self._context is not None:
                conn = _HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._connect_timeout_s,
                    source_address=self._source,
                    context=self._context,
                )
            else:
                conn = _HTTPConnection(
                    self._host,
                    self._port,
                    timeout=self._connect_timeout_s,
                    source_address=self._source,
                )
        except ValueError as exc:  # http.client.InvalidURL: a host with a control character
            raise NotSent(f"connecting to {self._where}: {type(exc).__name__}") from None
        conn.auto_open = 0  # never reconnect implicitly: connects happen in _connect only
        return conn

    def _connect(self, conn: http.client.HTTPConnection) -> None:
        """TCP connect (and TLS handshake): nothing of the request is written yet."""
        try:
            conn.connect()
        except (OSError, ValueError) as exc:  # ValueError: a host name IDNA cannot encode
            conn.close()
            raise NotSent(f"connecting to {self._where}: {type(exc).__name__}: {exc}") from exc
        assert conn.sock is not None  # connect() set it or raised
        conn.sock.settimeout(self._read_timeout_s)


def _is_dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle keep-alive connection is closed or has unasked-for bytes.

    An idle HTTP/1.1 connection has nothing to read; readable means EOF, a reset, or an answer
    to nothing (say, a 408 before the server closes). Like urllib3's ``is_connection_dropped``.
    """
    sock = conn.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # ValueError: the socket was closed under us
        return True


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    """``raw`` undone of its ``Content-Encoding`` (gzip and deflate; others left as they are)."""
    if not encoding or not raw:
        return raw
    for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            try:
                raw = zlib.decompress(raw)
            except zlib.error:  # raw deflate without the zlib wrapper, as some servers send
                raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        elif coding != "identity":
            return raw
    return raw


def _unquoted(exc: BaseException) -> str:
    """``exc`` without its text: http.client quotes the offending header value (the token?)."""
    return f"{type(exc).__name__}: a method, target or header value is not valid in HTTP"
