"""The matching engine: accepts, modifies, cancels and fills orders against LTP, with RMS.

Flow of one order: ``place`` (TRANSIT, REST answer) -> ``_accept`` on the loop (PENDING, or
REJECTED) -> ``_evaluate`` on arrival and on every LTP change of its instrument -> fills
(PART_TRADED / TRADED) -> ``_on_done``, the hook where ``exchange`` adds the CO/BO/super rules.
Every state change calls the listener once (the order-update socket and the journal hang there).
Only open orders of one instrument are scanned on an LTP change; placing is O(1) in book size.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from dhan.codes import (
    MAX_MODIFICATIONS_PER_ORDER,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhansim.account import Account
from dhansim.clock import ist_now
from dhansim.errors import SimError, bad_input, order_error, order_not_found
from dhansim.forever import ForeverOrder
from dhansim.instruments import Instrument, InstrumentMaster
from dhansim.margin import margin_per_unit
from dhansim.market import Market
from dhansim.orders import Order, OrderKind, Trade
from dhansim.switches import LiveSettings
from dhansim.validation import (
    ModifyRequest,
    PlaceRequest,
    disclosed_rules,
    price_rules,
    quantity_rules,
    request_fields,
    super_price_rules,
    tick_rule,
)

Listener = Callable[[Order], None]

_EXIT_LEG_NAMES = (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
_ENTRY_KIND = {ProductType.CO: OrderKind.CO_ENTRY, ProductType.BO: OrderKind.BO_ENTRY}
_STOP_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET})
_LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LOSS})
_SUPER_EXIT_KINDS = frozenset({OrderKind.SUPER_TARGET, OrderKind.SUPER_STOP})
#: Most child orders one ``POST /orders/slicing`` may create (Dhan documents no cap; an
#: unbounded quantity would otherwise build an unbounded list of orders).
MAX_SLICES = 100


class MatchingEngine:
    """Order book, RMS and matching of plain orders for every account of one simulator."""

    def __init__(
        self,
        master: InstrumentMaster,
        market: Market,
        settings: LiveSettings,
        listener: Listener,
        *,
        first_order_id: int = 112_000_000_001,
    ) -> None:
        self.master = master
        self.market = market
        self.settings = settings
        self.accounts: dict[str, Account] = {}
        # Called once per state change of an order (the socket and journal hang there); bound
        # as an attribute, not wrapped in a method: a few calls per order, every order.
        self._emit: Listener = listener
        self._loop = asyncio.get_running_loop()
        self._next_id = first_order_id
        self._next_exch_id = 1_100_000_000_000_001
        self._next_trade_id = 50_000_001
        self._by_order_id: dict[str, Order] = {}
        self._working: dict[tuple[str, str], dict[str, Order]] = {}

    # --- lookups ---------------------------------------------------------------------------

    def account(self, client_id: str) -> Account:
        acc = self.accounts.get(client_id)
        if acc is None:
            raise bad_input(f"Unknown dhanClientId {client_id}")
        return acc

    def order(self, account: Account, order_id: str) -> Order:
        o = self._by_order_id.get(order_id)
        if o is None or o.account_id != account.client_id:
            raise order_not_found()
        return o

    def any_order(self, order_id: str) -> Order:
        o = self._by_order_id.get(order_id)
        if o is None:
            raise order_not_found()
        return o

    def by_correlation(self, account: Account, cid: str) -> list[Order]:
        """Orders placed by a request with this correlationId (not broker-made legs)."""
        return list(account.by_correlation.get(cid, ()))

    def book(self, account: Account) -> Iterator[Order]:
        """``GET /orders``: every order and CO/BO leg; a super order appears as its entry leg,
        followed by its exit legs once the entry has traded (they are at the exchange then)
        when ``super_legs_in_order_book`` is on."""
        legs = self.settings.switches.super_legs_in_order_book
        for o in account.orders.values():
            if o.kind not in _SUPER_EXIT_KINDS or (
                legs and self._by_order_id[o.order_id].filled_qty
            ):
                yield o

    # --- placing ---------------------------------------------------------------------------

    def place(
        self,
        account: Account,
        req: PlaceRequest,
        *,
        plain: bool = False,
        forever: ForeverOrder | None = None,
    ) -> Order:
        """Place one order; ``plain`` keeps a CO/BO product from growing exit legs (the
        broker's own square-off of a CO/BO position is a plain order of that product);
        ``forever``: the forever order whose trigger places it."""
        self._check_tradable(account)
        kind = OrderKind.PLAIN if plain else _ENTRY_KIND.get(req.product, OrderKind.PLAIN)
        o = self._new_order(
            account,
            kind=kind,
            leg_name=LegName.ENTRY_LEG if kind is not OrderKind.PLAIN else None,
            **request_fields(req),
        )
        if forever is not None:
            o.good_till, o.forever_id = forever.good_till, forever.order_id
        self._block_margin(account, o)
        self._register(account, o)
        self._emit(o)
        self._schedule_accept(o)
        return o

    def place_slices(self, account: Account, req: PlaceRequest) -> list[Order]:
        """``POST /orders/slicing``: one child per freeze quantity, all with the request's cid."""
        freeze = req.instrument.freeze_qty
        if req.product in (ProductType.CO, ProductType.BO):
            raise bad_input("Slicing is not available for cover or bracket orders")
        if not freeze or req.quantity <= freeze:
            return [self.place(account, req)]
        lot = req.instrument.lot_size
        chunk = max(lot, (freeze // lot) * lot)
        if -(-req.quantity // chunk) > MAX_SLICES:
            raise bad_input(
                f"quantity {req.quantity} needs more than {MAX_SLICES} slices of {chunk}"
            )
        self._check_funds(account, req.instrument, req.product, req.txn, req.quantity, req)
        return [self.place(account, piece) for piece in _pieces(req)]

    def _new_order(self, account: Account, **fields: Any) -> Order:
        """A new order of ``account`` under the next orderId, created now; ``fields`` are the
        rest of :class:`Order`'s (instrument, side, product, type, quantity, prices, kind ...)."""
        order_id = str(self._next_id)
        self._next_id += 1
        now = ist_now()
        return Order(
            key=order_id,
            order_id=order_id,
            account_id=account.client_id,
            create_time=now,
            update_time=now,
            placed_before_trade=self._next_trade_id,
            **fields,
        )

    def _register(self, account: Account, o: Order) -> None:
        account.orders[o.key] = o
        self._by_order_id[o.order_id] = o
        if o.correlation_id and o.by_request:
            account.by_correlation.setdefault(o.correlation_id, []).append(o)

    def _check_tradable(self, account: Account) -> None:
        if account.kill_switch:
            raise order_error("Kill switch is active: trading is disabled for the day")

    def _reference_price(self, o: Order) -> float:
        if o.order_type in _LIMIT_PRICED and o.price:
            return o.price
        if o.trigger_price and o.order_type is OrderType.STOP_LOSS_MARKET:
            return o.trigger_price
        return self.market.ltp(o.instrument)

    def _opening_qty(
        self,
        account: Account,
        inst: Instrument,
        product: ProductType,
        txn: TransactionType,
        qty: int,
    ) -> int:
        """The part of ``qty`` that opens or grows a position (the rest only reduces one)."""
        pos = account.positions.get((*inst.key, product._value_))
        if pos is not None:
            net = pos.sellable_long  # the net quantity, plus CNC holdings
        elif product is ProductType.CNC and account.holdings:
            net = account.holding_of(inst)[0]  # a first sale of holdings needs no margin
        else:
            return qty
        reducing = (net > 0 and txn is TransactionType.SELL) or (
            net < 0 and txn is TransactionType.BUY
        )
        return max(0, qty - abs(net)) if reducing else qty

    def _check_funds(
        self,
        account: Account,
        inst: Instrument,
        product: ProductType,
        txn: TransactionType,
        qty: int,
        req: PlaceRequest | None = None,
        price: float | None = None,
    ) -> float:
        """Margin needed; raises DH-906 when the account cannot afford it (check_funds on)."""
        ref = price if price is not None else (req.price if req and req.price else 0.0)
        if not ref:
            ref = (req.trigger_price if req else 0.0) or self.market.ltp(inst)
        per_unit = margin_per_unit(inst, product, txn, ref)
        need = self._opening_qty(account, inst, product, txn, qty) * per_unit
        if self.settings.switches.check_funds and need > account.available_balance() + 1e-6:
            raise order_error(
                f"RMS:Margin Exceeds: You have insufficient funds. Required margin "
                f"{need:.2f}, available balance {account.available_balance():.2f}"
            )
        return need

    def _block_margin(self, account: Account, o: Order) -> None:
        ref = self._reference_price(o)
        per_unit = margin_per_unit(o.instrument, o.product, o.txn, ref)
        opening = self._opening_qty(account, o.instrument, o.product, o.txn, o.quantity)
        need = opening * per_unit
        if self.settings.switches.check_funds:  # (only then sum the account's positions)
            available = account.available_balance()
            if need > available + 1e-6:
                message = (
                    f"RMS:Margin Exceeds: You have insufficient funds. Required margin "
                    f"{need:.2f}, available balance {available:.2f}"
                )
                if not self.settings.switches.rms_reject_as_order:
                    raise order_error(message)
                o.rms_reject = message
                return
        o.margin_per_unit = need / o.quantity if o.quantity else 0.0
        account.blocked_margin += need

    def _release_margin(self, account: Account, o: Order, qty: int) -> None:
        amount = min(qty * o.margin_per_unit, account.blocked_margin)
        account.blocked_margin = max(0.0, account.blocked_margin - amount)

    # --- acceptance ------------------------------------------------------------------------

    def _schedule_accept(self, o: Order) -> None:
        delay_s = self.settings.switches.exchange_delay_ms / 1000.0
        if delay_s > 0:
            self._loop.call_later(delay_s, self._accept, o)
        else:
            self._loop.call_soon(self._accept, o)

    def _accept(self, o: Order) -> None:
        if o.status is not OrderStatus.TRANSIT:
            return  # cancelled while in transit
        if o.rms_reject:
            self._reject(o, "RMS", o.rms_reject)
            return
        reason = self._exchange_check(o)
        if reason:
            self._reject(o, "EXCH", reason)
            return
        o.status = OrderStatus.PENDING
        o.exchange_order_id = str(self._next_exch_id)
        self._next_exch_id += 1
        o.update_time = o.exchange_time = ist_now()
        self._protect(o)  # before the PENDING frame: every view after TRANSIT shows the band
        self._emit(o)
        self._arm(o)

    def _exchange_check(self, o: Order) -> str:
        """Exchange-side rejections: the freeze quantity, and those that depend on the price."""
        freeze = o.instrument.freeze_qty
        if freeze and o.quantity > freeze and self.settings.switches.freeze_limit:
            return f"Quantity {o.quantity} is above the freeze quantity {freeze}"
        ltp = self.market.ltp(o.instrument)
        if o.order_type in _STOP_TYPES:
            if o.txn is TransactionType.BUY and o.trigger_price <= ltp:
                return "Trigger price for a stop-loss buy order should be above LTP"
            if o.txn is TransactionType.SELL and o.trigger_price >= ltp:
                return "Trigger price for a stop-loss sell order should be below LTP"
        if o.kind is OrderKind.CO_ENTRY and o.order_type is OrderType.MARKET:
            if o.txn is TransactionType.BUY and o.trigger_price >= ltp:
                return "Cover order stop-loss should be below the last traded price"
            if o.txn is TransactionType.SELL and o.trigger_price <= ltp:
                return "Cover order stop-loss should be above the last traded price"
        if o.kind is OrderKind.SUPER_ENTRY and o.order_type is OrderType.MARKET:
            try:
                super_price_rules(o.txn, ltp, o.target_price, o.stop_loss_price)
            except SimError as exc:
                return exc.message
        return ""

    def _reject(self, o: Order, source: str, reason: str) -> None:
        account = self.accounts[o.account_id]
        self._release_margin(account, o, o.remaining)
        o.status = OrderStatus.REJECTED
        o.oms_error_code = source
        o.oms_error_description = reason
        o.update_time = ist_now()
        self._disarm(o)
        self._emit(o)
        self._on_done(o)

    # --- matching --------------------------------------------------------------------------

    def _arm(self, o: Order) -> None:
        book = self._working.get(o.instrument.key)
        if book is None:
            book = self._working[o.instrument.key] = {}
        book[o.key] = o
        self._evaluate(o, arrival=True)

    def _disarm(self, o: Order) -> None:
        book = self._working.get(o.instrument.key)
        if book is not None:
            book.pop(o.key, None)

    def on_ltp(self, inst: Instrument) -> None:
        """Re-evaluate every working order of ``inst`` after its LTP changed."""
        book = self._working.get(inst.key)
        if not book:
            return
        for o in list(book.values()):
            if o.is_open and o.key in book:
                self._on_price(o)
                self._evaluate(o, arrival=False)

    def _stop_crossed(self, o: Order, ltp: float) -> bool:
        if o.txn is TransactionType.BUY:
            return ltp >= o.trigger_price
        return ltp <= o.trigger_price

    def _protect(self, o: Order) -> None:
        """Market price protection: a MARKET order reaching the market becomes a LIMIT at the
        band price, fixed from the LTP now (an SL-M gets its band when it triggers)."""
        if (
            o.order_type is OrderType.MARKET
            and not o.protection_price
            and self.settings.switches.market_protection
        ):
            o.protection_price = self._band_price(o, self.market.ltp(o.instrument))

    def _band_price(self, o: Order, ltp: float) -> float:
        pct = self.settings.switches.mpp_percent / 100.0
        inst = o.instrument
        if o.txn is TransactionType.BUY:
            return inst.round_to_tick(math.ceil(ltp * (1 + pct) / inst.tick_size) * inst.tick_size)
        return inst.round_to_tick(math.floor(ltp * (1 - pct) / inst.tick_size) * inst.tick_size)

    def _fill_price(self, o: Order, ltp: float, arrival: bool) -> float | None:
        is_market = o.order_type is OrderType.MARKET or (
            o.order_type is OrderType.STOP_LOSS_MARKET and o.triggered
        )
        if is_market and self.settings.switches.market_protection and not o.protection_price:
            # The band is fixed from the LTP when the order reaches the market (or triggers).
            o.protection_price = self._band_price(o, ltp)
        if not self.market.is_liquid(o.instrument):
            return None
        if is_market:
            if o.protection_price:
                ok = (
                    ltp <= o.protection_price
                    if o.txn is TransactionType.BUY
                    else (ltp >= o.protection_price)
                )
                return ltp if ok else None
            return ltp
        if o.txn is TransactionType.BUY:
            if ltp <= o.price:
                return ltp if arrival else o.price
            return None
        if ltp >= o.price:
            return ltp if arrival else o.price
        return None

    def _evaluate(self, o: Order, *, arrival: bool) -> None:
        if o.filling or not o.is_open or o.status is OrderStatus.TRANSIT:
            return
        ltp = self.market.ltp(o.instrument)
        if o.order_type in _STOP_TYPES and not o.triggered:
            if not self._stop_crossed(o, ltp):
                return
            o.triggered = True
            arrival = True
            o.update_time = ist_now()
            if o.kind.is_super:
                self._emit(o)  # the super book and socket show the leg TRIGGERED
        price = self._fill_price(o, ltp, arrival)
        if price is None:
            if o.validity is Validity.IOC and arrival:
                self._expire_ioc(o)
            return
        self._fill(o, self._next_fill_qty(o), price)
        if not o.is_open:
            return
        if o.validity is Validity.IOC:
            self._expire_ioc(o)
            return
        o.filling = True
        delay_s = self.settings.partial_fills.interval_ms / 1000.0
        self._loop.call_later(delay_s, self._continue_fill, o)

    def _continue_fill(self, o: Order) -> None:
        o.filling = False
        self._evaluate(o, arrival=True)

    def _next_fill_qty(self, o: Order) -> int:
        pf = self.settings.partial_fills
        if not pf.enabled or pf.parts <= 1:
            return o.remaining
        lot = o.instrument.lot_size
        part = math.ceil(o.quantity / pf.parts / lot) * lot
        return max(lot, min(part, o.remaining))

    def _fill(self, o: Order, qty: int, price: float) -> None:
        account = self.accounts[o.account_id]
        now = ist_now()
        o.filled_qty += qty
        o.traded_value += qty * price
        o.last_fill_price = price
        o.update_time = o.exchange_time = now
        o.status = OrderStatus.TRADED if o.remaining == 0 else OrderStatus.PART_TRADED
        trade = Trade(
            trade_id=str(self._next_trade_id),
            order_key=o.key,
            order_id=o.order_id,
            account_id=o.account_id,
            instrument=o.instrument,
            txn=o.txn,
            product=o.product,
            order_type=o.order_type,
            quantity=qty,
            price=price,
            time=now,
            band_price=o.protection_price if o.order_type is OrderType.MARKET else 0.0,
            exchange_order_id=o.exchange_order_id,
            leg_name=o.leg_name,
        )
        self._next_trade_id += 1
        self.market.record_trade(o.instrument, qty, price, now)
        account.trades.append(trade)
        account.trades_by_order.setdefault(o.order_id, []).append(trade)
        self._release_margin(account, o, qty)
        account.position(o.instrument, o.product).apply(o.txn, qty, price)
        if o.status is OrderStatus.TRADED:
            self._disarm(o)
        self._emit(o)
        if o.status is OrderStatus.TRADED:
            self._on_done(o)

    def fill_now(self, o: Order, qty: int, price: float | None) -> Order:
        """Admin: fill ``qty`` of an open, accepted order at ``price`` (default LTP) right now."""
        if not o.is_open or o.status is OrderStatus.TRANSIT:
            raise order_error(f"Order is {o.status.value}; only an accepted open order can fill")
        if qty <= 0 or qty > o.remaining or qty % o.instrument.lot_size:
            raise bad_input(f"quantity must be a lot multiple between 1 and {o.remaining}")
        fill_price = price if price is not None else self.market.ltp(o.instrument)
        if fill_price <= 0:
            raise bad_input("price must be greater than 0")
        self._fill(o, qty, o.instrument.round_to_tick(fill_price))
        return o

    def _expire_ioc(self, o: Order) -> None:
        status = OrderStatus(self.settings.switches.ioc_remainder_status)
        self._finish(o, status)

    def _finish(self, o: Order, status: OrderStatus) -> None:
        """Close an open order as CANCELLED / EXPIRED, releasing its remaining margin."""
        account = self.accounts[o.account_id]
        self._release_margin(account, o, o.remaining)
        o.status = status
        o.update_time = ist_now()
        self._disarm(o)
        self._emit(o)
        self._on_done(o)

    # --- modify / cancel ---------------------------------------------------------------------

    def _check_modifiable(self, o: Order) -> None:
        if not o.is_open:
            raise order_error(f"Order is already {o.status.value}; it cannot be modified")
        if o.modifications >= MAX_MODIFICATIONS_PER_ORDER:
            raise order_error(
                f"Maximum {MAX_MODIFICATIONS_PER_ORDER} modifications allowed per order"
            )

    def modify(self, account: Account, order_id: str, req: ModifyRequest) -> Order:
        self._check_tradable(account)
        o = self.order(account, order_id)
        if o.kind.is_super:
            raise bad_input("Use /super/orders/{order-id} to modify a super order")
        if req.leg_name in _EXIT_LEG_NAMES and o.leg_name is not req.leg_name:
            leg = o.legs.get(req.leg_name)
            if leg is None:
                raise order_error(f"{req.leg_name.value} of order {order_id} is not active yet")
            o = leg
        self._check_modifiable(o)
        order_type = req.order_type or o.order_type
        if o.kind.is_exit_leg and order_type is not o.order_type:
            raise bad_input("The order type of a bracket or cover leg cannot be changed")
        validity = req.validity or o.validity
        inst = o.instrument
        quantity = quantity_rules(req.quantity if req.quantity is not None else o.quantity, inst)
        if quantity <= o.filled_qty:
            raise bad_input(f"quantity must exceed the traded quantity {o.filled_qty}")
        if inst.freeze_qty and quantity > inst.freeze_qty and self.settings.switches.freeze_limit:
            raise order_error(f"Quantity {quantity} is above the freeze quantity {inst.freeze_qty}")
        price_in = req.price if req.price is not None else o.price
        trigger_in = req.trigger_price if req.trigger_price is not None else o.trigger_price
        if o.kind is OrderKind.CO_ENTRY:
            price, _ = price_rules(order_type, o.txn, price_in, 0.0, inst)
            trigger = trigger_in
            tick_rule(trigger, inst, "triggerPrice")
        else:
            price, trigger = price_rules(order_type, o.txn, price_in, trigger_in, inst)
        disclosed = disclosed_rules(
            req.disclosed_qty if req.disclosed_qty is not None else o.disclosed_qty, quantity
        )
        retrigger = order_type is not o.order_type or trigger != o.trigger_price
        if order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET) and (
            retrigger or not o.triggered
        ):
            ltp = self.market.ltp(inst)
            if o.txn is TransactionType.BUY and trigger <= ltp:
                raise order_error("Trigger price for a stop-loss buy order should be above LTP")
            if o.txn is TransactionType.SELL and trigger >= ltp:
                raise order_error("Trigger price for a stop-loss sell order should be below LTP")
        if o.by_request:
            self._rebalance_margin(account, o, quantity, order_type, price, trigger)
        o.order_type, o.validity, o.quantity = order_type, validity, quantity
        o.price, o.disclosed_qty = price, disclosed
        if retrigger:
            o.trigger_price = trigger
            o.triggered = False
        o.protection_price = 0.0
        if o.status is not OrderStatus.TRANSIT:
            self._protect(o)  # a new band from today's LTP, shown in the modify's own frame
        o.modifications += 1
        o.update_time = ist_now()
        self._emit(o)
        self._evaluate(o, arrival=True)
        return o

    def _rebalance_margin(
        self,
        account: Account,
        o: Order,
        quantity: int,
        order_type: OrderType,
        price: float,
        trigger: float,
    ) -> None:
        ref = price or trigger or self.market.ltp(o.instrument)
        if order_type is OrderType.MARKET:
            ref = self.market.ltp(o.instrument)
        per_unit = margin_per_unit(o.instrument, o.product, o.txn, ref)
        remaining = quantity - o.filled_qty
        opening = self._opening_qty(account, o.instrument, o.product, o.txn, remaining)
        new_block = opening * per_unit
        old_block = o.remaining * o.margin_per_unit
        extra = new_block - old_block
        if self.settings.switches.check_funds and extra > account.available_balance() + 1e-6:
            raise order_error(
                f"RMS:Margin Exceeds: You have insufficient funds. Required additional margin "
                f"{extra:.2f}, available balance {account.available_balance():.2f}"
            )
        account.blocked_margin = max(0.0, account.blocked_margin + extra)
        o.margin_per_unit = new_block / remaining if remaining else 0.0

    def cancel(self, account: Account, order_id: str) -> Order:
        o = self.order(account, order_id)
        if not o.is_open:
            raise order_error(f"Order is already {o.status.value}; it cannot be cancelled")
        self._finish(o, OrderStatus.CANCELLED)
        return o

    # --- hooks for order families (CO / BO / super orders: see ``exchange``) -------------

    def _on_done(self, o: Order) -> None:
        """Called once when ``o`` reaches a terminal status."""

    def _on_price(self, o: Order) -> None:
        """Called for each working order of an instrument before it is re-evaluated."""

    # --- day / admin ---------------------------------------------------------------------------

    def _close_open_orders(self, orders: Callable[[], list[Order]], status: OrderStatus) -> int:
        """Close every open order; repeat, because closing a part-filled CO/BO entry creates
        its exit legs, which are open too."""
        count = 0
        while True:
            still_open = [o for o in orders() if o.is_open]
            if not still_open:
                return count
            for o in still_open:
                if o.is_open:
                    self._finish(o, status)
                    count += 1

    def end_of_day(self) -> int:
        """Expire every open order (all are DAY orders), then carry each account's positions
        into the next day (``Account.carry_into_next_day``); returns how many expired."""
        expired = self._close_open_orders(
            lambda: [o for a in self.accounts.values() for o in a.orders.values()],
            OrderStatus.EXPIRED,
        )
        for account in self.accounts.values():
            account.carry_into_next_day(self.market.ltp)
        return expired

    def exit_all(
        self, account: Account, products: frozenset[ProductType] | None = None
    ) -> list[Order]:
        """``DELETE /positions``: cancel every open order, then square off every position
        with a MARKET order at the broker's hand; returns the square-off orders. With
        ``products``, only the orders and positions of those products (the P&L exit)."""

        def open_orders() -> list[Order]:
            return [o for o in account.orders.values() if products is None or o.product in products]

        self._close_open_orders(open_orders, OrderStatus.CANCELLED)
        exits: list[Order] = []
        for pos in list(account.positions.values()):
            net = pos.open_qty  # sold holdings are not squared off (bought back)
            if not net or (products is not None and pos.product not in products):
                continue
            req = PlaceRequest(
                instrument=pos.instrument,
                txn=TransactionType.SELL if net > 0 else TransactionType.BUY,
                product=pos.product,
                order_type=OrderType.MARKET,
                validity=Validity.DAY,
                quantity=abs(net),
                price=0.0,
            )
            # a position above the freeze quantity is squared off in pieces within it
            exits.extend(self.place(account, piece, plain=True) for piece in _pieces(req))
        return exits


def _pieces(req: PlaceRequest) -> list[PlaceRequest]:
    """``req`` as orders of at most the largest lot multiple within the freeze quantity."""
    inst = req.instrument
    if not inst.freeze_qty or req.quantity <= inst.freeze_qty:
        return [req]
    chunk = max(inst.lot_size, inst.freeze_qty // inst.lot_size * inst.lot_size)
    sizes = [chunk] * (req.quantity // chunk)
    if req.quantity % chunk:
        sizes.append(req.quantity % chunk)
    return [replace(req, quantity=q) for q in sizes]
