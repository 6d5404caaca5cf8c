"""Helpers for driving ``python -m copytrader`` in a subprocess against an in-process dhansim.

Configs are written as a user would write them: YAML with ``${VAR}`` tokens, the values in a
KEY=VALUE env file named by ``COPYTRADER_ENV_FILE`` (systemd's EnvironmentFile). Every token is
long and distinctive so a test can assert that none of them appears in any output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dhansim import Simulator

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Account:
    name: str  #: "leader" or the follower name
    client_id: str
    token: str

    @property
    def var(self) -> str:
        return f"TOKEN_{self.name.upper()}"


@dataclass
class CliRig:
    """A config file, its env file and the accounts in the simulator."""

    sim: Simulator
    config: Path
    env_file: Path
    leader: Account
    followers: list[Account]
    store_url: str

    @property
    def accounts(self) -> list[Account]:
        return [self.leader, *self.followers]

    def tokens(self) -> list[str]:
        return [a.token for a in self.accounts]

    def write_env(self) -> None:
        lines = [f"{a.var}={a.token}" for a in self.accounts]
        self.env_file.write_text("\n".join(lines) + "\n")

    def set_token(self, name: str, token: str) -> None:
        """A rotated token: in the env file (and in the simulator when the test says so)."""
        self.followers = [
            Account(a.name, a.client_id, token) if a.name == name else a for a in self.followers
        ]
        self.write_env()

    def env(self) -> dict[str, str]:
        return {**os.environ, "COPYTRADER_ENV_FILE": str(self.env_file)}

    def cli(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "copytrader", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO,
            env=self.env(),
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "copytrader", "--config", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=self.env(),
        )

    def assert_no_token_in(self, text: str) -> None:
        for token in self.tokens():
            assert token not in text, "an access token leaked into the output"


def make_cli_rig(
    sim: Simulator,
    tmp_path: Path,
    follower_names: Iterable[str],
    *,
    id_base: int,
    metrics_port: int | None = None,
    extra_follower_yaml: dict[str, str] | None = None,
    read_timeout_s: float = 2.0,
    token_validity_s: float | None = None,
    extra_yaml: str = "",
) -> CliRig:
    """Accounts in ``sim`` and a config for them; ``metrics_port`` None disables metrics.
    ``token_validity_s``: how long the accounts' tokens live (the simulator's default: 24 h);
    ``extra_yaml``: top-level lines appended to the config."""
    leader = Account("leader", str(id_base), f"leader-secret-{id_base}-Zq8wX1")
    followers = [
        Account(name, str(id_base + 1 + i), f"{name}-secret-{id_base + 1 + i}-Yp7vW2")
        for i, name in enumerate(follower_names)
    ]
    for a in (leader, *followers):
        sim.admin.create_account(a.client_id, a.token, 1e8, token_validity_s=token_validity_s)
    store_url = f"sqlite:///{tmp_path / 'journal.db'}"
    lines = [
        "broker:",
        "  embedded_sim: false",
        f"  rest_url: {sim.rest_url}",
        f"  order_feed_url: {sim.order_feed_url}",
        "  connect_timeout_s: 1",
        f"  read_timeout_s: {read_timeout_s}",
        "  feed_ping_interval_s: 1",
        "  feed_ping_timeout_s: 2",
        "leader:",
        f"  client_id: '{leader.client_id}'",
        f"  access_token: '${{{leader.var}}}'",
        "followers:",
    ]
    for f in followers:
        lines += [
            f"  - name: {f.name}",
            f"    client_id: '{f.client_id}'",
            f"    access_token: '${{{f.var}}}'",
            "    sizing: {mode: multiplier, multiplier: 1.0}",
        ]
        if extra_follower_yaml and f.name in extra_follower_yaml:
            lines.append(f"    {extra_follower_yaml[f.name]}")
    lines += [
        "engine: {follower_tick_s: 0.3, bracket_tick_s: 0.2, outcome_lookup_delay_s: 0.2, "
        f"audit_path: '{tmp_path / 'audit.jsonl'}'}}",
        f"store: {{url: '{store_url}'}}",
        (
            f"metrics: {{enabled: true, host: 127.0.0.1, port: {metrics_port}}}"
            if metrics_port is not None
            else "metrics: {enabled: false}"
        ),
    ]
    if extra_yaml:
        lines.append(extra_yaml)
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    rig = CliRig(sim, config, tmp_path / "tokens.env", leader, followers, store_url)
    rig.write_env()
    return rig


class Output:
    """Collects a process's output lines on a reader thread; ``wait_for`` waits with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="cli-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # EOF marker
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, needle: str, timeout_s: float = 30.0, *, after: int = 0) -> int:
        """Index of the first line from ``after`` on that contains ``needle``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for i in range(after, len(self.lines)):
                    if needle in self.lines[i]:
                        return i
                if self.lines and self.lines[-1] == "":
                    raise AssertionError(f"process ended before {needle!r}:\n{self.text}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {needle!r} within {timeout_s} s:\n{self.text}")
                self._changed.wait(left)

    def finish(self, timeout_s: float = 15.0) -> int:
        """Wait for the process to exit and its output to end; its exit status. A process
        still running after ``timeout_s`` is killed (so no test leaves one behind)."""
        try:
            status = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5.0)
            raise
        self._thread.join(timeout=5.0)
        return status


def run_in_pty(args: list[str], timeout_s: float = 120.0) -> tuple[int, str]:
    """``python -m copytrader *args`` on a pseudo-terminal (what a user's terminal is); returns
    (exit status, everything it wrote). The read loop ends at EOF or at the deadline."""
    import os
    import pty
    import select

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytrader", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=REPO,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5.0)
        os.close(primary)
    return status, b"".join(chunks).decode(errors="replace")
