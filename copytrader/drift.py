"""Position drift from the journal: the facts ``copytrader.positions`` needs, read in a few
queries, and the ``copytrader_position_drift`` gauge the engine's sampler keeps.

Reads: today's copies (``Journal.intents``, filtered to the trading day here), the leader's
latest snapshots, every account's journaled positions, the exit legs of bracket / super copies
and the exit bases of the copies that oppose an expected position (cached: a basis never
changes once recorded). Nothing here runs on the hot path.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import Gauge

from actors.lot_sizes import LOT_SIZES_MARK, lot_in_frame, parse_lot_sizes
from copytrader.positions import (
    DriftRow,
    Held,
    counts_since,
    drift_rows,
    leader_views,
)
from dhan.codes import ProductType
from store import Journal
from store.records import Intent, LeaderOrderSnapshot, PositionKey, PositionRow

logger = logging.getLogger(__name__)

#: Indian Standard Time: the trading day starts at 00:00 IST.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
#: How often the engine's sampler computes the drift gauge.
DRIFT_SAMPLE_S = 10.0
#: The longest a sample may reuse the last computation while the journal looks unchanged.
FULL_EVERY_S = 60.0
#: The drift computation takes at most 1/DUTY_FACTOR of the sampler's time (see ``due``).
DUTY_FACTOR = 20.0
#: Products whose exit legs are the broker's (their fills are netted with the entry's).
_BRACKETS = frozenset({ProductType.BO, ProductType.CO})
_EXIT_LEGS = frozenset({"TARGET_LEG", "STOP_LOSS_LEG"})


def trading_day_start(now: datetime | None = None) -> datetime:
    """00:00 IST of ``now``'s trading day, in UTC (the journal's timestamps are UTC)."""
    local = (now or datetime.now(UTC)).astimezone(IST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def holdings_by_account(rows: Iterable[PositionRow]) -> dict[str, dict[PositionKey, Held]]:
    """The journal's positions as account -> key -> (net, carried)."""
    out: dict[str, dict[PositionKey, Held]] = {}
    for r in rows:
        out.setdefault(r.account, {})[r.key] = Held(r.net_qty, r.carried_qty)
    return out


def journal_lot_sizes(
    journal: Journal, snapshots: Sequence[LeaderOrderSnapshot]
) -> dict[tuple[str, str], int]:
    """What the engine sized with: the lots it journaled, then those the kept frames name."""
    lots = dict(parse_lot_sizes(journal.get_mark("leader", LOT_SIZES_MARK)))
    for s in snapshots:
        lot = lot_in_frame(s.raw)
        if lot is not None:
            lots[(str(s.exchange_segment), s.security_id)] = lot
    return lots


class DriftReader:
    """Reads the journal's facts and computes every follower's rows. Keeps the exit bases it
    has read (immutable once recorded): a sampler reads each leader order's basis once."""

    def __init__(self) -> None:
        self._bases: dict[str, Mapping[str, int]] = {}

    def bases_from(self, journal: Journal) -> Callable[[str], Mapping[str, int]]:
        def basis(leader_order_id: str) -> Mapping[str, int]:
            known = self._bases.get(leader_order_id)
            if known is None:
                known = self._bases[leader_order_id] = dict(journal.exit_bases(leader_order_id))
            return known

        return basis

    def rows(
        self,
        journal: Journal,
        followers: Sequence[str],
        lot_sizes: Mapping[tuple[str, str], int],
        *,
        now: datetime | None = None,
        actual: Mapping[str, Mapping[PositionKey, Held]] | None = None,
        leader: Mapping[PositionKey, Held] | None = None,
        not_copies: Mapping[str, Mapping[PositionKey, Sequence[str]]] | None = None,
    ) -> list[DriftRow]:
        """Every follower's rows. ``actual`` / ``leader``: the broker's positions (``reconcile
        --positions``, ``resync``); None: the journal's."""
        since = trading_day_start(now)
        snapshots: list[LeaderOrderSnapshot] = journal.leader_snapshots()
        entries, legs = leader_views(snapshots)
        if actual is None or leader is None:
            held = holdings_by_account(journal.positions())
            actual = actual if actual is not None else held
            leader = leader if leader is not None else held.get("leader", {})
        if len(self._bases) > 50_000:  # a long-running engine: keep the cache bounded
            self._bases.clear()
        basis = self.bases_from(journal)
        out: list[DriftRow] = []
        for name in followers:
            # one follower at a time, the GIL let go in between: the sampler's bursts stay
            # short beside the copying threads
            time.sleep(0)
            intents = [i for i in journal.intents(name) if counts_since(i, since)]
            out += drift_rows(
                name,
                intents,
                entries,
                actual.get(name, {}),
                lot_sizes,
                leader=leader,
                leader_legs=legs,
                follower_legs=self._follower_legs(journal, intents, entries),
                bases=basis,
                not_copies=(not_copies or {}).get(name),
            )
        return out

    @staticmethod
    def _follower_legs(
        journal: Journal, intents: Sequence[Intent], entries: Mapping[str, LeaderOrderSnapshot]
    ) -> dict[int, int]:
        """intent id -> its exit legs' filled quantity, for today's bracket and super copies
        (one read per such copy: they are few)."""
        out: dict[int, int] = {}
        for i in intents:
            snap = entries.get(i.leader_order_id)
            bracket = i.product_type in _BRACKETS or (snap is not None and snap.is_super)
            if bracket and i.filled_qty > 0:
                filled = sum(
                    leg.filled_qty for leg in journal.legs(i.id) if leg.leg_name in _EXIT_LEGS
                )
                if filled:
                    out[i.id] = filled
        return out


def fingerprint(
    journal: Journal, followers: Sequence[str], lot_sizes: Mapping[tuple[str, str], int]
) -> Hashable:
    """What moves whenever a drift can move, in two small reads: every account's positions
    (a fill of the leader's or of any follower's: copies, legs, trades by hand), the followers'
    unresolved copies (one sent, refused, modified), how many lot sizes are known (the map may
    hold a whole instrument master: not copied, only looked up), the trading day. Two changes
    that cancel can hide each other: :data:`FULL_EVERY_S` bounds how long."""
    positions = tuple((r.account, r.key, r.net_qty, r.carried_qty) for r in journal.positions())
    return (
        positions,
        journal.unresolved_count(followers),
        tuple(followers),
        len(lot_sizes),  # a lot learned (a changed one waits for FULL_EVERY_S)
        trading_day_start(),
    )


class DriftGauge:
    """``copytrader_position_drift{follower,security}``, computed from the journal every
    :data:`DRIFT_SAMPLE_S` by the engine's sampler thread. A series whose key no longer has a
    row (the position closed on an earlier day) is removed, so the label set stays bounded."""

    def __init__(self, gauge: Gauge, every_s: float = DRIFT_SAMPLE_S) -> None:
        self.gauge = gauge
        self.every_s = every_s
        self.reader = DriftReader()
        self._last: float | None = None  #: when the last computation started
        self._shown: set[tuple[str, str]] = set()
        self._failing = False
        #: seconds the last computation took (logged at DEBUG; bench and tests read it)
        self.last_s = 0.0
        self._seen: Hashable = None  #: the fingerprint the last full computation saw
        self._full_at = 0.0
        self._rows: list[DriftRow] = []
        #: full computations and samples skipped for an unchanged fingerprint
        self.computed = 0
        self.skipped = 0

    def due(self, now: float | None = None) -> bool:
        """True when ``every_s`` has passed since the last computation (or there was none),
        and at least :data:`DUTY_FACTOR` times its duration: a journal holding many days of
        copies (all read: the store has no read by creation time yet) slows the gauge down
        instead of taking more than 1/DUTY_FACTOR of the sampler thread's time."""
        now = time.monotonic() if now is None else now
        if self._last is None:
            return True
        return now - self._last >= max(self.every_s, DUTY_FACTOR * self.last_s)

    def sample_logged(
        self,
        journal: Journal,
        followers: Sequence[str],
        lot_sizes: Mapping[tuple[str, str], int],
    ) -> None:
        """:meth:`sample`, a failure logged (once per run of failures: a store outage is
        reported by the store probe); the gauge keeps its last values until a sample succeeds."""
        try:
            self.sample(journal, followers, lot_sizes)
        except Exception as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            logger.log(level, "position drift not computed: %s: %s", type(exc).__name__, exc)
            self._failing = True
        else:
            self._failing = False

    def sample(
        self,
        journal: Journal,
        followers: Sequence[str],
        lot_sizes: Mapping[tuple[str, str], int],
    ) -> list[DriftRow]:
        """Compute every follower's drift and set the gauge; returns the rows.

        Skipped (the last rows kept) while the journal's cheap :func:`fingerprint` has not
        moved, for at most :data:`FULL_EVERY_S`: a quiet market costs two small reads."""
        started = self._last = time.monotonic()
        seen = fingerprint(journal, followers, lot_sizes)
        if seen == self._seen and started - self._full_at < FULL_EVERY_S:
            self.skipped += 1
            return self._rows
        rows = self.reader.rows(journal, followers, lot_sizes)
        self._seen, self._full_at, self._rows = seen, started, rows
        self.computed += 1
        shown = set()
        for r in rows:
            labels = (r.follower, r.security)
            self.gauge.labels(*labels).set(r.drift_lots)
            shown.add(labels)
        for labels in self._shown - shown:
            with contextlib.suppress(KeyError):  # removed already
                self.gauge.remove(*labels)
        self._shown = shown
        self.last_s = time.monotonic() - started
        logger.debug("position drift: %d rows in %.3f s", len(rows), self.last_s)
        return rows
