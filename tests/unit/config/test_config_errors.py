"""Every bad config is refused with one line naming the key path, and never a token."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from copytrader.config import ConfigError, parse_config

ENV = {"LEADER_TOKEN": "leader-secret-token", "ALICE_TOKEN": "alice-secret-token"}

BASE = """
broker: {embedded_sim: false}
leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}
followers:
  - name: alice
    client_id: "1000000002"
    access_token: "${ALICE_TOKEN}"
    sizing: {mode: multiplier, multiplier: 2}
  - name: bob
    client_id: "1000000003"
    access_token: bob-secret-token
    sizing: {mode: fixed, quantity: 10}
"""


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), ENV if env is None else env)
    message = str(info.value)
    assert "\n" not in message
    for token in ("leader-secret-token", "alice-secret-token", "bob-secret-token"):
        assert token not in message
    return message


def with_bob(**lines: str) -> str:
    """BASE with bob's sizing line replaced (or extra keys appended to bob)."""
    text = BASE
    if "sizing" in lines:
        text = text.replace("sizing: {mode: fixed, quantity: 10}", lines.pop("sizing"))
    for key, value in lines.items():
        text += f"    {key}: {value}\n"
    return text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (with_bob(sizing="sizing: {mode: multiplier, multiplier: 0}"),
         "followers[1].sizing.multiplier: must be > 0"),
        (with_bob(sizing="sizing: {mode: multiplier, multiplier: -1.5}"),
         "followers[1].sizing.multiplier: must be > 0"),
        (with_bob(sizing="sizing: {mode: multiplier}"),
         "followers[1].sizing.multiplier: is required with mode: multiplier"),
        (with_bob(sizing="sizing: {mode: fixed, quantity: 0}"),
         "followers[1].sizing.quantity: must be >= 1"),
        (with_bob(sizing="sizing: {mode: fixed, quantity: 2.5}"),
         "followers[1].sizing.quantity: must be an integer, got a number"),
        (with_bob(sizing="sizing: {mode: fixed, quantity: 5, multiplier: 2}"),
         "followers[1].sizing.multiplier: only valid with mode: multiplier"),
        (with_bob(sizing="sizing: {mode: martingale}"),
         "followers[1].sizing.mode: must be one of multiplier, fixed, capital; got 'martingale'"),
        (with_bob(sizing="sizing: {multiplier: 2}"),
         "followers[1].sizing.mode: is required (multiplier, fixed or capital)"),
        (with_bob(sizng="{mode: fixed}"),
         "followers[1].sizng: unknown key (expected one of: name, client_id, access_token, "
         "enabled, sizing, caps, filters, egress, copy_market_after_accept, renew, auth, "
         "algo_id)"),
        (with_bob(enabled='"yes"'), "followers[1].enabled: must be true or false, got a string"),
        (with_bob(caps="{max_order_quantity: 0}"),
         "followers[1].caps.max_order_quantity: must be >= 1"),
        (with_bob(caps="{max_order_value_inr: -5}"),
         "followers[1].caps.max_order_value_inr: must be > 0"),
        (with_bob(filters="{exchange_segments: [NSE_EQ, NYSE]}"),
         "followers[1].filters.exchange_segments[1]: must be one of IDX_I, NSE_EQ, NSE_FNO, "
         "NSE_CURRENCY, NSE_COMM, BSE_EQ, BSE_FNO, BSE_CURRENCY, MCX_COMM; got 'NYSE'"),
        (with_bob(filters="{products: []}"),
         "followers[1].filters.products: must not be empty (leave the key out to allow all)"),
        (with_bob(egress="{source_address: 10.0.0.300}"),
         "followers[1].egress.source_address: must be an IPv4 or IPv6 address"),
        (with_bob(egress='{proxy: "socks5://proxy:1080"}'),
         "followers[1].egress.proxy: must be a http:// or https:// URL"),
        (with_bob(egress="{}"),
         "followers[1].egress: set source_address or proxy (or leave egress out)"),
        (BASE.replace("name: bob", "name: Bob"),
         "followers[1].name: must be 1-40 characters of a-z, 0-9, _ and -"),
        (BASE.replace("name: bob", "name: alice"),
         "followers[1].name: duplicate name (also followers[0])"),
        (BASE.replace('"1000000003"', '"1000000002"'),
         "followers[1].client_id: duplicate client id (also followers[0])"),
        (BASE.replace('"1000000003"', '"1000000001"'),
         "followers[1].client_id: is the leader's client id"),
        (BASE.replace("access_token: bob-secret-token", 'access_token: ""'),
         "followers[1].access_token: must not be empty (is its environment variable set?)"),
        (BASE.replace("    access_token: bob-secret-token\n", ""),
         "followers[1].access_token: is required"),
        (BASE.replace("access_token: bob-secret-token", "access_token: 12345"),
         "followers[1].access_token: must be a string, got an integer"),
        (BASE.replace("embedded_sim: false", "embedded_sim: false, sim: {seed: 2}"),
         "broker.sim: only valid with embedded_sim: true"),
        (BASE.replace("embedded_sim: false", "embedded_sim: true, sim: {port: 70000}"),
         "broker.sim.port: must be <= 65535"),
        (BASE.replace("embedded_sim: false", "read_timeout_s: 0"),
         "broker.read_timeout_s: must be > 0"),
        (BASE.replace("embedded_sim: false", "connect_timeout: 2"),
         "broker.connect_timeout: unknown key (expected one of: embedded_sim, sim, rest_url, "
         "order_feed_url, connect_timeout_s, read_timeout_s, feed_ping_interval_s, "
         "feed_ping_timeout_s, instruments_url)"),
        (BASE.replace("embedded_sim: false", "instruments_url: ftp://images.dhan.co/x.csv"),
         "broker.instruments_url: must be a https:// or http:// URL"),
        (BASE.replace("embedded_sim: false", "instruments_url: 'file://'"),
         "broker.instruments_url: must name a file (file:///path/to/file.csv)"),
        (BASE.replace("embedded_sim: false", "rest_url: ftp://api.dhan.co"),
         "broker.rest_url: must be a https:// or http:// URL"),
        (BASE.replace("embedded_sim: false", "order_feed_url: https://api-order-update.dhan.co"),
         "broker.order_feed_url: must be a wss:// or ws:// URL"),
        (BASE + "engine: {reconcile_policy: yolo}\n",
         "engine.reconcile_policy: must be one of copy_open, copy_all, skip, alert; got 'yolo'"),
        (BASE + "engine: {outcome_lookup_delay_s: -1}\n",
         "engine.outcome_lookup_delay_s: must be >= 0"),
        (BASE + "engine: {freeze_quantities: {NIFTY: 1800}}\n",
         "engine.freeze_quantities.NIFTY: key must be SEGMENT:securityId, e.g. NSE_FNO:52175"),
        (BASE + "engine: {freeze_quantities: {'NSE_FNO:52175': 0}}\n",
         "engine.freeze_quantities.NSE_FNO:52175: must be >= 1"),
        (BASE + "engine: {freeze_quantities: [1800]}\n",
         "engine.freeze_quantities: must be a mapping of SEGMENT:securityId to a quantity, "
         "got a list"),
        (BASE + "store: {url: copytrader.db}\n",
         "store.url: must be a SQLAlchemy URL such as sqlite:///copytrader.db"),
        (BASE + "metrics: {port: \"9108\"}\n", "metrics.port: must be an integer, got a string"),
        (BASE + "logging: {level: LOUD}\n",
         "logging.level: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        (BASE + "logging: {format: xml}\n", "logging.format: must be one of text, json; got 'xml'"),
        (BASE + "extra: 1\n",
         "extra: unknown key (expected one of: broker, leader, followers, engine, store, "
         "metrics, logging, tokens)"),
        (BASE.replace("followers:", "followers: []\nunused:").split("unused:")[0],
         "followers: must list at least one follower"),
        ('leader: {client_id: "1", access_token: t-token}\n', "followers: is required"),
        (BASE.replace('leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}', ""),
         "leader: is required"),
        (BASE.replace('client_id: "1000000001"', 'client_id: "10 01"'),
         "leader.client_id: must be a Dhan client id (letters and digits)"),
        ("[1, 2]\n", "(top level): must be a mapping, got a list"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_with_its_key_path(text: str, expected: str):
    assert error_of(text) == expected


def test_an_unset_variable_without_default_names_the_key_and_variable():
    assert error_of(BASE, env={"LEADER_TOKEN": "leader-secret-token"}) == (
        "followers[0].access_token: environment variable ALICE_TOKEN is not set"
    )


def test_a_malformed_reference_is_refused():
    assert error_of(BASE.replace("${ALICE_TOKEN}", "${ALICE TOKEN}")) == (
        "followers[0].access_token: bad reference '${ALICE TOKEN}': use ${VAR} or ${VAR:-default}"
    )
    assert error_of(BASE.replace('"${ALICE_TOKEN}"', '"${ALICE_TOKEN"')) == (
        "followers[0].access_token: unterminated ${ (write $$ for a literal $)"
    )


def test_an_expanded_value_that_is_not_a_number_is_refused():
    text = BASE + 'metrics: {port: "${PORT:-ninety}"}\n'

    assert error_of(text) == "metrics.port: must be an integer, got 'ninety'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a swapped ${VAR}: the token lands where the error quotes the value
        (
            BASE + 'metrics: {port: "${ALICE_TOKEN}"}\n',
            "metrics.port: must be an integer, got '***'",
        ),
        (
            with_bob(sizing='sizing: {mode: "${LEADER_TOKEN}"}'),
            "followers[1].sizing.mode: must be one of multiplier, fixed, capital; got '***'",
        ),
        (
            BASE + "logging: {format: bob-secret-token}\n",
            "logging.format: must be one of text, json; got '***'",
        ),
        (
            with_bob(egress="{proxy: 'http://u:pw-of-proxy@proxy.example:3128'}")
            + 'metrics: {port: "${PORT:-pw-of-proxy}"}\n',
            "metrics.port: must be an integer, got '***'",
        ),
    ],
)
def test_an_error_quoting_a_value_never_shows_a_token_or_proxy_password(text: str, expected: str):
    message = error_of(text)

    assert message == expected
    assert "pw-of-proxy" not in message


def test_two_followers_may_not_share_an_egress_ip():
    text = (
        BASE.replace(
            "sizing: {mode: multiplier, multiplier: 2}",
            "sizing: {mode: multiplier, multiplier: 2}\n    egress: {source_address: 10.0.0.5}",
        )
        + "    egress: {source_address: 10.0.0.5}\n"
    )

    assert error_of(text) == (
        "followers[1].egress.source_address: already used by follower alice "
        "(Dhan requires a distinct static IP per account)"
    )


def test_a_duplicate_yaml_key_is_refused_with_its_line():
    text = BASE + "metrics: {port: 1}\nmetrics: {port: 2}\n"

    assert error_of(text) == "line 14: duplicate key 'metrics'"


def test_invalid_yaml_is_refused_with_line_and_column():
    assert error_of("leader: {client_id: [\n").startswith("config:2:1: not valid YAML")


def test_an_empty_file_is_refused():
    assert error_of("") == "config: is empty"


# One process per case costs seconds (``run`` imports the engine): every ConfigError takes the
# same path to the exit, and each kind of error is checked in-process above.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            with_bob(sizing="sizing: {mode: multiplier, multiplier: 0}"),
            "followers[1].sizing.multiplier: must be > 0",
        ),
        (
            BASE.replace('"${ALICE_TOKEN}"', '"${NOT_SET_ANYWHERE}"'),
            "followers[0].access_token: environment variable NOT_SET_ANYWHERE is not set",
        ),
    ],
    ids=["bad value", "missing token"],
)
def test_the_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path, text: str, expected: str):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COPYTRADER_")} | ENV

    done = subprocess.run(
        [sys.executable, "-m", "copytrader", "--config", str(bad), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    assert done.returncode == 2
    assert done.stderr == f"config error: {expected}\n"
    assert done.stdout == ""
