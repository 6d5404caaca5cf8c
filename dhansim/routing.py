"""Routes declared beside their handlers.

``@route("GET", "/v2/orders")`` on a handler method says which requests it serves (stack several
for several paths); :func:`routes_of` turns an API object's marked methods into aiohttp routes
bound to it, in the order the class defines them. Both APIs (``/v2`` and ``/sim``) use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

F = TypeVar("F", bound=Callable[..., Any])

_ROUTES = "_dhansim_routes"


def route(method: str, path: str) -> Callable[[F], F]:
    """Mark a handler method as serving ``method path``."""

    def mark(handler: F) -> F:
        routes: list[tuple[str, str]] = getattr(handler, _ROUTES, [])
        # Decorators apply bottom-up: put this one first so the routes read top to bottom.
        setattr(handler, _ROUTES, [(method, path), *routes])
        return handler

    return mark


def routes_of(api: object) -> list[web.RouteDef]:
    """The routes of every marked method of ``api``'s class, bound to ``api``."""
    return [
        web.route(method, path, getattr(api, name))
        for name, member in vars(type(api)).items()
        for method, path in getattr(member, _ROUTES, ())
    ]
