"""``python -m dhansim`` serves REST + socket on one port, logs both URLs, exits 0 on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import requests

from dhansim import AdminClient
from tests.integration.sim_helpers import wait_until

URL_LINE = re.compile(r"REST (http://\S+/v2)\s+order-update (ws://\S+/order-update)")


def test_the_cli_serves_until_sigterm_and_exits_zero():
    proc = subprocess.Popen(
        [sys.executable, "-m", "dhansim", "--port", "0", "--seed", "4", "--no-rate-limits"],
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
        proc.send_signal(signal.SIGTERM)
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
