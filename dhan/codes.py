"""Every enumerated value of the DhanHQ v2 trading API, as ``StrEnum``s.

Shared by the engine (``dhan.rest``, ``dhan.order_feed``) and the simulator (``dhansim``), so
both sides speak exactly the same wire values. Sources are in ``../shared/dhanhq-v2.md``.
The order-update socket uses one-letter codes; the ``*_FROM_FEED`` / ``*_TO_FEED`` maps convert.
"""

from __future__ import annotations

from enum import StrEnum


class ExchangeSegment(StrEnum):
    IDX_I = "IDX_I"  # indices: data only, never in an order
    NSE_EQ = "NSE_EQ"
    NSE_FNO = "NSE_FNO"
    NSE_CURRENCY = "NSE_CURRENCY"
    NSE_COMM = "NSE_COMM"
    BSE_EQ = "BSE_EQ"
    BSE_FNO = "BSE_FNO"
    BSE_CURRENCY = "BSE_CURRENCY"
    MCX_COMM = "MCX_COMM"


#: Numeric exchange-segment codes of the annexure (used by data APIs).
SEGMENT_NUMERIC: dict[ExchangeSegment, int] = {
    ExchangeSegment.IDX_I: 0,
    ExchangeSegment.NSE_EQ: 1,
    ExchangeSegment.NSE_FNO: 2,
    ExchangeSegment.NSE_CURRENCY: 3,
    ExchangeSegment.BSE_EQ: 4,
    ExchangeSegment.MCX_COMM: 5,
    ExchangeSegment.BSE_CURRENCY: 7,
    ExchangeSegment.BSE_FNO: 8,
}


class ProductType(StrEnum):
    CNC = "CNC"
    INTRADAY = "INTRADAY"
    MARGIN = "MARGIN"
    MTF = "MTF"
    CO = "CO"  # cover order: legacy, intraday only
    BO = "BO"  # bracket order: legacy, intraday only


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_MARKET = "STOP_LOSS_MARKET"


#: What a stop-loss order is at the exchange once its trigger is crossed: a stop-limit becomes
#: a LIMIT at its price, a stop-loss-market a MARKET order.
TRIGGERED_FORM: dict[OrderType, OrderType] = {
    OrderType.STOP_LOSS: OrderType.LIMIT,
    OrderType.STOP_LOSS_MARKET: OrderType.MARKET,
}


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class TransactionType(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    TRANSIT = "TRANSIT"
    PENDING = "PENDING"
    PART_TRADED = "PART_TRADED"
    TRADED = "TRADED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    CLOSED = "CLOSED"  # super order: entry and exit both done
    TRIGGERED = "TRIGGERED"  # super order leg triggered; still working
    CONFIRM = "CONFIRM"  # forever order armed / slicing sample
    MODIFIED = "MODIFIED"  # portal enum only; treated as open
    INACTIVE = "INACTIVE"  # portal enum only; meaning undocumented

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.TRADED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.CLOSED,
    }
)


class LegName(StrEnum):
    ENTRY_LEG = "ENTRY_LEG"
    TARGET_LEG = "TARGET_LEG"
    STOP_LOSS_LEG = "STOP_LOSS_LEG"
    NA = "NA"


class AmoTime(StrEnum):
    PRE_OPEN = "PRE_OPEN"
    OPEN = "OPEN"
    OPEN_30 = "OPEN_30"
    OPEN_60 = "OPEN_60"


class PositionType(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    CLOSED = "CLOSED"


class KillSwitchStatus(StrEnum):
    ACTIVATE = "ACTIVATE"
    DEACTIVATE = "DEACTIVATE"


# --- the order-update socket's one-letter codes -------------------------------------------

PRODUCT_FROM_FEED: dict[str, ProductType] = {
    "C": ProductType.CNC,
    "I": ProductType.INTRADAY,
    "M": ProductType.MARGIN,
    "F": ProductType.MTF,
    "V": ProductType.CO,
    "B": ProductType.BO,
}
PRODUCT_TO_FEED: dict[ProductType, str] = {v: k for k, v in PRODUCT_FROM_FEED.items()}

TXN_FROM_FEED: dict[str, TransactionType] = {"B": TransactionType.BUY, "S": TransactionType.SELL}
TXN_TO_FEED: dict[TransactionType, str] = {v: k for k, v in TXN_FROM_FEED.items()}

ORDER_TYPE_FROM_FEED: dict[str, OrderType] = {
    "LMT": OrderType.LIMIT,
    "MKT": OrderType.MARKET,
    "SL": OrderType.STOP_LOSS,
    "SLM": OrderType.STOP_LOSS_MARKET,
}
ORDER_TYPE_TO_FEED: dict[OrderType, str] = {v: k for k, v in ORDER_TYPE_FROM_FEED.items()}

#: ``LegNo`` on the socket: 1 entry, 2 stop-loss, 3 target.
LEG_FROM_FEED: dict[int, LegName] = {
    1: LegName.ENTRY_LEG,
    2: LegName.STOP_LOSS_LEG,
    3: LegName.TARGET_LEG,
}
LEG_TO_FEED: dict[LegName, int] = {v: k for k, v in LEG_FROM_FEED.items()}

#: Socket ``Status`` spellings (any case) -> REST status. The socket has no PART_TRADED;
#: a partial fill is an open status with ``0 < TradedQty < Quantity``.
STATUS_FROM_FEED: dict[str, OrderStatus] = {s.value.lower(): s for s in OrderStatus} | {
    "part_traded": OrderStatus.PART_TRADED,
    "parttraded": OrderStatus.PART_TRADED,
    "partially traded": OrderStatus.PART_TRADED,
    "canceled": OrderStatus.CANCELLED,
}


def status_from_feed(raw: str) -> OrderStatus:
    """Map a socket ``Status`` (``"Cancelled"``, ``"TRADED"``...) to :class:`OrderStatus`.

    Raises ``ValueError`` for an unknown spelling.
    """
    try:
        return STATUS_FROM_FEED[raw.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown order status {raw!r}") from None


# --- error codes -------------------------------------------------------------------------


class DhErrorCode(StrEnum):
    """Trading API error codes (``errorCode`` in the error body)."""

    INVALID_AUTHENTICATION = "DH-901"
    INVALID_ACCESS = "DH-902"
    USER_ACCOUNT = "DH-903"
    RATE_LIMIT = "DH-904"
    INPUT_EXCEPTION = "DH-905"
    ORDER_ERROR = "DH-906"
    DATA_ERROR = "DH-907"
    INTERNAL_SERVER_ERROR = "DH-908"
    NETWORK_ERROR = "DH-909"
    OTHERS = "DH-910"
    INVALID_IP = "DH-911"  # unverified: community material only


#: ``errorType`` strings Dhan sends with each code (examples, not an enumerated set).
DH_ERROR_TYPE: dict[DhErrorCode, str] = {
    DhErrorCode.INVALID_AUTHENTICATION: "Invalid_Authentication",
    DhErrorCode.INVALID_ACCESS: "Invalid_Access",
    DhErrorCode.USER_ACCOUNT: "User_Account",
    DhErrorCode.RATE_LIMIT: "Rate_Limit",
    DhErrorCode.INPUT_EXCEPTION: "Input_Exception",
    DhErrorCode.ORDER_ERROR: "Order_Error",
    DhErrorCode.DATA_ERROR: "Data_Error",
    DhErrorCode.INTERNAL_SERVER_ERROR: "Internal_Server_Error",
    DhErrorCode.NETWORK_ERROR: "Network_Error",
    DhErrorCode.OTHERS: "Others",
    DhErrorCode.INVALID_IP: "Invalid_IP",
}

#: Data-API / feed numeric codes.
DATA_API_ERRORS: dict[int, str] = {
    800: "Internal server error",
    804: "Requested number of instruments exceeds limit",
    805: "Too many requests or connections",
    806: "Data APIs not subscribed",
    807: "Access token is expired",
    808: "Authentication failed",
    809: "Access token is invalid",
    810: "Client ID is invalid",
    811: "Invalid expiry date",
    812: "Invalid date format",
    813: "Invalid SecurityId",
    814: "Invalid request",
}

#: Rate-limit windows for order APIs, per account: (window seconds, max requests).
ORDER_RATE_LIMITS: tuple[tuple[float, int], ...] = (
    (1.0, 10),
    (60.0, 250),
    (3600.0, 1000),
    (86400.0, 7000),
)
#: Orders a second from which the exchanges count an order flow as an algo that must be
#: registered and carry its own algo ID (SEBI's retail algo framework; MFT 55811).
ALGO_ID_THRESHOLD_PER_SECOND = 10
MAX_MODIFICATIONS_PER_ORDER = 25
CORRELATION_ID_MAX_LEN = 30


#: The socket names an instrument's segment with ``Exchange`` + one-letter ``Segment``
#: (E equity, D derivatives, C currency, M commodity; the letters are **U** in Dhan's docs).
SEGMENT_FROM_FEED: dict[tuple[str, str], ExchangeSegment] = {
    ("NSE", "E"): ExchangeSegment.NSE_EQ,
    ("NSE", "D"): ExchangeSegment.NSE_FNO,
    ("NSE", "C"): ExchangeSegment.NSE_CURRENCY,
    ("NSE", "M"): ExchangeSegment.NSE_COMM,
    ("BSE", "E"): ExchangeSegment.BSE_EQ,
    ("BSE", "D"): ExchangeSegment.BSE_FNO,
    ("BSE", "C"): ExchangeSegment.BSE_CURRENCY,
    ("MCX", "M"): ExchangeSegment.MCX_COMM,
}
SEGMENT_TO_FEED: dict[ExchangeSegment, tuple[str, str]] = {
    v: k for k, v in SEGMENT_FROM_FEED.items()
}

#: ``Remarks`` value on socket frames of super-order legs.
SUPER_ORDER_REMARK = "Super Order"
