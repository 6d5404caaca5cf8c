"""Position conversion (``POST /positions/convert``), the margin calculator
(``POST /margincalculator``) and the trade history (``GET /trades/{from}/{to}/{page}``)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from dhan.codes import PositionType, ProductType, TransactionType
from dhansim.account import Account, Position
from dhansim.errors import bad_input, order_error
from dhansim.instruments import InstrumentMaster
from dhansim.margin import MARGIN_FRACTION, margin_per_unit
from dhansim.market import Market
from dhansim.orders import Trade, trade_json
from dhansim.validation import (
    check_client_id,
    enum_field,
    float_field,
    instrument_field,
    int_field,
    quantity_rules,
    require_object,
    tick_rule,
)

_EQ_ONLY = frozenset({ProductType.CNC, ProductType.MTF})
_NOT_CONVERTIBLE = frozenset({ProductType.CO, ProductType.BO})
#: Trades per page of the trade history (**U**: Dhan documents paging, not the page size).
HISTORY_PAGE_SIZE = 20
#: Brokerage the margin calculator quotes per order (a flat figure, **U**; nothing is charged).
BROKERAGE = 20.0


def _enum(body: Any, name: str, kind: Any) -> Any:
    value = enum_field(body, name, kind, required=True)
    assert value is not None  # required=True raises instead
    return value


def convert_position(account: Account, body: Any, master: InstrumentMaster) -> None:
    """Move ``convertQty`` of a day position from one product to another (no order, no socket
    frame, as on Dhan); refused when the account cannot afford the new product's margin."""
    body = require_object(body)
    check_client_id(body, account.client_id)
    inst = instrument_field(body, master)
    source = _enum(body, "fromProductType", ProductType)
    target = _enum(body, "toProductType", ProductType)
    side = _enum(body, "positionType", PositionType)
    if source is target:
        raise bad_input("fromProductType and toProductType must differ")
    for product in (source, target):
        if product in _NOT_CONVERTIBLE:
            raise bad_input(f"{product.value} positions cannot be converted")
        if product in _EQ_ONLY and not inst.is_equity:
            raise bad_input(f"productType {product.value} is allowed only for equity segments")
        if product is ProductType.MARGIN and inst.is_equity:
            raise bad_input("productType MARGIN is not allowed for equity segments")
    if side is PositionType.CLOSED:
        raise bad_input("positionType must be LONG or SHORT")
    qty = quantity_rules(int_field(body, "convertQty"), inst, "convertQty")
    pos = account.positions.get((*inst.key, source.value))
    net = pos.open_qty if pos is not None else 0  # not holdings a CNC sale sold
    held = net if side is PositionType.LONG else -net
    if pos is None or held < qty:
        raise order_error(
            f"No {side.value} {source.value} position of {qty} in {inst.symbol} to convert"
        )
    before = account.available_balance()
    source_key = (*inst.key, source.value)
    dest_key = (*inst.key, target.value)
    created = dest_key not in account.positions
    dest = account.position(inst, target)
    saved = (copy.copy(pos), copy.copy(dest))
    _move(pos, dest, side, qty)
    after = account.available_balance()
    if after < 0 and after < before:  # undo: the new product needs more than is free
        account.positions[source_key] = saved[0]
        if created:
            del account.positions[dest_key]
        else:
            account.positions[dest_key] = saved[1]
        raise order_error(
            "RMS:Margin Exceeds: You have insufficient funds to convert this position"
        )


def _move(pos: Position, dest: Position, side: PositionType, qty: int) -> None:
    """Move ``qty`` of ``pos``'s long or short, at its average, to ``dest``: today's part
    first; what must come from the carried part stays carried in ``dest``."""
    if side is PositionType.LONG:
        value = qty * pos.buy_avg
        pos.buy_qty, pos.buy_value = pos.buy_qty - qty, pos.buy_value - value
        dest.buy_qty, dest.buy_value = dest.buy_qty + qty, dest.buy_value + value
        carried = pos.cf_buy_qty - pos.buy_qty
        if carried > 0:
            cf_value = carried * pos.cf_buy_value / pos.cf_buy_qty
            pos.cf_buy_qty, pos.cf_buy_value = pos.buy_qty, pos.cf_buy_value - cf_value
            dest.cf_buy_qty, dest.cf_buy_value = (
                dest.cf_buy_qty + carried,
                dest.cf_buy_value + cf_value,
            )
    else:
        value = qty * pos.sell_avg
        pos.sell_qty, pos.sell_value = pos.sell_qty - qty, pos.sell_value - value
        dest.sell_qty, dest.sell_value = dest.sell_qty + qty, dest.sell_value + value
        carried = pos.cf_sell_qty - pos.sell_qty
        if carried > 0:
            cf_value = carried * pos.cf_sell_value / pos.cf_sell_qty
            pos.cf_sell_qty, pos.cf_sell_value = pos.sell_qty, pos.cf_sell_value - cf_value
            dest.cf_sell_qty, dest.cf_sell_value = (
                dest.cf_sell_qty + carried,
                dest.cf_sell_value + cf_value,
            )


def margin_calculator(
    account: Account, body: Any, master: InstrumentMaster, market: Market
) -> dict[str, Any]:
    """``POST /margincalculator``: the simulator's margin model for one order (as ``POST
    /orders`` blocks it for an opening order at ``price``, or the LTP when 0)."""
    body = require_object(body)
    check_client_id(body, account.client_id)
    inst = instrument_field(body, master)
    txn = _enum(body, "transactionType", TransactionType)
    product = _enum(body, "productType", ProductType)
    qty = quantity_rules(int_field(body, "quantity"), inst)
    price = float_field(body, "price") or 0.0
    trigger = float_field(body, "triggerPrice") or 0.0
    tick_rule(price, inst, "price")
    tick_rule(trigger, inst, "triggerPrice")
    ref = price or trigger or market.ltp(inst)
    total = round(qty * margin_per_unit(inst, product, txn, ref), 2)
    available = round(account.available_balance(), 2)
    derivative = not inst.is_equity and not (inst.is_option and txn is TransactionType.BUY)
    span = round(total * 0.75, 2) if derivative else 0.0
    fraction = MARGIN_FRACTION[product]
    return {
        "totalMargin": total,
        "spanMargin": span,
        "exposureMargin": round(total - span, 2) if derivative else 0.0,
        "availableBalance": available,
        "variableMargin": 0.0 if derivative else total,
        "insufficientBalance": round(max(0.0, total - available), 2),
        "brokerage": 0.0 if product is ProductType.CNC else BROKERAGE,
        "leverage": f"{1 / fraction:.2f}" if not inst.is_option else "1.00",
    }


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad_input(f"Invalid {name} {text!r}: expected YYYY-MM-DD") from None


def trade_history(
    trades: list[Trade], from_text: str, to_text: str, page_text: str, *, mpp_as_limit: bool
) -> list[dict[str, Any]]:
    """``GET /trades/{from}/{to}/{page}``: the fills of those days (the simulator keeps only
    today's), ``HISTORY_PAGE_SIZE`` a page from page 0, with the history's extra fields."""
    first, last = _day(from_text, "from-date"), _day(to_text, "to-date")
    if first > last:
        raise bad_input("from-date must not be after to-date")
    if not page_text.isdigit():
        raise bad_input(f"Invalid page {page_text!r}: expected 0, 1, 2...")
    page = int(page_text)
    chosen = [t for t in trades if first <= date.fromisoformat(t.time[:10]) <= last]
    out = []
    for t in chosen[page * HISTORY_PAGE_SIZE : (page + 1) * HISTORY_PAGE_SIZE]:
        record = trade_json(t, mpp_as_limit=mpp_as_limit)
        record.update(
            {
                "isin": t.instrument.isin,
                "instrument": t.instrument.instrument,
                "sebiTax": 0.0,
                "stt": 0.0,
                "brokerageCharges": 0.0,
                "serviceTax": 0.0,
                "exchangeTransactionCharges": 0.0,
                "stampDuty": 0.0,
            }
        )
        out.append(record)
    return out
