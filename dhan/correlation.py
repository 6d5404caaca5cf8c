"""Deterministic correlation ids: the idempotency key of every follower order.

``correlation_id_for(follower, leader_order_id, leg)`` is a pure function, so a restarted
engine derives the same id and can find an order it sent before it crashed
(``GET /orders/external/{correlationId}``). Dhan allows at most 30 chars of ``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from dhan.codes import CORRELATION_ID_MAX_LEN

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,30}$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_LEG_CHAR = {"ENTRY_LEG": "E", "TARGET_LEG": "T", "STOP_LOSS_LEG": "S", "": "N", "NA": "N"}


def correlation_id_for(
    follower: str, leader_order_id: str, leg: str = "", *, namespace: str = ""
) -> str:
    """The correlationId of ``follower``'s copy of ``leader_order_id`` (leg ``leg``).

    Layout (28 chars): ``<leg char><last 10 alnum chars of the leader order id>-<16-char hash>``.
    The readable part helps an operator scanning an order book; the 80-bit hash over
    ``(namespace, follower, leader_order_id, leg)`` makes ids distinct across followers and legs.
    """
    if not follower:
        raise ValueError("follower must be non-empty")
    if not leader_order_id:
        raise ValueError("leader_order_id must be non-empty")
    # length-prefixed parts: no two different tuples can encode to the same bytes
    key = "".join(f"{len(p)}:{p};" for p in (namespace, follower, leader_order_id, leg)).encode()
    digest = hashlib.blake2b(key, digest_size=10).digest()
    h = base64.b32encode(digest).decode().lower().rstrip("=")  # 16 chars of [a-z2-7]
    tail = _NOT_ALNUM.sub("", leader_order_id)[-10:] or "0"
    cid = f"{_LEG_CHAR.get(leg, 'X')}{tail}-{h}"
    assert len(cid) <= CORRELATION_ID_MAX_LEN
    return cid


def is_valid_correlation_id(value: str) -> bool:
    """True when ``value`` is a correlationId Dhan accepts (<= 30 chars of ``[A-Za-z0-9_-]``)."""
    return bool(_VALID.match(value))
