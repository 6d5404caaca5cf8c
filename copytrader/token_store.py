"""The token store: each account's latest access token, so a restart uses the renewed one.

Renewing a token expires the one it replaces (Dhan keeps one active token per account), so the
token in the environment file is dead after the first renewal. The engine writes every token it
obtains here *before* using it; at start (and on SIGHUP) an account's token comes from this
store unless the environment holds a token that did not start the stored chain (the operator put
a fresh one there since: it is the newer one). The chain's origin is kept as a SHA-256
fingerprint of the environment token it started from, not the token itself.

The file: JSON, mode 0600, written atomically (temporary file in the same directory, fsync,
rename, fsync of the directory). Default path: ``copytrader-tokens.json`` beside the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FILE_NAME = "copytrader-tokens.json"
_VERSION = 1


class TokenStoreError(Exception):
    """The store cannot be read or written; the message names the path, never a token."""


def fingerprint(token: str) -> str:
    """The SHA-256 of a token: names a chain's origin without keeping the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredToken:
    token: str = field(repr=False)  # a secret
    seed: str  # fingerprint of the environment token this chain started from
    expires_at: float | None = None  # Unix time, when Dhan said
    updated_at: float = 0.0  # Unix time of the write
    how: str = "renewed"  # renewed | generated


def choose_token(env_token: str, stored: StoredToken | None) -> tuple[str, str]:
    """The token an account starts with and where it came from (``store`` | ``environment``).

    The store wins only for the chain that the current environment token started: a different
    environment token was put there after the store's chain began, so it is the newer one."""
    if stored is not None and stored.seed == fingerprint(env_token):
        return stored.token, "store"
    return env_token, "environment"


class TokenStore:
    """One JSON file of ``{account: StoredToken}``; safe to use from several threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, StoredToken]:
        """Every stored token; an absent file is an empty store."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TokenStoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw)
            accounts = data["accounts"]
            return {name: _stored(entry) for name, entry in accounts.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenStoreError(f"{self.path} is not a token store this version reads") from None

    def get(self, account: str) -> StoredToken | None:
        return self.load().get(account)

    def put(self, account: str, stored: StoredToken) -> None:
        """Replace ``account``'s entry; the file on disk is the old one or the new one, whole."""
        with self._lock:
            entries = self.load()
            entries[account] = stored
            self._write(entries)

    def _write(self, entries: dict[str, StoredToken]) -> None:
        doc = {
            "version": _VERSION,
            "accounts": {
                name: {
                    "token": s.token,
                    "seed": s.seed,
                    "expires_at": s.expires_at,
                    "updated_at": s.updated_at or time.time(),
                    "how": s.how,
                }
                for name, s in sorted(entries.items())
            },
        }
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise TokenStoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise TokenStoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _stored(entry: Any) -> StoredToken:
    token = entry["token"]
    seed = entry["seed"]
    if not isinstance(token, str) or not token or not isinstance(seed, str):
        raise ValueError("bad entry")
    expires = entry.get("expires_at")
    return StoredToken(
        token=token,
        seed=seed,
        expires_at=float(expires) if isinstance(expires, int | float) else None,
        updated_at=float(entry.get("updated_at") or 0.0),
        how=str(entry.get("how") or "renewed"),
    )


def default_store_path(store_url: str, config_path: str | None) -> Path:
    """``copytrader-tokens.json`` beside the SQLite journal; for a server database (no file),
    beside the config file; else in the working directory."""
    prefix = "sqlite:///"
    if store_url.startswith(prefix):
        db = store_url[len(prefix) :].split("?", 1)[0]
        if db and db != ":memory:":
            return Path(db).parent / DEFAULT_FILE_NAME
    if config_path:
        return Path(config_path).parent / DEFAULT_FILE_NAME
    return Path(DEFAULT_FILE_NAME)
