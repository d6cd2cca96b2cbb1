"""Opening the orders socket: the first connect's attempts, exactly one attempt in flight at a
time, and the reconnect loop after a drop.

An attempt fetches a token, upgrades the WebSocket (picows) with it and waits for the venue's
login snapshot; ``connect()`` also waits for the resync that the snapshot starts. The socket's
life once open (its callbacks, the pump, the timers, close) is in :mod:`axorders.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import picows

from axorders.auth import ApiKeyAuth, StaticToken, TokenProvider
from axorders.backoff import Backoff
from axorders.clientbase import ClientBase, now_ns
from axorders.config import Endpoints, proxy_secrets, safe_proxy
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    InvalidStateError,
    RequestTimeoutError,
)
from axorders.marketdata import WS_CONNECT_ERRORS
from axorders.model import Instrument
from axorders.security import redact, tls_context

__all__ = ["Connecting"]

log = logging.getLogger("axorders.client")


class Connecting(ClientBase):
    """``connect()``, the attempts behind it, and reconnecting after a drop."""

    endpoints: Endpoints
    cancel_on_disconnect: bool
    connect_timeout: float
    connect_attempts: int
    max_message_size: int
    _tokens: TokenProvider
    _ssl: ssl.SSLContext | None
    _user_agent: str
    _ws_proxy: str | None
    _account_known: bool
    _restored: bool
    _closing: bool
    _connecting: bool
    _connected_once: bool
    _resynced: asyncio.Event
    _gone: asyncio.Future[None] | None
    _listener: picows.WSListener | None
    _attempt: asyncio.Task[None] | None
    _reconnector: asyncio.Task[None] | None
    _timer: asyncio.Task[None] | None
    _backoff: Backoff
    _new_listener: Callable[[], picows.WSListener]

    if TYPE_CHECKING:

        async def load_instruments(self) -> list[Instrument]: ...

        async def _drop_socket(self) -> None: ...

        async def _timer_loop(self) -> None: ...

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
            self.session.restore(await asyncio.to_thread(self.store.load), now_ns())
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
                self._tokens.invalidate()
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
        if self._listener is not listener:  # closed again before we got here
            raise ConnectError("the connection closed during the handshake")


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


