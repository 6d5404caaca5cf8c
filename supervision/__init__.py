"""OTP-style supervision for pykka actors: child specs, restarts, escalation, stable names.

pykka gives actors but no supervision. This package adds, on top of pykka 4.x and knowing
nothing of Dhan: supervisors with OTP restart semantics, death detection on every path,
restart intensity with escalation or quarantine, per-child backoff, a registry of stable
names, timers and a controllable clock, lifecycle events, and seeded fault injection.

The tree (the engine's, built in ``copytrader/engine.py``; see ``docs/architecture.md``)::

    root                    Supervisor  one_for_one, Intensity(3, 60 s), FAIL_UP -> on_give_up
     |-- audit              SupervisedActor   PERMANENT
     |-- rate-limiter       SupervisedActor   PERMANENT
     |-- followers.F1       Supervisor  Intensity(5, 60 s), QUARANTINE
     |    |-- follower.F1   SupervisedActor   PERMANENT, Backoff(0.05 s -> 5 s)
     |    `-- bracket.F1.<id>  SupervisedActor   TRANSIENT, added at run time (start_child)
     `-- leader             Supervisor  Intensity(30, 60 s), FAIL_UP
          `-- leader-feed   SupervisedActor   PERMANENT, Backoff(0.5 s x2 -> 30 s, +/-20 %)

Semantics (OTP's, with the additions marked *)::

    exit reason    PERMANENT   TRANSIENT   TEMPORARY   counts toward intensity
    -----------    ---------   ---------   ---------   -----------------------
    NORMAL         restart     stays down  removed     yes, when restarted
    CRASH          restart     restart     removed     yes, when restarted
    SHUTDOWN       -- the supervisor stopped it (stop, terminate_child, a sibling's
                      ONE_FOR_ALL / REST_FOR_ONE restart): never counted as an exit
    QUARANTINED*   a nested QUARANTINE supervisor gave up: stays down, not counted
    ENVIRONMENT*   a shared resource it needs is down (``Environment``): restarted once
                   the resource is up again, with no backoff; never counted

    more than R restarts within T s (``Intensity(R, T)``):
      FAIL_UP      stop all children (reverse start order), publish Escalated, exit as a
                   CRASH to the parent; at the root: outcome GAVE_UP and ``on_give_up(reason)``
      QUARANTINE*  stop all children, publish Quarantined, exit QUARANTINED to the parent;
                   the parent keeps its other children running

How a death is detected (:class:`SupervisedActor`; each path is a test in
``tests/unit/supervision/test_death_detection.py``):

* tell-path exception, ``on_start`` / ``on_stop`` exception: pykka's failure path, overridden
  to record the reason (pykka runs no ``on_failure`` for ``on_start``; ``on_exit`` runs).
* ask-path exception (``ask``, proxy calls): pykka hands it to the caller and keeps the actor
  running. Here the caller still receives it, and then the actor *stops as crashed*: an
  unexpected exception is a crash on every path. Exceptions a handler means as answers are
  listed in ``reply_exceptions`` and do not kill the actor.
* ``BaseException`` in a handler (not KeyboardInterrupt/SystemExit): pykka would stop *every*
  actor; it becomes :class:`ActorCrashed` so only this actor dies.
* the actor stopping itself: a NORMAL exit.
* the actor's thread ending with no report (or a plain ``pykka.ThreadingActor`` child, which
  reports nothing): the supervisor's watchdog, every ``watchdog_interval_s`` on the clock,
  checks the thread / ``is_alive()`` and, after any report already queued, declares a CRASH
  with ``error == WATCHDOG_VERDICT``.

Every exit is reported once, from the actor's thread, after its timers are cancelled, queued
asks are answered with ``ActorDeadError`` and ``on_exit(reason)`` ran. Relied-on pykka
internals (``_actor_loop``, ``_handle_failure``, ``_handle_receive``, ``_create_actor_inbox``)
are pinned by those tests.

Why a supervisor is a plain object with its own thread, not a pykka actor: pykka's
``ActorRegistry.stop_all()`` (run on any BaseException in any actor) must not take the
supervisors down too, and a supervisor takes timed blocking steps (stop a child within its
timeout) that must not sit in an actor inbox. All its state changes on that one thread;
other threads post commands (``start_child``, ``terminate_child``, ``which_children``,
``stop``) and wait for the answer. Restarts never block other children (each actor has its
own thread); a backoff is a clock timer, so the supervisor keeps handling other exits while
one child waits. Stopping a child does block the supervisor, up to its
``shutdown_timeout_s`` -- as in OTP.

Public API::

    Restart.PERMANENT | TRANSIENT | TEMPORARY
    Strategy.ONE_FOR_ONE | ONE_FOR_ALL | REST_FOR_ONE
    Escalation.FAIL_UP | QUARANTINE
    ExitReason.NORMAL | CRASH | SHUTDOWN | QUARANTINED
    Backoff(initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2, reset_after_s=60.0)
    Intensity(max_restarts=3, period_s=60.0)
    ChildSpec(id, start: (ChildContext) -> ActorRef | Supervisor, restart=PERMANENT,
              backoff=None (restart at once), shutdown_timeout_s=5.0)
    ChildSpec.actor(id, ActorClass, *args, restart=, backoff=, shutdown_timeout_s=, **kwargs)
        -> ActorClass.start(context, *args, **kwargs)
    Supervisor(name, specs, *, strategy=ONE_FOR_ONE, intensity=Intensity(), escalation=FAIL_UP,
               context=None (root) | ChildContext (nested), clock=None, registry=None,
               events=None, faults=None, on_give_up=None, rng=None, watchdog_interval_s=1.0)
        .start(timeout_s=30) -> self          initial children in order; a failing factory
                                               here makes start() raise (OTP init failure)
        .start_child(spec) -> ActorRef | Supervisor     .terminate_child(id) -> bool
        .which_children() -> list[ChildInfo]            .stop(timeout_s=None) -> bool
        .wait(timeout_s=None) -> SupervisorOutcome      .outcome  .events  .registry  .clock
    Supervisor.child_spec(id, specs, *, strategy, intensity, escalation, restart, backoff,
                          shutdown_timeout_s=10.0) -> ChildSpec   (a nested supervisor)
    SupervisedActor(context)   .context .clock .registry .faults .timers
        .tell_later(delay_s, msg) / .tell_every(interval_s, msg) -> Timer   (ticks are messages)
        .on_exit(reason)  .mailbox_depth()
        class attributes: max_inbox: int | None (MailboxFull beyond it), reply_exceptions
    ChildContext: child_id, incarnation, path, clock, registry, events, faults, supervisor;
        ChildContext.detached(child_id, clock=...) runs a supervised actor with no supervisor
    Registry: get(name) -> ActorRef, tell(name, msg), ask(name, msg, timeout_s),
        wait_running(name, timeout_s), state(name) -> NameState, mailbox_depths()
    EventBus: subscribe(callback) -> Subscription(.cancel()), publish(event), close()
        events: ChildStarted, ChildExited(reason, error), RestartScheduled(attempt, delay_s),
        ChildRestarted(attempt, delay_s), Escalated, Quarantined, SupervisorStopped(clean)
    Clock protocol: monotonic(), call_later(delay_s, fn) -> TimerHandle;
        SystemClock (one scheduler thread), ManualClock(advance(s), pending_due_s())
    Timers(clock): call_later, call_every, tell_later, tell_every, cancel_all
    supervision.faults: point(name), Faults(arm(plan), disarm(), point(name), fired()),
        FaultPlan(seed, probabilities={point: p}, at_hits={point: [3]}),
        ChaosFault(Exception), FAULTS (the global default)
    Environment(name)  .add_resource(name, probe=, classify=, backoff=, check_interval_s=)
        .report_fault(name, reason)  .first_down(needs)  .down()  .is_up(name)
        .when_up(needs, callback)  .subscribe(listener(name, up, reason))  .close()
        (Supervisor(environment=...); ChildSpec(needs=...); EnvironmentDown from the gate)
    supervision.testing: EventRecorder(bus).wait_for(Kind, timeout_s, count, **fields),
        wait_until(predicate, timeout_s)
    supervision.instrument: ActorInstrument (message_queued / message_started /
        message_finished(actor, message); no-ops), installed(obj) / install(obj) / current():
        a profiling hook, taken by each actor at its start; none installed: no cost

Delivery rules. A message to a child that is not running raises :class:`ChildUnavailable`
in the sender (restarting, quarantined, stopped, unknown, or dead and not yet noticed): it
is never buffered and never dropped silently, because messages are wake-up hints and a
restarted actor rebuilds its work from the journal. Messages already queued when an actor
dies die with it (as an OTP mailbox does): a queued ask is answered with ``ActorDeadError``,
a queued tell is discarded. An actor with ``max_inbox`` refuses a
message beyond the bound with :class:`MailboxFull` (stop requests always pass); depth is
``actor_inbox.qsize()`` of pykka's ``queue.Queue`` inbox (``Registry.mailbox_depths()``).
Event subscribers run on the bus's own thread in publication order; one that raises is
logged. Timer callbacks run on the clock's thread and must be quick (tell, post).

Root give-up: ``root.wait()`` returns ``SupervisorOutcome.GAVE_UP`` and ``on_give_up(reason)``
runs on the root's thread; the CLI exits non-zero on either (``os._exit`` from the callback,
or ``sys.exit(1)`` in the main thread after ``wait``), and systemd restarts the process.
"""

from supervision.actor import BoundedInbox, SupervisedActor
from supervision.children import ChildInfo, ChildState
from supervision.clock import Clock, ManualClock, SystemClock, TimerHandle
from supervision.context import ChildContext
from supervision.environment import Environment
from supervision.errors import (
    ActorCrashed,
    ChildUnavailable,
    EnvironmentDown,
    MailboxFull,
    SupervisionError,
    SupervisorStoppedError,
)
from supervision.events import (
    ChildExited,
    ChildRestarted,
    ChildStarted,
    Escalated,
    EventBus,
    Quarantined,
    RestartScheduled,
    Subscription,
    SupervisionEvent,
    SupervisorStopped,
)
from supervision.faults import FAULTS, ChaosFault, FaultFired, FaultPlan, Faults
from supervision.registry import NameState, Registry, mailbox_depth
from supervision.specs import (
    Backoff,
    ChildSpec,
    Escalation,
    ExitReason,
    Intensity,
    Restart,
    Strategy,
)
from supervision.supervisor import WATCHDOG_VERDICT, Supervisor, SupervisorOutcome
from supervision.timers import Timer, Timers

__all__ = [
    "FAULTS",
    "WATCHDOG_VERDICT",
    "ActorCrashed",
    "Backoff",
    "BoundedInbox",
    "ChaosFault",
    "ChildContext",
    "ChildExited",
    "ChildInfo",
    "ChildRestarted",
    "ChildSpec",
    "ChildStarted",
    "ChildState",
    "ChildUnavailable",
    "Clock",
    "Environment",
    "EnvironmentDown",
    "Escalated",
    "Escalation",
    "EventBus",
    "ExitReason",
    "FaultFired",
    "FaultPlan",
    "Faults",
    "Intensity",
    "MailboxFull",
    "ManualClock",
    "NameState",
    "Quarantined",
    "Registry",
    "Restart",
    "RestartScheduled",
    "Strategy",
    "Subscription",
    "SupervisedActor",
    "SupervisionError",
    "SupervisionEvent",
    "Supervisor",
    "SupervisorOutcome",
    "SupervisorStopped",
    "SupervisorStoppedError",
    "SystemClock",
    "Timer",
    "TimerHandle",
    "Timers",
    "mailbox_depth",
]
