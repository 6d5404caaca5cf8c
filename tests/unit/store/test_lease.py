"""The journal's lease: one engine per journal, fenced (SQLite lock file; PostgreSQL advisory
lock on a dedicated connection)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from store import Journal
from store.errors import LeaseHeld, LeaseLost
from store.lease import JournalLease
from tests.unit.store.conftest import libpq_url


def test_a_second_lease_on_the_same_journal_is_refused_naming_the_holder(journal_url: str) -> None:
    first = JournalLease(journal_url).acquire()
    try:
        with pytest.raises(LeaseHeld) as refused:
            JournalLease(journal_url).acquire()
        message = str(refused.value)
        assert f"host {socket.gethostname()[:28]}" in message
        assert f"pid {os.getpid()}" in message
        assert "since 20" in message  # an ISO UTC time
        assert len(message.splitlines()) == 1
    finally:
        first.release()
    second = JournalLease(journal_url).acquire()  # free once the holder let go
    second.release()


def test_the_sqlite_lease_file_sits_beside_the_journal_and_names_its_holder(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    lease = JournalLease(url).acquire()
    try:
        text = (tmp_path / "journal.db.lock").read_text()
        assert f'"pid": {os.getpid()}' in text
        assert oct((tmp_path / "journal.db.lock").stat().st_mode & 0o777) == "0o600"
    finally:
        lease.release()


def test_a_replaced_sqlite_lease_file_counts_as_lost_and_fences_the_journal(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    journal = Journal.open(url)
    lease = JournalLease(url).acquire()
    journal.hold_lease(lease)
    try:
        journal.set_mark("a", "b", "1")
        (tmp_path / "journal.db.lock").unlink()  # another process could now lock a new file
        with pytest.raises(LeaseLost):
            lease.ensure()
        with pytest.raises(LeaseLost):
            journal.set_mark("a", "b", "2")
        lease.ensure()  # taken again: a new lock file
        journal.set_mark("a", "b", "3")
        assert journal.get_mark("a", "b") == "3"
    finally:
        lease.release()
        journal.close()


@pytest.mark.postgres
def test_a_killed_postgresql_lease_connection_fences_the_journal_at_once_until_taken_again(
    request: pytest.FixtureRequest,
) -> None:
    url = str(request.getfixturevalue("pg_migrated_url"))
    journal = Journal.open(url)
    lost = threading.Event()
    lease = JournalLease(url, on_lost=lambda reason: lost.set()).acquire()
    journal.hold_lease(lease)
    try:
        journal.set_mark("a", "b", "1")
        with psycopg.connect(libpq_url(url), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'copytrader-lease %%' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert killed == [(True,)]
        started = time.monotonic()
        assert lost.wait(5.0)
        assert time.monotonic() - started < 1.5  # the watcher waits on the socket: no poll lag
        assert lease.lost is not None and "lease connection lost" in lease.lost
        with pytest.raises(LeaseLost):
            journal.set_mark("a", "b", "2")
        with pytest.raises(LeaseLost):
            journal.get_mark("a", "b")
        lease.ensure()  # nobody else took it: ours again
        journal.set_mark("a", "b", "3")
        assert journal.get_mark("a", "b") == "3"
    finally:
        lease.release()
        journal.close()


@pytest.mark.postgres
def test_leases_of_two_journals_in_one_postgresql_database_are_independent(
    request: pytest.FixtureRequest,
) -> None:
    schemas = request.getfixturevalue("pg_schemas")
    one, two = schemas.new(), schemas.new()
    assert make_url(one).database == make_url(two).database
    a = JournalLease(one).acquire()
    b = JournalLease(two).acquire()
    a.release()
    b.release()
