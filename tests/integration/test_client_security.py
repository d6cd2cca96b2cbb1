"""Transport policy, secrets kept out of reprs, errors and logs, and isolation between users."""

from __future__ import annotations

import logging

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, wait_until

from axorders import events as ev
from axorders.auth import ApiKeyAuth, StaticToken
from axorders.client import OrdersClient
from axorders.client.marketdata import MarketDataFeed
from axorders.exceptions import (
    AuthenticationError,
    InsecureTransportError,
    OrderNotFoundError,
    UnknownOrderError,
)
from axorders.model import OrderStatus
from axorders.rest import RestClient
from axorders.sim import SimServer
from axorders.store import MemoryOrderStore, SqliteOrderStore

BID = MARK - 10 * TICK


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "ws://example.com/orders/ws",
        "http://10.0.0.5:8080",
        "ws://gateway.sandbox.architect.exchange",
    ],
)
def test_plain_text_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(InsecureTransportError):
        OrdersClient(url, token="t")
    client = OrdersClient(url, token="t", allow_insecure=True)
    assert client.endpoints.orders_ws_url.startswith("ws://")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "ws://localhost:1/orders/ws", "http://[::1]:1", "https://x.y"]
)
def test_loopback_and_tls_urls_are_accepted(url: str) -> None:
    OrdersClient(url, token="t")


def test_market_data_feed_applies_the_same_policy() -> None:
    def on_price(*args: object) -> None:
        return

    with pytest.raises(InsecureTransportError):
        MarketDataFeed("ws://example.com/md/ws", StaticToken("t"), on_price)
    MarketDataFeed("ws://example.com/md/ws", StaticToken("t"), on_price, allow_insecure=True)


async def test_secrets_stay_out_of_reprs_and_errors(sim: SimServer, tmp_path: object) -> None:
    secret = sim.api_secret
    auth = ApiKeyAuth(sim.base_url, sim.api_key, secret)
    token = await auth.token()
    try:
        static = StaticToken(token)
        rest = RestClient(sim.base_url, static)
        client = OrdersClient(sim.base_url, token=token)
        store = MemoryOrderStore()
        for obj in (auth, static, rest, client, store):
            text = repr(obj) + str(obj)
            assert token not in text and secret not in text, type(obj).__name__

        bad = ApiKeyAuth(sim.base_url, sim.api_key, "wrong-secret-value")
        with pytest.raises(AuthenticationError) as info:
            await bad.token()
        assert "wrong-secret-value" not in str(info.value)
        await bad.close()

        sim.faults.reject_next_auth(1)
        refused = OrdersClient(sim.base_url, token=token, account_id=sim.account_id)
        with pytest.raises(AuthenticationError) as info2:
            await refused.connect()
        assert token not in str(info2.value) and token not in repr(info2.value)
        await refused.close()
        await client.close()
        await rest.close()
    finally:
        await auth.close()


async def test_sqlite_store_repr(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    store = SqliteOrderStore(tmp_path / "j.db")
    assert "j.db" in repr(store) or "SqliteOrderStore" in repr(store)
    store.close()


class _Recording(ApiKeyAuth):
    """Remembers every token it hands out."""

    seen: list[str]

    async def token(self) -> str:
        value = await super().token()
        self.seen.append(value)
        return value


async def test_no_secret_in_any_log_line_of_a_full_run(
    sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("picows", "aiohttp", "asyncio", "axorders"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    provider = _Recording(sim.base_url, sim.api_key, sim.api_secret, expiration_seconds=3600)
    provider.seen = []
    rec = Recorder()
    async with client_for(sim, rec, token_provider=provider, heartbeat=0.2) as client:
        await client.place_order("log-1", SYMBOL, "BUY", 200, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await rec.wait(ev.OrderFilled, "log-1")
        sim.faults.drop()
        await rec.wait(ev.Disconnected)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await rec.wait(ev.Resynced, count=2)
        await rec.wait(ev.OrderFilled, "log-1", count=2)
        # A refused reconnect and a fresh token.
        provider.invalidate()
        sim.faults.reject_next_auth(1)
        sim.faults.drop()
        await rec.wait(ev.Resynced, count=3)
        await client.get_open_orders()
        await client.place_order("log-2", SYMBOL, "BUY", 100, BID - TICK)
        await client.cancel_order("log-2")
        await rec.wait(ev.OrderCanceled, "log-2")
    secrets = {sim.api_secret, *provider.seen}
    assert len(provider.seen) >= 2
    assert caplog.records, "the run logged nothing: the check would be empty"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for secret in secrets:
            assert secret not in text, (record.name, record.levelname)
    for secret in secrets:
        assert secret not in caplog.text


async def test_one_user_cannot_see_or_cancel_another_users_orders(sim: SimServer) -> None:
    mine = Recorder()
    theirs = Recorder()
    other = sim.add_user()
    async with client_for(sim, mine) as client:
        await client.place_order("private-1", SYMBOL, "BUY", 100, BID)
        accepted = await mine.wait(ev.OrderAccepted, "private-1")
        oid = accepted.venue_order_id
        assert oid is not None
        async with client_for(sim, theirs, token=sim.issue_token(other.user_id)) as intruder:
            assert intruder.session.account_id == other.account_id
            assert theirs.of(ev.ExternalOrderDiscovered) == []
            assert await intruder.get_open_orders() == []
            with pytest.raises(OrderNotFoundError):
                await intruder.order_status(venue_order_id=oid)
            with pytest.raises(UnknownOrderError):
                await intruder.cancel_order(venue_order_id=oid)
            # Even when told about the order, the venue refuses to cancel it.
            intruder.register_external_order("stolen", oid, SYMBOL, "BUY", 100, BID)
            with pytest.raises(OrderNotFoundError) as info:
                await intruder.cancel_order("stolen")
            assert info.value.code == 404
            await theirs.wait(ev.CancelRejected)
            rid = await intruder.submit_cancel_all()
            assert (await intruder.wait_for(rid)).ok
            fills = await intruder.rest.fills()
            assert fills == []
        assert theirs.of(ev.OrderCanceled) == []
        status = sim.engine.status(sim.account_id, venue_order_id=oid)
        assert status is not None and status.state == "ACCEPTED"
        await wait_until(lambda: client.is_active)
        order = client.order("private-1")
        assert order is not None and order.status is OrderStatus.ACCEPTED
        assert mine.of(ev.OrderCanceled) == []
