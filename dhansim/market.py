"""Last traded prices of the simulated market: a seeded random walk, pinnable by the admin API.

``PUT /sim/ltp/...`` pins an instrument (the walk leaves it alone) so tests decide exactly when a
limit, stop or bracket leg fires. An instrument can also be made illiquid: nothing fills in it.
"""

from __future__ import annotations

import random

from dhansim.instruments import Instrument, InstrumentMaster


class Market:
    """LTP and liquidity per instrument; owned by one simulator."""

    def __init__(self, master: InstrumentMaster, rng: random.Random) -> None:
        self._master = master
        self._rng = rng
        self._ltp: dict[tuple[str, str], float] = {}
        self._pinned: set[tuple[str, str]] = set()
        self._illiquid: set[tuple[str, str]] = set()
        #: the day's [open, high, low] per instrument, from its first price on
        self._range: dict[tuple[str, str], list[float]] = {}
        #: the day's trades per instrument: [volume, traded value, last quantity], last time
        self._trades: dict[tuple[str, str], tuple[int, float, int, str]] = {}

    def ltp(self, inst: Instrument) -> float:
        value = self._ltp.get(inst.key)
        if value is None:
            value = self._ltp[inst.key] = inst.initial_ltp
        return value

    def ltp_by_key(self, segment: str, security_id: str) -> float | None:
        inst = self._master.get(segment, security_id)
        return self.ltp(inst) if inst else None

    def is_liquid(self, inst: Instrument) -> bool:
        return inst.key not in self._illiquid

    def _moved(self, inst: Instrument, ltp: float) -> None:
        day = self._range.get(inst.key)
        if day is None:
            first = self.ltp(inst)
            day = self._range[inst.key] = [first, first, first]
        day[1] = max(day[1], ltp)
        day[2] = min(day[2], ltp)

    def ohlc(self, inst: Instrument) -> dict[str, float]:
        """The day's open, high, low, and the previous close (the master's price)."""
        ltp = self.ltp(inst)
        open_, high, low = self._range.get(inst.key, (ltp, ltp, ltp))
        return {"open": open_, "close": inst.initial_ltp, "high": high, "low": low}

    def record_trade(self, inst: Instrument, qty: int, price: float, time_text: str) -> None:
        volume, value, _last, _time = self._trades.get(inst.key, (0, 0.0, 0, ""))
        self._trades[inst.key] = (volume + qty, value + qty * price, qty, time_text)

    def trades(self, inst: Instrument) -> tuple[int, float, int, str]:
        """(volume, traded value, last quantity, last trade time) of the day's fills."""
        return self._trades.get(inst.key, (0, 0.0, 0, ""))

    def set(
        self, inst: Instrument, ltp: float, *, pin: bool = True, liquid: bool | None = None
    ) -> None:
        self._moved(inst, inst.round_to_tick(ltp))
        self._ltp[inst.key] = inst.round_to_tick(ltp)
        if pin:
            self._pinned.add(inst.key)
        else:
            self._pinned.discard(inst.key)
        if liquid is True:
            self._illiquid.discard(inst.key)
        elif liquid is False:
            self._illiquid.add(inst.key)

    def walk(self, volatility: float) -> list[Instrument]:
        """Move every unpinned instrument one seeded step; returns the ones that moved."""
        moved = []
        for inst in self._master:
            if inst.key in self._pinned:
                continue
            old = self.ltp(inst)
            step = old * self._rng.gauss(0.0, volatility)
            new = max(inst.tick_size, inst.round_to_tick(old + step))
            if new != old:
                self._moved(inst, new)
                self._ltp[inst.key] = new
                moved.append(inst)
        return moved

    def snapshot(self, inst: Instrument) -> dict[str, object]:
        return {
            "exchangeSegment": inst.segment.value,
            "securityId": inst.security_id,
            "ltp": self.ltp(inst),
            "pinned": inst.key in self._pinned,
            "liquid": self.is_liquid(inst),
        }
