"""SIGKILL a writer at random points: the journal reopens intact with every reported commit.

A child process (``crash_child``, started with ``sys.executable``) forks journal writers that
write in a loop and print each commit after it returned. The test SIGKILLs each writer after a
random number of lines (seeded: the seed is printed; replay with ``COPYTRADER_CRASH_SEED``),
then reopens the journal, runs the integrity check and looks up everything the writer reported.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

from store import IntentState, Journal

KILLS = 24
ROOT = Path(__file__).resolve().parents[3]
TIMEOUT_S = 60


class WriterFactory:
    """The child process that forks writers, and every line they printed."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.store.crash_child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[str]:
        """Wait until ``count`` lines were printed in total; return all lines."""
        with self._changed:
            ok = self._changed.wait_for(lambda: len(self.lines) >= count, timeout=TIMEOUT_S)
            lines = list(self.lines)
        assert ok, f"no progress in {TIMEOUT_S} s: {lines[-3:]}"
        assert "<eof>" not in lines, f"the child died on its own: {lines[-3:]}"
        return lines

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT_S)


def _check_reported_commits(url: str, lines: list[str]) -> int:
    journal = Journal.open(url)
    try:
        assert journal.integrity_check() == []
        reported = 0
        for line in lines:
            kind, _, value = line.partition(" ")
            if kind == "event":
                assert journal.leader_snapshot(value) is not None, line
                assert len(journal.intents(leader_order_id=value)) == 3, line
            elif kind == "sending":
                assert journal.intent(int(value)).state is IntentState.SENDING, line
            elif kind == "audit":
                (record,) = journal.audit_after(int(value) - 1, limit=1)
                assert record.id == int(value), line
            else:
                continue
            reported += 1
        return reported
    finally:
        journal.close()


def test_every_reported_commit_survives_sigkill_at_random_points(fresh_journal_url: str):
    seed = int(os.environ.get("COPYTRADER_CRASH_SEED", random.randrange(2**32)))
    print(f"crash test seed: {seed} (replay with COPYTRADER_CRASH_SEED={seed})")
    rng = random.Random(seed)
    factory = WriterFactory()
    total = 0
    try:
        seen = len(factory.wait_for(1))  # "imported"
        for kill in range(KILLS):
            factory.send(f"spawn {fresh_journal_url} {kill * 100_000}")
            seen = len(factory.wait_for(seen + 1))
            pid = int(factory.lines[seen - 1].removeprefix("pid "))
            # 0 more lines: killed while opening the journal (the first time: mid-migration)
            more = 0 if rng.random() < 0.15 else rng.randint(1, 60)
            factory.wait_for(seen + more)
            os.kill(pid, signal.SIGKILL)
            factory.send(f"reap {pid}")
            lines = factory.wait_for(seen + more + 1)
            while lines[-1] != f"dead {pid}":  # the writer's last lines may still be arriving
                lines = factory.wait_for(len(lines) + 1)
            total += _check_reported_commits(fresh_journal_url, lines[seen:])
            seen = len(lines)
    finally:
        factory.close()
    assert total > KILLS, f"seed {seed}: the writers reported only {total} commits"
