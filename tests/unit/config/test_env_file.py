"""The env file named by COPYTRADER_ENV_FILE is re-read on every load (SIGHUP token rotation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from copytrader.config import ConfigError
from copytrader.runner import ENV_FILE_VAR, config_env


def test_values_in_the_env_file_override_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "tokens.env"
    env_file.write_text("# rotated daily\nDHAN_LEADER_TOKEN=new-one\nexport OTHER='quoted value'\n")
    monkeypatch.setenv("DHAN_LEADER_TOKEN", "old-one")
    monkeypatch.setenv(ENV_FILE_VAR, str(env_file))
    env = config_env()
    assert env["DHAN_LEADER_TOKEN"] == "new-one"
    assert env["OTHER"] == "quoted value"
    env_file.write_text("DHAN_LEADER_TOKEN=newer-one\n")
    assert config_env()["DHAN_LEADER_TOKEN"] == "newer-one"


def test_a_malformed_env_file_is_a_config_error_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "tokens.env"
    env_file.write_text("GOOD=1\nthis line has no equals sign\n")
    monkeypatch.setenv(ENV_FILE_VAR, str(env_file))
    with pytest.raises(ConfigError) as err:
        config_env()
    assert f"{env_file}:2" in str(err.value)
    assert "no equals" not in str(err.value)  # the offending text may hold a secret


def test_a_missing_env_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_FILE_VAR, str(tmp_path / "absent.env"))
    with pytest.raises(ConfigError, match=ENV_FILE_VAR):
        config_env()


def test_the_sqlite_synchronous_mode_is_read_and_checked() -> None:
    from copytrader.config import SqliteSynchronous, parse_config

    base = (Path(__file__).resolve().parents[3] / "config.yaml").read_text()
    text = base.replace(
        'store: {url: "sqlite:///copytrader.db"}',
        'store: {url: "sqlite:///copytrader.db", sqlite_synchronous: NORMAL}',
    )
    assert parse_config(text, {}).store.sqlite_synchronous is SqliteSynchronous.NORMAL
    assert parse_config(base, {}).store.sqlite_synchronous is SqliteSynchronous.FULL
    with pytest.raises(ConfigError, match=r"store\.sqlite_synchronous"):
        parse_config(text.replace("NORMAL}", "OFF}"), {})
