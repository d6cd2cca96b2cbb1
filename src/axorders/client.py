"""OrdersClient: the asyncio shell that drives :class:`~axorders.session.OrdersSession`.

It owns the socket (picows), the timers, the reconnects, the REST calls and the journal, and
nothing else: every frame goes through the session, which parses it and decides what it means.

This module keeps the connection's life once a socket is open (opened, lost, ``close()``) and
the pump that moves the session's output (journal, socket, events). The other parts of the
client live in the modules named for their concern (listed in :mod:`axorders.clientbase`):
reading the socket (:mod:`axorders.reading`), the timers, opening the socket and reconnecting
(:mod:`axorders.connecting`), the event stream, the journal, REST recovery, market data for
stops, and the order commands.

::

    async with OrdersClient(url, token=token) as client:
        await client.submit_order("my-1", "EURUSD-PERP", "BUY", 100, price="1.0850")
        async for event in client.events():
            print(event)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import picows

from axorders import events as ev
from axorders.auth import TokenProvider
from axorders.awaiting import AwaitableOrders
from axorders.backoff import Backoff
from axorders.clientbase import now_ns as _now
from axorders.config import Endpoints, Environment, proxy_for
from axorders.connecting import Connecting, _token_provider
from axorders.exceptions import InvalidStateError
from axorders.fragments import DEFAULT_MAX_MESSAGE_SIZE
from axorders.journaling import Journaling
from axorders.marketdata import MarketDataFeed
from axorders.model import Instrument, TriggerSource
from axorders.reading import SocketReader, _Listener
from axorders.recovery import RestRecovery
from axorders.rest import RestClient
from axorders.security import check_url
from axorders.session import OrdersSession
from axorders.stops import StopTriggers
from axorders.store import Durability, OrderStore
from axorders.stream import EventFanout, EventStream
from axorders.timers import Timers
from axorders.watching import MarketWatch

__all__ = ["EventStream", "OrdersClient"]

log = logging.getLogger("axorders.client")

_TEXT: Final = picows.WSMsgType.TEXT


class OrdersClient(
    SocketReader, Timers, Connecting, AwaitableOrders, RestRecovery, Journaling, EventFanout
):
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
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.watchdog = watchdog
        self.venue_heartbeat = venue_heartbeat
        self.stable_after = stable_after
        self.max_message_size = max_message_size
        self.proxy = proxy
        # Resolved per endpoint (NO_PROXY may spare one host and not another).
        self._ws_proxy = proxy_for(self.endpoints.orders_ws_url, proxy)
        self.cancel_on_disconnect = cancel_on_disconnect
        self._allow_insecure = allow_insecure
        self._ssl = ssl_context
        self._user_agent = user_agent
        self._tokens = _token_provider(
            self.endpoints, token, api_key, api_secret, token_provider, ssl_context, proxy
        )
        self._account_known = account_id is not None
        self.session = OrdersSession(
            account_id=account_id or "",
            trader_id=trader_id,
            strategy_id=strategy_id,
            instruments=instruments,
            request_timeout_ns=int(request_timeout * 1e9),
            track_changes=store is not None,
        )
        self.stops = StopTriggers(self.session, trigger_source)
        self._init_journal(store, durability)
        self._init_stream(max_queue, low_water, event_queue, on_event)
        self._init_waiters()
        self._drops = 0  # connection drops seen, to tell a timeout from a lost connection
        self._special: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.RequestResolved: self._on_resolved,
            ev.OpenOrdersReceived: self._on_answer,
            ev.OrderStatusReport: self._on_answer,
            ev.LoginSnapshot: self._on_login_snapshot,
            ev.Resynced: self._on_resynced,
            ev.Disconnected: self._on_dropped,
        }
        self._listener: _Listener | None = None
        self._transport: picows.WSTransport | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._fills_task: asyncio.Task[None] | None = None
        self._rest_task: asyncio.Task[None] | None = None
        self._login = asyncio.Event()
        self._resynced = asyncio.Event()
        self._last_rx = 0.0
        self._last_ping = 0.0
        # The session's time for the socket read under way (0: none): every message of one
        # read is received at once and the session's output moves on once, after the read.
        self._batch_now = 0
        self._closing = False
        self._closed = False
        self._connected_once = False
        self._reconnects = 0
        self._attempt: asyncio.Task[None] | None = None  # the one connection attempt in flight
        self._connecting = False  # connect() is making its own attempts
        self._gone: asyncio.Future[None] | None = None  # done when the current socket closes
        self._backoff = Backoff(initial=0.5, maximum=5.0, stable_after=stable_after)
        self._gaps: collections.deque[float] = collections.deque(maxlen=8)
        self._rest: RestClient | None = None
        self._market = MarketWatch(
            self.stops,
            self._pump,
            self.endpoints.md_ws_url,
            self._tokens,
            allow_insecure=allow_insecure,
            ssl_context=ssl_context,
            proxy=proxy,
            max_message_size=max_message_size,
        )
        self._restored = False

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

    @property
    def is_active(self) -> bool:
        """True while the socket is open and logged in."""
        return self._transport is not None and self._login.is_set() and not self._closed

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

    def _new_listener(self) -> _Listener:
        return _Listener(self)

    def _on_connected(self, listener: _Listener, transport: picows.WSTransport) -> None:
        # Called by picows before ws_connect returns: the login frame may follow at once.
        if self._closing or self._closed or self._transport is not None:
            # Closed (or another socket is up) while this one was opening: it is not kept.
            transport.disconnect()
            return
        self._listener = listener
        self._transport = transport
        self._gone = asyncio.get_running_loop().create_future()
        mono = time.monotonic()
        self._last_rx = self._last_ping = mono
        self._gaps.clear()
        self._backoff.connected(mono)
        self.session.connection_made(_now())
        if self._connected_once:
            self._reconnects += 1
            self._publish([ev.Reconnected(ts_init=_now(), attempt=self._reconnects)])
        # Nothing goes out before the login snapshot (see _pump): this pump only publishes.
        self._pump()

    async def disconnect(self) -> None:
        """Close the socket without reconnecting; :meth:`connect` opens it again."""
        self._closing = True
        await self._drop_socket()

    async def close(self, timeout: float = 5.0) -> None:
        """Close gracefully: stop reconnecting, close the socket, release resources.

        Bounded by ``timeout`` seconds; the event stream ends after the queued events. Every
        task the client started has ended when this returns, no socket is left open, and a
        request still waiting for the venue ends with :class:`InvalidStateError`.
        """
        if self._closed:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self._shutdown(), timeout)
        except TimeoutError:
            log.warning("close did not finish within %.1f s", timeout)
        finally:
            self._closed = True
            current = asyncio.current_task()
            tasks = [
                task
                for task in [
                    self._timer,
                    self._reconnector,
                    self._attempt,
                    self._fills_task,
                    self._rest_task,
                    *self._tasks,
                ]
                if task is not None and task is not current and not task.done()
            ]
            for task in tasks:
                task.cancel()
            closed = InvalidStateError("the client was closed")
            futures: list[asyncio.Future[Any]] = [*self._waiters.values(), *self._answers.values()]
            for future in futures:
                if not future.done():
                    future.set_exception(closed)
                    # A caller awaiting it still gets the error; one that gave up on it
                    # leaves no "exception was never retrieved" behind.
                    future.exception()
            self._waiters.clear()
            self._answers.clear()
            self._queue_ready.set()
            if tasks:
                await asyncio.wait(tasks, timeout=max(timeout, 0.1))
            if self._batch_now:
                self._end_batch()  # a read's messages first: their events precede the journal
            if self.store is not None:
                self._journal_write(now=True)  # a last try for records a failed write left
                self.store.close()

    async def _shutdown(self) -> None:
        # First no new socket: the reconnect task and any attempt in flight end here.
        for task in (self._reconnector, self._attempt):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                await asyncio.wait([task])
        await self._drop_socket()
        await self._market.close()
        if self._rest is not None:
            await self._rest.close()
        close_tokens = getattr(self._tokens, "close", None)
        if close_tokens is not None:
            await close_tokens()

    async def _drop_socket(self) -> None:
        transport = self._transport
        if transport is None:
            return
        with contextlib.suppress(Exception):
            transport.send_close(picows.WSCloseCode.OK)
        transport.disconnect()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 2.0)

    # -----------------------------------------------------------------------------------------
    # The socket's end (its frames are read in axorders.reading).

    def _on_disconnected(self, listener: _Listener) -> None:
        listener.assembler.clear()
        listener.assembling = False
        if listener is not self._listener:
            return
        self._backoff.disconnected(time.monotonic())
        self._listener = None
        self._transport = None
        self._paused = False
        self._login.clear()
        self._batch_now = 0
        gone, self._gone = self._gone, None
        if gone is not None and not gone.done():
            gone.set_result(None)
        reason = "closed by the client" if self._closing else "connection lost"
        self.session.connection_lost(_now(), reason)
        self._pump()
        if not self._closing and not self._closed and not self._connecting:
            # While connect() runs, its own attempts retry; a reconnect task would race them.
            self._start_reconnect()

    # The pump: session output to the journal, the socket and the user.

    def _pump(self) -> None:
        session = self.session
        # User code is handed the events before their records are journaled: the journal
        # counts only fills the trader has been given, so after a crash between the two the
        # restarted client fetches the fill from the venue and delivers it (again, at worst).
        events = session.events_received()
        if events:
            self._publish(events)
        # A frame leaves only once every changed record is journaled: while a write fails,
        # the frames wait in the session's queue (dropped by it if the connection goes).
        # Nothing leaves before the venue's login snapshot either: frames wait in the session
        # (the snapshot's own events, published above, let them go).
        journaled = self.store is None or self._journal_write()
        if journaled and self._login.is_set():
            self._send_frames()
        if session.missing_fills or session.rest_wanted:
            self._start_rest_work()

    def _send_frames(self, frames: list[bytes] | None = None) -> None:
        if frames is None:
            frames = self.session.frames_to_send()
        if frames:
            transport = self._transport
            if transport is not None:
                send = transport.send
                for data in frames:
                    send(_TEXT, data)

    # Events the client itself acts on (see _special); the waiters' are in axorders.waiters.

    def _on_login_snapshot(self, event: ev.LoginSnapshot) -> None:
        self._login.set()
        if not self._account_known:
            self.session.account_id = event.login_id

    def _on_resynced(self, event: ev.Resynced) -> None:
        self._resynced.set()
        if self._market.has_gap:
            asyncio.get_running_loop().call_soon(self._market.replay_gap)

    def _on_dropped(self, event: ev.Disconnected) -> None:
        self._drops += 1

    @property
    def _md(self) -> MarketDataFeed | None:
        """The market-data feed of STOP_LIMIT triggers, once one was armed."""
        return self._market.feed
