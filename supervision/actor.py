"""The base class of supervised actors: death reporting on every path, timers, bounded inbox.

pykka alone reports a crash only for a tell-path handler (``on_failure``); an exception on the
ask path is handed to the caller and the actor keeps running; an ``on_start`` failure stops
the actor without ``on_failure``; a ``BaseException`` stops every actor in the process.
:class:`SupervisedActor` closes those gaps so that its supervisor learns of every exit,
exactly once, with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
from types import TracebackType
from typing import Any, ClassVar

import pykka
from pykka.messages import _ActorStop  # the one control message a full inbox must still take

from supervision.context import ChildContext
from supervision.errors import ActorCrashed, EnvironmentDown, MailboxFull
from supervision.instrument import ActorInstrument
from supervision.instrument import current as current_instrument
from supervision.specs import ExitReason
from supervision.timers import PeriodicTick, Timer, Timers

logger = logging.getLogger(__name__)


class BoundedInbox(queue.Queue[Any]):
    """A pykka inbox that refuses a message, in the sender, once ``max_messages`` wait.

    The check runs under the queue's own lock, so concurrent senders cannot overshoot the
    bound. Stop requests are always accepted: a full actor can still be shut down.
    ``instrument`` (``supervision.instrument``) is told of each message queued, as ``name``.
    """

    def __init__(
        self,
        owner: str,
        max_messages: int | None,
        *,
        name: str = "",
        instrument: ActorInstrument | None = None,
    ) -> None:
        super().__init__()
        self.owner = owner
        self.max_messages = max_messages
        self.name = name or owner
        self.instrument = instrument

    def _put(self, item: Any) -> None:
        if (
            self.max_messages is not None
            and len(self.queue) >= self.max_messages
            and not isinstance(getattr(item, "message", None), _ActorStop)
        ):
            raise MailboxFull(self.owner, self.max_messages)
        instrument = self.instrument
        if instrument is not None:
            instrument.message_queued(self.name, getattr(item, "message", item))
        super()._put(item)


class SupervisedActor(pykka.ThreadingActor):
    """A pykka actor whose every exit is reported to its supervisor.

    How each way of dying is detected (all on the actor's own thread):

    * exception in a tell-path handler, in ``on_start`` or ``on_stop``: pykka's failure
      path, which this class overrides to record the reason;
    * exception in an ask-path handler or proxy call: the caller still receives the
      exception, and the actor then *stops* -- an unexpected exception is a crash on every
      path. Exception types listed in :attr:`reply_exceptions` are replies instead: they go
      to the caller and the actor keeps running;
    * a ``BaseException`` (not KeyboardInterrupt/SystemExit) in a handler: converted to
      :class:`~supervision.errors.ActorCrashed` so only this actor dies;
    * the actor stopping itself: a NORMAL exit.

    When the actor's thread leaves its loop, for any reason, it cancels its timers, answers
    queued asks with ``ActorDeadError``, runs :meth:`on_exit` and reports the exit. A thread
    that dies without getting there is found by the supervisor's watchdog.

    Subclasses take the :class:`~supervision.context.ChildContext` as the first argument of
    ``__init__`` and pass it to ``super().__init__(context)``.
    """

    max_inbox: ClassVar[int | None] = None
    """Bound on queued messages; a sender beyond it gets ``MailboxFull``. None: unbounded."""

    reply_exceptions: ClassVar[tuple[type[Exception], ...]] = ()
    """Exceptions an ask handler raises as an answer to the caller, not as a crash."""

    def __init__(self, context: ChildContext) -> None:
        # both before pykka's __init__, which creates the inbox (``_create_actor_inbox``)
        self.context = context
        #: the profiling hook (``supervision.instrument``) of this incarnation; None: none
        self._instrument = current_instrument()
        super().__init__()
        self.clock = context.clock
        self.registry = context.registry
        self.faults = context.faults
        self.timers = Timers(context.clock)
        self._crash: str | None = None
        #: the resource whose outage ended this incarnation (an ENVIRONMENT exit), if any
        self._environment_fault: str | None = None
        self._thread: threading.Thread | None = None

    # -- public helpers --------------------------------------------------------------------

    def tell_later(self, delay_s: float, message: Any) -> Timer:
        """Deliver ``message`` to this actor once, after ``delay_s``."""
        return self.timers.tell_later(delay_s, self.actor_ref, message)

    def tell_every(self, interval_s: float, message: Any, *, first_s: float | None = None) -> Timer:
        """Deliver ``message`` to this actor every ``interval_s`` until cancelled or exit;
        the first after ``first_s`` (default one interval: pass a random phase to keep many
        actors started together from ticking in step).

        Coalesced: while one is still waiting in the inbox, the next period is skipped, so a
        handler slower than ``interval_s`` never builds a backlog of ticks.
        """
        return self.timers.tell_every(
            interval_s, self.actor_ref, message, coalesce=True, first_s=first_s
        )

    def mailbox_depth(self) -> int:
        """Messages waiting in this actor's inbox (a gauge for metrics)."""
        return self.actor_inbox.qsize()  # type: ignore[attr-defined]  # BoundedInbox is a queue.Queue

    def thread_is_alive(self) -> bool:
        """False once the actor's thread has ended (True before it has started)."""
        thread = self._thread
        return thread is None or thread.is_alive()

    def on_exit(self, reason: ExitReason) -> None:
        """Release resources; runs on the actor's thread after the last message, on every
        exit path (normal, crash, shutdown, failed ``on_start``). Exceptions are logged.
        """

    # -- pykka internals this class overrides ----------------------------------------------
    # pykka 4.x: _create_actor_inbox, _actor_loop, _handle_failure, _handle_receive. The
    # supervision tests pin the behaviour each override relies on.

    def _create_actor_inbox(self) -> BoundedInbox:  # type: ignore[override]  # pykka's is a staticmethod; we need the class's bound
        return BoundedInbox(
            type(self).__name__,
            self.max_inbox,
            name=self.context.child_id,
            instrument=self._instrument,
        )

    def _actor_loop(self) -> None:
        self._thread = threading.current_thread()
        try:
            super()._actor_loop()
        except (KeyboardInterrupt, SystemExit) as exc:
            self._record_crash(exc)
            raise
        except BaseException as exc:
            # Escaped from on_start or teardown, which pykka guards only against Exception;
            # it would leave the actor "alive" with no thread.
            self._handle_failure(type(exc), exc, exc.__traceback__)
        finally:
            self._finish()

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Same as pykka's, but logs the first failure only: the ask path (below) has already
        # logged it by the time pykka's tell-path handling calls this again.
        if self._crash is None:
            fault = self._fault_of(exception_value)
            if fault is not None:
                # not a bug: one line, no traceback (a store outage ends every actor at once)
                self._environment_fault = fault
                logger.warning("%s paused: %s unavailable: %r", self, fault, exception_value)
            else:
                logger.error(
                    "Unhandled exception in %s",
                    self,
                    exc_info=(exception_type, exception_value, traceback),  # type: ignore[arg-type]  # pykka passes a full exc_info triple
                )
            self._record_crash(exception_value)
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()

    def _handle_receive(self, message: Any) -> Any:
        queued = message
        if type(message) is PeriodicTick:
            message = message.unwrap()
        environment = self.context.environment
        if environment is not None and not isinstance(message, _ActorStop):
            # The gate: while a resource this actor needs is down it handles nothing (a
            # message may lead to a send that cannot be journaled); it exits ENVIRONMENT.
            down = environment.first_down(self.context.needs)
            if down is not None:
                exc = EnvironmentDown(*down)
                self._handle_failure(type(exc), exc, None)
                raise exc
        instrument = self._instrument
        if instrument is not None:
            instrument.message_started(self.context.child_id, queued)
        try:
            return super()._handle_receive(message)
        except self.reply_exceptions:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            # Stop now; pykka still hands the exception to an asker (or to on_failure).
            self._handle_failure(type(exc), exc, exc.__traceback__)
            raise
        except BaseException as exc:
            self._handle_failure(type(exc), exc, exc.__traceback__)
            raise ActorCrashed(repr(exc)) from exc
        finally:
            if instrument is not None:
                instrument.message_finished(self.context.child_id, queued)

    # -- exit ------------------------------------------------------------------------------

    def _fault_of(self, exc: BaseException | None) -> str | None:
        """The environment resource whose outage ``exc`` means, if any."""
        if isinstance(exc, EnvironmentDown):
            return exc.resource
        environment = self.context.environment
        return environment.fault_of(exc) if environment is not None else None

    def _record_crash(self, exc: BaseException | None) -> None:
        if self._crash is None:
            self._crash = repr(exc) if exc is not None else "unknown failure"

    def _finish(self) -> None:
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        self.timers.cancel_all()
        self._answer_leftover_asks()
        reason = ExitReason.CRASH if self._crash is not None else ExitReason.NORMAL
        fault = self._environment_fault
        if fault is not None:
            reason = ExitReason.ENVIRONMENT
            environment = self.context.environment
            if environment is not None:
                # before the report: the supervisor then finds it down and waits for it
                environment.report_fault(fault, self._crash or "unavailable")
        try:
            self.on_exit(reason)
        except Exception:
            logger.exception("on_exit of %s failed", self)
        self.context.report_exit(reason, self._crash)

    def _answer_leftover_asks(self) -> None:
        # pykka's teardown does this too, but it does not run when on_start escapes with a
        # BaseException, and a sender can slip a message in after it ran.
        while True:
            try:
                envelope = self.actor_inbox.get(block=False)  # type: ignore[call-arg]  # a queue.Queue
            except queue.Empty:
                return
            if envelope.reply_to is None:
                continue
            try:
                if isinstance(envelope.message, _ActorStop):
                    envelope.reply_to.set(None)  # "stopped", as pykka answers it
                else:
                    dead = pykka.ActorDeadError(f"{self.actor_ref} stopped before handling it")
                    envelope.reply_to.set_exception(exc_info=(type(dead), dead, None))
            except queue.Full:  # already answered
                pass
