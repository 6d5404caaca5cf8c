"""What every transport under ``DhanClient`` promises: one call shape, one answer, two failures.

A transport sends one HTTP request to the origin it was built for and returns the whole answer
(any status: a 3xx, 4xx or 5xx is an answer too), or raises one of two exceptions that say
whether the request may have reached the server:

- :class:`NotSent`: no byte of the request left this machine (connect refused or timed out, DNS,
  an unusable source address, a proxy that refused the tunnel, a failed TLS handshake, a header
  value HTTP cannot carry). Sending it again is safe.
- :class:`SentUnknown`: bytes of the request may have been written; the outcome is unknown (a
  reset, a read timeout, a closed connection, a malformed or undecodable answer). It must be
  resolved by correlationId, never resent blindly.

The split is decided where it is known, inside each transport, by when the failure happened
(before or after the first byte of the request was handed to the socket) and never by reading
exception types of the HTTP library afterwards. No transport ever resends a request, follows a
redirect or reads the environment (proxy variables, ``.netrc``). A message never quotes a
header value (it may be the access token) nor a proxy credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol


class TransportError(Exception):
    """A request that got no HTTP answer; raised only as :class:`NotSent` or
    :class:`SentUnknown`. ``sent`` is False only when no byte of the request left."""

    sent: ClassVar[bool] = True


class NotSent(TransportError):
    """No byte of the request left this machine: it may be sent again."""

    sent = False


class SentUnknown(TransportError):
    """The request may have been written; what the server did with it is unknown."""

    sent = True


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status line and the body, content-decoded (gzip / deflate)."""

    status: int
    reason: str
    body: bytes


class Transport(Protocol):
    """One origin's HTTP connections (``scheme://host:port``). Thread-safe.

    ``request`` sends ``method target`` (``target``: the path and query, origin-form) with
    ``headers`` as given and ``body`` (``Content-Length`` and ``Host`` are added), and returns
    the whole answer or raises :class:`NotSent` / :class:`SentUnknown`. ``on_sent`` is called
    at most once, only if the request may have reached the server, before ``request`` returns;
    each transport says when (``DirectTransport``: once written, before the answer is awaited;
    ``ProxyTransport``: once answered). ``close`` closes the idle connections; a later call
    opens new ones.
    """

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[], None] | None = None,
    ) -> Answer: ...

    def close(self) -> None: ...
