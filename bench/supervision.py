"""Benchmark of the supervision layer: restart latency, registry round trip, fault-point cost.

Run: ``python -m bench.supervision``. Not a test; prints medians and p99s so the numbers in
``docs/architecture.md`` can be reproduced on any machine.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from supervision import (
    ChildRestarted,
    ChildSpec,
    Faults,
    Intensity,
    SupervisedActor,
    Supervisor,
)
from supervision.faults import FaultPlan


class _Echo(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("bench crash")
        return message


def _percentiles(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p50_ms = statistics.median(ordered) * 1e3
    p99_ms = ordered[int(len(ordered) * 0.99) - 1] * 1e3
    return f"p50 {p50_ms:.3f} ms  p99 {p99_ms:.3f} ms  (n={len(ordered)})"


def bench_restart_latency(rounds: int = 200) -> str:
    """Crash (tell) -> ChildRestarted delivered to a subscriber, no backoff, real clock."""
    restarted = threading.Event()
    supervisor = Supervisor(
        "bench",
        [ChildSpec.actor("echo", _Echo)],
        intensity=Intensity(rounds + 1, 60.0),
    )
    supervisor.events.subscribe(
        lambda event: restarted.set() if isinstance(event, ChildRestarted) else None
    )
    supervisor.start()
    samples_s = []
    try:
        for _ in range(rounds):
            ref = supervisor.registry.wait_running("echo", 5.0)
            restarted.clear()
            started = time.perf_counter()
            ref.tell("crash")
            if not restarted.wait(5.0):
                raise RuntimeError("no restart")
            samples_s.append(time.perf_counter() - started)
    finally:
        supervisor.stop(5.0)
    return _percentiles(samples_s)


def bench_registry_ask(rounds: int = 5000) -> str:
    """Registry.ask round trip to a running supervised actor."""
    supervisor = Supervisor("bench", [ChildSpec.actor("echo", _Echo)]).start()
    samples_s = []
    try:
        for i in range(rounds):
            started = time.perf_counter()
            supervisor.registry.ask("echo", i, timeout_s=5.0)
            samples_s.append(time.perf_counter() - started)
    finally:
        supervisor.stop(5.0)
    return _percentiles(samples_s)


def bench_fault_point(calls: int = 1_000_000) -> str:
    """Cost of one fault point, disarmed and armed (on a point the plan does not name)."""
    faults = Faults()
    started = time.perf_counter()
    for _ in range(calls):
        faults.point("follower.before_send")
    disarmed_ns = (time.perf_counter() - started) / calls * 1e9
    faults.arm(FaultPlan(seed=1, probabilities={"elsewhere": 0.5}))
    started = time.perf_counter()
    for _ in range(calls):
        faults.point("follower.before_send")
    armed_ns = (time.perf_counter() - started) / calls * 1e9
    return f"disarmed {disarmed_ns:.0f} ns/call, armed-elsewhere {armed_ns:.0f} ns/call"


def main() -> None:
    print("restart latency (crash -> ChildRestarted):", bench_restart_latency())
    print("registry ask round trip:               ", bench_registry_ask())
    print("fault point:                           ", bench_fault_point())


if __name__ == "__main__":
    main()
