"""The leader's position checks, and the conversions they reveal (the leader feed's thread).

After every connect and every periodic reconcile pass the leader's journaled positions are set
to the broker's, less the fills the journal has not seen yet (``actors.position_check``,
``as_journaled``: the snapshots that journal them count them). A difference left, and
that moves one instrument's position from one product to another, is a conversion
(``POST /positions/convert`` sends no frame): each follower's proportional part is journaled as
a mark (``actors.conversions.plan``) before the follower is hinted (``ConvertPositions``), so a
restart loses none of them; the follower sends it (``actors.follower_conversions``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from actors.conversions import detect, plan
from actors.position_check import check_positions
from actors.settings import FollowerSettings
from dhan.rest import DhanClient
from store import Journal
from store.records import LEADER_ACCOUNT

logger = logging.getLogger(__name__)


class LeaderPositions:
    """Checks the leader's positions; journals the followers' parts of its conversions."""

    def __init__(
        self,
        client: DhanClient,
        journal: Journal,
        followers: Callable[[], Sequence[FollowerSettings]],
        lot_sizes: Mapping[tuple[str, str], int],
    ) -> None:
        self.client = client
        self.journal = journal
        self.followers = followers
        self.lot_sizes = lot_sizes
        #: conversions the leader made, found so far (for status and tests)
        self.conversions = 0

    def check(self) -> set[str]:
        """Check the leader's positions; the followers given conversions to send. Raises what
        ``check_positions`` raises (the journal is then untouched)."""
        checks = check_positions(self.client, self.journal, LEADER_ACCOUNT, as_journaled=True)
        found = detect(checks)
        if not found:
            return set()
        self.conversions += len(found)
        enabled = [f.name for f in self.followers() if f.enabled]
        nets = {
            name: {row.key: row.net_qty for row in self.journal.positions(name)} for name in enabled
        }
        marks = plan(found, nets, self._lot, datetime.now(UTC).isoformat())
        for conversion in found:
            logger.warning(
                "the leader converted %d of its %s %s position in %s:%s from %s to %s; "
                "followers holding it convert their part",
                conversion.quantity,
                conversion.position_type,
                conversion.from_product,
                conversion.exchange_segment,
                conversion.security_id,
                conversion.from_product,
                conversion.to_product,
            )
            self.journal.append_audit(
                "leader_position_converted",
                actor="leader-feed",
                account=LEADER_ACCOUNT,
                payload={
                    "exchange_segment": conversion.exchange_segment,
                    "security_id": conversion.security_id,
                    "from_product": conversion.from_product,
                    "to_product": conversion.to_product,
                    "position_type": conversion.position_type,
                    "quantity": conversion.quantity,
                    "followers": sorted(marks),
                },
            )
        for follower, named in marks.items():
            for name, value in named.items():
                self.journal.set_mark(follower, name, value)
        return set(marks)

    def _lot(self, segment: str, security_id: str) -> int:
        # equity trades in ones; a derivative whose lot is unknown is converted unrounded
        # (Dhan refuses a quantity off the lot: the follower's mark says so, nothing moves)
        return self.lot_sizes.get((segment, security_id)) or 1
