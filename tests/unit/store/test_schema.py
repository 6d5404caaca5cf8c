"""Opening the journal: schema creation and upgrade by alembic, refusal of a newer schema."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from store import Journal, SchemaTooNew
from store.engine import make_engine
from store.models import Base
from store.schema import code_head, database_revisions


def test_opening_an_empty_database_creates_the_schema_at_head(fresh_journal_url: str):
    with Journal.open(fresh_journal_url) as journal:
        assert journal.unresolved_count() == 0
    engine = make_engine(fresh_journal_url)
    try:
        with engine.connect() as conn:
            assert database_revisions(conn) == (code_head(),)
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_models(fresh_journal_url: str):
    Journal.open(fresh_journal_url).close()
    engine = make_engine(fresh_journal_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_reopening_keeps_the_data(fresh_journal_url: str):
    with Journal.open(fresh_journal_url) as journal:
        journal.set_mark("f1", "reconciled_at", "2026-01-02T10:00:00")

    with Journal.open(fresh_journal_url) as journal:
        assert journal.get_mark("f1", "reconciled_at") == "2026-01-02T10:00:00"


def test_a_database_from_a_newer_version_refuses_to_start(fresh_journal_url: str):
    Journal.open(fresh_journal_url).close()
    engine = make_engine(fresh_journal_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()

    with pytest.raises(SchemaTooNew) as raised:
        Journal.open(fresh_journal_url)

    message = str(raised.value)
    assert "9999_from_the_future" in message and code_head() in message
    assert "newer" in message and "Refusing to start" in message
    assert raised.value.db_revision == "9999_from_the_future"


def test_a_sqlite_journal_must_be_a_file():
    with pytest.raises(ValueError, match="SQLite file"):
        Journal.open("sqlite://")
    with pytest.raises(ValueError, match="SQLite file"):
        Journal.open("sqlite:///:memory:")


def test_an_unsupported_database_or_setting_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unsupported journal database"):
        Journal.open("mysql://u@localhost/db")
    with pytest.raises(ValueError, match="synchronous"):
        Journal.open(f"sqlite:///{tmp_path / 'j.db'}", sqlite_synchronous="OFF")


def test_the_password_of_a_url_never_shows(tmp_path: Path):
    journal = Journal.open(f"sqlite:///{tmp_path / 'j.db'}")
    journal.close()
    engine = create_engine("postgresql+psycopg://u:hunter2@localhost/db")
    try:
        assert "hunter2" not in repr(Journal(engine))
    finally:
        engine.dispose()


def test_a_closed_journal_refuses_work(journal: Journal):
    journal.close()

    with pytest.raises(Exception, match="closed"):
        journal.intents()
    with pytest.raises(Exception, match="closed"):
        journal.set_mark("a", "b", "c")


def test_starters_opening_an_empty_database_at_once_migrate_it_once(fresh_journal_url: str):
    url = fresh_journal_url
    if make_url(url).get_backend_name() == "postgresql":
        # a regression (no migration lock) then fails in 20 s instead of hanging the run
        options = make_url(url).query.get("options", "")
        url = make_url(url).update_query_dict({"options": f"{options} -clock_timeout=20s"})
        url = url.render_as_string(hide_password=False)
    starters = 4
    start = threading.Barrier(starters)

    def open_and_write(n: int) -> str | None:
        start.wait(timeout=10)
        with Journal.open(url) as journal:
            journal.set_mark(f"f{n}", "started", "yes")
            return journal.get_mark(f"f{n}", "started")

    with ThreadPoolExecutor(starters) as pool:
        marks = list(pool.map(open_and_write, range(starters)))

    assert marks == ["yes"] * starters
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert database_revisions(conn) == (code_head(),)
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_migration_that_fails_half_way_leaves_nothing_behind(fresh_journal_url: str):
    # the last table of 0001 already exists (a stray table): its CREATE fails after the others
    engine = make_engine(fresh_journal_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bracket_order_legs (stray INTEGER)"))

        with pytest.raises(DatabaseError, match="bracket_order_legs"):
            Journal.open(fresh_journal_url)

        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"bracket_order_legs"}
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE bracket_order_legs"))
    finally:
        engine.dispose()
    with Journal.open(fresh_journal_url) as journal:
        assert journal.integrity_check() == []
