"""A hostile or broken config file is a config error naming the problem, never a runaway.

Alias bombs, deep nesting and huge files must fail fast (at start and on a SIGHUP reload, which
reads through the same ``load_config``); a token with a control character is refused at load,
without echoing it; YAML 1.2 exponent floats read as numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from copytrader.config import (
    MAX_CONFIG_BYTES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
    ConfigError,
    load_config,
    parse_config,
)

ENV = {"LEADER_TOKEN": "leader-secret-token", "ALICE_TOKEN": "alice-secret-token"}

BASE = """\
leader: {client_id: "1000000001", access_token: "${LEADER_TOKEN}"}
followers:
  - name: alice
    client_id: "1000000002"
    access_token: "${ALICE_TOKEN}"
    sizing: {mode: multiplier, multiplier: 2}
"""


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV if env is None else env)
    message = str(info.value)
    assert "\n" not in message
    for token in ENV.values():
        assert token not in message
    return message


def laughs(levels: int, fan_out: int) -> str:
    """A "billion laughs" YAML: each level lists ``fan_out`` aliases of the level below."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_by_its_number_of_aliases():
    text = BASE + laughs(levels=6, fan_out=9)  # 54 aliases, 9^7 values once expanded

    assert error_of(text) == f"config:13:35: more than {MAX_YAML_ALIASES} aliases (*name)"


def test_few_aliases_that_multiply_are_refused_by_the_size_they_expand_to():
    text = BASE + laughs(levels=12, fan_out=3)  # 36 aliases, 3^13 = 1.6 million values

    assert error_of(text) == (
        f"config: expands to more than {MAX_YAML_VALUES} values (nested aliases?)"
    )


def test_a_plain_alias_still_shares_a_value():
    text = BASE.replace("sizing: {", "sizing: &same {") + (
        '  - name: bob\n    client_id: "1000000003"\n    access_token: bob-token\n'
        "    sizing: *same\n"
    )

    cfg = parse_config(text, ENV)

    assert [f.sizing.multiplier for f in cfg.followers] == [2.0, 2.0]


def test_an_alias_inside_its_own_anchor_is_refused():
    assert error_of(BASE + "engine: &loop {x: *loop}\n") == (
        "config: an alias (*name) refers to a value that contains it"
    )


@pytest.mark.parametrize(
    "nested",
    [
        "x: " + "[" * 5000 + "]" * 5000,
        "x: " + "{a: " * 5000 + "1" + "}" * 5000,
    ],
    ids=["lists", "mappings"],
)
def test_deep_nesting_is_a_config_error_not_a_recursion_error(nested: str):
    message = error_of(BASE + nested + "\n")

    assert message.startswith("config:7:")
    assert message.endswith(f"nested deeper than {MAX_YAML_DEPTH} levels")


def test_aliases_of_deep_values_may_not_add_up_beyond_the_depth_limit():
    deep = "[" * 40 + "]" * 40
    text = BASE + f"a: &a {deep}\nb: &b {'[' * 30}*a{']' * 30}\n"

    assert error_of(text) == f"config: nested deeper than {MAX_YAML_DEPTH} levels"


def test_a_config_file_larger_than_the_cap_is_refused_without_reading_it_all(tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" * MAX_CONFIG_BYTES + "\n")

    with pytest.raises(ConfigError) as info:
        load_config(big, ENV)

    assert str(info.value) == f"{big}: is larger than {MAX_CONFIG_BYTES} bytes"


@pytest.mark.parametrize(
    ("token", "what"),
    [
        ("abc\r\ndef", "a control character such as CR or LF"),
        ("abc\ndef", "a control character such as CR or LF"),
        ("abc\x00def", "a control character such as CR or LF"),
        ("abc def", "a space"),
        ("abc\u00e9def", "a non-ASCII character"),
    ],
    ids=["crlf", "lf", "nul", "space", "non-ascii"],
)
def test_a_token_that_cannot_go_in_a_header_is_refused_at_load_without_echoing_it(
    token: str, what: str
):
    env = {**ENV, "ALICE_TOKEN": token}

    message = error_of(BASE, env)

    assert message == (
        f"followers[0].access_token: must be printable ASCII without spaces; it holds {what}"
    )
    assert "abc" not in message and "def" not in message


def test_a_token_written_with_yaml_escapes_is_checked_too():
    text = BASE.replace('"${LEADER_TOKEN}"', '"leader-\\r\\ntoken"')

    assert error_of(text) == (
        "leader.access_token: must be printable ASCII without spaces; "
        "it holds a control character such as CR or LF"
    )


def test_surrounding_whitespace_of_a_token_is_still_trimmed():
    env = {**ENV, "ALICE_TOKEN": "  alice-secret-token\r\n"}

    cfg = parse_config(BASE, env)

    assert cfg.followers[0].access_token.reveal() == "alice-secret-token"


def test_a_client_id_with_a_line_break_is_refused():
    env = {**ENV, "CID": "1000\n000002"}
    text = BASE.replace('client_id: "1000000002"', 'client_id: "${CID}"')

    assert error_of(text, env) == (
        "followers[0].client_id: must be a Dhan client id (letters and digits)"
    )


@pytest.mark.parametrize(
    ("written", "value"),
    [("1e308", 1e308), ("2.5e3", 2500.0), ("1E-2", 0.01), ("+3e0", 3.0), ("1.5", 1.5)],
)
def test_an_exponent_without_a_dot_or_sign_is_a_number(written: str, value: float):
    cfg = parse_config(BASE.replace("multiplier: 2}", f"multiplier: {written}}}"), ENV)

    assert cfg.followers[0].sizing.multiplier == value


def test_an_exponent_beyond_float_range_is_refused_as_not_finite():
    text = BASE.replace("multiplier: 2}", "multiplier: 1e400}")

    assert error_of(text) == "followers[0].sizing.multiplier: must be a finite number"


def test_a_quoted_number_is_still_a_string():
    text = BASE.replace("multiplier: 2}", 'multiplier: "1e3"}')

    assert error_of(text) == "followers[0].sizing.multiplier: must be a number, got a string"


@pytest.mark.parametrize(
    ("extra", "expected_end"),
    [
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", f"nested deeper than {MAX_YAML_DEPTH} levels"),
        (laughs(levels=8, fan_out=9), f"more than {MAX_YAML_ALIASES} aliases (*name)"),
    ],
    ids=["deep nesting", "alias bomb"],
)
def test_the_cli_exits_2_naming_the_problem_of_a_hostile_file(
    tmp_path: Path, extra: str, expected_end: str
):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COPYTRADER_")} | ENV

    done = subprocess.run(
        [sys.executable, "-m", "copytrader", "--config", str(bad), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"config error: {bad}:")
    assert done.stderr.endswith(f"{expected_end}\n")
    assert done.stderr.count("\n") == 1
