"""The operator's commands end to end: ``check-config``, ``status``, ``reconcile``, SIGHUP, give-up.

Each runs ``python -m copytrader`` in a subprocess against an in-process dhansim, checks the
exit status and the output, and that no access token appears in any of it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal
from tests.integration.cli_rig import REPO, CliRig, Output, make_cli_rig
from tests.integration.engine_harness import limit_buy, wait_until

UNSETTLED = "(PLANNED|SENDING|UNKNOWN)"


def _leader(rig: CliRig) -> DhanClient:
    return DhanClient(
        base_url=rig.sim.rest_url, client_id=rig.leader.client_id, access_token=rig.leader.token
    )


def _copies(rig: CliRig, name: str, leader_order_id: str) -> int:
    account = next(a for a in rig.followers if a.name == name)
    cid = correlation_id_for(name, leader_order_id)
    return sum(
        1
        for o in rig.sim.admin.orders(account.client_id)
        if o.get("correlationId") == cid and o.get("legName") in (None, "", "ENTRY_LEG", "NA")
    )


def _run_with_a_paused_follower(rig: CliRig) -> tuple[list[str], str]:
    """``run`` until two leader orders are copied to ``ana`` while ``ben``'s token is expired
    (ben is paused, its intents stay unresolved), then SIGTERM. Returns (leader ids, output)."""
    ben = rig.followers[1]
    rig.sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    proc = rig.popen("run")
    out = Output(proc)
    try:
        out.wait_for("follower ben")  # the per-follower summary: the engine is up
        rig.sim.admin.expire_token(ben.client_id)
        with _leader(rig) as leader:
            ids = [
                leader.place_order(limit_buy(quantity=2, price=1500.0 + i)).order_id
                for i in range(2)
            ]
        wait_until(lambda: all(_copies(rig, "ana", oid) == 1 for oid in ids), what="ana copies")
        out.wait_for("follower ben paused")
    finally:
        proc.send_signal(signal.SIGTERM)
        status = out.finish()
    assert status == 0, out.text
    return ids, out.text


def test_check_config_reports_each_tokens_validity_and_exits_1_when_one_is_rejected(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(
        sim,
        tmp_path,
        ["ana", "ben"],
        id_base=2100000000,
        extra_follower_yaml={"ben": "renew: false"},
    )
    ok = rig.cli("check-config")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "(2 followers)" in ok.stdout
    for name, account in zip(("leader", "ana", "ben"), rig.accounts, strict=True):
        assert f"{name} ({account.client_id}): token ok, valid until " in ok.stdout
    # where each token comes from, how it is kept fresh, and the store's path
    assert f"token store {tmp_path / 'copytrader-tokens.json'}; renewal 3600 s" in ok.stdout
    lines = ok.stdout.splitlines()
    renewal = {
        lines[i].split(" ")[0]: lines[i + 1].strip()
        for i in range(len(lines) - 1)
        if "): token ok" in lines[i]
    }
    assert renewal == {
        "leader": "token from the environment, renewal on, PIN + TOTP not configured",
        "ana": "token from the environment, renewal on, PIN + TOTP not configured",
        "ben": "token from the environment, renewal off, PIN + TOTP not configured",
    }

    sim.admin.expire_token(rig.followers[1].client_id)
    bad = rig.cli("check-config")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"ben ({rig.followers[1].client_id}): token rejected (DH-901)" in bad.stdout
    assert f"ana ({rig.followers[0].client_id}): token ok" in bad.stdout
    rig.assert_no_token_in(ok.stdout + ok.stderr + bad.stdout + bad.stderr)


def test_check_config_exits_2_naming_the_key_of_a_missing_token_variable(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2150000000)
    rig.env_file.write_text(f"TOKEN_LEADER={rig.leader.token}\n")  # ana's variable is gone
    result = rig.cli("check-config")
    assert result.returncode == 2
    assert "followers[0].access_token" in result.stderr
    assert "TOKEN_ANA" in result.stderr
    rig.assert_no_token_in(result.stdout + result.stderr)


def test_status_prints_followers_unresolved_intents_quarantines_and_restarts_from_the_store(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana", "ben"], id_base=2200000000)
    ids, run_output = _run_with_a_paused_follower(rig)
    journal = Journal.open(rig.store_url)
    try:  # what a quarantine and a crash leave in the store (the engine is stopped)
        journal.set_follower_flag("ana", True, "5 restarts in 60 s")
        journal.record_restart("follower.ana", "RuntimeError: broken state")
    finally:
        journal.close()

    result = rig.cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["ana"][1:4] == ["True", "True", "normal"]  # enabled, quarantined, mode
    assert "DONE=2" in rows["ana"][4] or "WORKING=2" in rows["ana"][4]
    assert rows["ben"][1:4] == ["True", "False", "normal"]
    assert "unresolved intents: 2" in result.stdout
    for oid in ids:  # where ben's pause and the engine's stop left each copy
        cid = correlation_id_for("ben", oid)
        assert re.search(rf"ben leader {oid} {UNSETTLED} cid={cid}", result.stdout)
    assert "last restarts: 1" in result.stdout
    assert "follower.ana: RuntimeError: broken state" in result.stdout
    rig.assert_no_token_in(run_output + result.stdout + result.stderr)


def test_reconcile_reports_differences_changes_nothing_and_converges_only_with_apply(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana", "ben"], id_base=2300000000)
    ids, run_output = _run_with_a_paused_follower(rig)
    ben = rig.followers[1]
    sim.admin.rotate_token(ben.client_id, "ben-fresh-secret-Xo6uV3")
    rig.set_token("ben", "ben-fresh-secret-Xo6uV3")

    report = rig.cli("reconcile")
    assert report.returncode == 1, report.stdout + report.stderr
    assert "ok=2 lost=0 duplicated=0 unexpected=0 unresolved=2" in report.stdout
    for oid in ids:
        assert re.search(rf"unresolved {UNSETTLED}: ben/{oid}", report.stdout)
        assert _copies(rig, "ben", oid) == 0  # a report changes nothing

    applied = rig.cli("reconcile", "--apply", "--timeout-s", "30")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "ok=4 lost=0 duplicated=0 unexpected=0 unresolved=0" in applied.stdout
    assert all(_copies(rig, name, oid) == 1 for name in ("ana", "ben") for oid in ids)

    # an order in a follower's account that no leader order caused
    with DhanClient(
        base_url=sim.rest_url, client_id=ben.client_id, access_token="ben-fresh-secret-Xo6uV3"
    ) as by_hand:
        by_hand.place_order(limit_buy(quantity=1, price=1400.0, correlation_id="by-hand-1"))
    stray = rig.cli("reconcile")
    assert stray.returncode == 1
    assert "unexpected=1" in stray.stdout
    assert "unexpected: ben order(s) with correlationId 'by-hand-1'" in stray.stdout
    rig.assert_no_token_in(
        run_output + "".join(r.stdout + r.stderr for r in (report, applied, stray))
    )
    assert "ben-fresh-secret-Xo6uV3" not in applied.stdout + applied.stderr + stray.stdout


def _scrape(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_reconcile_names_what_differs_between_the_leader_and_the_followers_and_why(
    sim: Simulator, tmp_path: Path
) -> None:
    from dhan.codes import OrderType, Validity
    from dhan.models import ModifyRequest

    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2700000000)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    proc = rig.popen("run")
    out = Output(proc)
    with _leader(rig) as leader:
        try:
            out.wait_for("follower ana")
            moved, cancelled = (
                leader.place_order(limit_buy(quantity=1, price=1500.0 + i)).order_id
                for i in range(2)
            )
            wait_until(lambda: _copies(rig, "ana", moved) == _copies(rig, "ana", cancelled) == 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert out.finish() == 0, out.text
        # while the engine is down the leader moves one order, cancels one and places one
        leader.modify_order(
            moved,
            ModifyRequest(
                OrderType.LIMIT, quantity=1, price=1510.0, trigger_price=None, validity=Validity.DAY
            ),
        )
        leader.cancel_order(cancelled)
        new = leader.place_order(limit_buy(quantity=1, price=1502.0)).order_id

    report = rig.cli("reconcile")
    assert report.returncode == 1, report.stdout + report.stderr
    for line in (
        f"leader order {new} (BUY LIMIT 1 @1502, PENDING) is not in the journal: the engine has "
        "not seen it; its next leader reconcile applies engine.reconcile_policy=copy_open",
        f"leader order {moved}: the journal has price 1500 but the broker says 1510",
        f"ana/{moved}: price 1500 != the leader's 1510 (intent WORKING",
        f"leader order {cancelled}: the journal has it PENDING but the broker says CANCELLED",
        f"ana/{cancelled}: copy still PENDING while the leader order is CANCELLED",
    ):
        assert line in report.stdout, report.stdout
    assert "leader vs followers: 5 differences" in report.stdout

    applied = rig.cli("reconcile", "--apply", "--timeout-s", "30")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "leader vs followers: 0 differences" in applied.stdout
    ana = {o["correlationId"]: o for o in sim.admin.orders(rig.followers[0].client_id)}
    assert ana[correlation_id_for("ana", moved)]["price"] == 1510.0
    assert ana[correlation_id_for("ana", cancelled)]["orderStatus"] == "CANCELLED"
    assert _copies(rig, "ana", new) == 1
    rig.assert_no_token_in(out.text + report.stdout + report.stderr + applied.stdout)


def _token_expiries(base_url: str) -> dict[str, float]:
    """account -> seconds its token has left, per the engine's /metrics."""
    status, text = _scrape(base_url + "/metrics")
    assert status == 200
    return {
        s.labels["account"]: s.value - time.time()
        for family in text_string_to_metric_families(text)
        if family.name == "copytrader_token_expiry_timestamp_seconds"
        for s in family.samples
    }


def test_sighup_reloads_tokens_and_enabled_flags_without_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(
        sim,
        tmp_path,
        ["ana", "ben"],
        id_base=2400000000,
        metrics_port=0,
        extra_follower_yaml={"ana": "enabled: true"},
    )
    ben = rig.followers[1]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    sim.admin.expire_token(ben.client_id)  # ben starts with a token Dhan no longer accepts
    day_s = 24 * 3600
    proc = rig.popen("run")
    out = Output(proc)
    try:
        at = out.wait_for("metrics and health at ")
        match = re.search(r"metrics and health at (http://\S+)/metrics", out.lines[at])
        assert match, out.lines[at]
        base = match.group(1)
        out.wait_for("follower ben")
        wait_until(lambda: _scrape(base + "/readyz")[0] == 200, 15.0, what="ready")
        # the token check at start: 24 h tokens for the leader and ana, ben's rejected (= now)
        left = wait_until(lambda: len(_token_expiries(base)) == 3 and _token_expiries(base))
        assert all(day_s - 3600 < left[a] <= day_s + 60 for a in ("leader", "ana")), left
        assert -60 <= left["ben"] <= 0, left
        with _leader(rig) as leader:
            first = leader.place_order(limit_buy(quantity=1, price=1500.0)).order_id
            wait_until(lambda: _copies(rig, "ana", first) == 1, what="ana's copy")
            out.wait_for("follower ben paused")

            # rotate ben's token (in Dhan and in the env file) and disable ana, then reload
            sim.admin.rotate_token(ben.client_id, "ben-rotated-secret-Wn5tU4")
            rig.set_token("ben", "ben-rotated-secret-Wn5tU4")
            rig.config.write_text(rig.config.read_text().replace("enabled: true", "enabled: false"))
            proc.send_signal(signal.SIGHUP)
            wait_until(lambda: _copies(rig, "ben", first) == 1, 15.0, what="ben catches up")
            assert "follower ben: token reloaded, resuming" in out.text
            assert proc.poll() is None  # the same process: no restart

            second = leader.place_order(limit_buy(quantity=1, price=1501.0)).order_id
            wait_until(lambda: _copies(rig, "ben", second) == 1, what="ben copies the next one")
            assert _copies(rig, "ana", second) == 0  # disabled by the reload
        # the token check a moment after the reload sees ben's new 24 h token
        wait_until(lambda: _token_expiries(base)["ben"] > day_s - 3600, what="ben's new expiry")
        metrics_text = _scrape(base + "/metrics")[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        status = out.finish()
    assert status == 0, out.text
    assert "config reloaded" in out.text
    # disabled on purpose: the copy waiting for ana is no difference to report
    report = rig.cli("reconcile")
    assert report.returncode == 0, report.stdout + report.stderr
    assert "ana is disabled (enabled: false): 1 copies wait" in report.stdout
    everything = out.text + metrics_text + report.stdout + report.stderr
    rig.assert_no_token_in(everything)
    assert "ben-rotated-secret-Wn5tU4" not in everything


def test_run_exits_1_when_the_root_supervisor_gives_up(sim: Simulator, tmp_path: Path) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2500000000)
    # the audit actor (a permanent child of the root) crashes from its 6th drain on, at every
    # restart too: the root sees 4 crashes within 60 s and gives up
    arm_and_run = (
        "from supervision.faults import FAULTS, FaultPlan\n"
        "FAULTS.arm(FaultPlan(seed=1, at_hits={'audit.before_drain': range(6, 10_000)}))\n"
        "from copytrader.cli import main\n"
        f"raise SystemExit(main(['--config', {str(rig.config)!r}, 'run']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", arm_and_run],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=rig.env(),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "root supervisor gave up" in result.stderr
    assert "exiting with status 1" in result.stderr
    rig.assert_no_token_in(result.stdout + result.stderr)


def test_sigterm_exits_0_within_10_s_even_while_a_follower_waits_on_a_slow_broker(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2600000000, read_timeout_s=60.0)
    ana = rig.followers[0]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    proc = rig.popen("run")
    out = Output(proc)
    journal = None
    try:
        out.wait_for("follower ana")
        # ana's broker answers an order after 40 s: the follower is inside that call at SIGTERM
        sim.admin.set_faults(
            {"per_endpoint": {"POST /orders": {"latency_ms": 40_000}}, "accounts": [ana.client_id]}
        )
        with _leader(rig) as leader:
            leader.place_order(limit_buy(quantity=1, price=1500.0))
        journal = Journal.open(rig.store_url)
        wait_until(
            lambda: [str(i.state) for i in journal.intents("ana")] == ["SENDING"],
            what="ana's copy on its way (SENDING is journaled before the call)",
        )
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = out.finish(timeout_s=20.0)
        elapsed_s = time.monotonic() - started
        if journal is not None:
            journal.close()
        sim.admin.clear_faults()
    assert status == 0, out.text
    assert elapsed_s < 10.0, f"took {elapsed_s:.1f} s to exit\n{out.text}"
    rig.assert_no_token_in(out.text)


def test_run_exits_1_naming_the_address_when_the_metrics_port_is_taken(
    sim: Simulator, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2800000000, metrics_port=port)
        result = rig.cli("run", timeout_s=30.0)  # no actor started: nothing keeps it alive
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot serve metrics and health on 127.0.0.1:{port}" in result.stderr
    assert "Address already in use" in result.stderr
    rig.assert_no_token_in(result.stdout + result.stderr)


def test_status_and_reconcile_on_a_store_from_a_newer_version_exit_1_with_one_line(
    sim: Simulator, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text

    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2500000000)
    Journal.open(rig.store_url).close()
    engine = create_engine(rig.store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()

    for command in ("status", "reconcile"):
        result = rig.cli(command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        (line,) = [s for s in result.stderr.splitlines() if "cannot use the store" in s]
        assert "SchemaTooNew" in line and "newer" in line


def test_run_and_reconcile_apply_refuse_a_journal_another_engine_holds_with_one_line(
    sim: Simulator, tmp_path: Path
) -> None:
    import os

    from store.lease import JournalLease

    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2900000000)
    Journal.open(rig.store_url).close()
    holder = JournalLease(rig.store_url).acquire()  # as a running engine holds it
    try:
        for command in (["run"], ["reconcile", "--apply", "--timeout-s", "5"]):
            result = rig.cli(*command, timeout_s=30.0)
            assert result.returncode == 1, (command, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
            (line,) = [s for s in result.stderr.splitlines() if "in use by another" in s]
            assert f"pid {os.getpid()}" in line and "since " in line, line
        # read-only commands need no lease
        status = rig.cli("status")
        assert status.returncode == 0, status.stdout + status.stderr
        report = rig.cli("reconcile")
        assert "in use by another" not in report.stderr
    finally:
        holder.release()
    rig.assert_no_token_in(result.stdout + result.stderr)


@pytest.mark.postgres
def test_run_waits_for_a_store_that_is_down_at_start_and_starts_when_it_is_back(
    sim: Simulator, tmp_path: Path
) -> None:
    import json
    import socket

    from tests.integration.pg_cluster import own_cluster

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with own_cluster() as cluster:
        rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3000000000, metrics_port=port)
        rig.config.write_text(rig.config.read_text().replace(rig.store_url, cluster.url))
        cluster.stop()  # a database still down when the engine starts (a reboot, say)
        proc = rig.popen("run")
        out = Output(proc)
        try:
            out.wait_for("store unavailable at start")
            out.wait_for("trying again", after=out.wait_for("store unavailable at start") + 1)
            status, body = _http(f"http://127.0.0.1:{port}/readyz")
            assert status == 503 and "store unavailable at start" in json.loads(body)["reason"]
            assert proc.poll() is None  # it waits instead of exiting (systemd's start limit)
            cluster.start()
            wait_until(
                lambda: _http(f"http://127.0.0.1:{port}/readyz")[0] == 200, 30.0, what="ready"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            status_code = out.finish()
        assert status_code == 0, out.text
        rig.assert_no_token_in(out.text)


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:  # not serving yet
        return 0, str(exc)


def test_status_and_reconcile_refuse_a_journal_that_does_not_exist_and_create_none(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3100000000)
    wrong = tmp_path / "no-such-folder" / "journal.db"
    typo = tmp_path / "jornal.db"
    for url in (f"sqlite:///{wrong}", f"sqlite:///{typo}"):
        rig.config.write_text(rig.config.read_text().replace(rig.store_url, url))
        rig.store_url = url
        for command in ("status", "reconcile", "reconcile --apply"):
            result = rig.cli(*command.split())
            assert result.returncode == 1, (command, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
            (line,) = [s for s in result.stderr.splitlines() if "cannot use the store" in s]
            assert f"NoJournal: no journal at {url}: the file does not exist" in line, line
            assert "differences" not in result.stdout
            assert "unresolved intents" not in result.stdout
        assert not wrong.exists() and not typo.exists()


def test_status_refuses_a_database_without_the_journal_schema(
    sim: Simulator, tmp_path: Path
) -> None:
    import sqlite3

    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2950000000)
    other = tmp_path / "journal.db"
    sqlite3.connect(other).close()  # an empty file where the journal should be
    result = rig.cli("status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the database holds no copytrader schema" in result.stderr


def test_reconcile_compares_super_order_legs_and_names_a_copy_cancelled_by_hand(
    sim: Simulator, tmp_path: Path
) -> None:
    from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType
    from dhan.models import SuperModifyRequest, SuperOrderRequest

    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3000000000)
    ana = rig.followers[0]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    sim.admin.set_ltp("NSE_EQ", "11536", 3500.0)
    proc = rig.popen("run")
    out = Output(proc)
    with _leader(rig) as leader:
        try:
            out.wait_for("follower ana")
            plain = leader.place_order(limit_buy(quantity=2, price=1500.0)).order_id
            bracket = leader.place_super_order(
                SuperOrderRequest(
                    transaction_type=TransactionType.BUY,
                    exchange_segment=ExchangeSegment.NSE_EQ,
                    product_type=ProductType.INTRADAY,
                    order_type=OrderType.LIMIT,
                    security_id="11536",
                    quantity=2,
                    price=3470.0,
                    target_price=3520.0,
                    stop_loss_price=3450.0,
                )
            ).order_id
            wait_until(lambda: _copies(rig, "ana", plain) == _copies(rig, "ana", bracket) == 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert out.finish() == 0, out.text
    assert rig.cli("reconcile").returncode == 0  # the copies are what the leader asks for

    # with the engine stopped, someone works ana's account by hand
    with DhanClient(
        base_url=sim.rest_url, client_id=ana.client_id, access_token=ana.token
    ) as by_hand:
        by_hand_ids = {
            o["correlationId"]: o["orderId"]
            for o in sim.admin.orders(ana.client_id)
            if o.get("legName") in (None, "ENTRY_LEG")
        }
        by_hand.cancel_order(by_hand_ids[correlation_id_for("ana", plain)])
        by_hand.modify_super_order(
            by_hand_ids[correlation_id_for("ana", bracket)],
            SuperModifyRequest.entry(
                order_type=OrderType.LIMIT,
                quantity=2,
                price=3470.0,
                target_price=3530.0,
                stop_loss_price=3450.0,
                trailing_jump=1.0,
            ),
        )

    report = rig.cli("reconcile")
    assert report.returncode == 1, report.stdout + report.stderr
    for line in (
        # the engine is stopped: its journal still holds the copy as working
        f"ana/{plain}: copy CANCELLED while the leader order is PENDING; the copy would be 2 "
        "(intent WORKING)",
        f"ana/{bracket}: target leg at 3530 != the leader's 3520; "
        "stop-loss leg trailing jump 1 != the leader's 0 (intent WORKING)",
    ):
        assert line in report.stdout, report.stdout
    assert "claimed for sending" not in report.stdout
    assert "leader vs followers: 2 differences" in report.stdout
    assert "wrong=2" in report.stdout.splitlines()[0]
    rig.assert_no_token_in(out.text + report.stdout + report.stderr)


@pytest.mark.parametrize("legs_in_book", [False, True], ids=["legs_in_super_book", "in_order_book"])
def test_reconcile_finds_nothing_unexpected_in_a_traded_super_order_and_its_copys_legs(
    sim: Simulator, tmp_path: Path, legs_in_book: bool
) -> None:
    # with super_legs_in_order_book on, GET /orders lists each traded super order's target and
    # stop legs under its entry's orderId: neither the leader's nor the copy's are orders of
    # their own to the reconcile report
    from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType
    from dhan.models import SuperOrderRequest

    sim.admin.set_switches(super_legs_in_order_book=legs_in_book)
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=3100000000)
    ana = rig.followers[0]
    sim.admin.set_ltp("NSE_EQ", "11536", 3500.0)
    proc = rig.popen("run")
    out = Output(proc)
    with _leader(rig) as leader:
        try:
            out.wait_for("follower ana")
            bracket = leader.place_super_order(
                SuperOrderRequest(
                    transaction_type=TransactionType.BUY,
                    exchange_segment=ExchangeSegment.NSE_EQ,
                    product_type=ProductType.INTRADAY,
                    order_type=OrderType.LIMIT,
                    security_id="11536",
                    quantity=2,
                    price=3470.0,  # rests until the market comes down to it
                    target_price=3520.0,
                    stop_loss_price=3450.0,
                )
            ).order_id
            cid = correlation_id_for("ana", bracket)
            wait_until(lambda: _copies(rig, "ana", bracket) == 1, what="the copy")
            sim.admin.set_ltp("NSE_EQ", "11536", 3470.0)  # both entries trade, legs go live

            def copy_legs() -> list[str]:
                return sorted(
                    str(o.get("legName"))
                    for o in sim.admin.orders(ana.client_id)
                    if o.get("correlationId") == cid
                    and o.get("orderStatus") in ("TRADED", "PENDING")
                )

            wait_until(
                lambda: copy_legs() == ["ENTRY_LEG", "STOP_LOSS_LEG", "TARGET_LEG"],
                what="the copy traded, its legs live",
            )
            with DhanClient(
                base_url=sim.rest_url, client_id=ana.client_id, access_token=ana.token
            ) as copy:
                rows = [o for o in copy.list_orders() if o.correlation_id == cid]
            assert len(rows) == (3 if legs_in_book else 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert out.finish() == 0, out.text
    report = rig.cli("reconcile")
    assert report.returncode == 0, report.stdout + report.stderr
    first = report.stdout.splitlines()[0]
    assert "ok=1 lost=0 duplicated=0 unexpected=0" in first and "wrong=0" in first
    assert "leader vs followers: 0 differences" in report.stdout
    assert _copies(rig, "ana", bracket) == 1
