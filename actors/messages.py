"""Every message the engine's actors exchange, as frozen records.

Messages are wake-up hints and replies, never the only copy of state that matters: the journal
(`store`) is the inbox. An actor that loses its mailbox in a crash rebuilds its work from the
journal on start, so every message here may be lost, duplicated or reordered without harm.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum

from dhan.order_feed import OrderUpdate
from store.records import Intent


class Action(StrEnum):
    """What a follower (or bracket) actor wants to do at the broker."""

    PLACE = "place"
    MODIFY = "modify"
    CANCEL = "cancel"


# --- LeaderFeedActor -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaderUpdateReceived:
    """The feed thread parsed an order_alert frame of the leader account."""

    update: OrderUpdate
    #: ``time.monotonic_ns()`` when the frame was parsed (latency metrics start here).
    received_ns: int


@dataclass(frozen=True, slots=True)
class FeedConnected:
    """The leader socket is connected and logged in: reconcile over REST now."""


@dataclass(frozen=True, slots=True)
class FeedFailed:
    """The socket died (closed, reset, missed pong). The feed actor crashes on purpose."""

    reason: str


# --- FollowerActor ---------------------------------------------------------------------------


class HintsTaken:
    """Counts the claimed followers whose copy has left; the leader feed waits on it.

    The feed thread that tells the hints holds the GIL; a follower woken by one waits for it
    until the feed blocks on something. Left running, the feed went on to the order's next
    frames (each a journal write) while the copies waited: ~1 ms per hint with one follower.
    Waiting (GIL released) until every claimed follower has sent its copy -- or found it has
    nothing to send -- gives the fan-out the interpreter first. Counting at the hint's
    receipt instead let the feed back in during the send: the time moved into the send.
    A lost hint costs only the wait's timeout.
    """

    __slots__ = ("_done", "_left", "_lock")

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._left = count
        self._done = threading.Event()
        if count <= 0:
            self._done.set()

    def take(self) -> None:
        """One follower's copy has left, or it has none to send, or it will never get its
        hint (the feed counts those itself). Call once per follower."""
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def wait(self, timeout_s: float) -> bool:
        """Block until every hint is taken or ``timeout_s`` passed; True if all were taken."""
        return self._done.wait(timeout_s)


@dataclass(frozen=True, slots=True)
class LeaderChanged:
    """Hint: these leader orders have a new journaled snapshot; converge to them."""

    leader_order_ids: tuple[str, ...]
    #: ``time.monotonic_ns()`` when the leader frame was parsed (0 for reconcile / ticks).
    received_ns: int = 0
    #: This follower's intents that the leader feed claimed (SENDING) for it to place now.
    claimed: tuple[Intent, ...] = ()
    #: Leader orders among ``leader_order_ids`` that have fills or have ended: the follower's
    #: copies of them probably changed too, so it checks those copies on its next tick.
    settled: tuple[str, ...] = ()
    #: The claims come from a REST reconcile (after a start or a socket gap), not a live
    #: event: look each up by correlationId before sending (it may predate a lost commit).
    verify_claims: bool = False
    #: This follower's intents changed with the event (False: only legs or fills to check).
    changed: bool = True
    #: Counted down once the follower's copy has left (or it sent none): see HintsTaken.
    taken: HintsTaken | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RederiveWaiting:
    """A fact sizing lacked (a balance) is known now: size again the copies that waited for
    it. Asked of the leader feed, whose thread writes the leader's snapshots and intents."""


@dataclass(frozen=True, slots=True)
class ConvertPositions:
    """Hint to a follower: the leader converted a position between products; the follower's
    part is journaled (``actors.conversions``: ``conversion:`` marks), send it."""


@dataclass(frozen=True, slots=True)
class LeaderFrameLost:
    """Leader socket thread -> its feed actor: a frame was skipped as malformed (an update of
    some order is lost until the book is read)."""


@dataclass(frozen=True, slots=True)
class ReplanResting:
    """Leader feed -> itself: release the held exit copies whose entries are confirmed, and
    plan its resting orders again (a follower's position moves without a leader event when
    its copy fills or is refused: ``actors.leader_record``). ``generation``: the timer's
    (a stale one, told before its timer was re-armed sooner, is ignored)."""

    generation: int = 0


@dataclass(frozen=True, slots=True)
class Tick:
    """Periodic wake-up: level-triggered actors re-check the journal and the broker."""


@dataclass(frozen=True, slots=True)
class ResolveUnknown:
    """Look an outcome-unknown intent up by correlationId (sent after a short delay)."""

    intent_id: int


@dataclass(frozen=True, slots=True)
class UpdateToken:
    """SIGHUP: a reloaded access token for this account (resumes a DH-901-paused follower)."""

    access_token: str

    def __repr__(self) -> str:  # the token never reaches a log line
        return "UpdateToken(access_token='***')"


@dataclass(frozen=True, slots=True)
class SetEnabled:
    """SIGHUP: the follower's ``enabled`` flag from the reloaded config."""

    enabled: bool


# --- FollowerFeedActor -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowerOrderUpdates:
    """Frames of the follower's order socket worth settling (fills, ends), oldest first,
    batched: every frame queued while the feed actor was busy."""

    updates: tuple[OrderUpdate, ...]


@dataclass(frozen=True, slots=True)
class SettleFrames:
    """The follower settles the frames it gathered (``SOCKET_SETTLE_S`` after the first)."""


@dataclass(frozen=True, slots=True)
class ConvergeNow:
    """The follower -> itself: a settle planned a copy again (a stop placed as its triggered
    form): converge now rather than on the next tick."""


@dataclass(frozen=True, slots=True)
class HurrySettles:
    """Leader feed -> follower: an exit copy of yours is held until your entries of its
    position are confirmed (``actors.exit_holds``): settle your socket's frames now and, for
    ``for_s``, soon after each (``SOCKET_SETTLE_URGENT_S``), telling the feed each time."""

    for_s: float


@dataclass(frozen=True, slots=True)
class FollowerSettled:
    """Follower -> leader feed: frames settled while hurried; the held copies may go now."""

    follower: str


@dataclass(frozen=True, slots=True)
class ReleaseSettled:
    """Leader feed -> itself: release the held copies of the followers that said
    ``FollowerSettled`` since (one pass for a burst of them)."""


@dataclass(frozen=True, slots=True)
class FollowerSocketUp:
    """The follower's order socket is connected (and its positions checked): its frames
    settle the copies, the book is read once now (no replay) and rarely after."""


@dataclass(frozen=True, slots=True)
class FollowerSocketDown:
    """The follower's order socket is down (or its feed restarting): poll the book."""

    reason: str


@dataclass(frozen=True, slots=True)
class SocketStateWanted:
    """A (re)started follower asks its feed for the socket's state (Up / Down is told)."""


@dataclass(frozen=True, slots=True)
class SocketFramesQueued:
    """The socket thread queued frames for the feed actor (told once per empty -> non-empty)."""


@dataclass(frozen=True, slots=True)
class FlushFills:
    """Journal the fills the feed actor gathered since its last write (one transaction)."""


@dataclass(frozen=True, slots=True)
class SocketConnected:
    """The socket of connection ``generation`` is connected and logged in."""

    generation: int


@dataclass(frozen=True, slots=True)
class SocketFailed:
    """The socket of connection ``generation`` died; the feed reconnects after a backoff."""

    generation: int
    reason: str


@dataclass(frozen=True, slots=True)
class SocketReconnect:
    """The backoff after a failed connection ``generation`` is over: connect again."""

    generation: int


# --- RateLimiterActor ------------------------------------------------------------------------


#: A permit request unanswered this long is asked again: a restarted limiter has lost its queue.
PERMIT_RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class PermitRequest:
    """Ask for one order-API call on ``account``. Answered with a PermitGranted *tell* to
    ``reply_to`` (a registry name) -- never a blocking ask -- or PermitDenied."""

    account: str
    reply_to: str
    intent_id: int
    action: Action
    #: Modifications already made to this broker order (the 25-per-order cap).
    modifications: int = 0
    #: Opaque to the limiter; echoed in the grant (e.g. the bracket leg being acted on).
    tag: str = ""


@dataclass(frozen=True, slots=True)
class PermitGranted:
    intent_id: int
    action: Action
    tag: str = ""
    #: the limiter's monotonic clock when it stamped the permit into the account's windows
    granted_at: float = 0.0


#: A permit used later than this after its grant no longer vouches for the broker's window
#: (the call goes out later than it was counted, next to calls counted after it): the
#: follower takes a fresh stamp for it, or queues again.
STALE_GRANT_S = 0.2


@dataclass(frozen=True, slots=True)
class PermitDenied:
    """The request can never be granted (e.g. the order hit its modification cap)."""

    intent_id: int
    action: Action
    reason: str
    tag: str = ""


@dataclass(frozen=True, slots=True)
class BrokerThrottled:
    """The broker answered DH-904 / HTTP 429 for ``account``: shrink its window and back off."""

    account: str


@dataclass(frozen=True, slots=True)
class CancelPermits:
    """Drop every queued request of ``reply_to`` (its actor is stopping or was paused)."""

    reply_to: str


# --- BracketLegActor / AuditActor ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BracketCheck:
    """Hint: a leg of this bracket (leader or follower side) may have changed."""


@dataclass(frozen=True, slots=True)
class AuditWake:
    """Hint: new rows are in the audit outbox."""
