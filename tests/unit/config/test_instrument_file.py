"""``copytrader.instrument_file``: what the engine takes from ``broker.instruments_url``."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.lot_sizes import format_lot_sizes
from copytrader.instrument_file import (
    InstrumentFileUnavailable,
    LotSizes,
    describe,
    load_limits,
    merge,
    sim_instruments_url,
)
from dhan.instruments import Limits

NIFTY = ("NSE_FNO", "52175")
HDFC = ("NSE_EQ", "1333")
USDINR = ("NSE_CURRENCY", "10")


@pytest.mark.parametrize(
    ("limits", "configured", "freeze", "lots"),
    [
        ({}, {}, {}, {}),
        # the file's freeze quantities, and lot sizes of lot-traded segments only
        (
            {NIFTY: Limits(65, 1800), HDFC: Limits(1, 0), USDINR: Limits(1, 0)},
            {},
            {"NSE_FNO:52175": 1800},
            {NIFTY: 65, USDINR: 1},
        ),
        # the config wins for what it names, and keeps what the file lacks
        (
            {NIFTY: Limits(65, 1800), ("NSE_FNO", "7"): Limits(30, 900)},
            {"NSE_FNO:52175": 1000, "BSE_FNO:1": 500},
            {"NSE_FNO:52175": 1000, "NSE_FNO:7": 900, "BSE_FNO:1": 500},
            {NIFTY: 65, ("NSE_FNO", "7"): 30},
        ),
        # no freeze column (Dhan's own file): lot sizes only
        ({NIFTY: Limits(65, 0)}, {}, {}, {NIFTY: 65}),
    ],
)
def test_the_file_fills_what_the_config_does_not_set(
    limits: dict[tuple[str, str], Limits],
    configured: dict[str, int],
    freeze: dict[str, int],
    lots: dict[tuple[str, str], int],
) -> None:
    assert merge(limits, configured) == (freeze, lots)


@pytest.mark.parametrize(
    ("learned", "known", "journaled"),
    [
        ({}, {NIFTY: 65}, {}),  # the file's lots are known, never journaled
        ({NIFTY: 75}, {NIFTY: 75}, {NIFTY: 75}),  # a lot the frames taught replaces the file's
        ({NIFTY: 65}, {NIFTY: 65}, {}),  # ... and is not journaled when the file says it too
        ({USDINR: 1}, {NIFTY: 65, USDINR: 1}, {USDINR: 1}),  # one the file lacks
    ],
)
def test_lot_sizes_keep_the_files_out_of_the_journal(
    learned: dict[tuple[str, str], int],
    known: dict[tuple[str, str], int],
    journaled: dict[tuple[str, str], int],
) -> None:
    lots = LotSizes()
    lots.add_file({NIFTY: 65})
    for key, lot in learned.items():
        lots[key] = lot  # as the leader feed learns a frame's lot
    assert {key: lots.get(key) for key in known} == known
    assert len(lots) == len(known)
    assert dict(lots.items()) == journaled
    assert format_lot_sizes(lots) == format_lot_sizes(journaled)


def test_the_file_is_read_from_a_path_or_a_file_url_and_errors_name_it(tmp_path: Path) -> None:
    path = tmp_path / "scrip.csv"
    path.write_text("EXCH_ID,SEGMENT,SECURITY_ID,LOT_SIZE,FREEZE_QTY\nNSE,D,52175,65,1800\n")
    assert load_limits(str(path)) == {NIFTY: Limits(65, 1800)}
    assert load_limits(path.as_uri()) == {NIFTY: Limits(65, 1800)}
    with pytest.raises(InstrumentFileUnavailable, match=r"missing\.csv"):
        load_limits(str(tmp_path / "missing.csv"))
    path.write_text("EXCH_ID,SEGMENT,SECURITY_ID,LOT_SIZE\nNSE,D,52175,x\n")
    with pytest.raises(InstrumentFileUnavailable, match=r"scrip.csv line 2: LOT_SIZE 'x'"):
        load_limits(str(path))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/etc/scrip.csv", "/etc/scrip.csv"),
        ("https://cdn.example/a/f.csv?sig=SECRET", "https://cdn.example/a/f.csv"),
        ("https://user:pw@cdn.example:8443/f.csv", "https://cdn.example:8443/f.csv"),
        ("http://127.0.0.1:8700/api-data/x.csv", "http://127.0.0.1:8700/api-data/x.csv"),
        ("file:///srv/scrip.csv", "file:///srv/scrip.csv"),
    ],
)
def test_a_url_is_logged_without_its_query_or_credentials(url: str, shown: str) -> None:
    assert describe(url) == shown


def test_the_embedded_simulators_file_is_beside_its_rest_api() -> None:
    assert (
        sim_instruments_url("http://127.0.0.1:8700/v2")
        == "http://127.0.0.1:8700/api-data/api-scrip-master-detailed.csv"
    )
