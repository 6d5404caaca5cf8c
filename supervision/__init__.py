"""OTP-style supervision for pykka actors (placeholder docstring; full design below)."""

from supervision.actor import BoundedInbox, SupervisedActor
from supervision.children import ChildInfo, ChildState
from supervision.clock import Clock, ManualClock, SystemClock, TimerHandle
from supervision.context import ChildContext
from supervision.errors import (
    ActorCrashed,
    ChildUnavailable,
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
