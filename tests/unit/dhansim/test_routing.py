"""Routes declared beside their handlers (``dhansim.routing``): what ``routes_of`` collects,
and that the two APIs declare each endpoint once and serve every rate-limited one."""

from __future__ import annotations

from collections import Counter

import pytest
from aiohttp import web

from dhansim.admin_api import AdminApi
from dhansim.rest import ORDER_WRITE_ENDPOINTS, STATIC_IP_ENDPOINTS, RestApi
from dhansim.routing import route, routes_of


class _Api:
    def __init__(self, name: str) -> None:
        self.name = name

    @route("GET", "/b")
    async def second_in_file_first_in_class(self, request: web.Request) -> web.Response:
        return web.Response(text=self.name)

    @route("GET", "/a")
    @route("GET", "/a/")
    @route("DELETE", "/a")
    async def stacked(self, request: web.Request) -> web.Response:
        return web.Response(text=self.name)

    async def unmarked(self, request: web.Request) -> web.Response:
        return web.Response()


def test_routes_of_collects_marked_methods_in_class_order_bound_to_the_object() -> None:
    api = _Api("x")
    got = [(r.method, r.path, r.handler.__name__) for r in routes_of(api)]
    assert got == [
        ("GET", "/b", "second_in_file_first_in_class"),
        ("GET", "/a", "stacked"),
        ("GET", "/a/", "stacked"),
        ("DELETE", "/a", "stacked"),
    ]
    assert all(getattr(r.handler, "__self__", None) is api for r in routes_of(api))


@pytest.mark.parametrize(
    ("api_type", "prefixes"),
    [
        # /app/: Dhan's auth host (PIN + TOTP login); /api-data/: its instrument files' host
        (RestApi, ("/v2/", "/app/", "/api-data/")),
        (AdminApi, ("/sim/",)),
    ],
)
def test_each_endpoint_is_declared_once_under_its_api_prefix(
    api_type: type[RestApi | AdminApi], prefixes: tuple[str, ...]
) -> None:
    routes = routes_of(api_type.__new__(api_type))
    twice = [k for k, n in Counter((r.method, r.path) for r in routes).items() if n > 1]
    assert twice == []
    assert [r.path for r in routes if not r.path.startswith(prefixes)] == []


@pytest.mark.parametrize("endpoints", [ORDER_WRITE_ENDPOINTS, STATIC_IP_ENDPOINTS])
def test_every_limited_endpoint_is_served(endpoints: frozenset[str]) -> None:
    served = {
        f"{r.method} {r.path.removeprefix('/v2')}" for r in routes_of(RestApi.__new__(RestApi))
    }
    assert sorted(endpoints - served) == []
