"""The follower's permit ledger: which calls it asked the RateLimiterActor for, and when.

A call that fits the account's windows (``AccountWindows``) goes out at once; otherwise
``FollowerActor`` asks the limiter through this ledger and acts on the grant. Messages are
hints: a request unanswered for ``PERMIT_RETRY_S`` is forgotten and asked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from actors.messages import (
    PERMIT_RETRY_S,
    STALE_GRANT_S,
    Action,
    PermitGranted,
    PermitRequest,
)
from actors.rate_windows import AccountWindows
from store.records import Intent
from supervision.errors import ChildUnavailable


class PermitLedger:
    """One follower's outstanding permit requests (used on its actor's thread only)."""

    def __init__(
        self,
        account: str,
        reply_to: str,
        windows: AccountWindows | None,
        tell_limiter: Callable[[PermitRequest], None],
    ) -> None:
        self.account = account
        self.reply_to = reply_to
        #: this account's order-rate windows, shared with the RateLimiterActor: a call that
        #: fits them now goes out at once (no limiter round trip); None = always ask
        self.windows = windows
        #: sends to the limiter; raises ``ChildUnavailable`` while it restarts
        self.tell_limiter = tell_limiter
        #: intent id -> (action, monotonic time asked); a request older than PERMIT_RETRY_S is
        #: asked again (the limiter may have restarted and lost its queue: messages are hints)
        self.awaiting: dict[int, tuple[Action, float]] = {}
        #: intent as read when its permit was requested (saves a read when the grant comes;
        #: the leader only changes desired fields meanwhile, which applied_version catches)
        self.requested: dict[int, Intent] = {}

    def fits_now(self, now: float, action: Action) -> bool:
        """Take a call from the account's windows if they have room now (the fast path)."""
        return self.windows is not None and self.windows.try_take(
            now, urgent=action is Action.CANCEL
        )

    def ask(self, intent: Intent, action: Action) -> None:
        """Ask the limiter for a permit; a limiter that is restarting is asked on a tick."""
        self.requested[intent.id] = intent
        try:
            self.tell_limiter(
                PermitRequest(
                    account=self.account,
                    reply_to=self.reply_to,
                    intent_id=intent.id,
                    action=action,
                    modifications=intent.modifications,
                )
            )
        except ChildUnavailable:
            self.requested.pop(intent.id, None)
            return  # the limiter is restarting: the next tick asks again
        self.awaiting[intent.id] = (action, time.monotonic())

    def answered(self, intent_id: int) -> None:
        """The limiter answered (granted or denied): no longer awaited."""
        self.awaiting.pop(intent_id, None)

    def take_requested(self, intent_id: int) -> Intent | None:
        """The intent as read when its permit was asked, once."""
        return self.requested.pop(intent_id, None)

    def still_good(self, grant: PermitGranted, now: float) -> bool:
        """Use ``grant`` now? A permit used late is stamped again: it was counted at grant
        time, and sending it now next to the permits granted since could put more calls in
        one broker second than Dhan allows (seen as DH-904 bursts after a slow lookup).
        False: the windows are full; the caller asks the limiter again."""
        if self.windows is None or now - grant.granted_at <= STALE_GRANT_S:
            return True
        return self.windows.try_take(now, urgent=grant.action is Action.CANCEL, overtake=True)

    def forget_stale(self, now: float) -> None:
        """Forget requests older than ``PERMIT_RETRY_S``: the next pass asks again."""
        edge = now - PERMIT_RETRY_S
        for intent_id in [k for k, (_a, at) in self.awaiting.items() if at < edge]:
            del self.awaiting[intent_id]
            self.requested.pop(intent_id, None)
