"""Actor ping: a permit round trip by pykka message vs a token bucket in the caller."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import pykka

from bench.profile.engine_run import engine_cpu_by_kind, thread_cpu_s
from bench.profile.micro import Micro, measure


class _Echo(pykka.ThreadingActor):
    """Answers each message with a tell to ``peer`` (a limiter's grant, reduced to nothing)."""

    def __init__(self, peer: Any = None) -> None:
        super().__init__()
        self.peer = peer

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "peer":
            self.peer = message[1]
        elif self.peer is not None:
            self.peer.tell(message)
        return None


class _Pinger(pykka.ThreadingActor):
    """Tells the echo, waits for the echo's tell, ``rounds`` times; records each round trip."""

    def __init__(self, echo: Any, rounds: int, done: threading.Event) -> None:
        super().__init__()
        self.echo = echo
        self.rounds = rounds
        self.done = done
        self.walls: list[int] = []
        self.sent_ns = 0

    def on_receive(self, message: Any) -> Any:
        if message != "start":
            self.walls.append(time.monotonic_ns() - self.sent_ns)
        if len(self.walls) >= self.rounds:
            self.done.set()
            return None
        self.sent_ns = time.monotonic_ns()
        self.echo.tell(("permit", len(self.walls)))
        return None


def micro_messaging(rounds: int) -> list[Micro]:
    """A permit round trip by message (two pykka threads) vs a token bucket in the caller."""
    from actors.rate_windows import AccountWindows

    echo = _Echo.start()
    done = threading.Event()
    pinger = _Pinger.start(echo, rounds, done)
    echo.tell(("peer", pinger))
    before = thread_cpu_s()
    pinger.tell("start")
    done.wait(120.0)
    after = thread_cpu_s()
    walls: list[int] = pinger.proxy().walls.get()
    pinger.stop()
    echo.stop()
    cpu_s = sum(engine_cpu_by_kind(before, after).values())
    out = [
        Micro(
            "pykka tell -> actor -> tell back (permit round trip shape)",
            cpu_s / max(1, len(walls)) * 1e6,
            statistics.median(walls) / 1e3 if walls else 0.0,
            len(walls),
            f"p99 wall {sorted(walls)[int(0.99 * (len(walls) - 1))] / 1e3:.0f} us; "
            "CPU from /proc at 10 ms resolution",
        )
    ]
    windows = AccountWindows.dhan_defaults()
    lock = threading.Lock()
    now = [1000.0]

    def bucket(k: int) -> None:
        with lock:
            now[0] += 0.25  # four calls a second: always within Dhan's windows
            if windows.wait_s(now[0]) <= 0:
                windows.take(now[0])

    out.append(measure("AccountWindows.wait_s + take under a lock (in-thread)", bucket, rounds))
    return out
