"""Market quote (``POST /marketfeed/ltp``, ``/ohlc``, ``/quote``) for the simulated instruments.

Request ``{"NSE_EQ": [11536], "NSE_FNO": [52175]}`` (ids as numbers or strings, at most 1000 in
all); answer ``{"data": {segment: {securityId: {...}}}, "status": "success"}`` with Dhan's
snake_case fields. An id the master does not know is left out. The depth is synthetic: five
levels a tick apart on each side of the LTP (none while the instrument is illiquid).
"""

from __future__ import annotations

from typing import Any

from dhan.codes import ExchangeSegment
from dhansim.errors import bad_input
from dhansim.instruments import Instrument, InstrumentMaster
from dhansim.market import Market
from dhansim.validation import require_object

MAX_INSTRUMENTS = 1000
MODES = ("ltp", "ohlc", "quote")
DEPTH_LEVELS = 5
NO_TRADE_TIME = "01/01/1980 00:00:00"
#: Circuit band shown in a quote (the simulator enforces none).
CIRCUIT_FRACTION = 0.2


def parse_quote_request(body: Any, master: InstrumentMaster) -> list[Instrument]:
    body = require_object(body)
    found: list[Instrument] = []
    count = 0
    for segment, ids in body.items():
        if segment == "dhanClientId":
            continue  # the SDK adds it to every POST body
        if segment not in ExchangeSegment._value2member_map_:
            raise bad_input(f"Invalid exchange segment {segment!r}")
        if not isinstance(ids, list):
            raise bad_input(f"{segment} must map to a list of security ids")
        for raw in ids:
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise bad_input(f"Invalid security id {raw!r} in {segment}")
            count += 1
            inst = master.get(segment, str(raw).strip())
            if inst is not None:
                found.append(inst)
    if count > MAX_INSTRUMENTS:
        raise bad_input(f"At most {MAX_INSTRUMENTS} instruments per request")
    return found


def quote_data(mode: str, instruments: list[Instrument], market: Market) -> dict[str, Any]:
    data: dict[str, dict[str, Any]] = {}
    for inst in instruments:
        data.setdefault(inst.segment.value, {})[inst.security_id] = _one(mode, inst, market)
    return {"data": data, "status": "success"}


def _one(mode: str, inst: Instrument, market: Market) -> dict[str, Any]:
    ltp = market.ltp(inst)
    if mode == "ltp":
        return {"last_price": ltp}
    ohlc = market.ohlc(inst)
    if mode == "ohlc":
        return {"last_price": ltp, "ohlc": ohlc}
    volume, value, last_qty, last_time = market.trades(inst)
    buy, sell = _depth(inst, ltp, market.is_liquid(inst))
    return {
        "average_price": round(value / volume, 4) if volume else 0.0,
        "buy_quantity": sum(level["quantity"] for level in buy),
        "sell_quantity": sum(level["quantity"] for level in sell),
        "depth": {"buy": buy, "sell": sell},
        "last_price": ltp,
        "last_quantity": last_qty,
        "last_trade_time": _feed_time(last_time),
        "lower_circuit_limit": inst.round_to_tick(ohlc["close"] * (1 - CIRCUIT_FRACTION)),
        "upper_circuit_limit": inst.round_to_tick(ohlc["close"] * (1 + CIRCUIT_FRACTION)),
        "net_change": round(ltp - ohlc["close"], 4),
        "ohlc": ohlc,
        "oi": 0,
        "oi_day_high": 0,
        "oi_day_low": 0,
        "volume": volume,
    }


def _depth(
    inst: Instrument, ltp: float, liquid: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not liquid:
        empty = [{"quantity": 0, "orders": 0, "price": 0.0}] * DEPTH_LEVELS
        return list(empty), list(empty)
    tick, lot = inst.tick_size, inst.lot_size
    buy = [
        {"quantity": lot * 10 * k, "orders": k, "price": inst.round_to_tick(ltp - k * tick)}
        for k in range(1, DEPTH_LEVELS + 1)
    ]
    sell = [
        {"quantity": lot * 10 * k, "orders": k, "price": inst.round_to_tick(ltp + k * tick)}
        for k in range(1, DEPTH_LEVELS + 1)
    ]
    return buy, sell


def _feed_time(ist_text: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` as the quote's ``DD/MM/YYYY HH:MM:SS``."""
    if not ist_text:
        return NO_TRADE_TIME
    day, clock = ist_text.split(" ")
    year, month, dom = day.split("-")
    return f"{dom}/{month}/{year} {clock}"
