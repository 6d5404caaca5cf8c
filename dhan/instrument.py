"""A profiling hook on the REST client: told when each request starts and ends.

The model is Trio's ``Instrument``: an object whose methods ``DhanClient`` calls, only when one
is set (``client.instrument = MyInstrument()``; None, the default, removes it). With none set
the cost is one ``is None`` test per request. Subclass :class:`ClientInstrument` and override
what you need; the other methods do nothing.

A request starts once its body is encoded and ends once its answer is read and parsed (or
it failed): the span the client's own debug log times. Both calls run on the calling thread.
They receive the account (``client_id``), the method and path (which holds order ids, never a
token) and the correlation id of an order request. Keep them short and thread-safe; an
exception from them propagates to the client's caller.
"""

from __future__ import annotations

__all__ = ["ClientInstrument"]


class ClientInstrument:
    """Override any of these; the defaults do nothing."""

    def request_started(self, client_id: str, method: str, path: str, cid: str | None) -> None:
        """``client_id``'s client is about to send ``method path``."""

    def request_finished(
        self, client_id: str, method: str, path: str, cid: str | None, status: int | str
    ) -> None:
        """That request is over: ``status`` is the HTTP status, or the class name of the
        exception that ended it before an answer (then the client raises)."""
