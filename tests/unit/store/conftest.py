"""Fixtures of the store tests: one empty journal per test, on SQLite and on PostgreSQL.

PostgreSQL runs on the session's server (fixture ``pg_server_url``, tests/conftest.py):
``COPYTRADER_TEST_PG_URL`` when set, else a throw-away cluster the session starts where
PostgreSQL's binaries are installed. Without either the PostgreSQL cases skip, except under
``CI=true``, where a missing server fails the run. To stay fast, the schema is migrated once
per session (a SQLite template file copied per test; a PostgreSQL schema emptied per test);
``fresh_journal_url`` gives a database that has never been migrated, for the schema tests.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from store import Journal
from store.models import Base

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def libpq_url(url: str) -> str:
    """``url`` as a plain libpq URL for ``psycopg.connect`` (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgSchemas:
    """Creates empty PostgreSQL schemas and drops them at the end."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.created: list[str] = []

    def new(self) -> str:
        """The URL of a new, empty schema (its connections see only that schema)."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq_url(self.base_url), autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with psycopg.connect(libpq_url(self.base_url), autocommit=True) as admin:
            for schema in self.created:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def pg_schemas(pg_server_url: str) -> Iterator[PgSchemas]:
    schemas = PgSchemas(pg_server_url)
    try:
        yield schemas
    finally:
        schemas.drop_all()


@pytest.fixture(scope="session")
def pg_migrated_url(pg_schemas: PgSchemas) -> str:
    """One PostgreSQL schema migrated to head for the whole session (emptied per test)."""
    url = pg_schemas.new()
    Journal.open(url).close()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite journal file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "journal.db"
    Journal.open(f"sqlite:///{path}").close()
    assert not Path(f"{path}-wal").exists(), "closing the journal checkpoints its WAL"
    return path


def _empty_all_tables(url: str) -> None:
    # DELETE, not TRUNCATE: on tiny tables it is one cheap commit instead of new files + fsyncs.
    with psycopg.connect(libpq_url(url)) as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(f"DELETE FROM {table.name}")


@pytest.fixture(params=BACKENDS)
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty journal database at the current schema: SQLite file or PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "journal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = str(request.getfixturevalue("pg_migrated_url"))
    _empty_all_tables(url)
    return url


@pytest.fixture(params=BACKENDS)
def fresh_journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a database that was never migrated: a new SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    return schemas.new()


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    """An open journal on an empty database (both backends)."""
    j = Journal.open(journal_url)
    try:
        yield j
    finally:
        j.close()
