"""SQLAlchemy 2 typed models: the journal's tables, readable by an operator with plain SQL.

Uniqueness that the invariants rely on (one row per leader event, one intent per follower x
leader order x leg, one correlationId) is a database constraint, so two threads or two worker
processes can never both win. Only ``store`` reads or writes these tables. Indexes are few on
purpose: each one is pages written (and fsynced) on every leader event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.states import IntentState

#: SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets 64-bit ids.
IdType = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)

_STATES_SQL = ", ".join(f"'{s.value}'" for s in IntentState)
#: The predicate of the partial index of open plain leader orders, as each dialect renders
#: ``is_terminal == false() AND leg_name == ''`` (a query uses the index only when its WHERE
#: says the same: ``store.positions.exposures_query``).
OPEN_PLAIN_SQL = text("is_terminal = 0 AND leg_name = ''")
OPEN_PLAIN_PG = text("is_terminal = false AND leg_name = ''")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class LeaderEvent(Base):
    """Every leader event seen once: the dedupe key makes a duplicated frame a no-op."""

    __tablename__ = "leader_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    leader_order_id: Mapped[str] = mapped_column(String(64))
    leg_name: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    filled_qty: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    #: False when a newer (or terminal) snapshot was already known, so this one changed nothing.
    applied: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(Timestamp)


class LeaderOrder(Base):
    """The latest known state of each leader order (and each leg of it)."""

    __tablename__ = "leader_orders"
    __table_args__ = (
        # The open plain orders by security (a partial index: only orders still open, so it
        # stays small and a finished order leaves it): the leader's pending exits of an
        # instrument are one seek (``Journal.exposures``), not a scan of the day's orders.
        Index(None, "security_id", sqlite_where=OPEN_PLAIN_SQL, postgresql_where=OPEN_PLAIN_PG),
    )

    leader_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    leg_name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" = plain order
    dedupe_key: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    is_terminal: Mapped[bool] = mapped_column(Boolean)
    transaction_type: Mapped[str] = mapped_column(String(8))
    exchange_segment: Mapped[str] = mapped_column(String(16))
    product_type: Mapped[str] = mapped_column(String(16))
    order_type: Mapped[str] = mapped_column(String(24))
    validity: Mapped[str | None] = mapped_column(String(8))
    security_id: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    filled_qty: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Double)
    trigger_price: Mapped[float] = mapped_column(Double)
    avg_price: Mapped[float] = mapped_column(Double)
    bo_profit_value: Mapped[float | None] = mapped_column(Double)
    bo_stop_loss_value: Mapped[float | None] = mapped_column(Double)
    target_price: Mapped[float | None] = mapped_column(Double)
    stop_loss_price: Mapped[float | None] = mapped_column(Double)
    trailing_jump: Mapped[float | None] = mapped_column(Double)
    parent_order_id: Mapped[str | None] = mapped_column(String(64))
    is_super: Mapped[bool] = mapped_column(Boolean)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    after_market_order: Mapped[bool] = mapped_column(Boolean, server_default=false())
    amo_time: Mapped[str | None] = mapped_column(String(16))
    broker_updated_at: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)


class FollowerIntent(Base):
    """One follower's copy of one leader order (leg): the desired order and its state."""

    __tablename__ = "follower_intents"
    __table_args__ = (
        # Leader order first: one event's intents sit together in the index (one page written),
        # and it serves "the intents of leader order X".
        UniqueConstraint("leader_order_id", "follower", "leg"),
        # State first: the open states are a small, hot part of the index; a follower's work
        # list is one seek per state.
        Index(None, "state", "follower"),
        CheckConstraint(f"state IN ({_STATES_SQL})", name="state"),
        CheckConstraint("desired_version >= 1 AND applied_version >= 0", name="versions"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    follower: Mapped[str] = mapped_column(String(64))
    leader_order_id: Mapped[str] = mapped_column(String(64))
    leg: Mapped[str] = mapped_column(String(32))
    correlation_id: Mapped[str] = mapped_column(String(30), unique=True)
    transaction_type: Mapped[str] = mapped_column(String(8))
    exchange_segment: Mapped[str] = mapped_column(String(16))
    product_type: Mapped[str] = mapped_column(String(16))
    order_type: Mapped[str] = mapped_column(String(24))
    validity: Mapped[str | None] = mapped_column(String(8))
    security_id: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Double)
    trigger_price: Mapped[float] = mapped_column(Double)
    bo_profit_value: Mapped[float | None] = mapped_column(Double)
    bo_stop_loss_value: Mapped[float | None] = mapped_column(Double)
    target_price: Mapped[float | None] = mapped_column(Double)
    stop_loss_price: Mapped[float | None] = mapped_column(Double)
    trailing_jump: Mapped[float | None] = mapped_column(Double)
    desired_open: Mapped[bool] = mapped_column(Boolean)
    skip_reason: Mapped[str | None] = mapped_column(Text)
    after_market_order: Mapped[bool] = mapped_column(Boolean, server_default=false())
    amo_time: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    desired_version: Mapped[int] = mapped_column(Integer)
    applied_version: Mapped[int] = mapped_column(Integer)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    broker_status: Mapped[str | None] = mapped_column(String(16))
    filled_qty: Mapped[int] = mapped_column(Integer)
    modifications: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    state_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class BracketOrderLeg(Base):
    """An exit leg of a follower's bracket / super order, linked to its entry intent."""

    __tablename__ = "bracket_order_legs"
    __table_args__ = (UniqueConstraint("intent_id", "leg_name"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("follower_intents.id", ondelete="CASCADE"))
    leg_name: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    price: Mapped[float | None] = mapped_column(Double)
    trigger_price: Mapped[float | None] = mapped_column(Double)
    quantity: Mapped[int | None] = mapped_column(Integer)
    filled_qty: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class AccountMark(Base):
    """A named cursor / reconcile mark per account (e.g. last reconcile time)."""

    __tablename__ = "account_marks"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ActorRestartRow(Base):
    """Every actor restart: who, when, why."""

    __tablename__ = "actor_restarts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(Timestamp)


class FollowerFlagRow(Base):
    """Per-follower operator flags (quarantine)."""

    __tablename__ = "follower_flags"

    follower: Mapped[str] = mapped_column(String(64), primary_key=True)
    quarantined: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class OperatorModeRow(Base):
    """A follower's operator mode (``pause`` / ``close-only`` / ``resume``): who set it, when,
    why. No row: normal. Read by the running engine every second (``actors.operator_modes``)."""

    __tablename__ = "operator_modes"
    __table_args__ = (CheckConstraint("mode IN ('normal', 'paused', 'close_only')", name="mode"),)

    follower: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    #: the command (or component) that set it: ``pause``, ``close-only``, ``resume``, ...
    set_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(Timestamp)


class FlattenRequestRow(Base):
    """``flatten`` asked of a running engine (which holds the journal's lease): the engine
    carries it out and writes the outcome; the command waits for it."""

    __tablename__ = "flatten_requests"
    __table_args__ = (CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    follower: Mapped[str] = mapped_column(String(64))
    kill_switch: Mapped[bool] = mapped_column(Boolean)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(Timestamp)
    #: ``pending`` until the engine has run it: ``done`` (the account flat) or ``failed``
    state: Mapped[str] = mapped_column(String(16))
    #: what the engine did, one line per cancel / order (as the command prints it)
    result: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AuditEntry(Base):
    """The append-only audit outbox. Ids are in commit order; the AuditActor drains by id."""

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    account: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)


class Position(Base):
    """The journal's net position of one account (``"leader"`` or a follower) in one
    instrument and product: moved by fills (``position_fills``), set from the broker's book
    at start and after each reconnect (``checked_at``)."""

    __tablename__ = "positions"
    #: SQLite: the rows live in the primary key's B-tree (no rowid table beside it)
    __table_args__ = {"sqlite_with_rowid": False}

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    exchange_segment: Mapped[str] = mapped_column(String(16), primary_key=True)
    security_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    net_qty: Mapped[int] = mapped_column(BigInteger)
    carried_qty: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class PositionFill(Base):
    """The fill of one broker order already counted in ``positions``: the cumulative quantity
    applied, so a fill seen twice (socket, order book, a transition) moves a position once."""

    __tablename__ = "position_fills"
    #: SQLite: the rows live in the primary key's B-tree (one page written per fill, not two)
    __table_args__ = {"sqlite_with_rowid": False}

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the broker's order id; ``"<id>:<leg>"`` for an exit leg (``records.fill_order_id``)
    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    exchange_segment: Mapped[str] = mapped_column(String(16))
    security_id: Mapped[str] = mapped_column(String(32))
    product_type: Mapped[str] = mapped_column(String(16))
    transaction_type: Mapped[str] = mapped_column(String(8))
    filled_qty: Mapped[int] = mapped_column(BigInteger)
    #: ``filled_qty`` before its last raise: the upsert returns the delta it applied
    #: (``filled_qty - previous_qty``) without a read first
    previous_qty: Mapped[int] = mapped_column(BigInteger)


class ExitBasis(Base):
    """The quantity an account held that a leader order could reduce, recorded at the leader
    order's first sight (``"leader"``: X0; a follower: F0). The first recorded wins."""

    __tablename__ = "exit_bases"
    __table_args__ = (CheckConstraint("qty >= 0", name="qty"),)

    leader_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    qty: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)
