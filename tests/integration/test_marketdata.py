"""MarketDataFeed against the simulator: book and trade prices, unsubscribe, reconnect with a
fresh token, refused and unreachable sockets, a failing callback, close."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import NamedTuple

import aiohttp
import pytest
from fragmenting import fragment_writes

from axorders.auth import ApiKeyAuth, StaticToken, TokenProvider
from axorders.client.backoff import Backoff
from axorders.client.marketdata import MarketDataFeed
from axorders.exceptions import AuthenticationError, ConnectError, InvalidStateError
from axorders.model import Side
from axorders.sim import SimServer
from axorders.wire.rest import PlaceOrderBody, encode_rest

SYMBOL = "EURUSD-PERP"
OTHER = "XAU-PERP"
D = Decimal
Eventually = Callable[..., Awaitable[None]]


class Price(NamedTuple):
    symbol: str
    last: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    now_ns: int


class Prices:
    """An ``on_price`` callback that keeps every call."""

    def __init__(self) -> None:
        self.seen: list[Price] = []

    def __call__(
        self,
        symbol: str,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
        now_ns: int,
    ) -> None:
        self.seen.append(Price(symbol, last, bid, ask, now_ns))

    def has(self, symbol: str, **fields: Decimal) -> bool:
        return any(
            p.symbol == symbol and all(getattr(p, k) == v for k, v in fields.items())
            for p in self.seen
        )


FeedFactory = Callable[..., MarketDataFeed]


@pytest.fixture
async def make_feed() -> AsyncIterator[FeedFactory]:
    feeds: list[MarketDataFeed] = []

    def make(
        sim: SimServer, on_price: Prices, tokens: TokenProvider | None = None
    ) -> MarketDataFeed:
        feed = MarketDataFeed(
            sim.md_ws_url,
            tokens or StaticToken(sim.issue_token()),
            on_price,
            backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0),
        )
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        await feed.close()


async def take(http: aiohttp.ClientSession, sim: SimServer, side: str, price: str) -> None:
    """An IOC order of the default user that trades against resting liquidity."""
    body = PlaceOrderBody(
        symbol=SYMBOL, side=Side.parse(side), quantity=100, price=D(price), time_in_force="IOC"
    )
    async with http.post(
        sim.base_url + "/orders/place-order",
        data=encode_rest(body),
        headers={"Authorization": f"Bearer {sim.issue_token()}"},
    ) as response:
        assert response.status == 200, await response.text()


async def test_book_and_trade_prices(
    sim: SimServer, make_feed: FeedFactory, http: aiohttp.ClientSession, eventually: Eventually
) -> None:
    prices = Prices()
    feed = make_feed(sim, prices)
    await feed.connect()
    assert feed.connected
    await feed.subscribe(SYMBOL)
    await feed.subscribe(SYMBOL)  # idempotent
    assert feed.symbols == {SYMBOL}
    sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
    sim.add_liquidity(SYMBOL, "S", "1.1390", 200)
    await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380"), ask=D("1.1390")))
    await take(http, sim, "B", "1.1390")
    await eventually(lambda: prices.has(SYMBOL, last=D("1.1390")))
    trade = next(p for p in prices.seen if p.last is not None)
    assert trade.bid is None and trade.ask is None and trade.now_ns > 0
    assert all(p.symbol == SYMBOL for p in prices.seen)
    assert sim.md_connection_count() == 1


async def test_subscribing_after_connect_and_before(
    sim: SimServer, make_feed: FeedFactory, eventually: Eventually
) -> None:
    sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
    sim.add_liquidity(OTHER, "S", "3700.0", 1)
    prices = Prices()
    feed = make_feed(sim, prices)
    await feed.subscribe(SYMBOL)  # remembered, sent on connect
    await feed.connect()
    await feed.connect()  # already open: nothing happens
    await feed.subscribe(OTHER)
    # The snapshots that follow each subscribe carry the resting orders.
    await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380")))
    await eventually(lambda: prices.has(OTHER, ask=D("3700.0")))
    assert sim.md_connection_count() == 1


async def test_unsubscribe_stops_the_prices(
    sim: SimServer, make_feed: FeedFactory, eventually: Eventually
) -> None:
    prices = Prices()
    feed = make_feed(sim, prices)
    await feed.connect()
    await feed.subscribe(SYMBOL)
    sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
    await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380")))
    await feed.unsubscribe(SYMBOL)
    await feed.unsubscribe(SYMBOL)  # idempotent
    assert feed.symbols == frozenset()
    # A subscribe sent after the unsubscribe is answered after it: once its snapshot is here,
    # the venue has dropped SYMBOL.
    sim.add_liquidity(OTHER, "B", "3600.0", 1)
    await feed.subscribe(OTHER)
    await eventually(lambda: prices.has(OTHER, bid=D("3600.0")))
    mark = len(prices.seen)
    sim.add_liquidity(SYMBOL, "B", "1.1381", 100)
    sim.add_liquidity(OTHER, "B", "3601.0", 1)
    await eventually(lambda: prices.has(OTHER, bid=D("3601.0")))
    assert [p for p in prices.seen[mark:] if p.symbol == SYMBOL] == []


async def test_reconnects_and_resubscribes_with_a_fresh_token(
    sim: SimServer, make_feed: FeedFactory, eventually: Eventually
) -> None:
    auth = ApiKeyAuth(sim.base_url, sim.api_key, sim.api_secret)
    try:
        prices = Prices()
        feed = make_feed(sim, prices, auth)
        await feed.connect()
        await feed.subscribe(SYMBOL)
        sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
        await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380")))
        # The venue closes the socket of an expired token; the old token is refused on the
        # first reconnect, so the feed needs a fresh one.
        assert sim.faults.expire_tokens(close=True) >= 1
        await eventually(lambda: feed.reconnects == 1 and feed.connected)
        assert auth.refreshes == 2
        sim.add_liquidity(SYMBOL, "B", "1.1382", 100)
        await eventually(lambda: prices.has(SYMBOL, bid=D("1.1382")))
        assert sim.md_connection_count() == 1
    finally:
        await auth.close()


async def test_refused_token(sim: SimServer, make_feed: FeedFactory) -> None:
    feed = make_feed(sim, Prices(), StaticToken("not-a-token"))
    with pytest.raises(AuthenticationError) as info:
        await feed.connect()
    assert "not-a-token" not in str(info.value)
    assert not feed.connected


async def test_unreachable(make_feed: FeedFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    feed = MarketDataFeed(f"ws://127.0.0.1:{port}/md/ws", StaticToken("t"), Prices())
    try:
        with pytest.raises(ConnectError):
            await feed.connect()
    finally:
        await feed.close()


async def test_a_failing_callback_is_logged_and_survived(
    sim: SimServer,
    make_feed: FeedFactory,
    eventually: Eventually,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prices = Prices()
    calls = 0

    def flaky(
        symbol: str,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
        now_ns: int,
    ) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("callback bug")
        prices(symbol, last, bid, ask, now_ns)

    feed = MarketDataFeed(sim.md_ws_url, StaticToken(sim.issue_token()), flaky)
    try:
        with caplog.at_level(logging.ERROR, logger="axorders.client.marketdata"):
            await feed.connect()
            await feed.subscribe(SYMBOL)
            sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
            await eventually(lambda: calls == 1)
            sim.add_liquidity(SYMBOL, "B", "1.1381", 100)
            await eventually(lambda: prices.has(SYMBOL, bid=D("1.1381")))
        assert feed.connected and feed.reconnects == 0
        assert "callback bug" in caplog.text
    finally:
        await feed.close()


async def test_unknown_symbol_is_reported(
    sim: SimServer,
    make_feed: FeedFactory,
    eventually: Eventually,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = make_feed(sim, Prices())
    with caplog.at_level(logging.WARNING, logger="axorders.client.marketdata"):
        await feed.connect()
        await feed.subscribe("NOPE-PERP")
        await eventually(lambda: feed.errors == 1)
    assert "NOPE-PERP" in caplog.text
    assert feed.connected


async def test_close(sim: SimServer, make_feed: FeedFactory, eventually: Eventually) -> None:
    feed = make_feed(sim, Prices())
    await feed.connect()
    await eventually(lambda: sim.md_connection_count() == 1)
    await feed.close()
    await feed.close()  # idempotent
    assert not feed.connected
    await eventually(lambda: sim.md_connection_count() == 0)
    with pytest.raises(InvalidStateError):
        await feed.connect()
    assert feed.reconnects == 0


async def test_fragmented_messages_are_reassembled(
    sim: SimServer,
    make_feed: FeedFactory,
    eventually: Eventually,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = fragment_writes(monkeypatch, pieces=3)
    prices = Prices()
    feed = make_feed(sim, prices)
    await feed.connect()
    await feed.subscribe(SYMBOL)
    sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
    sim.add_liquidity(SYMBOL, "S", "1.1390", 200)
    await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380"), ask=D("1.1390")))
    assert split, "the venue fragmented nothing"
    assert feed.malformed == 0 and feed.connected


async def test_a_fragmented_message_beyond_the_cap_closes_the_socket(
    sim: SimServer,
    eventually: Eventually,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="axorders.client.marketdata")
    fragment_writes(monkeypatch, pieces=3)
    prices = Prices()
    feed = MarketDataFeed(
        sim.md_ws_url,
        StaticToken(sim.issue_token()),
        prices,
        backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0),
        max_message_size=30,
    )
    try:
        await feed.connect()
        await feed.subscribe(SYMBOL)
        sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
        await eventually(lambda: any("(1009)" in r.getMessage() for r in caplog.records))
        assert not prices.seen
    finally:
        await feed.close()


async def test_concurrent_connects_open_one_socket(
    sim: SimServer, make_feed: FeedFactory, eventually: Eventually
) -> None:
    feed = make_feed(sim, Prices())
    await asyncio.gather(feed.connect(), feed.connect(), feed.connect())
    assert feed.connected
    await eventually(lambda: sim.md_connection_count() == 1)
    await feed.close()
    await eventually(lambda: sim.md_connection_count() == 0)


async def test_an_exception_in_a_socket_callback_is_logged_not_a_dropped_socket(
    sim: SimServer,
    make_feed: FeedFactory,
    eventually: Eventually,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prices = Prices()
    feed = make_feed(sim, prices)
    await feed.connect()
    original = MarketDataFeed._on_ws_frame
    failures = [1]

    def flaky(self: MarketDataFeed, *args: object) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("a bug in frame handling")
        original(self, *args)

    monkeypatch.setattr(MarketDataFeed, "_on_ws_frame", flaky)
    await feed.subscribe(SYMBOL)
    await eventually(lambda: not failures)
    sim.add_liquidity(SYMBOL, "B", "1.1380", 100)
    await eventually(lambda: prices.has(SYMBOL, bid=D("1.1380")))
    assert feed.connected and feed.reconnects == 0
    assert any("frame handling failed" in r.getMessage() for r in caplog.records)
