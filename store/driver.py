"""Driver SQL: statements compiled once from the models, run straight on a DB-API connection.

The journal's frequent calls (each leader event, each broker call, the followers' reads) skip
SQLAlchemy's per-call machinery -- statement compilation, ``Connection``, events, result
processing -- which costs several times the SQL itself. Each statement is built from the models
(so it follows the schema), compiled once per dialect and run on the driver's connection.
Callers always pass dicts by column name: psycopg takes them as they are (``%(name)s``); for
sqlite3 the text is positional (``?``) and ``DriverSql.params`` lays the dict out in the
statement's order, because sqlite3 binds a named parameter by looking its name up in the dict
-- ~0.3 us per column, paid per row of a 34-column insert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


class DbapiConnection(Protocol):
    """The part of a DB-API 2 connection (sqlite3, psycopg) the journal uses."""

    def cursor(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Executed:
    """What a driver statement did: rows affected, and the rows it returned (as dicts)."""

    rowcount: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DriverSql:
    """One statement compiled for a dialect: its text and the constants it binds."""

    text: str
    constants: dict[str, Any] = field(default_factory=dict)
    #: Positional text (sqlite3): the parameter names in the order of its ``?`` marks.
    positions: tuple[str, ...] | None = None

    def params(self, values: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        """The driver's parameters for ``values`` (by column name) plus the statement's
        constants; a missing value raises ``KeyError`` naming it."""
        merged = {**self.constants, **values} if self.constants else values
        if self.positions is None:
            return merged
        return tuple([merged[name] for name in self.positions])


def _bind_null(_value: None) -> None:
    return None


def register_sqlite_binds() -> None:
    """Bind ``None`` and ``bool`` through sqlite3's adapter registry (idempotent).

    sqlite3 binds ``int``/``float``/``str`` at once, but any other type -- ``None`` and
    ``bool`` included -- goes through its adaptation protocol, whose ``__conform__`` lookup
    formats and discards an AttributeError: ~0.75 us per value, 0.1 ms for the ~15 NULL and
    boolean columns of ten intent rows. A registered adapter is found first. The registry is
    process-wide; these two give exactly what sqlite3 binds anyway (NULL, and 0/1).
    """
    sqlite3.register_adapter(type(None), _bind_null)
    sqlite3.register_adapter(bool, int)


def dict_bound_dialect(dialect: Dialect) -> Dialect:
    """``dialect`` with parameters ``compile_for`` can bind from a dict: psycopg's pyformat
    (named), or sqlite3's qmark (positional, laid out by name in ``DriverSql.params``)."""
    if dialect.paramstyle in ("pyformat", "qmark"):
        return dialect
    # A fresh instance of the same dialect class; SQLite dialects take the paramstyle.
    return type(dialect)(paramstyle="qmark")  # type: ignore[call-arg]  # the base class types no kwargs


def compile_for(stmt: Any, dialect: Dialect, keys: Sequence[str] | None = None) -> DriverSql:
    """Compile ``stmt`` to driver SQL with named parameters (``keys``: the columns bound).

    An ``IN`` list must be one ``bindparam`` per item (``in_params``): SQLAlchemy renders an
    expanding ``IN`` per call, which is what this avoids.
    """
    columns = set(keys or ())
    dialect = dict_bound_dialect(dialect)
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None)
    text = str(compiled)
    if "POSTCOMPILE" in text:
        raise ValueError(f"an expanding IN cannot be precompiled; use in_params: {text}")
    # Parameters without a value are the caller's; the others are literals of the statement.
    constants = {k: v for k, v in compiled.params.items() if k not in columns and v is not None}
    positions = tuple(compiled.positiontup) if compiled.positional else None
    return DriverSql(text, constants, positions)


def in_params(column: Any, name: str, count: int) -> ColumnElement[bool]:
    """``column IN (:name_0, ..., :name_<count-1>)``; bind them with ``list_params``."""
    clause: ColumnElement[bool] = column.in_([bindparam(f"{name}_{i}") for i in range(count)])
    return clause


def in_constants(column: Any, name: str, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` of constants, bound by the compiled statement itself."""
    clause: ColumnElement[bool] = column.in_(
        [bindparam(f"{name}_{i}", value) for i, value in enumerate(values)]
    )
    return clause


def list_params(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters of ``in_params(column, name, len(values))``."""
    return {f"{name}_{i}": value for i, value in enumerate(values)}


class Driver:
    """Runs ``DriverSql`` on a DB-API connection; driver errors come out as SQLAlchemy's
    (``IntegrityError``, ``OperationalError``...), as if SQLAlchemy had run the statement."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgres = dialect.name == "postgresql"
        self.dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    def ts(self, value: datetime) -> Any:
        """``value`` as the driver binds a timestamp column."""
        if self.postgres:
            return value
        # SQLAlchemy's SQLite DATETIME text format (naive UTC), so every read parses it back.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def run(self, conn: DbapiConnection, sql: DriverSql, params: Any) -> Executed:
        """Execute ``sql`` with ``params`` (a dict, or a list of dicts: executemany)."""
        cursor = conn.cursor()
        try:
            if isinstance(params, list) and len(params) != 1:
                cursor.executemany(sql.text, [sql.params(p) for p in params])
            else:  # one row: psycopg's executemany would run a pipeline for it
                cursor.execute(
                    sql.text, sql.params(params[0] if isinstance(params, list) else params)
                )
            rows: list[dict[str, Any]] = []
            description = cursor.description  # psycopg builds it anew on each access
            if description is not None:
                names = [d[0] for d in description]
                rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
            return Executed(cursor.rowcount, rows)
        except self.dbapi_error as exc:
            raise DBAPIError.instance(sql.text, params, exc, self.dbapi_error) from exc
        finally:
            cursor.close()

    def control(self, conn: DbapiConnection, text: str) -> None:
        """Run a transaction-control statement (``BEGIN IMMEDIATE``, ``SAVEPOINT x``...)."""
        cursor = conn.cursor()
        try:
            cursor.execute(text)
        except self.dbapi_error as exc:
            raise DBAPIError.instance(text, None, exc, self.dbapi_error) from exc
        finally:
            cursor.close()
