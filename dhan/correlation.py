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
#: the shape of every id ``correlation_id_for`` makes (leg char, tail, hash, generation)
_COPY_SHAPE = re.compile(r"^[ETSNX][A-Za-z0-9]{1,10}-[a-z2-7]{16}(-[1-9a-z])?$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_LEG_CHAR = {"ENTRY_LEG": "E", "TARGET_LEG": "T", "STOP_LOSS_LEG": "S", "": "N", "NA": "N"}


#: Digits of a copy's generation (1..35) in its correlationId; generation 0 has none.
_GENERATION_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
#: The most broker orders one copy may ever have (its first + 35 re-placements).
MAX_GENERATION = len(_GENERATION_DIGITS) - 1


def correlation_id_for(
    follower: str,
    leader_order_id: str,
    leg: str = "",
    *,
    namespace: str = "",
    generation: int = 0,
) -> str:
    """The correlationId of ``follower``'s copy of ``leader_order_id`` (leg ``leg``).

    Layout (28 chars): ``<leg char><last 10 alnum chars of the leader order id>-<16-char hash>``.
    The readable part helps an operator scanning an order book; the 80-bit hash over
    ``(namespace, follower, leader_order_id, leg)`` makes ids distinct across followers and legs.

    ``generation`` > 0: the id of the copy's next broker order after one we cancelled (the
    leader went below one lot, then raised its order again): the generation-0 id plus
    ``-<digit>`` (30 chars; 1..9 then a..z). A generation-0 id never has a second ``-``.
    """
    if not 0 <= generation <= MAX_GENERATION:
        raise ValueError(f"generation must be 0..{MAX_GENERATION}, got {generation}")
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
    if generation:
        cid = f"{cid}-{_GENERATION_DIGITS[generation]}"
    assert len(cid) <= CORRELATION_ID_MAX_LEN
    return cid


def first_generation_id(correlation_id: str) -> str:
    """The generation-0 id of the copy ``correlation_id`` belongs to (itself for generation 0):
    every broker order one copy ever had maps to it."""
    return correlation_id[:-2] if generation_of(correlation_id) else correlation_id


def generation_of(correlation_id: str) -> int:
    """The generation of a correlationId made by :func:`correlation_id_for` (0 for the first)."""
    parts = correlation_id.split("-")
    if len(parts) != 3 or len(parts[2]) != 1 or parts[2] not in _GENERATION_DIGITS[1:]:
        return 0
    return _GENERATION_DIGITS.index(parts[2])


def is_copy_id(value: str | None) -> bool:
    """True when ``value`` has the shape of an id :func:`correlation_id_for` makes: an order
    the engine placed as a copy (a manual order, one without an id or with an id of another
    shape, is not). A shape, not a proof: it cannot tell whose copy it is."""
    return value is not None and _COPY_SHAPE.match(value) is not None


def is_valid_correlation_id(value: str) -> bool:
    """True when ``value`` is a correlationId Dhan accepts (<= 30 chars of ``[A-Za-z0-9_-]``)."""
    return bool(_VALID.match(value))
