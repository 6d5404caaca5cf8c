"""Chaos suite options and fixtures: ``--soak`` (longer runs), and the printed, replayable seed.

``pytest tests/chaos`` runs the bounded CI version; ``pytest tests/chaos --soak`` scales the
order counts, kills and examples up. Every test prints ``chaos seed=<n>`` first; run it again
with ``CHAOS_SEED=<n>`` to replay the same leader script and fault plan.
"""

from __future__ import annotations

import pytest

from copytrader.chaos import chaos_seed
from tests.chaos import rig


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="chaos suite: run longer (more orders, more kills, more examples)",
    )


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--soak", default=False))


@pytest.fixture
def seed() -> int:
    value = chaos_seed()
    print(f"chaos seed={value}")
    rig.SEED = value  # named by an expected failure's reason (its output is not shown)
    return value
