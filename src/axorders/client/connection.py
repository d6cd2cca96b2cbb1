"""The orders socket's life: connect attempts, the reconnect loop, reading, pings, the watchdog.

:class:`Connection` owns everything about the socket: the one attempt in flight, the reconnect
loop and its backoff, the transport and its listener, the login and resync flags, the gaps
between the venue's messages that set the watchdog, and the drop count. It knows nothing of
orders: what it reads goes to ``on_message``, and the socket's opening, the end of each socket
read and its close go to the callbacks the client gave it.

An attempt fetches a token, upgrades the WebSocket (picows) with it and waits for the venue's
login snapshot; ``connect()`` also waits for the resync that the snapshot starts. Every message
of one socket read is handed over with the same time, and ``on_read`` runs once after the read
(one pump for all of them).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import picows

from axorders.auth import ApiKeyAuth, StaticToken, TokenProvider
from axorders.client.backoff import Backoff
from axorders.client.fragments import FragmentError
from axorders.client.listener import Listener
from axorders.client.marketdata import WS_CONNECT_ERRORS
from axorders.config import Endpoints, proxy_for, proxy_secrets, safe_proxy
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    InvalidStateError,
    RequestTimeoutError,
)
from axorders.security import redact, tls_context

__all__ = ["Connection", "token_provider"]

log = logging.getLogger("axorders.client")

_TEXT: Final = picows.WSMsgType.TEXT
_BINARY: Final = picows.WSMsgType.BINARY
_CONTINUATION: Final = picows.WSMsgType.CONTINUATION
_CLOSE: Final = picows.WSMsgType.CLOSE


class Connection:
    """The orders socket (see the module's docstring).

    Args:
        endpoints: the gateway's URLs.
        tokens: where bearer tokens come from.
        on_open: a socket opened (``reconnect`` is 0 for the first one, else its number).
        on_message: one message from the venue, with the time of its socket read (ns).
        on_read: the end of a socket read.
        on_close: the socket closed (``reason``).
        prepare: what the first connection needs before its socket (instruments, account,
            the journal), awaited before each attempt of ``connect()``.
        clock: Unix nanoseconds.
        The others are :class:`~axorders.client.OrdersClient`'s settings of the same names.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        tokens: TokenProvider,
        *,
        on_open: Callable[[int], None],
        on_message: Callable[[bytes, int], None],
        on_read: Callable[[], None],
        on_close: Callable[[str], None],
        prepare: Callable[[], Awaitable[None]],
        clock: Callable[[], int] = time.time_ns,
        heartbeat: float,
        request_timeout: float,
        connect_timeout: float,
        connect_attempts: int,
        watchdog: float,
        venue_heartbeat: float,
        stable_after: float,
        max_message_size: int,
        cancel_on_disconnect: bool,
        proxy: str | None,
        ssl_context: ssl.SSLContext | None,
        user_agent: str,
    ) -> None:
        self.endpoints = endpoints
        self.tokens = tokens
        self._on_open = on_open
        self._on_message = on_message
        self._on_read = on_read
        self._on_close = on_close
        self._prepare = prepare
        self._clock = clock
        self.heartbeat = heartbeat
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.watchdog = watchdog
        self.venue_heartbeat = venue_heartbeat
        self.max_message_size = max_message_size
        self.cancel_on_disconnect = cancel_on_disconnect
        # Resolved per endpoint (NO_PROXY may spare one host and not another).
        self._proxy = proxy_for(endpoints.orders_ws_url, proxy)
        self._ssl = ssl_context
        self._user_agent = user_agent
        self.listener: Listener | None = None
        self.transport: picows.WSTransport | None = None
        self.login = asyncio.Event()
        self.resynced = asyncio.Event()
        self._gone: asyncio.Future[None] | None = None  # done when the current socket closes
        self.attempt: asyncio.Task[None] | None = None  # the one connection attempt in flight
        self.reconnector: asyncio.Task[None] | None = None
        self._connecting = False  # connect() is making its own attempts
        self.closing = False
        self.closed = False
        self.connected_once = False
        self.reconnects = 0
        self.drops = 0  # connection drops seen, to tell a timeout from a lost connection
        self.backoff = Backoff(initial=0.5, maximum=5.0, stable_after=stable_after)
        self.gaps: collections.deque[float] = collections.deque(maxlen=8)
        self.last_rx = 0.0
        self._last_ping = 0.0
        # The time of the socket read under way (0: none): every message of one read is
        # received at once and on_read runs once, after the read.
        self.batch_now = 0

    @property
    def is_open(self) -> bool:
        """A socket is open and the venue's login snapshot came."""
        return self.transport is not None and self.login.is_set() and not self.closed

    # -----------------------------------------------------------------------------------------
    # connect() and its attempts.

    async def connect(self) -> None:
        """Connect, log in and wait for the resync (see :meth:`OrdersClient.connect`)."""
        if self.closed:
            raise InvalidStateError("the client is closed")
        if self.transport is not None and self.resynced.is_set():
            return
        self.closing = False
        self._connecting = True
        try:
            await self._connect_attempts()
        finally:
            self._connecting = False
        self.connected_once = True

    async def _connect_attempts(self) -> None:
        # A reconnect task in flight hands over to connect(): its attempt, if one is under
        # way, is shared (see _attempt_once), so two sockets are never opened.
        reconnector, self.reconnector = self.reconnector, None
        if reconnector is not None and not reconnector.done():
            reconnector.cancel()
            await asyncio.wait([reconnector])
        backoff = Backoff(initial=0.5, maximum=5.0)
        last: Exception | None = None
        for attempt in range(self.connect_attempts):
            if self.closing or self.closed:
                raise ConnectError("the client was closed while connecting")
            try:
                await self._prepare()
                if self.transport is None:
                    await self._attempt_once()
                await self._wait_ready()
                return
            except AuthenticationError:
                raise
            except (TimeoutError, ConnectError, RequestTimeoutError, OSError) as exc:
                last = exc
                log.warning("connect attempt %d failed: %s", attempt + 1, exc)
                await self.drop()  # a failed attempt leaves no socket behind
                if attempt + 1 < self.connect_attempts:
                    await asyncio.sleep(backoff.next_delay())
        raise ConnectError(
            f"could not connect to {self.endpoints.orders_ws_url} after"
            f" {self.connect_attempts} attempts: {last}"
        )

    async def _wait_ready(self, *, resync: bool = True) -> None:
        """Wait for the venue's login snapshot (``connect_timeout``), then with ``resync``
        for the end of the resync it starts (``request_timeout + connect_timeout`` more; past
        that a warning is logged and the resync goes on).

        Raises:
            ConnectError: the socket closed first, or no login snapshot came in time.
        """
        steps = [(self.login, self.connect_timeout, "login snapshot")]
        if resync:
            # Its status queries may each take request_timeout; the margin is connect_timeout.
            limit = self.request_timeout + self.connect_timeout
            steps.append((self.resynced, limit, "reconciliation"))
        for flag, timeout, what in steps:
            gone = self._gone
            if gone is None or gone.done() or self.transport is None:
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
            if gone.done() or self.transport is None:
                raise ConnectError(f"the venue closed the connection before its {what}")
            if not flag.is_set():
                if flag is self.resynced:
                    # Logged in: the resync goes on (a held journal write may be delaying it)
                    # and Resynced follows when it ends; the connection stands.
                    log.warning("no reconciliation with the venue within %g s", timeout)
                    return
                raise ConnectError(f"no {what} from the venue within {timeout:g} s")

    async def _attempt_once(self) -> None:
        """Open a socket, or join the attempt already in flight: exactly one at a time."""
        task = self.attempt
        if task is None or task.done():
            task = self.attempt = asyncio.get_running_loop().create_task(self._open())
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
        token = await self.tokens.token()
        headers = {"Authorization": f"Bearer {token}", "User-Agent": self._user_agent}
        ssl_context = tls_context(url, self._ssl)
        if self.closing or self.closed:
            raise ConnectError("the client was closed while connecting")
        self.login.clear()
        self.resynced.clear()
        proxy = self._proxy
        try:
            _, listener = await asyncio.wait_for(
                picows.ws_connect(
                    self._new_listener,
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
                self.tokens.invalidate()
                raise AuthenticationError(
                    f"the venue refused the credentials (HTTP {int(status)})"
                ) from None
            raise ConnectError(f"WebSocket upgrade failed: {_clean(exc)}") from None
        except WS_CONNECT_ERRORS as exc:
            via = f" through proxy {safe_proxy(proxy)}" if proxy else ""
            reason = redact(_clean(exc), *proxy_secrets(proxy))
            raise ConnectError(
                f"cannot reach {self.endpoints.orders_ws_url}{via}: {reason}"
            ) from None
        except TimeoutError:
            raise ConnectError(f"connect timed out after {self.connect_timeout} s") from None
        if self.listener is not listener:  # closed again before we got here
            raise ConnectError("the connection closed during the handshake")

    def _new_listener(self) -> Listener:
        return Listener(self, self.max_message_size)

    # -----------------------------------------------------------------------------------------
    # Reconnecting.

    def start_reconnect(self) -> None:
        if self.reconnector is None or self.reconnector.done():
            self.reconnector = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        # One backoff for the client's life: only a connection that lasted stable_after
        # seconds starts it again (see Backoff.disconnected), so a venue that accepts and
        # drops at once is retried ever more slowly, and a long-lived one at once.
        backoff = self.backoff
        while not self.closing and not self.closed and self.transport is None:
            await asyncio.sleep(backoff.next_delay())
            if self.closing or self.closed:
                return
            try:
                await self._attempt_once()
                await self._wait_ready(resync=False)
            except AuthenticationError as exc:
                log.warning("reconnect refused (%s); fetching a fresh token", exc)
                self.tokens.invalidate()
            except (ConnectError, AxOrdersError, OSError) as exc:
                log.info("reconnect failed: %s", exc)
                if self.transport is not None and not self.login.is_set():
                    await self.drop()  # upgraded but no login: not a session

    # -----------------------------------------------------------------------------------------
    # The socket's callbacks (from the listener).

    def on_connected(self, listener: Listener, transport: picows.WSTransport) -> None:
        # Called by picows before ws_connect returns: the login frame may follow at once.
        if self.closing or self.closed or self.transport is not None:
            # Closed (or another socket is up) while this one was opening: it is not kept.
            transport.disconnect()
            return
        self.listener = listener
        self.transport = transport
        self._gone = asyncio.get_running_loop().create_future()
        mono = time.monotonic()
        self.last_rx = self._last_ping = mono
        self.gaps.clear()
        self.backoff.connected(mono)
        reconnect = 0
        if self.connected_once:
            self.reconnects += 1
            reconnect = self.reconnects
        self._on_open(reconnect)

    def on_frame(self, listener: Listener, frame: picows.WSFrame) -> None:
        if listener is not self.listener:
            return
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY or kind is _CONTINUATION:
            now = self.batch_now or self._start_batch()
            if frame.fin and kind is not _CONTINUATION and not listener.assembling:
                data = frame.get_payload_as_bytes()  # one frame: the common case
            else:
                message = self._reassemble(listener, kind, frame)
                if message is None:
                    return
                data = message
            self._on_message(data, now)
        elif kind is _CLOSE and self.transport is not None:
            self.transport.disconnect()

    def _start_batch(self) -> int:
        """The first message of a socket read: picows hands over every message of a read
        before the loop runs anything else, so the others join it, received at the same time,
        and ``on_read`` runs once after the read (:meth:`end_batch`)."""
        # Only the venue's own messages feed the watchdog: a pong proves the socket, not that
        # the venue is still sending (its heartbeats come every few seconds). The messages of
        # one read arrived together: the gap before the read is theirs.
        mono = time.monotonic()
        self.gaps.append(mono - self.last_rx)
        self.last_rx = mono
        now = self.batch_now = self._clock()
        asyncio.get_running_loop().call_soon(self.end_batch)
        return now

    def end_batch(self) -> None:
        """After a socket read (or before anything that must see its messages first): its
        messages' output moves on once. Nothing escapes it."""
        if not self.batch_now:
            return
        self.batch_now = 0
        try:
            self._on_read()
        except Exception:
            log.exception("frame handling failed")

    def _reassemble(
        self, listener: Listener, kind: picows.WSMsgType, frame: picows.WSFrame
    ) -> bytes | None:
        """Feed a fragment (RFC 6455 §5.4); the whole message once its last one came. A
        message that breaks the rules closes the socket."""
        assembler = listener.assembler
        try:
            message = assembler.feed(
                kind, kind is _CONTINUATION, frame.fin, frame.get_payload_as_bytes()
            )
        except FragmentError as exc:
            listener.assembling = assembler.active
            log.warning("%s; closing the connection (%d)", exc, exc.close_code)
            transport = self.transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.send_close(picows.WSCloseCode(exc.close_code))
                transport.disconnect()
            return None
        listener.assembling = assembler.active
        return message

    def on_disconnected(self, listener: Listener) -> None:
        listener.reset()
        if listener is not self.listener:
            return
        self.backoff.disconnected(time.monotonic())
        self.listener = None
        self.transport = None
        self.login.clear()
        self.batch_now = 0
        self.drops += 1
        gone, self._gone = self._gone, None
        if gone is not None and not gone.done():
            gone.set_result(None)
        self._on_close("closed by the client" if self.closing else "connection lost")
        if not self.closing and not self.closed and not self._connecting:
            # While connect() runs, its own attempts retry; a reconnect task would race them.
            self.start_reconnect()

    # -----------------------------------------------------------------------------------------
    # Writing, pausing, and the timer's share.

    def send(self, frames: list[bytes]) -> None:
        """Write frames to the socket (dropped when none is open: the session knows)."""
        transport = self.transport
        if transport is not None:
            send = transport.send
            for data in frames:
                send(_TEXT, data)

    def pause_reading(self, pause: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        underlying = transport.underlying_transport
        if pause:
            underlying.pause_reading()
        else:
            # The silence while paused was ours: the watchdog's window starts again.
            self.last_rx = time.monotonic()
            underlying.resume_reading()

    def tick(self, paused: bool) -> None:
        """A ping every ``heartbeat`` seconds, and the watchdog, which drops a socket the
        venue has gone quiet on (the reconnect follows). Nothing while reading is paused."""
        transport = self.transport
        if transport is None or paused:
            return
        mono = time.monotonic()
        if mono - self._last_ping >= self.heartbeat and self.login.is_set():
            self._last_ping = mono
            with contextlib.suppress(Exception):
                transport.send_ping()
        if self.watchdog > 0 and mono - self.last_rx > self.watchdog_limit:
            log.warning("nothing from the venue for %.1f s; reconnecting", mono - self.last_rx)
            self.last_rx = mono
            transport.disconnect()

    @property
    def watchdog_limit(self) -> float:
        """Seconds of silence from the venue after which the watchdog drops the socket:
        ``watchdog × max(venue_heartbeat, the longest of the last 8 gaps between the
        venue's messages)``, where the messages of one socket read count as one. The venue's
        own cadence sets it, never the client's pings."""
        cadence = max((self.venue_heartbeat, *self.gaps))
        return self.watchdog * cadence

    @property
    def silence(self) -> float:
        """Seconds since the venue's last message (0 with no socket)."""
        if self.transport is None:
            return 0.0
        return max(0.0, time.monotonic() - self.last_rx)

    # -----------------------------------------------------------------------------------------
    # The end.

    async def disconnect(self) -> None:
        """Close the socket without reconnecting."""
        self.closing = True
        await self.drop()

    async def stop(self) -> None:
        """No new socket (the reconnect task and any attempt end), then the socket closes."""
        self.closing = True
        for task in (self.reconnector, self.attempt):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                await asyncio.wait([task])
        await self.drop()

    def tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in (self.reconnector, self.attempt) if t is not None]

    async def drop(self) -> None:
        """Close the current socket, if any, and wait (2 s at most) until it is gone."""
        transport = self.transport
        if transport is None:
            return
        with contextlib.suppress(Exception):
            transport.send_close(picows.WSCloseCode.OK)
        transport.disconnect()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 2.0)


def token_provider(
    endpoints: Endpoints,
    token: str | None,
    api_key: str | None,
    api_secret: str | None,
    provider: TokenProvider | None,
    ssl_context: ssl.SSLContext | None = None,
    proxy: str | None = None,
) -> TokenProvider:
    """The credentials given to the client, as one provider of bearer tokens."""
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
