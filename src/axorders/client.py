"""OrdersClient: the asyncio shell that drives :class:`~axorders.session.OrdersSession`.

It owns the socket (picows), the timers, the reconnects, the REST calls and the journal, and
nothing else: every frame goes through the session, which parses it and decides what it means.

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
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import picows

from axorders import events as ev
from axorders.auth import ApiKeyAuth, StaticToken, TokenProvider
from axorders.backoff import Backoff
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    QueryOpenOrders,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.config import Endpoints, Environment, proxy_for, proxy_secrets, safe_proxy
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    CancelRejectedError,
    ConnectError,
    ConnectionLostError,
    InvalidOrderError,
    InvalidStateError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequestError,
    ReplaceRejectedError,
    RequestRejectedError,
    RequestTimeoutError,
    StoreError,
)
from axorders.fragments import DEFAULT_MAX_MESSAGE_SIZE, FragmentError, Reassembler
from axorders.marketdata import MarketDataFeed
from axorders.model import (
    Instrument,
    OrderStatus,
    OrderType,
    RequestId,
    Side,
    TimeInForce,
    TriggerSource,
)
from axorders.rest import RestClient
from axorders.results import OrderResult
from axorders.security import check_url, redact, tls_context
from axorders.session import OrdersSession
from axorders.state import OrderRecord
from axorders.stops import StopTriggers
from axorders.store import Durability, OrderStore, SqliteOrderStore

__all__ = ["EventStream", "OrdersClient"]

log = logging.getLogger("axorders.client")

# picows's proxy failures (python-socks comes with the picows versions that support proxies).
_PROXY_ERRORS: tuple[type[Exception], ...]
try:
    from python_socks import ProxyError
except ImportError:  # pragma: no cover - an older picows without proxy support
    _PROXY_ERRORS = ()
else:
    _PROXY_ERRORS = (ProxyError,)
_WS_CONNECT_ERRORS: tuple[type[Exception], ...] = (OSError, picows.WSError, *_PROXY_ERRORS)

_T = TypeVar("_T")
_CLOSED: Final = object()
_TICK_S: Final = 0.02
_FILL_POLL_S: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0)
"""Waits between REST ``/fills`` polls while a missed fill has not appeared there yet."""
_JOURNAL_RETRY_S: Final = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Waits between retries of a failed journal write (the last one repeats)."""


def _now() -> int:
    return time.time_ns()


class _Listener(picows.WSListener):
    """Hands frames to the client; no logic of its own, and no exception leaves it (a bug is
    logged, not turned into a dropped socket)."""

    def __init__(self, client: OrdersClient) -> None:
        self._client = client
        self.transport: picows.WSTransport | None = None
        self.assembler = Reassembler(client.max_message_size)

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        try:
            self._client._on_connected(self, transport)
        except Exception:
            log.exception("connection handling failed")

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        try:
            self._client._on_frame(self, frame)
        except Exception:
            log.exception("frame handling failed")

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        try:
            self._client._on_disconnected(self)
        except Exception:
            log.exception("disconnect handling failed")


class _Reader:
    """One events() reader: its own queue, and the future it waits on when that is empty."""

    __slots__ = ("queue", "waiter")

    def __init__(self) -> None:
        self.queue: collections.deque[ev.Event] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None


class _Wakeup:
    """Wakes every waiting reader and awaitable method (``close()`` calls :meth:`set`)."""

    __slots__ = ("_readers", "_watches")

    def __init__(self, readers: list[_Reader], watches: dict[str, list[_Watch]]) -> None:
        self._readers = readers
        self._watches = watches

    def set(self) -> None:
        for reader in tuple(self._readers):
            waiter = reader.waiter
            if waiter is not None:
                reader.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        for found in list(self._watches.values()):
            for watch in tuple(found):
                if watch.wake is not None and not watch.wake.done():
                    watch.wake.set_result(None)


class _Watch:
    """The events of some orders, collected for an awaitable method waiting on them."""

    __slots__ = ("events", "keys", "wake")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.events: list[ev.Event] = []
        self.wake: asyncio.Future[None] | None = None


class EventStream:
    """An async iterator over a client's events (see :meth:`OrdersClient.events`).

    It attaches to the client at its first ``__anext__`` and detaches when exhausted, on
    :meth:`aclose`/:meth:`close`, or when it is dropped.
    """

    __slots__ = ("__weakref__", "_client", "_ended", "_reader")

    def __init__(self, client: OrdersClient) -> None:
        self._client = client
        self._reader: _Reader | None = None
        self._ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ev.Event:
        reader = self._reader
        client = self._client
        if reader is None:
            if self._ended:
                raise StopAsyncIteration
            reader = self._reader = client._attach()
        queue = reader.queue
        while not queue:
            if client._pending:
                client._flush()
                queue = reader.queue
                continue
            if client._closed:
                self.close()
                raise StopAsyncIteration
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            reader.waiter = waiter
            try:
                await waiter
            finally:
                reader.waiter = None
        event = queue.popleft()
        if client._paused and len(queue) <= client.low_water:
            client._maybe_resume()
        return event

    def close(self) -> None:
        """Detach from the client; the iterator ends."""
        self._ended = True
        reader = self._reader
        if reader is not None:
            self._reader = None
            self._client._detach(reader)

    async def aclose(self) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


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
        self.max_queue = max_queue
        self.low_water = low_water if low_water is not None else max_queue // 2
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
        if isinstance(store, str | Path):
            store = SqliteOrderStore(store, durability=durability)
        self.store = store
        # Records changed but not yet journaled, and the streak of failed writes.
        self._unsaved: dict[str, OrderRecord] = {}
        self._journal_failures = 0
        self._journal_retry_at = 0.0
        self._journal_notes: Callable[[], list[str]] | None = getattr(
            store, "take_warnings", None
        )
        self._journal_checked = False
        self._journal_error = ""
        self._on_event = on_event
        self._event_queue = event_queue
        # One queue per events() reader (fan-out); while nobody reads, a bounded backlog
        # that the next reader takes over. close() sets _queue_ready: every reader wakes.
        self._readers: list[_Reader] = []
        self._backlog: collections.deque[ev.Event] = collections.deque()
        self._watches: dict[str, list[_Watch]] = {}
        self._pending: list[ev.Event] = []  # published, not yet handed to the readers
        self._flush_soon = False
        self._queue_ready = _Wakeup(self._readers, self._watches)
        self._dropped = 0
        self._drop_logged = False
        self._paused = False
        self._paused_at = 0
        self._drops = 0  # connection drops seen, to tell a timeout from a lost connection
        self._special: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.RequestResolved: self._on_resolved,
            ev.OpenOrdersReceived: self._on_answer,
            ev.OrderStatusReport: self._on_answer,
            ev.LoginSnapshot: self._on_login_snapshot,
            ev.Resynced: self._on_resynced,
            ev.Disconnected: self._on_dropped,
        }
        self._waiters: dict[int, asyncio.Future[ev.RequestResolved]] = {}
        self._answers: dict[int, asyncio.Future[ev.Event]] = {}
        self._resolved: collections.OrderedDict[int, ev.RequestResolved] = collections.OrderedDict()
        self._listener: _Listener | None = None
        self._transport: picows.WSTransport | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._fills_task: asyncio.Task[None] | None = None
        self._login = asyncio.Event()
        self._resynced = asyncio.Event()
        self._last_rx = 0.0
        self._last_ping = 0.0
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
        self._md: MarketDataFeed | None = None
        self._md_symbols: set[str] = set()
        self._gap_prices: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        self._prices: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
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
        if self._transport is not None and self._resynced.is_set():
            return
        self._closing = False
        self._connecting = True
        try:
            await self._connect_attempts()
        finally:
            self._connecting = False
        self._connected_once = True
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._timer_loop())

    async def _connect_attempts(self) -> None:
        # A reconnect task in flight hands over to connect(): its attempt, if one is under
        # way, is shared (see _attempt_once), so two sockets are never opened.
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None and not reconnector.done():
            reconnector.cancel()
            await asyncio.wait([reconnector])
        backoff = Backoff(initial=0.5, maximum=5.0)
        last: Exception | None = None
        for attempt in range(self.connect_attempts):
            if self._closing or self._closed:
                raise ConnectError("the client was closed while connecting")
            try:
                await self._prepare()
                if self._transport is None:
                    await self._attempt_once()
                await self._wait_ready()
                return
            except AuthenticationError:
                raise
            except (TimeoutError, ConnectError, RequestTimeoutError, OSError) as exc:
                last = exc
                log.warning("connect attempt %d failed: %s", attempt + 1, exc)
                await self._drop_socket()  # a failed attempt leaves no socket behind
                if attempt + 1 < self.connect_attempts:
                    await asyncio.sleep(backoff.next_delay())
        raise ConnectError(
            f"could not connect to {self.endpoints.orders_ws_url} after"
            f" {self.connect_attempts} attempts: {last}"
        )

    async def _prepare(self) -> None:
        """What the first connection needs over REST: instruments, the account, the journal."""
        if not self.session.instruments:
            await self.load_instruments()
        if not self._account_known:
            with contextlib.suppress(AxOrdersError):
                who = await self.rest.whoami()
                if who.accounts:
                    self.session.account_id = who.accounts[0].id
                    self._account_known = True
        if self.store is not None and not self._restored:
            self.session.restore(await asyncio.to_thread(self.store.load), _now())
            self._restored = True

    async def _wait_ready(self, *, resync: bool = True) -> None:
        """Wait for the venue's login snapshot (``connect_timeout``), then with ``resync``
        for the end of the resync it starts (``request_timeout + connect_timeout`` more; past
        that a warning is logged and the resync goes on).

        Raises:
            ConnectError: the socket closed first, or no login snapshot came in time.
        """
        steps = [(self._login, self.connect_timeout, "login snapshot")]
        if resync:
            # Its status queries may each take request_timeout; the margin is connect_timeout.
            limit = self.request_timeout + self.connect_timeout
            steps.append((self._resynced, limit, "reconciliation"))
        for flag, timeout, what in steps:
            gone = self._gone
            if gone is None or gone.done() or self._transport is None:
                raise ConnectError(f"the venue closed the connection before its {what}")
            if flag.is_set():
                continue
            waiter: asyncio.Future[Any] = asyncio.ensure_future(flag.wait())
            try:
                await asyncio.wait(
                    {waiter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
            if gone.done() or self._transport is None:
                raise ConnectError(f"the venue closed the connection before its {what}")
            if not flag.is_set():
                if flag is self._resynced:
                    # Logged in: the resync goes on (a held journal write may be delaying it)
                    # and Resynced follows when it ends; the connection stands.
                    log.warning("no reconciliation with the venue within %g s", timeout)
                    return
                raise ConnectError(f"no {what} from the venue within {timeout:g} s")

    async def _attempt_once(self) -> None:
        """Open a socket, or join the attempt already in flight: exactly one at a time."""
        task = self._attempt
        if task is None or task.done():
            task = self._attempt = asyncio.get_running_loop().create_task(self._open())
            task.add_done_callback(_retrieve)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                # The attempt was stopped by close(), not this caller.
                raise ConnectError("the connection attempt was stopped") from None
            raise

    async def _open(self) -> None:
        """One connection attempt."""
        url = self.endpoints.orders_ws_url
        if self.cancel_on_disconnect:
            url += ("&" if "?" in url else "?") + "cancel_on_disconnect=true"
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}", "User-Agent": self._user_agent}
        ssl_context = tls_context(url, self._ssl)
        if self._closing or self._closed:
            raise ConnectError("the client was closed while connecting")
        self._login.clear()
        self._resynced.clear()
        proxy = self._ws_proxy
        try:
            _, listener = await asyncio.wait_for(
                picows.ws_connect(
                    lambda: _Listener(self),
                    url,
                    ssl_context=ssl_context,
                    extra_headers=headers,
                    websocket_handshake_timeout=self.connect_timeout,
                    logger_name="axorders.ws",
                    max_frame_size=self.max_message_size,
                    proxy=proxy,
                ),
                self.connect_timeout,
            )
        except picows.WSHandshakeError as exc:
            status = exc.response.status if exc.response is not None else None
            if status is not None and int(status) in (401, 403):
                self._tokens.invalidate()
                raise AuthenticationError(
                    f"the venue refused the credentials (HTTP {int(status)})"
                ) from None
            raise ConnectError(f"WebSocket upgrade failed: {_clean(exc)}") from None
        except _WS_CONNECT_ERRORS as exc:
            via = f" through proxy {safe_proxy(proxy)}" if proxy else ""
            reason = redact(_clean(exc), *proxy_secrets(proxy))
            raise ConnectError(
                f"cannot reach {self.endpoints.orders_ws_url}{via}: {reason}"
            ) from None
        except TimeoutError:
            raise ConnectError(f"connect timed out after {self.connect_timeout} s") from None
        assert isinstance(listener, _Listener)
        if self._listener is not listener:  # closed again before we got here
            raise ConnectError("the connection closed during the handshake")

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
        if self._md is not None:
            await self._md.close()
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
    # Socket callbacks (synchronous, on the event loop).

    def _on_frame(self, listener: _Listener, frame: picows.WSFrame) -> None:
        if listener is not self._listener:
            return
        kind = frame.msg_type
        text = picows.WSMsgType.TEXT
        if kind is text or kind is picows.WSMsgType.BINARY or kind is picows.WSMsgType.CONTINUATION:
            # Only the venue's own messages feed the watchdog: a pong proves the socket, not
            # that the venue is still sending (its heartbeats come every few seconds).
            mono = time.monotonic()
            self._gaps.append(mono - self._last_rx)
            self._last_rx = mono
            assembler = listener.assembler
            if frame.fin and kind is not picows.WSMsgType.CONTINUATION and not assembler.active:
                data = frame.get_payload_as_bytes()  # one frame: the common case
            else:
                try:
                    message = assembler.feed(
                        kind,
                        kind is picows.WSMsgType.CONTINUATION,
                        frame.fin,
                        frame.get_payload_as_bytes(),
                    )
                except FragmentError as exc:
                    log.warning("%s; closing the connection (%d)", exc, exc.close_code)
                    transport = self._transport
                    if transport is not None:
                        with contextlib.suppress(Exception):
                            transport.send_close(picows.WSCloseCode(exc.close_code))
                        transport.disconnect()
                    return
                if message is None:
                    return
                data = message
            login = self._login
            if login.is_set():
                self.session.receive(data, _now())
                self._pump()
            else:
                self.session.receive(data, _now())
                self._pump()
                if login.is_set():
                    self._pump()  # the frames held until the login snapshot go now
        elif kind is picows.WSMsgType.CLOSE and self._transport is not None:
            self._transport.disconnect()

    def _on_disconnected(self, listener: _Listener) -> None:
        listener.assembler.clear()
        if listener is not self._listener:
            return
        self._backoff.disconnected(time.monotonic())
        self._listener = None
        self._transport = None
        self._paused = False
        self._login.clear()
        gone, self._gone = self._gone, None
        if gone is not None and not gone.done():
            gone.set_result(None)
        reason = "closed by the client" if self._closing else "connection lost"
        self.session.connection_lost(_now(), reason)
        self._pump()
        if not self._closing and not self._closed and not self._connecting:
            # While connect() runs, its own attempts retry; a reconnect task would race them.
            self._start_reconnect()

    def _start_reconnect(self) -> None:
        if self._reconnector is None or self._reconnector.done():
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        # One backoff for the client's life: only a connection that lasted stable_after
        # seconds starts it again (see Backoff.disconnected), so a venue that accepts and
        # drops at once is retried ever more slowly, and a long-lived one at once.
        backoff = self._backoff
        while not self._closing and not self._closed and self._transport is None:
            await asyncio.sleep(backoff.next_delay())
            if self._closing or self._closed:
                return
            try:
                await self._attempt_once()
                await self._wait_ready(resync=False)
            except AuthenticationError as exc:
                log.warning("reconnect refused (%s); fetching a fresh token", exc)
                self._tokens.invalidate()
            except (ConnectError, AxOrdersError, OSError) as exc:
                log.info("reconnect failed: %s", exc)
                if self._transport is not None and not self._login.is_set():
                    await self._drop_socket()  # upgraded but no login: not a session

    # -----------------------------------------------------------------------------------------
    # The pump: session output to the journal, the socket and the user.

    def _pump(self) -> None:
        session = self.session
        # A frame leaves only once every changed record is journaled: while a write fails,
        # the frames wait in the session's queue (dropped by it if the connection goes).
        # Nothing leaves before the venue's login snapshot either: frames wait in the session.
        journaled = self.store is None or self._journal_write()
        if journaled and self._login.is_set():
            self._send_frames()
        events = session.events_received()
        if events:
            self._publish(events)
        if session.missing_fills and (self._fills_task is None or self._fills_task.done()):
            self._fills_task = asyncio.get_running_loop().create_task(self._recover_fills())
        if session.rest_wanted and (self._rest_task is None or self._rest_task.done()):
            self._rest_task = asyncio.get_running_loop().create_task(self._rest_fallback())

    def _send_frames(self, frames: list[bytes] | None = None) -> None:
        if frames is None:
            frames = self.session.frames_to_send()
        if frames:
            transport = self._transport
            if transport is not None:
                send = transport.send
                text = picows.WSMsgType.TEXT
                for data in frames:
                    send(text, data)

    # -----------------------------------------------------------------------------------------
    # The journal: written before the frames that depend on it.

    def _journal_write(self, *, now: bool = False) -> bool:
        """Commit the changed records; True when nothing is left unjournaled.

        Never raises. After a failure the write is tried again by the timer (every pump
        checks whether the backoff has passed) or at once by a command (``now``).
        """
        if not self._journal_checked:
            self._journal_checked = True
            self._journal_report()
        unsaved = self._unsaved
        changed = self.session.take_changed()
        if changed:
            if not unsaved and not self._journal_failures:
                return self._journal_commit(changed)
            for rec in changed:
                unsaved[rec.client_order_id] = rec
        if not unsaved:
            return True
        if self._journal_failures and not now and time.monotonic() < self._journal_retry_at:
            return False
        return self._journal_commit(list(unsaved.values()))

    def _journal_commit(self, records: list[OrderRecord]) -> bool:
        store = self.store
        assert store is not None
        try:
            store.save(records)
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(f"journal write: {exc!r}")
            unsaved = self._unsaved
            for rec in records:
                unsaved[rec.client_order_id] = rec
            self._journal_failed(error)
            return False
        self._unsaved.clear()
        if self._journal_failures:
            self._journal_failures = 0
            self._journal_event("WRITE_RECOVERED", "the journal is written again")
        self._journal_report()
        return True

    def _journal_failed(self, exc: StoreError) -> None:
        """Count a failed write; the first of a streak is reported as an event."""
        self._journal_error = str(exc)
        failures = self._journal_failures
        self._journal_failures = failures + 1
        delay = _JOURNAL_RETRY_S[min(failures, len(_JOURNAL_RETRY_S) - 1)]
        self._journal_retry_at = time.monotonic() + delay
        if failures == 0:
            log.warning("journal write failed: %s", exc)
            self._journal_event("WRITE_FAILED", str(exc))

    def _journal_report(self) -> None:
        """Publish what the store found wrong with the journal (damage, a lost log)."""
        notes = self._journal_notes
        if notes is None:
            return
        try:
            found = notes()
        except Exception as exc:
            found = [f"the journal could not be checked: {exc!r}"]
        for text in found:
            log.warning("%s", text)
            self._journal_event("DAMAGED", text)

    def _journal_event(self, kind: str, message: str) -> None:
        path = getattr(self.store, "path", "")
        self._publish(
            [
                ev.JournalWarning(
                    ts_init=_now(),
                    kind=kind,
                    path=str(path),
                    message=message,
                    pending=len(self._unsaved),
                )
            ]
        )

    def _publish(self, events: list[ev.Event]) -> None:
        special = self._special
        callback = self._on_event
        if callback is None:
            for event in events:
                handler = special.get(type(event))
                if handler is not None:
                    handler(event)
        else:
            for event in events:
                handler = special.get(type(event))
                if handler is not None:
                    handler(event)
                try:
                    callback(event)
                except Exception:
                    log.exception("on_event callback failed")
        if self._watches:
            self._notify_watches(events)
        if self._event_queue:
            # The readers get the events of a whole socket read at once, in _flush.
            self._pending.extend(events)
            if not self._flush_soon:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # called outside the loop: hand them over now
                    self._flush()
                    return
                self._flush_soon = True
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Hand the events published since the last flush to the readers (or the backlog):
        once per batch, with one wake-up per reader and one check of the bound."""
        self._flush_soon = False
        events = self._pending
        if not events:
            return
        self._pending = []
        readers = self._readers
        if not readers:
            self._keep(events)
            return
        bound = self.max_queue
        for reader in tuple(readers):  # a dropped iterator may detach meanwhile
            queue = reader.queue
            queue.extend(events)
            waiter = reader.waiter
            if waiter is not None:
                reader.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            if len(queue) >= bound and not self._paused:
                self._pause(True)

    def _keep(self, events: list[ev.Event]) -> None:
        """Nobody reads events(): keep the newest ``max_queue`` for the next reader, never
        pause the socket for them, and count (and log once) what falls out."""
        backlog = self._backlog
        backlog.extend(events)
        over = len(backlog) - self.max_queue
        if over > 0:
            self._dropped += over
            popleft = backlog.popleft
            for _ in range(over):
                popleft()
            if not self._drop_logged:
                self._drop_logged = True
                log.warning(
                    "nobody reads events(): only the newest %d events are kept for a later"
                    " reader (see OrdersClient.events_dropped)",
                    self.max_queue,
                )

    def _on_answer(self, event: ev.OpenOrdersReceived | ev.OrderStatusReport) -> None:
        fut = self._answers.pop(event.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(event)

    def _on_login_snapshot(self, event: ev.LoginSnapshot) -> None:
        self._login.set()
        if not self._account_known:
            self.session.account_id = event.login_id

    def _on_resynced(self, event: ev.Resynced) -> None:
        self._resynced.set()
        if self._gap_prices:
            asyncio.get_running_loop().call_soon(self._replay_gap)

    def _on_dropped(self, event: ev.Disconnected) -> None:
        self._drops += 1

    def _on_resolved(self, event: ev.RequestResolved) -> None:
        fut = self._waiters.pop(event.request_id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(event)
            return
        resolved = self._resolved
        resolved[event.request_id] = event
        if len(resolved) > 10_000:
            resolved.popitem(last=False)

    def _notify_watches(self, events: list[ev.Event]) -> None:
        """Hand the events of watched orders to the awaitable methods waiting on them."""
        watches = self._watches
        for event in events:
            coid = getattr(event, "client_order_id", None)
            if coid is None:
                continue
            found = watches.get(coid)
            if found:
                for watch in found:
                    watch.events.append(event)
                    wake = watch.wake
                    if wake is not None and not wake.done():
                        wake.set_result(None)

    def _pause(self, pause: bool) -> None:
        transport = self._transport
        self._paused = pause
        if pause:
            self._paused_at = _now()
        else:
            # Answers may have waited unread while paused: that time is not the venue's.
            self.session.extend_deadlines(_now() - self._paused_at)
        if transport is None:
            return
        underlying = transport.underlying_transport
        if pause:
            underlying.pause_reading()
        else:
            # The silence while paused was ours: the watchdog's window starts again.
            self._last_rx = time.monotonic()
            underlying.resume_reading()

    def _maybe_resume(self) -> None:
        """Resume reading once every attached reader is at or below ``low_water``."""
        if not self._paused:
            return
        low = self.low_water
        for reader in self._readers:
            if len(reader.queue) > low:
                return
        self._pause(False)

    def _attach(self) -> _Reader:
        """A new events() reader: the first one takes over the backlog."""
        self._flush()
        reader = _Reader()
        if not self._readers:
            reader.queue, self._backlog = self._backlog, collections.deque()
        self._readers.append(reader)
        return reader

    def _detach(self, reader: _Reader) -> None:
        """A reader stopped: with nobody else reading, what it did not read is kept."""
        self._flush()
        try:
            self._readers.remove(reader)
        except ValueError:
            return
        if not self._readers and reader.queue:
            self._backlog = reader.queue
            self._keep([])
        reader.queue = collections.deque()
        self._maybe_resume()

    @property
    def events_dropped(self) -> int:
        """Events dropped from the backlog while no :meth:`events` reader was attached."""
        self._flush()
        return self._dropped

    # -----------------------------------------------------------------------------------------
    # Timers: deadlines, pings, the watchdog.

    async def _timer_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(_TICK_S)
            try:
                self._tick()
            except Exception:  # a bug must not stop the deadlines and the watchdog for good
                log.exception("timer tick failed")

    def _tick(self) -> None:
        if not self._paused:  # deadlines wait while reading is paused (see _pause)
            self.session.tick(_now())
        self._pump()
        transport = self._transport
        if transport is None or self._paused:
            return
        mono = time.monotonic()
        if mono - self._last_ping >= self.heartbeat and self._login.is_set():
            self._last_ping = mono
            with contextlib.suppress(Exception):
                transport.send_ping()
        if self.watchdog > 0 and mono - self._last_rx > self.watchdog_limit:
            log.warning("nothing from the venue for %.1f s; reconnecting", mono - self._last_rx)
            self._last_rx = mono
            transport.disconnect()

    @property
    def watchdog_limit(self) -> float:
        """Seconds of silence from the venue after which the watchdog drops the socket:
        ``watchdog × max(venue_heartbeat, the longest of the last 8 gaps between the
        venue's messages)``. The venue's own cadence sets it, never the client's pings."""
        gaps = self._gaps
        cadence = max((self.venue_heartbeat, *gaps))
        return self.watchdog * cadence

    # -----------------------------------------------------------------------------------------
    # Fill recovery over REST.

    async def _recover_fills(self) -> None:
        for delay in (0.0, *_FILL_POLL_S):
            if delay:
                await asyncio.sleep(delay)
            wanted = self.session.fills_wanted()
            if wanted is None:
                return
            try:
                fills = await self.rest.fills(start_ns=wanted.start_ns)
            except AxOrdersError as exc:
                log.warning("could not fetch fills: %s", exc)
                continue
            self.session.receive_fills(fills, _now())
            self._pump()
        if self.session.fills_wanted() is not None:
            log.warning("some fills never appeared over REST; ending their orders anyway")
            self.session.receive_fills([], _now(), final=True)
            self._pump()

    # -----------------------------------------------------------------------------------------
    # REST in place of the WS requests the venue does not know (status `s`, cancel-all `X`).

    _rest_task: asyncio.Task[None] | None = None

    async def _rest_fallback(self) -> None:
        session = self.session
        while not self._closed and session.rest_wanted:
            for query in session.rest_status_wanted():
                status = None
                code: int | None = None
                message = ""
                try:
                    if query.venue_order_id is not None:
                        status = await self.rest.order_status(venue_order_id=query.venue_order_id)
                    else:
                        status = await self.rest.order_status(cid=query.cid)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                session.receive_rest_status(
                    query.request_id, status, _now(), code=code, message=message
                )
                self._pump()
            for cancel in session.rest_cancel_all_wanted():
                code = None
                message = ""
                try:
                    await self.rest.cancel_all_orders(cancel.symbol)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                session.receive_rest_cancel_all(
                    cancel.request_id, _now(), code=code, message=message
                )
                self._pump()

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
        return EventStream(self)

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
        stream = EventStream(self)
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

    # -----------------------------------------------------------------------------------------
    # Instruments.

    async def load_instruments(self) -> list[Instrument]:
        """Fetch every instrument over REST and cache it."""
        instruments = await self.rest.instruments()
        for instrument in instruments:
            self.session.cache_instrument(instrument)
        return instruments

    def cache_instrument(self, instrument: Instrument) -> None:
        self.session.cache_instrument(instrument)

    def instrument(self, symbol: str) -> Instrument:
        return self.session.instrument(symbol)

    # -----------------------------------------------------------------------------------------
    # Commands.

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
        session = self.session
        if self.store is None:
            try:
                rid = session.send(command, _now())
            finally:
                self._pump()
            return rid
        mark = session.journal_mark()
        try:
            rid = session.send(command, _now())
        except BaseException:
            self._pump()
            raise
        own = session.take_changed()
        if not own:
            # Its frames depend on no new record (a cancel, a query): they leave now, even
            # ahead of frames still held for a failed write.
            if self._unsaved and self._login.is_set():
                self._send_frames(session.frames_since(mark))
            self._pump()
            return rid
        unsaved = self._unsaved
        for rec in own:
            unsaved[rec.client_order_id] = rec
        if self._journal_write(now=True):
            self._pump()
            return rid
        text = "the order journal could not be written; nothing was sent"
        place = command.client_order_id if isinstance(command, PlaceOrder) else None
        gone = session.withdraw(mark, _now(), text, place=str(place) if place else None)
        if gone is not None:
            self._unsaved.pop(gone.client_order_id, None)
        self._pump()
        raise StoreError(f"{text} (the journal says: {self._journal_error})")

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
        otype = OrderType.parse(order_type)
        command = PlaceOrder(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=otype,
            price=price,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            post_only=post_only,
            strategy_id=strategy_id,
            tag=tag,
        )
        if otype is OrderType.MARKET and price is None:
            command = await self._price_market(command)
            if command.price is None:
                return None
        if otype is OrderType.STOP_LIMIT:
            self.session.instrument(symbol)
            await self._watch_market(symbol)
            rid = self._send(command)
            self.stops.check(client_order_id, _now())  # a known price may cross it already
            self._pump()
            return rid
        return self._send(command)

    async def _price_market(self, command: PlaceOrder) -> PlaceOrder:
        inst = self.session.instrument(command.symbol)
        side = Side.parse(command.side)
        quantity = inst.check_quantity(command.quantity)
        if command.post_only:
            raise InvalidOrderError(
                "post_only", "POST_ONLY_MARKET", "a MARKET order cannot be post-only"
            )
        price = await self.rest.preview_aggressive_limit_order(command.symbol, side, quantity)
        if price is None:
            self.session.reject(
                command,
                "NO_LIQUIDITY",
                f"no liquidity on the {side.opposite.name.lower()} side of {command.symbol}",
                _now(),
            )
            self._pump()
            return command
        return PlaceOrder(
            client_order_id=command.client_order_id,
            symbol=command.symbol,
            side=side,
            quantity=quantity,
            order_type=OrderType.MARKET,
            price=inst.round_to_tick(price, side_up=side is Side.BUY),
            time_in_force=TimeInForce.IOC,
            strategy_id=command.strategy_id,
            tag=command.tag,
        )

    async def _watch_market(self, symbol: str) -> None:
        if symbol in self._md_symbols:
            return
        if self._md is None:
            self._md = MarketDataFeed(
                self.endpoints.md_ws_url,
                self._tokens,
                self._on_price,
                allow_insecure=self._allow_insecure,
                ssl_context=self._ssl,
                proxy=self.proxy,
                max_message_size=self.max_message_size,
            )
            await self._md.connect()
        await self._md.subscribe(symbol)
        self._md_symbols.add(symbol)

    def _on_price(
        self,
        symbol: str,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
        now_ns: int,
    ) -> None:
        prev = self._prices.get(symbol, (None, None, None))
        self._prices[symbol] = (
            last if last is not None else prev[0],
            bid if bid is not None else prev[1],
            ask if ask is not None else prev[2],
        )
        if not self.session.is_connected:
            # The session ignores triggers while the orders socket is down: remember how far
            # the market went, to replay it once the session is back (see _replay_gap).
            gap = self._gap_prices.setdefault(symbol, {})
            for name, price in (("last", last), ("bid", bid), ("ask", ask)):
                if price is not None:
                    hi, lo = gap.get(name, (price, price))
                    gap[name] = (max(hi, price), min(lo, price))
        self.stops.update_market(symbol, _now(), last=last, bid=bid, ask=ask)
        self._pump()

    def _replay_gap(self) -> None:
        """Feed the highest and lowest prices seen while disconnected, so that a stop whose
        trigger was crossed in the gap fires now; then the latest prices again."""
        gap, self._gap_prices = self._gap_prices, {}
        if not self.session.is_connected:
            self._gap_prices = gap
            return
        for symbol, seen in gap.items():
            latest = self._prices.get(symbol)
            for i in (0, 1):
                self.stops.update_market(
                    symbol,
                    _now(),
                    last=seen["last"][i] if "last" in seen else None,
                    bid=seen["bid"][i] if "bid" in seen else None,
                    ask=seen["ask"][i] if "ask" in seen else None,
                )
            if latest is not None:
                last, bid, ask = latest
                self.stops.update_market(symbol, _now(), last=last, bid=bid, ask=ask)
        self._pump()

    async def place_order(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int | Decimal | str,
        price: Decimal | str | float | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
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
        wait = timeout or self.request_timeout
        watch = self._watch([client_order_id])
        drops = self._drops
        try:
            rid = await self.submit_order(
                client_order_id, symbol, side, quantity, price, **kwargs
            )
            if rid is None:
                rec = self.session.order(client_order_id)
                if rec is not None and rec.status is OrderStatus.ARMED:
                    return OrderResult.from_record(rec)
                raise self._rejection(watch, client_order_id, None, None)
            resolved = await self._resolution(rid, timeout, drops)
            if resolved.outcome is not ev.RequestOutcome.OK:
                raise self._rejection(watch, client_order_id, rid, resolved)

            def answered() -> bool:
                rec = self.session.order(client_order_id)
                return rec is None or rec.status is not OrderStatus.PENDING

            if not await self._settle(watch, wait, answered) and self._drops != drops:
                raise ConnectionLostError(
                    f"order {client_order_id!r}: the venue took it, then the connection"
                    " dropped before its state was known",
                    reached_venue=True,
                    request_id=rid,
                )
            rec = self.session.order(client_order_id)
            if rec is None or rec.status is OrderStatus.REJECTED:
                raise self._rejection(watch, client_order_id, rid, resolved)
            return OrderResult.from_record(rec, rid)
        finally:
            self._unwatch(watch)

    def _rejection(
        self,
        watch: _Watch,
        client_order_id: str,
        rid: int | None,
        resolved: ev.RequestResolved | None,
    ) -> AxOrdersError:
        """The error for a place that did not become an order."""
        rejected = None
        for event in watch.events:
            if type(event) is ev.OrderRejected:
                rejected = event
        if rejected is not None and rejected.reason == "LOST_IN_TRANSIT":
            return ConnectionLostError(
                f"order {client_order_id!r}: {rejected.text}", reached_venue=False, request_id=rid
            )
        if rejected is not None:
            return OrderRejectedError(
                f"order {client_order_id!r} rejected: {rejected.reason}: {rejected.text}",
                reason=rejected.reason,
                text=rejected.text,
                code=rejected.code,
                client_order_id=client_order_id,
                venue_order_id=rejected.venue_order_id,
                request_id=rid,
            )
        code = resolved.code if resolved is not None else None
        text = resolved.message if resolved is not None else ""
        reason = f"VENUE_ERROR_{code}" if code is not None else "UNKNOWN"
        return OrderRejectedError(
            f"order {client_order_id!r} rejected: {reason}: {text}",
            reason=reason,
            text=text,
            code=code,
            client_order_id=client_order_id,
            request_id=rid,
        )

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
        rid = self._send(CancelOrder(client_order_id, venue_order_id))
        assert rid is not None
        return rid

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
        rid = self._send(ReplaceOrder(client_order_id, venue_order_id, price, quantity))
        assert rid is not None
        return rid

    async def submit_cancel_all(self, symbol: str | None = None) -> RequestId:
        """Send a cancel of every open order (of ``symbol``); returns its request id at once.

        Armed STOP_LIMIT orders (of ``symbol``) are canceled locally at once.
        """
        rid = self._send(CancelAllOrders(symbol))
        assert rid is not None
        return rid

    def _tracked(
        self, client_order_id: str | None, venue_order_id: str | None
    ) -> OrderRecord | None:
        rec = self.session.order(client_order_id) if client_order_id is not None else None
        if rec is None and venue_order_id is not None:
            rec = self.session.order_by_venue_id(venue_order_id)
        return rec

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
        wait = timeout or self.request_timeout
        known = self._tracked(client_order_id, venue_order_id)
        coid = client_order_id or (known.client_order_id if known is not None else None)
        watch = self._watch([coid] if coid is not None else [])
        drops = self._drops
        try:
            rid = await self.submit_cancel(client_order_id, venue_order_id)
            rec = self._tracked(client_order_id, venue_order_id)
            name = repr(coid if coid is not None else venue_order_id)
            resolved = await self._resolution(rid, timeout, drops)

            def refused() -> ev.CancelRejected | None:
                for event in watch.events:
                    if type(event) is ev.CancelRejected:
                        return event
                return None

            if resolved.outcome is ev.RequestOutcome.OK:

                def ended() -> bool:
                    return (rec is not None and rec.is_terminal) or refused() is not None

                if not await self._settle(watch, wait, ended):
                    raise self._unsettled(f"cancel of {name}", rid, drops, wait)
            no = refused()
            if no is not None or resolved.outcome is ev.RequestOutcome.ERROR:
                raise _refusal(
                    CancelRejectedError, f"cancel of {name}", no, resolved, rec, rid
                )
            assert rec is not None
            return OrderResult.from_record(rec, rid)
        finally:
            self._unwatch(watch)

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
        wait = timeout or self.request_timeout
        known = self._tracked(client_order_id, venue_order_id)
        coid = client_order_id or (known.client_order_id if known is not None else None)
        watch = self._watch([coid] if coid is not None else [])
        drops = self._drops
        try:
            rid = await self.submit_replace(
                client_order_id, venue_order_id, price=price, quantity=quantity
            )
            rec = self._tracked(client_order_id, venue_order_id)
            name = repr(coid if coid is not None else venue_order_id)
            resolved = await self._resolution(rid, timeout, drops)

            def outcome() -> ev.Event | None:
                for event in watch.events:
                    cls = type(event)
                    if cls is ev.OrderReplaced or cls is ev.ReplaceRejected:
                        return event
                return None

            if resolved.outcome is ev.RequestOutcome.OK:

                def done() -> bool:
                    return (rec is not None and rec.is_terminal) or outcome() is not None

                if not await self._settle(watch, wait, done):
                    raise self._unsettled(f"replace of {name}", rid, drops, wait)
            got = outcome()
            if resolved.outcome is ev.RequestOutcome.ERROR or not isinstance(
                got, ev.OrderReplaced
            ):
                no = got if isinstance(got, ev.ReplaceRejected) else None
                raise _refusal(
                    ReplaceRejectedError, f"replace of {name}", no, resolved, rec, rid
                )
            assert rec is not None
            return OrderResult.from_record(rec, rid)
        finally:
            self._unwatch(watch)

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
        wait = timeout or self.request_timeout
        wanted = self.session.instrument(symbol).symbol if symbol is not None else None
        live = [
            rec
            for rec in self.session.orders()
            if not rec.is_terminal and wanted in (None, rec.symbol)
        ]
        watch = self._watch([rec.client_order_id for rec in live])
        drops = self._drops
        try:
            rid = await self.submit_cancel_all(symbol)
            resolved = await self._resolution(rid, timeout, drops)
            if resolved.outcome is ev.RequestOutcome.ERROR:
                raise _refusal(CancelRejectedError, "cancel-all", None, resolved, None, rid)
            await self._settle(watch, wait, lambda: all(rec.is_terminal for rec in live))
            return [
                OrderResult.from_record(rec, rid)
                for rec in live
                if rec.status is OrderStatus.CANCELED
            ]
        finally:
            self._unwatch(watch)

    async def get_open_orders(self, timeout: float | None = None) -> list[ev.OrderSnapshot]:
        """The venue's open orders, as the venue reports them.

        Raises:
            RequestTimeoutError: no answer in time.
            ConnectionLostError: the connection dropped before the answer.
            RequestRejectedError: the venue answered with an error.
        """
        answer = await self._ask(QueryOpenOrders(), timeout)
        if isinstance(answer, ev.RequestResolved):
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OpenOrdersReceived)
        return list(answer.orders)

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
        answer = await self._ask(QueryOrderStatus(client_order_id, venue_order_id), timeout)
        if isinstance(answer, ev.RequestResolved):
            name = repr(client_order_id if client_order_id is not None else venue_order_id)
            if answer.code == 404:
                raise OrderNotFoundError(
                    f"order {name}: not found on this account",
                    code=404,
                    text=answer.message,
                    client_order_id=client_order_id,
                    venue_order_id=venue_order_id,
                    request_id=answer.request_id,
                )
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OrderStatusReport)
        return answer

    async def _ask(self, command: Command, timeout: float | None) -> ev.Event:
        """Send a query; its answer event, or its failed ``RequestResolved`` (ERROR)."""
        drops = self._drops
        rid = self._send(command)
        assert rid is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[ev.Event] = loop.create_future()
        self._answers[rid] = answer
        resolved = self._waiter(rid)
        futures: set[asyncio.Future[Any]] = {answer, resolved}
        try:
            done, _ = await asyncio.wait(
                futures,
                timeout=timeout or self.request_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._answers.pop(rid, None)
        if answer in done:
            return answer.result()
        if resolved in done:
            return self._failure_or(resolved.result(), drops)
        self._waiters.pop(rid, None)
        raise self._no_answer(rid, drops)

    def _waiter(self, rid: int) -> asyncio.Future[ev.RequestResolved]:
        fut: asyncio.Future[ev.RequestResolved] = asyncio.get_running_loop().create_future()
        done = self._resolved.pop(rid, None)
        if done is not None:
            fut.set_result(done)
        else:
            self._waiters[rid] = fut
        return fut

    def _no_answer(self, rid: int, drops: int) -> AxOrdersError:
        if self._drops != drops:
            return ConnectionLostError(
                f"request {rid}: the connection dropped and no answer came; whether it reached"
                " the venue is not known",
                reached_venue=None,
                request_id=rid,
            )
        return RequestTimeoutError(f"request {rid}: no answer from the venue", request_id=rid)

    def _failure_or(
        self, result: ev.RequestResolved, drops: int, *, lost: bool = True
    ) -> ev.RequestResolved:
        """``result`` unless it is a TIMEOUT (or, with ``lost``, a LOST) outcome: raised."""
        outcome = result.outcome
        if outcome is ev.RequestOutcome.TIMEOUT:
            raise self._no_answer(result.request_id, drops)
        if outcome is ev.RequestOutcome.LOST and lost:
            if result.kind in _ORDER_KINDS:
                raise ConnectionLostError(
                    f"request {result.request_id}: the connection dropped and after the gap the"
                    " venue reported no trace of it (a late venue event would revive it)",
                    reached_venue=False,
                    request_id=result.request_id,
                )
            raise ConnectionLostError(
                f"request {result.request_id}: the connection dropped before the answer",
                reached_venue=None,
                request_id=result.request_id,
            )
        return result

    async def _resolution(
        self, rid: int, timeout: float | None, drops: int, *, lost: bool = True
    ) -> ev.RequestResolved:
        """The OK, ERROR or LOCAL outcome of request ``rid``; TIMEOUT (and LOST) are raised."""
        fut = self._waiter(rid)
        try:
            result = await asyncio.wait_for(fut, timeout or self.request_timeout * 2)
        except TimeoutError:
            self._waiters.pop(rid, None)
            raise self._no_answer(rid, drops) from None
        return self._failure_or(result, drops, lost=lost)

    def _unsettled(self, what: str, rid: int, drops: int, wait: float) -> AxOrdersError:
        if self._drops != drops:
            return ConnectionLostError(
                f"{what}: the venue took it, then the connection dropped before it confirmed",
                reached_venue=True,
                request_id=rid,
            )
        return RequestTimeoutError(
            f"{what}: the venue took the request but confirmed nothing within {wait:g} s",
            request_id=rid,
        )

    def _watch(self, client_order_ids: Iterable[str]) -> _Watch:
        watch = _Watch(tuple(client_order_ids))
        watches = self._watches
        for coid in watch.keys:
            watches.setdefault(coid, []).append(watch)
        return watch

    def _unwatch(self, watch: _Watch) -> None:
        watches = self._watches
        for coid in watch.keys:
            found = watches.get(coid)
            if found is not None:
                with contextlib.suppress(ValueError):
                    found.remove(watch)
                if not found:
                    del watches[coid]

    async def _settle(self, watch: _Watch, timeout: float, done: Callable[[], bool]) -> bool:
        """Wait until ``done()`` holds, re-checking after each event of a watched order."""
        if done():
            return True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not done():
            if self._closed:
                raise InvalidStateError("the client was closed")
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            wake = watch.wake = loop.create_future()
            try:
                await asyncio.wait_for(wake, remaining)
            except TimeoutError:
                return done()
            finally:
                watch.wake = None
        return True

    async def wait_for(self, request_id: int, timeout: float | None = None) -> ev.RequestResolved:
        """Wait for the outcome of a request sent by a ``submit_*`` method.

        Returns its ``RequestResolved``, whatever the outcome (OK, ERROR, LOCAL or LOST:
        check ``.ok``), except a timeout.

        Raises:
            RequestTimeoutError: the request timed out, or nothing came within ``timeout``.
            ConnectionLostError: it timed out and the connection dropped meanwhile
                (``reached_venue`` None: whether the venue got it is unknown).
        """
        return await self._resolution(request_id, timeout, self._drops, lost=False)

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
    ) -> OrderRecord:
        """Track an order placed elsewhere so that its events carry ``client_order_id``."""
        rec = self.session.register_external_order(
            client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            strategy_id=strategy_id,
            filled_qty=filled_qty,
            now=_now(),
        )
        self._pump()
        return rec

    def orders(self, *, include_ended: bool = False) -> list[OrderRecord]:
        """The orders this client tracks."""
        return self.session.orders(include_ended=include_ended)

    def order(self, client_order_id: str) -> OrderRecord | None:
        return self.session.order(client_order_id)


_ORDER_KINDS: Final = frozenset(
    {ev.RequestKind.PLACE, ev.RequestKind.CANCEL, ev.RequestKind.REPLACE}
)


def _refusal(
    cls: type[OrderRequestError],
    what: str,
    event: ev.CancelRejected | ev.ReplaceRejected | None,
    resolved: ev.RequestResolved,
    rec: OrderRecord | None,
    rid: int,
) -> OrderRequestError:
    """The error for a refused cancel or replace: not found / already ended, or ``cls``."""
    code = event.code if event is not None and event.code is not None else resolved.code
    reason = event.reason if event is not None else f"VENUE_ERROR_{code}"
    text = event.text if event is not None else resolved.message
    coid = rec.client_order_id if rec is not None else resolved.client_order_id
    voi = rec.venue_order_id if rec is not None else resolved.venue_order_id
    kwargs: dict[str, Any] = {
        "reason": reason,
        "text": text,
        "code": code,
        "client_order_id": coid,
        "venue_order_id": voi,
        "request_id": rid,
    }
    ended = rec is not None and rec.is_terminal
    if (
        code == 404
        or reason in ("ORDER_NOT_FOUND", "ORDER_ALREADY_ENDED", "ORIGINAL_ORDER_TERMINATED")
        or (ended and event is None)
    ):
        if event is None and ended and code is None:
            kwargs["reason"] = "ORDER_ALREADY_ENDED"
        status = rec.status.value if rec is not None and ended else None
        detail = f"order already ended ({status})" if status else "no such order"
        return OrderNotFoundError(f"{what}: {detail}: {text}", status=status, **kwargs)
    return cls(f"{what} refused: {reason}: {text}", **kwargs)


def _token_provider(
    endpoints: Endpoints,
    token: str | None,
    api_key: str | None,
    api_secret: str | None,
    provider: TokenProvider | None,
    ssl_context: ssl.SSLContext | None = None,
    proxy: str | None = None,
) -> TokenProvider:
    given = sum(x is not None for x in (token, provider)) + (api_key is not None)
    if given > 1:
        raise ValueError("give one of token, api_key/api_secret or token_provider")
    if provider is not None:
        return provider
    if token is not None:
        return StaticToken(token)
    if api_key is not None and api_secret is not None:
        return ApiKeyAuth(
            endpoints.base_url, api_key, api_secret, ssl_context=ssl_context, proxy=proxy
        )
    raise AuthenticationError("no credentials: give a token, or an API key and secret")


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a shared attempt's outcome as seen: its awaiters may all have gone."""
    if not task.cancelled():
        task.exception()


def _clean(exc: BaseException) -> str:
    """An exception's first line (picows errors can carry whole response bodies)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
