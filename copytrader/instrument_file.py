"""``broker.instruments_url``: lot sizes and freeze quantities from an instrument file at start.

The file is Dhan's scrip master CSV or one like it (``dhan/instruments.py`` parses it; the
simulator serves its master with a ``FREEZE_QTY`` column). What it gives fills what the config
does not set: ``engine.freeze_quantities`` wins for an instrument it names; a lot size the
leader's socket frames teach replaces the file's.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dhan.instruments import Limits, parse_instrument_csv

logger = logging.getLogger(__name__)

#: Fetching the file (Dhan's detailed master is tens of MB) may take this long at most.
FETCH_TIMEOUT_S = 60.0
#: Segments whose lot is 1 without asking (sizing knows them): their rows are not kept.
_UNIT_LOT_SEGMENTS = frozenset({"NSE_EQ", "BSE_EQ"})
#: The simulator's file, relative to its origin (``dhansim``: ``Simulator.instruments_url``).
SIM_INSTRUMENTS_PATH = "/api-data/api-scrip-master-detailed.csv"


class InstrumentFileUnavailable(Exception):
    """The instrument file could not be read or parsed (the message says which and why)."""


class LotSizes(dict[tuple[str, str], int]):
    """The shared lot-size map: every lot known, the instrument file's included, so sizing's
    lookups stay plain dict lookups; but :meth:`items` -- what the leader feed journals
    (``actors.lot_sizes.format_lot_sizes``) -- leaves out the lots the file says, or a whole
    master would make every journaled mark megabytes. Lots the leader's frames teach replace
    the file's (the feed writes them in)."""

    __slots__ = ("file_lots",)

    def __init__(self) -> None:
        super().__init__()
        self.file_lots: dict[tuple[str, str], int] = {}

    def add_file(self, lots: Mapping[tuple[str, str], int]) -> None:
        """Take the file's lot sizes (before the feed starts and loads the journaled ones)."""
        self.file_lots = dict(lots)
        self.update(lots)

    def items(self) -> list[tuple[tuple[str, str], int]]:  # type: ignore[override]
        """The lots the file does not say (learned from frames, or different from it)."""
        file_lots = self.file_lots
        return [(key, lot) for key, lot in dict.items(self) if file_lots.get(key) != lot]


def read_instrument_file(url: str, timeout_s: float = FETCH_TIMEOUT_S) -> str:
    """The text at ``url``: http(s) or file:// URL, or a local path."""
    try:
        if "://" not in url:
            return Path(url).read_text(encoding="utf-8")
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            data: bytes = answer.read()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InstrumentFileUnavailable(f"instrument file {describe(url)}: {exc}") from None


def load_limits(url: str) -> dict[tuple[str, str], Limits]:
    """Read and parse the file at ``url`` (``InstrumentFileUnavailable`` naming the line)."""
    text = read_instrument_file(url)
    try:
        return parse_instrument_csv(text, source=describe(url))
    except ValueError as exc:
        raise InstrumentFileUnavailable(str(exc)) from None


def sim_instruments_url(rest_url: str) -> str:
    """The embedded simulator's instrument file, from its REST URL (``http://HOST:PORT/v2``)."""
    parts = urlsplit(rest_url)
    return f"{parts.scheme}://{parts.netloc}{SIM_INSTRUMENTS_PATH}"


def merge(
    limits: Mapping[tuple[str, str], Limits], configured: Mapping[str, int]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """``(freeze quantities, lot sizes)`` for the engine: the file's freeze quantities under
    the configured ones (config wins), and the file's lot sizes of lot-traded segments."""
    freeze = {
        f"{seg}:{sid}": lim.freeze_qty for (seg, sid), lim in limits.items() if lim.freeze_qty
    }
    freeze.update(configured)
    lots = {key: lim.lot_size for key, lim in limits.items() if key[0] not in _UNIT_LOT_SEGMENTS}
    return freeze, lots


def describe(url: str) -> str:
    """``url`` for a log line: a local path, or the URL without its query (which may hold a
    signature or key)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a bad port: shown without it
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
