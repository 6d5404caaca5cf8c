"""The HTTP transports under ``DhanClient``: one interface, a direct and a proxy implementation.

``DhanClient`` builds one transport per account at construction (:func:`for_origin`) and sends
every request through it. The interface and its promise ("sent or not", ``on_sent``) are in
``dhan.transport.base``; ``DirectTransport`` (``http.client`` keep-alive, the hot path) and
``ProxyTransport`` (urllib3's ProxyManager) keep it, and one contract test holds both to it
(``tests/unit/dhan/test_transport_contract.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dhan.transport.base import Answer, NotSent, SentUnknown, Transport, TransportError
from dhan.transport.direct import DirectTransport, tls_context
from dhan.transport.proxy import ProxyTransport

__all__ = [
    "Answer",
    "DirectTransport",
    "NotSent",
    "ProxyTransport",
    "SentUnknown",
    "Transport",
    "TransportError",
    "ca_certs",
    "for_origin",
    "tls_context",
]


def ca_certs() -> str | None:
    """certifi's CA bundle when installed (what ``requests`` verified against), else the OS's."""
    try:
        import certifi
    except ImportError:  # no certifi: the system trust store
        return None
    return str(certifi.where())


def for_origin(
    base_url: str,
    *,
    connect_timeout_s: float,
    read_timeout_s: float,
    source_address: str | None = None,
    proxy: str | None = None,
    pool_maxsize: int = 4,
) -> Transport:
    """The transport for ``base_url``'s origin: through ``proxy`` when one is set, else direct.

    SEBI requires each account's orders to come from its own whitelisted static IP, so a
    multi-homed host binds each account's sockets to that account's ``source_address`` (the
    proxy is reached from it too). Without a proxy every call goes to one host: on
    ``http.client`` a call costs about half the CPU it does on urllib3 (docs/performance.md).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http:// or https:// URL with a host")
    if proxy:
        return ProxyTransport(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port,
            proxy=proxy,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            source_address=source_address,
            pool_maxsize=pool_maxsize,
            ca_certs=ca_certs(),
        )
    return DirectTransport(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port,
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        source_address=source_address,
        pool_maxsize=pool_maxsize,
        ca_certs=ca_certs(),
    )
