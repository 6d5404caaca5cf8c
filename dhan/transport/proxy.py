"""The proxy path: an account whose static IP is an HTTP(S) proxy, on urllib3's ProxyManager.

An ``http://`` origin is reached through the proxy with absolute-form requests; an ``https://``
origin through a ``CONNECT`` tunnel (the proxy sees the tunnel request only: the token and the
order travel inside TLS). Proxy credentials in the proxy URL (``http://user:password@host:port``)
travel in a ``Proxy-Authorization`` header only, never in a URL an error message might echo,
and are scrubbed from every message.

Sent or not is known exactly, as on the direct path: the connection (to the proxy, through the
tunnel, TLS) is complete before the first byte of the request is handed to the socket, and the
connection classes below mark that moment; a failure before it is :class:`NotSent`, any other
:class:`SentUnknown`. ``on_sent`` means *answered*: urllib3 returns only once the answer is in.
"""

from __future__ import annotations

import base64
import http.client
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

from dhan.errors import redact
from dhan.transport.base import Answer, NotSent, SentUnknown

#: per thread: whether the request of the call in progress started to be written
_progress = threading.local()


class _MarksTheFirstWrite:
    """Marks, per thread, the moment a request's first byte is about to be written.

    urllib3's ``request`` buffers the request line and headers, then ``endheaders`` writes them:
    everything before it (connect, proxy tunnel, TLS handshake, header validation) sent nothing
    of the request. A plain ``http://`` connection would connect lazily inside ``endheaders``;
    it connects here first, so a refused or timed-out connect stays before the mark.
    """

    sock: Any

    def endheaders(self, message_body: Any = None, *, encode_chunked: bool = False) -> None:
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]  # the connection's, via the MRO
        _progress.writing = True
        super().endheaders(message_body, encode_chunked=encode_chunked)  # type: ignore[misc]


class _HTTPConnection(_MarksTheFirstWrite, HTTPConnection):
    pass


class _HTTPSConnection(_MarksTheFirstWrite, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class ProxyTransport:
    """``scheme://host:port`` through the HTTP(S) proxy ``proxy``, on keep-alive connections.

    Thread-safe. Timeouts and ``source_address`` (the local IP the proxy is reached from) as for
    ``DirectTransport``; at most ``pool_maxsize`` idle connections are kept, extra ones are
    opened under a burst. A scheme-less ``proxy`` is read as ``http://``.
    """

    def __init__(
        self,
        *,
        scheme: str,
        host: str,
        port: int | None,
        proxy: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        source_address: str | None = None,
        pool_maxsize: int = 4,
        ca_certs: str | None = None,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        authority = f"[{host}]" if ":" in host else host
        self._origin = f"{scheme}://{authority}" + (f":{port}" if port is not None else "")
        pool_kw: dict[str, Any] = {
            "maxsize": pool_maxsize,
            "block": False,  # extra connections under a burst rather than waiting for a free one
            # urllib3 must never resend a request on our behalf (a resent POST can duplicate an
            # order) nor follow a redirect (that resends it elsewhere, token and all).
            "retries": False,
            "timeout": urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
        }
        if source_address is not None:
            pool_kw["source_address"] = (source_address, 0)
        if ca_certs is not None:
            pool_kw["ca_certs"] = ca_certs
        proxy_url, proxy_headers, self._secrets = _proxy_parts(proxy)
        self._where = f"{self._origin} through {proxy_url}"
        # urllib3 reads no environment proxy variables and no .netrc: one account's traffic can
        # never leave through another account's egress.
        self._manager = urllib3.ProxyManager(
            proxy_url, num_pools=1, proxy_headers=proxy_headers, **pool_kw
        )
        self._manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def __repr__(self) -> str:
        return f"ProxyTransport({self._where})"

    def close(self) -> None:
        """Close the idle connections; a later request opens new ones."""
        self._manager.clear()

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer, or raise ``NotSent`` / ``SentUnknown``.

        ``on_sent`` is called once the answer is in (urllib3 gives no hold between writing the
        request and awaiting its answer); not if no answer came.
        """
        _progress.writing = False
        try:
            resp = self._manager.urlopen(
                method,
                self._origin + target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
            )
            answer = Answer(resp.status, resp.reason or "", resp.data)
        except (Urllib3Error, OSError, ValueError, http.client.HTTPException) as exc:
            detail = redact(f"{self._where}: {_describe(exc)}", self._secrets)
            if _progress.writing:
                raise SentUnknown(detail) from None
            raise NotSent(detail) from None
        if on_sent is not None:
            on_sent()
        return answer


def _proxy_parts(proxy: str) -> tuple[str, dict[str, str], list[str]]:
    """The proxy's URL without credentials, its ``Proxy-Authorization`` header, its secrets."""
    if "://" not in proxy:
        proxy = "http://" + proxy  # as requests read a scheme-less proxy
    parts = urlsplit(proxy)
    headers: dict[str, str] = {}
    secrets: list[str] = []
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        basic = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {basic}"
        secrets = [password, basic]
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}", headers, secrets


def _describe(exc: Exception) -> str:
    """``exc`` in one line, without a header value (the caller redacts the proxy's secrets)."""
    if not isinstance(exc, Urllib3Error) and isinstance(exc, ValueError):
        # http.client's message quotes the offending header value: it may be the token.
        return f"{type(exc).__name__}: a header value is not valid in HTTP"
    return f"{type(exc).__name__}: {exc}"
