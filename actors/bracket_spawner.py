"""Starting the BracketLegActors of one follower's bracket copies (CO, BO, super orders).

Each bracket copy gets one BracketLegActor under the follower's supervisor, started when its
entry is acked or found at the broker, and again at start for every bracket still open.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from actors.bracket_leg import BracketLegActor
from actors.follower_book import FollowerBook
from actors.messages import Tick
from actors.names import bracket_name
from actors.orders import is_bracket
from actors.settings import EngineConfig
from actors.telemetry import ActorMetrics
from dhan.rest import DhanClient
from store import Journal
from store.records import Intent
from supervision import ChildContext, ChildSpec, Restart
from supervision.errors import ChildUnavailable
from supervision.registry import NameState

logger = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class BracketSpawner:
    """Starts (once) and hints the BracketLegActors of one follower."""

    #: this follower's link to its supervisor (the brackets are its children) and registry
    context: ChildContext
    follower: str
    client: DhanClient
    journal: Journal
    engine: EngineConfig
    metrics: ActorMetrics
    #: the follower's books, shared with its brackets
    book: FollowerBook

    def spawn(self, intent: Intent) -> None:
        """Start the BracketLegActor of ``intent`` under this follower's supervisor (once)."""
        name = bracket_name(self.follower, intent.leader_order_id)
        supervisor = self.context.supervisor
        if supervisor is None or self.context.registry.state(name) is NameState.RUNNING:
            return
        spec = ChildSpec.actor(
            name,
            BracketLegActor,
            follower=self.follower,
            intent_id=intent.id,
            client=self.client,
            journal=self.journal,
            engine=self.engine,
            metrics=self.metrics,
            book=self.book,
            restart=Restart.TRANSIENT,
        )
        try:
            supervisor.start_child(spec, timeout_s=2.0)
        except ValueError:
            pass  # already a child (running or settled)
        except Exception as exc:  # the supervisor is stopping: the next start spawns it
            logger.info("follower %s: bracket %s not started: %r", self.follower, name, exc)

    def spawn_open(self) -> None:
        """At start: a BracketLegActor for every acked bracket copy whose legs may be open."""
        for intent in self.journal.intents(self.follower):
            if is_bracket(intent) and intent.broker_order_id is not None:
                legs = self.journal.legs(intent.id)
                if not legs or any(leg.is_open for leg in legs):
                    self.spawn(intent)

    def hint(self, leader_order_ids: Iterable[str]) -> None:
        """Tell the brackets of these leader orders to look at their legs now."""
        for oid in leader_order_ids:
            with contextlib.suppress(ChildUnavailable):
                self.context.registry.tell(bracket_name(self.follower, oid), Tick())
