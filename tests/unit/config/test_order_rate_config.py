"""engine.max_orders_per_second and followers[i].algo_id: read, defaulted and refused by key."""

from __future__ import annotations

import textwrap

import pytest

from copytrader.config import ConfigError, config_summary, parse_config

ENV = {"LEADER_TOKEN": "leader-secret-token"}

FOLLOWERS = """
broker: {embedded_sim: false}
leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}
followers:
  - name: alice
    client_id: "1000000002"
    access_token: alice-secret-token
    sizing: {mode: multiplier, multiplier: 2}
{alice}
  - name: bob
    client_id: "1000000003"
    access_token: bob-secret-token
    sizing: {mode: fixed, quantity: 10}
{bob}
"""


def config_text(engine: str = "", alice: str = "", bob: str = "") -> str:
    text = textwrap.dedent(FOLLOWERS).replace("{alice}", alice).replace("{bob}", bob)
    return text + (f"engine: {{{engine}}}\n" if engine else "")


def algo(value: str) -> str:
    return f"    algo_id: {value}"


@pytest.mark.parametrize(
    ("text", "rate", "algo_ids"),
    [
        (config_text(), 9, (None, None)),  # the default: below the exchange's algo threshold
        (config_text("max_orders_per_second: 1"), 1, (None, None)),
        (config_text("max_orders_per_second: 9"), 9, (None, None)),
        (config_text("max_orders_per_second: 10", algo("ALGO-1"), algo('"77"')), 10,
         ("ALGO-1", "77")),
        (config_text("max_orders_per_second: 10", algo("ALGO-1"), algo("88")), 10,
         ("ALGO-1", "88")),  # a numeric id is read as a string
        # an algo id below the threshold is kept (journaled and audited), not required
        (config_text("", algo("ALGO-1")), 9, ("ALGO-1", None)),
        (config_text("max_orders_per_second: '${RATE}'", algo("A"), algo("B")), 10, ("A", "B")),
    ],
)  # fmt: skip
def test_the_rate_and_algo_ids_are_read(
    text: str, rate: int, algo_ids: tuple[str | None, str | None]
) -> None:
    cfg = parse_config(text, {**ENV, "RATE": "10"})

    assert cfg.engine.max_orders_per_second == rate
    assert tuple(f.algo_id for f in cfg.followers) == algo_ids
    # what the actors are given carries the algo id (it is no secret)
    assert tuple(f.settings.algo_id for f in cfg.followers) == algo_ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (config_text("max_orders_per_second: 11", algo("A"), algo("B")),
         "engine.max_orders_per_second: must be <= 10 (Dhan accepts at most 10 order writes a "
         "second per account)"),
        (config_text("max_orders_per_second: 25"),
         "engine.max_orders_per_second: must be <= 10"),
        (config_text("max_orders_per_second: 0"), "engine.max_orders_per_second: must be >= 1"),
        (config_text("max_orders_per_second: 9.5"),
         "engine.max_orders_per_second: must be an integer, got a number"),
        (config_text("max_orders_per_second: true"),
         "engine.max_orders_per_second: must be an integer, got a boolean"),
        (config_text("max_orders_per_second: 10"),
         "followers[0].algo_id: is required with engine.max_orders_per_second: 10"),
        (config_text("max_orders_per_second: 10", algo("A")),
         "followers[1].algo_id: is required with engine.max_orders_per_second: 10"),
        (config_text("max_orders_per_second: 10", algo("A"), algo('""')),
         "followers[1].algo_id: must not be empty"),
        (config_text("", algo('"my algo"')),
         "followers[0].algo_id: must be the exchange's algo ID: 1-64 characters, no spaces"),
        (config_text("", algo("[1, 2]")), "followers[0].algo_id: must be a string, got a list"),
        (config_text("", "    leader_algo: x"), "followers[0].leader_algo: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_rate_or_a_missing_algo_id_is_refused_naming_its_key(
    text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV)

    assert str(info.value).startswith(expected), str(info.value)


def test_the_leader_takes_no_algo_id_it_places_no_orders() -> None:
    text = config_text().replace(
        'access_token: "${LEADER_TOKEN}"}', 'access_token: "${LEADER_TOKEN}", algo_id: A}'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV)

    assert str(info.value).startswith("leader.algo_id: unknown key")


def test_the_summary_shows_a_followers_algo_id() -> None:
    cfg = parse_config(config_text("max_orders_per_second: 10", algo("A-1"), algo("B-2")), ENV)

    lines = config_summary(cfg)
    assert "algo id A-1" in lines[0] and "algo id B-2" in lines[1]
