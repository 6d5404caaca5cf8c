"""The instrument-file parser (``dhan/instruments.py``): Dhan's two CSV layouts, the freeze
column, and errors that name the line."""

from __future__ import annotations

import pytest

from dhan.instruments import InstrumentFileError, Limits, parse_instrument_csv

DETAILED = "EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT,SYMBOL_NAME,LOT_SIZE,TICK_SIZE"
COMPACT = "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_LOT_UNITS"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the detailed layout, no freeze column: freeze 0
        (
            f"{DETAILED}\nNSE,D,52175,NA,FUTIDX,NIFTY,65,0.1\nNSE,E,1333,INE040A01034,EQUITY,"
            "HDFCBANK,1,0.05\n",
            {("NSE_FNO", "52175"): Limits(65, 0), ("NSE_EQ", "1333"): Limits(1, 0)},
        ),
        # the compact layout writes lots as floats
        (
            f"{COMPACT}\nNSE,D,52175,FUTIDX,65.0\nBSE,E,500325,EQUITY,1.0\n",
            {("NSE_FNO", "52175"): Limits(65, 0), ("BSE_EQ", "500325"): Limits(1, 0)},
        ),
        # a freeze column (the simulator's file; an operator's join with NSE's list)
        (
            f"{DETAILED},FREEZE_QTY\nNSE,D,52175,NA,FUTIDX,NIFTY,65,0.1,1800\n"
            "NSE,E,1333,X,EQUITY,HDFCBANK,1,0.05,\n",
            {("NSE_FNO", "52175"): Limits(65, 1800), ("NSE_EQ", "1333"): Limits(1, 0)},
        ),
        (f"{COMPACT},SEM_FREEZE_QTY\nNSE,D,1,OPTIDX,30.0,900.0\n", {("NSE_FNO", "1"): (30, 900)}),
        # every segment pair of the socket's table; index rows (I) are skipped
        (
            f"{COMPACT}\nNSE,C,10,FUTCUR,1\nNSE,M,11,FUTCOM,1\nBSE,D,12,FUTIDX,20\n"
            "BSE,C,13,FUTCUR,1\nMCX,M,14,FUTCOM,100\nNSE,I,13,INDEX,1\nBSE,I,51,INDEX,1\n",
            {
                ("NSE_CURRENCY", "10"): (1, 0),
                ("NSE_COMM", "11"): (1, 0),
                ("BSE_FNO", "12"): (20, 0),
                ("BSE_CURRENCY", "13"): (1, 0),
                ("MCX_COMM", "14"): (100, 0),
            },
        ),
        # unknown exchange or segment letter: skipped, not an error
        (f"{COMPACT}\nNCDEX,M,1,FUTCOM,10\nNSE,X,2,EQUITY,1\n", {}),
        # header case, spaces and a byte-order mark; columns in another order; blank lines
        (
            "\ufeff lot_size ,Security_Id,exch_id,segment\n 75 , 52175 ,nse,d\n\n",
            {("NSE_FNO", "52175"): (75, 0)},
        ),
        # quoted fields with commas in unknown columns
        (
            'EXCH_ID,SEGMENT,SECURITY_ID,DISPLAY_NAME,LOT_SIZE\nNSE,D,7,"NIFTY, DEC",65\n',
            {("NSE_FNO", "7"): (65, 0)},
        ),
        # a later row of the same instrument wins
        (f"{COMPACT}\nNSE,D,7,FUTIDX,50\nNSE,D,7,FUTIDX,65\n", {("NSE_FNO", "7"): (65, 0)}),
        # only a header
        (f"{DETAILED}\n", {}),
    ],
)
def test_rows_become_lot_and_freeze_by_instrument(
    text: str, expected: dict[tuple[str, str], tuple[int, int]]
) -> None:
    assert parse_instrument_csv(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "scrip.csv line 1: the file is empty"),
        (
            "EXCH_ID,SEGMENT,SECURITY_ID\nNSE,D,1\n",
            "scrip.csv line 1: the header needs the columns EXCH_ID+SEGMENT+SECURITY_ID+LOT_SIZE"
            " or SEM_EXM_EXCH_ID+SEM_SEGMENT+SEM_SMST_SECURITY_ID+SEM_LOT_UNITS",
        ),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,65\nNSE,D,2\n", "scrip.csv line 3: 3 fields, the header"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,sixty\n", "scrip.csv line 2: SEM_LOT_UNITS 'sixty' is not"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,65.5\n", "scrip.csv line 2: SEM_LOT_UNITS '65.5' is not a"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,-65\n", "scrip.csv line 2: SEM_LOT_UNITS '-65' is not a"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,\n", "scrip.csv line 2: SEM_LOT_UNITS is empty"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,0\n", "scrip.csv line 2: SEM_LOT_UNITS is 0"),
        (f"{COMPACT}\nNSE,D,1,FUTIDX,1e12\n", "scrip.csv line 2: SEM_LOT_UNITS '1e12' is not a"),
        (f"{COMPACT}\nNSE,D,N1,FUTIDX,65\n", "scrip.csv line 2: SEM_SMST_SECURITY_ID 'N1' is"),
        (
            f"{DETAILED},FREEZE_QTY\nNSE,D,1,X,FUTIDX,N,65,0.1,lots\n",
            "scrip.csv line 2: FREEZE_QTY 'lots' is not a number",
        ),
        # a quoted field spanning two lines: the error names the line the row ends on
        (
            'EXCH_ID,SEGMENT,SECURITY_ID,NAME,LOT_SIZE\nNSE,D,1,"a\nb",x\n',
            "scrip.csv line 3: LOT_SIZE 'x' is not a number",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(InstrumentFileError) as caught:
        parse_instrument_csv(text, "scrip.csv")
    assert str(caught.value).startswith(message)
