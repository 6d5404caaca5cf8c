"""The RateLimiterActor under supervision: permits by message, cancels first, no double grant,
and windows that outlive a restart of the limiter."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from actors.messages import Action, PermitGranted, PermitRequest
from actors.names import LIMITER
from actors.rate_limiter import RateLimiterActor
from actors.rate_windows import AccountWindows
from supervision import ChildContext, ChildSpec, SupervisedActor, Supervisor
from supervision.errors import ChildUnavailable
from supervision.faults import FaultPlan, Faults
from supervision.specs import Backoff
from supervision.testing import wait_until

REQUESTER = "requester"


class Grants:
    """What the requester actor received, in order, for the test thread to wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.items: list[tuple[PermitGranted, float]] = []

    def add(self, grant: PermitGranted) -> None:
        with self._cond:
            self.items.append((grant, time.monotonic()))
            self._cond.notify_all()

    def ids(self) -> list[int]:
        with self._cond:
            return [g.intent_id for g, _t in self.items]


class Requester(SupervisedActor):
    """Stands in for a follower: records every grant it is told."""

    def __init__(self, context: ChildContext, *, grants: Grants) -> None:
        super().__init__(context)
        self.grants = grants

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PermitGranted):
            self.grants.add(message)
            return None
        return super().on_receive(message)


@contextmanager
def limiter_rig(
    windows: dict[str, AccountWindows], faults: Faults | None = None
) -> Iterator[tuple[Supervisor, Grants]]:
    grants = Grants()
    root = Supervisor(
        "root",
        [
            ChildSpec.actor(
                LIMITER,
                RateLimiterActor,
                windows=windows,
                backoff=Backoff(initial_s=0.01, max_s=0.05),
            ),
            ChildSpec.actor(REQUESTER, Requester, grants=grants),
        ],
        faults=faults,
    ).start()
    try:
        yield root, grants
    finally:
        root.stop()


def ask(root: Supervisor, intent_id: int, action: Action = Action.PLACE) -> None:
    root.registry.tell(
        LIMITER,
        PermitRequest(account="acct", reply_to=REQUESTER, intent_id=intent_id, action=action),
    )


def test_a_request_asked_again_while_still_queued_is_granted_once() -> None:
    windows: dict[str, AccountWindows] = {}
    with limiter_rig(windows) as (root, grants):
        for i in range(12):  # ten fit this second; 10 and 11 queue
            ask(root, i)
        ask(root, 11)  # the requester cannot tell a slow limiter from a restarted one
        ask(root, 11)
        wait_until(lambda: len(grants.ids()) >= 12, 5.0)
        ask(root, 99)  # a marker behind the repeats: once it is granted, they were served
        wait_until(lambda: 99 in grants.ids(), 5.0)
        assert grants.ids().count(11) == 1


def test_a_cancel_is_granted_before_places_queued_ahead_of_it() -> None:
    windows: dict[str, AccountWindows] = {}
    with limiter_rig(windows) as (root, grants):
        for i in range(15):  # ten granted now, five queued for the next second
            ask(root, i)
        ask(root, 100, Action.CANCEL)
        wait_until(lambda: len(grants.ids()) >= 16, 5.0)
        after_first_second = grants.ids()[10:]
        assert after_first_second[0] == 100, after_first_second


def test_a_restarted_limiter_keeps_its_predecessors_windows() -> None:
    windows: dict[str, AccountWindows] = {}
    faults = Faults()
    # the 11th request kills the limiter: its queue dies with it, its windows must not
    faults.arm(FaultPlan(seed=1, at_hits={"rate_limiter.on_request": [11]}))
    with limiter_rig(windows, faults) as (root, grants):
        for i in range(10):
            ask(root, i)
        wait_until(lambda: len(grants.ids()) == 10, 5.0)
        first_grant_at = grants.items[0][1]
        ask(root, 10)  # crashes the limiter
        wait_until(lambda: faults.fired(), 5.0)
        # ask again, as a follower does after PERMIT_RETRY_S, until the new limiter takes it

        def asked_again_and_granted() -> bool:
            if 10 in grants.ids():
                return True
            with contextlib.suppress(ChildUnavailable):  # restarting: the follower asks later
                ask(root, 10)
            return False

        wait_until(asked_again_and_granted, 5.0, poll_s=0.05)
        granted = dict((g.intent_id, at) for g, at in grants.items)
        assert 10 in granted
        # a fresh window would have granted it at once; the kept one waited out the second
        assert granted[10] - first_grant_at >= 1.0
