"""pytest fixtures for tests that need a running simulator (registered by ``tests/conftest.py``).

``sim``: a fresh simulator per test (seed 1, random walk off so prices move only when a test
says so). ``sim_factory(**switches)``: more simulators with other switches, stopped at teardown.
``sim_account``: an account with 1 crore on ``sim``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dhansim.server import Simulator, running

_TEST_SWITCHES: dict[str, Any] = {"random_walk": False}


@dataclass(frozen=True, slots=True)
class SimAccount:
    """Credentials of an account created on a test simulator (the token is a test fake)."""

    client_id: str
    access_token: str

    def __repr__(self) -> str:
        return f"SimAccount(client_id={self.client_id!r})"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running(seed=1, **_TEST_SWITCHES) as simulator:
        yield simulator


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(seed: int = 1, **switches: Any) -> Simulator:
        simulator = Simulator(seed=seed, **{**_TEST_SWITCHES, **switches})
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def new_account(sim: Simulator, balance: float = 1e7) -> SimAccount:
    """Create a fresh account (the next free id, and its own token) on ``sim``."""
    client_id = str(1_000_000_001 + len(sim.admin.accounts()))
    account = SimAccount(client_id, f"test-token-{client_id}")
    sim.admin.create_account(account.client_id, account.access_token, balance)
    return account


@pytest.fixture
def sim_account(sim: Simulator) -> SimAccount:
    return new_account(sim)
