"""The durable journal: SQLAlchemy 2 models, alembic migrations and the ``Journal`` repository.

SQLite (WAL, synchronous=FULL) by default, PostgreSQL by URL. Actors never write SQL; they call
``Journal`` methods, each one short, thread-safe transaction. See ``store.states`` for the
follower-intent state machine and ``store.records`` for the values that go in and out.
"""

from store.errors import (
    IllegalTransition,
    IntentNotFound,
    SchemaTooNew,
    SecretInPayload,
    StaleState,
    StoreError,
)
from store.journal import Journal
from store.records import (
    ActorRestart,
    AuditRecord,
    BracketLeg,
    BrokerPosition,
    DesiredIntent,
    Exposure,
    FlattenRequest,
    FollowerFlag,
    FollowerMode,
    Intent,
    LeaderOrderSnapshot,
    OperatorMode,
    OrderFill,
    PositionCheck,
    PositionKey,
    PositionRow,
    SnapshotSource,
    TransitionRequest,
)
from store.states import TERMINAL_STATES, TRANSITIONS, IntentState

__all__ = [
    "TERMINAL_STATES",
    "TRANSITIONS",
    "ActorRestart",
    "AuditRecord",
    "BracketLeg",
    "BrokerPosition",
    "DesiredIntent",
    "Exposure",
    "FlattenRequest",
    "FollowerFlag",
    "FollowerMode",
    "IllegalTransition",
    "Intent",
    "IntentNotFound",
    "IntentState",
    "Journal",
    "LeaderOrderSnapshot",
    "OperatorMode",
    "OrderFill",
    "PositionCheck",
    "PositionKey",
    "PositionRow",
    "SchemaTooNew",
    "SecretInPayload",
    "SnapshotSource",
    "StaleState",
    "StoreError",
    "TransitionRequest",
]
