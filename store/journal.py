"""The journal: the one repository API the actors use; the durable inbox of the engine.

Everything that must survive a crash is committed here before anyone is told: the leader
feed records each leader event together with the follower intents derived from it (one
transaction), a follower marks an intent SENDING (committed) before its HTTP request goes out.
Every method is thread-safe and runs one short transaction on a pooled connection. The calls
made per order or per follower tick run precompiled driver SQL (``store.hot_path``,
``store.reads``, ``store.writes``); the rest go through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, Unpack

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import DBAPIError

from dhan.codes import TERMINAL_STATUSES, LegName, OrderStatus
from store.checkpointer import WalCheckpointer
from store.driver import DbapiConnection, Driver
from store.engine import make_engine
from store.errors import (
    IntentNotFound,
    LeaseLost,
    StoreError,
    StoreUnavailable,
    unavailable_reason,
)
from store.group_commit import GroupCommitter
from store.hot_path import HotPath, TransitionOutcome, transition_changes
from store.instrument import JournalInstrument, observed_write
from store.models import (
    ActorRestartRow,
    BracketOrderLeg,
    FlattenRequestRow,
    FollowerFlagRow,
    FollowerIntent,
    LeaderOrder,
    OperatorModeRow,
)
from store.positions import check_fill, fill_params, position_from_row
from store.readers import ReadConnections
from store.reads import Reads
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
    TransitionChanges,
    TransitionRequest,
    normalise_leg,
)
from store.redaction import check_no_secrets
from store.rows import (
    flag_from_row,
    flatten_from_row,
    intent_from_row,
    leg_from_row,
    mode_from_row,
    restart_from_row,
    snapshot_from_row,
)
from store.schema import ensure_schema
from store.statements import select_intents
from store.states import NEEDS_BROKER_ORDER_ID, TERMINAL_STATES, IntentState
from store.writes import Writes

_INTENTS = FollowerIntent.__table__.c
_LEGS = BracketOrderLeg.__table__.c
_SNAPS = LeaderOrder.__table__.c
_TERMINAL = sorted(s.value for s in TERMINAL_STATES)
_TERMINAL_STATUS = sorted(s.value for s in TERMINAL_STATUSES)
#: The journal's own marks (not an account): the audit drain cursor lives here.
JOURNAL_ACCOUNT = "_journal"
AUDIT_DRAINED_MARK = "audit_drained_id"
_ACTOR = "journal"


def _now() -> datetime:
    return datetime.now(UTC)


def _key_order(key: PositionKey) -> tuple[str, str, str]:
    return (key.exchange_segment, key.security_id, key.product_type)


def _raise_if_unavailable(exc: BaseException, pooled: Any = None) -> None:
    """Raise ``StoreUnavailable`` from ``exc`` if it means an outage (dropping ``pooled``, a
    connection that may be dead, from the pool); return if it does not."""
    if isinstance(exc, StoreUnavailable) or not isinstance(exc, Exception):
        return
    reason = unavailable_reason(exc)
    if reason is None:
        return
    if pooled is not None:
        with contextlib.suppress(Exception):
            pooled.invalidate()
    raise StoreUnavailable(reason) from exc


class Journal:
    """The durable journal (SQLite WAL by default, PostgreSQL by URL). Create with ``open``."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by ``store.engine.make_engine``; prefer ``Journal.open``."""
        self._engine = engine
        self._dialect = engine.dialect.name
        self._driver = Driver(engine.dialect)
        self._hot = HotPath(engine.dialect, self._driver)
        self._reads = Reads(engine.dialect, self._driver)
        self._writes = Writes(engine.dialect, self._hot)
        self._closed = False
        #: the lease this process holds on the journal (``store.lease``): once it is lost,
        #: every call raises ``LeaseLost`` (see ``hold_lease``)
        self._lease: Any = None
        #: SQLite: concurrent writers share one commit (one fsync); see store.group_commit
        self._group: GroupCommitter | None = None
        #: SQLite: idle read connections held out of the pool (see store.readers)
        self._readers: ReadConnections | None = None
        if self._dialect == "sqlite":
            self._group = GroupCommitter(engine.raw_connection, self._driver)
            self._readers = ReadConnections(engine.raw_connection, keep=engine.pool.size())  # type: ignore[attr-defined]  # QueuePool
        #: profiling hook (``store.instrument``), told of each write; None: none
        self.instrument: JournalInstrument | None = None
        self._checkpointer: WalCheckpointer | None = None
        if self._dialect == "sqlite" and engine.url.database:
            pause = self._group.paused if self._group is not None else None
            self._checkpointer = WalCheckpointer(engine.url.database, pause=pause)
            self._checkpointer.start()

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "sqlite:///copytrader.db",
        *,
        sqlite_synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
        pool_size: int = 8,
    ) -> Journal:
        """Open the journal at ``url``, creating or upgrading its schema (alembic).

        Raises ``SchemaTooNew`` when the database was written by a newer copytrader and
        ``StoreUnavailable`` when it cannot be reached (or written) now.
        ``sqlite_synchronous`` exists for benchmarks; keep the FULL default in production.
        """
        engine = make_engine(
            url,
            sqlite_synchronous=sqlite_synchronous,
            busy_timeout_ms=busy_timeout_ms,
            pool_size=pool_size,
        )
        try:
            ensure_schema(engine)
        except BaseException as exc:
            engine.dispose()
            _raise_if_unavailable(exc)
            raise
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection. The journal cannot be used afterwards."""
        self._closed = True
        if self._group is not None:
            self._group.close()
        if self._readers is not None:
            self._readers.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._engine.dispose()

    def hold_lease(self, lease: Any) -> None:
        """Fence this journal by ``lease`` (a held ``store.lease.JournalLease``): from the
        moment it is lost, every call raises ``LeaseLost`` until it is taken again."""
        self._lease = lease

    def ping(self) -> None:
        """One read (``SELECT 1``): raises ``StoreUnavailable`` when the database cannot be
        reached. Writes nothing, so readiness probes may call it as often as they like."""
        with self._driver_read() as conn:
            self._driver.control(conn, "SELECT 1")

    def probe_write(self) -> None:
        """Commit one small row (the ``_journal/store_probe`` mark): proves the database takes
        writes again after an outage (a full disk, a lock held too long). Raises
        ``StoreUnavailable`` while it does not."""
        self.set_mark(JOURNAL_ACCOUNT, "store_probe", _now().isoformat())

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Journal({self.url!r})"

    def _check_usable(self) -> None:
        if self._closed:
            raise StoreError("the journal is closed")
        lease = self._lease
        if lease is not None and lease.lost is not None:
            raise LeaseLost(f"journal lease lost: {lease.lost}")

    def _write(self) -> AbstractContextManager[DbapiConnection]:
        """A write transaction (``_transaction``), shown to ``self.instrument`` if one is set."""
        instrument = self.instrument  # profiling hook (store.instrument)
        if instrument is None:
            return self._transaction()
        return observed_write(instrument, self._transaction())

    @contextmanager
    def _transaction(self) -> Iterator[DbapiConnection]:
        """A write transaction on a DB-API connection, committed on a clean exit.

        SQLite: a place in the group commit (``BEGIN IMMEDIATE``; see store.group_commit).
        PostgreSQL: a pooled psycopg connection (it begins on the first statement).
        A driver error that means an outage is raised as ``StoreUnavailable`` (from it).
        """
        self._check_usable()
        if self._group is not None:
            try:
                with self._group.transaction() as shared:
                    yield shared
            except Exception as exc:
                _raise_if_unavailable(exc)
                raise
            return
        try:
            pooled = self._engine.raw_connection()
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise
        try:
            conn: Any = pooled.dbapi_connection
            try:
                yield conn
            except BaseException as exc:
                with contextlib.suppress(Exception):  # a broken connection: the pool pings it
                    conn.rollback()
                _raise_if_unavailable(exc, pooled)
                raise
            try:
                conn.commit()
            except self._driver.dbapi_error as exc:
                _raise_if_unavailable(exc, pooled)
                raise DBAPIError.instance("COMMIT", None, exc, self._driver.dbapi_error) from exc
        finally:
            pooled.close()

    @contextmanager
    def _driver_read(self) -> Iterator[DbapiConnection]:
        """A DB-API connection for one precompiled read (``store.reads``)."""
        self._check_usable()
        if self._readers is not None:  # SQLite
            pooled = self._readers.take()
            conn: Any = pooled.dbapi_connection
            try:
                yield conn
            except Exception as exc:
                _raise_if_unavailable(exc)
                raise
            finally:
                self._readers.give(pooled, broken=conn.in_transaction)
            return
        try:
            pooled = self._engine.raw_connection()
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise
        conn = pooled.dbapi_connection
        # PostgreSQL: one SELECT needs no transaction; autocommit saves the BEGIN and the
        # ROLLBACK (after which psycopg would also drop its prepared statements).
        try:
            conn.autocommit = True
            yield conn
        except Exception as exc:
            _raise_if_unavailable(exc, pooled)
            raise
        finally:
            try:
                conn.autocommit = False
            except Exception:  # a broken connection: never back into the pool
                pooled.invalidate()
            pooled.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_usable()
        try:
            with self._engine.connect() as conn:
                yield conn
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    # --- leader side ----------------------------------------------------------------------

    def record_leader_snapshot(
        self,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        *,
        claim_for: Iterable[str] = (),
        bases: Mapping[str, int] | None = None,
    ) -> bool:
        """Journal one leader event and the follower intents derived from it, atomically.

        Returns False, changing nothing, when ``snap.dedupe_key`` was recorded before (a
        duplicated frame; the database's unique key decides, so concurrent writers of one
        event produce one row). Otherwise records the event and returns True; the latest
        snapshot of ``(leader_order_id, leg_name)`` is replaced only if this one is newer
        (broker update time, then ``seq``) or terminal where the stored one is open; an open
        snapshot never replaces a terminal one. When the snapshot is stale its intents are
        ignored too (they were derived from old data). Otherwise each intent is inserted
        (PLANNED, or SKIPPED when ``skip_reason`` is set) or, if its desired fields changed
        and it is not terminal, updated with ``desired_version`` bumped (a PLANNED intent
        that is now skipped becomes SKIPPED). Every change is audited in the same commit.
        Every intent must be of ``snap.leader_order_id``; otherwise ``ValueError``, nothing
        recorded.

        ``claim_for``: followers whose *new*, sendable intents are inserted already SENDING
        (claimed) instead of PLANNED. SENDING means "may have been sent": a follower that
        restarts looks such an intent up by correlationId before sending it, so a claim is
        safe even if nobody acts on it; it saves the follower a commit before each place.

        Positions: a new snapshot that is not stale applies the leader's fill (``filled_qty``,
        cumulative, ledgered under ``fill_order_id(leader_order_id, leg_name)``) to the
        ``"leader"`` position of its key in the same transaction. ``bases``: the exit bases
        of this leader order by account (``"leader"``: X0, a follower: F0), recorded unless the
        frame is a duplicate; one already recorded for (order, account) is kept (first wins).
        A basis below 0 raises ``ValueError``, nothing recorded.
        """
        with self._write() as conn:
            return self._hot.record(
                conn, snap, intents, _now(), frozenset(claim_for), None, None, bases
            )

    def record_and_claim(
        self,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        claim_for: Iterable[str],
        touched_out: set[str] | None = None,
        *,
        bases: Mapping[str, int] | None = None,
    ) -> list[Intent] | None:
        """``record_leader_snapshot`` with ``claim_for``, returning the intents it claimed.

        None for a duplicated frame. The claimed intents (SENDING, read back with their ids in
        the same transaction) let the leader feed hand each follower its work in the hint, so
        the follower's hot path starts without a read. ``touched_out`` receives the followers
        whose intents were inserted or changed (only they have work from this event).
        The leader's fill and ``bases``: as ``record_leader_snapshot``.
        """
        claimed: list[Intent] = []
        with self._write() as conn:
            new = self._hot.record(
                conn, snap, intents, _now(), frozenset(claim_for), claimed, touched_out, bases
            )
        return claimed if new else None

    def record_intents(
        self,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        touched_out: set[str] | None = None,
        *,
        bases: Mapping[str, int] | None = None,
        rebase: bool = False,
    ) -> None:
        """Journal intents re-derived for a leader order already journaled, with no new event.

        For a child of a slicing whose share moved because a sibling changed, or when a fact
        sizing lacked (a balance) has arrived (``snap`` is the order's latest snapshot; audits
        name its event); a skipped copy that is now wanted is planned again. Inserted intents
        are PLANNED, never claimed; changes follow ``record_leader_snapshot``'s rules.
        ``touched_out`` receives the followers whose intents changed (they need a hint).
        ``bases``: exit bases of ``snap``'s leader order not recorded yet (first wins);
        ``rebase``: ``bases`` replace the recorded ones (a resting order planned again after
        the leader's position moved), in the same transaction as the intents sized from them.
        """
        with self._write() as conn:
            self._hot.record_intents(conn, snap, intents, _now(), touched_out, bases, rebase)

    def slicing_candidates(
        self,
        snap: LeaderOrderSnapshot,
        created_keys: Sequence[str],
        created_from: str,
        created_to: str,
    ) -> list[LeaderOrderSnapshot]:
        """Latest snapshots of the plain leader orders that may share ``snap``'s slicing.

        Same segment, security, side and product, and a create time (the first of
        ``created_keys`` in the order's raw frame or row, ``"YYYY-MM-DD HH:MM:SS"``) between
        ``created_from`` and ``created_to``: the comparison runs in the database, so a day of
        orders on one instrument costs a scan there, not a decode of each row here; a
        precompiled driver read (``store.reads``). ``actors.slicing.same_slicing`` decides.
        """
        params = {
            "security_id": snap.security_id,
            "exchange_segment": str(snap.exchange_segment),
            "transaction_type": str(snap.transaction_type),
            "product_type": str(snap.product_type),
            "created_from": created_from,
            "created_to": created_to,
        }
        with self._driver_read() as conn:
            return self._reads.slicing_candidates(conn, tuple(created_keys), params)

    def leader_snapshot(
        self, leader_order_id: str, leg_name: str | None = None
    ) -> LeaderOrderSnapshot | None:
        """The latest snapshot of a leader order, or None if never seen.

        ``leg_name`` None: the plain order, else its ENTRY_LEG. Otherwise that exact leg.
        """
        legs = ["", LegName.ENTRY_LEG.value] if leg_name is None else [normalise_leg(leg_name)]
        with self._driver_read() as conn:
            return self._reads.leader_snapshot(conn, leader_order_id, legs)

    def leader_snapshots(
        self, open_only: bool = False, *, leader_order_id: str | None = None
    ) -> list[LeaderOrderSnapshot]:
        """Latest snapshots of every leader order and leg (only open ones if ``open_only``)."""
        stmt = select(*_SNAPS).order_by(_SNAPS.leader_order_id, _SNAPS.leg_name)
        if open_only:
            stmt = stmt.where(_SNAPS.is_terminal.is_(False))
        if leader_order_id is not None:
            stmt = stmt.where(_SNAPS.leader_order_id == leader_order_id)
        with self._read() as conn:
            return [snapshot_from_row(row._mapping) for row in conn.execute(stmt)]

    def leader_legs(self, parent_order_id: str) -> list[LeaderOrderSnapshot]:
        """Latest snapshots of the exit legs (target, stop-loss) of the bracket or super order
        whose entry is ``parent_order_id``, by leg name.

        A BO/CO leg has its own order id, so this filters on ``parent_order_id`` (not indexed:
        a scan of today's leader orders inside the database, no rows shipped to Python).
        """
        with self._driver_read() as conn:
            return self._reads.leader_legs(conn, parent_order_id)

    # --- follower side --------------------------------------------------------------------

    def intents_needing_action(
        self, follower: str, *, include_in_flight: bool = True
    ) -> list[Intent]:
        """The follower's intents that need work, oldest first.

        PLANNED and UNKNOWN; WORKING whose desired fields moved past the applied version, or
        whose copy has filled the desired quantity and is still open (its rest is cancelled); and,
        with ``include_in_flight`` (the default, for ``on_start``), SENDING / MODIFYING /
        CANCELLING: found at start they were in flight when the process died, so their
        outcome is unknown and must be looked up before any resend.
        """
        with self._driver_read() as conn:
            return self._reads.intents_needing_action(conn, follower, bool(include_in_flight))

    def intents(
        self,
        follower: str | None = None,
        states: Iterable[IntentState] | None = None,
        *,
        leader_order_id: str | None = None,
    ) -> list[Intent]:
        """Intents filtered by follower, states and leader order (all when None), by id."""
        wanted = None
        if states is not None:
            # Distinct, in a stable order: one compiled variant per number of states.
            wanted = sorted({IntentState(s).value for s in states})
        with self._driver_read() as conn:
            if wanted == []:
                return []
            return self._reads.intents(conn, follower, wanted, leader_order_id)

    def intent(self, intent_id: int) -> Intent:
        """The intent with this id; raises ``IntentNotFound``."""
        with self._driver_read() as conn:
            found = self._reads.intent(conn, intent_id)
        if found is None:
            raise IntentNotFound(intent_id)
        return found

    def intent_by_correlation_id(self, correlation_id: str) -> Intent | None:
        """The intent whose copy carries ``correlation_id``, or None."""
        with self._driver_read() as conn:
            return self._reads.intent_by_correlation_id(conn, correlation_id)

    def transition(
        self, intent_id: int, to: IntentState, **changes: Unpack[TransitionChanges]
    ) -> Intent:
        """Move an intent to ``to``, committed (and audited) before this returns.

        The keyword arguments are a ``TransitionRequest``'s (``expect_from``,
        ``broker_order_id``, ``applied_version``, ``error_code``, ``error_message``,
        ``broker_status``, ``filled_qty``, ``reason``). Raises ``IntentNotFound``;
        ``StaleState`` when ``expect_from`` is given and the intent is in another state
        (``StaleVersion``, one, when ``expect_version`` is given and its desired version moved);
        ``IllegalTransition`` when ``store.states`` forbids the move; ``ValueError`` when
        ``applied_version`` exceeds ``desired_version`` or when WORKING / MODIFYING / CANCELLING
        would be entered without a broker order id. ``None`` keyword arguments leave the stored
        value as is. Entering SENDING counts one attempt. Token-shaped parts of
        ``error_message`` and ``reason`` are stored as ``<redacted>``. On an ack, pass
        ``applied_version`` = the ``desired_version`` of the intent you sent.
        """
        request = TransitionRequest(intent_id=intent_id, to=to, **changes)
        columns = transition_changes(request)
        with self._write() as conn:
            return self._hot.transition(
                conn,
                intent_id,
                IntentState(to),
                request.expect_from,
                columns,
                _now(),
                request.expect_version,
            )

    def transitions(
        self,
        requests: Sequence[TransitionRequest],
        *,
        marks: tuple[str, Mapping[str, str]] | None = None,
    ) -> list[TransitionOutcome]:
        """Apply several transitions in one transaction (one commit: one fsync on SQLite).

        Not all-or-nothing: each request is checked on its own, as ``transition`` checks it,
        against the state its predecessors in the batch left. A refused request changes
        nothing and its slot in the result holds the error (``IntentNotFound``, ``StaleState``,
        ``IllegalTransition`` or ``ValueError``), not raised; the others commit. The result has
        one entry per request, in order: the moved ``Intent`` or the refusal. Requests of one
        intent apply in the given order. Everything that moved is committed (and audited)
        before this returns; a database error raises and commits none of them.

        ``marks`` ``(account, {name: value})``: account marks set in the same transaction
        (whatever the requests' outcomes), e.g. the slippage of the copies these settle.
        """
        if not requests:
            return []
        now = _now()
        with self._write() as conn:
            if marks is not None:  # before the audit rows, which end the transaction
                self._writes.set_marks(conn, marks[0], marks[1], now)
            return self._hot.transitions(conn, requests, now)

    def replan_cancelled(self, intent_id: int) -> Intent | None:
        """Plan a new broker order for a copy whose cancel the leader overtook.

        For the follower that has just settled its own cancel of ``intent_id``: when the leader
        raised its order again while the cancel was in flight, the journaled desired order is
        wanted again but the copy is DONE. If it is a plain copy that ended unfilled, it becomes
        PLANNED under its next correlationId generation (as a leader event does it: see
        ``store.states``) and is returned; otherwise nothing changes and None is returned.
        """
        with self._write() as conn:
            return self._hot.replan_cancelled(conn, intent_id, _now())

    def replace_triggered_stop(self, intent_id: int) -> Intent | None:
        """Plan a copy of a leader's stop-loss order again in its triggered form.

        For the follower whose copy of a plain stop-loss order the broker rejected, unfilled,
        because the market had already crossed its trigger (the leader's own stop triggered
        before the copy arrived): the copy becomes PLANNED under its next correlationId
        generation as the order the leader's stop now is (``dhan.codes.TRIGGERED_FORM``: a
        LIMIT at its price, or a MARKET order), and is returned. Later leader events keep that
        form (``store.rows.keep_triggered_form``). None when the copy is not such a copy (or
        has had every generation).
        """
        with self._write() as conn:
            return self._hot.replace_triggered_stop(conn, intent_id, _now())

    def increment_modifications(self, intent_id: int) -> int:
        """Count one more modify request for this intent's order; returns the new count."""
        with self._write() as conn:
            count = self._writes.increment_modifications(conn, intent_id, _now())
        if count is None:
            raise IntentNotFound(intent_id)
        return count

    def unresolved_count(self, followers: Iterable[str] | None = None) -> int:
        """Intents neither terminal nor settled (WORKING with the latest desired fields applied),
        of these followers (None: all)."""
        settled = and_(
            _INTENTS.state == IntentState.WORKING.value,
            _INTENTS.applied_version >= _INTENTS.desired_version,
            _INTENTS.filled_qty < _INTENTS.quantity,  # else its rest is to be cancelled
        )
        stmt = (
            select(func.count())
            .select_from(FollowerIntent)
            .where(_INTENTS.state.not_in(_TERMINAL), ~settled)
        )
        if followers is not None:
            names = sorted(set(followers))
            if not names:
                return 0
            stmt = stmt.where(_INTENTS.follower.in_(names))
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- positions ------------------------------------------------------------------------

    def apply_fills(self, account: str, fills: Sequence[OrderFill]) -> list[PositionRow]:
        """Apply broker fills to ``account``'s positions; returns the positions that changed.

        Idempotent: for each fill, the delta over the cumulative quantity already applied for
        ``(account, order_id)`` (by this call, an earlier one, the leader's snapshots or a
        follower's transitions: one ledger) is added to the position of the fill's key (BUY +,
        SELL -); a cumulative not above the applied one writes nothing. One transaction.
        A fill of no side (``BUY`` / ``SELL``) or no order id raises ``ValueError``, nothing
        applied. An exit leg sharing its entry's order id: ``fill_order_id``.
        """
        for fill in fills:
            check_fill(fill)
        items = [fill_params(account, fill) for fill in fills]
        if not items:
            return []
        with self._write() as conn:
            rows = self._hot.positions.apply(conn, items, self._hot.ts(_now()), returning=True)
        return [position_from_row(row) for row in rows]

    def reset_positions(
        self, account: str, broker: Sequence[BrokerPosition], fills: Sequence[OrderFill]
    ) -> list[PositionCheck]:
        """Set ``account``'s positions to the broker's truth; returns where they differed.

        Every key of the account (in ``broker`` or journaled) gets the broker's net and
        carried quantity (0 and 0 when absent there) and ``checked_at`` = now; every fill of
        ``fills`` (the order book read with the positions) is marked applied without moving a
        position, so a later ``apply_fills`` of the same cumulative adds nothing. Returns the
        keys whose journaled net differed from the broker's, by key; each is audited
        (``position_checked``) in the same transaction. A key twice in ``broker`` or a bad
        fill raises ``ValueError``, nothing written.
        """
        by_key: dict[PositionKey, BrokerPosition] = {}
        for position in broker:
            if position.key in by_key:
                raise ValueError(f"{position.key} is twice in the broker's positions")
            by_key[position.key] = position
        for fill in fills:
            check_fill(fill)
        items = sorted(fill_params(account, fill) for fill in fills)
        positions = self._hot.positions
        checks: list[PositionCheck] = []
        with self._write() as conn:
            now = _now()
            ts = self._hot.ts(now)
            for item in items:  # the ledger first: the lock order of ``Positions.apply``
                positions.mark_applied(conn, item)
            stored = {
                position_from_row(row).key: int(row["net_qty"])
                for row in positions.rows(conn, account, locked=True)
            }
            audit = []
            for key in sorted(stored.keys() | by_key.keys(), key=_key_order):
                found = by_key.get(key)
                broker_qty = 0 if found is None else found.net_qty
                positions.set_to_broker(conn, account, key, found, ts)
                journal_qty = stored.get(key, 0)
                if journal_qty == broker_qty:
                    continue
                checks.append(PositionCheck(account, key, journal_qty, broker_qty))
                payload = {
                    "account": account,
                    "key": {
                        "exchange_segment": key.exchange_segment,
                        "security_id": key.security_id,
                        "product_type": key.product_type,
                    },
                    "journal_qty": journal_qty,
                    "broker_qty": broker_qty,
                }
                audit.append(self._hot.audit_row(ts, "position_checked", account, payload))
            self._hot.audit(conn, audit)
        return checks

    def positions(self, account: str | None = None) -> list[PositionRow]:
        """The journaled positions of ``account`` (all accounts when None), by account then
        key; a position flat now (0) is listed too."""
        with self._driver_read() as conn:
            rows = self._hot.positions.rows(conn, account)
        return [position_from_row(row) for row in rows]

    def exit_bases(self, leader_order_id: str) -> dict[str, int]:
        """account -> basis recorded at the leader order's first sight (``"leader"`` = X0, the
        leader's open quantity this order could reduce; a follower's name = F0). Empty: none
        recorded."""
        with self._driver_read() as conn:
            return self._hot.positions.bases(conn, leader_order_id)

    def applied_fill(self, account: str, order_id: str) -> int:
        """The cumulative fill of ``order_id`` already counted in ``account``'s positions (0:
        none). An order first seen after a position check that counted its fills has them in
        the position already: sizing its exit takes them back out (``actors.exit_bases``)."""
        with self._driver_read() as conn:
            return self._hot.positions.applied(conn, account, order_id)

    def applied_fills(self, account: str) -> dict[str, int]:
        """Every order's cumulative fill counted in ``account``'s positions (order id -> qty):
        a position check tells fills the journal has not seen from other differences."""
        with self._driver_read() as conn:
            return self._hot.positions.ledger(conn, account)

    def exposures(
        self,
        key: PositionKey,
        side: str,
        accounts: Sequence[str],
        exclude_leader_order_id: str | None = None,
        *,
        traded: bool = False,
        before_intent_id: int | None = None,
    ) -> dict[str, Exposure]:
        """What sizing an exit on ``side`` needs of every account named, in one read.

        ``side``: ``"BUY"`` reduces a short, ``"SELL"`` a long. For each account (``"leader"``
        and followers): its net position in ``key``; its pending exits -- the unfilled
        remainder of the leader's open plain orders of the key on ``side`` with a ``"leader"``
        basis > 0, or of a follower's non-terminal copies of the key on ``side`` with a basis >
        0 for (leader order, follower) -- and the part of those in MARKET orders; and, for a
        follower, its entries in flight -- the unfilled remainder of its non-terminal MARKET
        copies (not stop-loss market: it rests until triggered) of the key on the opposite
        side with no basis > 0. Orders and copies of ``exclude_leader_order_id``
        are left out. An account with nothing journaled gets zeros. ``ValueError`` for a side
        that is not ``BUY`` / ``SELL``. ``traded``: a follower's entries in flight also count
        its open copies of any order type whose leader order has filled (a resting order
        planned again: ``actors.leader_record``). ``before_intent_id``: a follower's copies
        are only those of older intents (a held exit: ``actors.exit_holds``).
        """
        with self._driver_read() as conn:
            return self._hot.positions.exposures(
                conn, key, side, accounts, exclude_leader_order_id, traded, before_intent_id
            )

    # --- bracket / super-order legs -------------------------------------------------------

    def upsert_leg(
        self,
        intent_id: int,
        leg_name: str,
        *,
        order_id: str | None,
        status: OrderStatus,
        price: float | None = None,
        trigger_price: float | None = None,
        quantity: int | None = None,
        filled_qty: int | None = None,
    ) -> BracketLeg:
        """Record a follower bracket leg of ``intent_id``; ``None`` keeps the stored value.

        The leg is audited when it is new or something changed. Raises ``IntentNotFound`` when
        the intent does not exist (a foreign key).
        """
        keep_if_none: dict[str, Any] = {
            "order_id": order_id,
            "price": price,
            "trigger_price": trigger_price,
            "quantity": quantity,
            "filled_qty": filled_qty,
        }
        status_value = OrderStatus(status).value
        with self._write() as conn:
            return self._writes.upsert_leg(
                conn, intent_id, leg_name, status_value, keep_if_none, _now()
            )

    def legs(self, intent_id: int) -> list[BracketLeg]:
        """The bracket legs recorded for ``intent_id``, by leg name."""
        with self._driver_read() as conn:
            return self._reads.legs(conn, intent_id)

    def open_brackets(self, follower: str | None = None) -> list[tuple[Intent, list[BracketLeg]]]:
        """Intents with at least one leg still open, each with all its legs (by intent id)."""
        open_ids = select(_LEGS.intent_id).where(_LEGS.status.not_in(_TERMINAL_STATUS))
        stmt = select_intents().where(_INTENTS.id.in_(open_ids)).order_by(_INTENTS.id)
        if follower is not None:
            stmt = stmt.where(_INTENTS.follower == follower)
        with self._read() as conn:
            intents = [intent_from_row(row._mapping) for row in conn.execute(stmt)]
            legs_stmt = (
                select(*_LEGS)
                .where(_LEGS.intent_id.in_([i.id for i in intents]))
                .order_by(_LEGS.intent_id, _LEGS.leg_name)
            )
            legs: dict[int, list[BracketLeg]] = {i.id: [] for i in intents}
            for row in conn.execute(legs_stmt):
                legs[row.intent_id].append(leg_from_row(row._mapping))
        return [(intent, legs[intent.id]) for intent in intents]

    # --- accounts, actors -----------------------------------------------------------------

    def set_mark(self, account: str, name: str, value: str) -> None:
        """Set the named mark (cursor / reconcile time...) of ``account``."""
        with self._write() as conn:
            self._writes.set_mark(conn, account, name, value, _now())

    def set_marks(self, account: str, values: Mapping[str, str]) -> None:
        """Set several named marks of ``account`` (name -> value) in one transaction."""
        if not values:
            return
        with self._write() as conn:
            self._writes.set_marks(conn, account, values, _now())

    def get_mark(self, account: str, name: str) -> str | None:
        """The named mark of ``account``, or None if never set."""
        with self._driver_read() as conn:
            return self._reads.mark(conn, account, name)

    def marks(self, account: str, prefix: str) -> dict[str, str]:
        """The marks of ``account`` whose name starts with ``prefix`` (name -> value)."""
        with self._driver_read() as conn:
            return self._reads.marks(conn, account, prefix)

    def record_restart(self, actor: str, reason: str) -> int:
        """Record (and audit) that ``actor`` was restarted because of ``reason``; returns its id."""
        with self._write() as conn:
            return self._writes.record_restart(conn, actor, reason, _now())

    def restarts(self, limit: int = 50, *, actor: str | None = None) -> list[ActorRestart]:
        """The latest actor restarts, newest first (only ``actor``'s when given)."""
        table = ActorRestartRow.__table__.c
        stmt = select(*table).order_by(table.id.desc()).limit(limit)
        if actor is not None:
            stmt = stmt.where(table.actor == actor)
        with self._read() as conn:
            return [restart_from_row(row._mapping) for row in conn.execute(stmt)]

    def set_follower_flag(self, follower: str, quarantined: bool, reason: str | None) -> None:
        """Quarantine (or release) a follower account; audited."""
        with self._write() as conn:
            self._writes.set_follower_flag(conn, follower, bool(quarantined), reason, _now())

    def follower_flag(self, follower: str) -> FollowerFlag | None:
        """The follower's flags, or None if never set."""
        table = FollowerFlagRow.__table__.c
        with self._read() as conn:
            row = conn.execute(select(*table).where(table.follower == follower)).one_or_none()
        return None if row is None else flag_from_row(row._mapping)

    def quarantined_followers(self) -> list[str]:
        """Followers currently quarantined, sorted."""
        table = FollowerFlagRow.__table__.c
        stmt = select(table.follower).where(table.quarantined.is_(True)).order_by(table.follower)
        with self._read() as conn:
            return list(conn.execute(stmt).scalars())

    def set_operator_mode(
        self, follower: str, mode: OperatorMode, *, set_by: str, reason: str | None = None
    ) -> None:
        """Set ``follower``'s operator mode (``set_by``: the command); audited in the same
        transaction (``operator_mode``)."""
        check_no_secrets([follower, set_by], "operator mode")
        with self._write() as conn:
            self._writes.set_operator_mode(
                conn, follower, OperatorMode(mode).value, set_by, reason, _now()
            )

    def operator_modes(self) -> dict[str, FollowerMode]:
        """Every journaled operator mode, by follower (a follower without one is normal)."""
        table = OperatorModeRow.__table__.c
        with self._read() as conn:
            rows = conn.execute(select(*table)).all()
        return {row.follower: mode_from_row(row._mapping) for row in rows}

    def request_flatten(self, follower: str, *, kill_switch: bool, requested_by: str) -> int:
        """Ask the running engine to flatten ``follower`` (audited); the request's id."""
        check_no_secrets([follower, requested_by], "flatten request")
        with self._write() as conn:
            return self._writes.request_flatten(
                conn, follower, bool(kill_switch), requested_by, _now()
            )

    def finish_flatten(self, request: FlattenRequest, *, flat: bool, result: str) -> None:
        """The engine ran ``request``: ``done`` when the account is flat, else ``failed``."""
        with self._write() as conn:
            self._writes.finish_flatten(conn, request.id, request.follower, flat, result, _now())

    def flatten_requests(self, *, pending_only: bool = True) -> list[FlattenRequest]:
        """The flatten requests (only the pending ones by default), oldest first."""
        table = FlattenRequestRow.__table__.c
        stmt = select(*table).order_by(table.id)
        if pending_only:
            stmt = stmt.where(table.state == "pending")
        with self._read() as conn:
            return [flatten_from_row(row._mapping) for row in conn.execute(stmt)]

    def flatten_request(self, request_id: int) -> FlattenRequest | None:
        table = FlattenRequestRow.__table__.c
        with self._read() as conn:
            row = conn.execute(select(*table).where(table.id == request_id)).one_or_none()
        return None if row is None else flatten_from_row(row._mapping)

    # --- audit outbox ---------------------------------------------------------------------

    def tag_orders(self, follower: str, tags: Mapping[str, str]) -> None:
        """Fields every audit record of ``follower``'s copies carries from now on, beside the
        order itself (its client id, its exchange algo ID): what an operator must be able to
        show for each order. Kept in memory: the engine sets them at each start.

        Raises ``SecretInPayload`` for anything credential-like: a token never reaches the trail.
        """
        tags = dict(tags)
        check_no_secrets([follower], "order tags")
        check_no_secrets(tags, "order tags")
        if tags:
            self._hot.order_tags[follower] = tags
        else:
            self._hot.order_tags.pop(follower, None)

    def append_audit(
        self, kind: str, *, actor: str, account: str | None, payload: dict[str, Any]
    ) -> int:
        """Append one audit entry (a decision, or a broker call and its outcome); returns its id.

        Raises ``SecretInPayload`` (a ``ValueError``) if any key of ``payload`` looks like a
        credential (token, password, secret...) or a value (or ``kind``, ``actor``,
        ``account``) looks like a JWT.
        """
        if not kind or not actor:
            raise ValueError("audit entries need a kind and an actor")
        check_no_secrets([kind, actor, account], "audit entry")
        check_no_secrets(payload)
        with self._write() as conn:
            return self._writes.append_audit(conn, kind, actor, account, payload, _now())

    def audit_after(self, last_id: int, limit: int = 500) -> list[AuditRecord]:
        """Audit entries with id > ``last_id``, oldest first, at most ``limit``."""
        with self._driver_read() as conn:
            return self._reads.audit_after(conn, last_id, limit)

    def mark_audit_drained(self, up_to_id: int) -> None:
        """Advance the drain cursor to ``up_to_id`` (never backwards). Rows are kept."""
        value = str(int(up_to_id))
        with self._write() as conn:
            self._writes.set_mark(
                conn, JOURNAL_ACCOUNT, AUDIT_DRAINED_MARK, value, _now(), only_raise=True
            )

    def audit_drained_id(self) -> int:
        """The drain cursor: the highest audit id the AuditActor has handled (0 = none)."""
        value = self.get_mark(JOURNAL_ACCOUNT, AUDIT_DRAINED_MARK)
        return 0 if value is None else int(value)

    # --- health ---------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found in the database; ``[]`` means healthy.

        SQLite: ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``. Both backends:
        the journal's own rules (applied <= desired version, open intents have an order id).
        """
        problems: list[str] = []
        with self._read() as conn:
            if self._dialect == "sqlite":
                rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if rows != ["ok"]:
                    problems += [f"integrity_check: {r}" for r in rows]
                problems += [
                    f"foreign_key_check: {tuple(r)}"
                    for r in conn.exec_driver_sql("PRAGMA foreign_key_check")
                ]
            ahead = conn.execute(
                select(_INTENTS.id).where(_INTENTS.applied_version > _INTENTS.desired_version)
            ).scalars()
            problems += [f"intent {i}: applied_version > desired_version" for i in ahead]
            orphans = conn.execute(
                select(_INTENTS.id).where(
                    _INTENTS.state.in_([s.value for s in NEEDS_BROKER_ORDER_ID]),
                    _INTENTS.broker_order_id.is_(None),
                )
            ).scalars()
            problems += [f"intent {i}: open without a broker order id" for i in orphans]
        return problems
