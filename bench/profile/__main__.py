"""``python -m bench.profile``: see the package docstring."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import profile as profile_package
from bench.common import SimProcess, machine, write_json
from bench.profile.engine_run import Run, load_line
from bench.profile.micro import micro_http, micro_journal, micro_misc, print_micro
from bench.profile.ping import micro_messaging
from bench.profile.timeline import print_timeline, timeline_pass
from bench.profile.yappi_pass import load_yappi, print_profile, print_scaled, profile_pass


def main(argv: Sequence[str] | None = None) -> int:
    doc = profile_package.__doc__ or ""
    parser = argparse.ArgumentParser(prog="bench.profile", description=doc.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--gap-s", type=float, default=0.1, help="pause between leader orders")
    parser.add_argument(
        "--passes", default="cpu,wall,timeline,micro", help="any of cpu,wall,timeline,micro"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--builtins",
        action="store_true",
        help="yappi also times C functions (more overhead; their time otherwise counts as "
        "their Python caller's own)",
    )
    args = parser.parse_args(argv)
    passes = {p.strip() for p in args.passes.split(",") if p.strip()}
    yappi = load_yappi()
    if yappi is None and passes & {"cpu", "wall"}:
        print(
            "yappi is not installed: `.venv/bin/pip install yappi` (a measurement tool, not a "
            "project dependency), or run only --passes timeline,micro",
            file=sys.stderr,
        )
        return 2
    facts = machine()
    print(f"git {facts['git_head']} (modified: {', '.join(facts['git_modified']) or 'none'})")
    print(f"{args.followers} followers, {args.orders} orders, RTT {args.rtt_ms} ms; {load_line()}")
    result: dict[str, Any] = {"machine": facts, "args": vars(args)}
    index = int(time.time()) % 50_000  # fresh broker accounts (and rate windows) per run
    if passes & {"cpu", "wall", "timeline"}:
        with SimProcess() as sim:
            for k, clock in enumerate(("cpu", "wall")):
                if clock not in passes:
                    continue
                run = Run(args.followers, args.orders, args.rtt_ms, args.gap_s, index * 4 + k)
                run, prof = profile_pass(sim, run, yappi, clock, args.builtins)
                print(f"\n== pass {clock}: {run.elapsed_s:.1f} s; {load_line()}")
                result[clock] = print_profile(prof, run, args.top)
                result[clock]["loadavg"] = run.loadavg
            if "timeline" in passes:
                run = Run(args.followers, args.orders, args.rtt_ms, args.gap_s, index * 4 + 2)
                run, rec = timeline_pass(sim, run)
                print(f"\n== pass timeline: {run.elapsed_s:.1f} s; {load_line()}")
                result["timeline"] = print_timeline(run, rec)
                result["timeline"]["loadavg"] = run.loadavg
                if "cpu" in result:
                    result["scaled_buckets"] = print_scaled(
                        result["cpu"]["bucket_shares"], result["timeline"]
                    )
    if "micro" in passes:
        print(f"\n== micro-benchmarks; {load_line()}")
        micros = micro_misc(5000)
        micros += micro_messaging(2000)
        micros += micro_journal(100, args.followers)
        micros += micro_http(300)
        result["micro"] = print_micro(micros)
        print(load_line())
    path = write_json("profile.json", result)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
