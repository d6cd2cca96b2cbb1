"""REST, authentication and both WebSockets through an HTTP proxy: an explicit one with
credentials, the standard environment variables, NO_PROXY, and no credentials in the logs.

The proxy is a few lines of asyncio started by each test: a CONNECT opens a tunnel (the
WebSockets), any other request is forwarded as it is (plain-HTTP REST); both are counted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, wait_until

from axorders import events as ev
from axorders.auth import ApiKeyAuth
from axorders.client import OrdersClient
from axorders.config import proxy_for, proxy_secrets, safe_proxy
from axorders.exceptions import ConnectError
from axorders.model import Instrument
from axorders.sim import SimServer

PASSWORD = "s3cr3t-pr0xy-pw"
BID = MARK - 10 * TICK
PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "WS_PROXY",
    "WSS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


class Proxy:
    """A local HTTP proxy: CONNECT tunnels and forwarded requests, counted."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.forwarded: list[str] = []
        self.credentials: list[str] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def used(self) -> int:
        return len(self.tunnels) + len(self.forwarded)

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            for line in head.decode().split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "proxy-authorization":
                    _, _, encoded = value.strip().partition(" ")
                    self.credentials.append(base64.b64decode(encoded).decode())
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                self.tunnels.append(target)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                assert parts.hostname is not None and parts.port is not None
                up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port)
                self.forwarded.append(f"{method} {parts.path}")
                up_writer.write(head)  # absolute-form: the gateway accepts it
        except (OSError, ValueError, asyncio.IncompleteReadError):
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._pipes.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    server = Proxy()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def session_with_stop(client: OrdersClient, rec: Recorder, name: str) -> None:
    """Log in, place and cancel an order, and arm a STOP_LIMIT (market data)."""
    await client.connect()
    resolved = await client.place_order(name, SYMBOL, "BUY", 100, BID)
    assert resolved.venue_order_id is not None
    await client.submit_order(
        name + "-stop", SYMBOL, "BUY", 100, MARK + 20 * TICK, order_type="STOP_LIMIT",
        trigger_price=MARK + 10 * TICK,
    )
    await rec.wait(ev.OrderAccepted, name)


async def test_a_session_goes_through_an_explicit_proxy_with_credentials(
    sim: SimServer, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    client = OrdersClient(
        sim.base_url,
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        proxy=proxy.url(f"trader:{PASSWORD}"),
        on_event=rec,
        event_queue=False,
        connect_timeout=3.0,
        request_timeout=3.0,
    )
    try:
        await session_with_stop(client, rec, "px-1")
        assert client.md_feed is not None
        await wait_until(lambda: client.md_feed is not None and client.md_feed.connected)
    finally:
        await client.close()
    target = f"127.0.0.1:{sim.port}"
    assert proxy.tunnels.count(target) == 2  # the orders and the market-data WebSockets
    assert "POST /api/authenticate" in proxy.forwarded
    assert "GET /api/instruments" in proxy.forwarded
    assert set(proxy.credentials) == {f"trader:{PASSWORD}"}
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(client)


async def test_the_environment_proxy_is_honoured(
    sim: SimServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    rec = Recorder()
    client = OrdersClient(
        sim.base_url, token=sim.issue_token(), on_event=rec, event_queue=False
    )
    try:
        await session_with_stop(client, rec, "env-1")
    finally:
        await client.close()
    assert proxy.tunnels.count(f"127.0.0.1:{sim.port}") == 2
    assert "GET /api/instruments" in proxy.forwarded


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_no_proxy_bypasses_the_proxy(
    sim: SimServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", no_proxy)
    rec = Recorder()
    client = OrdersClient(
        sim.base_url, token=sim.issue_token(), on_event=rec, event_queue=False
    )
    try:
        await session_with_stop(client, rec, "np-1")
    finally:
        await client.close()
    assert proxy.used == 0


async def test_an_empty_proxy_turns_the_environment_off(
    sim: SimServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    rec = Recorder()
    client = OrdersClient(
        sim.base_url, token=sim.issue_token(), on_event=rec, event_queue=False, proxy=""
    )
    try:
        await client.connect()
    finally:
        await client.close()
    assert proxy.used == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_proxy_is_named_without_its_credentials(
    sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = f"http://trader:{PASSWORD}@127.0.0.1:{closed_port()}"
    client = OrdersClient(
        sim.base_url,
        token=sim.issue_token(),
        proxy=bad,
        account_id=sim.account_id,
        instruments=[
            Instrument(symbol=SYMBOL, tick_size=TICK, minimum_order_size=100, price_precision=4)
        ],
        connect_attempts=1,
        connect_timeout=2.0,
    )
    with pytest.raises(ConnectError) as info:
        await client.connect()  # the orders WebSocket is the first to need the proxy
    await client.close()
    assert "through proxy http://***@127.0.0.1" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text
    auth = ApiKeyAuth(sim.base_url, sim.api_key, sim.api_secret, proxy=bad)
    with pytest.raises(ConnectError) as info:
        await auth.token()
    await auth.close()
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text


def test_which_proxy_each_url_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert proxy_for("ws://venue.example/orders/ws") == "http://plain:3128"
    assert proxy_for("http://venue.example") == "http://plain:3128"
    assert proxy_for("wss://venue.example/orders/ws") == "http://secure:3128"
    assert proxy_for("https://venue.example") == "http://secure:3128"
    assert proxy_for("wss://internal.example/md/ws") is None
    assert proxy_for("wss://internal.example", "http://given:1") is None
    assert proxy_for("wss://venue.example", "http://given:1") == "http://given:1"
    assert proxy_for("wss://venue.example", "") is None


def test_an_unsupported_proxy_is_refused_without_its_credentials() -> None:
    with pytest.raises(ValueError) as info:
        proxy_for("wss://venue.example", f"ftp://u:{PASSWORD}@host:1")
    assert PASSWORD not in str(info.value)
    with pytest.raises(ValueError):
        OrdersClient("wss://venue.example", token="t", proxy="not a url")


def test_proxy_credentials_are_redacted() -> None:
    url = f"http://trader:{PASSWORD}@proxy.example:3128"
    assert safe_proxy(url) == "http://***@proxy.example:3128"
    assert safe_proxy("http://proxy.example:3128") == "http://proxy.example:3128"
    assert safe_proxy(None) == "none"
    assert PASSWORD in proxy_secrets(url)
    assert proxy_secrets("http://u:p%40ss@h:1")[-1] == "p@ss"
