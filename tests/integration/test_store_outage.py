"""One engine per journal, and a store outage that pauses copying instead of ending the process.

Real engines, the simulator, a real SQLite file or a PostgreSQL cluster the test owns (so it
can stop the server); the outages are real too: a write lock held by another connection, a
full tmpfs, ``pg_ctl stop``, ``pg_terminate_backend`` of the lease connection. Leader orders
placed during an outage are LIMIT orders that stay open, so the engine's REST reconcile after
the outage finds them open and copies them (``reconcile_policy: copy_open``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient
from dhansim import Simulator
from store.errors import LeaseHeld
from store.lease import JournalLease
from supervision.registry import NameState
from tests.integration.engine_harness import (
    Rig,
    build_config,
    create_accounts,
    follower_config,
    limit_buy,
    wait_until,
)
from tests.integration.pg_cluster import PgCluster, own_cluster

FOLLOWERS = [("ana", "2100000001"), ("ben", "2100000002")]


def start(sim: Simulator, tmp_path: Path, store_url: str | None = None, **kw: Any) -> Rig:
    followers = [follower_config(name, cid) for name, cid in FOLLOWERS]
    cfg = build_config(sim, tmp_path, followers, **kw)
    if store_url is not None:
        cfg = replace(cfg, store=replace(cfg.store, url=store_url))
    create_accounts(sim, cfg)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)  # a BUY LIMIT at 1500 stays open
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 15.0, what="engine ready")
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    return Rig(sim=sim, cfg=cfg, engine=engine, leader=leader)


@contextlib.contextmanager
def running(sim: Simulator, tmp_path: Path, store_url: str | None = None) -> Iterator[Rig]:
    rig = start(sim, tmp_path, store_url)
    try:
        yield rig
    finally:
        rig.stop()


def place(rig: Rig, price: float = 1500.0) -> str:
    return rig.leader.place_order(limit_buy(quantity=1, price=price)).order_id


def assert_each_copied_exactly_once(rig: Rig, leader_ids: list[str], timeout_s: float) -> None:
    """Every follower has exactly one copy of each order, with the leader's content, and the
    journal has nothing left to do (so no second copy is on its way)."""
    for leader_id in leader_ids:
        rig.wait_copies(leader_id, lambda f, copies: len(copies) >= 1, timeout_s=timeout_s)
    wait_until(lambda: rig.engine.journal.unresolved_count() == 0, 15.0, what="journal settled")
    for leader_id in leader_ids:
        for f in rig.cfg.followers:
            copies = rig.follower_copies(f, leader_id)
            assert len(copies) == 1, (f.name, leader_id, copies)
            (copy,) = copies
            assert (copy["orderType"], copy["quantity"], copy["price"]) == ("LIMIT", 1, 1500.0)
            assert copy["orderStatus"] == "PENDING"


def assert_nothing_quarantined_and_still_running(rig: Rig) -> None:
    assert not rig.engine.gave_up.is_set()
    assert rig.engine.journal.quarantined_followers() == []
    for name, _cid in FOLLOWERS:
        assert rig.engine.follower_state(name) is NameState.RUNNING
        assert rig.engine.metrics.follower_quarantined.labels(name)._value.get() == 0


def wait_paused(rig: Rig, timeout_s: float) -> str:
    """Wait until readiness says the store is unavailable; returns the reason."""

    def paused() -> str | None:
        ok, reason = rig.engine.ready()
        return reason if not ok and "store" in reason else None

    reason: str = wait_until(paused, timeout_s, what="readiness: store unavailable")
    # the gauge is set by the environment's listener, just after readiness learns the outage
    wait_until(
        lambda: rig.engine.metrics.store_up._value.get() == 0, 5.0, what="copytrader_store_up 0"
    )
    return reason


def wait_resumed(rig: Rig, timeout_s: float) -> None:
    wait_until(lambda: rig.engine.ready()[0], timeout_s, what="ready again after the outage")
    assert rig.engine.metrics.store_up._value.get() == 1


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with own_cluster() as c:
        yield c


# -- one engine per journal ------------------------------------------------------------------


def _second_engine_is_refused_and_the_first_copies_on(rig: Rig) -> None:
    second = Engine(rig.cfg, endpoints=BrokerEndpoints(rig.sim.rest_url, rig.sim.order_feed_url))
    with pytest.raises(LeaseHeld) as refused:
        second.start()
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert f"pid {os.getpid()}" in message and f"host {socket.gethostname()[:28]}" in message
    assert second.root is None  # no actor of the second engine ever ran
    leader_id = place(rig)
    assert_each_copied_exactly_once(rig, [leader_id], 10.0)


def test_a_second_engine_on_the_same_sqlite_journal_is_refused_naming_the_holder(
    sim: Simulator, tmp_path: Path
) -> None:
    with running(sim, tmp_path) as rig:
        _second_engine_is_refused_and_the_first_copies_on(rig)


@pytest.mark.postgres
def test_a_second_engine_on_the_same_postgresql_journal_is_refused_naming_the_holder(
    sim: Simulator, tmp_path: Path, cluster: PgCluster
) -> None:
    with running(sim, tmp_path, cluster.url) as rig:
        _second_engine_is_refused_and_the_first_copies_on(rig)


@pytest.mark.postgres
def test_a_lost_postgresql_lease_stops_copying_at_once_and_no_order_is_copied_twice(
    sim: Simulator, tmp_path: Path, cluster: PgCluster
) -> None:
    with running(sim, tmp_path, cluster.url) as rig:
        before = place(rig)
        assert_each_copied_exactly_once(rig, [before], 10.0)
        # kill the engine's lease connection and take the lease ourselves before the engine
        # takes it back (as a second engine would): the first must copy nothing from then on
        libpq = make_url(cluster.url).set(drivername="postgresql").render_as_string(False)
        other = JournalLease(cluster.url)
        deadline = time.monotonic() + 10.0
        killed_at = time.monotonic()
        while not other.held:
            with psycopg.connect(libpq, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'copytrader-lease %%' AND pid <> pg_backend_pid()"
                )
            killed_at = time.monotonic()
            with contextlib.suppress(LeaseHeld):
                other.acquire()
            assert time.monotonic() < deadline, "could not take the lease from the engine"
        try:
            reason = wait_paused(rig, 5.0)
            assert time.monotonic() - killed_at < 2.0, "the engine noticed the loss late"
            assert "lease" in reason
            during = place(rig)
            # the fenced engine must not copy it while the other holds the lease (its probe
            # tries to take the lease back meanwhile, and is refused with the holder named)
            wait_until(
                lambda: f"pid {os.getpid()}" in rig.engine.ready()[1],
                10.0,
                what="readiness names the lease's new holder",
            )
            for f in rig.cfg.followers:
                assert rig.follower_copies(f, during) == []
        finally:
            other.release()
        wait_resumed(rig, 20.0)
        assert_each_copied_exactly_once(rig, [before, during], 20.0)
        assert_nothing_quarantined_and_still_running(rig)


# -- readiness is read-only --------------------------------------------------------------------


def test_readiness_writes_nothing_and_answers_within_a_second_while_the_journal_is_locked(
    sim: Simulator, tmp_path: Path
) -> None:
    with running(sim, tmp_path) as rig:
        path = make_url(rig.cfg.store.url).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            marks = holder.execute("SELECT count(*), max(updated_at) FROM account_marks").fetchone()
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held
            started = time.monotonic()
            for _ in range(20):
                assert rig.engine.ready() == (True, "ok")
            assert time.monotonic() - started < 1.0
            holder.execute("ROLLBACK")
            after = holder.execute("SELECT count(*), max(updated_at) FROM account_marks").fetchone()
            assert after == marks  # no readiness row
        finally:
            holder.close()


# -- store outages -----------------------------------------------------------------------------


def _outage_mid_stream(
    rig: Rig, begin: Callable[[], None], end: Callable[[], None], paused_within_s: float
) -> None:
    """One copy before, orders during, one after: each copied exactly once; readiness is 503
    naming the store meanwhile; no follower quarantined; the engine never gives up."""
    before = place(rig)
    assert_each_copied_exactly_once(rig, [before], 10.0)
    begin()
    try:
        during = [place(rig) for _ in range(3)]
        reason = wait_paused(rig, paused_within_s)
        assert f"store {rig.engine.cfg_store_url} unavailable" in reason
        assert not rig.engine.gave_up.is_set()
    finally:
        end()
    wait_resumed(rig, 30.0)
    after = place(rig)
    assert_each_copied_exactly_once(rig, [before, *during, after], 30.0)
    assert_nothing_quarantined_and_still_running(rig)


@pytest.mark.slow
def test_a_sqlite_write_lock_held_past_the_busy_timeout_pauses_copying_until_it_is_released(
    sim: Simulator, tmp_path: Path
) -> None:
    with running(sim, tmp_path) as rig:
        path = make_url(rig.cfg.store.url).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        held_at: list[float] = []

        def hold() -> None:
            holder.execute("BEGIN IMMEDIATE")
            held_at.append(time.monotonic())

        def release() -> None:
            # held past the engine's 10 s busy timeout: its writers gave up and it paused.
            # Held 45 s in all: a writer that crashed on each busy timeout would have crashed
            # four times by then, more than the root's 3 restarts in 60 s allow
            wait_paused(rig, 25.0)
            while time.monotonic() - held_at[0] < 45.0:
                ok, reason = rig.engine.ready()
                assert not ok and "store" in reason, reason
                assert not rig.engine.gave_up.is_set()
                time.sleep(0.5)  # sampling readiness during the outage, not synchronising
            holder.execute("ROLLBACK")

        try:
            _outage_mid_stream(rig, hold, release, paused_within_s=25.0)
        finally:
            holder.close()


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A 16 MB tmpfs to fill (needs root and mount permission; skipped otherwise)."""
    mount_point = Path(f"/tmp/copytrader-test-tmpfs-{os.getpid()}-{time.monotonic_ns()}")
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs to fill (not root, or not permitted): {result.stderr}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        with contextlib.suppress(OSError):
            mount_point.rmdir()


def _fill(filler: Path) -> Path:
    """Write ``filler`` (created before the engine started, so filling needs no new inode)
    until the filesystem is full; say what else holds it when little fitted."""
    written = 0
    with open(filler, "r+b") as fh:
        chunk = b"\0" * (1 << 16)
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
    if written < 8 << 20:  # most of the 16 MB was taken already: by what?
        sizes = {p.name: p.stat().st_size for p in filler.parent.iterdir()}
        print(f"full disk: the filler took {written} bytes; the tmpfs holds {sizes}")
    return filler


@pytest.mark.slow
def test_a_full_disk_pauses_copying_until_space_returns_and_quarantines_no_follower(
    sim: Simulator, tmp_path: Path, small_tmpfs: Path
) -> None:
    url = f"sqlite:///{small_tmpfs / 'journal.db'}"
    (small_tmpfs / "filler").touch()
    rig = start(sim, tmp_path, url)
    # the journal is on the tmpfs; the audit trail stays in tmp_path
    filler: list[Path] = []
    try:
        _outage_mid_stream(
            rig,
            lambda: filler.append(_fill(small_tmpfs / "filler")),
            lambda: filler[0].unlink(),
            paused_within_s=10.0,
        )
    finally:
        for f in filler:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        rig.stop()


@pytest.mark.postgres
@pytest.mark.slow
def test_postgresql_stopped_for_20_s_mid_stream_pauses_copying_and_loses_or_duplicates_nothing(
    sim: Simulator, tmp_path: Path, cluster: PgCluster
) -> None:
    with running(sim, tmp_path, cluster.url) as rig:
        stopped_at: list[float] = []

        def stop_server() -> None:
            cluster.stop()
            stopped_at.append(time.monotonic())

        def start_server_after_20_s() -> None:
            wait_paused(rig, 10.0)
            # 20 s of outage, watched: the process must stay up and unready the whole time
            while time.monotonic() - stopped_at[0] < 20.0:
                ok, reason = rig.engine.ready()
                assert not ok and "store" in reason, reason
                assert not rig.engine.gave_up.is_set()
                time.sleep(0.5)  # sampling readiness during the outage, not synchronising
            cluster.start()

        _outage_mid_stream(rig, stop_server, start_server_after_20_s, paused_within_s=10.0)
