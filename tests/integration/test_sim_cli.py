"""``python -m dhansim`` and ``python -m copytrader sim`` serve REST + socket on one port, log
both URLs in one line, and exit 0 on SIGINT / SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

from dhansim import AdminClient
from tests.integration.sim_helpers import wait_until

URL_LINE = re.compile(r"REST (http://\S+/v2)\s+order-update (ws://\S+/order-update)")


@pytest.mark.parametrize(
    ("command", "stop_signal"),
    [
        (["-m", "dhansim"], signal.SIGTERM),
        (["-m", "copytrader", "sim", "--host", "127.0.0.1"], signal.SIGINT),
    ],
    ids=["dhansim-sigterm", "copytrader-sim-sigint"],
)
def test_the_cli_serves_until_a_stop_signal_and_exits_zero(
    command: list[str], stop_signal: signal.Signals
):
    proc = subprocess.Popen(
        [sys.executable, *command, "--port", "0", "--seed", "4", "--no-rate-limits"],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        match = wait_until(lambda: next(filter(None, map(URL_LINE.search, lines)), None), 20)
        rest_url, feed_url = match.group(1), match.group(2)
        assert feed_url.replace("ws://", "http://").split("/order")[0] == rest_url[:-3]
        admin = AdminClient(rest_url[:-3])
        admin.create_account("1100000001", "cli-token")
        assert admin.switches()["rate_limits"] is False
        response = requests.get(
            rest_url + "/orders",
            headers={"access-token": "cli-token", "client-id": "1100000001"},
            timeout=5,
        )
        assert response.status_code == 200 and response.json() == []
        admin.close()
    finally:
        proc.send_signal(stop_signal)
        assert proc.wait(10) == 0
        reader.join(5)


def test_a_bad_switch_is_refused_before_binding():
    proc = subprocess.run(
        [sys.executable, "-m", "dhansim", "--port", "0", "--switch", "no_such_switch=1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "unknown switch 'no_such_switch'" in proc.stderr
