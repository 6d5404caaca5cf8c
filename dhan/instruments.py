"""Lot sizes and freeze quantities from an instrument file (Dhan's scrip master CSV).

Dhan publishes its instrument list as CSV (https://dhanhq.co/docs/v2/instruments/):
``https://images.dhan.co/api-data/api-scrip-master-detailed.csv`` (columns ``EXCH_ID``,
``SEGMENT``, ``SECURITY_ID``, ``LOT_SIZE`` ...) and the compact
``https://images.dhan.co/api-data/api-scrip-master.csv`` (``SEM_EXM_EXCH_ID``, ``SEM_SEGMENT``,
``SEM_SMST_SECURITY_ID``, ``SEM_LOT_UNITS`` ...). Neither documents a freeze-quantity column:
NSE publishes freeze limits per underlying (``qtyfreeze``). This parser reads either layout and
takes a freeze quantity from a ``FREEZE_QTY`` (or ``SEM_FREEZE_QTY``) column when the file has
one -- the simulator's file does (``GET /api-data/api-scrip-master-detailed.csv``); so can a file
an operator builds by joining Dhan's master with NSE's list. Other columns are ignored.

Pure: text in, a map out; no I/O (``copytrader`` fetches the file).
"""

from __future__ import annotations

import csv
import io
from typing import NamedTuple

from dhan.codes import SEGMENT_FROM_FEED

__all__ = ["InstrumentFileError", "Limits", "parse_instrument_csv"]


class Limits(NamedTuple):
    """What an instrument file says about one instrument's order quantities."""

    lot_size: int
    freeze_qty: int  # 0: the file names none


class InstrumentFileError(ValueError):
    """The file cannot be read as an instrument list; the message names the line."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source} line {line}: {message}")
        self.source = source
        self.line = line


#: Column names per layout: (exchange, segment letter, security id, lot size).
_LAYOUTS: tuple[tuple[str, str, str, str], ...] = (
    ("EXCH_ID", "SEGMENT", "SECURITY_ID", "LOT_SIZE"),
    ("SEM_EXM_EXCH_ID", "SEM_SEGMENT", "SEM_SMST_SECURITY_ID", "SEM_LOT_UNITS"),
)
_FREEZE_COLUMNS = ("FREEZE_QTY", "SEM_FREEZE_QTY")


def _quantity(text: str, *, column: str, allow_empty: bool) -> int:
    """A whole, non-negative quantity; Dhan's files write them as ``75`` or ``75.0``."""
    value = text.strip()
    if not value:
        if allow_empty:
            return 0
        raise ValueError(f"{column} is empty")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a number") from None
    if not number.is_integer() or number < 0 or number > 2**31 - 1:
        raise ValueError(f"{column} {value!r} is not a whole quantity")
    return int(number)


def parse_instrument_csv(
    text: str, source: str = "instrument file"
) -> dict[tuple[str, str], Limits]:
    """``(exchangeSegment, securityId)`` -> :class:`Limits` for every tradable row of ``text``.

    Rows of index and unknown exchange/segment pairs are skipped; a later row of the same
    instrument replaces an earlier one. Raises :class:`InstrumentFileError` naming the line
    (1 = the header) for a missing column, a short row or a bad quantity.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise InstrumentFileError(source, 1, "the file is empty")
    names = [h.strip().upper() for h in header]
    index = {name: i for i, name in enumerate(names)}
    layout = next((cols for cols in _LAYOUTS if all(c in index for c in cols)), None)
    if layout is None:
        wanted = " or ".join("+".join(cols) for cols in _LAYOUTS)
        raise InstrumentFileError(source, 1, f"the header needs the columns {wanted}")
    exch_i, seg_i, id_i, lot_i = (index[c] for c in layout)
    freeze_name = next((c for c in _FREEZE_COLUMNS if c in index), None)
    freeze_i = index[freeze_name] if freeze_name is not None else -1
    needed = max(exch_i, seg_i, id_i, lot_i, freeze_i) + 1
    out: dict[tuple[str, str], Limits] = {}
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if len(row) < needed:
            raise InstrumentFileError(
                source, line, f"{len(row)} fields, the header needs at least {needed}"
            )
        key = (row[exch_i].strip().upper(), row[seg_i].strip().upper())
        segment = SEGMENT_FROM_FEED.get(key)
        if segment is None:  # an index (segment I: never in an order), or a new segment
            continue
        security_id = row[id_i].strip()
        if not security_id.isdigit():
            raise InstrumentFileError(
                source, line, f"{layout[2]} {security_id!r} is not a security id"
            )
        try:
            lot = _quantity(row[lot_i], column=layout[3], allow_empty=False)
            freeze = (
                _quantity(row[freeze_i], column=str(freeze_name), allow_empty=True)
                if freeze_i >= 0
                else 0
            )
        except ValueError as exc:
            raise InstrumentFileError(source, line, str(exc)) from None
        if lot == 0:
            raise InstrumentFileError(source, line, f"{layout[3]} is 0")
        out[(segment.value, security_id)] = Limits(lot, freeze)
    return out
