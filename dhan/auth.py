"""Fresh access tokens: the answer of a renewal and the PIN + TOTP login on Dhan's auth host.

``GET /v2/RenewToken`` (an authenticated call: :meth:`dhan.rest.DhanClient.renew_token`) and
``POST https://auth.dhan.co/app/generateAccessToken?dhanClientId=&pin=&totp=`` (here) both
answer ``{dhanClientId, accessToken, expiryTime, ...}`` (dhanhq-v2.md, 7.1). Dhan takes the PIN
and the TOTP code as query parameters, so this module never logs, raises or repr()s a URL,
a PIN, a TOTP code or a token: errors name the account and the HTTP status only.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyotp

from dhan import errors

#: Dhan's auth host (the simulator serves the same path on its own port).
AUTH_BASE_URL = "https://auth.dhan.co"
_GENERATE_PATH = "/app/generateAccessToken"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token Dhan has just issued; ``expiry_time`` as Dhan wrote it (IST), if it did."""

    access_token: str = field(repr=False)  # a secret
    expiry_time: str | None = None

    @classmethod
    def from_wire(cls, body: Any, endpoint: str) -> IssuedToken:
        if not isinstance(body, dict):
            raise errors.BadResponse("token answer is not a JSON object", endpoint=endpoint)
        token = body.get("accessToken")
        if not isinstance(token, str) or not token or not token.isprintable():
            raise errors.BadResponse("token answer has no usable accessToken", endpoint=endpoint)
        expiry = body.get("expiryTime")
        return cls(token, expiry if isinstance(expiry, str) and expiry else None)


def generate_access_token(
    client_id: str,
    pin: str,
    totp: str,
    *,
    auth_base_url: str = AUTH_BASE_URL,
    timeout_s: float = 10.0,
) -> IssuedToken:
    """Log ``client_id`` in with its PIN and a current TOTP code; the new token expires the
    account's previous one. Raises :class:`dhan.errors.AuthError` when Dhan refuses the login,
    :class:`dhan.errors.NotSent` / :class:`dhan.errors.OutcomeUnknown` on transport faults and
    :class:`dhan.errors.BadResponse` on an unreadable answer; no message names a secret."""
    endpoint = f"POST {_GENERATE_PATH}"
    where = f"token generation for account {client_id}"
    parts = urlsplit(auth_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: auth URL must be http(s)://host[:port]")
    query = urlencode({"dhanClientId": client_id, "pin": pin, "totp": totp})
    target = f"{parts.path.rstrip('/')}{_GENERATE_PATH}?{query}"
    secrets = [pin, totp]
    # http.client, not urllib3: urllib3 logs every request line (with this query) at DEBUG.
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname, parts.port, timeout=timeout_s)
    try:
        try:
            conn.connect()
        except (OSError, ValueError) as exc:
            raise errors.NotSent(
                f"{where}: not sent ({type(exc).__name__})", endpoint=endpoint
            ) from None
        try:
            conn.request(
                "POST", target, headers={"Accept": "application/json", "Content-Length": "0"}
            )
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            # The exception text may quote the request: report its type only.
            raise errors.OutcomeUnknown(
                f"{where}: no answer ({type(exc).__name__})", endpoint=endpoint
            ) from None
    finally:
        conn.close()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        return IssuedToken.from_wire(body, endpoint)
    code = body.get("errorCode") if isinstance(body, dict) else None
    detail = body.get("errorMessage") if isinstance(body, dict) else None
    message = errors.redact(f"{where} refused: {detail or 'no detail'}", secrets)
    if status in (400, 401, 403) or code in ("DH-901", "DH-902"):
        raise errors.AuthError(message, code=code, http_status=status, endpoint=endpoint)
    raise errors.OtherRejection(message, code=code, http_status=status, endpoint=endpoint)


def totp_secret_ok(secret: str) -> bool:
    """Whether ``secret`` is a base32 TOTP secret (of at least 112 bits) codes can come from."""
    try:
        pyotp.TOTP(secret).now()
    except Exception:  # binascii.Error (a ValueError) or a TypeError: not base32, too short
        return False
    return True


def totp_now(secret: str, at: float | None = None) -> str:
    """The TOTP code of ``secret`` now (or at Unix time ``at``): six digits, 30 s steps."""
    totp = pyotp.TOTP(secret)
    return totp.now() if at is None else totp.at(at)
