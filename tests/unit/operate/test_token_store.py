"""The token store: which token an account starts with, and a file written whole, 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from copytrader.token_store import (
    DEFAULT_FILE_NAME,
    StoredToken,
    TokenStore,
    TokenStoreError,
    choose_token,
    default_store_path,
    fingerprint,
)

ENV = "env-token-AAAA1111"
RENEWED = "renewed-token-BBBB2222"


@pytest.mark.parametrize(
    ("env", "stored", "expected"),
    [
        # nothing stored: the environment's token
        (ENV, None, (ENV, "environment")),
        # the stored chain started from this environment token: its latest token
        (ENV, StoredToken(RENEWED, fingerprint(ENV)), (RENEWED, "store")),
        # the operator put another token in the environment since: it is the newer one
        (
            "fresh-from-dhan-web-CCCC",
            StoredToken(RENEWED, fingerprint(ENV)),
            ("fresh-from-dhan-web-CCCC", "environment"),
        ),
        # a chain with no origin recorded never wins
        (ENV, StoredToken(RENEWED, ""), (ENV, "environment")),
    ],
)
def test_the_store_wins_only_for_the_chain_the_environment_token_started(
    env: str, stored: StoredToken | None, expected: tuple[str, str]
) -> None:
    assert choose_token(env, stored) == expected


def test_a_put_token_is_read_back_and_the_file_is_private(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "sub" / "tokens.json")
    assert store.load() == {}  # no file: an empty store

    store.put("alice", StoredToken(RENEWED, fingerprint(ENV), 1_900_000_000.0, 5.0, "renewed"))
    store.put("leader", StoredToken("leader-tok-DDDD", fingerprint("x"), None, 6.0, "generated"))

    again = TokenStore(store.path).load()
    assert again["alice"] == StoredToken(RENEWED, fingerprint(ENV), 1_900_000_000.0, 5.0, "renewed")
    assert again["leader"].how == "generated" and again["leader"].expires_at is None
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["tokens.json"]  # no temp file left


def test_a_second_put_replaces_one_account_and_keeps_the_others(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.put("alice", StoredToken("one-EEEE", "s1"))
    store.put("bob", StoredToken("two-FFFF", "s2"))
    store.put("alice", StoredToken("three-GGGG", "s1"))

    tokens = {name: s.token for name, s in store.load().items()}
    assert tokens == {"alice": "three-GGGG", "bob": "two-FFFF"}


def test_a_damaged_store_is_an_error_naming_the_path_never_a_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"version": 1, "accounts": {"alice": {"token": "secret-HHHH"')  # cut short

    with pytest.raises(TokenStoreError) as caught:
        TokenStore(path).load()

    assert str(path) in str(caught.value)
    assert "secret-HHHH" not in str(caught.value)


def test_an_unwritable_store_is_an_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = TokenStore(blocker / "tokens.json")

    with pytest.raises(TokenStoreError) as caught:
        store.put("alice", StoredToken("tok-IIII", "s"))

    assert str(store.path) in str(caught.value) and "tok-IIII" not in str(caught.value)


def test_a_stored_token_never_shows_in_its_repr() -> None:
    assert "tok-JJJJ" not in repr(StoredToken("tok-JJJJ", "s"))


@pytest.mark.parametrize(
    ("url", "config", "expected"),
    [
        (
            "sqlite:////var/lib/ct/journal.db",
            "/etc/ct/config.yaml",
            f"/var/lib/ct/{DEFAULT_FILE_NAME}",
        ),
        ("sqlite:///copytrader.db", "/etc/ct/config.yaml", DEFAULT_FILE_NAME),
        ("sqlite:///data/j.db?timeout=5", None, f"data/{DEFAULT_FILE_NAME}"),
        ("postgresql+psycopg://u@h/db", "/etc/ct/config.yaml", f"/etc/ct/{DEFAULT_FILE_NAME}"),
        ("postgresql+psycopg://u@h/db", None, DEFAULT_FILE_NAME),
        ("sqlite:///:memory:", None, DEFAULT_FILE_NAME),
    ],
)
def test_the_default_store_lies_beside_the_journal(
    url: str, config: str | None, expected: str
) -> None:
    assert default_store_path(url, config) == Path(expected)
