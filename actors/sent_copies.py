"""Which of the intents a follower has sent it must still remember (``FollowerActor.sent``).

The follower remembers the ids of the intents it has sent (or begun to send, or finished
unsent) so that a stale copy of a claim is never placed twice. A claim is an intent the leader
feed inserted already SENDING and hinted with its ``LeaderChanged``; the follower places a
SENDING copy without a checked transition, so the only thing between a stale SENDING copy and a
second order at the broker is ``id in sent`` (``FollowerActor._place``). Without a bound the
set holds every copy of the day (one id per copy; ~33 KB per follower after 500 leader orders,
~0.5 MB at Dhan's 7,000 a day).

**Why forgetting an id is safe.** A copy reading SENDING can reach ``_place`` from three places
only, and an id is kept while any of them can still deliver one:

1. A fresh journal read (a converge pass, a permit grant read afresh): kept while the journal
   says SENDING. The pass that prunes reads after flushing the follower's acks, so an id it
   sent and whose answer came reads WORKING / DONE / REJECTED / UNKNOWN there. An intent leaves
   SENDING for good except through PLANNED, and PLANNED -> SENDING is the journal's checked
   transition (a lookup found no order: that send is the designed one, not a duplicate).
   The leader feed claims (inserts SENDING) only *new* intents, never an existing one.
2. A permit request, which holds the copy read when it was asked
   (``PermitLedger.requested``): kept while it is outstanding. A grant after the request was
   forgotten (``forget_stale``) reads the intent afresh (case 1).
3. A hint not yet handled, carrying the claim's copy from the leader feed's transaction.
   Claims are made only on the leader feed actor's one thread (socket events and REST
   reconciles alike, ``LeaderRecorder.record``), each hinted right after its transaction
   commits, and an actor's mailbox is FIFO: a follower handles the hints carrying its claims in
   the order of their ids. So once it has handled a hint carrying claim ``n``
   (``hinted_upto``), no later hint carries a claim at or below ``n``; ids above it are kept.
   The follower does not rest on that order alone: ``_take_claims`` never places a claim at or
   below ``hinted_upto`` from its hint -- one still in ``sent`` is dropped, any other is looked
   up by its correlationId before any send, as a claim found at start is. A reconcile's claims
   are always looked up first.

A copy held further up the call stack is the fourth place: the prune therefore runs only in
the first pass of a tick's converge (a tick is a message of its own, so no hint is being
handled then), on the intents that pass has just read -- it decides on those very copies, and
a forgotten id reads past SENDING in them. A restarted follower starts with an empty set and
treats every in-flight intent it finds as possibly sent (``stale_in_flight``), so forgetting
never outlives an incarnation either.

What stays: the copies still in flight, and those placed from a tick whose hint has not come
yet -- until a later hint (any later order's claims) passes their ids. The follower prunes on
every tick while the set is non-empty, into a new set (a set's table never shrinks).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Set


def sends_to_remember(
    sent: Iterable[int],
    *,
    hinted_upto: int,
    sending: Set[int],
    requested: Container[int],
) -> set[int]:
    """The ids of ``sent`` still needed, in a new set sized for them (a set never shrinks).

    ``hinted_upto``: the highest claim id the follower has taken from a hint (ids above it may
    still have a hint on its way). ``sending``: the follower's intents the journal says are
    SENDING, read after its acks were flushed. ``requested``: intents with a permit request
    outstanding (their requests hold a copy read then).
    """
    return {i for i in sent if i > hinted_upto or i in sending or i in requested}
