"""The suite's PostgreSQL server (tests/integration/pg_cluster.py, ``suite_server``): the URL
from COPYTRADER_TEST_PG_URL when set; else a throw-away cluster where the binaries exist,
stopped and deleted at the end; else a skip with the reason (a failure under CI=true)."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.pg_cluster import PG_ENV, find_pg_bin, suite_server
from tests.unit.store.conftest import libpq_url

GIVEN = "postgresql+psycopg://someone@127.0.0.1:5999/somewhere"


def no_binaries() -> Path | None:
    return None


def must_not_look() -> Path | None:
    raise AssertionError("a URL was given: nothing is to be started")


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_given_url_is_used_as_it_is_and_nothing_is_started(ci: str):
    with suite_server({PG_ENV: GIVEN, "CI": ci}, find_bin=must_not_look) as url:
        assert url == GIVEN


def test_without_a_url_or_binaries_the_tests_skip_naming_what_is_missing():
    with pytest.raises(pytest.skip.Exception) as info, suite_server({}, find_bin=no_binaries):
        pass

    reason = str(info.value)
    assert "initdb" in reason and "pg_ctl" in reason and PG_ENV in reason


def test_without_a_url_or_binaries_under_ci_the_run_fails():
    with (
        pytest.raises(pytest.fail.Exception) as info,
        suite_server({"CI": "true"}, find_bin=no_binaries),
    ):
        pass

    assert PG_ENV in str(info.value)


@pytest.mark.postgres
@pytest.mark.skipif(find_pg_bin() is None, reason="no PostgreSQL server binaries (initdb, pg_ctl)")
def test_without_a_url_a_throw_away_cluster_serves_the_block_and_is_gone_after_it():
    with suite_server({}) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            (version,) = conn.execute("SHOW server_version").fetchone() or ("",)
            data_dir = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]  # one row
        assert version
        assert data_dir.exists()
        port = make_url(url).port

    assert not data_dir.exists()  # deleted
    with socket.socket() as s:  # and stopped: nobody listens on its port
        assert s.connect_ex(("127.0.0.1", port)) != 0
