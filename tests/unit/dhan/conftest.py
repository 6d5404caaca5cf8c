"""Fixtures for the wire-layer tests: a scripted fake Dhan REST API on loopback."""

from __future__ import annotations

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
