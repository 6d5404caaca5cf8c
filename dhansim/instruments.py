"""The simulator's instrument master: lot size, tick size and freeze quantity per security.

Loaded from the bundled ``instruments.json`` (real Dhan security ids for the NSE_EQ names;
documented in ``docs/simulator.md``); ``POST /sim/instruments`` adds more at run time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from dhan.codes import SEGMENT_FROM_FEED, ExchangeSegment

_SEGMENTS_EQ = frozenset({ExchangeSegment.NSE_EQ, ExchangeSegment.BSE_EQ})
#: Segment -> the (``EXCH_ID``, ``SEGMENT``) pair that names it in Dhan's scrip master.
_EXCHANGE_OF = {segment: pair for pair, segment in SEGMENT_FROM_FEED.items()}
_INDEX = ("NSE", "I")  # IDX_I: Dhan lists indices under their exchange with segment I
#: The columns of ``GET /api-data/api-scrip-master-detailed.csv``: Dhan's detailed names
#: (https://dhanhq.co/docs/v2/instruments/) the simulator has values for, then ``FREEZE_QTY``.
SCRIP_MASTER_COLUMNS = (
    "EXCH_ID",
    "SEGMENT",
    "SECURITY_ID",
    "ISIN",
    "INSTRUMENT",
    "UNDERLYING_SYMBOL",
    "SYMBOL_NAME",
    "DISPLAY_NAME",
    "LOT_SIZE",
    "SM_EXPIRY_DATE",
    "STRIKE_PRICE",
    "OPTION_TYPE",
    "TICK_SIZE",
    "FREEZE_QTY",
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable security of the master."""

    segment: ExchangeSegment
    security_id: str
    symbol: str
    display_name: str
    instrument: str  # EQUITY, FUTIDX, OPTIDX, FUTSTK, OPTSTK, FUTCOM...
    lot_size: int
    tick_size: float
    initial_ltp: float
    isin: str = ""
    freeze_qty: int = 0  # 0: no freeze limit (slicing never splits)
    expiry_date: str = ""  # YYYY-MM-DD
    strike_price: float = 0.0
    option_type: str = ""  # CE / PE
    underlying: str = ""
    # Derived once at construction (every order, fill and price lookup asks for them):
    # ``key`` = (segment, securityId), the index of every per-instrument map.
    key: tuple[str, str] = field(init=False, repr=False, compare=False)
    is_equity: bool = field(init=False, repr=False, compare=False)
    is_option: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.segment.value, self.security_id))
        object.__setattr__(self, "is_equity", self.segment in _SEGMENTS_EQ)
        object.__setattr__(self, "is_option", self.instrument.startswith("OPT"))

    def on_tick(self, price: float) -> bool:
        """True when ``price`` is a whole number of ticks (to within float noise)."""
        ticks = price / self.tick_size
        return math.isclose(ticks, round(ticks), abs_tol=1e-6)

    def round_to_tick(self, price: float) -> float:
        return round(round(price / self.tick_size) * self.tick_size, 6)

    def to_json(self) -> dict[str, Any]:
        return {
            "exchangeSegment": self.segment.value,
            "securityId": self.security_id,
            "symbol": self.symbol,
            "displayName": self.display_name,
            "instrument": self.instrument,
            "lotSize": self.lot_size,
            "tickSize": self.tick_size,
            "ltp": self.initial_ltp,
            "isin": self.isin,
            "freezeQty": self.freeze_qty,
            "expiryDate": self.expiry_date,
            "strikePrice": self.strike_price,
            "optionType": self.option_type,
            "underlying": self.underlying,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Instrument:
        """Parse one master entry; raises ``ValueError`` naming the bad key."""
        try:
            segment = ExchangeSegment(str(data["exchangeSegment"]))
        except (KeyError, ValueError):
            raise ValueError("exchangeSegment missing or unknown") from None
        security_id = str(data.get("securityId") or "").strip()
        if not security_id.isdigit():
            raise ValueError("securityId must be a numeric string")
        symbol = str(data.get("symbol") or "").strip()
        if not symbol:
            raise ValueError("symbol is required")
        lot_size = _positive_int(data.get("lotSize", 1), "lotSize")
        tick_size = _positive_float(data.get("tickSize", 0.05), "tickSize")
        ltp = _positive_float(data.get("ltp", 100.0), "ltp")
        return cls(
            segment=segment,
            security_id=security_id,
            symbol=symbol,
            display_name=str(data.get("displayName") or symbol),
            instrument=str(data.get("instrument") or "EQUITY"),
            lot_size=lot_size,
            tick_size=tick_size,
            initial_ltp=ltp,
            isin=str(data.get("isin") or ""),
            freeze_qty=int(data.get("freezeQty") or 0),
            expiry_date=str(data.get("expiryDate") or ""),
            strike_price=float(data.get("strikePrice") or 0.0),
            option_type=str(data.get("optionType") or ""),
            underlying=str(data.get("underlying") or ""),
        )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _positive_float(value: Any, name: str) -> float:
    # "not 0 < value < 1e12" also refuses NaN and infinity (JSON admits both).
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e12:
        raise ValueError(f"{name} must be a positive number below 1e12")
    return float(value)


class InstrumentMaster:
    """Instruments by (segment, securityId); owned by one simulator (no module state)."""

    def __init__(self, instruments: list[Instrument] | None = None) -> None:
        self._by_key: dict[tuple[str, str], Instrument] = {}
        for inst in instruments if instruments is not None else load_bundled():
            self.add(inst)

    def add(self, instrument: Instrument) -> None:
        self._by_key[instrument.key] = instrument

    def get(self, segment: str, security_id: str) -> Instrument | None:
        return self._by_key.get((segment, security_id))

    def __iter__(self) -> Iterator[Instrument]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def scrip_master_csv(self) -> str:
        """The master as Dhan's detailed scrip master CSV (``api-scrip-master-detailed.csv``):
        its documented columns the simulator knows, plus ``FREEZE_QTY`` (not in Dhan's file)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SCRIP_MASTER_COLUMNS)
        for inst in self._by_key.values():
            exchange, letter = _EXCHANGE_OF.get(inst.segment, _INDEX)
            writer.writerow(
                (
                    exchange,
                    letter,
                    inst.security_id,
                    inst.isin or "NA",
                    inst.instrument,
                    inst.underlying,
                    inst.symbol,
                    inst.display_name,
                    inst.lot_size,
                    inst.expiry_date,
                    inst.strike_price,
                    inst.option_type,
                    inst.tick_size,
                    inst.freeze_qty or "",
                )
            )
        return out.getvalue()


def load_bundled() -> list[Instrument]:
    """The master shipped in ``dhansim/instruments.json``."""
    text = resources.files("dhansim").joinpath("instruments.json").read_text(encoding="utf-8")
    return [Instrument.from_json(item) for item in json.loads(text)["instruments"]]
