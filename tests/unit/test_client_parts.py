"""Each part of the client alone, with fakes of its neighbours (no socket, no simulator)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from axorders import events as ev
from axorders.auth import StaticToken
from axorders.client.connection import Connection
from axorders.client.gate import SessionGate
from axorders.client.hub import EventHub
from axorders.client.journal import JournalWriter
from axorders.client.listener import Listener
from axorders.client.stops import StopTriggers
from axorders.client.waiters import Waiters
from axorders.commands import Command
from axorders.config import Endpoints
from axorders.exceptions import InvalidStateError, StoreError
from axorders.model import OrderType, Side, cid_for
from axorders.session import OrdersSession
from axorders.state import OrderRecord


def _event(n: int) -> ev.Event:
    return ev.Reconnected(ts_init=n, attempt=n)


def _numbers(events: Iterable[ev.Event]) -> list[int]:
    return [e.ts_init for e in events]


async def _take(stream: Any, count: int) -> list[ev.Event]:
    out = []
    for _ in range(count):
        out.append(await asyncio.wait_for(stream.__anext__(), 1.0))
    return out


# -- the event hub ---------------------------------------------------------------------------


def test_with_no_reader_the_hub_keeps_exactly_the_newest_max_queue() -> None:
    hub = EventHub(max_queue=5)
    hub.publish([_event(i) for i in range(8)])  # no loop running: handed over at once
    assert hub.dropped == 3
    assert _numbers(hub.backlog()) == [3, 4, 5, 6, 7]
    hub.publish([_event(8)])
    assert hub.dropped == 4
    assert _numbers(hub.backlog()) == [4, 5, 6, 7, 8]


async def test_a_reader_takes_the_kept_events_themselves_not_a_copy() -> None:
    hub = EventHub(max_queue=10)
    hub.publish([_event(i) for i in range(3)])
    first = hub.events()
    assert _numbers(await _take(first, 3)) == [0, 1, 2]
    first.close()  # drained, then detached: nothing is left for anyone
    assert hub.backlog() == []
    hub.publish([_event(3)])
    second = hub.events()
    assert _numbers(await _take(second, 1)) == [3]
    second.close()


async def test_a_reader_that_detaches_leaves_what_it_did_not_read() -> None:
    hub = EventHub(max_queue=10)
    hub.publish([_event(i) for i in range(4)])
    first = hub.events()
    assert _numbers(await _take(first, 1)) == [0]
    first.close()
    assert _numbers(hub.backlog()) == [1, 2, 3]
    second = hub.events()
    assert _numbers(await _take(second, 3)) == [1, 2, 3]
    second.close()


async def test_every_attached_reader_gets_every_event() -> None:
    hub = EventHub(max_queue=10)
    one, two = hub.events(), hub.events()
    waiting = asyncio.ensure_future(_take(one, 1))
    two_waiting = asyncio.ensure_future(_take(two, 1))
    while hub.reader_count < 2:  # both attached and waiting
        await asyncio.sleep(0)
    hub.publish([_event(7)])
    assert _numbers(await waiting) == [7]
    assert _numbers(await two_waiting) == [7]
    assert hub.reader_count == 2
    one.close()
    two.close()
    assert hub.reader_count == 0


async def test_a_slow_reader_pauses_reading_until_it_is_back_at_low_water() -> None:
    pauses: list[bool] = []
    hub = EventHub(max_queue=4, low_water=1, pause=pauses.append)
    reader = hub.events()
    hub.publish([_event(0)])
    assert _numbers(await _take(reader, 1)) == [0]  # attached
    hub.publish([_event(i) for i in range(1, 5)])
    hub.flush()
    assert pauses == [True] and hub.paused
    await _take(reader, 2)
    assert pauses == [True]  # two left: above low water
    await _take(reader, 1)
    assert pauses == [True, False] and not hub.paused
    reader.close()


def test_with_no_reader_the_socket_is_never_paused() -> None:
    pauses: list[bool] = []
    hub = EventHub(max_queue=2, pause=pauses.append)
    hub.publish([_event(i) for i in range(10)])
    assert pauses == []
    assert hub.dropped == 8


def test_handlers_then_on_event_then_the_watches_in_order_and_a_failing_callback_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def on_event(event: ev.Event) -> None:
        seen.append(f"user {event.ts_init}")
        raise RuntimeError("user code failed")

    hub = EventHub(
        max_queue=10,
        event_queue=False,
        on_event=on_event,
        handlers={ev.Reconnected: lambda e: seen.append(f"handler {e.ts_init}")},
        observe=lambda events: seen.append(f"watches {len(events)}"),
    )
    hub.publish([_event(1), _event(2)])
    assert seen == ["handler 1", "user 1", "handler 2", "user 2", "watches 2"]
    assert hub.backlog() == []  # event_queue=False: nothing kept
    assert any("on_event callback failed" in r.getMessage() for r in caplog.records)


async def test_close_ends_every_reader_after_what_it_has() -> None:
    hub = EventHub(max_queue=10)
    reader = hub.events()
    hub.publish([_event(1)])
    assert _numbers(await _take(reader, 1)) == [1]
    pending = asyncio.ensure_future(reader.__anext__())
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 1.0)


# -- the journal writer ----------------------------------------------------------------------


class _FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.saved: list[list[str]] = []
        self.closed = False

    def load(self) -> list[OrderRecord]:
        return []

    def save(self, records: Iterable[OrderRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.saved.append([r.client_order_id for r in records])

    def close(self) -> None:
        self.closed = True


def _record(coid: str) -> OrderRecord:
    return OrderRecord(
        client_order_id=coid,
        cid=cid_for(coid),
        symbol="EURUSD-PERP",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=100,
        price=Decimal("1.1"),
        account_id="A",
        trader_id="T",
        strategy_id="S",
        ts_init=1,
    )


def test_the_journal_writer_retries_with_backoff_and_reports_one_warning_per_streak() -> None:
    published: list[ev.Event] = []
    mono = [100.0]
    store = _FlakyStore(failures=3)
    writer = JournalWriter(
        store, "process", published.extend, clock=lambda: 1, monotonic=lambda: mono[0]
    )
    assert writer.write([_record("a")]) is False
    assert writer.pending == 1 and writer.failing
    assert "disk full" in writer.error
    # Within the backoff nothing is tried; a new record joins the queue.
    assert writer.write([_record("b")]) is False
    assert store.failures == 2
    mono[0] += 0.06
    assert writer.write([]) is False  # tried, failed again
    assert store.failures == 1
    assert writer.write([], now=True) is False  # a command retries at once
    assert store.failures == 0
    mono[0] += 10
    assert writer.write([]) is True
    assert store.saved == [["a", "b"]]
    kinds = [e.kind for e in published if isinstance(e, ev.JournalWarning)]
    assert kinds == ["WRITE_FAILED", "WRITE_RECOVERED"]
    assert writer.write_failures == 3 and writer.commits == 1


def test_a_withdrawn_record_is_not_written_and_close_tries_once_more() -> None:
    store = _FlakyStore(failures=1)
    writer = JournalWriter(store, "process", lambda events: None, monotonic=lambda: 0.0)
    assert writer.write([_record("a"), _record("b")]) is False
    writer.forget("a")
    writer.close()
    assert store.saved == [["b"]] and store.closed


def test_a_journal_write_error_is_a_store_error() -> None:
    writer = JournalWriter(_FlakyStore(failures=1), "process", lambda events: None)
    writer.write([_record("a")])
    assert writer.error.startswith("journal write")
    assert issubclass(StoreError, Exception)


# -- the waiters -----------------------------------------------------------------------------


def _resolved(rid: int) -> ev.RequestResolved:
    return ev.RequestResolved(
        ts_init=1,
        request_id=rid,
        kind=ev.RequestKind.CANCEL,
        outcome=ev.RequestOutcome.OK,
    )


async def test_an_outcome_that_came_first_is_kept_for_its_waiter() -> None:
    sent: list[Command] = []

    def send(command: Command) -> int:
        sent.append(command)
        return 1

    waiters = Waiters(send, lambda: 0, 1.0)
    waiters.on_resolved(_resolved(5))
    result = await waiters.wait_for(5, 0.1)
    assert result.request_id == 5
    later = asyncio.ensure_future(waiters.wait_for(6, 1.0))
    await asyncio.sleep(0)
    assert waiters.in_flight == 1
    waiters.on_resolved(_resolved(6))
    assert (await later).request_id == 6


async def test_a_watch_collects_its_orders_events_and_close_ends_every_wait() -> None:
    waiters = Waiters(lambda c: 1, lambda: 0, 1.0)
    watch = waiters.watch(["a"])
    assert waiters.watching
    filled = ev.Reconnected(ts_init=1, attempt=1)
    waiters.notify([filled])  # no client order id: not the watch's
    assert watch.events == []
    pending = asyncio.ensure_future(waiters.wait_for(9, 5.0))
    await asyncio.sleep(0)
    waiters.close()
    with pytest.raises(InvalidStateError):
        await pending
    waiters.unwatch(watch)
    assert not waiters.watching


# -- the gate --------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.inputs: list[tuple[str, int]] = []

    def record(self, kind: str, ts: int, payload: object = None, /, **fields: object) -> None:
        self.inputs.append((kind, ts))

    def record_frame(self, kind: str, ts: int, data: bytes, /) -> None:
        self.inputs.append((kind, ts))


def test_every_input_passes_the_gate_with_its_time() -> None:
    session = OrdersSession(account_id="A", trader_id="T")
    sink = _Sink()
    gate = SessionGate(session, StopTriggers(session), sink)
    receive = gate.receiver()
    gate.connection_made(1)
    receive(b'{"rid":0,"res":{"li":"U","o":[]}}', 2)
    gate.tick(3)  # nothing due: not recorded
    gate.update_market("EURUSD-PERP", 4, last=Decimal("1.1"))
    gate.connection_lost(5, "connection lost")
    assert sink.inputs == [("connect", 1), ("in", 2), ("price", 4), ("drop", 5)]
    assert not session.is_connected
    bare = SessionGate(session, StopTriggers(session))
    assert bare.receiver() == session.receive  # nothing records: the session's own


# -- the connection --------------------------------------------------------------------------


class _Frame:
    def __init__(self, data: bytes, fin: bool = True) -> None:
        import picows

        self.msg_type = picows.WSMsgType.TEXT
        self.fin = fin
        self._data = data

    def get_payload_as_bytes(self) -> bytes:
        return self._data


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.pings = 0
        self.disconnected = False

    def send(self, kind: Any, data: bytes) -> None:
        self.sent.append(data)

    def send_ping(self) -> None:
        self.pings += 1

    def disconnect(self) -> None:
        self.disconnected = True


async def _noop() -> None:
    return None


def _connection(**calls: list[Any]) -> Connection:
    return Connection(
        Endpoints.from_url("http://127.0.0.1:1"),
        StaticToken("t"),
        on_open=calls["opened"].append,
        on_message=lambda data, now: calls["messages"].append((data, now)),
        on_read=lambda: calls["reads"].append(1),
        on_close=calls["closed"].append,
        prepare=_noop,
        heartbeat=0.01,
        request_timeout=1.0,
        connect_timeout=1.0,
        connect_attempts=1,
        watchdog=3.0,
        venue_heartbeat=5.0,
        stable_after=5.0,
        max_message_size=1 << 20,
        cancel_on_disconnect=False,
        proxy="",
        ssl_context=None,
        user_agent="t",
    )


async def test_the_messages_of_one_read_share_a_time_and_one_read_callback() -> None:
    calls: dict[str, list[Any]] = {"opened": [], "messages": [], "reads": [], "closed": []}
    connection = _connection(**calls)
    listener = Listener(connection, 1 << 20)
    transport = _Transport()
    listener.on_ws_connected(transport)  # type: ignore[arg-type]
    assert calls["opened"] == [0] and connection.transport is transport
    for data in (b"1", b"2", b"3"):
        listener.on_ws_frame(transport, _Frame(data))  # type: ignore[arg-type]
    assert [d for d, _ in calls["messages"]] == [b"1", b"2", b"3"]
    assert len({now for _, now in calls["messages"]}) == 1
    assert calls["reads"] == []
    await asyncio.sleep(0)
    assert calls["reads"] == [1]
    listener.on_ws_disconnected(transport)  # type: ignore[arg-type]
    assert calls["closed"] == ["connection lost"] and connection.drops == 1
    assert connection.transport is None
    connection.closed = True  # no reconnect from here
    if connection.reconnector is not None:
        connection.reconnector.cancel()


async def test_pings_need_the_login_and_the_watchdog_follows_the_venues_cadence() -> None:
    calls: dict[str, list[Any]] = {"opened": [], "messages": [], "reads": [], "closed": []}
    connection = _connection(**calls)
    listener = Listener(connection, 1 << 20)
    transport = _Transport()
    listener.on_ws_connected(transport)  # type: ignore[arg-type]
    connection.gaps.extend([0.1, 8.0, 0.2])
    assert connection.watchdog_limit == pytest.approx(24.0)
    await asyncio.sleep(0.02)
    connection.tick(paused=False)
    assert transport.pings == 0  # not logged in yet
    connection.login.set()
    connection.tick(paused=False)
    assert transport.pings == 1
    connection.last_rx -= 100
    connection.tick(paused=True)  # paused: the silence is ours
    assert not transport.disconnected
    connection.tick(paused=False)
    assert transport.disconnected


# -- the ticker ------------------------------------------------------------------------------


async def test_the_ticker_goes_on_after_a_failing_tick_and_stops() -> None:
    from axorders.client.ticker import Ticker

    calls: list[int] = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in one tick")

    ticker = Ticker(tick, interval=0.001)
    ticker.start()
    ticker.start()  # once only
    await wait_for_calls(calls, 4)
    ticker.stop()
    await asyncio.sleep(0.01)
    assert ticker.task is not None and ticker.task.done()
    seen = len(calls)
    await asyncio.sleep(0.01)
    assert len(calls) == seen


async def wait_for_calls(calls: list[int], count: int) -> None:
    async with asyncio.timeout(2.0):
        while len(calls) < count:
            await asyncio.sleep(0.001)


# -- telemetry -------------------------------------------------------------------------------


def test_telemetry_counts_order_events_and_times_requests() -> None:
    from axorders.client.telemetry import Telemetry
    from axorders.commands import PlaceOrder

    session = OrdersSession(account_id="A", trader_id="T")
    telemetry = Telemetry(session)
    place = PlaceOrder("p-1", "EURUSD-PERP", "BUY", 100, price=Decimal("1.1"))
    telemetry.sent(place, 7, 1_000_000_000)
    handlers = telemetry.handlers()
    resolved = ev.RequestResolved(
        ts_init=1_002_000_000, request_id=7, kind=ev.RequestKind.PLACE, outcome=ev.RequestOutcome.OK
    )
    telemetry.on_resolved(resolved)
    handlers[ev.OrderRejected](
        ev.OrderRejected(
            ts_init=1,
            client_order_id="p-2",
            venue_order_id=None,
            account_id="A",
            trader_id="T",
            strategy_id="S",
            symbol="EURUSD-PERP",
            ts_event=1,
            reason="POST_ONLY_WOULD_CROSS",
            text="",
            origin=ev.RejectOrigin.VENUE_EVENT,
        )
    )
    handlers[ev.OrderDenied](None)  # type: ignore[arg-type]
    snap = telemetry.snapshot()
    assert snap.value("orders_denied") == 1
    assert snap.value("orders_submitted") == 1
    assert snap.value("orders_rejected", "POST_ONLY_WOULD_CROSS") == 1
    place_latency = snap.histogram("request_seconds", "place")
    assert place_latency is not None and place_latency.count == 1
    assert place_latency.sum == pytest.approx(0.002)
    assert snap.value("resyncs") == 0  # pulled from the session's own stats
    off = Telemetry(session, enabled=False)
    assert off.handlers() == {}
    off.sent(place, 8, 0)
    assert off.snapshot().value("orders_submitted") == 0


# -- REST recovery ---------------------------------------------------------------------------


class _FallbackSession:
    """The session's side of the REST fallbacks: one status query wanted."""

    def __init__(self) -> None:
        from axorders.session import RestStatusQuery

        self.queries = [RestStatusQuery(request_id=3, cid=42, venue_order_id=None)]
        self.missing_fills = False

    @property
    def rest_wanted(self) -> bool:
        return bool(self.queries)

    def rest_status_wanted(self) -> list[Any]:
        queries, self.queries = self.queries, []
        return queries

    def rest_cancel_all_wanted(self) -> list[Any]:
        return []


class _FallbackGate:
    def __init__(self, session: _FallbackSession) -> None:
        self.session = session
        self.answers: list[tuple[int, Any, int | None]] = []

    def receive_rest_status(
        self, request_id: int, status: Any, now: int, *, code: int | None, message: str
    ) -> None:
        self.answers.append((request_id, status, code))


class _FailingRest:
    async def order_status(self, venue_order_id: str | None = None, cid: int | None = None) -> Any:
        from axorders.exceptions import RequestRejectedError

        raise RequestRejectedError(404, "no such order")


async def test_rest_recovery_answers_a_status_the_websocket_does_not_know() -> None:
    from axorders.client.recovery import RestRecovery

    session = _FallbackSession()
    gate = _FallbackGate(session)
    pumps: list[int] = []
    recovery = RestRecovery(gate, _FailingRest, lambda: pumps.append(1))  # type: ignore[arg-type]
    recovery.start()
    recovery.start()  # one task at a time
    assert len(recovery.tasks()) == 1
    await asyncio.wait_for(asyncio.gather(*recovery.tasks()), 1.0)
    assert gate.answers == [(3, None, 404)]
    assert pumps == [1] and recovery.fallbacks == 1


# -- the market watch ------------------------------------------------------------------------


class _PriceGate:
    def __init__(self, connected: bool) -> None:
        self.prices: list[tuple[str, Any, Any, Any]] = []
        self.connected = connected
        outer = self

        class _Session:
            @property
            def is_connected(self) -> bool:
                return outer.connected

        class _Stops:
            session = _Session()

            def prices(self, symbol: str) -> Any:
                return None

        self.stops = _Stops()

    def update_market(self, symbol: str, now: int, *, last: Any, bid: Any, ask: Any) -> None:
        self.prices.append((symbol, last, bid, ask))


def test_prices_seen_while_disconnected_are_replayed_high_and_low() -> None:
    from axorders.client.market import MarketWatch

    gate = _PriceGate(connected=False)
    watch = MarketWatch(
        gate,  # type: ignore[arg-type]
        lambda: None,
        "ws://127.0.0.1:1/md/ws",
        StaticToken("t"),
        allow_insecure=False,
        ssl_context=None,
        proxy="",
        max_message_size=1 << 20,
        clock=lambda: 1,
    )
    for price in ("1.10", "1.30", "1.20"):
        watch.on_price("EURUSD-PERP", Decimal(price), None, None, 1)
    assert watch.has_gap
    gate.prices.clear()
    watch.replay_gap()  # still down: kept
    assert watch.has_gap and gate.prices == []
    gate.connected = True
    watch.replay_gap()
    assert [p[1] for p in gate.prices] == [Decimal("1.30"), Decimal("1.10")]
    assert not watch.has_gap
