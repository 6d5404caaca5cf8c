"""The token watch against dhansim: ``GET /profile`` validity becomes the expiry gauge."""

from __future__ import annotations

import time

from copytrader.metrics import Metrics
from copytrader.token_watch import TokenWatch
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import wait_until

DAY_S = 24 * 3600.0


def _expiry(metrics: Metrics, account: str) -> float | None:
    return metrics.registry.get_sample_value(
        "copytrader_token_expiry_timestamp_seconds", {"account": account}
    )


def _clients(sim: Simulator) -> dict[str, DhanClient]:
    out = {}
    for name, client_id in (("leader", "3100000001"), ("ana", "3100000002")):
        token = f"token-of-{client_id}"
        sim.admin.create_account(client_id, token, 1e6)
        out[name] = DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=token)
    return out


def test_each_accounts_token_validity_is_exported_and_a_rejected_token_reads_as_expired_now(
    sim: Simulator,
) -> None:
    clients = _clients(sim)
    metrics = Metrics(process=False)
    watch = TokenWatch(clients, metrics)
    try:
        before = time.time()
        result = watch.check_once()
        for name in ("leader", "ana"):
            expiry = _expiry(metrics, name)
            assert expiry is not None and result[name] == expiry
            # the simulator issues 24 h tokens; tokenValidity has minute resolution
            assert before + DAY_S - 120 <= expiry <= time.time() + DAY_S + 60

        sim.admin.expire_token(clients["ana"].client_id)
        rejected_at = time.time()
        assert watch.check_once()["ana"] is None
        ana = _expiry(metrics, "ana")
        assert ana is not None and rejected_at <= ana <= time.time()  # alert: "expires" now

        sim.admin.rotate_token(clients["ana"].client_id, "ana-rotated")
        clients["ana"].update_token("ana-rotated")  # what a SIGHUP reload does
        watch.check_once()
        ana = _expiry(metrics, "ana")
        assert ana is not None and ana >= rejected_at + DAY_S - 120
    finally:
        for client in clients.values():
            client.close()


def test_the_watch_checks_at_start_and_again_soon_after_a_reload(sim: Simulator) -> None:
    clients = _clients(sim)
    metrics = Metrics(process=False)
    watch = TokenWatch(clients, metrics, interval_s=3600.0).start()
    try:
        wait_until(lambda: watch.checks >= 1, what="the first check at start")
        assert _expiry(metrics, "leader") is not None
        watch.check_soon(delay_s=0.0)
        wait_until(lambda: watch.checks >= 2, what="a check soon after a reload")
    finally:
        stopped = time.monotonic()
        watch.stop()
        assert time.monotonic() - stopped < 2.0
        for client in clients.values():
            client.close()
