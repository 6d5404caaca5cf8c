"""Move SQLite WAL checkpoints off the commit path onto one background thread.

By default SQLite checkpoints inside whichever commit pushes the WAL past 1000 pages, so an
unlucky leader event pays for copying (and, with synchronous=FULL, fsyncing) everyone's pages.
The journal's connections switch that off; this thread runs ``PRAGMA wal_checkpoint(PASSIVE)``
every ``interval_s`` on its own connection instead (PASSIVE never blocks writers). If the thread
stopped, the connections' backstop (a large ``wal_autocheckpoint``) still bounds the WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

#: Pages after which a commit checkpoints by itself anyway (only if this thread falls behind).
BACKSTOP_PAGES = 20_000


class WalCheckpointer:
    """A daemon thread that checkpoints one SQLite database's WAL every ``interval_s``."""

    def __init__(
        self, path: str, *, interval_s: float = 0.2, busy_timeout_ms: int = 10_000
    ) -> None:
        self._path = path
        self._interval_s = interval_s
        self._busy_timeout_ms = busy_timeout_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="journal-wal-checkpoint", daemon=True
        )
        self.checkpoints = 0  #: completed checkpoint calls (for tests and metrics)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (after its current checkpoint) and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            while not self._stop.wait(self._interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    # A checkpoint that cannot run now is retried next round; the data is
                    # safe in the WAL meanwhile.
                    self.failures += 1
                    logger.warning("journal WAL checkpoint failed: %s", exc)
        finally:
            conn.close()
