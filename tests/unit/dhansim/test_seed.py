"""``--seed`` / ``running(seed=...)`` fixes the price walk and the fault draws of a simulator."""

from __future__ import annotations

import asyncio

from dhansim.faults import RestFaults
from dhansim.server import SimCore
from dhansim.switches import Switches

STEPS = 40


def _run(seed: int) -> tuple[list[list[float]], list[bool], list[float]]:
    """Walk prices and draw faults on a fresh core; return what a client would observe."""

    async def observe() -> tuple[list[list[float]], list[bool], list[float]]:
        core = SimCore(seed=seed, switches=Switches(), journal_size=10)
        instruments = list(core.master)
        prices = []
        for _ in range(STEPS):
            core.market.walk(0.002)
            prices.append([core.market.ltp(inst) for inst in instruments])
        hits = [core.dice.hit(0.5) for _ in range(STEPS)]
        delays = [core.dice.latency_s(RestFaults(latency_ms=20, jitter_ms=5)) for _ in range(STEPS)]
        return prices, hits, delays

    return asyncio.run(observe())


def test_the_same_seed_gives_the_same_prices_and_fault_draws():
    assert _run(42) == _run(42)


def test_another_seed_gives_other_prices_and_other_fault_draws():
    prices, hits, delays = _run(42)
    other_prices, other_hits, other_delays = _run(43)
    assert prices != other_prices and hits != other_hits and delays != other_delays
    assert all(0.015 <= d <= 0.025 for d in delays)  # 20 ms +/- 5 ms of jitter


def test_fault_draws_do_not_shift_the_price_walk():
    """Prices and faults have separate generators: a run with faults keeps its prices."""

    async def prices_after_draws(draws: int) -> list[float]:
        core = SimCore(seed=7, switches=Switches(), journal_size=10)
        for _ in range(draws):
            core.dice.hit(0.5)
        core.market.walk(0.002)
        return [core.market.ltp(inst) for inst in core.master]

    assert asyncio.run(prices_after_draws(0)) == asyncio.run(prices_after_draws(100))
