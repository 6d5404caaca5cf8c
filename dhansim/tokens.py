"""Access-token lifetimes of the simulated accounts: issue, expiry, renewal, PIN + TOTP login.

Dhan access tokens live at most 24 h, only one is active per account, ``GET /v2/RenewToken``
returns a new one and expires the current one, and ``POST /app/generateAccessToken`` (on
Dhan's auth host) mints one from the account's PIN and a TOTP code (dhanhq-v2.md, 7.1). The
simulator keeps each account's token lifetime (``tokenValiditySeconds`` at ``POST
/sim/accounts``, default 24 h) so a test can live through several "days" in seconds.

Known differences (docs/simulator.md): ``/profile`` ``tokenValidity`` carries seconds
(``DD/MM/YYYY HH:MM:SS``) when a token lives less than an hour, since minutes would not tell a
test when a 5 s token ends; Dhan's limit of one generation every two minutes is not enforced;
the error body of a refused PIN/TOTP login is **U** (the simulator answers 401 with DH-901).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime

import pyotp

from dhan.auth import totp_secret_ok
from dhansim.clock import IST

__all__ = ["DEFAULT_VALIDITY_S", "TokenLife", "totp_secret_ok"]

#: A token's lifetime when the account sets none (Dhan: at most 24 h).
DEFAULT_VALIDITY_S = 24 * 3600.0
#: Below this lifetime ``tokenValidity`` carries seconds (a test's short "day").
_SECONDS_BELOW_S = 3600.0


@dataclass(slots=True)
class TokenLife:
    """When the account's current token was issued and how long every token of it lives."""

    validity_s: float = DEFAULT_VALIDITY_S
    issued_at: float = field(default_factory=time.time)  # Unix time
    pin: str = field(default="", repr=False)  # secrets: never in a repr or a log line
    totp_secret: str = field(default="", repr=False)

    @property
    def expires_at(self) -> float:
        return self.issued_at + self.validity_s

    def live(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at

    def reissue(self, now: float | None = None) -> None:
        self.issued_at = time.time() if now is None else now

    def validity_text(self) -> str:
        """``/profile`` ``tokenValidity``: ``DD/MM/YYYY HH:MM`` (IST), seconds for short lives."""
        at = datetime.fromtimestamp(self.expires_at, IST)
        if self.validity_s < _SECONDS_BELOW_S:
            return at.strftime("%d/%m/%Y %H:%M:%S")
        return at.strftime("%d/%m/%Y %H:%M")

    def expiry_time_text(self) -> str:
        """``expiryTime`` of a renewal or a generation: ISO local time in IST."""
        return datetime.fromtimestamp(self.expires_at, IST).strftime("%Y-%m-%dT%H:%M:%S")

    def login_ok(self, pin: str, totp: str, now: float | None = None) -> bool:
        """Whether ``pin`` and ``totp`` log this account in (PIN + TOTP must be configured).

        The TOTP code may be one 30 s step old or new (clock skew between two machines)."""
        if not self.pin or not self.totp_secret:
            return False
        pin_ok = hmac.compare_digest(pin.encode(), self.pin.encode())
        at = time.time() if now is None else now
        totp_ok = pyotp.TOTP(self.totp_secret).verify(totp, for_time=at, valid_window=1)
        return pin_ok and totp_ok
