"""The simulated broker: the matching engine plus order families.

CO / BO: when the entry finishes with a fill, exit legs with their own orderIds are created,
linked to the entry (``parent_id`` = AlgoOrdNo). Super orders: one orderId, exit legs armed
when the entry trades, trailing stop, leg-wise modify and cancel. Broker OCO: a traded exit leg
cancels its sibling while the ``broker_oco`` switch is on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from dhan.codes import (
    MAX_MODIFICATIONS_PER_ORDER,
    LegName,
    OrderStatus,
    OrderType,
    TransactionType,
    Validity,
)
from dhansim.account import Account
from dhansim.clock import ist_now
from dhansim.errors import SimError, bad_input, order_error, order_not_found
from dhansim.forever import ForeverOrder, apply_forever_modify
from dhansim.instruments import Instrument
from dhansim.matching import MatchingEngine
from dhansim.orders import Order, OrderKind
from dhansim.pnl_exit import PnlExit, day_pnl
from dhansim.validation import (
    PlaceRequest,
    SuperModifyRequest,
    SuperPlaceRequest,
    quantity_rules,
    request_fields,
    super_price_rules,
    tick_rule,
)

_OPPOSITE = {TransactionType.BUY: TransactionType.SELL, TransactionType.SELL: TransactionType.BUY}


class Exchange(MatchingEngine):
    """Order book, matching and CO/BO/super-order rules for every account of one simulator,
    plus the account-level P&L exit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: accounts whose P&L exit is armed, checked on every price change and fill
        self._pnl_watch: dict[str, Account] = {}
        #: armed forever orders by instrument, checked on each of its price changes
        self._forever_armed: dict[tuple[str, str], dict[str, ForeverOrder]] = {}

    # --- P&L based exit --------------------------------------------------------------------

    def set_pnl_exit(self, account: Account, config: PnlExit | None) -> None:
        """Arm (or, with None, stop) the account's P&L exit; a breached one fires at once."""
        account.pnl_exit = config
        if config is None:
            self._pnl_watch.pop(account.client_id, None)
            return
        self._pnl_watch[account.client_id] = account
        self._check_pnl_exit(account)

    def _check_pnl_exit(self, account: Account) -> None:
        config = account.pnl_exit
        if config is None or not config.active:
            return
        if not config.breached(day_pnl(account.positions, config.products, self.market.ltp)):
            return
        config.active = False
        self._pnl_watch.pop(account.client_id, None)
        self.exit_all(account, config.products)
        if config.kill_switch:
            account.kill_switch = True  # after the square-off orders: they are the broker's

    # --- forever orders (GTT) -----------------------------------------------------------------

    def new_forever_id(self) -> str:
        """Forever orders draw from the order-id sequence: never the id of an order."""
        order_id = str(self._next_id)
        self._next_id += 1
        return order_id

    def place_forever(self, account: Account, fo: ForeverOrder) -> ForeverOrder:
        self._check_tradable(account)
        account.forever[fo.order_id] = fo
        self._arm_forever(fo)
        return fo

    def forever(self, account: Account, order_id: str) -> ForeverOrder:
        fo = account.forever.get(order_id)
        if fo is None:
            raise order_not_found("Forever order not found")
        return fo

    def modify_forever(self, account: Account, order_id: str, body: object) -> ForeverOrder:
        self._check_tradable(account)
        fo = self.forever(account, order_id)
        if not fo.is_armed:
            raise order_error(f"Forever order is already {fo.status.value}; it cannot be modified")
        apply_forever_modify(fo, body, account.client_id)
        self._arm_forever(fo)
        return fo

    def cancel_forever(self, account: Account, order_id: str) -> ForeverOrder:
        fo = self.forever(account, order_id)
        if not fo.is_armed:
            raise order_error(f"Forever order is already {fo.status.value}; it cannot be cancelled")
        fo.status = OrderStatus.CANCELLED
        fo.update_time = ist_now()
        self._forever_armed.get(fo.instrument.key, {}).pop(fo.order_id, None)
        return fo

    def _arm_forever(self, fo: ForeverOrder) -> None:
        """(Re-)fix each leg's direction from the LTP now; a leg already at its trigger fires."""
        ltp = self.market.ltp(fo.instrument)
        for leg in fo.legs:
            leg.rising = leg.trigger_price >= ltp
        self._forever_armed.setdefault(fo.instrument.key, {})[fo.order_id] = fo
        self._check_forever(fo, ltp)

    def _check_forever(self, fo: ForeverOrder, ltp: float) -> None:
        leg = next((leg for leg in fo.legs if leg.crossed(ltp)), None)
        if leg is None or not fo.is_armed:
            return
        self._forever_armed.get(fo.instrument.key, {}).pop(fo.order_id, None)
        account = self.accounts[fo.account_id]
        fo.fired_leg = leg.name
        fo.update_time = ist_now()
        req = PlaceRequest(
            instrument=fo.instrument,
            txn=fo.txn,
            product=fo.product,
            order_type=fo.order_type,
            validity=fo.validity,
            quantity=leg.quantity,
            price=leg.price,
            disclosed_qty=min(fo.disclosed_qty, leg.quantity),
            correlation_id=fo.correlation_id,
        )
        try:
            o = self.place(account, req, forever=fo)
        except SimError as exc:  # kill switch or funds: the trigger's order is refused
            fo.status = OrderStatus.REJECTED
            fo.rejection = exc.message
            return
        fo.status = OrderStatus.TRADED  # triggered: its order lives on in the order book (U)
        fo.order_placed = o.order_id

    def forever_book(self, account: Account) -> list[ForeverOrder]:
        return list(account.forever.values())

    def end_of_day(self) -> int:
        """Expire every open order; the day's P&L exits end too."""
        for account in self.accounts.values():
            self.set_pnl_exit(account, None)
        return super().end_of_day()

    def on_ltp(self, inst: Instrument) -> None:
        super().on_ltp(inst)
        armed = self._forever_armed.get(inst.key)
        if armed:
            ltp = self.market.ltp(inst)
            for fo in list(armed.values()):
                self._check_forever(fo, ltp)
        for account in list(self._pnl_watch.values()):
            self._check_pnl_exit(account)

    def _fill(self, o: Order, qty: int, price: float) -> None:
        super()._fill(o, qty, price)
        account = self._pnl_watch.get(o.account_id)
        if account is not None:
            self._check_pnl_exit(account)

    def cancel(self, account: Account, order_id: str) -> Order:
        o = self.order(account, order_id)
        if o.kind is OrderKind.SUPER_ENTRY:
            return self.cancel_super_leg(account, order_id, LegName.ENTRY_LEG)
        return super().cancel(account, order_id)

    def super_book(self, account: Account) -> Iterator[Order]:
        for o in account.orders.values():
            if o.kind is OrderKind.SUPER_ENTRY:
                yield o

    def place_super(self, account: Account, req: SuperPlaceRequest) -> Order:
        self._check_tradable(account)
        entry = self._new_order(
            account,
            validity=Validity.DAY,
            trigger_price=0.0,
            kind=OrderKind.SUPER_ENTRY,
            leg_name=LegName.ENTRY_LEG,
            **request_fields(req),
        )
        exit_side = _OPPOSITE[req.txn]
        if req.target_price:
            entry.legs[LegName.TARGET_LEG] = self._super_leg(
                entry, LegName.TARGET_LEG, OrderKind.SUPER_TARGET, exit_side
            )
        if req.stop_loss_price:
            entry.legs[LegName.STOP_LOSS_LEG] = self._super_leg(
                entry, LegName.STOP_LOSS_LEG, OrderKind.SUPER_STOP, exit_side
            )
        self._block_margin(account, entry)
        self._register(account, entry)
        for leg in entry.legs.values():
            account.orders[leg.key] = leg
        self._emit(entry)
        self._schedule_accept(entry)
        return entry

    def _super_leg(
        self, entry: Order, name: LegName, kind: OrderKind, side: TransactionType
    ) -> Order:
        is_target = name is LegName.TARGET_LEG
        leg = Order(
            key=f"{entry.order_id}:{name.value}",
            order_id=entry.order_id,
            account_id=entry.account_id,
            instrument=entry.instrument,
            txn=side,
            product=entry.product,
            order_type=OrderType.LIMIT if is_target else OrderType.STOP_LOSS_MARKET,
            validity=Validity.DAY,
            quantity=entry.quantity,
            price=entry.target_price if is_target else 0.0,
            trigger_price=0.0 if is_target else entry.stop_loss_price,
            kind=kind,
            correlation_id=entry.correlation_id,
            leg_name=name,
            trailing_jump=0.0 if is_target else entry.trailing_jump,
            status=OrderStatus.PENDING,
            create_time=entry.create_time,
            update_time=entry.update_time,
            by_request=False,
        )
        return leg

    def _on_price(self, leg: Order) -> None:
        """Move a super-order stop one ``trailingJump`` per full jump of favourable price."""
        if leg.kind is not OrderKind.SUPER_STOP or not leg.trailing_jump or leg.triggered:
            return
        ltp = self.market.ltp(leg.instrument)
        jump = leg.trailing_jump
        # The stop of a long (a SELL leg) trails upwards; of a short, downwards.
        gain = ltp - leg.trail_anchor if leg.txn is TransactionType.SELL else leg.trail_anchor - ltp
        steps = math.floor(gain / jump + 1e-9)
        if steps <= 0:
            return
        delta = steps * jump if leg.txn is TransactionType.SELL else -steps * jump
        leg.trail_anchor += delta
        leg.trigger_price = leg.instrument.round_to_tick(leg.trigger_price + delta)
        leg.update_time = ist_now()
        self._emit(leg)

    def _on_done(self, o: Order) -> None:
        if o.kind is OrderKind.PLAIN:
            return  # a plain order has no family to update
        if o.kind in (OrderKind.CO_ENTRY, OrderKind.BO_ENTRY):
            if o.filled_qty and not o.legs:
                self._create_bracket_legs(o)
        elif o.kind is OrderKind.SUPER_ENTRY:
            self._settle_super_entry(o)
        elif (
            o.kind.is_exit_leg
            and o.status is OrderStatus.TRADED
            and self.settings.switches.broker_oco
        ):
            for sibling in self._siblings(o):
                if sibling.is_open:
                    self._finish(sibling, OrderStatus.CANCELLED)

    def _siblings(self, leg: Order) -> list[Order]:
        if leg.kind.is_super:
            entry = self._by_order_id[leg.order_id]
        else:
            entry = self._by_order_id[leg.parent_id]
        return [x for x in entry.legs.values() if x is not leg]

    def _create_bracket_legs(self, entry: Order) -> None:
        account = self.accounts[entry.account_id]
        inst = entry.instrument
        side = _OPPOSITE[entry.txn]
        avg = entry.avg_price
        sign = 1.0 if entry.txn is TransactionType.BUY else -1.0
        specs: list[tuple[LegName, OrderKind, OrderType, float, float]] = []
        if entry.kind is OrderKind.CO_ENTRY:
            specs.append(
                (
                    LegName.STOP_LOSS_LEG,
                    OrderKind.CO_STOP,
                    OrderType.STOP_LOSS_MARKET,
                    0.0,
                    entry.trigger_price,
                )
            )
        else:
            if self.settings.switches.bo_values_absolute:
                target, stop = entry.bo_profit_value, entry.bo_stop_loss_value
            else:
                target = avg + sign * entry.bo_profit_value
                stop = avg - sign * entry.bo_stop_loss_value
            specs.append((LegName.TARGET_LEG, OrderKind.BO_TARGET, OrderType.LIMIT, target, 0.0))
            specs.append(
                (LegName.STOP_LOSS_LEG, OrderKind.BO_STOP, OrderType.STOP_LOSS_MARKET, 0.0, stop)
            )
        legs = []
        for name, kind, order_type, price, trigger in specs:
            leg = self._new_order(
                account,
                instrument=inst,
                txn=side,
                product=entry.product,
                order_type=order_type,
                validity=Validity.DAY,
                quantity=entry.filled_qty,
                price=inst.round_to_tick(max(price, 0.0)),
                trigger_price=inst.round_to_tick(max(trigger, 0.0)),
                kind=kind,
                correlation_id=entry.correlation_id,
                leg_name=name,
                parent_id=entry.order_id,
                bo_profit_value=entry.bo_profit_value,
                bo_stop_loss_value=entry.bo_stop_loss_value,
                by_request=False,
            )
            leg.status = OrderStatus.PENDING
            leg.exchange_order_id = str(self._next_exch_id)
            self._next_exch_id += 1
            entry.legs[name] = leg
            self._register(account, leg)
            legs.append(leg)
        for leg in legs:
            self._emit(leg)
        for leg in legs:
            if leg.is_open:
                self._arm(leg)

    def _settle_super_entry(self, entry: Order) -> None:
        if entry.filled_qty:
            for leg in entry.legs.values():
                if not leg.is_open:
                    continue
                leg.quantity = entry.filled_qty
                leg.trail_anchor = entry.avg_price
                leg.exchange_order_id = str(self._next_exch_id)
                self._next_exch_id += 1
                leg.update_time = ist_now()
                self._emit(leg)
            for leg in list(entry.legs.values()):
                if leg.is_open and leg.key not in self._working.get(leg.instrument.key, {}):
                    self._arm(leg)
        else:
            for leg in entry.legs.values():
                if leg.is_open:
                    leg.status = OrderStatus.CANCELLED
                    leg.update_time = ist_now()
                    self._emit(leg)

    def modify_super(self, account: Account, order_id: str, req: SuperModifyRequest) -> Order:
        self._check_tradable(account)
        entry = self.order(account, order_id)
        if entry.kind is not OrderKind.SUPER_ENTRY:
            raise order_not_found("Super order not found")
        inst = entry.instrument
        if req.leg_name is LegName.ENTRY_LEG:
            if entry.status not in (
                OrderStatus.TRANSIT,
                OrderStatus.PENDING,
                OrderStatus.PART_TRADED,
            ):
                raise order_error(
                    "The entry leg can be modified only while it is PENDING or PART_TRADED"
                )
            self._check_modifiable(entry)
            order_type = req.order_type or entry.order_type
            quantity = quantity_rules(req.quantity or entry.quantity, inst)
            if quantity <= entry.filled_qty:
                raise bad_input(f"quantity must exceed the traded quantity {entry.filled_qty}")
            price = req.price if req.price else entry.price
            if order_type is OrderType.MARKET:
                price = 0.0
            elif price <= 0:
                raise bad_input("price is required and must be greater than 0 for LIMIT")
            target = req.target_price if req.target_price else entry.target_price
            stop = req.stop_loss_price if req.stop_loss_price else entry.stop_loss_price
            jump = req.trailing_jump if req.trailing_jump is not None else 0.0
            for value, name in (
                (price, "price"),
                (target, "targetPrice"),
                (stop, "stopLossPrice"),
                (jump, "trailingJump"),
            ):
                tick_rule(value, inst, name)
            super_price_rules(entry.txn, price or self.market.ltp(inst), target, stop)
            self._rebalance_margin(account, entry, quantity, order_type, price, 0.0)
            entry.order_type, entry.quantity, entry.price = order_type, quantity, price
            entry.target_price, entry.stop_loss_price, entry.trailing_jump = target, stop, jump
            entry.protection_price = 0.0
            if entry.status is not OrderStatus.TRANSIT:
                self._protect(entry)
            for name, exit_leg in entry.legs.items():
                exit_leg.quantity = quantity
                if name is LegName.TARGET_LEG:
                    exit_leg.price = target
                else:
                    exit_leg.trigger_price, exit_leg.trailing_jump = stop, jump
            entry.modifications += 1
            entry.update_time = ist_now()
            self._emit(entry)
            self._evaluate(entry, arrival=True)
            return entry
        leg = entry.legs.get(req.leg_name)
        if leg is None or leg.status is OrderStatus.CANCELLED:
            raise order_error(f"{req.leg_name.value} is cancelled or absent; it cannot be modified")
        if not leg.is_open:
            raise order_error(f"{req.leg_name.value} is already {leg.status.value}")
        if entry.modifications >= MAX_MODIFICATIONS_PER_ORDER:
            raise order_error(
                f"Maximum {MAX_MODIFICATIONS_PER_ORDER} modifications allowed per order"
            )
        ltp = self.market.ltp(inst)
        if req.leg_name is LegName.TARGET_LEG:
            if not req.target_price:
                raise bad_input("targetPrice is required to modify the TARGET_LEG")
            tick_rule(req.target_price, inst, "targetPrice")
            leg.price = entry.target_price = req.target_price
        else:
            if not req.stop_loss_price:
                raise bad_input("stopLossPrice is required to modify the STOP_LOSS_LEG")
            tick_rule(req.stop_loss_price, inst, "stopLossPrice")
            jump = req.trailing_jump or 0.0  # Dhan: a missing or 0 jump cancels trailing
            tick_rule(jump, inst, "trailingJump")
            armed = entry.status is OrderStatus.TRADED or entry.filled_qty > 0
            if armed and not leg.triggered and self._stop_crossed(leg, ltp):
                raise order_error("stopLossPrice is already crossed by the last traded price")
            leg.trigger_price = entry.stop_loss_price = req.stop_loss_price
            leg.trailing_jump = entry.trailing_jump = jump
            leg.trail_anchor = ltp
        entry.modifications += 1
        leg.update_time = entry.update_time = ist_now()
        self._emit(leg)
        if leg.key in self._working.get(inst.key, {}):
            self._evaluate(leg, arrival=False)
        return entry

    def cancel_super_leg(self, account: Account, order_id: str, leg_name: LegName) -> Order:
        entry = self.order(account, order_id)
        if entry.kind is not OrderKind.SUPER_ENTRY:
            raise order_not_found("Super order not found")
        if leg_name is LegName.ENTRY_LEG:
            open_parts = [x for x in (entry, *entry.legs.values()) if x.is_open]
            if not open_parts:
                raise order_error("Super order has no open leg to cancel")
            if entry.is_open:
                # Cancelling the entry cancels every leg, also when part of it traded.
                for exit_leg in entry.legs.values():
                    if exit_leg.is_open:
                        self._finish(exit_leg, OrderStatus.CANCELLED)
                self._finish(entry, OrderStatus.CANCELLED)
            else:
                for exit_leg in entry.legs.values():
                    if exit_leg.is_open:
                        self._finish(exit_leg, OrderStatus.CANCELLED)
            return entry
        leg = entry.legs.get(leg_name)
        if leg is None:
            raise order_error(f"Super order has no {leg_name.value}")
        if not leg.is_open:
            raise order_error(f"{leg_name.value} is already {leg.status.value}")
        self._finish(leg, OrderStatus.CANCELLED)
        return entry
