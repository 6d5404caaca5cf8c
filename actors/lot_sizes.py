"""Instrument lot sizes the leader's socket frames teach: learned, journaled, read back.

Socket frames carry ``LotSize``; the REST order book does not. The LeaderFeedActor learns lot
sizes from frames into the engine's shared map (sizing reads it) and journals them under
:data:`LOT_SIZES_MARK`, so that a restart's REST reconcile can size F&O orders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from dhan.order_feed import OrderUpdate
from store import Journal

logger = logging.getLogger(__name__)

#: The journal mark (account "leader") that keeps the lot sizes learned from socket frames, as
#: JSON ``{"SEGMENT:securityId": lot}``: a restart's REST reconcile sizes F&O orders with them
#: (the order book carries no lot size).
LOT_SIZES_MARK = "lot_sizes"


class LotSizeBook:
    """The feed's side of the shared lot-size map: learn from frames, journal what is new."""

    def __init__(self, journal: Journal, lot_sizes: MutableMapping[tuple[str, str], int]) -> None:
        self.journal = journal
        self.lot_sizes = lot_sizes
        #: lot sizes learned from frames and not yet journaled (see :meth:`save`)
        self.unsaved = False

    def load(self) -> None:
        """Take the lot sizes an earlier run learned (the journal's mark) into the shared map."""
        text = self.journal.get_mark("leader", LOT_SIZES_MARK)
        for key, lot in parse_lot_sizes(text).items():
            self.lot_sizes.setdefault(key, lot)

    def learn(self, u: OrderUpdate) -> None:
        """Put the lot size frame ``u`` carries (if any) into the map."""
        lot = lot_in_frame(u.raw)
        if lot is not None and u.security_id is not None:
            key = (str(u.exchange_segment), u.security_id)
            if self.lot_sizes.get(key) != lot:
                self.lot_sizes[key] = lot
                self.unsaved = True

    def save(self) -> None:
        """Journal the lot sizes known now, if a frame taught a new one: once per instrument
        newly learned, after the hints (the order's copies do not wait for this write). Lost
        with a crash in between, a lot is learned again from the instrument's next frame."""
        if self.unsaved:
            self.journal.set_mark("leader", LOT_SIZES_MARK, format_lot_sizes(self.lot_sizes))
            self.unsaved = False


def lot_in_frame(raw: Mapping[str, Any]) -> int | None:
    """The positive lot size a socket frame's raw fields carry (``LotSize``), else None."""
    lot = raw.get("LotSize") or raw.get("lotSize")
    if isinstance(lot, int | str) and str(lot).isdigit() and int(lot) > 0:
        return int(lot)
    return None


def parse_lot_sizes(text: str | None) -> dict[tuple[str, str], int]:
    """The lot sizes of a :data:`LOT_SIZES_MARK` value; a damaged mark yields what it can."""
    if not text:
        return {}
    try:
        stored = json.loads(text)
    except ValueError:
        logger.warning("the journal's lot-size mark is not JSON; ignored")
        return {}
    out: dict[tuple[str, str], int] = {}
    if isinstance(stored, dict):
        for key, lot in stored.items():
            segment, _, security_id = str(key).partition(":")
            if security_id and isinstance(lot, int) and lot > 0:
                out[(segment, security_id)] = lot
    return out


def format_lot_sizes(lots: Mapping[tuple[str, str], int]) -> str:
    """The :data:`LOT_SIZES_MARK` value for ``lots`` (sorted: the same map, the same text)."""
    return json.dumps({f"{seg}:{sid}": lot for (seg, sid), lot in sorted(lots.items())})
