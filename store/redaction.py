"""Keep credentials out of the journal: reject them in audit payloads, redact them in raw frames.

Defence in depth: callers should never hand the journal a token, but if one slips through an
audit payload is refused (``SecretInPayload``), a raw leader frame is stored redacted and so
is free text (error messages, reasons), so the journal, which operators query and back up
freely, never holds a credential.
"""

from __future__ import annotations

import re
from typing import Any

from store.errors import SecretInPayload

REDACTED = "<redacted>"
#: Normalised key fragments (lower case, no ``_``/``-``) that mark a credential.
_SECRET_KEY_PARTS = ("token", "password", "passwd", "secret", "apikey", "authorization")
#: A JWT (Dhan access tokens are JWTs): three base64url parts, the first a JSON header.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def looks_like_secret_key(key: str) -> bool:
    """True for keys such as ``access_token``, ``accessToken``, ``password``, ``client_secret``."""
    norm = key.lower().replace("_", "").replace("-", "")
    return any(part in norm for part in _SECRET_KEY_PARTS)


def looks_like_secret_value(value: str) -> bool:
    """True when ``value`` contains something shaped like a JWT."""
    return _JWT.search(value) is not None


def check_no_secrets(payload: Any, path: str = "payload") -> None:
    """Raise ``SecretInPayload`` if ``payload`` (nested dicts/lists) holds a credential.

    The message names the key path only, never the value.
    """
    if isinstance(payload, dict):
        for key, value in payload.items():
            key_s = str(key)
            if looks_like_secret_key(key_s):
                raise SecretInPayload(f"{path}.{key_s} looks like a credential; not journalled")
            check_no_secrets(value, f"{path}.{key_s}")
    elif isinstance(payload, list | tuple):
        for i, value in enumerate(payload):
            check_no_secrets(value, f"{path}[{i}]")
    elif isinstance(payload, str) and looks_like_secret_value(payload):
        raise SecretInPayload(f"{path} holds a token-shaped value; not journalled")


def redact_text(value: str | None) -> str | None:
    """``value`` with token-shaped parts replaced by ``<redacted>`` (None stays None).

    For free text that comes from outside (broker error bodies, exception messages, reasons):
    it is stored and audited, so a token it happens to echo must not be.
    """
    if value is None or "eyJ" not in value:  # the cheap test first: this runs per transition
        return value
    return _JWT.sub(REDACTED, value)


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` with credential-looking keys and token-shaped strings redacted."""
    if isinstance(value, dict):
        return {
            k: REDACTED if looks_like_secret_key(str(k)) else redact_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(v) for v in value]
    if isinstance(value, str) and looks_like_secret_value(value):
        return _JWT.sub(REDACTED, value)
    return value
