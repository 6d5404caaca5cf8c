"""Broker-side rejections of the simulator, as Dhan's ``{errorType, errorCode, errorMessage}``.

Every handler raises :class:`SimError`; the REST middleware turns it into the error body with the
HTTP status chosen below (Dhan documents no status per code, so these are the simulator's choice,
listed in ``docs/simulator.md``).
"""

from __future__ import annotations

from dhan.codes import DH_ERROR_TYPE, DhErrorCode

#: HTTP status sent with each DH code (Dhan documents none; **U**).
HTTP_STATUS_FOR_CODE: dict[DhErrorCode, int] = {
    DhErrorCode.INVALID_AUTHENTICATION: 401,
    DhErrorCode.INVALID_ACCESS: 403,
    DhErrorCode.USER_ACCOUNT: 403,
    DhErrorCode.RATE_LIMIT: 429,
    DhErrorCode.INPUT_EXCEPTION: 400,
    DhErrorCode.ORDER_ERROR: 400,
    DhErrorCode.DATA_ERROR: 400,
    DhErrorCode.INTERNAL_SERVER_ERROR: 500,
    DhErrorCode.NETWORK_ERROR: 502,
    DhErrorCode.OTHERS: 400,
    DhErrorCode.INVALID_IP: 403,
}


class SimError(Exception):
    """A request the simulated broker refuses; carries the wire error body and HTTP status."""

    def __init__(self, code: DhErrorCode, message: str, *, http_status: int | None = None):
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS_FOR_CODE[code]

    def body(self) -> dict[str, str]:
        return {
            "errorType": DH_ERROR_TYPE[self.code],
            "errorCode": self.code.value,
            "errorMessage": self.message,
        }


def bad_input(message: str) -> SimError:
    """DH-905: a missing or malformed field."""
    return SimError(DhErrorCode.INPUT_EXCEPTION, message)


def order_error(message: str) -> SimError:
    """DH-906: a well-formed request the order system cannot process (RMS, state, limits)."""
    return SimError(DhErrorCode.ORDER_ERROR, message)


def order_not_found(what: str = "Order not found") -> SimError:
    """Unknown orderId / correlationId: 404 with DH-905 (the lead's fixed choice; **U**)."""
    return SimError(DhErrorCode.INPUT_EXCEPTION, what, http_status=404)
