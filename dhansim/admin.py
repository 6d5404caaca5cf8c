"""A small synchronous client (requests) for the simulator's ``/sim/*`` admin API.

``sim.admin`` of :func:`dhansim.running` is one; it works as well against a simulator in another
process: ``AdminClient("http://127.0.0.1:8700")``. A refused admin call raises
:class:`AdminCallError` with the server's message.
"""

from __future__ import annotations

from typing import Any

import requests

DEFAULT_TIMEOUT_S = 10.0


class AdminCallError(Exception):
    """The admin API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    """Synchronous wrapper of ``/sim/*``; one ``requests.Session`` (keep-alive)."""

    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._session.request(
            method,
            f"{self.base_url}/sim{path}",
            json=body,
            params={k: v for k, v in params.items() if v is not None} or None,
            timeout=self.timeout_s,
        )
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text}
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else str(data)
            raise AdminCallError(response.status_code, str(message))
        return data

    # --- accounts ------------------------------------------------------------------------------

    def create_account(
        self,
        client_id: str,
        access_token: str,
        available_balance: float = 1e7,
        holdings: list[dict[str, Any]] | None = None,
        *,
        positions: list[dict[str, Any]] | None = None,
        token_validity_s: float | None = None,
        pin: str | None = None,
        totp_secret: str | None = None,
    ) -> dict[str, Any]:
        """``token_validity_s``: how long every token of the account lives (default 24 h);
        ``pin`` + ``totp_secret``: enable ``POST /app/generateAccessToken`` for it;
        ``positions``: carried from an earlier day (as :meth:`carry_positions`)."""
        body: dict[str, Any] = {
            "dhanClientId": client_id,
            "accessToken": access_token,
            "availableBalance": available_balance,
            "holdings": holdings or [],
        }
        if positions:
            body["positions"] = positions
        if token_validity_s is not None:
            body["tokenValiditySeconds"] = token_validity_s
        if pin is not None:
            body["pin"] = pin
        if totp_secret is not None:
            body["totpSecret"] = totp_secret
        result: dict[str, Any] = self._call("POST", "/accounts", body)
        return result

    def carry_positions(self, client_id: str, *positions: dict[str, Any]) -> dict[str, Any]:
        """Positions carried from an earlier day, each ``{"exchangeSegment", "securityId",
        "productType", "quantity" (< 0: short), "price"}`` (CNC: a holding); answers the
        account's ``{"positions", "holdings"}``."""
        result: dict[str, Any] = self._call(
            "POST", f"/accounts/{client_id}/positions", list(positions)
        )
        return result

    def accounts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/accounts")
        return result

    def expire_token(self, client_id: str) -> None:
        self._call("POST", f"/accounts/{client_id}/expire-token")

    def rotate_token(self, client_id: str, access_token: str) -> None:
        self._call("POST", f"/accounts/{client_id}/token", {"accessToken": access_token})

    def orders(self, client_id: str) -> list[dict[str, Any]]:
        """The account's whole book, admin view (with ``kind``, ``parentOrderId``, legs)."""
        result: list[dict[str, Any]] = self._call("GET", f"/accounts/{client_id}/orders")
        return result

    # --- market --------------------------------------------------------------------------------

    def set_ltp(
        self,
        segment: str,
        security_id: str,
        ltp: float,
        *,
        pin: bool = True,
        liquid: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"ltp": ltp, "pin": pin}
        if liquid is not None:
            body["liquid"] = liquid
        result: dict[str, Any] = self._call("PUT", f"/ltp/{segment}/{security_id}", body)
        return result

    def ltp(self, segment: str, security_id: str) -> float:
        return float(self._call("GET", f"/ltp/{segment}/{security_id}")["ltp"])

    def add_instruments(self, *instruments: dict[str, Any]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/instruments", list(instruments))
        return result

    def fill(
        self,
        order_id: str,
        quantity: int | None = None,
        price: float | None = None,
        leg_name: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = quantity
        if price is not None:
            body["price"] = price
        if leg_name is not None:
            body["legName"] = leg_name
        result: dict[str, Any] = self._call("POST", f"/orders/{order_id}/fill", body)
        return result

    def end_of_day(self) -> int:
        """Expire every open order and carry positions into the next day; the count expired."""
        return int(self._call("POST", "/end-of-day")["expired"])

    # --- behaviour -----------------------------------------------------------------------------

    def set_switches(self, **switches: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/switches", switches)
        return result

    def switches(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/switches")
        return result

    def set_partial_fills(
        self, enabled: bool = True, parts: int = 2, interval_ms: float = 0.0
    ) -> dict[str, Any]:
        body = {"enabled": enabled, "parts": parts, "interval_ms": interval_ms}
        result: dict[str, Any] = self._call("PUT", "/partial-fills", body)
        return result

    def set_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/faults", faults)
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def drop_order_sockets(self) -> int:
        return int(self._call("POST", "/order-update/drop")["dropped"])

    def socket_count(self, client_id: str | None = None) -> int:
        return int(self._call("GET", "/order-update/connections", account=client_id)["connections"])

    # --- journal -------------------------------------------------------------------------------

    def journal(
        self,
        since_ns: int | None = None,
        *,
        since_seq: int | None = None,
        kind: str | None = None,
        account: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        data = self._call(
            "GET",
            "/journal",
            since_ns=since_ns,
            since_seq=since_seq,
            kind=kind,
            account=account,
            limit=limit,
        )
        entries: list[dict[str, Any]] = data["entries"]
        return entries

    def clear_journal(self) -> None:
        self._call("DELETE", "/journal")

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result
