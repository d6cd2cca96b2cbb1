"""Token providers and the typed REST client against the simulator: tokens, refresh, 401
retries, every REST call the orders client uses, error mapping and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from axorders.auth import ApiKeyAuth, StaticToken, TokenProvider
from axorders.exceptions import (
    AuthenticationError,
    ConnectError,
    RequestRejectedError,
    RequestTimeoutError,
)
from axorders.model import Instrument, Side
from axorders.rest import RestClient
from axorders.sim import SimServer
from axorders.wire.rest import OrderIdResponse, PlaceOrderBody, decode_rest, encode_rest

SYMBOL = "EURUSD-PERP"
DAY_NS = 86_400 * 10**9


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def auth(sim: SimServer) -> AsyncIterator[ApiKeyAuth]:
    provider = ApiKeyAuth(sim.base_url, sim.api_key, sim.api_secret)
    yield provider
    await provider.close()


@pytest.fixture
async def rest(sim: SimServer, auth: ApiKeyAuth) -> AsyncIterator[RestClient]:
    client = RestClient(sim.base_url, auth)
    yield client
    await client.close()


async def place(
    http: aiohttp.ClientSession,
    sim: SimServer,
    price: str,
    *,
    side: str = "B",
    quantity: int = 100,
    cid: int | None = None,
    tif: str = "GTC",
) -> str:
    """Place an order for the default user over plain REST; returns its venue order id."""
    body = PlaceOrderBody(
        symbol=SYMBOL,
        side=Side.parse(side),
        quantity=quantity,
        price=Decimal(price),
        time_in_force=tif,
        cid=cid,
    )
    async with http.post(
        sim.base_url + "/orders/place-order",
        data=encode_rest(body),
        headers={
            "Authorization": f"Bearer {sim.issue_token()}",
            "Content-Type": "application/json",
        },
    ) as response:
        assert response.status == 200, await response.text()
        return decode_rest(await response.read(), OrderIdResponse).venue_order_id


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- token providers -----------------------------------------------------------------------------


async def test_api_key_auth_gets_a_token_and_caches_it(sim: SimServer, auth: ApiKeyAuth) -> None:
    assert isinstance(auth, TokenProvider)
    assert auth.expires_at is None
    token = await auth.token()
    assert token and await auth.token() == token
    assert auth.refreshes == 1
    assert auth.expires_at is not None
    rest = RestClient(sim.base_url, StaticToken(token))
    try:
        who = await rest.whoami()
    finally:
        await rest.close()
    assert who.id == sim.user_id
    assert [account.id for account in who.accounts] == [sim.account_id]


async def test_concurrent_callers_share_one_authentication(auth: ApiKeyAuth) -> None:
    tokens = await asyncio.gather(*(auth.token() for _ in range(5)))
    assert len(set(tokens)) == 1
    assert auth.refreshes == 1


async def test_token_is_refreshed_within_the_margin_of_expiry(sim: SimServer) -> None:
    clock = FakeClock()
    auth = ApiKeyAuth(
        sim.base_url,
        sim.api_key,
        sim.api_secret,
        expiration_seconds=100,
        refresh_margin=0.1,
        clock=clock,
    )
    try:
        first = await auth.token()
        assert auth.expires_at == 1100.0
        clock.now = 1089.0  # 11 s left: still good
        assert await auth.token() == first
        assert auth.refreshes == 1
        clock.now = 1091.0  # 9 s left: within the 10 % margin
        second = await auth.token()
        assert second != first
        assert auth.refreshes == 2
        assert auth.expires_at == 1191.0
    finally:
        await auth.close()


async def test_invalidate_forces_a_new_authentication(auth: ApiKeyAuth) -> None:
    first = await auth.token()
    auth.invalidate()
    second = await auth.token()
    assert second != first and auth.refreshes == 2


async def test_the_lifetime_asked_for_is_sent(sim: SimServer) -> None:
    auth = ApiKeyAuth(sim.base_url, sim.api_key, sim.api_secret, expiration_seconds=60)
    try:
        token = await auth.token()
    finally:
        await auth.close()
    expiry = sim.users.expires_at(token)
    assert expiry is not None
    assert 50 * 10**9 < expiry - time.time_ns() <= 60 * 10**9


@pytest.mark.parametrize(
    "kwargs", [{"expiration_seconds": 0}, {"refresh_margin": 1.0}, {"refresh_margin": -0.1}]
)
def test_bad_refresh_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ApiKeyAuth("http://127.0.0.1:1", "k", "s", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "secret"), [("", "s"), ("k", "")])
def test_key_and_secret_are_required(key: str, secret: str) -> None:
    with pytest.raises(AuthenticationError):
        ApiKeyAuth("http://127.0.0.1:1", key, secret)


async def test_wrong_secret_is_an_authentication_error_without_the_secret(sim: SimServer) -> None:
    auth = ApiKeyAuth(sim.base_url, sim.api_key, "wrong-secret-value")
    try:
        with pytest.raises(AuthenticationError) as info:
            await auth.token()
    finally:
        await auth.close()
    assert "wrong-secret-value" not in str(info.value) + repr(info.value)


async def test_refused_authentication(sim: SimServer, auth: ApiKeyAuth) -> None:
    sim.faults.reject_next_auth(1)
    with pytest.raises(AuthenticationError) as info:
        await auth.token()
    assert sim.api_secret not in str(info.value)
    assert "401" in str(info.value)
    # The refusal is not sticky: the next call authenticates.
    assert await auth.token()


async def test_unreachable_gateway_is_a_connect_error() -> None:
    auth = ApiKeyAuth(f"http://127.0.0.1:{free_port()}", "key", "secret-xyz")
    try:
        with pytest.raises(ConnectError) as info:
            await auth.token()
    finally:
        await auth.close()
    assert "secret-xyz" not in str(info.value)


async def test_static_token() -> None:
    static = StaticToken("tok-abc")
    assert await static.token() == "tok-abc"
    static.invalidate()
    assert await static.token() == "tok-abc"
    assert static.expires_at is None
    assert static.secrets() == ("tok-abc",)
    assert isinstance(static, TokenProvider)
    with pytest.raises(AuthenticationError):
        StaticToken("")


async def test_reprs_never_show_secrets_or_tokens(
    sim: SimServer, auth: ApiKeyAuth, rest: RestClient
) -> None:
    token = await auth.token()
    static = StaticToken(token)
    for obj in (auth, static, rest):
        text = repr(obj) + str(obj)
        assert token not in text and sim.api_secret not in text, text
    assert set(auth.secrets()) == {sim.api_secret, token}


# -- REST: authentication and errors -------------------------------------------------------------


async def test_expired_token_is_refreshed_and_the_call_retried(
    sim: SimServer, auth: ApiKeyAuth, rest: RestClient
) -> None:
    first = await auth.token()
    assert sim.faults.expire_tokens(close=False) >= 1
    who = await rest.whoami()
    assert who.id == sim.user_id
    assert auth.refreshes == 2
    assert await auth.token() != first


async def test_a_second_401_is_an_authentication_error(sim: SimServer) -> None:
    token = sim.issue_token()
    rest = RestClient(sim.base_url, StaticToken(token))
    try:
        sim.faults.expire_tokens(close=False)
        with pytest.raises(AuthenticationError) as info:
            await rest.balances()
    finally:
        await rest.close()
    assert token not in str(info.value)


async def test_refused_reauthentication_after_a_401(
    sim: SimServer, auth: ApiKeyAuth, rest: RestClient
) -> None:
    await auth.token()
    sim.faults.expire_tokens(close=False)
    sim.faults.reject_next_auth(1)
    with pytest.raises(AuthenticationError):
        await rest.positions()
    assert await rest.positions() == []  # and the next call recovers


async def test_error_status_becomes_request_rejected(rest: RestClient) -> None:
    with pytest.raises(RequestRejectedError) as info:
        await rest.instrument("NOPE-PERP")
    assert info.value.status == 404
    assert info.value.code == 404
    assert "NOPE-PERP" in info.value.message


async def test_unreachable_gateway_for_rest() -> None:
    rest = RestClient(f"http://127.0.0.1:{free_port()}", StaticToken("t"))
    try:
        with pytest.raises(ConnectError):
            await rest.instruments()
    finally:
        await rest.close()


async def test_no_answer_is_a_request_timeout() -> None:
    done = asyncio.Event()
    handlers: list[asyncio.Task[object]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        await done.wait()  # never answer
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rest = RestClient(f"http://127.0.0.1:{port}", StaticToken("t"), timeout=0.2)
    auth = ApiKeyAuth(f"http://127.0.0.1:{port}", "k", "s", timeout=0.2)
    try:
        with pytest.raises(RequestTimeoutError):
            await rest.whoami()
        with pytest.raises(RequestTimeoutError):
            await auth.token()
    finally:
        await rest.close()
        await auth.close()
        done.set()
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def test_no_secret_in_the_logs(
    sim: SimServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp", "asyncio", "axorders"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    auth = ApiKeyAuth(sim.base_url, sim.api_key, sim.api_secret)
    rest = RestClient(sim.base_url, auth)
    seen: list[str] = []
    try:
        seen.append(await auth.token())
        await rest.whoami()
        sim.faults.expire_tokens(close=False)
        await rest.open_orders()
        seen.append(await auth.token())
        sim.faults.reject_next_auth(1)
        auth.invalidate()
        with pytest.raises(AuthenticationError):
            await rest.fills()
        await place(http, sim, "1.1300")
        await rest.open_orders()
    finally:
        await rest.close()
        await auth.close()
    assert len(set(seen)) == 2
    secrets = {sim.api_secret, *seen, *auth.secrets()}
    assert caplog.records, "nothing was logged: the check would be empty"
    for secret in secrets:
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage() + (record.exc_text or "")


# -- REST: the calls -----------------------------------------------------------------------------


async def test_instruments(rest: RestClient) -> None:
    instruments = await rest.instruments()
    assert instruments and all(isinstance(i, Instrument) for i in instruments)
    by_symbol = {i.symbol: i for i in instruments}
    assert by_symbol[SYMBOL].tick_size == Decimal("0.0001")
    assert not any(s.startswith("TEST") for s in by_symbol)
    one = await rest.instrument(SYMBOL)
    assert one == by_symbol[SYMBOL]


async def test_open_orders_follow_the_pages(
    sim: SimServer, http: aiohttp.ClientSession, rest: RestClient
) -> None:
    assert await rest.open_orders() == []
    placed = {await place(http, sim, f"1.13{n:02d}") for n in range(5)}
    orders = await rest.open_orders(page_size=2)
    assert len(orders) == 5
    assert {o.venue_order_id for o in orders} == placed
    assert all(o.symbol == SYMBOL and o.side is Side.BUY for o in orders)


async def test_order_status_by_venue_id_and_cid(
    sim: SimServer, http: aiohttp.ClientSession, rest: RestClient
) -> None:
    oid = await place(http, sim, "1.1300", cid=77)
    by_oid = await rest.order_status(venue_order_id=oid)
    by_cid = await rest.order_status(cid=77)
    assert by_oid.order_id == by_cid.order_id == oid
    assert by_oid.state == "ACCEPTED" and by_oid.remaining_quantity == 100
    with pytest.raises(RequestRejectedError) as info:
        await rest.order_status(venue_order_id="O-NOT-THERE")
    assert info.value.status == 404
    with pytest.raises(ValueError):
        await rest.order_status()
    with pytest.raises(ValueError):
        await rest.order_status(venue_order_id=oid, cid=77)


async def test_preview_aggressive_limit_order(sim: SimServer, rest: RestClient) -> None:
    assert await rest.preview_aggressive_limit_order(SYMBOL, Side.BUY, 100) is None
    sim.add_liquidity(SYMBOL, "S", "1.1390", 100)
    sim.add_liquidity(SYMBOL, "S", "1.1392", 100)
    assert await rest.preview_aggressive_limit_order(SYMBOL, Side.BUY, 150) == Decimal("1.1392")
    assert await rest.preview_aggressive_limit_order(SYMBOL, Side.BUY, 50) == Decimal("1.139")
    assert await rest.preview_aggressive_limit_order(SYMBOL, Side.SELL, 50) is None
    with pytest.raises(RequestRejectedError) as info:
        await rest.preview_aggressive_limit_order("NOPE-PERP", Side.BUY, 1)
    assert info.value.status == 404


async def test_fills_follow_the_cursor_oldest_first(
    sim: SimServer, http: aiohttp.ClientSession, rest: RestClient
) -> None:
    start = time.time_ns()
    for n in range(5):
        sim.add_liquidity(SYMBOL, "S", f"1.139{n}", 100)
        await place(http, sim, f"1.139{n}", tif="IOC")
    fills = await rest.fills(start_ns=start - 10**9, page_size=2)
    assert [f.price for f in fills] == [Decimal(f"1.139{n}") for n in range(5)]
    assert len({f.trade_id for f in fills}) == 5
    assert all(f.side is Side.BUY and f.quantity == 100 and f.is_taker for f in fills)
    # The default window (the last 7 days) and a window longer than the venue allows.
    assert [f.trade_id for f in await rest.fills()] == [f.trade_id for f in fills]
    longer = await rest.fills(start_ns=start - 20 * DAY_NS, page_size=3)
    assert [f.trade_id for f in longer] == [f.trade_id for f in fills]
    assert await rest.fills(start_ns=start - 10**9, symbol="XAU-PERP") == []
    assert await rest.fills(end_ns=start - DAY_NS) == []


async def test_balances_and_positions(
    sim: SimServer, http: aiohttp.ClientSession, rest: RestClient
) -> None:
    assert await rest.positions() == []
    sim.add_liquidity(SYMBOL, "S", "1.1388", 100)
    await place(http, sim, "1.1388", tif="IOC")
    [position] = await rest.positions()
    assert position.symbol == SYMBOL and position.signed_quantity == 100
    [balance] = await rest.balances()
    assert balance.account_id == sim.account_id and balance.symbol == "USD"
    assert balance.amount < Decimal(1_000_000)  # the taker fee was paid
