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

#: The trail holds account ids and every decision: readable by the engine's user only. Set at
#: creation (whatever the umask); an existing file keeps the mode its operator gave it.
FILE_MODE = 0o600


class AuditTrailError(OSError):
    """The trail file cannot be written. Unlike a plain ``OSError`` (whose repr, the form a
    crash is reported in, drops the file name), its message names the file."""


def append_lines(path: Path, lines: list[str]) -> None:
    """Append ``lines`` to the trail at ``path`` and fsync; create it ``FILE_MODE`` if new."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with open(fd, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _naming(exc, path) from exc


def _naming(exc: OSError, path: Path) -> AuditTrailError:
    what = exc.strerror or type(exc).__name__
    return AuditTrailError(
        exc.errno, f"cannot write the audit trail {path} (engine.audit_path): {what}"
    )


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _naming(exc, self.path) from exc
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
            append_lines(self.path, lines)
            self.cursor = rows[-1].id
            self.journal.set_mark("audit", _CURSOR, str(self.cursor))
            self.journal.mark_audit_drained(self.cursor)
            written += len(rows)
