"""A profiling hook on supervised actors: told when a message is queued, started and finished.

The model is Trio's ``Instrument``: an object whose methods the actor base calls at fixed
points, only when one is installed. With none installed (the default, and production) the
cost is one ``is not None`` test per message and per send.

Subclass :class:`ActorInstrument` and override the methods you need (the others do nothing),
then install it with :func:`installed` (or :func:`install`) *before* the actors start: like
``threading.setprofile``, an actor takes the instrument installed when it is constructed and
keeps it for its incarnation (a restarted actor takes the one installed at its restart).
pykka's actor system is process-wide, so this hook is too; the journal's and the client's
hooks (``store.instrument``, ``dhan.instrument``) belong to one object each.

What each method receives: the actor's name (its ``child_id``, e.g. ``follower.F1``) and the
message as it was queued -- the same object in all three calls, so an instrument can link
them by identity. A coalesced periodic message (``tell_every``) arrives as its
:class:`~supervision.timers.PeriodicTick` wrapper (``.message`` is the message). Methods run
on the threads named below, in the middle of the engine's work: keep them short, thread-safe,
never block and never send to an actor. An exception from a method propagates into the
actor (as from any other bug in the actor's code).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = ["ActorInstrument", "current", "install", "installed"]


class ActorInstrument:
    """Override any of these; the defaults do nothing."""

    def message_queued(self, actor: str, message: Any) -> None:
        """``message`` enters ``actor``'s inbox. Runs on the sender's thread, under the inbox's
        lock (so before the actor can dequeue it)."""

    def message_started(self, actor: str, message: Any) -> None:
        """``actor`` starts handling ``message``. Runs on the actor's thread."""

    def message_finished(self, actor: str, message: Any) -> None:
        """``actor`` is done with ``message``, however the handler ended (a return, an
        exception for the asker, a crash). Runs on the actor's thread."""


_installed: ActorInstrument | None = None

InstrumentT = TypeVar("InstrumentT", bound=ActorInstrument)


def install(instrument: ActorInstrument | None) -> ActorInstrument | None:
    """Make ``instrument`` the one actors constructed from now on use (None: no instrument).
    Returns the one it replaces."""
    global _installed
    previous, _installed = _installed, instrument
    return previous


def current() -> ActorInstrument | None:
    """The instrument an actor constructed now would use."""
    return _installed


@contextlib.contextmanager
def installed(instrument: InstrumentT) -> Iterator[InstrumentT]:
    """``instrument`` installed for the block; the previous one (usually none) after it."""
    previous = install(instrument)
    try:
        yield instrument
    finally:
        install(previous)
