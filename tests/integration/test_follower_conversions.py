"""A follower's conversion marks, sent at most once (actors/follower_conversions.py), against
dhansim over loopback and a real SQLite journal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.conversions import CONVERSION_MARK, FollowerConversion
from actors.follower_conversions import ConversionRunner
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal

CID = "1500000081"
PART = FollowerConversion("NSE_EQ", "1333", "INTRADAY", "CNC", "LONG", 4)


@pytest.fixture
def rig(sim: Simulator, tmp_path: Path) -> Iterator[tuple[ConversionRunner, Journal, list[Any]]]:
    sim.admin.create_account(CID, f"tok-{CID}", 1e7)
    client = DhanClient(base_url=sim.rest_url, client_id=CID, access_token=f"tok-{CID}")
    journal = Journal.open(f"sqlite:///{tmp_path / 'j.db'}")
    audits: list[Any] = []
    rechecks: list[int] = []
    runner = ConversionRunner(
        "f",
        client,
        journal,
        lambda kind, payload: audits.append((kind, payload)),
        lambda: rechecks.append(1),
    )
    try:
        yield runner, journal, audits
    finally:
        client.close()
        journal.close()


def states(journal: Journal) -> dict[str, str]:
    return {
        name: FollowerConversion.decode(value).state
        for name, value in journal.marks("f", CONVERSION_MARK).items()
    }


def test_a_conversion_the_broker_refuses_is_kept_refused_with_its_reason(
    rig: tuple[ConversionRunner, Journal, list[Any]],
) -> None:
    runner, journal, audits = rig
    journal.set_mark("f", f"{CONVERSION_MARK}a", PART.encode())  # it holds nothing to convert
    assert runner.run() == 0
    assert states(journal) == {f"{CONVERSION_MARK}a": "REFUSED"}
    (mark,) = journal.marks("f", CONVERSION_MARK).values()
    assert "No LONG INTRADAY position" in FollowerConversion.decode(mark).detail
    assert [kind for kind, _ in audits] == ["position_converted"]
    assert runner.run() == 0  # never sent again
    assert len(audits) == 1


def test_one_found_sending_at_start_is_unknown_and_never_sent_again(
    rig: tuple[ConversionRunner, Journal, list[Any]], sim: Simulator
) -> None:
    runner, journal, audits = rig
    journal.set_mark("f", f"{CONVERSION_MARK}b", replace(PART, state="SENDING").encode())
    before = len(sim.admin.journal(kind="rest", account=CID))
    runner.adopt()
    assert states(journal) == {f"{CONVERSION_MARK}b": "UNKNOWN"}
    assert runner.run() == 0
    assert len(sim.admin.journal(kind="rest", account=CID)) == before  # nothing sent
    assert audits == []
