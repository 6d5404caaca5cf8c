"""One pass's engine: started against the simulator, driven by leader orders, its threads' CPU."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    SimProcess,
    engine_config,
    marketable_order,
    token_of,
    wait_until,
    workdir,
)
from bench.fanout import WARMUP_ORDERS, placed_ok
from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient


def thread_kind(name: str) -> str:
    """``FollowerActor-12`` -> ``FollowerActor``: threads grouped by role."""
    return re.sub(r"[-_ ]?\d+$", "", name.split(" (", 1)[0]) or name


# -- per-thread CPU from /proc (no profiler) --------------------------------------------------


def thread_cpu_s() -> dict[int, tuple[str, float]]:
    """native thread id -> (thread name, user + system CPU s) for every thread of this process."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            tid = int(task.name)
            out[tid] = (
                names.get(tid, f"native-{tid}"),
                (int(fields[11]) + int(fields[12])) / ticks,
            )
    return out


def engine_cpu_by_kind(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU s per thread role between two ``thread_cpu_s`` readings, this bench's thread excluded."""
    main = threading.main_thread().native_id
    out: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in after.items():
        if tid == main:
            continue
        out[thread_kind(name)] += cpu - before.get(tid, (name, 0.0))[1]
    return dict(out)


# -- running the engine against the simulator --------------------------------------------------


@dataclass
class Run:
    """One pass: a fresh engine copying ``orders`` leader orders to ``followers``."""

    followers: int
    orders: int
    rtt_ms: float
    gap_s: float
    index: int
    leader_order_ids: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    idle_cpu_s_per_s: float = 0.0
    engine_cpu_s: float = 0.0
    cpu_by_thread: dict[str, float] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    accounts: Accounts | None = None
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def copies(self) -> int:
        return self.orders * self.followers


@contextlib.contextmanager
def running_engine(sim: SimProcess, run: Run) -> Iterator[tuple[Engine, DhanClient]]:
    accounts = Accounts.block(run.index, run.followers)
    run.accounts = accounts
    sim.create_accounts(accounts.all)
    sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
    sim.set_rtt_ms(run.rtt_ms, accounts.followers)
    with workdir("bench-profile-") as tmp:
        cfg = engine_config(accounts, sim.rest_url, sim.feed_url, tmp)
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.feed_url)).start()
        leader = DhanClient(
            base_url=sim.rest_url,
            client_id=accounts.leader,
            access_token=token_of(accounts.leader),
            read_timeout_s=30.0,
        )
        try:
            wait_until(lambda: engine.ready()[0], 30.0, 0.02, "engine ready")
            yield engine, leader
        finally:
            engine.stop()
            leader.close()
            sim.set_rtt_ms(0, ())


def drive(
    sim: SimProcess,
    engine: Engine,
    leader: DhanClient,
    run: Run,
    during: Callable[[], contextlib.AbstractContextManager[Any]],
) -> None:
    """Warm up, measure idle CPU for 2 s, then copy ``run.orders`` orders inside ``during()``."""
    done = 0

    def place_and_wait(k: int) -> str:
        nonlocal done
        oid = leader.place_order(marketable_order(k)).order_id
        done += run.followers
        wait_until(lambda: placed_ok(engine) >= done, 180.0, 0.05, f"copies of {oid}")
        time.sleep(run.gap_s)  # spacing between leader orders, not synchronisation
        return oid

    for k in range(WARMUP_ORDERS):
        place_and_wait(k)
    idle0, t_idle = thread_cpu_s(), time.monotonic()
    time.sleep(2.0)  # an idle window: the engine's own ticks, with no leader order to copy
    idle = engine_cpu_by_kind(idle0, thread_cpu_s())
    run.idle_cpu_s_per_s = sum(idle.values()) / (time.monotonic() - t_idle)
    sim.api().clear_journal()
    with during():
        cpu0, t0 = thread_cpu_s(), time.monotonic()
        run.leader_order_ids = [place_and_wait(WARMUP_ORDERS + k) for k in range(run.orders)]
        run.elapsed_s = time.monotonic() - t0
        run.cpu_by_thread = engine_cpu_by_kind(cpu0, thread_cpu_s())
    run.engine_cpu_s = sum(run.cpu_by_thread.values())
    run.entries = sim.api().journal(limit=1_000_000)
    run.loadavg = os.getloadavg()


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"
