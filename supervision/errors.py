"""Exceptions raised by the supervision layer to its callers.

A sender learns, by one of these, that its message did not reach a live child: nothing is
dropped silently. They subclass ``Exception`` (never ``BaseException``) so that a pykka
handler that lets one escape crashes only its own actor.
"""

from __future__ import annotations


class SupervisionError(Exception):
    """Base of every error raised by ``supervision``."""


class ChildUnavailable(SupervisionError):
    """The named child is not running: it is restarting, quarantined, stopped or unknown.

    Raised by :class:`supervision.Registry` instead of buffering: the message was *not*
    delivered. Messages in this design are wake-up hints (the journal is the inbox), so the
    sender may retry later or rely on the restarted actor rebuilding its work in ``on_start``.
    """

    def __init__(self, name: str, state: str) -> None:
        super().__init__(f"child {name!r} is unavailable ({state})")
        self.name = name
        self.state = state


class MailboxFull(SupervisionError):
    """The actor's inbox holds ``max_inbox`` messages; this one was refused, not queued."""

    def __init__(self, actor: str, max_inbox: int) -> None:
        super().__init__(f"mailbox of {actor} is full ({max_inbox} messages)")
        self.actor = actor
        self.max_inbox = max_inbox


class ActorCrashed(SupervisionError):
    """Wraps a ``BaseException`` (other than KeyboardInterrupt/SystemExit) from a handler.

    pykka stops *every* actor in the process on a ``BaseException``; a
    :class:`supervision.SupervisedActor` converts it to this so only that actor dies.
    """


class SupervisorStoppedError(SupervisionError):
    """A request was made to a supervisor that has already stopped."""


class EnvironmentDown(SupervisionError):
    """A resource of the tree's :class:`~supervision.environment.Environment` is down.

    Raised by a supervised actor's gate instead of handling a message; the actor exits with
    ``ExitReason.ENVIRONMENT`` and its supervisor starts it again once the resource is up.
    """

    def __init__(self, resource: str, reason: str) -> None:
        super().__init__(f"{resource} unavailable: {reason}")
        self.resource = resource
        self.reason = reason
