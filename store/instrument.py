"""A profiling hook on the journal: told when each write transaction starts and ends.

The model is Trio's ``Instrument``: an object whose methods the journal calls, only when one
is set (``journal.instrument = MyInstrument()``; None, the default, removes it). With none set
the cost is one ``is None`` test per write. Subclass :class:`JournalInstrument` and override
what you need; the other methods do nothing.

A write is one transaction of one public ``Journal`` method (``transition``,
``record_and_claim``, ``append_audit``, ...): it starts before the journal waits for its place
(SQLite: in the group commit) and ends after the commit (or the failure). Both calls run on the
calling thread, so an instrument can tell which actor's message the write belongs to. Keep
them short and thread-safe; an exception from them propagates to the journal's caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["JournalInstrument", "observed_write"]

T = TypeVar("T")


class JournalInstrument:
    """Override any of these; the defaults do nothing."""

    def write_started(self) -> None:
        """A write transaction is about to begin, on this thread."""

    def write_finished(self, error: BaseException | None) -> None:
        """The write begun by the last ``write_started`` on this thread has committed
        (``error`` None) or failed with ``error``."""


@contextlib.contextmanager
def observed_write(
    instrument: JournalInstrument, transaction: contextlib.AbstractContextManager[T]
) -> Iterator[T]:
    """``transaction`` (the journal's write), with ``instrument`` told of its start and end."""
    instrument.write_started()
    error: BaseException | None = None
    try:
        with transaction as conn:
            yield conn
    except BaseException as exc:
        error = exc
        raise
    finally:
        instrument.write_finished(error)
