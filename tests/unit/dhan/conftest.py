"""Fixtures for the wire-layer tests: a scripted fake Dhan REST API on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dhan.rest import DhanClient
from tests.unit.dhan.fake_dhan import FakeDhan

TOKEN = "eyJ-secret-token-0123456789"
CLIENT_ID = "1100000001"


@pytest.fixture
def fake() -> Iterator[FakeDhan]:
    server = FakeDhan().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(fake: FakeDhan) -> Iterator[DhanClient]:
    c = DhanClient(
        base_url=fake.url + "/v2",
        client_id=CLIENT_ID,
        access_token=TOKEN,
        connect_timeout_s=0.5,
        read_timeout_s=0.5,
    )
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def second_loopback() -> str:
    """``127.0.0.2``, or the test is skipped on a host that cannot bind it. Linux routes all of
    127/8 to lo, so a connection from it proves a bind is not the default choice."""
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("this host cannot bind 127.0.0.2")
    finally:
        probe.close()
    return "127.0.0.2"
