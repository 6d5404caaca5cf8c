"""Alembic environment of the journal: runs the revisions in ``versions/`` on one connection.

``store.schema.ensure_schema`` calls this with its own connection (already inside the write
transaction that serialises concurrent starters), passed as ``config.attributes["connection"]``.
From the command line (``alembic -c store/alembic.ini upgrade head``) it builds an engine from
``sqlalchemy.url`` or the ``COPYTRADER_DB_URL`` environment variable.
"""

from __future__ import annotations

import os

from alembic import context

from store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic types it as Connection
        target_metadata=target_metadata,
        transactional_ddl=True,  # SQLite and PostgreSQL both roll DDL back
        render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from store.engine import make_engine  # only needed on the command-line path

    url = os.environ.get("COPYTRADER_DB_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set COPYTRADER_DB_URL or sqlalchemy.url in alembic.ini")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported for the journal")
run_migrations_online()
