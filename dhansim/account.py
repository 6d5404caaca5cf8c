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
    """Net position in one (instrument, product): today's trades plus what an earlier day
    carried in (``carryForward*``: MARGIN / MTF positions; CNC carries as holdings).

    ``buy_qty`` / ``buy_value`` (and the sell side) count every buy, carried and today's; the
    ``cf_*`` fields the carried part of them. A CNC position also knows the holdings it sells
    against (``held_qty`` at ``held_cost``): they are not part of ``netQty``.
    """

    instrument: Instrument
    product: ProductType
    buy_qty: int = 0
    buy_value: float = 0.0
    sell_qty: int = 0
    sell_value: float = 0.0
    cf_buy_qty: int = 0
    cf_buy_value: float = 0.0
    cf_sell_qty: int = 0
    cf_sell_value: float = 0.0
    held_qty: int = 0  # CNC: the holdings (available quantity) at the start of the day
    held_cost: float = 0.0  # their average cost

    @property
    def net_qty(self) -> int:
        return self.buy_qty - self.sell_qty

    @property
    def holdings_sold(self) -> int:
        """CNC: how much of the holdings today's net sales sold (0 without holdings)."""
        if not self.held_qty:
            return 0
        return min(self.held_qty, max(0, self.sell_qty - self.buy_qty))

    @property
    def open_qty(self) -> int:
        """The signed quantity still open (what exit-all squares off): the net quantity, less
        the sales that sold holdings."""
        if not self.held_qty:
            return self.buy_qty - self.sell_qty
        return self.buy_qty - self.sell_qty + self.holdings_sold

    @property
    def sellable_long(self) -> int:
        """The long a SELL reduces without margin: the net quantity plus CNC holdings."""
        return self.buy_qty - self.sell_qty + self.held_qty

    @property
    def buy_avg(self) -> float:
        return self.buy_value / self.buy_qty if self.buy_qty else 0.0

    @property
    def sell_avg(self) -> float:
        return self.sell_value / self.sell_qty if self.sell_qty else 0.0

    @property
    def realized(self) -> float:
        matched = min(self.buy_qty, self.sell_qty)
        # sell_avg - buy_avg, both quantities being non-zero here (the funds check asks this
        # of every position on every order)
        out = (
            matched * (self.sell_value / self.sell_qty - self.buy_value / self.buy_qty)
            if matched
            else 0.0
        )
        if self.held_qty:
            sold = self.holdings_sold
            if sold:  # holdings sold at today's sell average, bought at their cost
                out += sold * (self.sell_value / self.sell_qty - self.held_cost)
        return out

    def unrealized(self, ltp: float) -> float:
        net = self.open_qty
        if net > 0:
            return net * (ltp - self.buy_avg)
        if net < 0:
            return -net * (self.sell_avg - ltp)
        return 0.0

    @property
    def cost_price(self) -> float:
        return self.buy_avg if self.open_qty >= 0 else self.sell_avg

    def margin(self) -> float:
        net = self.open_qty if self.held_qty else self.buy_qty - self.sell_qty
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

    def carry(self, qty: int, price: float) -> None:
        """Add a position carried from an earlier day: ``qty`` > 0 long, < 0 short, at
        ``price``."""
        if qty > 0:
            self.buy_qty += qty
            self.buy_value += qty * price
            self.cf_buy_qty += qty
            self.cf_buy_value += qty * price
        elif qty < 0:
            self.sell_qty -= qty
            self.sell_value -= qty * price
            self.cf_sell_qty -= qty
            self.cf_sell_value -= qty * price

    def to_json(
        self, account_id: str, ltp: float, *, holdings_as_carried: bool = False
    ) -> dict[str, Any]:
        """The ``GET /positions`` record; ``holdings_as_carried`` (the ``holdings_sale_view``
        switch): holdings a CNC sale sold show as carried buys at their cost."""
        inst = self.instrument
        cf_buy, cf_buy_value = self.cf_buy_qty, self.cf_buy_value
        buy_qty, buy_value = self.buy_qty, self.buy_value
        sold = self.holdings_sold if holdings_as_carried else 0
        if sold:
            cf_buy, cf_buy_value = cf_buy + sold, cf_buy_value + sold * self.held_cost
            buy_qty, buy_value = buy_qty + sold, buy_value + sold * self.held_cost
        net = buy_qty - self.sell_qty
        kind = PositionType.LONG if net > 0 else PositionType.SHORT if net < 0 else None
        option = {"CE": "CALL", "PE": "PUT"}.get(inst.option_type)
        return {
            "dhanClientId": account_id,
            "tradingSymbol": inst.symbol,
            "securityId": inst.security_id,
            "positionType": (kind or PositionType.CLOSED).value,
            "exchangeSegment": inst.segment.value,
            "productType": self.product.value,
            "buyAvg": round(buy_value / buy_qty if buy_qty else 0.0, 4),
            "buyQty": buy_qty,
            "costPrice": round(self.cost_price, 4),
            "sellAvg": round(self.sell_avg, 4),
            "sellQty": self.sell_qty,
            "netQty": net,
            "realizedProfit": round(self.realized, 2),
            "unrealizedProfit": round(self.unrealized(ltp), 2),
            "rbiReferenceRate": 1.0,
            "multiplier": 1,
            "carryForwardBuyQty": cf_buy,
            "carryForwardSellQty": self.cf_sell_qty,
            "carryForwardBuyValue": round(cf_buy_value, 2),
            "carryForwardSellValue": round(self.cf_sell_value, 2),
            "dayBuyQty": self.buy_qty - self.cf_buy_qty,
            "daySellQty": self.sell_qty - self.cf_sell_qty,
            "dayBuyValue": round(self.buy_value - self.cf_buy_value, 2),
            "daySellValue": round(self.sell_value - self.cf_sell_value, 2),
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
            if product is ProductType.CNC and self.holdings:
                pos.held_qty, pos.held_cost = self.holding_of(inst)
        return pos

    def holding_of(self, inst: Instrument) -> tuple[int, float]:
        """The quantity of ``inst`` the account's holdings can sell today (``availableQty``,
        else ``totalQty``) and its average cost; (0, 0.0) when it holds none."""
        h = self._holding_record(inst)
        if h is not None:
            qty = h.get("availableQty", h.get("totalQty", 0))
            cost = h.get("avgCostPrice", 0.0)
            if isinstance(qty, int) and qty > 0 and isinstance(cost, int | float):
                return qty, float(cost)
        return 0, 0.0

    def holdings_sold(self, security_id: str) -> int:
        """How much of the holding of ``security_id`` today's CNC sales sold."""
        return sum(
            p.holdings_sold
            for p in self.positions.values()
            if p.held_qty and p.instrument.security_id == security_id
        )

    def carry_into_next_day(self, ltp_of: Callable[[Instrument], float]) -> None:
        """End of the day (``POST /sim/end-of-day``, after every open order expired): book the
        day's realised P&L into the balance; MARGIN / MTF positions become the next day's
        carried positions (at their average); CNC buys become holdings and sold holdings
        leave; INTRADAY / CO / BO positions (and a CNC short) are settled at the LTP, the
        broker's square-off, without orders."""
        cash = 0.0
        carried: dict[tuple[str, str, str], Position] = {}
        for key, pos in self.positions.items():
            cash += pos.realized
            open_qty = pos.open_qty
            if pos.product in (ProductType.MARGIN, ProductType.MTF):
                if open_qty:
                    price = pos.buy_avg if open_qty > 0 else pos.sell_avg
                    nxt = carried[key] = Position(pos.instrument, pos.product)
                    nxt.carry(open_qty, price)
                continue
            if pos.product is ProductType.CNC:
                sold = pos.holdings_sold
                if sold:
                    cash += sold * pos.held_cost  # the sale's proceeds: cost + realised profit
                    self._reduce_holding(pos.instrument, sold)
                if open_qty > 0:
                    cash -= open_qty * pos.buy_avg  # paid for: now a holding
                    self._add_holding(pos.instrument, open_qty, pos.buy_avg)
                    continue
            if open_qty:
                cash += pos.unrealized(ltp_of(pos.instrument))
        self.sod_limit += cash
        self.positions = carried

    def _holding_record(self, inst: Instrument) -> dict[str, Any] | None:
        """The holding of an equity ``inst`` (its exchange's, or one listed as ``ALL``)."""
        if not inst.is_equity:
            return None
        exchange = inst.segment.value.partition("_")[0]
        for h in self.holdings:
            if str(h.get("securityId")) == inst.security_id and h.get("exchange", "ALL") in (
                exchange,
                "ALL",
            ):
                return h
        return None

    def _reduce_holding(self, inst: Instrument, qty: int) -> None:
        h = self._holding_record(inst)
        if h is None:
            return
        for name in ("totalQty", "availableQty", "dpQty"):
            value = h.get(name)
            if isinstance(value, int):
                h[name] = max(0, value - qty)
        if not h.get("totalQty", h.get("availableQty", 0)):
            self.holdings.remove(h)

    def _add_holding(self, inst: Instrument, qty: int, price: float) -> None:
        h = self._holding_record(inst)
        if h is None:
            h = {
                "exchange": inst.segment.value.partition("_")[0],
                "tradingSymbol": inst.symbol,
                "securityId": inst.security_id,
                "isin": inst.isin,
                "totalQty": 0,
                "dpQty": 0,
                "t1Qty": 0,
                "availableQty": 0,
                "collateralQty": 0,
                "avgCostPrice": 0.0,
            }
            self.holdings.append(h)
        total = int(h.get("totalQty", 0) or 0)
        cost = float(h.get("avgCostPrice", 0.0) or 0.0)
        h["avgCostPrice"] = round((total * cost + qty * price) / (total + qty), 4)
        for name in ("totalQty", "t1Qty", "availableQty"):  # T1 until settled (sellable)
            h[name] = int(h.get(name, 0) or 0) + qty

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
        """``GET /holdings``: the holdings as given, ``availableQty`` less what today's CNC
        sales sold (they leave ``totalQty`` / ``dpQty`` at the end of the day)."""
        out = []
        for h in self.holdings:
            item = dict(h)
            sold = self.holdings_sold(str(item.get("securityId")))
            available = item.get("availableQty")
            if sold and isinstance(available, int):
                item["availableQty"] = max(0, available - sold)
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
