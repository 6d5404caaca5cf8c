"""AuditActor: drains the journal's audit outbox into an append-only JSON-lines trail.

Every decision and broker call is written to the outbox by the actor that made it, in the same
transaction as the state change. This actor copies new rows to the trail file (fsynced) and
then advances the drained cursor, so a crash between the two repeats lines rather than losing
them: each line carries its outbox ``id``, and readers keep the first line per id.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from actors.messages import AuditWake, Tick
from store import Journal
from supervision import ChildContext, SupervisedActor

logger = logging.getLogger(__name__)

_CURSOR = "audit_trail_cursor"


class AuditActor(SupervisedActor):
    """Copies the outbox to ``path`` (JSON lines) in id order, at least once per row."""

    def __init__(
        self,
        context: ChildContext,
        *,
        journal: Journal,
        path: str | Path,
        interval_s: float = 0.5,
        batch: int = 500,
    ) -> None:
        super().__init__(context)
        self.journal = journal
        self.path = Path(path)
        self.interval_s = interval_s
        self.batch = batch
        self.cursor = 0

    def on_start(self) -> None:
        super().on_start()
        mark = self.journal.get_mark("audit", _CURSOR)
        self.cursor = int(mark) if mark else 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tell_every(self.interval_s, Tick())
        self.drain()

    def on_stop(self) -> None:
        self.drain()
        super().on_stop()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick | AuditWake):
            self.drain()
            return None
        return super().on_receive(message)

    def drain(self) -> int:
        """Append every undrained outbox row to the trail; returns how many were written."""
        written = 0
        while True:
            self.faults.point("audit.before_drain")
            rows = self.journal.audit_after(self.cursor, limit=self.batch)
            if not rows:
                return written
            lines = [
                json.dumps(
                    {
                        "id": r.id,
                        "at": r.at.isoformat(),
                        "kind": r.kind,
                        "actor": r.actor,
                        "account": r.account,
                        **{"payload": r.payload},
                    },
                    separators=(",", ":"),
                    default=str,
                )
                for r in rows
            ]
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.cursor = rows[-1].id
            self.journal.set_mark("audit", _CURSOR, str(self.cursor))
            self.journal.mark_audit_drained(self.cursor)
            written += len(rows)
