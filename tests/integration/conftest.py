"""Fixtures that run the AX simulator on 127.0.0.1 (an ephemeral port) for integration tests.

Simulators:

* ``sim``: a quiet venue: no market makers, heartbeats every 0.2 s, default user only. Add
  liquidity with ``sim.add_liquidity(symbol, side, price, qty)``, users with
  ``sim.add_user()``, tokens with ``sim.issue_token(user_id)``; faults via ``sim.faults``.
* ``sim_with_makers``: the same with the built-in makers re-quoting every 0.1 s (a live book).
* ``sim_factory``: ``await sim_factory(SimConfig(...))`` starts any configuration (host and
  port are forced to 127.0.0.1:0); every simulator is stopped at teardown.

Clients (plain aiohttp, not axorders' own client):

* ``http``: an ``aiohttp.ClientSession``.
* ``orders_ws``: ``ws, login = await orders_ws(sim, token=None, query="", headers=None)``
  opens ``/orders/ws`` (default: the default user's fresh token as ``Bearer``) and reads the
  rid-0 login. ``ws`` is a :class:`WsClient`.
* ``md_ws``: ``ws = await md_ws(sim)`` opens ``/md/ws``.
* ``eventually``: ``await eventually(lambda: condition)`` polls until true (5 s at most).
* ``raw_ws``: ``ws = await raw_ws(sim, path="/orders/ws")`` opens a WebSocket on a bare TCP
  stream that shows every frame as it came (:class:`RawWs`: fragments are not reassembled).

:class:`WsClient` skips heartbeats (``h``/``pu``) unless asked: ``recv()`` returns the next
JSON frame as a dict, ``recv_until(predicate)`` the frames up to the first match,
``send(obj)`` sends a dict (as JSON), a str or bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer

TIMEOUT = 5.0
"""Seconds any single wait may take before a test fails (generous: never a timing claim)."""

HEARTBEATS = frozenset({"h", "pu"})


class WsClient:
    """A thin JSON helper over an aiohttp client WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            await self.ws.send_str(json.dumps(frame))
        elif isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def recv_message(self, timeout: float = TIMEOUT) -> aiohttp.WSMessage:
        async with asyncio.timeout(timeout):
            return await self.ws.receive()

    async def recv(self, timeout: float = TIMEOUT, *, heartbeats: bool = False) -> dict[str, Any]:
        """The next JSON frame (heartbeats skipped unless ``heartbeats``)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"expected a text frame, got {msg.type!r} {msg.data!r}")
                frame: dict[str, Any] = json.loads(msg.data)
                if heartbeats or frame.get("t") not in HEARTBEATS:
                    return frame

    async def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> list[dict[str, Any]]:
        """Frames up to and including the first one matching ``predicate``."""
        frames = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                frames.append(frame)
                if predicate(frame):
                    return frames

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[[SimConfig | None], Awaitable[SimServer]]]:
    started: list[SimServer] = []

    async def start(config: SimConfig | None = None) -> SimServer:
        config = config or SimConfig(makers=False, heartbeat_interval=0.2)
        config.host, config.port = "127.0.0.1", 0
        server = SimServer(config)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop()


@pytest.fixture
async def sim(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]],
) -> SimServer:
    return await sim_factory(SimConfig(makers=False, heartbeat_interval=0.2))


@pytest.fixture
async def sim_with_makers(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]],
) -> SimServer:
    return await sim_factory(SimConfig(makers=True, maker_interval=0.1, heartbeat_interval=0.2))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


OrdersWs = Callable[..., Awaitable[tuple[WsClient, dict[str, Any]]]]
MdWs = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def orders_ws(http: aiohttp.ClientSession) -> AsyncIterator[OrdersWs]:
    opened: list[WsClient] = []

    async def connect(
        server: SimServer,
        token: str | None = None,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        read_login: bool = True,
    ) -> tuple[WsClient, dict[str, Any]]:
        if headers is None:
            headers = {"Authorization": f"Bearer {token or server.issue_token()}"}
        url = server.orders_ws_url + (f"?{query}" if query else "")
        ws = WsClient(await http.ws_connect(url, headers=headers, autoping=True))
        opened.append(ws)
        login = await ws.recv() if read_login else {}
        return ws, login

    yield connect
    for ws in opened:
        await ws.close()


@pytest.fixture
async def md_ws(http: aiohttp.ClientSession) -> AsyncIterator[MdWs]:
    opened: list[WsClient] = []

    async def connect(server: SimServer, token: str | None = None) -> WsClient:
        headers = {"Authorization": f"Bearer {token or server.issue_token()}"}
        ws = WsClient(await http.ws_connect(server.md_ws_url, headers=headers))
        opened.append(ws)
        return ws

    yield connect
    for ws in opened:
        await ws.close()


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    async def wait(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    return wait


class RawWs:
    """A WebSocket client on a bare TCP stream that reports every frame as it came.

    aiohttp reassembles fragmented messages; this one does not: :meth:`frame` returns
    ``(fin, opcode, payload)`` of the next frame (server frames are unmasked), and
    :meth:`message` joins a fragmented message and returns it with the frames it came in.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, server: SimServer, path: str = "/orders/ws") -> RawWs:
        import base64
        import os

        reader, writer = await asyncio.open_connection(server.host, server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {server.issue_token()}\r\n\r\n"
            ).encode()
        )
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self, timeout: float = TIMEOUT) -> tuple[bool, int, bytes]:
        async with asyncio.timeout(timeout):
            first, second = await self.reader.readexactly(2)
            n = second & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            assert not second & 0x80, "server frames are not masked"
            payload = await self.reader.readexactly(n)
        return bool(first & 0x80), first & 0x0F, payload

    async def message(self, timeout: float = TIMEOUT) -> tuple[dict[str, Any], int]:
        """The next text message (heartbeats skipped) and how many frames it took."""
        while True:
            fin, opcode, payload = await self.frame(timeout)
            if opcode in (0x9, 0xA):  # ping / pong
                continue
            assert opcode == 0x1, f"a message starts with a text frame, not opcode {opcode}"
            parts, count = [payload], 1
            while not fin:
                fin, opcode, payload = await self.frame(timeout)
                if opcode in (0x9, 0xA):  # control frames may come between fragments
                    continue
                assert opcode == 0x0, f"expected a continuation frame, got opcode {opcode}"
                parts.append(payload)
                count += 1
            frame: dict[str, Any] = json.loads(b"".join(parts))
            if frame.get("t") not in HEARTBEATS:
                return frame, count

    async def send(self, obj: dict[str, Any]) -> None:
        import os

        payload = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes((0x81, 0x80 | n))
        else:
            header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def raw_ws() -> AsyncIterator[Callable[..., Awaitable[RawWs]]]:
    opened: list[RawWs] = []

    async def connect(server: SimServer, path: str = "/orders/ws") -> RawWs:
        ws = await RawWs.connect(server, path)
        opened.append(ws)
        return ws

    yield connect
    for ws in opened:
        ws.close()
