"""OrdersClient under faults: silence, refused and expired credentials, bad frames, duplicates,
no listener, shutdown and a consumer that falls behind."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, fills, wait_until

import axorders.client.connection as connecting_module
from axorders import events as ev
from axorders.auth import ApiKeyAuth
from axorders.client import OrdersClient
from axorders.client.backoff import Backoff
from axorders.client.connection import Connection
from axorders.exceptions import AuthenticationError, ConnectError, InvalidStateError
from axorders.model import Instrument, OrderStatus
from axorders.sim import SimConfig, SimServer

BID = MARK - 10 * TICK
SimFactory = Callable[[SimConfig | None], Awaitable[SimServer]]
INSTRUMENTS = [Instrument(symbol=SYMBOL, tick_size=TICK, minimum_order_size=100, price_precision=4)]


def count_opens(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count connection attempts (every call of ``Connection._open``)."""
    calls: list[int] = []
    original = Connection._open

    async def counted(self: Connection) -> None:
        calls.append(1)
        await original(self)

    monkeypatch.setattr(Connection, "_open", counted)
    return calls


def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the client's backoff short; returns the delays it handed out."""
    delays: list[float] = []

    class Recorded(Backoff):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(initial=0.01, maximum=0.04, jitter=0.0)

        def next_delay(self) -> float:
            delay = super().next_delay()
            delays.append(delay)
            return delay

    # The client's own backoff (reconnects) and the first connect's attempts.
    monkeypatch.setattr(connecting_module, "Backoff", Recorded)
    return delays


async def test_heartbeat_loss_triggers_a_watchdog_reconnect(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec, heartbeat=0.2, watchdog=2.0, venue_heartbeat=0.2) as client:
        await client.place_order("hb-1", SYMBOL, "BUY", 100, BID)
        sim.faults.stop_heartbeats()
        sim.faults.stall(1.5)
        disconnected = await rec.wait(ev.Disconnected)
        assert disconnected.reason
        sim.faults.resume_heartbeats()
        await rec.wait(ev.Reconnected)
        await rec.wait(ev.Resynced, count=2)
        assert client.is_active
        order = client.order("hb-1")
        assert order is not None and order.status.is_open


async def test_refused_token_fails_the_first_connect_at_once(sim: SimServer) -> None:
    client = OrdersClient(
        sim.base_url, token="not-a-token", instruments=INSTRUMENTS, account_id=sim.account_id
    )
    with pytest.raises(AuthenticationError):
        await client.connect()
    await client.close()


async def test_401_on_the_upgrade_is_not_retried(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opens = count_opens(monkeypatch)
    delays = fast_backoff(monkeypatch)
    client = client_for(sim, instruments=INSTRUMENTS, account_id=sim.account_id)
    sim.faults.reject_next_auth(3)
    with pytest.raises(AuthenticationError):
        await client.connect()
    assert len(opens) == 1 and delays == []
    assert not client.is_active
    await client.close()
    # Two of the three refusals are still armed: nothing else tried to log in.
    assert sim.faults.take_auth_rejection() and sim.faults.take_auth_rejection()
    assert not sim.faults.take_auth_rejection()


async def test_expired_token_reconnects_with_a_fresh_one(sim_factory: SimFactory) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.2, close_on_token_expiry=True)
    )
    rec = Recorder()
    async with client_for(sim, rec, api_key=sim.api_key, api_secret=sim.api_secret) as client:
        tokens = client._tokens
        assert isinstance(tokens, ApiKeyAuth)
        first = tokens.refreshes
        await client.place_order("exp-1", SYMBOL, "BUY", 100, BID)
        assert sim.faults.expire_tokens() >= 1
        await rec.wait(ev.Disconnected)
        await rec.wait(ev.Resynced, count=2)
        assert client.is_active
        assert tokens.refreshes > first
        # The new session works.
        placed = await client.place_order("exp-2", SYMBOL, "BUY", 100, BID - TICK)
        assert placed.status is OrderStatus.ACCEPTED


async def test_malformed_and_unknown_frames_are_reported_and_survived(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        assert sim.faults.send_malformed() == 1
        malformed = await rec.wait(ev.MalformedMessage)
        assert malformed.count == 1 and malformed.error
        assert sim.faults.send_unknown() == 1
        unknown = await rec.wait(ev.UnknownMessage)
        assert unknown.count == 1 and "zz" in unknown.text
        placed = await client.place_order("after-junk", SYMBOL, "BUY", 100, BID)
        assert placed.status is OrderStatus.ACCEPTED
        assert client.is_active
        assert client.session.stats().malformed_messages == 1


async def test_duplicated_events_are_delivered_once(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        sim.faults.duplicate_events(100)
        await client.place_order("dup-a", SYMBOL, "BUY", 300, BID)
        await client.place_order("dup-b", SYMBOL, "BUY", 100, BID - TICK)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        canceled = await client.cancel_order("dup-b")
        assert canceled.status is OrderStatus.CANCELED
        await rec.wait(ev.OrderCanceled, "dup-b")
        await rec.wait(ev.OrderFilled, "dup-a", count=2)
        # A later event proves that every duplicate has been read.
        sim.faults.duplicate_events(0)
        await client.place_order("dup-c", SYMBOL, "BUY", 100, BID - 2 * TICK)
        await rec.wait(ev.OrderAccepted, "dup-c")
        assert [f.filled_qty for f in fills(rec, "dup-a")] == [100, 300]
        assert len(rec.of(ev.OrderAccepted, "dup-a")) == 1
        assert len(rec.of(ev.OrderAccepted, "dup-b")) == 1
        assert len(rec.of(ev.OrderCanceled, "dup-b")) == 1
        assert client.session.stats().duplicates_dropped > 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("instruments", [(), INSTRUMENTS], ids=["loaded", "given"])
async def test_connect_retries_then_gives_up(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    instruments: list[Instrument],
) -> None:
    caplog.set_level(logging.WARNING, logger="axorders.client")
    delays = fast_backoff(monkeypatch)
    client = OrdersClient(
        f"http://127.0.0.1:{closed_port()}",
        token="t",
        connect_attempts=5,
        connect_timeout=1.0,
        account_id="A",
        instruments=instruments,
    )
    with pytest.raises(ConnectError) as info:
        await client.connect()
    attempts = [r for r in caplog.records if "connect attempt" in r.getMessage()]
    assert len(attempts) == 5
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert "5 attempts" in str(info.value)
    assert not client.is_active and not client.is_closed
    await client.close()
    assert client.is_closed


async def test_close_is_bounded_and_idempotent(sim: SimServer) -> None:
    rec = Recorder()
    client = client_for(sim, rec)
    assert not client.is_active and not client.is_closed
    await client.connect()
    assert client.is_active and not client.is_closed
    await client.place_order("close-1", SYMBOL, "BUY", 100, BID)
    sim.faults.stall(10.0)  # the venue answers nothing any more
    pending = await client.submit_order("close-2", SYMBOL, "BUY", 100, BID - TICK)
    assert pending is not None
    waiter = asyncio.create_task(client.wait_for(pending, timeout=30))
    async with asyncio.timeout(5.0):
        await client.close(timeout=1.0)
    assert client.is_closed and not client.is_active
    async with asyncio.timeout(1.0):
        await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.done()
    async with asyncio.timeout(1.0):
        await client.close()
    assert client.is_closed
    with pytest.raises(InvalidStateError):
        await client.submit_order("close-3", SYMBOL, "BUY", 100, BID)
    with pytest.raises(InvalidStateError):
        await client.connect()


async def test_close_while_reconnecting(sim: SimServer) -> None:
    rec = Recorder()
    client = client_for(sim, rec)
    await client.connect()
    await sim.stop()
    await rec.wait(ev.Disconnected)
    async with asyncio.timeout(5.0):
        await client.close()
    assert client.is_closed and not client.is_active


async def test_a_slow_consumer_pauses_reading_and_loses_nothing(sim: SimServer) -> None:
    symbol, price, fills_wanted = "XAU-PERP", Decimal("3600.0"), 120
    async with client_for(
        sim, max_queue=20, heartbeat=0.2, watchdog=2.0, request_timeout=0.3
    ) as client:
        # A reader is attached (it read one event) and then stops reading.
        reader = client.events()
        await reader.__anext__()
        await client.place_order("flood", symbol, "BUY", fills_wanted, price)
        for _ in range(fills_wanted):
            sim.add_liquidity(symbol, "SELL", price, 1)
        await wait_until(lambda: client.hub.paused)
        (attached,) = client.hub._readers
        assert len(attached.queue) >= client.max_queue
        # The venue's side backs up while reading is paused.
        assert client.connection.transport is not None
        assert not client.connection.transport.underlying_transport.is_reading()
        # A request sent now is answered, but the answer waits unread.
        rid = await client.submit_order("late", symbol, "BUY", 1, price - 100)
        # Paused longer than the watchdog's window and the request timeout: that is the
        # consumer, not the venue.
        await asyncio.sleep(0.6)

        got: list[ev.OrderFilled] = []
        outcomes: list[ev.RequestResolved] = []
        async with asyncio.timeout(10.0):
            async for event in reader:
                if isinstance(event, ev.RequestResolved) and event.request_id == rid:
                    outcomes.append(event)
                if isinstance(event, ev.OrderFilled):
                    got.append(event)
                # Until the last fill and the late request's answer: what is left unread
                # when it detaches is kept for the next reader only up to max_queue (the
                # newest), and a socket read may bring more than that at once.
                if got and got[-1].is_final and outcomes:
                    break
        # The reader stops; what it did not read is kept for the next one.
        await reader.aclose()
        async with asyncio.timeout(5.0):
            while not outcomes:
                event = await client.next_event()
                if isinstance(event, ev.RequestResolved) and event.request_id == rid:
                    outcomes.append(event)
        assert [o.outcome for o in outcomes] == [ev.RequestOutcome.OK]
        assert [f.filled_qty for f in got] == list(range(1, fills_wanted + 1))
        assert len({f.trade_id for f in got}) == fills_wanted
        await wait_until(lambda: not client.hub.paused)
        assert client.connection.transport.underlying_transport.is_reading()
        await asyncio.sleep(0.6)
        counts = Counter(type(e).__name__ for e in client.hub.backlog())
        assert counts["OrderFilled"] == 0
        assert counts["Disconnected"] == 0 and client.is_active


async def test_the_event_stream_ends_after_close(sim: SimServer) -> None:
    seen: list[ev.Event] = []
    client = client_for(sim, on_event=seen.append, event_queue=True)
    await client.connect()

    async def consume() -> list[ev.Event]:
        return [event async for event in client.events()]

    consumer = asyncio.create_task(consume())
    await client.place_order("s-1", SYMBOL, "BUY", 100, BID)
    await client.close()
    async with asyncio.timeout(2.0):
        streamed = await consumer
    assert [type(e) for e in streamed] == [type(e) for e in seen]
    assert any(isinstance(e, ev.OrderAccepted) for e in streamed)
    assert isinstance(streamed[-1], ev.Disconnected)
