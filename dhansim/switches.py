"""Behaviour switches of the simulator: every place where Dhan's behaviour is unverified (**U**)
or where tests need to turn a broker feature off.

A :class:`Switches` value is frozen; the simulator swaps in a new one on ``PUT /sim/switches``.
Each field is documented in ``docs/simulator.md`` (the table there mirrors this class).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FEED_PART_TRADED = ("PENDING", "PART_TRADED", "TRADED")
_EXPIRED_TOKEN_CODES = ("DH-901", "DH-906")
_IOC_REMAINDER = ("EXPIRED", "CANCELLED")
_HOLDINGS_SALE_VIEWS = ("short", "carried")
_STATIC_IP_CODES = ("DH-905", "DH-911")


@dataclass(frozen=True, slots=True)
class Switches:
    """Runtime behaviour of the simulated broker (see ``docs/simulator.md``)."""

    #: A filled CO/BO exit leg (or super-order exit leg) cancels its sibling.
    broker_oco: bool = True
    #: BO ``boProfitValue``/``boStopLossValue`` are absolute prices instead of offsets (**U**).
    bo_values_absolute: bool = False
    #: Market price protection: a MARKET order becomes a LIMIT at LTP +/- ``mpp_percent``.
    market_protection: bool = True
    mpp_percent: float = 3.0
    #: With MPP, the book and socket show the protected order as LIMIT (LMT) at its band price.
    mpp_show_as_limit: bool = True
    #: Per-account order-API limits 10/s, 250/min, 1000/h, 7000/day -> DH-904.
    rate_limits: bool = True
    #: Non-trading (GET) limit of 20/s per account -> DH-904. Off by default.
    read_rate_limit: bool = False
    #: Socket frames also carry camelCase duplicates and title-case statuses (``Cancelled``).
    quirks: bool = False
    #: ``Status`` on the socket for a partly filled open order (the socket enum has no PART_TRADED).
    feed_part_traded_status: str = "PENDING"
    #: ``DELETE /orders/{id}`` answers 202 with an empty body instead of ``{orderId, orderStatus}``.
    cancel_empty_body: bool = False
    #: Server WebSocket ping interval on the order-update socket; 0 disables pings.
    ping_interval_s: float = 10.0
    #: Delay between TRANSIT (the REST answer) and PENDING (at the exchange).
    exchange_delay_ms: float = 0.0
    #: Insufficient funds: 200 + an order REJECTED by RMS instead of a DH-906 error.
    rms_reject_as_order: bool = False
    #: Check margin against the available balance at placement.
    check_funds: bool = True
    #: Error code for an expired token: DH-901, or DH-906 "Invalid Token" (seen in the field).
    expired_token_code: str = "DH-901"
    #: Require the ``client-id`` header on every /v2 call. Off, as Dhan documents order calls
    #: with only ``access-token`` (the official JavaScript SDK sends only that); the Python SDK
    #: sends it always. A ``client-id`` that is sent must match the token's account either way.
    require_client_id_header: bool = False
    #: A login frame with a bad token gets a WebSocket close frame instead of a TCP abort.
    bad_login_close_frame: bool = False
    #: Seeded random walk of every unpinned instrument's LTP.
    random_walk: bool = True
    walk_interval_ms: float = 500.0
    walk_volatility: float = 0.0005
    #: Status of the unfilled remainder of an IOC order.
    ioc_remainder_status: str = "EXPIRED"
    #: ``GET /orders/external/{cid}`` answers an array of every order with that id (**U**).
    external_cid_array: bool = False
    #: ``GET /orders`` also lists a super order's TARGET_LEG and STOP_LOSS_LEG (with the super
    #: order's orderId and their ``legName``) once its entry has traded, as Dhan's docs say.
    #: Off: only the entry leg (the legs are under ``/super/orders``).
    super_legs_in_order_book: bool = True
    #: Static IP: an account with a registered IP (``/ip/setIP``) accepts order writes only
    #: from that source address; reads stay free.
    static_ip: bool = False
    #: Error code of a write from an unregistered address (**U**): DH-905 "Invalid IP" (seen in
    #: the field) or DH-911 (community material).
    static_ip_error_code: str = "DH-905"
    #: Days before a set IP can be modified (Dhan: 7); 0 lets tests modify at once.
    static_ip_lock_days: float = 7.0
    #: The exchange rejects a plain order above its instrument's freeze quantity (``freezeQty``
    #: of the master; ``POST /orders/slicing`` splits within it), and a modify raising one
    #: above it is refused. Off: any quantity is taken.
    freeze_limit: bool = True
    #: How ``GET /positions`` shows a CNC sale of holdings (**U**): ``short``, the day's
    #: position with a negative ``netQty`` (as Indian brokers show one); ``carried``, the sold
    #: holdings as ``carryForwardBuyQty`` at their cost, so the sale closes them (``netQty`` 0).
    holdings_sale_view: str = "short"

    def __post_init__(self) -> None:
        if self.feed_part_traded_status not in _FEED_PART_TRADED:
            raise ValueError(f"feed_part_traded_status must be one of {_FEED_PART_TRADED}")
        if self.expired_token_code not in _EXPIRED_TOKEN_CODES:
            raise ValueError(f"expired_token_code must be one of {_EXPIRED_TOKEN_CODES}")
        if self.ioc_remainder_status not in _IOC_REMAINDER:
            raise ValueError(f"ioc_remainder_status must be one of {_IOC_REMAINDER}")
        if self.holdings_sale_view not in _HOLDINGS_SALE_VIEWS:
            raise ValueError(f"holdings_sale_view must be one of {_HOLDINGS_SALE_VIEWS}")
        if self.static_ip_error_code not in _STATIC_IP_CODES:
            raise ValueError(f"static_ip_error_code must be one of {_STATIC_IP_CODES}")
        if self.mpp_percent <= 0 or self.mpp_percent >= 50:
            raise ValueError("mpp_percent must be in (0, 50)")
        for name in (
            "ping_interval_s",
            "exchange_delay_ms",
            "walk_interval_ms",
            "walk_volatility",
            "static_ip_lock_days",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def updated(self, changes: Mapping[str, Any]) -> Switches:
        """A copy with ``changes`` applied; unknown names or wrong types raise ``ValueError``."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown switch {name!r}; known: {sorted(fields)}")
            current = getattr(self, name)
            clean[name] = _coerce(name, value, type(current))
        return dataclasses.replace(self, **clean)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"switch {name!r} takes true/false")
        return value
    if kind is float:
        # JSON admits NaN and Infinity; a NaN walk step or ping interval would kill its task.
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise ValueError(f"switch {name!r} takes a finite number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"switch {name!r} takes a string")
        return value
    raise ValueError(f"switch {name!r} has an unsupported type")  # pragma: no cover


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float range
        return False


@dataclass(frozen=True, slots=True)
class PartialFills:
    """How a fillable order is filled: at once, or in ``parts`` lot-aligned fills."""

    enabled: bool = False
    #: Number of fills an order's quantity is split into (at most; lot size permitting).
    parts: int = 2
    #: Gap between two fills of one order.
    interval_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.parts < 1:
            raise ValueError("parts must be >= 1")
        if self.interval_ms < 0:
            raise ValueError("interval_ms must be >= 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PartialFills:
        unknown = set(data) - {"enabled", "parts", "interval_ms"}
        if unknown:
            raise ValueError(f"unknown partial-fill keys {sorted(unknown)}")
        enabled = data.get("enabled", True)
        parts = data.get("parts", 2)
        interval_ms = data.get("interval_ms", 0.0)
        if not isinstance(enabled, bool):
            raise ValueError("enabled takes true/false")
        if isinstance(parts, bool) or not isinstance(parts, int):
            raise ValueError("parts takes an integer")
        if (
            isinstance(interval_ms, bool)
            or not isinstance(interval_ms, int | float)
            or not _finite(interval_ms)
        ):
            raise ValueError("interval_ms takes a finite number")
        return cls(enabled=enabled, parts=parts, interval_ms=float(interval_ms))


@dataclass(slots=True)
class LiveSettings:
    """The settings in force; mutable holder so every component sees admin changes at once."""

    switches: Switches = dataclasses.field(default_factory=Switches)
    partial_fills: PartialFills = dataclasses.field(default_factory=PartialFills)
