"""Each default is written once, on its dataclass: the reader has a reader per key and no
default of its own; what the actors get of a follower holds no token and no proxy."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import pytest

from actors.settings import Egress, FollowerSettings
from copytrader import config as copytrader_config
from copytrader.config import (
    BrokerConfig,
    CapsConfig,
    EgressConfig,
    EngineConfig,
    FiltersConfig,
    FollowerConfig,
    LoggingConfig,
    MetricsConfig,
    Secret,
    SimConfig,
    SizingConfig,
    SizingMode,
    StoreConfig,
    parse_config,
)

ENV = {"LEADER_TOKEN": "leader-secret-token", "ALICE_TOKEN": "alice-secret-token"}
BASE = """
leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}
followers:
  - name: alice
    client_id: "1000000002"
    access_token: "${ALICE_TOKEN}"
    sizing: {mode: capital}
"""


@pytest.mark.parametrize("section", list(copytrader_config._READERS), ids=lambda c: c.__name__)
def test_every_field_of_a_section_has_a_reader_and_every_reader_a_field(section: type[Any]):
    readers = copytrader_config._READERS[section]

    assert set(readers) == {f.name for f in dataclasses.fields(section)}


@pytest.mark.parametrize(
    ("extra", "read", "expected"),
    [
        ("broker: {}\n", lambda c: c.broker, BrokerConfig()),
        ("broker: {embedded_sim: true, sim: {}}\n", lambda c: c.broker.sim, SimConfig()),
        ("engine: {}\n", lambda c: c.engine, EngineConfig()),
        ("store: {}\n", lambda c: c.store, StoreConfig()),
        ("metrics: {}\n", lambda c: c.metrics, MetricsConfig()),
        ("logging: {}\n", lambda c: c.logging, LoggingConfig()),
        ("    caps: {}\n", lambda c: c.followers[0].caps, CapsConfig()),
        ("    filters: {}\n", lambda c: c.followers[0].filters, FiltersConfig()),
        ("", lambda c: c.followers[0].sizing, SizingConfig(SizingMode.CAPITAL)),
    ],
)  # fmt: skip
def test_a_key_left_out_takes_the_dataclass_default(extra: str, read: Any, expected: Any):
    cfg = parse_config(textwrap.dedent(BASE) + extra, ENV)

    assert read(cfg) == expected


def _alice(egress: EgressConfig | None) -> FollowerConfig:
    return FollowerConfig(
        name="alice",
        client_id="1000000002",
        access_token=Secret("alice-secret-token"),
        sizing=SizingConfig(SizingMode.MULTIPLIER, multiplier=2.0),
        enabled=False,
        caps=CapsConfig(max_order_quantity=10),
        egress=egress,
    )


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        (None, None),
        (EgressConfig(source_address="10.0.0.5"), Egress("10.0.0.5")),
        (EgressConfig(proxy="http://u:pw-of-proxy@proxy:3128"), Egress(None)),
        (EgressConfig("10.0.0.5", "http://proxy:3128"), Egress("10.0.0.5")),
    ],
)
def test_what_the_actors_get_of_a_follower_holds_no_token_and_no_proxy(
    egress: EgressConfig | None, expected: Egress | None
):
    follower = _alice(egress)

    settings = follower.settings

    assert type(settings) is FollowerSettings
    assert settings.egress == expected
    assert not hasattr(settings, "access_token")
    assert "secret-token" not in repr(settings) and "proxy" not in repr(settings)
    same = [f.name for f in dataclasses.fields(FollowerSettings) if f.name != "egress"]
    assert [getattr(settings, n) for n in same] == [getattr(follower, n) for n in same]
