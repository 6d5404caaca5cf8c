"""A bounded inbox refuses senders with MailboxFull instead of growing without limit."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from supervision import ChildContext, ChildSpec, MailboxFull, Registry, mailbox_depth
from supervision.testing import wait_until
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Worker


class SmallInboxWorker(Worker):
    max_inbox: ClassVar[int | None] = 3


def small(child_id: str, gate: threading.Event) -> ChildSpec:
    return ChildSpec.actor(child_id, SmallInboxWorker, gate=gate, shutdown_timeout_s=5.0)


def test_a_sender_gets_mailbox_full_once_the_bound_is_reached(
    start_tree: StartTree, registry: Registry
) -> None:
    gate = threading.Event()
    root = start_tree([small("w", gate)])
    ref = registry.get("w")
    busy = ref.ask("block", block=False)
    wait_until(lambda: mailbox_depth(ref) == 0)  # taken: the actor is parked in its handler
    for _ in range(3):
        registry.tell("w", "ping")
    depth_full = registry.mailbox_depths()["w"]

    with pytest.raises(MailboxFull) as raised:
        registry.tell("w", "ping")
    with pytest.raises(MailboxFull):
        ref.ask("ping", block=False)

    assert raised.value.max_inbox == 3
    assert depth_full == 3
    gate.set()
    assert busy.get(timeout=5.0) == "unblocked"
    assert root.stop(timeout_s=5.0) is True


def test_a_full_actor_still_accepts_a_stop_request() -> None:
    gate = threading.Event()
    ref = SmallInboxWorker.start(ChildContext.detached("w"), gate=gate)
    ref.tell("block")
    wait_until(lambda: mailbox_depth(ref) == 0)
    for _ in range(3):
        ref.tell("ping")
    with pytest.raises(MailboxFull):
        ref.tell("ping")
    stopping = ref.stop(block=False)
    gate.set()
    assert stopping.get(timeout=5.0) is True


def test_concurrent_senders_cannot_overshoot_the_bound() -> None:
    gate = threading.Event()
    ref = SmallInboxWorker.start(ChildContext.detached("w"), gate=gate)
    ref.tell("block")
    wait_until(lambda: mailbox_depth(ref) == 0)
    accepted: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(50):
            try:
                ref.tell("ping")
            except MailboxFull:
                continue
            with lock:
                accepted.append(1)

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(10.0)
    try:
        assert mailbox_depth(ref) <= 3
        assert len(accepted) == 3
    finally:
        gate.set()
        ref.stop(timeout=5.0)
