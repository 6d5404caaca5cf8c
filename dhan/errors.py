"""One exception tree for everything that can go wrong talking to DhanHQ.

The split that matters for an order engine is *did the order possibly reach Dhan?*::

    DhanError                      base; .code .http_status .endpoint .correlation_id
     +-- NotSent                   the request never left (refused, DNS, proxy): safe to retry
     +-- OutcomeUnknown            sent, no definite answer: timeout, reset, 5xx, DH-908/909.
     |                             The order MAY exist: look it up by correlationId first.
     +-- Rejected                  Dhan answered with a definite error (errorCode + message)
     |    +-- AuthError            DH-901 / DH-902, or DH-906 "Invalid Token"
     |    +-- StaticIpRefused      a write from an address that is not the account's static IP
     |    +-- RateLimited          DH-904 or HTTP 429
     |    +-- InputError           DH-905
     |    +-- OrderError           DH-906 (RMS, market closed, ...)
     |    +-- NotFound             HTTP 404 / unknown order or correlationId
     |    +-- AccountError         DH-903
     |    +-- DataError            DH-907
     |    +-- OtherRejection       DH-910 and anything unrecognised
     +-- BadResponse               2xx, but the body is not what the API documents

No error ever carries the access token: messages are built here from the parsed error body,
and :func:`redact` scrubs any secret that might have been echoed back by a server.
"""

from __future__ import annotations

from collections.abc import Iterable

from dhan.codes import DhErrorCode


class DhanError(Exception):
    """Base of every DhanHQ error. Never carries the access token."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        endpoint: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.endpoint = endpoint
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.endpoint:
            parts.append(f"endpoint={self.endpoint}")
        if self.correlation_id:
            parts.append(f"correlationId={self.correlation_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class NotSent(DhanError):
    """The request did not leave this host (connection refused, DNS failure): safe to retry."""


class OutcomeUnknown(DhanError):
    """The request was sent but no definite answer came back; the order may exist."""


class BadResponse(DhanError):
    """A success status with a body that is not what the API documents."""


class Rejected(DhanError):
    """Dhan answered with a definite error (``errorCode`` / ``errorMessage``)."""


class AuthError(Rejected):
    """Token invalid or expired (DH-901), no access (DH-902), or DH-906 "Invalid Token"."""


class StaticIpRefused(Rejected):
    """An order write sent from an address that is not the account's registered static IP
    (DH-911, or DH-905 "Invalid IP"): every write fails the same way until the egress is fixed."""


class RateLimited(Rejected):
    """DH-904 or HTTP 429: slow down and retry later."""


class InputError(Rejected):
    """DH-905: missing or bad fields."""


class OrderError(Rejected):
    """DH-906: the order cannot be processed (RMS, market closed, ...)."""


class NotFound(Rejected):
    """The order or correlationId is unknown to Dhan."""


class AccountError(Rejected):
    """DH-903: an account problem such as a segment not activated."""


class DataError(Rejected):
    """DH-907: bad parameters or no data."""


class OtherRejection(Rejected):
    """DH-910 and any code this client does not know."""


_REJECTION_BY_CODE: dict[str, type[Rejected]] = {
    DhErrorCode.INVALID_AUTHENTICATION: AuthError,
    DhErrorCode.INVALID_ACCESS: AuthError,
    DhErrorCode.USER_ACCOUNT: AccountError,
    DhErrorCode.RATE_LIMIT: RateLimited,
    DhErrorCode.INPUT_EXCEPTION: InputError,
    DhErrorCode.ORDER_ERROR: OrderError,
    DhErrorCode.DATA_ERROR: DataError,
}


def is_static_ip_refusal(*, http_status: int, code: str | None, message: str) -> bool:
    """Whether an error answer is Dhan refusing a write from an unregistered source address.

    Dhan's code is unverified (**U**): DH-911 "Invalid IP" in community material, DH-905 with
    the message "Invalid IP" seen in the field. A DH-911 is taken as the refusal whatever its
    message; any other code only with "invalid ip" in the message (never a 404 or a 5xx).
    """
    if http_status == 404 or http_status >= 500:
        return False
    if code == DhErrorCode.INVALID_IP:
        return True
    return code in (DhErrorCode.INPUT_EXCEPTION, None) and "invalid ip" in message.lower()


_UNKNOWN_OUTCOME_CODES = frozenset({DhErrorCode.INTERNAL_SERVER_ERROR, DhErrorCode.NETWORK_ERROR})


def classify(
    *,
    http_status: int,
    code: str | None,
    message: str,
    endpoint: str,
    correlation_id: str | None = None,
) -> DhanError:
    """Build the right :class:`DhanError` for a non-2xx answer.

    Classification uses the DH code first, then the message (an invalidated token has been
    seen as DH-906 "Invalid Token"), then the HTTP status.
    """

    def build(cls: type[DhanError]) -> DhanError:
        return cls(
            message,
            code=code,
            http_status=http_status,
            endpoint=endpoint,
            correlation_id=correlation_id,
        )

    if code in _UNKNOWN_OUTCOME_CODES:
        return build(OutcomeUnknown)
    if http_status == 404:
        # "no such order / correlationId", whatever DH code rides along (dhansim: DH-905)
        return build(NotFound)
    if code == DhErrorCode.ORDER_ERROR and "invalid token" in message.lower():
        return build(AuthError)
    if is_static_ip_refusal(http_status=http_status, code=code, message=message):
        return build(StaticIpRefused)
    if code is not None and code in _REJECTION_BY_CODE:
        return build(_REJECTION_BY_CODE[code])
    if http_status == 429:
        return build(RateLimited)
    if http_status >= 500:
        return build(OutcomeUnknown)
    if http_status in (401, 403) and code is None:
        return build(AuthError)
    return build(OtherRejection)


REDACTED = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
