"""engine.max_entry_age_s and max_entry_deviation_pct: read, off by default, refused by key."""

from __future__ import annotations

import pytest

from copytrader.config import ConfigError, parse_config
from tests.unit.config.test_order_rate_config import ENV, config_text


@pytest.mark.parametrize(
    ("engine", "age", "deviation"),
    [
        ("", None, None),  # the defaults: every late entry copied as before, MARKET as MARKET
        ("max_entry_age_s: 60", 60.0, None),
        ("max_entry_age_s: 0.5", 0.5, None),
        ("max_entry_deviation_pct: 1", None, 1.0),
        ("max_entry_age_s: 300, max_entry_deviation_pct: 0.25", 300.0, 0.25),
        ("max_entry_age_s: '${AGE}', max_entry_deviation_pct: '${DEV}'", 90.0, 2.5),
    ],
)
def test_the_late_entry_keys_are_read(
    engine: str, age: float | None, deviation: float | None
) -> None:
    cfg = parse_config(config_text(engine), {**ENV, "AGE": "90", "DEV": "2.5"})

    assert cfg.engine.max_entry_age_s == age
    assert cfg.engine.max_entry_deviation_pct == deviation


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("max_entry_age_s: 0", "engine.max_entry_age_s: must be > 0"),
        ("max_entry_age_s: -5", "engine.max_entry_age_s: must be > 0"),
        ("max_entry_age_s: soon", "engine.max_entry_age_s: must be a number, got a string"),
        ("max_entry_age_s: true", "engine.max_entry_age_s: must be a number, got a boolean"),
        ("max_entry_deviation_pct: 0", "engine.max_entry_deviation_pct: must be > 0"),
        ("max_entry_deviation_pct: 100",
         "engine.max_entry_deviation_pct: must be < 100 (a percentage of the leader's fill price)"),
        ("max_entry_deviation_pct: .inf",
         "engine.max_entry_deviation_pct: must be a finite number"),
        ("max_entry_deviation: 1", "engine.max_entry_deviation: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_late_entry_key_is_refused_naming_its_key(engine: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(engine), ENV)

    assert str(info.value).startswith(expected), str(info.value)
