"""Test-suite wide configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pg_cluster import suite_server

pytest_plugins = ["dhansim.pytest_plugin"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The PostgreSQL server of the store's PostgreSQL tests, started on first use.

    ``COPYTRADER_TEST_PG_URL`` when set (CI: ``.ci/postgres.sh``); else a throw-away cluster
    this session starts where PostgreSQL's server binaries are installed, stopped and deleted
    at the session's end; else the tests skip with the reason (fail under ``CI=true``).
    """
    with suite_server() as url:
        yield url
