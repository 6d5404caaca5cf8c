"""dhansim in its own process, for chaos runs: the engine and the simulator then do not share
one interpreter's GIL, and the engine can be SIGKILLed without taking the broker with it.

``external_sim(seed, **switches)`` starts ``python -m dhansim --port 0``, parses the URL line
it logs, and yields an object with the ``rest_url`` / ``order_feed_url`` / ``admin`` of an
in-process :class:`dhansim.Simulator`, so the harness works with either.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dhansim.admin import AdminClient

_LISTENING = re.compile(r"REST (http://\S+/v2)\s+order-update (ws://\S+)")
START_TIMEOUT_S = 20.0


@dataclass
class ExternalSim:
    rest_url: str
    order_feed_url: str
    admin: AdminClient
    process: subprocess.Popen[str]
    log_tail: deque[str]


@contextmanager
def external_sim(seed: int, **switches: Any) -> Iterator[ExternalSim]:
    args = [sys.executable, "-m", "dhansim", "--host", "127.0.0.1", "--port", "0"]
    args += ["--seed", str(seed), "--log-level", "INFO"]
    for name, value in switches.items():
        args += ["--switch", f"{name}={json.dumps(value)}"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    tail: deque[str] = deque(maxlen=200)
    found = threading.Event()
    urls: list[str] = []

    def drain() -> None:  # keeps the pipe from filling; remembers the URL line and a tail
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip())
            m = _LISTENING.search(line)
            if m and not found.is_set():
                urls.extend(m.groups())
                found.set()
        found.set()

    threading.Thread(target=drain, name="dhansim-stderr", daemon=True).start()
    try:
        if not found.wait(START_TIMEOUT_S) or not urls:
            raise RuntimeError("dhansim did not start: " + " | ".join(tail))
        rest_url, feed_url = urls
        admin = AdminClient(rest_url.removesuffix("/v2"))
        yield ExternalSim(rest_url, feed_url, admin, proc, tail)
        admin.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
