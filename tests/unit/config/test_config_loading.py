"""``load_config`` turns a valid file into frozen objects, with ``${VAR}`` expansion."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from copytrader import config as copytrader_config
from copytrader.config import (
    BrokerConfig,
    Config,
    ConfigError,
    LogFormat,
    ReconcilePolicy,
    Secret,
    SizingMode,
    config_summary,
    load_config,
    parse_config,
)
from dhan.codes import ExchangeSegment, ProductType

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"

MINIMAL = """
leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}
followers:
  - name: alice
    client_id: "1000000002"
    access_token: "${ALICE_TOKEN}"
    sizing: {mode: multiplier, multiplier: 1.5}
"""
ENV = {"LEADER_TOKEN": "leader-secret-token", "ALICE_TOKEN": "alice-secret-token"}
#: Config sections read as nested mappings (the rest of the fields are leaf keys).
NESTED = (
    copytrader_config.BrokerConfig,
    copytrader_config.SimConfig,
    copytrader_config.EgressConfig,
    copytrader_config.SizingConfig,
    copytrader_config.CapsConfig,
    copytrader_config.FiltersConfig,
    copytrader_config.EngineConfig,
    copytrader_config.StoreConfig,
    copytrader_config.MetricsConfig,
    copytrader_config.LoggingConfig,
)


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), ENV if env is None else env)


def test_the_repository_config_loads_with_no_environment_at_all():
    cfg = load_config(REPO_CONFIG, env={})

    assert cfg.broker.embedded_sim is True
    assert cfg.leader.access_token.reveal() == "sim-leader-token"
    assert [f.name for f in cfg.followers] == ["alice", "bob", "carol"]
    assert {f.sizing.mode for f in cfg.followers} == set(SizingMode)
    assert cfg.followers[0].filters.exchange_segments == {
        ExchangeSegment.NSE_EQ,
        ExchangeSegment.NSE_FNO,
    }
    assert cfg.followers[1].filters.products == {ProductType.CNC, ProductType.INTRADAY}
    assert cfg.engine.reconcile_policy is ReconcilePolicy.COPY_OPEN
    assert cfg.logging.format is LogFormat.TEXT


def test_the_repository_config_takes_real_tokens_from_the_environment():
    cfg = load_config(REPO_CONFIG, env={"DHAN_ALICE_TOKEN": "a-real-jwt"})

    assert cfg.followers[0].access_token.reveal() == "a-real-jwt"


def test_a_minimal_config_gets_the_documented_defaults():
    cfg = parse(MINIMAL)

    assert cfg.broker == BrokerConfig()
    assert cfg.broker.rest_url == "https://api.dhan.co/v2"
    assert (cfg.broker.connect_timeout_s, cfg.broker.read_timeout_s) == (2.0, 5.0)
    assert cfg.followers[0].enabled is True
    assert cfg.followers[0].caps.max_order_quantity is None
    assert cfg.followers[0].filters.exchange_segments == frozenset()
    assert cfg.followers[0].egress is None
    assert cfg.store.url == "sqlite:///copytrader.db"
    assert (cfg.metrics.enabled, cfg.metrics.port) == (True, 9108)


def test_the_config_objects_are_frozen():
    cfg = parse(MINIMAL)

    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.followers[0].enabled = False  # type: ignore[misc]  # the point of the test


def test_variables_expand_with_defaults_and_dollar_escapes():
    cfg = parse(
        """
        leader: {client_id: "${LEADER_ID:-1000000001}", access_token: "${LEADER_TOKEN}"}
        followers:
          - name: alice
            client_id: "1000000002"
            access_token: "pre-$${literal}-${ALICE_TOKEN}"
            sizing: {mode: fixed, quantity: "${QTY:-7}"}
        metrics: {port: "${PORT}", enabled: "${METRICS:-false}"}
        """,
        ENV | {"PORT": "9200", "LEADER_ID": ""},
    )

    assert cfg.leader.client_id == "1000000001"  # empty counts as unset, like the shell
    assert cfg.followers[0].access_token.reveal() == "pre-${literal}-alice-secret-token"
    assert cfg.followers[0].sizing.quantity == 7
    assert (cfg.metrics.port, cfg.metrics.enabled) == (9200, False)


def test_numeric_client_ids_and_security_ids_are_read_as_strings():
    cfg = parse(
        """
        leader: {client_id: 1000000001, access_token: x-token}
        followers:
          - name: alice
            client_id: 1000000002
            access_token: y-token
            sizing: {mode: capital}
            filters: {security_ids: [11536, "1333"]}
            egress: {source_address: "2001:db8::5"}
        """
    )

    f = cfg.followers[0]
    assert (cfg.leader.client_id, f.client_id) == ("1000000001", "1000000002")
    assert f.filters.security_ids == {"11536", "1333"}
    assert f.sizing.capital_multiplier == 1.0
    assert f.egress is not None and f.egress.source_address == "2001:db8::5"


def test_tokens_never_appear_in_any_repr_or_summary():
    cfg = parse(MINIMAL)

    for text in (repr(cfg), str(cfg), *config_summary(cfg), repr(cfg.followers[0].account)):
        assert "leader-secret-token" not in text
        assert "alice-secret-token" not in text
    assert repr(cfg.leader.access_token) == "Secret('***')"
    assert f"{cfg.leader.access_token}" == "Secret('***')"


def test_passwords_in_proxy_and_store_urls_are_redacted_in_reprs():
    cfg = parse(
        MINIMAL.replace(
            "sizing: {mode: multiplier, multiplier: 1.5}",
            "sizing: {mode: multiplier, multiplier: 1.5}\n"
            '    egress: {proxy: "http://user:hunter2pw@proxy.example:3128"}',
        )
        + 'store: {url: "postgresql+psycopg://app:dbpass99@db.example/copy"}\n'
    )

    assert cfg.followers[0].egress is not None
    assert cfg.followers[0].egress.proxy == "http://user:hunter2pw@proxy.example:3128"
    assert "hunter2pw" not in repr(cfg) and "dbpass99" not in repr(cfg)
    assert "http://user:***@proxy.example:3128" in repr(cfg)
    assert all("hunter2pw" not in line for line in config_summary(cfg))


def test_the_summary_has_one_line_per_follower_with_its_sizing_and_state():
    cfg = load_config(REPO_CONFIG, env={})
    cfg = dataclasses.replace(
        cfg, followers=(dataclasses.replace(cfg.followers[0], enabled=False), *cfg.followers[1:])
    )

    lines = config_summary(cfg)

    assert len(lines) == 3
    assert lines[0].startswith("alice: client 1000000002, sizing multiplier x2")
    assert lines[0].endswith("DISABLED")
    assert "sizing fixed 10" in lines[1] and "sizing capital x1" in lines[2]


def test_a_reload_takes_only_tokens_and_enabled_flags():
    old = parse(MINIMAL)
    new = parse(
        MINIMAL.replace("multiplier: 1.5", "multiplier: 3")
        + "    enabled: false\n"
        + """  - name: dave
    client_id: "1000000009"
    access_token: dave-token
    sizing: {mode: fixed, quantity: 1}
""",
        {"LEADER_TOKEN": "leader-token-2", "ALICE_TOKEN": "alice-token-2"},
    )

    merged = old.with_tokens_from(new)

    assert merged.leader.access_token == Secret("leader-token-2")
    alice = merged.followers[0]
    assert alice.access_token == Secret("alice-token-2") and alice.enabled is False
    assert alice.sizing.multiplier == 1.5  # not a reloadable change
    assert [f.name for f in merged.followers] == ["alice"]
    assert old.changes_needing_restart(new) == [
        "followers[dave] (added)",
        "followers[alice].sizing.multiplier",
    ]
    assert old.changes_needing_restart(old.with_tokens_from(new)) == []


def test_an_unreadable_file_is_a_config_error_naming_it(tmp_path: Path):
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError) as info:
        load_config(missing)

    assert str(info.value).startswith(f"{missing}: cannot read")


def _config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every key path the loader reads, from the config dataclasses (``followers[i]...``)."""
    keys = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        inner = {
            "leader": copytrader_config.AccountConfig,
            "followers": copytrader_config.FollowerConfig,
        }.get(f.name) or next(
            (t for t in NESTED if f.type in (t.__name__, f"{t.__name__} | None")), None
        )
        if inner is None:
            keys.append(path)
        else:
            keys += _config_keys(inner, f"{path}.")
    return keys


def test_every_key_is_documented_and_shown_in_the_example_config():
    doc = (REPO_CONFIG.parent / "docs" / "configuration.md").read_text()
    example = REPO_CONFIG.read_text()
    keys = _config_keys()

    assert "broker.connect_timeout_s" in keys and "followers.egress.proxy" in keys
    for key in keys:
        section, _, leaf = key.rpartition(".")
        assert f"`{leaf}`" in doc or f"`{section.rpartition('.')[2]}.{leaf}`" in doc, key
        assert f"{leaf}:" in example, key
