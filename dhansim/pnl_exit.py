"""P&L based exit (``/pnlExit``): when an account's day P&L of the chosen products reaches the
profit or the loss value, its open orders of those products are cancelled, its positions of
those products squared off at market (orders visible in the book and on the socket), and the kill
switch activated if asked. Valid for the day; a breached threshold triggers at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dhan.codes import ProductType
from dhansim.errors import bad_input
from dhansim.validation import float_field, require_object

#: Dhan's two product groups (**U**: DELIVERY taken as every carry-forward product).
PRODUCT_GROUPS: dict[str, frozenset[ProductType]] = {
    "INTRADAY": frozenset({ProductType.INTRADAY, ProductType.CO, ProductType.BO}),
    "DELIVERY": frozenset({ProductType.CNC, ProductType.MTF, ProductType.MARGIN}),
}


@dataclass(slots=True)
class PnlExit:
    """One account's P&L exit of the day."""

    profit: float
    loss: float
    groups: tuple[str, ...]
    kill_switch: bool
    active: bool = True

    @property
    def products(self) -> frozenset[ProductType]:
        out: frozenset[ProductType] = frozenset()
        for group in self.groups:
            out |= PRODUCT_GROUPS[group]
        return out

    def breached(self, pnl: float) -> bool:
        return (self.profit > 0 and pnl >= self.profit) or (self.loss > 0 and pnl <= -self.loss)

    def to_json(self) -> dict[str, Any]:
        """``GET /pnlExit`` (Dhan's sample: amounts as strings, ``enable_kill_switch``)."""
        return {
            "pnlExitStatus": "ACTIVE" if self.active else "INACTIVE",
            "profit": f"{self.profit:.2f}",
            "loss": f"{self.loss:.2f}",
            "productType": list(self.groups),
            "enable_kill_switch": self.kill_switch,
        }


NO_PNL_EXIT: dict[str, Any] = {
    "pnlExitStatus": "INACTIVE",
    "profit": "0.00",
    "loss": "0.00",
    "productType": [],
    "enable_kill_switch": False,
}


def parse_pnl_exit(body: Any, account_id: str) -> PnlExit:
    """``POST /pnlExit {profitValue, lossValue, productType[], enableKillSwitch}``."""
    body = require_object(body)
    client = body.get("dhanClientId")
    if client not in (None, "") and str(client) != account_id:
        raise bad_input("dhanClientId does not match the client of the access token")
    profit = float_field(body, "profitValue") or 0.0
    loss = float_field(body, "lossValue") or 0.0
    if profit <= 0 and loss <= 0:
        raise bad_input("profitValue or lossValue must be greater than 0")
    groups = _groups(body.get("productType"))
    kill = body.get("enableKillSwitch", False)
    if kill is None:
        kill = False
    if not isinstance(kill, bool):
        raise bad_input("Invalid enableKillSwitch: must be true or false")
    return PnlExit(profit=profit, loss=loss, groups=groups, kill_switch=kill)


def _groups(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "" or raw == []:
        return ("INTRADAY",)  # Dhan's documented default
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise bad_input("Invalid productType: a list of INTRADAY / DELIVERY")
    out: list[str] = []
    for item in items:
        if item not in PRODUCT_GROUPS:
            raise bad_input(f"Invalid productType: {item!r} (allowed: INTRADAY, DELIVERY)")
        if item not in out:
            out.append(item)
    return tuple(out)


def day_pnl(positions: Mapping[Any, Any], products: frozenset[ProductType], ltp_of: Any) -> float:
    """Realised plus unrealised P&L of the day's positions of ``products``."""
    return sum(
        p.realized + p.unrealized(ltp_of(p.instrument))
        for p in positions.values()
        if p.product in products
    )
