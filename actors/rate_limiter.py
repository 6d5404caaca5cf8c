"""RateLimiterActor: grants order-API permits per account, by message.

Followers *tell* a PermitRequest and get a PermitGranted *tell* back, so a follower waiting for
a permit never blocks another's fan-out. Each account has Dhan's windows (10/s, 250/min,
1000/h, 7000/day); requests of one account are served in order -- cancels first, they only
lower risk (one-cancels-other of a bracket) -- and accounts are served round-robin. A DH-904
from the broker halves that account's allowance and pauses it with backoff
(``actors.rate_windows``). The 26th modification of one order is denied.

The windows outlive the actor (the engine owns them), so a restarted limiter does not hand out
a second minute's worth of permits. Its queue does not: requesters ask again after
``PERMIT_RETRY_S``, and a request already queued is not queued twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import Any

from actors.messages import (
    Action,
    BrokerThrottled,
    CancelPermits,
    PermitDenied,
    PermitGranted,
    PermitRequest,
    Tick,
)
from actors.rate_windows import AccountWindows
from dhan.codes import MAX_MODIFICATIONS_PER_ORDER, ORDER_RATE_LIMITS
from supervision import ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable

logger = logging.getLogger(__name__)


class RateLimiterActor(SupervisedActor):
    """Per-account order-rate windows; one instance serves every account of the engine."""

    def __init__(
        self,
        context: ChildContext,
        *,
        limits: tuple[tuple[float, int], ...] = ORDER_RATE_LIMITS,
        max_modifications: int = MAX_MODIFICATIONS_PER_ORDER,
        windows: dict[str, AccountWindows] | None = None,
    ) -> None:
        super().__init__(context)
        self.limits = limits
        self.max_modifications = max_modifications
        #: account -> its windows; pass the engine's dict so they survive a restart
        self.accounts: dict[str, AccountWindows] = {} if windows is None else windows
        #: account -> queued requests, insertion-ordered for round-robin service
        self.queues: OrderedDict[str, deque[PermitRequest]] = OrderedDict()
        #: what is queued, so a requester asking again (it cannot know whether we restarted)
        #: does not get two permits for one call
        self.queued: set[PermitRequest] = set()
        self._wakeup: Any = None

    def on_start(self) -> None:
        super().on_start()
        # a predecessor's queue died with it: nothing of any account waits any more, so the
        # followers' fast paths must not keep deferring to requests that no longer exist
        for windows in self.accounts.values():
            with windows.lock:
                windows.queued = 0

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PermitRequest):
            self._request(message)
        elif isinstance(message, Tick):
            self._wakeup = None
            self._serve()
        elif isinstance(message, BrokerThrottled):
            windows = self._windows(message.account)
            with windows.lock:
                windows.throttled(self.clock.monotonic())
            logger.warning(
                "account %s throttled by the broker (DH-904): backing off", message.account
            )
            self._schedule()
        elif isinstance(message, CancelPermits):
            for account, queue in list(self.queues.items()):
                kept = deque(r for r in queue if r.reply_to != message.reply_to)
                self._count_queued(account, len(kept) - len(queue))
                if kept:
                    self.queues[account] = kept
                else:
                    del self.queues[account]
            self.queued = {r for r in self.queued if r.reply_to != message.reply_to}
        else:
            return super().on_receive(message)
        return None

    def _windows(self, account: str) -> AccountWindows:
        w = self.accounts.get(account)
        if w is None:
            w = self.accounts[account] = AccountWindows.dhan_defaults(self.limits)
        return w

    def _request(self, req: PermitRequest) -> None:
        self.faults.point("rate_limiter.on_request")
        if req.action is Action.MODIFY and req.modifications >= self.max_modifications:
            self._reply(
                req,
                PermitDenied(
                    req.intent_id,
                    req.action,
                    f"order already modified {req.modifications} times (Dhan allows "
                    f"{self.max_modifications})",
                    req.tag,
                ),
            )
            return
        if req in self.queued:
            return  # asked again while still queued
        queue = self.queues.get(req.account)
        if queue is None:
            queue = self.queues[req.account] = deque()
        if req.action is Action.CANCEL:
            # ahead of every place and modify, behind earlier cancels
            at = next((i for i, r in enumerate(queue) if r.action is not Action.CANCEL), None)
            if at is None:
                queue.append(req)
            else:
                queue.insert(at, req)
        else:
            queue.append(req)
        self.queued.add(req)
        self._count_queued(req.account, 1)
        self._serve()

    def _count_queued(self, account: str, delta: int) -> None:
        windows = self._windows(account)
        with windows.lock:
            windows.queued = max(0, windows.queued + delta)

    def _serve(self) -> None:
        """Grant every request that fits now, one per account per round (round-robin)."""
        now = self.clock.monotonic()
        progressed = True
        while progressed and self.queues:
            progressed = False
            for account in list(self.queues):
                queue = self.queues[account]
                windows = self._windows(account)
                with windows.lock:
                    if windows.wait_s(now, urgent=queue[0].action is Action.CANCEL) > 0:
                        continue
                    windows.take(now)
                    windows.queued = max(0, windows.queued - 1)
                req = queue.popleft()
                self.queued.discard(req)
                if not queue:
                    del self.queues[account]
                self._reply(req, PermitGranted(req.intent_id, req.action, req.tag, now))
                progressed = True
        self._schedule()

    def _schedule(self) -> None:
        if not self.queues or self._wakeup is not None:
            return
        now = self.clock.monotonic()
        waits = []
        for account, queue in self.queues.items():
            windows = self._windows(account)
            with windows.lock:
                waits.append(windows.wait_s(now, urgent=queue[0].action is Action.CANCEL))
        wait = min(waits)
        self._wakeup = self.tell_later(max(wait, 0.001), Tick())

    def _reply(self, req: PermitRequest, message: Any) -> None:
        try:
            self.registry.tell(req.reply_to, message)
        except ChildUnavailable:
            # the requester is restarting; it re-derives its work from the journal on start
            logger.debug("permit for %s dropped: requester unavailable", req.reply_to)
