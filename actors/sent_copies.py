"""Which of the intents a follower has sent it must still remember (``FollowerActor.sent``).

The follower remembers the ids of the intents it has sent (or begun to send) so that a stale
copy of a claim -- an intent the leader feed created SENDING ("claimed") and hinted with its
``LeaderChanged`` -- is never placed twice. Without a bound the set holds every copy of the
day (one id per copy; ~33 KB per follower after 500 leader orders). An id is needed only while
a copy of it that still reads SENDING can reach ``FollowerActor._place`` without a fresh read:

- the journal still says SENDING (its ack not yet journaled, or a write that failed): a fresh
  read would otherwise decide PLACE again;
- a permit request holds the copy read when it was asked (``PermitLedger.requested``);
- the hint that carried the claim has not been handled yet. Claims are made only when the
  leader feed inserts an intent, on the feed's one thread, and each is hinted right after its
  transaction commits: the fast-path hints reach a follower in the order of their intents'
  ids. So once a hint carrying claim ``n`` has been handled, no later hint carries a claim with
  an id at or below ``n`` (``hinted_upto``). The follower checks that as it takes a claim: one
  at or below it is looked up by its correlationId before any send, as a claim found at start
  is, so the bound never rests on that order alone.

:func:`sends_to_remember` keeps those and forgets the rest; the follower runs it on a tick once
the set has grown by ``PRUNE_STEP`` since it last did, with the intents its converge pass has
just read (after flushing its acks).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Set

#: ``FollowerActor.sent`` is pruned on a tick once it holds this many ids more than after the
#: last prune (a few seconds of a busy follower's copies; nothing on a quiet one).
PRUNE_STEP = 32


def sends_to_remember(
    sent: Iterable[int],
    *,
    hinted_upto: int,
    sending: Set[int],
    requested: Container[int],
) -> set[int]:
    """The ids of ``sent`` still needed, in a new set sized for them (a set never shrinks).

    ``hinted_upto``: the highest claim id the follower has taken from a fast-path hint (ids
    above it may still have a hint on its way). ``sending``: the follower's intents the journal
    says are SENDING, read after its acks were flushed. ``requested``: intents with a permit
    request outstanding (their requests hold a copy read then).
    """
    return {i for i in sent if i > hinted_upto or i in sending or i in requested}
