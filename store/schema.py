"""Create or upgrade the journal schema with alembic on start; refuse a newer schema.

``ensure_schema`` runs inside one write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
advisory lock), so two processes starting at once migrate once. A database whose revision this
code does not know was written by a newer copytrader: ``SchemaTooNew``, nothing is touched.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from store.engine import WRITE_OPTION
from store.errors import SchemaTooNew
from store.locks import LOCK_MIGRATION

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config() -> Config:
    """An alembic ``Config`` pointing at the packaged migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    # Parsing the revision files costs milliseconds; they cannot change while we run.
    return ScriptDirectory.from_config(alembic_config())


def code_head() -> str:
    """The newest schema revision this code knows."""
    head = _script().get_current_head()
    assert head is not None, "store/migrations/versions holds no revision"
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every schema revision this code knows (older ones included)."""
    return frozenset(rev.revision for rev in _script().walk_revisions())


def database_revisions(conn: Connection) -> tuple[str, ...]:
    """The schema revision(s) recorded in the database (empty for a new database)."""
    return tuple(MigrationContext.configure(conn).get_current_heads())


def ensure_schema(engine: Engine) -> str:
    """Bring the database to the code's head revision; return that revision.

    Raises ``SchemaTooNew`` (and changes nothing) when the database carries a revision this
    code does not know.
    """
    head = code_head()
    known = known_revisions()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": LOCK_MIGRATION})
        current = database_revisions(conn)
        for revision in current:
            if revision not in known:
                raise SchemaTooNew(revision, head, engine.url.render_as_string(hide_password=True))
        if current != (head,):
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return head
