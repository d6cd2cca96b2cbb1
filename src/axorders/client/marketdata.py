"""The market-data WebSocket feed (picows) that STOP_LIMIT triggers watch.

It subscribes to level 1 and trades for each symbol it is asked to watch, hands every last
trade and best bid/ask to a callback, and reconnects (re-subscribing) when the socket drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from decimal import Decimal

import picows

from axorders.auth import TokenProvider
from axorders.client.backoff import Backoff
from axorders.client.fragments import DEFAULT_MAX_MESSAGE_SIZE, FragmentError, Reassembler
from axorders.config import proxy_for, safe_proxy
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    InvalidStateError,
    RemoteProtocolError,
)
from axorders.security import check_url, tls_context
from axorders.wire.md import (
    L1BookMsg,
    L2BookMsg,
    MdReply,
    SubscribeRequest,
    TickerMsg,
    TradeMsg,
    UnsubscribeRequest,
    decode_md_server_frame,
    encode_md,
)

__all__ = ["MarketDataFeed", "PriceCallback"]

log = logging.getLogger("axorders.client.marketdata")

# picows's proxy failures (python-socks comes with the picows versions that support proxies).
_PROXY_ERRORS: tuple[type[Exception], ...]
try:
    from python_socks import ProxyError
except ImportError:  # pragma: no cover - an older picows without proxy support
    _PROXY_ERRORS = ()
else:
    _PROXY_ERRORS = (ProxyError,)
WS_CONNECT_ERRORS: tuple[type[Exception], ...] = (OSError, picows.WSError, *_PROXY_ERRORS)
"""What a failed WebSocket connect raises (timeouts are OSErrors); the orders socket's
attempts catch the same."""

PriceCallback = Callable[[str, Decimal | None, Decimal | None, Decimal | None, int], None]
"""``(symbol, last, bid, ask, now_ns)``; a price that did not change is None."""


class _Listener(picows.WSListener):
    """Hands messages to the feed; no exception leaves a socket callback."""

    def __init__(self, feed: MarketDataFeed) -> None:
        self._feed = feed
        self.assembler = Reassembler(feed.max_message_size)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        try:
            self._feed._on_ws_frame(self, transport, frame)
        except Exception:
            log.exception("market-data frame handling failed")

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        try:
            self._feed._on_disconnected(self)
        except Exception:
            log.exception("market-data disconnect handling failed")


class MarketDataFeed:
    """Last trades and best prices for the symbols being watched.

    Args:
        url: the market-data WebSocket (``wss://.../md/ws``); checked by
            :func:`~axorders.security.check_url`.
        tokens: gives the bearer token for each (re)connect.
        on_price: ``(symbol, last, bid, ask, now_ns)``, called for every trade and book update
            of a watched symbol. Exceptions it raises are logged, not propagated.
        ssl_context: TLS settings for ``wss://`` (default: verify certificate and host name).
        backoff: delays between reconnect attempts (default 0.5 s doubling to 5 s; only a
            connection that lived ``backoff.stable_after`` seconds starts them again).
        proxy: a proxy URL, ``""`` for none, or None for ``HTTPS_PROXY``/``NO_PROXY``
            (:func:`~axorders.config.proxy_for`); picows makes the tunnel.
        max_message_size: bytes one message may have, its fragments together; a bigger one
            closes the socket with 1009 (and the feed reconnects).
        tap: called with every whole message as received (the flight recorder's ``md``
            records), before it is read.
    """

    def __init__(
        self,
        url: str,
        tokens: TokenProvider,
        on_price: PriceCallback,
        *,
        allow_insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        backoff: Backoff | None = None,
        proxy: str | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        tap: Callable[[bytes], None] | None = None,
    ) -> None:
        self.url = check_url(url, allow_insecure=allow_insecure)
        self._tap = tap
        self.proxy = proxy_for(self.url, proxy)
        self.max_message_size = max_message_size
        self._tokens = tokens
        self._on_price = on_price
        self._ssl = ssl_context
        self.connect_timeout = connect_timeout
        self._symbols: set[str] = set()
        self._transport: picows.WSTransport | None = None
        self._listener: _Listener | None = None
        self._rid = 0
        self._closed = False
        self._reconnector: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self._backoff = backoff if backoff is not None else Backoff(initial=0.5, maximum=5.0)
        self.malformed = 0
        self.errors = 0
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"MarketDataFeed(url={self.url!r}, symbols={sorted(self._symbols)})"

    @property
    def connected(self) -> bool:
        """True while the socket is open."""
        return self._transport is not None

    @property
    def symbols(self) -> frozenset[str]:
        """The watched symbols."""
        return frozenset(self._symbols)

    async def connect(self) -> None:
        """Open the socket and subscribe to every watched symbol (nothing if already open).

        Raises:
            AuthenticationError: the token was refused.
            ConnectError: the socket could not be opened.
            InvalidStateError: the feed is closed.
        """
        if self._closed:
            raise InvalidStateError("the market-data feed is closed")
        if self._transport is not None:
            return
        async with self._opening:  # one socket at a time: connect() and the reconnect task
            if self._transport is None and not self._closed:
                await self._open()

    async def _open(self) -> None:
        token = await self._tokens.token()
        ssl_context = tls_context(self.url, self._ssl)
        try:
            transport, listener = await asyncio.wait_for(
                picows.ws_connect(
                    lambda: _Listener(self),
                    self.url,
                    ssl_context=ssl_context,
                    extra_headers={"Authorization": f"Bearer {token}", "User-Agent": "axorders"},
                    websocket_handshake_timeout=self.connect_timeout,
                    logger_name="axorders.md",
                    max_frame_size=self.max_message_size,
                    proxy=self.proxy,
                ),
                self.connect_timeout,
            )
        except picows.WSHandshakeError as exc:
            status = exc.response.status if exc.response is not None else None
            if status is not None and int(status) in (401, 403):
                self._tokens.invalidate()
                raise AuthenticationError(
                    f"market data refused the token (HTTP {int(status)})"
                ) from None
            raise ConnectError("market-data upgrade failed") from None
        except WS_CONNECT_ERRORS as exc:
            via = f" through proxy {safe_proxy(self.proxy)}" if self.proxy else ""
            raise ConnectError(f"cannot reach {self.url}{via}: {type(exc).__name__}") from None
        assert isinstance(listener, _Listener)
        if self._closed:  # closed while the upgrade was in flight
            transport.disconnect()
            return
        self._transport = transport
        self._listener = listener
        self._backoff.connected(time.monotonic())
        for symbol in sorted(self._symbols):
            self._send_subscribe(symbol)

    async def subscribe(self, symbol: str) -> None:
        """Watch ``symbol`` (idempotent)."""
        if symbol in self._symbols:
            return
        self._symbols.add(symbol)
        if self._transport is not None:
            self._send_subscribe(symbol)

    async def unsubscribe(self, symbol: str) -> None:
        """Stop watching ``symbol`` (idempotent)."""
        if symbol not in self._symbols:
            return
        self._symbols.discard(symbol)
        if self._transport is not None:
            self._rid += 1
            self._transport.send(
                picows.WSMsgType.TEXT, encode_md(UnsubscribeRequest(rid=self._rid, symbol=symbol))
            )

    def _send_subscribe(self, symbol: str) -> None:
        assert self._transport is not None
        self._rid += 1
        frame = encode_md(
            SubscribeRequest(
                rid=self._rid, symbol=symbol, level="LEVEL_1", trades=True, ticker=False
            )
        )
        self._transport.send(picows.WSMsgType.TEXT, frame)

    def _on_ws_frame(
        self, listener: _Listener, transport: picows.WSTransport, frame: picows.WSFrame
    ) -> None:
        kind = frame.msg_type
        assembler = listener.assembler
        if kind is picows.WSMsgType.TEXT and frame.fin and not assembler.active:
            self._on_frame(frame.get_payload_as_bytes())  # the common case: one frame
            return
        continuation = kind is picows.WSMsgType.CONTINUATION
        if not continuation and kind not in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY):
            return  # ping, pong, close: picows answers them
        try:
            data = assembler.feed(kind, continuation, frame.fin, frame.get_payload_as_bytes())
        except FragmentError as exc:
            self.malformed += 1
            log.warning("market data: %s; closing (%d)", exc, exc.close_code)
            with contextlib.suppress(Exception):
                transport.send_close(picows.WSCloseCode(exc.close_code))
            transport.disconnect()
            return
        if data is not None and assembler.kind is picows.WSMsgType.TEXT:
            self._on_frame(data)

    def _on_frame(self, data: bytes) -> None:
        if self._tap is not None:
            self._tap(data)
        try:
            msg = decode_md_server_frame(data)
        except RemoteProtocolError:
            self.malformed += 1
            return
        if isinstance(msg, TradeMsg):
            self._emit(msg.symbol, msg.price, None, None)
        elif isinstance(msg, L1BookMsg | L2BookMsg):
            bid = msg.bids[0].price if msg.bids else None
            ask = msg.asks[0].price if msg.asks else None
            self._emit(msg.symbol, None, bid, ask)
        elif isinstance(msg, TickerMsg):
            self._emit(msg.symbol, msg.last_price, msg.bid, msg.ask)
        elif isinstance(msg, MdReply) and msg.error is not None:
            self.errors += 1
            log.warning(
                "market-data request %s refused: %s (code %d)",
                msg.rid,
                msg.error.message,
                msg.error.code,
            )

    def _emit(
        self, symbol: str, last: Decimal | None, bid: Decimal | None, ask: Decimal | None
    ) -> None:
        if symbol not in self._symbols or (last is None and bid is None and ask is None):
            return
        try:
            self._on_price(symbol, last, bid, ask, time.time_ns())
        except Exception:
            # A failing callback must not take the socket down with it.
            log.exception("market-data price callback failed for %s", symbol)

    def _on_disconnected(self, listener: _Listener) -> None:
        listener.assembler.clear()
        if listener is not self._listener:
            return
        self._backoff.disconnected(time.monotonic())
        self._transport = None
        self._listener = None
        if not self._closed and (self._reconnector is None or self._reconnector.done()):
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        # No reset here: the backoff starts again only after a connection that lasted.
        while not self._closed and self._transport is None:
            await asyncio.sleep(self._backoff.next_delay())
            try:
                await self.connect()
            except AxOrdersError as exc:  # a refused token was invalidated by connect()
                log.info("market-data reconnect failed: %s", exc)
            else:
                self.reconnects += 1

    async def close(self) -> None:
        """Close the socket and stop reconnecting (idempotent)."""
        self._closed = True
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None and reconnector is not asyncio.current_task():
            reconnector.cancel()
            await asyncio.wait([reconnector])
        transport = self._transport
        self._transport = None
        if transport is not None:
            transport.disconnect()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(transport.wait_disconnected(), 2.0)
