"""Positions in the journal: per account and key, the net quantity moved by fills, as driver SQL.

A fill is ledgered per ``(account, order_id)`` in ``position_fills`` with its cumulative
quantity; one upsert raises it only when the new cumulative is larger and returns the delta it
applied (``filled_qty - previous_qty``, both of the row it wrote), so a fill seen twice -- the
socket, the order book, a follower's transition -- moves a position once, without a read first
and without a race between two writers of one order. The delta then goes to ``positions`` in a
second upsert. Both run inside the caller's write transaction (``store.hot_path`` for the
leader's snapshots and the followers' transitions, ``Journal`` for the rest).

``exposures`` reads what sizing an exit needs of several accounts in one statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect

from dhan.codes import OrderType, TransactionType
from store.driver import (
    DbapiConnection,
    Driver,
    DriverSql,
    compile_for,
    dict_bound_dialect,
    in_constants,
    in_params,
    list_params,
)
from store.models import ExitBasis, FollowerIntent, LeaderOrder, Position, PositionFill
from store.records import (
    LEADER_ACCOUNT,
    BrokerPosition,
    Exposure,
    OrderFill,
    PositionKey,
    PositionRow,
)
from store.rows import utc
from store.statements import dialect_insert
from store.states import TERMINAL_STATES, IntentState

_POS = Position.__table__.c
_FILLS = PositionFill.__table__.c
_BASES = ExitBasis.__table__.c
_INTENTS = FollowerIntent.__table__.c
_SNAPS = LeaderOrder.__table__.c
_KEY = ("exchange_segment", "security_id", "product_type")
_FILL_KEYS = [c.name for c in PositionFill.__table__.c]
_POSITION_KEYS = [c.name for c in Position.__table__.c]
_BASIS_KEYS = [c.name for c in ExitBasis.__table__.c]
#: The states of an intent whose copy may still fill (or be sent), in a stable order.
OPEN_STATES = tuple(sorted(s.value for s in IntentState if s not in TERMINAL_STATES))
#: Copies that fill as soon as they reach the exchange: entries in flight. Not a stop-loss
#: market order: until its trigger it rests, and may never fill (counting it let an exit close
#: a position the follower did not hold).
MARKET_TYPES = (OrderType.MARKET.value,)
_SIDES = frozenset(t.value for t in TransactionType)
#: One fill as ``Positions.apply`` takes it: (account, exchange_segment, security_id,
#: product_type, order_id, transaction_type, cumulative filled quantity).
FillParams = tuple[str, str, str, str, str, str, int]


def signed(transaction_type: str, qty: int) -> int:
    """``qty`` with the sign of the side: a BUY adds to the position, a SELL subtracts."""
    if transaction_type == "BUY":
        return qty
    if transaction_type == "SELL":
        return -qty
    raise ValueError(f"not a side: {transaction_type!r}")


def opposite(side: str) -> str:
    """The other side (``"BUY"`` <-> ``"SELL"``)."""
    if side not in _SIDES:
        raise ValueError(f"not a side: {side!r}")
    return "SELL" if side == "BUY" else "BUY"


def fill_params(account: str, fill: OrderFill) -> FillParams:
    """``fill`` of ``account`` as ``Positions.apply`` takes it."""
    key = fill.key
    # ``str``: an enum (``dhan.codes``) given for a code binds as its value on every driver
    return (
        account,
        str(key.exchange_segment),
        str(key.security_id),
        str(key.product_type),
        fill.order_id,
        str(fill.transaction_type),
        fill.filled_qty,
    )


def check_bases(bases: Mapping[str, int]) -> None:
    """Raise ``ValueError`` (before anything is written) unless every basis is an account's
    name with a whole quantity >= 0."""
    for account, qty in bases.items():
        if not account or isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise ValueError(f"exit basis of {account!r} must be a quantity >= 0, not {qty!r}")


def check_fill(fill: OrderFill) -> None:
    """Raise ``ValueError`` (before anything is written) for a fill of no side or order."""
    if fill.transaction_type not in _SIDES or not fill.order_id:
        raise ValueError(f"not a fill of a BUY or SELL order: {fill!r}")


def key_params(key: PositionKey) -> dict[str, str]:
    """The key's columns as the statements bind them."""
    return {
        "exchange_segment": str(key.exchange_segment),
        "security_id": str(key.security_id),
        "product_type": str(key.product_type),
    }


def position_key_from_row(row: Mapping[str, Any]) -> PositionKey:
    return PositionKey(row["exchange_segment"], row["security_id"], row["product_type"])


# --- the statements -------------------------------------------------------------------------


def fill_upsert(dialect: str) -> Any:
    """Ledger one order's cumulative fill: insert it, or raise the stored one (only upwards),
    keeping the value it replaced; returns the delta applied and the order's key and side (no
    row when nothing moved)."""
    stmt = dialect_insert(dialect, PositionFill)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["account", "order_id"],
        set_={"previous_qty": _FILLS.filled_qty, "filled_qty": new.filled_qty},
        where=_FILLS.filled_qty < new.filled_qty,
    ).returning(
        (_FILLS.filled_qty - _FILLS.previous_qty).label("delta"),
        _FILLS.transaction_type,
        *(_FILLS[k] for k in _KEY),
    )


def fill_and_position(dialect: str) -> Any:
    """PostgreSQL: ``fill_upsert`` and ``position_add`` of one fill in one statement (a
    data-modifying CTE; one round trip, not two): the ledger row is locked first, then the
    position, as ``Positions.apply`` takes them. Binds the ledger's columns but
    ``previous_qty``, and ``updated_at``."""
    stmt = dialect_insert(dialect, PositionFill).values(
        {
            **{c: bindparam(c) for c in _FILL_KEYS if c != "previous_qty"},
            "previous_qty": literal_column("0"),
        }
    )
    new = stmt.excluded
    added = _FILLS.filled_qty - _FILLS.previous_qty
    fill = (
        stmt.on_conflict_do_update(
            index_elements=["account", "order_id"],
            set_={"previous_qty": _FILLS.filled_qty, "filled_qty": new.filled_qty},
            where=_FILLS.filled_qty < new.filled_qty,
        )
        .returning(
            _FILLS.account,
            *(_FILLS[k] for k in _KEY),
            case((_FILLS.transaction_type == literal_column("'BUY'"), added), else_=-added).label(
                "net_qty"
            ),
        )
        .cte("fill")
    )
    moved = select(
        fill.c.account,
        *(fill.c[k] for k in _KEY),
        fill.c.net_qty,
        literal_column("0"),
        cast(null(), DateTime(timezone=True)),
        bindparam("updated_at", type_=DateTime(timezone=True)),
    ).where(fill.c.net_qty != literal_column("0"))
    position = dialect_insert(dialect, Position).from_select(_POSITION_KEYS, moved)
    return position.on_conflict_do_update(
        index_elements=["account", *_KEY],
        set_={
            "net_qty": _POS.net_qty + position.excluded.net_qty,
            "updated_at": position.excluded.updated_at,
        },
    )


def position_add(dialect: str) -> Any:
    """Add ``net_qty`` to a position (created at it when new)."""
    stmt = dialect_insert(dialect, Position)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["account", *_KEY],
        set_={"net_qty": _POS.net_qty + new.net_qty, "updated_at": new.updated_at},
    )


def position_set(dialect: str) -> Any:
    """Set a position to the broker's (net, carried, checked now)."""
    stmt = dialect_insert(dialect, Position)
    new = stmt.excluded
    columns = ("net_qty", "carried_qty", "checked_at", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=["account", *_KEY], set_={c: new[c] for c in columns}
    )


def basis_insert(dialect: str) -> Any:
    """Record an exit basis unless one is recorded for (leader order, account): first wins."""
    return dialect_insert(dialect, ExitBasis).on_conflict_do_nothing(
        index_elements=["leader_order_id", "account"]
    )


def basis_replace(dialect: str) -> Any:
    """Record an exit basis, replacing the one recorded: a resting order planned again after
    the leader's position moved (``actors.leader_record``)."""
    stmt = dialect_insert(dialect, ExitBasis)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["leader_order_id", "account"],
        set_={"qty": new.qty, "recorded_at": new.recorded_at},
    )


def positions_query(by_account: bool) -> Select:
    stmt = select(*_POS).order_by(_POS.account, *(_POS[k] for k in _KEY))
    if by_account:
        stmt = stmt.where(_POS.account == bindparam("account"))
    return stmt


def bases_query() -> Select:
    return select(_BASES.account, _BASES.qty).where(
        _BASES.leader_order_id == bindparam("leader_order_id")
    )


def applied_query() -> Select:
    return select(_FILLS.filled_qty).where(
        _FILLS.account == bindparam("account"), _FILLS.order_id == bindparam("order_id")
    )


def ledger_query() -> Select:
    return select(_FILLS.order_id, _FILLS.filled_qty).where(_FILLS.account == bindparam("account"))


def _same_key(table: Any) -> Any:
    return and_(*(table[k] == bindparam(k) for k in _KEY))


def _remaining(table: Any) -> Any:
    left = table.quantity - table.filled_qty
    return case((left > 0, left), else_=0)


def _zero() -> Any:
    return cast(literal_column("0"), BigInteger)


def exposures_query(
    account_count: int,
    follower_count: int,
    leader: bool,
    traded: bool = False,
    before: bool = False,
) -> Select:
    """One statement, three parts (``UNION ALL``), rows of (account, net, pending,
    pending_market, inflight):

    - the positions of ``:account_<i>`` in the key (the primary key's seek);
    - per follower ``:follower_<i>``, the unfilled remainders of its open copies of the key:
      on ``:side`` with an exit basis > 0 (pending exits) and MARKET copies on
      ``:opposite`` without one (entries in flight) -- open states seek the (state, follower)
      index; bases are joined on their primary key;
    - the leader (``leader``): the unfilled remainders of its open plain orders of the key on
      ``:side`` with a leader basis > 0 (the partial index of open plain orders by security).

    Copies and orders of ``:exclude`` (the leader order being sized) are left out.
    ``traded``: a follower's entries in flight and its exits about to fill (``pending_market``)
    are also its copies of any order type whose leader order has filled (the leader's fill
    journaled): its copy has most likely filled too, or is about to. ``before``: a follower's
    copies are only those of intents older than ``:before`` (an intent id: the copies of
    leader orders seen before the one being sized, when they were journaled after it).
    """
    parts: list[Select] = [
        select(
            _POS.account.label("account"),
            _POS.net_qty.label("net"),
            _zero().label("pending"),
            _zero().label("pending_market"),
            _zero().label("inflight"),
        ).where(in_params(_POS.account, "account", account_count), _same_key(_POS))
    ]
    if follower_count:
        basis = ExitBasis.__table__.alias("basis")
        is_exit = and_(_INTENTS.transaction_type == bindparam("side"), basis.c.qty > 0)
        in_flight = in_constants(_INTENTS.order_type, "market", MARKET_TYPES)
        # a copy's fill the position already counts (a position check read it from the book
        # before the copy's own settle) is not its remainder as well: counted twice, an exit
        # closed twice what the follower held
        ledger = PositionFill.__table__.alias("ledger")
        source = FollowerIntent.__table__.outerjoin(
            basis,
            and_(
                basis.c.leader_order_id == _INTENTS.leader_order_id,
                basis.c.account == _INTENTS.follower,
            ),
        ).outerjoin(
            ledger,
            and_(
                ledger.c.account == _INTENTS.follower,
                ledger.c.order_id == _INTENTS.broker_order_id,
            ),
        )
        if traded:
            lead = PositionFill.__table__.alias("lead")
            source = source.outerjoin(
                lead,
                and_(
                    lead.c.account == literal_column(f"'{LEADER_ACCOUNT}'"),
                    lead.c.order_id == _INTENTS.leader_order_id,
                ),
            )
            in_flight = or_(in_flight, lead.c.filled_qty > 0)
        is_entry = and_(
            _INTENTS.transaction_type == bindparam("opposite"),
            in_flight,
            or_(basis.c.qty.is_(None), basis.c.qty == 0),
        )
        # exits about to fill: MARKET ones and (``traded``) those whose leader order has filled
        is_market_exit = and_(is_exit, in_flight)
        counted = case(
            (ledger.c.filled_qty > _INTENTS.filled_qty, ledger.c.filled_qty),
            else_=_INTENTS.filled_qty,
        )
        left = _INTENTS.quantity - counted
        remaining = case((left > 0, left), else_=0)
        # a flip's copy on the other side closed the follower's whole position (its basis) and
        # opens the rest: that rest, unfilled, is an entry in flight too (fills close first)
        is_flip = and_(
            _INTENTS.transaction_type == bindparam("opposite"), in_flight, basis.c.qty > 0
        )
        beyond = _INTENTS.quantity - case((counted > basis.c.qty, counted), else_=basis.c.qty)
        flip_open = case((beyond > 0, beyond), else_=0)
        conditions = [
            in_constants(_INTENTS.state, "open", OPEN_STATES),
            in_params(_INTENTS.follower, "follower", follower_count),
            _same_key(_INTENTS),
            _INTENTS.leader_order_id != bindparam("exclude"),
        ]
        if before:
            conditions.append(_INTENTS.id < bindparam("before"))
        parts.append(
            select(
                _INTENTS.follower.label("account"),
                _zero().label("net"),
                cast(func.sum(case((is_exit, remaining), else_=0)), BigInteger).label("pending"),
                cast(func.sum(case((is_market_exit, remaining), else_=0)), BigInteger).label(
                    "pending_market"
                ),
                cast(
                    func.sum(case((is_entry, remaining), (is_flip, flip_open), else_=0)),
                    BigInteger,
                ).label("inflight"),
            )
            .select_from(source)
            .where(*conditions)
            .group_by(_INTENTS.follower)
        )
    if leader:
        parts.append(
            select(
                literal_column(f"'{LEADER_ACCOUNT}'").label("account"),
                _zero().label("net"),
                cast(func.sum(_remaining(_SNAPS)), BigInteger).label("pending"),
                cast(
                    func.sum(
                        case(
                            (
                                in_constants(_SNAPS.order_type, "market", MARKET_TYPES),
                                _remaining(_SNAPS),
                            ),
                            else_=0,
                        )
                    ),
                    BigInteger,
                ).label("pending_market"),
                _zero().label("inflight"),
            )
            .select_from(
                LeaderOrder.__table__.join(
                    ExitBasis.__table__,
                    and_(
                        _BASES.leader_order_id == _SNAPS.leader_order_id,
                        _BASES.account == literal_column(f"'{LEADER_ACCOUNT}'"),
                    ),
                )
            )
            .where(
                # as the partial index says it (``models.OPEN_PLAIN_SQL``): a seek in it
                _SNAPS.is_terminal == false(),
                _SNAPS.leg_name == literal_column("''"),
                _same_key(_SNAPS),
                _SNAPS.transaction_type == bindparam("side"),
                _BASES.qty > 0,
                _SNAPS.leader_order_id != bindparam("exclude"),
            )
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)  # type: ignore[return-value]


class Positions:
    """The positions' statements for one dialect; each method takes the DB-API connection of
    the caller's transaction (a write one, but for the reads)."""

    def __init__(self, dialect: Dialect, driver: Driver) -> None:
        self.postgres = dialect.name == "postgresql"
        self._driver = driver
        d = self._dialect = dict_bound_dialect(dialect)
        name = dialect.name
        self.upsert_fill = compile_for(fill_upsert(name), d, _FILL_KEYS)
        self.add_position = compile_for(position_add(name), d, _POSITION_KEYS)
        #: PostgreSQL: one fill's two upserts in one round trip (``fill_and_position``)
        self.fill_and_position = compile_for(fill_and_position(name), d) if self.postgres else None
        self.add_position_returning = compile_for(
            position_add(name).returning(*_POS), d, _POSITION_KEYS
        )
        self.set_position = compile_for(position_set(name), d, _POSITION_KEYS)
        self.insert_basis = compile_for(basis_insert(name), d, _BASIS_KEYS)
        self.replace_basis = compile_for(basis_replace(name), d, _BASIS_KEYS)
        self.read_bases = compile_for(bases_query(), d)
        self.read_applied = compile_for(applied_query(), d)
        self.read_ledger = compile_for(ledger_query(), d)
        self.read_all = compile_for(positions_query(False), d)
        self.read_account = compile_for(positions_query(True), d)
        locked = positions_query(True)
        if self.postgres:
            locked = locked.with_for_update()
        self.read_account_locked = compile_for(locked, d)
        #: ``exposures`` variants by (accounts, followers, leader); compiled on first use
        self._exposures: dict[tuple[int, int, bool, bool, bool], DriverSql] = {}

    # --- writes ---------------------------------------------------------------------------

    def apply(
        self,
        conn: DbapiConnection,
        fills: Sequence[FillParams],
        ts: Any,
        *,
        returning: bool = False,
    ) -> list[dict[str, Any]]:
        """Ledger each fill's cumulative quantity for its ``(account, order_id)`` and move each
        position by what the fills add; ``returning``: returns the rows of the positions that
        moved (else ``[]``: the hot path reads nothing back).

        Lock order (PostgreSQL): the ledger rows first, then the positions, each in sorted
        order, as every writer of them takes them: two writers cannot deadlock.
        """
        if self.fill_and_position is not None and len(fills) == 1 and not returning:
            account, segment, security, product, order_id, side, cumulative = fills[0]
            if cumulative > 0:
                one = {
                    "account": account,
                    "order_id": order_id,
                    "exchange_segment": segment,
                    "security_id": security,
                    "product_type": product,
                    "transaction_type": side,
                    "filled_qty": cumulative,
                    "updated_at": ts,
                }
                self._driver.run(conn, self.fill_and_position, one)
            return []
        moved: dict[tuple[str, str, str, str], int] = {}
        for account, segment, security, product, order_id, side, cumulative in sorted(fills):
            if cumulative <= 0:
                continue
            fill = {
                "account": account,
                "order_id": order_id,
                "exchange_segment": segment,
                "security_id": security,
                "product_type": product,
                "transaction_type": side,
                "filled_qty": cumulative,
                "previous_qty": 0,
            }
            rows = self._driver.run(conn, self.upsert_fill, fill).rows
            if not rows or not rows[0]["delta"]:
                continue
            got = rows[0]  # the order's key and side as first ledgered
            key = (account, got["exchange_segment"], got["security_id"], got["product_type"])
            moved[key] = moved.get(key, 0) + signed(got["transaction_type"], got["delta"])
        changed = []
        for (account, segment, security, product), delta in sorted(moved.items()):
            if not delta:
                continue
            position = {
                "account": account,
                "exchange_segment": segment,
                "security_id": security,
                "product_type": product,
                "net_qty": delta,
                "carried_qty": 0,
                "checked_at": None,
                "updated_at": ts,
            }
            if returning:
                changed += self._driver.run(conn, self.add_position_returning, position).rows
            else:
                self._driver.run(conn, self.add_position, position)
        return changed

    def mark_applied(self, conn: DbapiConnection, fill: FillParams) -> None:
        """Ledger ``fill`` as counted, moving no position (the broker's book already holds it)."""
        account, segment, security, product, order_id, side, cumulative = fill
        if cumulative <= 0:
            return
        row = {
            "account": account,
            "order_id": order_id,
            "exchange_segment": segment,
            "security_id": security,
            "product_type": product,
            "transaction_type": side,
            "filled_qty": cumulative,
            "previous_qty": 0,
        }
        self._driver.run(conn, self.upsert_fill, row)

    def set_to_broker(
        self,
        conn: DbapiConnection,
        account: str,
        key: PositionKey,
        broker: BrokerPosition | None,
        ts: Any,
    ) -> None:
        """Set the position to the broker's (0 and 0 when the broker has none), checked now."""
        row = {
            "account": account,
            **key_params(key),
            "net_qty": 0 if broker is None else broker.net_qty,
            "carried_qty": 0 if broker is None else broker.carried_qty,
            "checked_at": ts,
            "updated_at": ts,
        }
        self._driver.run(conn, self.set_position, row)

    def record_bases(
        self,
        conn: DbapiConnection,
        leader_order_id: str,
        bases: Mapping[str, int],
        ts: Any,
        *,
        replace: bool = False,
    ) -> None:
        """Insert the bases not recorded yet for ``leader_order_id`` (the first wins);
        ``replace``: record these over the ones recorded."""
        rows = [
            {"leader_order_id": leader_order_id, "account": account, "qty": qty, "recorded_at": ts}
            for account, qty in sorted(bases.items())
        ]
        if rows:
            self._driver.run(conn, self.replace_basis if replace else self.insert_basis, rows)

    # --- reads ----------------------------------------------------------------------------

    def rows(
        self, conn: DbapiConnection, account: str | None, *, locked: bool = False
    ) -> list[dict[str, Any]]:
        if account is None:
            return self._driver.run(conn, self.read_all, {}).rows
        sql = self.read_account_locked if locked else self.read_account
        return self._driver.run(conn, sql, {"account": account}).rows

    def bases(self, conn: DbapiConnection, leader_order_id: str) -> dict[str, int]:
        rows = self._driver.run(conn, self.read_bases, {"leader_order_id": leader_order_id}).rows
        return {row["account"]: int(row["qty"]) for row in rows}

    def applied(self, conn: DbapiConnection, account: str, order_id: str) -> int:
        params = {"account": account, "order_id": order_id}
        rows = self._driver.run(conn, self.read_applied, params).rows
        return int(rows[0]["filled_qty"]) if rows else 0

    def ledger(self, conn: DbapiConnection, account: str) -> dict[str, int]:
        rows = self._driver.run(conn, self.read_ledger, {"account": account}).rows
        return {row["order_id"]: int(row["filled_qty"]) for row in rows}

    def exposures(
        self,
        conn: DbapiConnection,
        key: PositionKey,
        side: str,
        accounts: Sequence[str],
        exclude: str | None,
        traded: bool = False,
        before: int | None = None,
    ) -> dict[str, Exposure]:
        other = opposite(side)  # checks ``side``
        names = sorted(set(accounts))
        if not names:
            return {}
        followers = [a for a in names if a != LEADER_ACCOUNT]
        leader = len(followers) < len(names)
        older = before is not None and bool(followers)
        shape = (len(names), len(followers), leader, traded and bool(followers), older)
        sql = self._exposures.get(shape)
        if sql is None:
            sql = self._exposures[shape] = compile_for(exposures_query(*shape), self._dialect)
        params: dict[str, Any] = {
            **key_params(key),
            **list_params("account", names),
        }
        if followers or leader:
            params |= {"side": str(side), "exclude": exclude or ""}
        if followers:
            params |= list_params("follower", followers)
            params["opposite"] = other
            if older:
                params["before"] = before
        found = {name: [0, 0, 0, 0] for name in names}
        for row in self._driver.run(conn, sql, params).rows:
            sums = found[row["account"]]
            for i, column in enumerate(("net", "pending", "inflight", "pending_market")):
                sums[i] += int(row[column] or 0)
        return {
            name: Exposure(
                net_qty=net,
                pending_exit_qty=pending,
                inflight_entry_qty=inflight,
                pending_market_exit_qty=market,
            )
            for name, (net, pending, inflight, market) in found.items()
        }


def position_from_row(row: Mapping[str, Any]) -> PositionRow:
    """The ``PositionRow`` a ``positions`` row holds."""
    checked = row["checked_at"]
    return PositionRow(
        account=row["account"],
        key=position_key_from_row(row),
        net_qty=int(row["net_qty"]),
        carried_qty=int(row["carried_qty"]),
        checked_at=None if checked is None else utc(checked),
        updated_at=utc(row["updated_at"]),
    )
