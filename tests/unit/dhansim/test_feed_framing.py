"""The order socket's own frame writer puts on the wire exactly the bytes aiohttp's server-side
writer puts there for ``send_str``, at every payload-length boundary of RFC 6455."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import WebSocketWriter

from dhansim.feed import _text_frame


class _Capture(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def _aiohttp_frame(payload: bytes) -> bytes:
    async def send() -> bytes:
        transport = _Capture()
        writer = WebSocketWriter(BaseProtocol(asyncio.get_running_loop()), transport)
        await writer.send_frame(payload, WSMsgType.TEXT)
        return bytes(transport.written)

    return asyncio.run(send())


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 1300, 65535, 65536, 70_000])
def test_a_text_frame_is_byte_for_byte_the_frame_aiohttp_sends(length: int):
    payload = bytes(ord("a") + i % 26 for i in range(length))
    assert _text_frame(payload) == _aiohttp_frame(payload)
