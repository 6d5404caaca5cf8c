"""One simulated Dhan account: token, order book, trades, positions, funds, kill switch, limits.

State only; the rules that change it live in ``exchange``. Everything runs on the simulator's
event-loop thread, so there are no locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dhan.codes import PositionType, ProductType, TransactionType
from dhansim.clock import NO_DATE
from dhansim.forever import ForeverOrder
from dhansim.instruments import Instrument
from dhansim.margin import margin_per_unit
from dhansim.orders import Order, Trade
from dhansim.pnl_exit import PnlExit
from dhansim.ratelimit import QUOTE_RATE_LIMITS, READ_RATE_LIMITS, SlidingWindows
from dhansim.tokens import TokenLife


@dataclass(slots=True)
class Position:
    """Net position in one (instrument, product) for the day."""

    instrument: Instrument
    product: ProductType
    buy_qty: int = 0
    buy_value: float = 0.0
    sell_qty: int = 0
    sell_value: float = 0.0

    @property
    def net_qty(self) -> int:
        return self.buy_qty - self.sell_qty

    @property
    def buy_avg(self) -> float:
        return self.buy_value / self.buy_qty if self.buy_qty else 0.0

    @property
    def sell_avg(self) -> float:
        return self.sell_value / self.sell_qty if self.sell_qty else 0.0

    @property
    def realized(self) -> float:
        matched = min(self.buy_qty, self.sell_qty)
        if not matched:
            return 0.0
        # sell_avg - buy_avg, both quantities being non-zero here (the funds check asks this
        # of every position on every order)
        return matched * (self.sell_value / self.sell_qty - self.buy_value / self.buy_qty)

    def unrealized(self, ltp: float) -> float:
        net = self.net_qty
        if net > 0:
            return net * (ltp - self.buy_avg)
        if net < 0:
            return -net * (self.sell_avg - ltp)
        return 0.0

    @property
    def cost_price(self) -> float:
        return self.buy_avg if self.net_qty >= 0 else self.sell_avg

    def margin(self) -> float:
        net = self.buy_qty - self.sell_qty
        if not net:
            return 0.0
        if net > 0:  # long: at the buy average (cost_price), as a BUY
            return net * margin_per_unit(
                self.instrument, self.product, TransactionType.BUY, self.buy_value / self.buy_qty
            )
        return -net * margin_per_unit(
            self.instrument, self.product, TransactionType.SELL, self.sell_value / self.sell_qty
        )

    def apply(self, txn: TransactionType, qty: int, price: float) -> None:
        if txn is TransactionType.BUY:
            self.buy_qty += qty
            self.buy_value += qty * price
        else:
            self.sell_qty += qty
            self.sell_value += qty * price

    def to_json(self, account_id: str, ltp: float) -> dict[str, Any]:
        inst = self.instrument
        net = self.net_qty
        kind = PositionType.LONG if net > 0 else PositionType.SHORT if net < 0 else None
        option = {"CE": "CALL", "PE": "PUT"}.get(inst.option_type)
        return {
            "dhanClientId": account_id,
            "tradingSymbol": inst.symbol,
            "securityId": inst.security_id,
            "positionType": (kind or PositionType.CLOSED).value,
            "exchangeSegment": inst.segment.value,
            "productType": self.product.value,
            "buyAvg": round(self.buy_avg, 4),
            "buyQty": self.buy_qty,
            "costPrice": round(self.cost_price, 4),
            "sellAvg": round(self.sell_avg, 4),
            "sellQty": self.sell_qty,
            "netQty": net,
            "realizedProfit": round(self.realized, 2),
            "unrealizedProfit": round(self.unrealized(ltp), 2),
            "rbiReferenceRate": 1.0,
            "multiplier": 1,
            "carryForwardBuyQty": 0,
            "carryForwardSellQty": 0,
            "carryForwardBuyValue": 0.0,
            "carryForwardSellValue": 0.0,
            "dayBuyQty": self.buy_qty,
            "daySellQty": self.sell_qty,
            "dayBuyValue": round(self.buy_value, 2),
            "daySellValue": round(self.sell_value, 2),
            "drvExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
            "drvOptionType": option,
            "drvStrikePrice": inst.strike_price,
            "crossCurrency": False,
        }


@dataclass(slots=True)
class Account:
    """A simulated trading account and everything the broker knows about it today."""

    client_id: str
    access_token: str = field(repr=False)  # a secret: never in a repr or a log line
    sod_limit: float = 0.0
    holdings: list[dict[str, Any]] = field(default_factory=list)
    token_expired: bool = False  # expired by hand (``/sim/accounts/{id}/expire-token``)
    token_life: TokenLife = field(default_factory=TokenLife)  # issue time, lifetime, PIN/TOTP
    kill_switch: bool = False
    orders: dict[str, Order] = field(default_factory=dict)  # by key, in placement order
    by_correlation: dict[str, list[Order]] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    trades_by_order: dict[str, list[Trade]] = field(default_factory=dict)
    positions: dict[tuple[str, str, str], Position] = field(default_factory=dict)
    blocked_margin: float = 0.0
    order_limits: SlidingWindows = field(default_factory=SlidingWindows)
    read_limits: SlidingWindows = field(default_factory=lambda: SlidingWindows(READ_RATE_LIMITS))
    quote_limits: SlidingWindows = field(default_factory=lambda: SlidingWindows(QUOTE_RATE_LIMITS))
    #: Registered static IPs by flag (PRIMARY / SECONDARY), and when each was set (epoch s).
    static_ips: dict[str, str] = field(default_factory=dict)
    static_ip_set_at: dict[str, float] = field(default_factory=dict)
    pnl_exit: PnlExit | None = None  # the day's P&L based exit (``/pnlExit``)
    forever: dict[str, ForeverOrder] = field(default_factory=dict)  # by orderId

    def token_live(self, now: float | None = None) -> bool:
        """Whether the current token still works (not expired by hand, nor by its lifetime)."""
        return not self.token_expired and self.token_life.live(now)

    def position(self, inst: Instrument, product: ProductType) -> Position:
        key = (*inst.key, product._value_)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(inst, product)
        return pos

    def realized_total(self) -> float:
        return sum(p.realized for p in self.positions.values())

    def position_margin(self) -> float:
        return sum(p.margin() for p in self.positions.values())

    def available_balance(self) -> float:
        return self.sod_limit + self.realized_total() - self.blocked_margin - self.position_margin()

    def fund_limit_json(self) -> dict[str, Any]:
        utilized = self.blocked_margin + self.position_margin()
        available = self.available_balance()
        return {
            "dhanClientId": self.client_id,
            "availabelBalance": round(available, 2),  # sic: Dhan's wire spelling
            "sodLimit": round(self.sod_limit, 2),
            "collateralAmount": 0.0,
            "receiveableAmount": 0.0,  # sic
            "utilizedAmount": round(utilized, 2),
            "blockedPayoutAmount": 0.0,
            "withdrawableBalance": round(max(available, 0.0), 2),
        }

    def holdings_json(self, ltp_of: Callable[[str, str], float | None]) -> list[dict[str, Any]]:
        out = []
        for h in self.holdings:
            item = dict(h)
            ltp = ltp_of(str(item.get("exchange", "NSE")) + "_EQ", str(item.get("securityId")))
            item.setdefault("lastTradedPrice", ltp if ltp is not None else 0.0)
            out.append(item)
        return out

    def summary_json(self) -> dict[str, Any]:
        """The admin view of ``GET /sim/accounts`` (never the token itself)."""
        return {
            "dhanClientId": self.client_id,
            "tokenExpired": not self.token_live(),
            "tokenValiditySeconds": self.token_life.validity_s,
            "killSwitch": self.kill_switch,
            "availableBalance": round(self.available_balance(), 2),
            "sodLimit": self.sod_limit,
            "orders": len(self.orders),
            "trades": len(self.trades),
        }
