"""Shared helpers of the engine benchmarks (``bench.fanout``, ``bench.memory``, ``bench.recovery``).

The simulator runs in its own process (:class:`SimProcess`) so it never shares the GIL with the
engine under test; accounts, configs (in-process ``Config`` or a YAML file for an engine
subprocess), percentiles, machine facts and the JSON result files live here.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copytrader.config import (
    AccountConfig,
    Config,
    FollowerConfig,
    Secret,
    SizingConfig,
    SizingMode,
)
from copytrader.latency import percentile
from copytrader.scripted import nse_order, sim_engine_config
from dhan.codes import OrderType, TransactionType
from dhan.models import OrderRequest
from dhansim.admin import AdminClient

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

#: The instrument every benchmark trades: HDFCBANK, lot 1, pinned at this LTP.
SECURITY_ID = "1333"
LTP = 1600.0
#: Every bench account starts with this much (INR): margin never limits a run.
BALANCE_INR = 1e10

_LISTENING = re.compile(r"dhansim listening: REST (\S+)\s+order-update (\S+)")


def token_of(client_id: str) -> str:
    return f"bench-token-{client_id}"


def wait_until(
    predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.01, what: str = ""
) -> Any:
    """Poll ``predicate`` until truthy; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(interval_s)  # a polling interval; the deadline decides


# -- the simulator, in its own process ---------------------------------------------------------


class SimProcess:
    """``python -m dhansim`` on a free loopback port; ``admin`` talks to its ``/sim`` API."""

    def __init__(
        self, *, rate_limits: bool = True, journal_size: int = 400_000, seed: int = 1
    ) -> None:
        self.rate_limits = rate_limits
        self.journal_size = journal_size
        self.seed = seed
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115  # closed in stop()
            prefix="bench-dhansim-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.rest_url = ""
        self.feed_url = ""
        self.admin: AdminClient | None = None

    @property
    def base_url(self) -> str:
        return self.rest_url.removesuffix("/v2")

    def start(self, timeout_s: float = 20.0) -> SimProcess:
        cmd = [
            sys.executable,
            "-m",
            "dhansim",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed",
            str(self.seed),
            "--journal-size",
            str(self.journal_size),
            "--no-random-walk",
            "--log-level",
            "INFO",  # the one "listening" line; there is no per-request log
        ]
        if not self.rate_limits:
            cmd.append("--no-rate-limits")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
        )
        path = Path(self._log.name)

        def listening() -> re.Match[str] | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dhansim exited early: {path.read_text()[-2000:]}")
            return _LISTENING.search(path.read_text(errors="replace"))

        found = wait_until(listening, timeout_s, 0.05, "dhansim to listen")
        self.rest_url, self.feed_url = found.group(1), found.group(2)
        self.admin = AdminClient(self.base_url, timeout_s=60.0)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def api(self) -> AdminClient:
        assert self.admin is not None, "simulator not started"
        return self.admin

    def create_accounts(self, client_ids: Sequence[str]) -> None:
        admin = self.api()
        for client_id in client_ids:
            admin.create_account(client_id, token_of(client_id), BALANCE_INR)

    def set_rtt_ms(self, rtt_ms: float, accounts: Sequence[str]) -> None:
        """Model an RTT: the simulator holds these accounts' REST answers ``rtt_ms``."""
        if rtt_ms <= 0:
            self.api().clear_faults()
        else:
            self.api().set_faults({"latency_ms": rtt_ms, "accounts": list(accounts)})


# -- accounts and configs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accounts:
    """One leader and ``n`` followers with fresh client ids (fresh broker rate windows)."""

    leader: str
    followers: tuple[str, ...]

    @staticmethod
    def block(index: int, n: int) -> Accounts:
        base = 3_000_000_000 + index * 10_000
        return Accounts(str(base), tuple(str(base + 1 + k) for k in range(n)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(follower_name(k) for k in range(len(self.followers)))

    @property
    def all(self) -> tuple[str, ...]:
        return (self.leader, *self.followers)


def follower_name(k: int) -> str:
    return f"f{k:04d}"


def engine_config(
    accounts: Accounts,
    rest_url: str,
    feed_url: str,
    workdir: Path,
    *,
    metrics_port: int | None = None,
    log_level: str = "WARNING",
) -> Config:
    """Production defaults (ticks, timeouts) with multiplier-1 followers on a SQLite store."""
    return sim_engine_config(
        rest_url,
        feed_url,
        workdir,
        leader=AccountConfig(
            client_id=accounts.leader, access_token=Secret(token_of(accounts.leader))
        ),
        followers=(
            FollowerConfig(
                name=follower_name(k),
                client_id=cid,
                access_token=Secret(token_of(cid)),
                sizing=SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.0),
            )
            for k, cid in enumerate(accounts.followers)
        ),
        metrics_port=metrics_port,
        log_level=log_level,
    )


def write_config_yaml(
    path: Path, accounts: Accounts, rest_url: str, feed_url: str, workdir: Path
) -> Path:
    """The same engine config as a YAML file for ``python -m copytrader --config X run``.

    Metrics and health are on (port 0: any free port; the URL is in the log) because
    production runs with them and the benchmarks read ``/readyz``.
    """
    lines = [
        "broker:",
        "  embedded_sim: false",
        f"  rest_url: {json.dumps(rest_url)}",
        f"  order_feed_url: {json.dumps(feed_url)}",
        "leader:",
        f'  client_id: "{accounts.leader}"',
        f'  access_token: "{token_of(accounts.leader)}"',
        "followers:",
    ]
    for k, cid in enumerate(accounts.followers):
        lines += [
            f"  - name: {follower_name(k)}",
            f'    client_id: "{cid}"',
            f'    access_token: "{token_of(cid)}"',
            "    sizing: {mode: multiplier, multiplier: 1.0}",
        ]
    lines += [
        "engine:",
        f"  audit_path: {json.dumps(str(workdir / 'audit.jsonl'))}",
        f"store: {{url: {json.dumps('sqlite:///' + str(workdir / 'journal.db'))}}}",
        "metrics: {enabled: true, host: 127.0.0.1, port: 0}",
        "logging: {level: INFO, format: text}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- leader orders -----------------------------------------------------------------------------


def marketable_order(n: int, quantity: int = 1) -> OrderRequest:
    """The n-th leader order: a LIMIT 1 % through the LTP, so it trades at once, alternately
    BUY and SELL so positions stay flat.

    Not MARKET: under market price protection the broker shows a MARKET order as a LIMIT at
    the band price once placed, and until d62e032 the engine mirrored that as a modification
    of every copy; a marketable LIMIT keeps the fan-out measured independent of MPP handling.
    """
    buy = n % 2 == 0
    side = TransactionType.BUY if buy else TransactionType.SELL
    return nse_order(
        SECURITY_ID, quantity, OrderType.LIMIT, side, price=LTP + 16.0 if buy else LTP - 16.0
    )


def resting_limit_order(quantity: int = 1) -> OrderRequest:
    """A BUY LIMIT well below the LTP: it stays open (so a reconcile copies it)."""
    return nse_order(SECURITY_ID, quantity, OrderType.LIMIT, price=round(LTP * 0.9, 2))


# -- numbers -----------------------------------------------------------------------------------


def summary_ms(values_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50 / p99 / max / mean in ms (nearest rank, as the demo), and the sample count."""
    if not values_s:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    vals = list(values_s)
    return {
        "n": len(vals),
        "p50_ms": round(percentile(vals, 0.50) * 1000, 2),
        "p99_ms": round(percentile(vals, 0.99) * 1000, 2),
        "max_ms": round(max(vals) * 1000, 2),
        "mean_ms": round(sum(vals) / len(vals) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on: ``nproc``, ``free -h``, CPU model, load."""
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "-uno"], capture_output=True, text=True)
    return {
        # other engineers edit the same tree: which code was measured
        "git_head": head.stdout.strip(),
        "git_modified": [line[3:] for line in dirty.stdout.splitlines()],
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "free_h": free.strip().splitlines(),
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_metrics(
    title: str, result: dict[str, Any], keys: Sequence[str], widths: tuple[int, int]
) -> None:
    """``title``, then a two-column table of ``result[key]`` for ``keys`` (floats to 0.1)."""
    key_w, value_w = widths
    print(title)
    print(f"{'metric':<{key_w}}{'value':>{value_w}}")
    for key in keys:
        value = result[key]
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        print(f"{key:<{key_w}}{shown:>{value_w}}")


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table (right-aligned numbers)."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- the engine as a subprocess (memory, recovery) ---------------------------------------------

_HEALTH = re.compile(r"metrics and health at (http://\S+)/metrics")
_PLACED = re.compile(
    r'^copytrader_follower_orders_total\{(?=[^}]*action="place")(?=[^}]*outcome="ok")[^}]*\}\s+(\S+)',
    re.M,
)


class EngineProcess:
    """``python -m copytrader --config X run`` with its log in ``log_path``."""

    def __init__(self, config_path: Path, log_path: Path, module: str = "copytrader") -> None:
        self.config_path = config_path
        #: the module run with ``-m``: ``bench.memprobe`` runs the engine under a memory probe
        self.module = module
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_ns = 0
        self._log_offset = 0
        self.health_url = ""
        self._session: Any = None

    def start(self) -> EngineProcess:
        import requests

        log = self.log_path.open("ab")
        self._log_offset = log.tell()  # the log is shared by restarts: read only this run's
        self.started_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "--config", str(self.config_path), "run"],
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.health_url = ""
        self._session = requests.Session()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _find_health_url(self) -> str:
        if self.health_url:
            return self.health_url
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"engine exited {self.proc.returncode}: {self.log_tail()}")
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            found = _HEALTH.search(log.read().decode(errors="replace"))
        if found:
            self.health_url = found.group(1)
        return self.health_url

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def ready(self) -> bool:
        url = self._find_health_url()
        if not url:
            return False
        try:
            return bool(self._session.get(f"{url}/readyz", timeout=2.0).status_code == 200)
        except Exception:  # not serving yet
            return False

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds from ``start()`` until ``/readyz`` answers 200."""
        wait_until(self.ready, timeout_s, 0.02, "engine /readyz")
        return (time.monotonic_ns() - self.started_ns) / 1e9

    def placed_ok(self) -> int:
        text = self._session.get(f"{self._find_health_url()}/metrics", timeout=10.0).text
        return int(sum(float(v) for v in _PLACED.findall(text)))

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10.0)
        if self._session is not None:
            self._session.close()

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self._session is not None:
            self._session.close()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5.0)
