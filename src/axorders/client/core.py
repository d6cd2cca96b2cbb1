"""OrdersClient: the facade that builds the client's parts, wires them and runs the pump.

Every frame goes through the session (:class:`~axorders.session.OrdersSession`), which parses it
and decides what it means; the parts of this package do the I/O around it, each owning its
state (see :mod:`axorders.client`). The facade holds the public methods, turns their arguments
into commands, and runs the pump: the session's output goes to user code (events), the journal
(records) and the socket (frames), in that order.

::

    async with OrdersClient(url, token=token) as client:
        await client.submit_order("my-1", "EURUSD-PERP", "BUY", 100, price="1.0850")
        async for event in client.events():
            print(event)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from axorders import events as ev
from axorders.auth import TokenProvider
from axorders.client.awaiting import AwaitingOrders
from axorders.client.connection import Connection
from axorders.client.connection import token_provider as _token_provider
from axorders.client.fragments import DEFAULT_MAX_MESSAGE_SIZE
from axorders.client.gate import SessionGate
from axorders.client.hub import EventHub, EventStream
from axorders.client.journal import JournalWriter
from axorders.client.market import MarketWatch
from axorders.client.marketdata import MarketDataFeed
from axorders.client.recovery import RestRecovery
from axorders.client.risk import RiskGuard
from axorders.client.stops import StopTriggers
from axorders.client.submitting import Submitter
from axorders.client.telemetry import Telemetry
from axorders.client.ticker import Ticker
from axorders.client.waiters import Waiters
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    ReplaceOrder,
)
from axorders.config import Endpoints, Environment
from axorders.exceptions import AxOrdersError, InvalidStateError, RequestTimeoutError, StoreError
from axorders.metrics import MetricsSnapshot
from axorders.model import Instrument, OrderType, RequestId, Side, TimeInForce, TriggerSource
from axorders.recording import Recorder
from axorders.rest import RestClient
from axorders.results import OrderResult
from axorders.risk import Position, RiskLimits, TradingState
from axorders.security import check_url
from axorders.session import OrdersSession
from axorders.state import OrderRecord
from axorders.store import Durability, OrderStore

__all__ = ["OrdersClient"]

log = logging.getLogger("axorders.client")


def _place(
    client_order_id: str,
    symbol: str,
    side: Side | str,
    quantity: int | Decimal | str,
    price: Decimal | str | float | None,
    order_type: OrderType | str,
    time_in_force: TimeInForce | str,
    post_only: bool,
    trigger_price: Decimal | str | float | None,
    strategy_id: str | None,
    tag: str | None,
) -> PlaceOrder:
    """The command of ``submit_order``'s and ``place_order``'s arguments."""
    return PlaceOrder(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.parse(order_type),
        price=price,
        trigger_price=trigger_price,
        time_in_force=time_in_force,
        post_only=post_only,
        strategy_id=strategy_id,
        tag=tag,
    )


class OrdersClient:
    """An AX orders client over the orders WebSocket.

    Args:
        url: an environment (``"sandbox"``, ``"production"``, an :class:`Environment`) or any
            base URL, such as the simulator's ``http://127.0.0.1:8080``.
        account_id: the account stamped on events; learned from the venue when omitted.
        trader_id: stamped on every order event.
        strategy_id: default strategy id of orders that do not name one.
        heartbeat: seconds between WebSocket pings (it plays no part in the watchdog).
        token / api_key + api_secret / token_provider: credentials (one of them).
        cancel_on_disconnect: ask the venue to cancel this connection's orders when it drops.
        request_timeout: seconds a request may wait for the venue's answer.
        connect_timeout: seconds one connection attempt may take, from the TCP connect to the
            venue's login snapshot.
        connect_attempts: attempts of the first connect (later reconnects never give up).
        watchdog: reconnect when nothing came from the venue for ``watchdog × cadence``
            seconds, where the cadence is the longer of ``venue_heartbeat`` and the longest
            of the last 8 gaps between two messages of the venue (0 turns it off).
        venue_heartbeat: the least interval (s) assumed between the venue's heartbeats.
        stable_after: a connection that closes sooner than this (s) after its upgrade does
            not start the reconnect delays again; after a longer one the first retry goes
            out at once.
        max_message_size: bytes one message may have, its fragments together (RFC 6455
            §5.4); a bigger one closes the socket with 1009.
        proxy: a proxy URL (``http://[user:password@]host:port``) for REST, authentication
            and both WebSockets; ``""`` for none; None (default) for the standard
            ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` variables.
        max_queue: the bound of each :meth:`events` reader's queue. While a reader is that far
            behind, the client stops reading the socket until every reader has caught up to
            ``low_water`` (default: half); nothing is dropped. While no reader is attached,
            the newest ``max_queue`` events are kept for the next one and the socket is never
            paused (older ones are counted in :attr:`events_dropped`).
        event_queue: False when events are only consumed through ``on_event`` and awaits.
        on_event: called with every event, in order, before it is queued.
        store: an order journal, or the path of a SQLite one to open; records are written
            before the frames that depend on them (see :meth:`_send` for a failed write).
        durability: for a journal given as a path: ``"process"`` (the default: a commit
            survives a crash of the process) or ``"power"`` (it also survives a power loss).
        instruments: instruments to cache; otherwise they are loaded over REST on connect.
        trigger_source: which market price crosses STOP_LIMIT triggers.
        allow_insecure: allow ``ws://``/``http://`` to a host that is not loopback.
        ssl_context: TLS settings for ``wss``/``https`` (certificates are verified by default).
        record: a folder to record the session in (the flight recorder: every input to the
            session with its time, every frame sent and every event handed over, in rotating
            zstd-compressed JSON Lines; see docs/RECORDING.md and :mod:`axorders.replay`), or
            a :class:`~axorders.recording.Recorder`. Default: ``$AXORDERS_RECORD``, else
            none. Recording happens off the event loop and never holds trading up: a full or
            failing disk drops records, counted, with one
            :class:`~axorders.events.RecorderWarning` per streak. No credential is recorded.
        record_keep: how many recording files to keep in that folder (the newest).
        metrics: count order events and time requests for :meth:`metrics` (the counts the
            parts keep anyway are there either way).
        risk: pre-trade limits (:class:`~axorders.risk.RiskLimits`), checked before a place
            or a replace is sent (see :meth:`set_risk_limits`); None for none. The trading
            state (:meth:`halt`) and the positions (:meth:`positions`) work either way.
    """

    def __init__(
        self,
        url: str | Environment = Environment.SANDBOX,
        *,
        account_id: str | None = None,
        trader_id: str = "TRADER-001",
        strategy_id: str = "DEFAULT",
        heartbeat: float = 30.0,
        token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        token_provider: TokenProvider | None = None,
        cancel_on_disconnect: bool = False,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        connect_attempts: int = 5,
        watchdog: float = 3.0,
        max_queue: int = 10_000,
        low_water: int | None = None,
        event_queue: bool = True,
        on_event: Callable[[ev.Event], None] | None = None,
        store: OrderStore | str | Path | None = None,
        durability: Durability = "process",
        instruments: Iterable[Instrument] = (),
        trigger_source: TriggerSource = TriggerSource.LAST_TRADE,
        allow_insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "axorders",
        venue_heartbeat: float = 5.0,
        stable_after: float = 5.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        proxy: str | None = None,
        record: str | Path | Recorder | None = None,
        record_keep: int | None = 20,
        metrics: bool = True,
        risk: RiskLimits | None = None,
    ) -> None:
        if isinstance(url, Environment) or url.lower() in ("sandbox", "production"):
            self.endpoints = Endpoints.for_environment(url)
        else:
            self.endpoints = Endpoints.from_url(url)
        for endpoint in (self.endpoints.base_url, self.endpoints.orders_ws_url):
            check_url(endpoint, allow_insecure=allow_insecure)
        if heartbeat <= 0 or request_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("heartbeat and timeouts must be positive")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if venue_heartbeat <= 0 or stable_after < 0 or max_message_size < 1:
            raise ValueError("venue_heartbeat and max_message_size must be positive")
        self.heartbeat = heartbeat
        self.request_timeout = request_timeout
        self.proxy = proxy
        self._ssl = ssl_context
        self._clock: Callable[[], int] = time.time_ns
        clock = self._clock
        tokens = _token_provider(
            self.endpoints, token, api_key, api_secret, token_provider, ssl_context, proxy
        )
        self._tokens = tokens
        self._account_known = account_id is not None
        self._closed = False
        self._restored = False
        self._paused_at = 0
        self._rest: RestClient | None = None

        # The sans-I/O core, and the one door into it.
        self.session = OrdersSession(
            account_id=account_id or "",
            trader_id=trader_id,
            strategy_id=strategy_id,
            instruments=instruments,
            request_timeout_ns=int(request_timeout * 1e9),
            track_changes=store is not None,
        )
        self.stops = StopTriggers(self.session, trigger_source)
        self._loop: asyncio.AbstractEventLoop | None = None
        # The recorder's warnings are handed to the running loop (set again by connect()).
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._recorder = recorder = self._make_recorder(
            record if record is not None else os.environ.get("AXORDERS_RECORD") or None,
            record_keep,
            {
                "orders_ws_url": self.endpoints.orders_ws_url,
                "base_url": self.endpoints.base_url,
                "session": {
                    "account_id": account_id or "",
                    "trader_id": trader_id,
                    "strategy_id": strategy_id,
                    "request_timeout_ns": int(request_timeout * 1e9),
                    "track_changes": store is not None,
                    "trigger_source": trigger_source.value,
                },
                "client": {
                    "heartbeat": heartbeat,
                    "request_timeout": request_timeout,
                    "connect_timeout": connect_timeout,
                    "watchdog": watchdog,
                    "max_queue": max_queue,
                    "cancel_on_disconnect": cancel_on_disconnect,
                    "journal": None if store is None else str(getattr(store, "path", store)),
                },
            },
            list(self.session.instruments.values()),
        )
        self._gate = gate = SessionGate(self.session, self.stops, recorder)

        # The parts, each owning its state.
        self._telemetry = telemetry = Telemetry(self.session, enabled=metrics)
        self._waiters = waiters = Waiters(self._send, self._drops, request_timeout)
        self._hub = hub = EventHub(
            max_queue=max_queue,
            low_water=low_water,
            event_queue=event_queue,
            on_event=on_event,
            handlers={
                **telemetry.handlers(),
                ev.RequestResolved: self._on_resolved,
                ev.OpenOrdersReceived: waiters.on_answer,
                ev.OrderStatusReport: waiters.on_answer,
                ev.LoginSnapshot: self._on_login_snapshot,
                ev.Resynced: self._on_resynced,
            },
            observe=waiters.notify,
            pause=self._on_pause,
        )
        self._journal = journal = (
            JournalWriter(store, durability, self._publish_own, clock)
            if store is not None
            else None
        )
        if journal is not None:
            journal.commit_seconds = telemetry.journal_commit
        self._connection = Connection(
            self.endpoints,
            tokens,
            on_open=self._on_open,
            on_message=gate.receiver(),
            on_read=self._on_read,
            on_close=self._on_close,
            prepare=self._prepare,
            clock=clock,
            heartbeat=heartbeat,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            connect_attempts=connect_attempts,
            watchdog=watchdog,
            venue_heartbeat=venue_heartbeat,
            stable_after=stable_after,
            max_message_size=max_message_size,
            cancel_on_disconnect=cancel_on_disconnect,
            proxy=proxy,
            ssl_context=ssl_context,
            user_agent=user_agent,
        )
        self._market = MarketWatch(
            gate,
            self._pump,
            self.endpoints.md_ws_url,
            tokens,
            allow_insecure=allow_insecure,
            ssl_context=ssl_context,
            proxy=proxy,
            max_message_size=max_message_size,
            clock=clock,
            tap=None if recorder is None else self._record_md,
        )
        self._recovery = RestRecovery(gate, lambda: self.rest, self._pump, clock)
        self._submitter = Submitter(
            gate,
            self._send,
            self._preview,
            self._market.watch,
            self._pump,
            clock,
        )
        self._orders = AwaitingOrders(self.session, self._submitter, self._send, waiters)
        self._ticker = Ticker(self._tick)
        self._risk = RiskGuard(
            self.session,
            prices=self.stops.prices,
            publish=self._publish_own,
            send=self._send,
            cancel_all=lambda wait: self._orders.cancel_all(None, wait),
            ready=self._connection.resynced,
            preview=self._preview,
            venue_positions=lambda: self.rest.positions(),  # noqa: PLW0108 - made on first use
            # The collar takes the market-data feed's prices when one is up (for stops), else
            # the venue's preview: no subscription just for the collar.
            watch=None,
            journal=journal,
            limits=risk,
            clock=clock,
        )
        hub.add_handlers(self._risk.handlers())
        connection = self._connection
        telemetry.watch_connection(
            lambda: connection.is_open, lambda: connection.reconnects, lambda: connection.silence
        )
        telemetry.watch_queue(lambda: hub.depth)
        telemetry.watch_fills(lambda: self._risk.fills_seen)
        drops: dict[str, Callable[[], int]] = {"events": lambda: hub.dropped_count}
        if recorder is not None:
            drops["recorder"] = lambda: recorder.dropped
            telemetry.watch(
                "recorder_records", "records the recorder wrote", lambda: recorder.stats().written
            )
        telemetry.watch_drops(drops)
        telemetry.watch(
            "rest_fallbacks",
            "REST calls for requests the WebSocket does not know",
            lambda: self._recovery.fallbacks,
        )
        telemetry.watch(
            "journal_write_failures",
            "failed journal writes",
            lambda: journal.write_failures if journal is not None else 0,
        )

    def _make_recorder(
        self,
        record: str | Path | Recorder | None,
        keep: int | None,
        settings: dict[str, Any],
        instruments: list[Instrument],
    ) -> Recorder | None:
        if record is None or isinstance(record, Recorder):
            return record
        return Recorder(
            record,
            settings=settings,
            instruments=instruments,
            keep=keep,
            on_warning=self._recorder_warning,
        )

    def _recorder_warning(self, kind: str, message: str) -> None:
        """From the recorder's thread: one warning per streak, handed to the loop."""
        recorder = self._recorder
        loop = self._loop
        if recorder is None or loop is None or loop.is_closed():
            log.warning("recorder: %s", message)
            return
        event = ev.RecorderWarning(
            ts_init=self._clock(),
            kind=kind,
            path=str(recorder.directory),
            message=message,
            dropped=recorder.dropped,
        )
        events: list[ev.Event] = [event]
        try:
            loop.call_soon_threadsafe(self._publish_own, events)
        except RuntimeError:  # the loop closed meanwhile
            log.warning("recorder: %s", message)

    def __repr__(self) -> str:
        return (
            f"OrdersClient(url={self.endpoints.orders_ws_url!r}, heartbeat={self.heartbeat},"
            f" account_id={self.session.account_id!r}, active={self.is_active})"
        )

    # -----------------------------------------------------------------------------------------
    # Lifecycle.

    async def __aenter__(self) -> OrdersClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect, log in and reconcile with the venue.

        Returns once the venue's login snapshot has come and the resync it starts has ended.
        Makes up to ``connect_attempts`` attempts with exponential backoff; each has
        ``connect_timeout`` seconds to reach the login snapshot. Nothing is sent before it.

        Raises:
            AuthenticationError: the venue refused the credentials (never retried).
            ConnectError: every attempt failed (or the client was closed meanwhile).
        """
        if self._closed:
            raise InvalidStateError("the client is closed")
        self._loop = asyncio.get_running_loop()
        await self._connection.connect()
        self._ticker.start()

    async def disconnect(self) -> None:
        """Close the socket without reconnecting; :meth:`connect` opens it again."""
        await self._connection.disconnect()

    async def close(self, timeout: float = 5.0) -> None:
        """Close gracefully: stop reconnecting, close the socket, release resources.

        Bounded by ``timeout`` seconds; the event stream ends after the queued events. Every
        task the client started has ended when this returns, no socket is left open, and a
        request still waiting for the venue ends with :class:`InvalidStateError`.
        """
        if self._closed:
            return
        connection = self._connection
        connection.closing = True
        try:
            await asyncio.wait_for(self._shutdown(), timeout)
        except TimeoutError:
            log.warning("close did not finish within %.1f s", timeout)
        finally:
            self._closed = connection.closed = True
            self._ticker.stop()
            self._recovery.close()
            self._risk.close()
            current = asyncio.current_task()
            tasks = [
                task
                for task in [
                    self._ticker.task,
                    *connection.tasks(),
                    *self._recovery.tasks(),
                    *self._risk.tasks(),
                ]
                if task is not None and task is not current and not task.done()
            ]
            for task in tasks:
                task.cancel()
            self._waiters.close()
            self._hub.close()
            if tasks:
                await asyncio.wait(tasks, timeout=max(timeout, 0.1))
            # A read's messages first: their events precede the journal's last write.
            connection.end_batch()
            if self._journal is not None:
                self._journal.close()
            # The HTTP sessions close whatever happened above (a close that ran out of time
            # leaves none open).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(), max(timeout, 0.5))
            recorder = self._recorder
            if recorder is not None:
                recorder.record("close", self._clock())
                # Its thread writes what is queued and ends (bounded: never blocks for long).
                await asyncio.to_thread(recorder.close, 2.0)

    async def _shutdown(self) -> None:
        await self._connection.stop()
        await self._market.close()
        await self._release()

    async def _release(self) -> None:
        """Close the REST client and the token provider's HTTP session (idempotent)."""
        if self._rest is not None:
            await self._rest.close()
        close_tokens = getattr(self._tokens, "close", None)
        if close_tokens is not None:
            await close_tokens()

    @property
    def is_active(self) -> bool:
        """True while the socket is open and logged in."""
        return self._connection.is_open and not self._closed

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def rest(self) -> RestClient:
        """The REST client of the same gateway and credentials."""
        if self._rest is None:
            self._rest = RestClient(
                self.endpoints.base_url,
                self._tokens,
                timeout=self.request_timeout,
                ssl_context=self._ssl,
                proxy=self.proxy,
            )
        return self._rest

    @property
    def store(self) -> OrderStore | None:
        """The order journal, if one is used."""
        return self._journal.store if self._journal is not None else None

    @property
    def watchdog_limit(self) -> float:
        """Seconds of silence from the venue after which the socket is dropped (see
        :attr:`axorders.client.connection.Connection.watchdog_limit`)."""
        return self._connection.watchdog_limit

    @property
    def max_queue(self) -> int:
        return self._hub.max_queue

    @property
    def low_water(self) -> int:
        return self._hub.low_water

    # -----------------------------------------------------------------------------------------
    # The parts' callbacks: the socket's life.

    def _drops(self) -> int:
        return self._connection.drops

    async def _preview(self, symbol: str, side: Side, quantity: int) -> Decimal | None:
        return await self.rest.preview_aggressive_limit_order(symbol, side, quantity)

    async def _prepare(self) -> None:
        """What the first connection needs over REST: instruments, the account, the journal."""
        if not self.session.instruments:
            await self.load_instruments()
        if not self._account_known:
            try:
                who = await self.rest.whoami()
            except AxOrdersError:
                who = None
            if who is not None and who.accounts:
                self._gate.set_account(self._clock(), who.accounts[0].id)
                self._account_known = True
        journal = self._journal
        if journal is not None and not self._restored:
            records = await asyncio.to_thread(journal.load)
            self._gate.restore(records, self._clock())
            self._restored = True

    def _on_open(self, reconnect: int) -> None:
        now = self._clock()
        self._telemetry.opened(now)
        self._gate.connection_made(now)
        if reconnect:
            self._publish_own([ev.Reconnected(ts_init=now, attempt=reconnect)])
        # Nothing goes out before the login snapshot (see _pump): this pump only publishes.
        self._pump()

    def _on_read(self) -> None:
        """After a socket read: one pump for all its messages, and one hand-over of their
        events to the readers (one wake-up each)."""
        hub = self._hub
        hub.hold()
        try:
            self._pump()
        finally:
            hub.flush_now()

    def _on_close(self, reason: str) -> None:
        self._hub.connection_gone()
        self._gate.connection_lost(self._clock(), reason)
        self._pump()

    def _on_pause(self, pause: bool) -> None:
        """The hub stops (or resumes) reading the socket for a slow reader."""
        now = self._clock()
        if pause:
            self._paused_at = now
        else:
            # Answers may have waited unread while paused: that time is not the venue's.
            self._gate.extend_deadlines(now, now - self._paused_at)
        self._connection.pause_reading(pause)

    def _tick(self) -> None:
        paused = self._hub.paused
        if not paused:  # deadlines wait while reading is paused (see _on_pause)
            self._gate.tick(self._clock())
        self._pump()
        self._connection.tick(paused)

    # Events the client itself acts on (the waiters' are theirs).

    def _on_login_snapshot(self, event: ev.LoginSnapshot) -> None:
        self._connection.login.set()
        if not self._account_known:
            self._gate.set_account(event.ts_init, event.login_id)

    def _on_resolved(self, event: ev.RequestResolved) -> None:
        self._waiters.on_resolved(event)
        self._telemetry.on_resolved(event)

    def _on_resynced(self, event: ev.Resynced) -> None:
        self._telemetry.on_resynced(event)
        self._connection.resynced.set()
        if self._market.has_gap:
            asyncio.get_running_loop().call_soon(self._market.replay_gap)

    # -----------------------------------------------------------------------------------------
    # The pump: session output to user code, the journal and the socket.

    def _pump(self) -> None:
        session = self.session
        # User code is handed the events before their records are journaled: the journal
        # counts only fills the trader has been given, so after a crash between the two the
        # restarted client fetches the fill from the venue and delivers it (again, at worst).
        events = session.events_received()
        if events:
            recorder = self._recorder
            if recorder is not None:
                recorder.record_events(events)
            self._hub.publish(events)
        # A frame leaves only once every changed record is journaled: while a write fails,
        # the frames wait in the session's queue (dropped by it if the connection goes).
        # Nothing leaves before the venue's login snapshot either: frames wait in the session
        # (the snapshot's own events, published above, let them go).
        journal = self._journal
        journaled = journal is None or journal.write(session.take_changed())
        if journaled and self._connection.login.is_set():
            self._send_frames(session.frames_to_send())
        if session.missing_fills or session.rest_wanted:
            self._recovery.start()

    def _send_frames(self, frames: list[bytes]) -> None:
        if frames:
            recorder = self._recorder
            if recorder is not None:
                now = self._clock()
                for data in frames:
                    recorder.record_frame("out", now, data)
            self._connection.send(frames)

    def _record_md(self, data: bytes) -> None:
        """A market-data message as received (a note: the prices it gives the STOP_LIMIT
        triggers are recorded as the gate's ``price`` inputs)."""
        recorder = self._recorder
        if recorder is not None:
            recorder.record_frame("md", self._clock(), data)

    def _publish_own(self, events: list[ev.Event]) -> None:
        """Events the client makes itself (not the session's): recorded as the client's."""
        recorder = self._recorder
        if recorder is not None:
            recorder.record_events(events, "client")
        self._hub.publish(events)

    def _send(self, command: Command) -> RequestId | None:
        """Queue ``command``'s frames through the session and send them once journaled.

        With a journal, the records the command changed (and any still queued from a failed
        write) are committed first, at once; a command that changed no record (a cancel, a
        query) is sent without waiting for them. When that commit fails the command is withdrawn:
        none of its frames is sent, its request resolves LOCAL, a place ends in a LOCAL
        :class:`~axorders.events.OrderRejected` (``JOURNAL_WRITE_FAILED``) and is forgotten,
        and the caller gets :class:`StoreError`. A purely local change (an armed stop canceled
        or amended) stands in memory and its record is retried with the others.
        """
        if self._closed:
            raise InvalidStateError("the client is closed")
        # Messages of a socket read wait for their pump: their events and records come
        # first, as if each had been pumped on arrival.
        self._connection.end_batch()
        now = self._clock()
        self._risk.check(command, now)  # a limit refuses it here: nothing is sent
        session = self.session
        gate = self._gate
        journal = self._journal
        if journal is None:
            try:
                rid = gate.send(command, now)
            finally:
                self._pump()
            self._telemetry.sent(command, rid, now)
            return rid
        mark = session.journal_mark()
        try:
            rid = gate.send(command, now)
        except BaseException:
            self._pump()
            raise
        self._telemetry.sent(command, rid, now)
        own = session.take_changed()
        if not own:
            # Its frames depend on no new record (a cancel, a query): they leave now, even
            # ahead of frames still held for a failed write.
            if journal.pending and self._connection.login.is_set():
                self._send_frames(session.frames_since(mark))
            self._pump()
            return rid
        if journal.write(own, now=True):
            self._pump()
            return rid
        text = "the order journal could not be written; nothing was sent"
        place = command.client_order_id if isinstance(command, PlaceOrder) else None
        gone = gate.withdraw(mark, self._clock(), text, str(place) if place else None)
        if gone is not None:
            journal.forget(gone.client_order_id)
        self._pump()
        raise StoreError(f"{text} (the journal says: {journal.error})")

    # -----------------------------------------------------------------------------------------
    # Events.

    def events(self) -> EventStream:
        """An iterator over every event, in order, until the client is closed.

        Every iterator gets every event published while it is attached (fan-out); the first
        one attached also gets the events kept while nobody was reading (at most
        ``max_queue``, the newest). Reading is paused only while an attached reader is
        ``max_queue`` events behind, so a program that never calls this never stalls. An
        iterator detaches when it is closed (``aclose()``), exhausted, or dropped (e.g. after
        ``break``); what it left unread goes back to the backlog when it was the only one.
        """
        return self._hub.events()

    stream = events

    async def next_event(
        self, predicate: Callable[[ev.Event], bool] | None = None, timeout: float | None = None
    ) -> ev.Event:
        """The next event (matching ``predicate``), waiting up to ``timeout`` seconds.

        Events before the match are consumed, as with an :meth:`events` iterator.

        Raises:
            RequestTimeoutError: nothing matched within ``timeout``.
            InvalidStateError: the client was closed first.
        """
        stream = self.events()
        try:
            async with asyncio.timeout(timeout):
                async for event in stream:
                    if predicate is None or predicate(event):
                        return event
        except TimeoutError:
            raise RequestTimeoutError(f"no matching event within {timeout} s") from None
        finally:
            stream.close()
        raise InvalidStateError("the client was closed")

    @property
    def events_dropped(self) -> int:
        """Events dropped from the backlog while no :meth:`events` reader was attached."""
        return self._hub.dropped

    # -----------------------------------------------------------------------------------------
    # Instruments and orders.

    async def load_instruments(self) -> list[Instrument]:
        """Fetch every instrument over REST and cache it."""
        instruments = await self.rest.instruments()
        for instrument in instruments:
            self._gate.cache_instrument(self._clock(), instrument)
        return instruments

    def cache_instrument(self, instrument: Instrument) -> None:
        self._gate.cache_instrument(self._clock(), instrument)

    def instrument(self, symbol: str) -> Instrument:
        return self.session.instrument(symbol)

    def orders(self, *, include_ended: bool = False) -> list[OrderRecord]:
        """The orders this client tracks."""
        return self.session.orders(include_ended=include_ended)

    def order(self, client_order_id: str) -> OrderRecord | None:
        return self.session.order(client_order_id)

    def register_external_order(
        self,
        client_order_id: str,
        venue_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int,
        price: Decimal | str,
        *,
        strategy_id: str | None = None,
        filled_qty: int = 0,
        cid: int | None = None,
    ) -> OrderRecord:
        """Track an order placed elsewhere so that its events carry ``client_order_id``
        (``cid``: the venue's ``cid`` of it, when it was placed with one of another
        process's)."""
        rec = self._gate.register_external_order(
            self._clock(),
            client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            strategy_id=strategy_id,
            filled_qty=filled_qty,
            cid=cid,
        )
        self._pump()
        return rec

    # -----------------------------------------------------------------------------------------
    # Commands that return a request id at once.

    async def submit_order(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int | Decimal | str,
        price: Decimal | str | float | None = None,
        *,
        order_type: OrderType | str = OrderType.LIMIT,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        trigger_price: Decimal | str | float | None = None,
        strategy_id: str | None = None,
        tag: str | None = None,
    ) -> RequestId | None:
        """Send an order; returns its request id as soon as the frame is written.

        MARKET orders are priced from the venue's aggressive-limit preview and sent as IOC
        limits; with no liquidity they end in :class:`~axorders.events.OrderRejected` and
        this returns None. STOP_LIMIT orders are armed locally (returns None) and sent as a
        limit when the market crosses ``trigger_price``.

        Raises:
            InvalidOrderError: bad input (nothing was sent).
            DuplicateOrderError: the client order id is in use.
        """
        command = _place(
            client_order_id,
            symbol,
            side,
            quantity,
            price,
            order_type,
            time_in_force,
            post_only,
            trigger_price,
            strategy_id,
            tag,
        )
        if self._risk.needs_prepare(command):  # no coroutine when nothing is owed
            await self._risk.prepare(command)
        return await self._submitter.submit(command)

    async def submit_cancel(
        self, client_order_id: str | None = None, venue_order_id: str | None = None
    ) -> RequestId:
        """Send a cancel of one order (by client or venue order id); returns its request id
        at once. The outcome arrives as events (:class:`~axorders.events.OrderCanceled` or
        :class:`~axorders.events.CancelRejected`, then a ``RequestResolved``).

        Raises:
            UnknownOrderError: no tracked order has that id (nothing was sent).
            InvalidStateError: not connected.
        """
        return self._request(CancelOrder(client_order_id, venue_order_id))

    async def submit_replace(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        price: Decimal | str | float | None = None,
        quantity: int | Decimal | str | None = None,
    ) -> RequestId:
        """Send a cancel-replace of an open order's price and/or quantity; returns its request
        id at once. The outcome arrives as events (``OrderReplaced`` or ``ReplaceRejected``).

        Raises:
            InvalidOrderError: bad price or quantity (nothing was sent).
            UnknownOrderError: no tracked order has that id.
        """
        return self._request(ReplaceOrder(client_order_id, venue_order_id, price, quantity))

    async def submit_cancel_all(self, symbol: str | None = None) -> RequestId:
        """Send a cancel of every open order (of ``symbol``); returns its request id at once.

        Armed STOP_LIMIT orders (of ``symbol``) are canceled locally at once.
        """
        return self._request(CancelAllOrders(symbol))

    def _request(self, command: Command) -> RequestId:
        rid = self._send(command)
        assert rid is not None
        return rid

    # -----------------------------------------------------------------------------------------
    # Awaitable commands: the venue's answer, or a typed error.

    async def place_order(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int | Decimal | str,
        price: Decimal | str | float | None = None,
        *,
        timeout: float | None = None,
        order_type: OrderType | str = OrderType.LIMIT,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        trigger_price: Decimal | str | float | None = None,
        strategy_id: str | None = None,
        tag: str | None = None,
    ) -> OrderResult:
        """Place an order and wait for the venue's answer: the order as the venue now has it.

        Takes the arguments of :meth:`submit_order`. The result's ``status`` is ACCEPTED for
        an order resting on the book, PARTIALLY_FILLED / FILLED when it traded at once,
        EXPIRED for an IOC (MARKET included) whose rest was canceled, and ARMED for a
        STOP_LIMIT, which the client holds until its trigger (nothing is sent yet).

        Raises:
            InvalidOrderError: bad input (nothing was sent).
            DuplicateOrderError: the client order id is in use.
            OrderRejectedError: the venue rejected the order (``reason``, ``code``), or a
                MARKET order found no liquidity (``reason`` ``NO_LIQUIDITY``, nothing sent).
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first (``reached_venue`` says
                whether the venue got the order).
        """
        command = _place(
            client_order_id,
            symbol,
            side,
            quantity,
            price,
            order_type,
            time_in_force,
            post_only,
            trigger_price,
            strategy_id,
            tag,
        )
        if self._risk.needs_prepare(command):  # no coroutine when nothing is owed
            await self._risk.prepare(command)
        return await self._orders.place(command, timeout)

    async def cancel_order(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        timeout: float | None = None,
    ) -> OrderResult:
        """Cancel one order (by client or venue order id) and wait until the venue confirms.

        Returns the order as it ended (status CANCELED; an armed STOP_LIMIT is canceled
        locally, nothing is sent).

        Raises:
            OrderNotFoundError: the order is unknown (to the client or the venue) or has
                already ended (``reason`` ``ORDER_ALREADY_ENDED``, ``status`` its end).
            CancelRejectedError: the venue refused the cancel for another reason.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        return await self._orders.cancel(client_order_id, venue_order_id, timeout)

    async def replace_order(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        price: Decimal | str | float | None = None,
        quantity: int | Decimal | str | None = None,
        timeout: float | None = None,
    ) -> OrderResult:
        """Cancel-replace an open order's price and/or quantity and wait until it took effect.

        Returns the order with its new price, quantity and venue order id (an armed
        STOP_LIMIT is amended locally).

        Raises:
            InvalidOrderError: bad price or quantity (nothing was sent).
            OrderNotFoundError: the order is unknown or has already ended.
            ReplaceRejectedError: the venue refused the replace (e.g. a price outside the
                band); the order keeps its old price and quantity.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        return await self._orders.replace(client_order_id, venue_order_id, price, quantity, timeout)

    async def cancel_all(
        self, symbol: str | None = None, *, timeout: float | None = None
    ) -> list[OrderResult]:
        """Cancel every open order (of ``symbol``) and wait until the venue has canceled them.

        Returns the orders this canceled, as they ended (status CANCELED), in the order they
        were placed; an empty list when nothing was open. Armed STOP_LIMIT orders are
        canceled locally and included. An order that filled before the cancel reached it is
        not in the list.

        Raises:
            UnknownInstrumentError: ``symbol`` is not a known instrument.
            CancelRejectedError: the venue refused the request.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        return await self._orders.cancel_all(symbol, timeout)

    async def get_open_orders(self, timeout: float | None = None) -> list[ev.OrderSnapshot]:
        """The venue's open orders, as the venue reports them.

        Raises:
            RequestTimeoutError: no answer in time.
            ConnectionLostError: the connection dropped before the answer.
            RequestRejectedError: the venue answered with an error.
        """
        return await self._orders.open_orders(timeout)

    async def order_status(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        timeout: float | None = None,
    ) -> ev.OrderStatusReport:
        """The venue's status of one order (open or ended), as the venue reports it.

        Raises:
            OrderNotFoundError: the venue has no such order (404).
            RequestRejectedError: the venue answered with another error.
            RequestTimeoutError: no answer in time.
            ConnectionLostError: the connection dropped before the answer.
        """
        return await self._orders.status(client_order_id, venue_order_id, timeout)

    async def wait_for(self, request_id: int, timeout: float | None = None) -> ev.RequestResolved:
        """Wait for the outcome of a request sent by a ``submit_*`` method.

        Returns its ``RequestResolved``, whatever the outcome (OK, ERROR, LOCAL or LOST:
        check ``.ok``), except a timeout.

        Raises:
            RequestTimeoutError: the request timed out, or nothing came within ``timeout``.
            ConnectionLostError: it timed out and the connection dropped meanwhile
                (``reached_venue`` None: whether the venue got it is unknown).
        """
        return await self._waiters.wait_for(request_id, timeout)

    # -----------------------------------------------------------------------------------------
    # Metrics.

    def metrics(self) -> MetricsSnapshot:
        """A snapshot of the client's counters, gauges and latency histograms.

        Counters: ``orders_submitted``, ``orders_accepted``, ``orders_rejected`` (by
        ``reason``), ``fills``, ``cancels``, ``replaces``, ``reconnects``, ``resyncs``,
        ``malformed_frames``, ``unknown_frames``, ``journal_write_failures``, ``dropped``
        (by ``what``: events, recorder), ``rest_fallbacks`` and more; gauges: ``connected``,
        ``open_orders``, ``requests_in_flight``, ``reader_queue_depth``,
        ``last_message_age_seconds``; histograms: ``request_seconds`` (by ``kind``: place,
        cancel, replace), ``resync_seconds``, ``journal_commit_seconds``. See
        :mod:`axorders.metrics` to read it, and :func:`axorders.metrics.serve` to expose it
        to Prometheus.
        """
        return self._telemetry.snapshot()

    # -----------------------------------------------------------------------------------------
    # Risk: limits, the trading state, positions.

    @property
    def risk_limits(self) -> RiskLimits | None:
        """The pre-trade limits in force (None: none)."""
        return self._risk.limits

    def set_risk_limits(self, limits: RiskLimits | None) -> None:
        """Use ``limits`` from the next order on (None turns every limit off; the trading
        state still applies). The rate buckets carry on when their rate is unchanged."""
        self._risk.set_limits(limits)

    @property
    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING (only orders that shrink a position) or HALTED (nothing new)."""
        return self._risk.state

    def set_trading_state(self, state: TradingState | str, reason: str = "") -> None:
        """Switch the trading state (journaled with a journal). HALTED this way refuses
        every new order and replace but cancels nothing (see :meth:`halt`); armed
        STOP_LIMIT orders stay armed.

        Raises:
            ValueError: not a trading state.
            StoreError: the journal could not be written (the state is switched anyway).
        """
        self._risk.set_state(state, reason)

    async def halt(self, reason: str = "", *, timeout: float | None = None) -> list[OrderResult]:
        """The kill switch: HALTED, then every open order canceled, armed STOP_LIMITs
        included; waits until the venue confirms and returns the orders canceled.

        Nothing new is sent from the first line (places and replaces raise
        :class:`~axorders.exceptions.RiskLimitError`); cancels still go. While disconnected,
        armed stops are canceled locally at once and the venue's orders as soon as the
        session is back (still owed after a restart on the same journal). The state stays
        HALTED, across a restart with a journal, until :meth:`resume`.

        Raises:
            RequestTimeoutError: the venue did not confirm within ``timeout`` (default: the
                ``request_timeout``, or no limit while disconnected: pass one); the cancels
                still go once the connection allows.
        """
        if timeout is None and self.is_active:
            timeout = self.request_timeout
        return await self._risk.halt(reason, timeout)

    def resume(self, reason: str = "") -> None:
        """Back to ACTIVE after :meth:`halt` (or REDUCING)."""
        self._risk.set_state(TradingState.ACTIVE, reason)

    def positions(self) -> dict[str, Position]:
        """Per symbol: the signed quantity, the average entry price, realized pnl and fees,
        as of the last fill applied (each fill once, by trade id)."""
        return self._risk.positions()

    def position(self, symbol: str) -> Position:
        """``symbol``'s position (flat when it never traded)."""
        return self._risk.book.position(symbol)

    async def reconcile_positions(self) -> list[ev.PositionMismatch]:
        """Compare the positions with the venue's now (as after every resync) and adopt the
        venue's where they differ; returns the mismatches (also published as events)."""
        return await self._risk.reconcile()

    @property
    def risk(self) -> RiskGuard:
        """The risk part (the gate, the working orders, the position book)."""
        return self._risk

    # -----------------------------------------------------------------------------------------
    # The parts, for inspection and tests.

    @property
    def connection(self) -> Connection:
        """The socket's part (attempts, reconnects, reading, pings, the watchdog)."""
        return self._connection

    @property
    def hub(self) -> EventHub:
        """The event hub (readers, backlog, backpressure)."""
        return self._hub

    @property
    def recorder(self) -> Recorder | None:
        """The flight recorder, when recording (``record=`` or ``AXORDERS_RECORD``)."""
        return self._recorder

    @property
    def md_feed(self) -> MarketDataFeed | None:
        """The market-data feed of STOP_LIMIT triggers, once one was armed."""
        return self._market.feed
