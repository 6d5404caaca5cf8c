"""The journal's records: immutable values that go in and come out of ``store.Journal``.

Actors build ``LeaderOrderSnapshot`` and ``DesiredIntent`` values and read back ``Intent``,
``BracketLeg``, ``AuditRecord``... Nothing here touches the database; ``store.rows`` maps
rows to these records, generated from the fields declared here: each field is the column of
its name (or the one ``column(...)`` names). Prices are rupees (float, as Dhan sends them),
quantities are units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from dhan.codes import (
    AmoTime,
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from store.states import IntentState

_COLUMN = "column"


def column(name: str) -> dict[str, str]:
    """Field metadata: the field is stored in column ``name`` (not the one of its own name)."""
    return {_COLUMN: name}


def column_of(f: dataclasses.Field[Any]) -> str:
    """The column that holds field ``f``."""
    name: str = f.metadata.get(_COLUMN, f.name)
    return name


class SnapshotSource(StrEnum):
    """Where the journal learned a leader order's state."""

    SOCKET = "socket"  # the live order-update socket
    RECONCILE = "reconcile"  # a REST order-book read after a (re)connect


def normalise_leg(leg: str | None) -> str:
    """The leg key used in the journal: ``""`` for a plain order (``None``, ``""`` or ``"NA"``)."""
    if not leg or leg == "NA":
        return ""
    return leg


#: The leg of the extra follower orders one copy is split into at the freeze quantity:
#: ``""`` (the first, with the plain correlationId), then ``F2``, ``F3``... (``actors.slicing``).
FREEZE_PIECE_PREFIX = "F"


def freeze_piece_leg(index: int) -> str:
    """The leg of piece ``index`` (0-based) of a copy split at the freeze quantity."""
    return "" if index == 0 else f"{FREEZE_PIECE_PREFIX}{index + 1}"


def is_freeze_piece_leg(leg: str) -> bool:
    """True for ``F2``, ``F3``...: an extra piece of a copy split at the freeze quantity."""
    return leg.startswith(FREEZE_PIECE_PREFIX) and leg[1:].isdigit()


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderOrderSnapshot:
    """One observed state of a leader order (or one leg of it).

    The journal keeps the latest per ``(leader_order_id, leg_name)``: a newer ``seq`` replaces an
    older one, a terminal status replaces an open one, an open status never replaces a terminal.
    """

    leader_order_id: str
    dedupe_key: str  #: unique per leader event: the same frame twice is recorded once
    source: SnapshotSource
    status: OrderStatus
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    seq: int  #: our monotonic receive counter (e.g. time.time_ns()); orders snapshots
    validity: Validity | None = None
    filled_qty: int = 0
    price: float = 0.0
    trigger_price: float = 0.0
    avg_price: float = 0.0
    bo_profit_value: float | None = None
    bo_stop_loss_value: float | None = None
    target_price: float | None = None
    stop_loss_price: float | None = None
    trailing_jump: float | None = None
    leg_name: str = ""  #: ``""`` for a plain order or an entry; else ENTRY_LEG / TARGET_LEG...
    parent_order_id: str | None = None  #: the entry order of a leg; None for an entry
    is_super: bool = False
    correlation_id: str | None = None
    after_market_order: bool = False  #: an AMO (REST ``afterMarketOrder``, socket ``OffMktFlag``)
    amo_time: AmoTime | None = None  #: when the AMO goes to the exchange, when the broker says
    #: the broker's last-update time, as sent
    updated_at: str = field(default="", metadata=column("broker_updated_at"))
    raw: dict[str, Any] = field(default_factory=dict, hash=False)  #: the frame, secrets redacted

    @property
    def is_terminal(self) -> bool:
        """True when the leader order is finished (traded, cancelled, rejected...)."""
        return self.status.is_terminal


#: A skip reason that starts with this is transient: sizing lacks a fact for now (a balance,
#: a lot size, a price to value a MARKET order). The skipped copy is re-derived when the fact
#: arrives (the order's next leader event, or ``Journal.record_intents``), and a copy already
#: at the broker is never changed because of such a reason.
TRANSIENT_SKIP_PREFIX = "waiting: "


def is_transient_skip(reason: str | None) -> bool:
    """True when ``reason`` says the copy waits for a fact sizing lacks (see above)."""
    return reason is not None and reason.startswith(TRANSIENT_SKIP_PREFIX)


#: A skip reason that starts with this: the leader's quantity, scaled (and capped), is below
#: one lot now. The leader may raise it: the next event sizes the copy again.
BELOW_ONE_LOT_PREFIX = "below one lot: "


#: A skip reason that starts with this: an exit's copy had nothing (or less than a lot) of the
#: follower's position to close (``actors.exit_sizing``); the leader's next event may raise the
#: order into a flip, whose new side is then copied.
EXIT_SKIP_PREFIX = "exit: "


#: The ``error_code`` of a copy placed again as its stop's triggered form
#: (``Journal.replace_triggered_stop``): later leader events keep that form
#: (``store.rows.keep_triggered_form``). A later broker error on the copy replaces it.
TRIGGERED_FORM_CODE = "TRIGGERED_FORM"


#: A skip reason that starts with this: an exit's copy held back while an entry copy of the same
#: position is unconfirmed (``actors.exit_holds``); the leader feed sizes it again and sends it
#: when the entry is confirmed. Not settled: the copy is still to come.
HELD_PREFIX = "held: "


def is_held_skip(reason: str | None) -> bool:
    """True when ``reason`` says an exit copy is held back (see above)."""
    return reason is not None and reason.startswith(HELD_PREFIX)


def is_revivable_skip(reason: str | None) -> bool:
    """True when the next leader event re-derives a copy skipped for ``reason``: a transient
    reason, a size below one lot, an exit with nothing to close or one held back. Any other
    skip (a filter,
    ``reconcile_policy``, a leader order that ended while the follower was disabled) is a
    decision that stands."""
    return reason is not None and (
        reason.startswith(TRANSIENT_SKIP_PREFIX)
        or reason.startswith(BELOW_ONE_LOT_PREFIX)
        or reason.startswith(EXIT_SKIP_PREFIX)
        or reason.startswith(HELD_PREFIX)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredIntent:
    """What one follower's copy of one leader order (leg) should look like now."""

    follower: str
    leader_order_id: str
    leg: str = ""  #: ``""`` for plain orders
    correlation_id: str  #: ``dhan.correlation.correlation_id_for(follower, leader_order_id, leg)``
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    validity: Validity | None = None
    price: float = 0.0
    trigger_price: float = 0.0
    bo_profit_value: float | None = None
    bo_stop_loss_value: float | None = None
    target_price: float | None = None
    stop_loss_price: float | None = None
    trailing_jump: float | None = None
    desired_open: bool = True  #: False: the copy should be cancelled if it is still open
    skip_reason: str | None = None  #: set: recorded as SKIPPED with this reason, never sent
    after_market_order: bool = False  #: placed as an after-market order (AMO)
    amo_time: AmoTime | None = None  #: the AMO's time (None: the default, ``AmoTime.OPEN``)


#: The fields of an intent that come from the leader (the "desired" follower order): every
#: field of ``DesiredIntent`` but the four that name the copy.
DESIRED_ORDER_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(DesiredIntent)
    if f.name not in ("follower", "leader_order_id", "leg", "correlation_id")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """A follower intent as journalled: the desired order plus where its copy stands."""

    id: int
    follower: str
    leader_order_id: str
    leg: str
    correlation_id: str
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    validity: Validity | None
    price: float
    trigger_price: float
    bo_profit_value: float | None
    bo_stop_loss_value: float | None
    target_price: float | None
    stop_loss_price: float | None
    trailing_jump: float | None
    desired_open: bool
    skip_reason: str | None
    state: IntentState
    desired_version: int  #: bumped each time the desired fields change
    applied_version: int  #: the desired_version the broker order reflects (0 = none yet)
    broker_order_id: str | None
    broker_status: OrderStatus | None
    filled_qty: int
    modifications: int  #: modify requests sent for this order (Dhan allows 25)
    attempts: int  #: place requests sent (each PLANNED/UNKNOWN -> SENDING)
    error_code: str | None  #: DH code of the last rejection, e.g. "DH-906"
    error_message: str | None
    state_reason: str | None  #: why the last transition happened (free text)
    created_at: datetime
    updated_at: datetime
    after_market_order: bool = False  #: placed as an after-market order (AMO)
    amo_time: AmoTime | None = None  #: the AMO's time (None: the default, ``AmoTime.OPEN``)

    @property
    def in_sync(self) -> bool:
        """True when the broker order reflects the latest desired fields."""
        return self.applied_version >= self.desired_version

    def desired(self) -> DesiredIntent:
        """The desired order this intent currently holds."""
        return DesiredIntent(
            follower=self.follower,
            leader_order_id=self.leader_order_id,
            leg=self.leg,
            correlation_id=self.correlation_id,
            **{name: getattr(self, name) for name in DESIRED_ORDER_FIELDS},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BracketLeg:
    """One exit leg (target / stop-loss) of a follower's bracket or super order."""

    id: int
    intent_id: int  #: the entry intent this leg belongs to
    leg_name: str
    order_id: str | None
    status: OrderStatus
    price: float | None
    trigger_price: float | None
    quantity: int | None
    filled_qty: int
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One append-only audit entry: a decision or a broker call with its outcome."""

    id: int
    at: datetime
    kind: str
    actor: str
    account: str | None
    payload: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorRestart:
    """A supervisor restarted ``actor`` because of ``reason``."""

    id: int
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowerFlag:
    """Operator-visible flags of a follower account (quarantine after too many restarts)."""

    follower: str
    quarantined: bool
    reason: str | None
    updated_at: datetime


class OperatorMode(StrEnum):
    """A follower's operator mode (``python -m copytrader pause / close-only / resume``)."""

    NORMAL = "normal"  #: every leader order copied
    PAUSED = "paused"  #: no new copy; cancels and modifies of existing copies still mirrored
    CLOSE_ONLY = "close_only"  #: no new entry; exits (and all of the above) still mirrored


#: A skip reason that starts with this: an operator's mode kept the copy from being made
#: (``actors.operator_modes``). A decision that stands: ``resume`` does not revive it.
OPERATOR_SKIP_PREFIX = "operator: "


def is_operator_skip(reason: str | None) -> bool:
    """True when ``reason`` says an operator's mode kept the copy from being made."""
    return reason is not None and reason.startswith(OPERATOR_SKIP_PREFIX)


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowerMode:
    """A follower's operator mode as journaled: since when, set by which command, why."""

    follower: str
    mode: OperatorMode
    set_by: str
    reason: str | None
    set_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FlattenRequest:
    """A ``flatten`` asked of the running engine (``Journal.request_flatten``)."""

    id: int
    follower: str
    kill_switch: bool
    requested_by: str
    requested_at: datetime
    state: str  #: ``pending``, then ``done`` (flat) or ``failed``
    result: str | None  #: what the engine did, one line per cancel / order
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionRequest:
    """One move of ``Journal.transitions``: the arguments of ``Journal.transition``.

    ``None`` leaves the stored value as is; ``expect_from`` set: refused (``StaleState``) when
    the intent is in another state; ``expect_version`` set: refused (``StaleVersion``) when
    its ``desired_version`` is another (the leader feed changed what it wants since the caller
    read it).
    """

    intent_id: int
    to: IntentState
    expect_from: IntentState | None = None
    expect_version: int | None = None
    broker_order_id: str | None = None
    applied_version: int | None = None  #: on an ack: the ``desired_version`` that was sent
    error_code: str | None = None  #: DH code of a rejection, e.g. "DH-906"
    error_message: str | None = None
    broker_status: OrderStatus | None = None
    filled_qty: int | None = None
    reason: str | None = None  #: why (free text, kept as ``state_reason``)


class TransitionChanges(TypedDict, total=False):
    """The keyword arguments of ``Journal.transition``: a ``TransitionRequest`` but for its
    ``intent_id`` and ``to`` (``tests/unit/store/test_record_columns.py`` holds the two
    together)."""

    expect_from: IntentState | None
    expect_version: int | None
    broker_order_id: str | None
    applied_version: int | None
    error_code: str | None
    error_message: str | None
    broker_status: OrderStatus | None
    filled_qty: int | None
    reason: str | None


# --- positions (issue 16) -------------------------------------------------------------------

#: The account name of the leader in the positions, fills and exit bases.
LEADER_ACCOUNT = "leader"


@dataclass(frozen=True, slots=True)
class PositionKey:
    """One position: an instrument in one product (``"CNC"``, ``"INTRADAY"``, ``"MARGIN"``...)."""

    exchange_segment: str  #: ``"NSE_EQ"``, ``"NSE_FNO"``...
    security_id: str
    product_type: str


@dataclass(frozen=True, slots=True)
class OrderFill:
    """One broker order's cumulative fill, as the broker reports it.

    ``order_id``: the broker's order id (the leader's order id for the leader); an exit leg of a
    bracket or super order that shares its entry's id is told apart by ``fill_order_id``.
    ``filled_qty`` is cumulative: a value smaller than the one recorded is ignored.
    """

    order_id: str
    key: PositionKey
    transaction_type: str  #: ``"BUY"`` | ``"SELL"``
    filled_qty: int


@dataclass(frozen=True, slots=True)
class PositionRow:
    """The journal's net position of one account in one key."""

    account: str  #: ``"leader"`` or a follower's name
    key: PositionKey
    net_qty: int  #: signed: > 0 long, < 0 short
    #: the part from earlier days (the broker's carryForwardBuyQty - carryForwardSellQty; for
    #: CNC also the holdings' quantity), as the last ``reset_positions`` set it
    carried_qty: int
    checked_at: datetime | None  #: last set from the broker (``reset_positions``)
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """The broker's truth for one key (GET /positions, GET /holdings)."""

    key: PositionKey
    net_qty: int
    carried_qty: int


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """A key where the journal disagreed with the broker (``reset_positions``)."""

    account: str
    key: PositionKey
    journal_qty: int
    broker_qty: int


@dataclass(frozen=True, slots=True)
class Exposure:
    """What sizing an exit needs of one account and key (``Journal.exposures``)."""

    net_qty: int  #: the journal's net position (signed)
    #: >= 0: unfilled remainder of this account's other open exits on the given side (orders /
    #: copies with an exit basis > 0)
    pending_exit_qty: int
    #: >= 0 (followers only; 0 for the leader): unfilled remainder of the follower's
    #: non-terminal MARKET copies on the opposite side with no exit basis (entries about to
    #: fill)
    inflight_entry_qty: int
    #: >= 0: the part of ``pending_exit_qty`` in MARKET orders / copies (exits about to fill;
    #: the rest rests at a price and may never fill)
    pending_market_exit_qty: int = 0


def position_key_of(order: Any) -> PositionKey:
    """The ``PositionKey`` of anything with ``exchange_segment``, ``security_id`` and
    ``product_type`` (a snapshot, an intent, a broker order), enums as their plain values."""
    return PositionKey(str(order.exchange_segment), str(order.security_id), str(order.product_type))


def fill_order_id(order_id: str, leg: str | None = None) -> str:
    """The order id a fill is ledgered under: ``order_id`` for a plain order or an entry (leg
    ``None``, ``""``, ``"NA"`` or ``ENTRY_LEG``), ``"<order_id>:<leg>"`` for an exit leg (a
    super order's legs share their entry's order id, so the leg tells their fills apart)."""
    leg = normalise_leg(leg)
    if not leg or leg == "ENTRY_LEG":
        return order_id
    return f"{order_id}:{leg}"
