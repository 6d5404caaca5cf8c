"""Operating the engine: /metrics, /readyz, and the CLI end to end in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from copytrader.health import HealthServer
from dhansim import Simulator
from tests.integration.cli_rig import Output, run_in_pty
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_expose_the_named_series_and_readyz_follows_the_leader_socket(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [follower_config("p1", "1600000001"), follower_config("p2", "1600000002")]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, followers)
    health = HealthServer(rig.engine.metrics.registry, rig.engine.ready, "127.0.0.1", 0).start()
    try:
        for i in range(3):
            oid = rig.leader.place_order(limit_buy(quantity=2, price=1500.0 + i)).order_id
            rig.wait_copies(oid, lambda _f, c: len(c) == 1)
        wait_until(lambda: _get(health.url + "/readyz")[0] == 200, what="ready")
        # the inbox depths and the unresolved intents are sampled each second, and a copy's
        # ack is journaled on its follower's next tick: wait for a sample after that
        wait_until(
            lambda: (
                "copytrader_mailbox_depth{" in (text := _get(health.url + "/metrics")[1])
                and "\ncopytrader_intents_unresolved 0.0" in text
            ),
            what="mailbox depth sampled, acks journaled",
        )
        status, text = _get(health.url + "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}

        def samples(family: str, suffix: str = "") -> dict[tuple[str, ...], float]:
            return {
                tuple(v for k, v in sorted(s.labels.items()) if k != "le"): s.value
                for s in families[family].samples
                if s.name == family + suffix
            }

        # every series the issue names, with the labels it names (a counter's family has no
        # _total in the parser), and the process collector
        expected_labels = {
            "copytrader_replication_latency_seconds": {"follower"},
            "copytrader_follower_orders": {"follower", "action", "outcome"},
            "copytrader_actor_restarts": {"actor"},
            "copytrader_feed_connected": set(),
            "copytrader_feed_reconnects": set(),
            "copytrader_rate_limited": {"account"},
            "copytrader_intents_unresolved": set(),
            "copytrader_leader_events": {"kind"},
            "copytrader_follower_quarantined": {"follower"},
            "copytrader_mailbox_depth": {"actor"},
        }
        for name, labels in expected_labels.items():
            assert name in families, name
            for sample in families[name].samples:
                if not sample.name.endswith("_created"):
                    assert set(sample.labels) - {"le"} == labels, (name, sample)
        assert "process_resident_memory_bytes" in families
        assert "process_cpu_seconds_total" in {s.name for f in families.values() for s in f.samples}
        assert samples("copytrader_feed_reconnects", "_total") == {(): 0.0}
        assert samples("copytrader_rate_limited", "_total") == {
            ("leader",): 0.0,
            ("p1",): 0.0,
            ("p2",): 0.0,
        }
        assert samples("copytrader_follower_quarantined") == {("p1",): 0.0, ("p2",): 0.0}
        assert samples("copytrader_leader_events", "_total")[("socket",)] >= 3.0
        assert samples("copytrader_intents_unresolved") == {(): 0.0}
        depths = samples("copytrader_mailbox_depth")
        assert {("follower.p1",), ("follower.p2",), ("leader-feed",)} <= set(depths)
        assert all(0.0 <= v < 100.0 for v in depths.values())
        assert samples("copytrader_actor_restarts", "_total") == {}  # nothing restarted
        counts = {
            s.labels["follower"]: s.value
            for s in families["copytrader_replication_latency_seconds"].samples
            if s.name.endswith("_count")
        }
        # every copy is observed once -- also one a follower's tick placed before the hint
        # that claimed it arrived (the hint then completes the measure)
        assert counts == {"p1": 3.0, "p2": 3.0}
        placed = [
            s.value
            for s in families["copytrader_follower_orders"].samples
            if s.labels.get("action") == "place"
            and s.labels.get("outcome") == "ok"
            and s.name.endswith("_total")
        ]
        assert sum(placed) == 6.0
        assert families["copytrader_feed_connected"].samples[0].value == 1.0
        assert _get(health.url + "/healthz")[0] == 200

        sim.admin.set_faults({"socket_stall": True, "accounts": [rig.cfg.leader.client_id]})
        wait_until(lambda: _get(health.url + "/readyz")[0] == 503, 10.0, what="not ready")
        assert "socket" in _get(health.url + "/readyz")[1]
        sim.admin.clear_faults()
        wait_until(lambda: _get(health.url + "/readyz")[0] == 200, 15.0, what="ready again")
    finally:
        health.stop()
        rig.stop()


def _cli(
    *args: str, timeout: float = 60.0, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copytrader", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
    )


def test_a_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (REPO / "config.yaml").read_text().replace("multiplier: 2.0", "multiplier: -1")
    bad.write_text(text)
    result = _cli("--config", str(bad), "run")
    assert result.returncode == 2
    assert "followers[0].sizing.multiplier" in result.stderr


def test_the_demo_shows_a_live_table_and_a_summary_with_nothing_lost_or_duplicated() -> None:
    status, text = run_in_pty(["demo", "--followers", "2", "--seconds", "5"])
    assert status == 0, text
    frames = text.split("\x1b[H\x1b[2J")  # each redraw of the live table clears the screen
    assert len(frames) >= 3, text
    assert "copytrader demo (live)" in frames[1] and "follower2" in frames[1]
    summary = frames[-1]
    assert "lost=0 duplicated=0 unexpected=0 unresolved=0" in summary
    assert re.search(r"copy latency p50 [0-9.]+ ms, p99 [0-9.]+ ms", summary)
    # the script's mix, as the broker shows it: the bracket's target filled and its stop was
    # cancelled, for the leader and for each follower; the modified limit is at its new price
    assert re.search(r"target leg @3520 +TRADED +TRADED 4 +TRADED 8", summary), summary
    assert re.search(r"stop-loss leg +CANCELLED +CANCELLED 4 +CANCELLED 8", summary), summary
    assert re.search(r"BUY LIMIT 5 @2390 +PENDING +PENDING 5 @2390 \d+ms", summary), summary
    assert re.search(r"BUY LIMIT 8 @1450 +CANCELLED +CANCELLED 8", summary), summary
    assert "BUY MARKET 10" in summary and "SELL MARKET 10" in summary
    assert "brackets: 2 follower exits, both legs filled in 0" in summary
    assert "demo-leader-token" not in text and "demo-follower-token" not in text


def test_run_is_the_default_logs_json_lines_on_request_and_stops_cleanly_on_sigint(
    tmp_path: Path,
) -> None:
    cfg = (REPO / "config.yaml").read_text()  # the shipped example: the embedded simulator
    cfg = cfg.replace("sqlite:///copytrader.db", f"sqlite:///{tmp_path / 'run.db'}")
    cfg = cfg.replace("port: 9108", "port: 0").replace(
        "audit_path: copytrader-audit.jsonl", f"audit_path: {tmp_path / 'audit.jsonl'}"
    )
    path = tmp_path / "config.yaml"
    path.write_text(cfg)
    token = "leader-secret-token-xyz"
    proc = subprocess.Popen(  # no command: run
        [sys.executable, "-m", "copytrader", "--config", str(path), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "DHAN_LEADER_TOKEN": token},
    )
    out = Output(proc)
    try:
        out.wait_for("follower carol")  # the per-follower summary: the engine is up
    finally:
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        status = out.finish()
        elapsed = time.monotonic() - started
    assert status == 0, out.text
    assert elapsed < 10.0
    records = [json.loads(line) for line in out.text.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("embedded DhanHQ simulator at ") for m in messages)
    summaries = [m for m in messages if m.startswith("follower ")]
    assert [m.split(":")[0] for m in summaries] == [
        "follower alice",
        "follower bob",
        "follower carol",
    ]
    assert "sizing" in summaries[0] and "enabled" in summaries[0]
    assert "signal SIGINT: stopping" in messages
    assert messages[-1] == "stopped cleanly"
    assert token not in out.text


def _engine_config(sim: Simulator, tmp_path: Path, followers: list) -> Path:
    from tests.integration.engine_harness import build_config, create_accounts

    cfg = build_config(sim, tmp_path, followers)
    create_accounts(sim, cfg)
    lines = [
        "broker:",
        "  embedded_sim: false",
        f"  rest_url: {sim.rest_url}",
        f"  order_feed_url: {sim.order_feed_url}",
        "  feed_ping_interval_s: 1",
        "  feed_ping_timeout_s: 2",
        "leader:",
        f"  client_id: '{cfg.leader.client_id}'",
        f"  access_token: '{cfg.leader.access_token.reveal()}'",
        "followers:",
    ]
    for f in cfg.followers:
        lines += [
            f"  - name: {f.name}",
            f"    client_id: '{f.client_id}'",
            f"    access_token: '{f.access_token.reveal()}'",
            "    sizing: {mode: multiplier, multiplier: 1.0}",
        ]
    lines += [
        "engine: {follower_tick_s: 0.5, outcome_lookup_delay_s: 0.2, "
        f"audit_path: '{tmp_path / 'audit.jsonl'}'}}",
        f"store: {{url: 'sqlite:///{tmp_path / 'burst.db'}'}}",
        "metrics: {enabled: false}",
    ]
    path = tmp_path / "engine.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _start_engine(path: Path) -> Output:
    """``run`` on ``path``, its output drained by a reader thread (a full pipe would block the
    engine's logging, and with it the engine), once it has logged its follower summary."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytrader", "--config", str(path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    out = Output(proc)
    out.wait_for("follower b2")
    return out


def test_sigterm_during_a_copy_burst_exits_0_in_time_and_a_restart_finishes_it_exactly_once(
    sim: Simulator, tmp_path: Path
) -> None:
    import threading

    from dhan.rest import DhanClient

    followers = [follower_config("b1", "1900000001"), follower_config("b2", "1900000002")]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    sim.admin.set_switches(rate_limits=False)  # the burst itself would exceed the leader's 10/s
    path = _engine_config(sim, tmp_path, followers)
    leader = DhanClient(
        base_url=sim.rest_url, client_id="1100000000", access_token="tok-1100000000"
    )
    first = _start_engine(path)
    ids: list[str] = []

    def burst() -> None:
        for i in range(30):
            ids.append(leader.place_order(limit_buy(quantity=1, price=1400.0 + i)).order_id)

    worker = threading.Thread(target=burst)
    worker.start()
    wait_until(lambda: len(ids) >= 10, what="burst under way")
    first.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert first.finish() == 0, first.text
    assert time.monotonic() - started < 10.0
    worker.join()
    second = _start_engine(path)  # same store: it finishes the burst
    try:
        from dhan.correlation import correlation_id_for

        def missing() -> list[str]:
            out = []
            for f in followers:
                cids = [o.get("correlationId") for o in sim.admin.orders(f.client_id)]
                out += [
                    f"{f.name}/{oid}" for oid in ids if correlation_id_for(f.name, oid) not in cids
                ]
            return out

        try:
            wait_until(lambda: not missing(), 30.0, what="every leader order copied")
        except AssertionError:
            raise AssertionError(f"not copied: {missing()}\n{second.text}") from None
        for f in followers:
            cids = [o.get("correlationId") for o in sim.admin.orders(f.client_id)]
            assert all(cids.count(correlation_id_for(f.name, oid)) == 1 for oid in ids)
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.finish()
        leader.close()
