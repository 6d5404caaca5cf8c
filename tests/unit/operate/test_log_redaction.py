"""The log filter scrubs every configured secret, also the tokens a SIGHUP reload brings."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from copytrader.config import parse_config
from copytrader.logs import add_secrets, setup_logging
from copytrader.runner import secrets_of

OLD_TOKEN = "old-token-aaaaaaaaaaaa"
NEW_TOKEN = "rotated-token-bbbbbbbbbb"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("INFO", "text", [OLD_TOKEN])
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    try:
        yield out
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def test_a_token_added_after_start_is_scrubbed_and_the_old_one_still_is(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("copytrader.test")
    log.warning("before reload: %s", NEW_TOKEN)  # not yet known: shown (what the fix is for)
    add_secrets([NEW_TOKEN])
    log.warning("after reload: %s and %s", NEW_TOKEN, OLD_TOKEN)

    before, after = captured.getvalue().splitlines()
    assert NEW_TOKEN in before
    assert NEW_TOKEN not in after and OLD_TOKEN not in after


def test_the_secrets_of_a_config_include_proxy_passwords() -> None:
    cfg = parse_config(
        """
leader: {client_id: "1000000001", access_token: "leader-token-cccccccc"}
followers:
  - name: px
    client_id: "1000000002"
    access_token: "follower-token-dddddddd"
    sizing: {mode: multiplier, multiplier: 1}
    egress: {proxy: "http://user:p%40ss-word@proxy.local:3128"}
""",
        {},
    )

    found = secrets_of(cfg)

    assert "p%40ss-word" in found and "p@ss-word" in found
    assert {"leader-token-cccccccc", "follower-token-dddddddd"} <= set(found)
