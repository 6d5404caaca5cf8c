"""A follower's pause (``actors.follower_pause``): a refused token until a new one, a refused
static IP until a restart; each said once in the log and the audit trail, never a token."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actors.follower_pause import FollowerPause
from copytrader.metrics import Metrics
from dhan import errors

Audit = list[tuple[str, dict[str, Any]]]


def pause(source: str | None = "127.0.0.7") -> tuple[FollowerPause, Audit, Metrics]:
    audit: Audit = []
    metrics = Metrics(process=False)
    state = FollowerPause(
        "f4", "1200000004", source, metrics, lambda kind, p: audit.append((kind, p))
    )
    return state, audit, metrics


def paused_gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("copytrader_follower_paused", {"follower": "f4"})


def test_a_refused_token_pauses_once_until_a_new_token_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, audit, metrics = pause()
    caplog.set_level(logging.WARNING, logger="actors.follower_pause")
    state.for_token("token rejected (DH-901): invalid")
    state.for_token("token rejected during lookup (DH-901)")
    assert state.reason == "token rejected during lookup (DH-901)"
    assert paused_gauge(metrics) == 1.0
    assert [kind for kind, _p in audit] == ["follower_paused"]  # said once
    assert state.token_reloaded() is True
    assert (state.reason, paused_gauge(metrics)) == (None, 0.0)
    assert [kind for kind, _p in audit] == ["follower_paused", "follower_resumed"]
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


@pytest.mark.parametrize(
    ("source", "said", "reason"),
    [
        ("127.0.0.7", "127.0.0.7", "static IP refused (DH-905) from 127.0.0.7"),
        (None, "(none configured: the host's default route)", "static IP refused (DH-905) from"
         " default route"),
    ],
)  # fmt: skip
def test_a_refused_source_address_pauses_until_a_restart_not_a_token_reload(
    caplog: pytest.LogCaptureFixture, source: str | None, said: str, reason: str
) -> None:
    state, audit, metrics = pause(source)
    caplog.set_level(logging.ERROR, logger="actors.follower_pause")
    refused = errors.StaticIpRefused("source IP not registered", code="DH-905", http_status=400)
    state.for_source_address(refused)
    state.for_source_address(refused)
    assert (state.reason, state.ip_refused) == (reason, True)
    counted = metrics.registry.get_sample_value(
        "copytrader_static_ip_refused_total", {"follower": "f4"}
    )
    assert counted == 2.0  # every refusal counted, said once
    (line,) = [r.getMessage() for r in caplog.records]
    assert "1200000004" in line and said in line and "f4" in line
    assert audit == [
        ("follower_paused", {"reason": "static IP refused", "source_address": source,
                             "code": "DH-905"}),
    ]  # fmt: skip
    assert state.token_reloaded() is False
    assert state.reason == reason
