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
from collections.abc import AsyncIterator, Callable, Iterable
from decimal import Decimal
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
from axorders.config import Endpoints, Environment
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    ConnectionLostError,
    InvalidOrderError,
    InvalidStateError,
    RequestRejectedError,
    RequestTimeoutError,
)
from axorders.marketdata import MarketDataFeed
from axorders.model import (
    Instrument,
    OrderType,
    RequestId,
    Side,
    TimeInForce,
    TriggerSource,
)
from axorders.rest import RestClient
from axorders.security import check_url, tls_context
from axorders.session import OrdersSession
from axorders.state import OrderRecord
from axorders.store import OrderStore

__all__ = ["OrdersClient"]

log = logging.getLogger("axorders.client")

_T = TypeVar("_T")
_CLOSED: Final = object()
_TICK_S: Final = 0.02
_FILL_POLL_S: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0)
"""Waits between REST ``/fills`` polls while a missed fill has not appeared there yet."""


def _now() -> int:
    return time.time_ns()


class _Listener(picows.WSListener):
    """Hands frames to the client; no logic of its own."""

    def __init__(self, client: OrdersClient) -> None:
        self._client = client
        self.transport: picows.WSTransport | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        self._client._on_connected(self, transport)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        self._client._on_frame(self, frame)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._client._on_disconnected(self)


class OrdersClient:
    """An AX orders client over the orders WebSocket.

    Args:
        url: an environment (``"sandbox"``, ``"production"``, an :class:`Environment`) or any
            base URL, such as the simulator's ``http://127.0.0.1:8080``.
        account_id: the account stamped on events; learned from the venue when omitted.
        trader_id: stamped on every order event.
        strategy_id: default strategy id of orders that do not name one.
        heartbeat: seconds between WebSocket pings.
        token / api_key + api_secret / token_provider: credentials (one of them).
        cancel_on_disconnect: ask the venue to cancel this connection's orders when it drops.
        request_timeout: seconds a request may wait for the venue's answer.
        connect_timeout: seconds one connection attempt may take.
        connect_attempts: attempts of the first connect (later reconnects never give up).
        watchdog: reconnect when nothing came from the venue for ``watchdog × heartbeat``.
        max_queue: the event queue's bound. Above it the client stops reading the socket
            until the consumer has caught up below ``low_water`` (default: half). Nothing is
            dropped.
        event_queue: False when events are only consumed through ``on_event`` and awaits.
        on_event: called with every event, in order, before it is queued.
        store: an order journal; records are written before the frames that depend on them.
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
        store: OrderStore | None = None,
        instruments: Iterable[Instrument] = (),
        trigger_source: TriggerSource = TriggerSource.LAST_TRADE,
        allow_insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "axorders",
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
        self.heartbeat = heartbeat
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.watchdog = watchdog
        self.cancel_on_disconnect = cancel_on_disconnect
        self.max_queue = max_queue
        self.low_water = low_water if low_water is not None else max_queue // 2
        self._allow_insecure = allow_insecure
        self._ssl = ssl_context
        self._user_agent = user_agent
        self._tokens = _token_provider(
            self.endpoints, token, api_key, api_secret, token_provider, ssl_context
        )
        self._account_known = account_id is not None
        self.session = OrdersSession(
            account_id=account_id or "",
            trader_id=trader_id,
            strategy_id=strategy_id,
            instruments=instruments,
            request_timeout_ns=int(request_timeout * 1e9),
            trigger_source=trigger_source,
            track_changes=store is not None,
        )
        self.store = store
        self._on_event = on_event
        self._event_queue = event_queue
        self._queue: collections.deque[ev.Event] = collections.deque()
        self._queue_ready = asyncio.Event()
        self._paused = False
        self._paused_at = 0
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
            )
        return self._rest

    async def connect(self) -> None:
        """Connect, log in and reconcile with the venue.

        Makes up to ``connect_attempts`` attempts with exponential backoff.

        Raises:
            AuthenticationError: the venue refused the credentials (never retried).
            ConnectError: every attempt failed.
        """
        if self._closed:
            raise InvalidStateError("the client is closed")
        if self._transport is not None:
            return
        self._closing = False
        backoff = Backoff(initial=0.5, maximum=5.0)
        last: Exception | None = None
        for attempt in range(self.connect_attempts):
            try:
                await self._prepare()
                await self._open()
                break
            except AuthenticationError:
                raise
            except (TimeoutError, ConnectError, RequestTimeoutError, OSError) as exc:
                last = exc
                log.warning("connect attempt %d failed: %s", attempt + 1, exc)
                if attempt + 1 < self.connect_attempts:
                    await asyncio.sleep(backoff.next_delay())
        else:
            raise ConnectError(
                f"could not connect to {self.endpoints.orders_ws_url} after"
                f" {self.connect_attempts} attempts: {last}"
            )
        self._connected_once = True
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._timer_loop())
        await self._wait_ready()

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

    async def _wait_ready(self) -> None:
        try:
            await asyncio.wait_for(self._resynced.wait(), self.request_timeout)
        except TimeoutError:
            log.warning("no reconciliation with the venue within %.1f s", self.request_timeout)

    async def _open(self) -> None:
        """One connection attempt."""
        url = self.endpoints.orders_ws_url
        if self.cancel_on_disconnect:
            url += ("&" if "?" in url else "?") + "cancel_on_disconnect=true"
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}", "User-Agent": self._user_agent}
        ssl_context = tls_context(url, self._ssl)
        self._login.clear()
        self._resynced.clear()
        try:
            _, listener = await asyncio.wait_for(
                picows.ws_connect(
                    lambda: _Listener(self),
                    url,
                    ssl_context=ssl_context,
                    extra_headers=headers,
                    websocket_handshake_timeout=self.connect_timeout,
                    logger_name="axorders.ws",
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
        except (OSError, picows.WSError) as exc:
            raise ConnectError(
                f"cannot reach {self.endpoints.orders_ws_url}: {_clean(exc)}"
            ) from None
        except TimeoutError:
            raise ConnectError(f"connect timed out after {self.connect_timeout} s") from None
        assert isinstance(listener, _Listener)
        if self._listener is not listener:  # closed again before we got here
            raise ConnectError("the connection closed during the handshake")

    def _on_connected(self, listener: _Listener, transport: picows.WSTransport) -> None:
        # Called by picows before ws_connect returns: the login frame may follow at once.
        self._listener = listener
        self._transport = transport
        self._last_rx = self._last_ping = time.monotonic()
        self.session.connection_made(_now())
        if self._connected_once:
            self._reconnects += 1
            self._publish([ev.Reconnected(ts_init=_now(), attempt=self._reconnects)])
        self._pump()

    async def disconnect(self) -> None:
        """Close the socket without reconnecting; :meth:`connect` opens it again."""
        self._closing = True
        await self._drop_socket()

    async def close(self, timeout: float = 5.0) -> None:
        """Close gracefully: stop reconnecting, close the socket, release resources.

        Bounded by ``timeout`` seconds; the event stream ends after the queued events.
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
            for task in [self._timer, self._reconnector, self._fills_task, *self._tasks]:
                if task is not None and not task.done():
                    task.cancel()
            closed = InvalidStateError("the client was closed")
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(closed)
            for answer in self._answers.values():
                if not answer.done():
                    answer.set_exception(closed)
            self._waiters.clear()
            self._answers.clear()
            self._queue_ready.set()
            if self.store is not None:
                self.store.close()

    async def _shutdown(self) -> None:
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
        if kind is picows.WSMsgType.TEXT or kind is picows.WSMsgType.BINARY:
            # Only the venue's own frames feed the watchdog: a pong proves the socket, not
            # that the venue is still sending (its heartbeats come every few seconds).
            self._last_rx = time.monotonic()
            self.session.receive(frame.get_payload_as_bytes(), _now())
            self._pump()
        elif kind is picows.WSMsgType.CLOSE and self._transport is not None:
            self._transport.disconnect()

    def _on_disconnected(self, listener: _Listener) -> None:
        if listener is not self._listener:
            return
        self._listener = None
        self._transport = None
        self._paused = False
        self._login.clear()
        reason = "closed by the client" if self._closing else "connection lost"
        self.session.connection_lost(_now(), reason)
        self._pump()
        if not self._closing and not self._closed:
            self._start_reconnect()

    def _start_reconnect(self) -> None:
        if self._reconnector is None or self._reconnector.done():
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        backoff = Backoff(initial=0.5, maximum=5.0)
        while not self._closing and not self._closed and self._transport is None:
            await asyncio.sleep(backoff.next_delay())
            try:
                await self._open()
            except AuthenticationError as exc:
                log.warning("reconnect refused (%s); fetching a fresh token", exc)
                self._tokens.invalidate()
            except (ConnectError, AxOrdersError, OSError) as exc:
                log.info("reconnect failed: %s", exc)
        # Backoff restarts from its first delay at the next drop (a new Backoff).

    # -----------------------------------------------------------------------------------------
    # The pump: session output to the journal, the socket and the user.

    def _pump(self) -> None:
        session = self.session
        if self.store is not None:
            changed = session.take_changed()
            if changed:
                self.store.save(changed)  # before any frame that depends on it leaves
        frames = session.frames_to_send()
        if frames:
            transport = self._transport
            if transport is not None:
                send = transport.send
                text = picows.WSMsgType.TEXT
                for data in frames:
                    send(text, data)
        events = session.events_received()
        if events:
            self._publish(events)
        if session.missing_fills and (self._fills_task is None or self._fills_task.done()):
            self._fills_task = asyncio.get_running_loop().create_task(self._recover_fills())
        if session.rest_wanted and (self._rest_task is None or self._rest_task.done()):
            self._rest_task = asyncio.get_running_loop().create_task(self._rest_fallback())

    def _publish(self, events: list[ev.Event]) -> None:
        callback = self._on_event
        for event in events:
            cls = type(event)
            if cls is ev.RequestResolved:
                self._on_resolved(event)  # type: ignore[arg-type]
            elif cls is ev.OpenOrdersReceived or cls is ev.OrderStatusReport:
                fut = self._answers.pop(event.request_id, None)  # type: ignore[attr-defined]
                if fut is not None and not fut.done():
                    fut.set_result(event)
            elif cls is ev.LoginSnapshot:
                self._login.set()
                if not self._account_known:
                    self.session.account_id = event.login_id  # type: ignore[attr-defined]
            elif cls is ev.Resynced:
                self._resynced.set()
                if self._gap_prices:
                    asyncio.get_running_loop().call_soon(self._replay_gap)
            if callback is not None:
                try:
                    callback(event)
                except Exception:
                    log.exception("on_event callback failed")
        if self._event_queue:
            self._queue.extend(events)
            self._queue_ready.set()
            if len(self._queue) >= self.max_queue and not self._paused:
                self._pause(True)

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

    # -----------------------------------------------------------------------------------------
    # Timers: deadlines, pings, the watchdog.

    async def _timer_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(_TICK_S)
            if not self._paused:  # deadlines wait while reading is paused (see _pause)
                self.session.tick(_now())
            self._pump()
            transport = self._transport
            if transport is None or self._paused:
                continue
            mono = time.monotonic()
            if mono - self._last_ping >= self.heartbeat:
                self._last_ping = mono
                with contextlib.suppress(Exception):
                    transport.send_ping()
            if self.watchdog > 0 and mono - self._last_rx > self.heartbeat * self.watchdog:
                log.warning("nothing from the venue for %.1f s; reconnecting", mono - self._last_rx)
                self._last_rx = mono
                transport.disconnect()

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

    async def events(self) -> AsyncIterator[ev.Event]:
        """Every event, in order, until the client is closed."""
        queue = self._queue
        ready = self._queue_ready
        while True:
            while queue:
                event = queue.popleft()
                if self._paused and len(queue) <= self.low_water:
                    self._pause(False)
                yield event
            if self._closed:
                return
            ready.clear()
            await ready.wait()

    stream = events

    async def next_event(
        self, predicate: Callable[[ev.Event], bool] | None = None, timeout: float | None = None
    ) -> ev.Event:
        """The next queued event (matching ``predicate``), waiting up to ``timeout`` seconds."""

        async def first() -> ev.Event:
            async for event in self.events():
                if predicate is None or predicate(event):
                    return event
            raise InvalidStateError("the client was closed")

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"no matching event within {timeout} s") from None

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
        if self._closed:
            raise InvalidStateError("the client is closed")
        try:
            rid = self.session.send(command, _now())
        finally:
            self._pump()
        return rid

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
        self.session.update_market(symbol, _now(), last=last, bid=bid, ask=ask)
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
                self.session.update_market(
                    symbol,
                    _now(),
                    last=seen["last"][i] if "last" in seen else None,
                    bid=seen["bid"][i] if "bid" in seen else None,
                    ask=seen["ask"][i] if "ask" in seen else None,
                )
            if latest is not None:
                last, bid, ask = latest
                self.session.update_market(symbol, _now(), last=last, bid=bid, ask=ask)
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
    ) -> ev.RequestResolved | None:
        """:meth:`submit_order`, then wait for the venue's answer to the place request.

        Returns None for an armed STOP_LIMIT or an unpriceable MARKET order.

        Raises:
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
        """
        rid = await self.submit_order(client_order_id, symbol, side, quantity, price, **kwargs)
        if rid is None:
            return None
        return await self.wait_for(rid, timeout)

    async def cancel_order(
        self, client_order_id: str | None = None, venue_order_id: str | None = None
    ) -> RequestId:
        """Cancel one order, by client order id or venue order id; returns the request id."""
        rid = self._send(CancelOrder(client_order_id, venue_order_id))
        assert rid is not None
        return rid

    async def replace_order(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        price: Decimal | str | float | None = None,
        quantity: int | Decimal | str | None = None,
    ) -> RequestId:
        """Cancel-replace an open order's price and/or quantity; returns the request id."""
        rid = self._send(ReplaceOrder(client_order_id, venue_order_id, price, quantity))
        assert rid is not None
        return rid

    async def cancel_all(self, symbol: str | None = None) -> RequestId:
        """Cancel every open order (of ``symbol``); returns the request id."""
        rid = self._send(CancelAllOrders(symbol))
        assert rid is not None
        return rid

    async def get_open_orders(self, timeout: float | None = None) -> list[ev.OrderSnapshot]:
        """The venue's open orders.

        Raises:
            ConnectionLostError: the connection dropped before the answer.
            RequestTimeoutError: no answer in time.
            RequestRejectedError: the venue answered with an error.
        """
        answer = await self._ask(QueryOpenOrders(), timeout)
        if isinstance(answer, ev.RequestResolved):
            if answer.outcome is ev.RequestOutcome.LOST:
                raise ConnectionLostError(
                    f"request {answer.request_id}: the connection dropped before the answer"
                )
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OpenOrdersReceived)
        return list(answer.orders)

    async def order_status(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        timeout: float | None = None,
    ) -> ev.OrderStatusReport | ev.RequestResolved:
        """The venue's status of one order, or the failed request (e.g. 404 not found)."""
        answer = await self._ask(QueryOrderStatus(client_order_id, venue_order_id), timeout)
        assert isinstance(answer, ev.OrderStatusReport | ev.RequestResolved)
        return answer

    async def _ask(self, command: Command, timeout: float | None) -> ev.Event:
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
            result = resolved.result()
            if result.outcome is ev.RequestOutcome.TIMEOUT:
                raise RequestTimeoutError(f"request {rid}: no answer from the venue")
            return result
        raise RequestTimeoutError(f"request {rid}: no answer within the timeout")

    def _waiter(self, rid: int) -> asyncio.Future[ev.RequestResolved]:
        fut: asyncio.Future[ev.RequestResolved] = asyncio.get_running_loop().create_future()
        done = self._resolved.pop(rid, None)
        if done is not None:
            fut.set_result(done)
        else:
            self._waiters[rid] = fut
        return fut

    async def wait_for(self, request_id: int, timeout: float | None = None) -> ev.RequestResolved:
        """Wait for the outcome of a request.

        Raises:
            RequestTimeoutError: the request timed out, or nothing came within ``timeout``.
        """
        fut = self._waiter(request_id)
        try:
            result = await asyncio.wait_for(fut, timeout or self.request_timeout * 2)
        except TimeoutError:
            self._waiters.pop(request_id, None)
            raise RequestTimeoutError(
                f"request {request_id}: no outcome within the timeout"
            ) from None
        if result.outcome is ev.RequestOutcome.TIMEOUT:
            raise RequestTimeoutError(f"request {request_id}: no answer from the venue")
        return result

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


def _token_provider(
    endpoints: Endpoints,
    token: str | None,
    api_key: str | None,
    api_secret: str | None,
    provider: TokenProvider | None,
    ssl_context: ssl.SSLContext | None = None,
) -> TokenProvider:
    given = sum(x is not None for x in (token, provider)) + (api_key is not None)
    if given > 1:
        raise ValueError("give one of token, api_key/api_secret or token_provider")
    if provider is not None:
        return provider
    if token is not None:
        return StaticToken(token)
    if api_key is not None and api_secret is not None:
        return ApiKeyAuth(endpoints.base_url, api_key, api_secret, ssl_context=ssl_context)
    raise AuthenticationError("no credentials: give a token, or an API key and secret")


def _clean(exc: BaseException) -> str:
    """An exception's first line (picows errors can carry whole response bodies)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
