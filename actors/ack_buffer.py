"""Acks of the follower's plain places, held for one batched journal write.

Writing each ack as it comes would cost every follower a commit in the middle of a leader
order's fan-out; the journal says SENDING (committed before the send) until the batch is
written, so a crash in between is resolved by correlationId, never by a resend.
"""

from __future__ import annotations

import logging

from store import Journal
from store.records import TransitionRequest
from supervision.faults import Faults

logger = logging.getLogger(__name__)

#: Acks of plain places held for one batched write at most; more are written at once.
MAX_UNJOURNALED_ACKS = 64


class AckBuffer:
    """One follower's acks not journaled yet (used on its actor's thread only)."""

    def __init__(self, journal: Journal, account: str, faults: Faults) -> None:
        self.journal = journal
        self.account = account
        self.faults = faults
        #: the held moves, oldest first; empty = nothing to write (checked before every read)
        self.held: list[TransitionRequest] = []

    def hold(self, move: TransitionRequest) -> bool:
        """Hold ``move``; True: the buffer is full and must be written now."""
        self.held.append(move)
        return len(self.held) >= MAX_UNJOURNALED_ACKS

    def flush(self) -> None:
        """Write the held moves, if any, in one transaction (one commit); empty the buffer.

        The actor flushes before it reads the journal, so it never decides on a copy it has
        placed but not yet recorded (a SENDING intent it sent would look outcome-unknown). A
        database error propagates: the actor crashes and its successor looks the orders up.
        """
        if not self.held:
            return
        self.faults.point("follower.before_journal_acks")
        moves, self.held = self.held, []
        for move, outcome in zip(moves, self.journal.transitions(moves), strict=True):
            if isinstance(outcome, Exception):
                # settled meanwhile by someone who saw the broker's book: theirs is newer
                logger.info("follower %s: ack of %s not journaled: %s", self.account, move, outcome)
