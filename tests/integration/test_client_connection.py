"""The client's connection under a venue that takes the protocol's liberties: fragmented
messages, a connection that closes during the first handshake, a login snapshot that is late
or never comes, a close() with requests in flight, a venue that accepts and drops at once,
and heartbeats slower than the client's pings."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import picows
import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, place_requests, wait_until
from fragmenting import fragment_writes

import axorders.client.connection as connecting_module
from axorders import events as ev
from axorders.client import OrdersClient
from axorders.client.backoff import Backoff
from axorders.client.connection import Connection
from axorders.exceptions import AxOrdersError, ConnectError, InvalidStateError
from axorders.model import Instrument
from axorders.sim import SimConfig, SimServer

BID = MARK - 10 * TICK
SimFactory = Callable[[SimConfig | None], Awaitable[SimServer]]
INSTRUMENTS = [Instrument(symbol=SYMBOL, tick_size=TICK, minimum_order_size=100, price_precision=4)]


def record_backoff(monkeypatch: pytest.MonkeyPatch, **given: float) -> list[float]:
    """Every delay the client's backoffs hand out (their settings overridden by ``given``)."""
    delays: list[float] = []

    class Recorded(Backoff):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, **given})

        def next_delay(self) -> float:
            delay = super().next_delay()
            delays.append(delay)
            return delay

    # The client's own backoff (reconnects) and the first connect's attempts.
    monkeypatch.setattr(connecting_module, "Backoff", Recorded)
    return delays


# -- fragmented messages (RFC 6455 §5.4) -------------------------------------------------------


async def test_a_fragmented_login_snapshot_and_events_are_reassembled(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = fragment_writes(monkeypatch, pieces=3)
    rec = Recorder()
    async with client_for(sim, rec, instruments=INSTRUMENTS) as client:
        assert client.is_active
        assert split, "the venue fragmented nothing"
        logins = len(split)
        resolved = await client.place_order("frag-1", SYMBOL, "BUY", 100, BID)
        assert resolved.venue_order_id is not None
        await rec.wait(ev.OrderAccepted, "frag-1")
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        fill = await rec.wait(ev.OrderFilled, "frag-1")
        assert fill.filled_qty == 100
        assert len(split) > logins  # the answer and the events came in fragments too
        stats = client.session.stats()
        assert stats.malformed_messages == 0 and stats.unknown_messages == 0
        assert not rec.of(ev.Disconnected)


async def test_a_fragmented_message_beyond_the_cap_closes_with_1009(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="axorders.client")
    fragment_writes(monkeypatch, pieces=4)
    client = client_for(
        sim,
        instruments=INSTRUMENTS,
        account_id=sim.account_id,
        max_message_size=40,  # smaller than the login snapshot
        connect_attempts=1,
    )
    with pytest.raises(ConnectError):
        await client.connect()
    assert any("(1009)" in r.getMessage() for r in caplog.records)
    await client.close()
    await wait_until(lambda: sim.connection_count() == 0)


# -- one socket at a time --------------------------------------------------------------------------


async def test_one_socket_at_a_time_when_the_first_handshake_drops(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = picows.ws_connect
    in_flight = most = opened = 0
    client: OrdersClient | None = None

    async def connect_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most, opened
        in_flight += 1
        opened += 1
        most = max(most, in_flight)
        try:
            result = await real(*args, **kwargs)
            if opened == 1:
                # The venue drops the first connection before ws_connect has returned.
                assert client is not None
                sim.faults.drop()
                await wait_until(lambda: client is not None and client.connection.listener is None)
            return result
        finally:
            in_flight -= 1

    seen = 0
    stop = asyncio.Event()

    async def watch_sessions() -> None:
        nonlocal seen
        while not stop.is_set():
            seen = max(seen, sim.connection_count())
            await asyncio.sleep(0.002)

    monkeypatch.setattr(connecting_module.picows, "ws_connect", connect_once)
    record_backoff(monkeypatch, initial=0.05, maximum=0.1, jitter=0.0)
    watcher = asyncio.create_task(watch_sessions())
    client = client_for(sim, instruments=INSTRUMENTS, account_id=sim.account_id)
    await client.connect()
    assert client.is_active
    # Give a second opener (a reconnect task racing connect()) time to show itself.
    await asyncio.sleep(0.3)
    await client.close()
    await wait_until(lambda: sim.connection_count() == 0, timeout=3.0)
    stop.set()
    await watcher
    assert most == 1, "two connection attempts were in flight at once"
    assert seen == 1, "the venue saw two sessions of the client at once"
    assert opened == 2


async def test_close_during_a_connection_attempt_leaves_no_socket(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = picows.ws_connect
    upgraded = asyncio.Event()
    release = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        upgraded.set()
        await release.wait()
        return result

    monkeypatch.setattr(connecting_module.picows, "ws_connect", slow)
    client = client_for(sim, instruments=INSTRUMENTS, account_id=sim.account_id)
    connecting = asyncio.create_task(client.connect())
    await asyncio.wait_for(upgraded.wait(), 5.0)
    await client.close(timeout=2.0)
    release.set()
    with pytest.raises(AxOrdersError):
        await connecting
    await wait_until(lambda: sim.connection_count() == 0)
    assert client.connection.attempt is None or client.connection.attempt.done()


# -- connect() waits for the login snapshot --------------------------------------------------------


async def test_connect_raises_when_the_login_snapshot_never_comes(sim: SimServer) -> None:
    sim.faults.stall(30.0)  # upgrades go through; the venue writes nothing
    client = client_for(
        sim,
        instruments=INSTRUMENTS,
        account_id=sim.account_id,
        connect_timeout=0.3,
        connect_attempts=2,
    )
    with pytest.raises(ConnectError) as info:
        await client.connect()
    assert "login snapshot" in str(info.value)
    assert not client.is_active
    await wait_until(lambda: sim.connection_count() == 0)  # no failed attempt left a socket
    await client.close()


async def test_connect_returns_after_a_late_login_snapshot_and_nothing_is_sent_before_it(
    sim: SimServer,
) -> None:
    sim.faults.delay(0.4)  # every frame of the venue, the login snapshot included, is late
    rec = Recorder()
    client = client_for(
        sim,
        rec,
        instruments=INSTRUMENTS,
        account_id=sim.account_id,
        connect_timeout=30.0,
        request_timeout=30.0,
    )
    connecting = asyncio.create_task(client.connect())
    await wait_until(lambda: client.connection.transport is not None)
    assert not client.connection.login.is_set()
    rid = await client.submit_order("early-1", SYMBOL, "BUY", 100, BID)
    await asyncio.sleep(0.1)
    assert not client.connection.login.is_set()
    assert place_requests(sim, sim.account_id) == 0  # held until the login snapshot
    async with asyncio.timeout(10.0):  # returns with the snapshot, not at the timeout
        await connecting
    assert client.is_active and client.connection.resynced.is_set()
    assert rec.of(ev.Resynced)
    assert rid is not None
    resolved = await client.wait_for(rid)
    assert resolved.ok
    assert place_requests(sim, sim.account_id) == 1
    sim.faults.clear()
    await client.close()


# -- close() leaves nothing behind -----------------------------------------------------------------


async def test_close_with_requests_in_flight_leaves_nothing_behind(sim: SimServer) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        client = client_for(sim, instruments=INSTRUMENTS, account_id=sim.account_id)
        await client.connect()
        await client.place_order("cl-1", SYMBOL, "BUY", 100, BID)
        sim.faults.stall(10.0)  # the venue answers nothing any more
        calls = [
            asyncio.create_task(client.get_open_orders(timeout=30)),
            asyncio.create_task(client.order_status("cl-1", timeout=30)),
            asyncio.create_task(client.place_order("cl-2", SYMBOL, "BUY", 100, BID, timeout=30)),
        ]
        await asyncio.sleep(0.1)
        assert not any(call.done() for call in calls)
        await client.close(timeout=1.0)
        started = [
            client._ticker.task,
            *client.connection.tasks(),
            *client._recovery.tasks(),
        ]
        assert all(task is None or task.done() for task in started)  # awaited, not only told
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        for outcome in outcomes:
            assert isinstance(outcome, InvalidStateError), outcome
        del calls, outcomes
        gc.collect()
        await asyncio.sleep(0)
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert not reported, reported


# -- a backoff that a flapping venue cannot defeat -------------------------------------------------


async def test_a_venue_that_accepts_and_drops_at_once_is_retried_ever_more_slowly(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays = record_backoff(monkeypatch, initial=0.02, maximum=0.32, jitter=0.0)
    rec = Recorder()
    async with client_for(sim, rec, instruments=INSTRUMENTS, account_id=sim.account_id) as client:
        # Every new socket: the login snapshot, one heartbeat (0.2 s), then gone.
        sim.faults.drop_after(2, repeat=True)
        sim.faults.drop()
        await wait_until(lambda: len(delays) >= 7, timeout=10.0)
        window = len(rec.of(ev.Reconnected))
        await asyncio.sleep(1.5)
        in_window = len(rec.of(ev.Reconnected)) - window
        sim.faults.clear()
        await wait_until(lambda: client.is_active, timeout=10.0)
    assert delays[:7] == [0.02, 0.04, 0.08, 0.16, 0.32, 0.32, 0.32]
    # At the cap, 1.5 s holds at most three attempts (about seven without the fix).
    assert in_window <= 4


async def test_after_a_long_lived_connection_the_first_retry_goes_at_once(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays = record_backoff(monkeypatch, jitter=0.0)
    rec = Recorder()
    async with client_for(
        sim, rec, instruments=INSTRUMENTS, account_id=sim.account_id, stable_after=0.2
    ) as client:
        await asyncio.sleep(0.3)  # longer than stable_after
        sim.faults.drop()
        await rec.wait(ev.Reconnected)
        await wait_until(lambda: client.is_active)
    assert delays[0] == 0.0


# -- a watchdog that follows the venue -------------------------------------------------------------


async def test_the_watchdog_follows_the_venue_not_the_ping_interval(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory(SimConfig(makers=False, heartbeat_interval=1.5))
    rec = Recorder()
    async with client_for(
        sim, rec, instruments=INSTRUMENTS, account_id=sim.account_id, heartbeat=0.1, watchdog=3.0
    ) as client:
        await asyncio.sleep(3.5)  # two of the venue's heartbeats, 35 of the client's pings
        assert client.is_active
        assert not rec.of(ev.Disconnected)
    assert not rec.of(ev.Reconnected)


async def test_the_watchdog_limit_grows_with_the_gaps_the_venue_shows(sim: SimServer) -> None:
    client = client_for(sim, instruments=INSTRUMENTS, heartbeat=0.5, watchdog=3.0)
    assert client.watchdog_limit == 15.0  # venue_heartbeat 5 s by default, not the pings
    client.connection.gaps.extend([0.1, 8.0, 0.2])
    assert client.watchdog_limit == 24.0
    client.connection.gaps.extend([0.1] * 8)  # the long gap is no longer among the last 8
    assert client.watchdog_limit == 15.0
    await client.close()


async def test_the_watchdog_still_fires_when_the_venue_falls_silent(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(
        sim,
        rec,
        instruments=INSTRUMENTS,
        account_id=sim.account_id,
        heartbeat=0.1,
        watchdog=2.0,
        venue_heartbeat=0.2,
    ):
        await rec.wait(ev.Resynced)
        sim.faults.stop_heartbeats()
        sim.faults.stall(3.0)
        await rec.wait(ev.Disconnected)
        sim.faults.resume_heartbeats()
        await rec.wait(ev.Resynced, count=2)


# -- socket callbacks ------------------------------------------------------------------------------


async def test_an_exception_in_a_socket_callback_is_logged_not_a_dropped_socket(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    async with client_for(sim, rec, instruments=INSTRUMENTS, account_id=sim.account_id) as client:
        original = Connection.on_frame
        failures = [1]

        def flaky(self: Connection, listener: Any, frame: Any) -> None:
            if failures:
                failures.pop()
                raise RuntimeError("a bug in frame handling")
            original(self, listener, frame)

        monkeypatch.setattr(Connection, "on_frame", flaky)
        await wait_until(lambda: not failures)
        monkeypatch.setattr(Connection, "on_frame", original)
        resolved = await client.place_order("cb-1", SYMBOL, "BUY", 100, BID)
        assert resolved.venue_order_id is not None
        assert client.is_active
        assert not rec.of(ev.Disconnected)
    assert any("frame handling failed" in r.getMessage() for r in caplog.records)
