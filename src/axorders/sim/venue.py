"""The venue side of one WebSocket connection, sans I/O (the mirror of ``session.py``).

:class:`VenueSession` serves ``/orders/ws``: it turns request frames into engine commands and
the engine's replies into frames. :class:`MarketDataSession` serves ``/md/ws``
subscriptions, and :class:`MarketDataPublisher` turns engine changes into market-data frames.
Neither reads a clock nor touches a socket: frames come in as bytes with ``now`` and go out as
bytes, and the server does the sending.

Every output of :meth:`VenueSession.receive` is an :class:`Outbound`: ``target`` None means
"this connection" (the response), an account id means "every connection of that account"
(events). They are listed in the order they must be sent: the response first, then the events
(SPEC Q2). Events reach every session of the user, including the one that sent the request,
and events of REST-initiated actions reach them too (SPEC Q1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from axorders.sim.engine import Engine, Events, Reply
from axorders.wire.md import (
    MdError,
    MdHeartbeatMsg,
    MdReply,
    MdResult,
    SubscribeRequest,
    UnsubscribeRequest,
    decode_md_request,
    encode_md,
    md_request_id,
)
from axorders.wire.orders import (
    BadRequest,
    CancelAllRequest,
    CancelRequest,
    HeartbeatMsg,
    KeepAliveMsg,
    LoginResult,
    OpenOrdersRequest,
    PlaceRequest,
    ReplaceRequest,
    StatusRequest,
    decode_client_frame,
    encode,
    encode_error,
    encode_login,
    encode_result,
)

__all__ = [
    "MarketDataPublisher",
    "MarketDataSession",
    "Outbound",
    "Subscription",
    "SymbolUpdate",
    "VenueSession",
    "event_frames",
    "heartbeat_frame",
    "keepalive_frame",
    "md_heartbeat_frame",
]

_NS: Final = 1_000_000_000
_LEVELS: Final = frozenset({"LEVEL_1", "LEVEL_2", "LEVEL_3", "TRADES"})


class Outbound(NamedTuple):
    """One frame to send: to this connection (``target`` None) or to an account's sessions."""

    target: str | None
    frame: bytes


def heartbeat_frame(now: int) -> bytes:
    """``{"t":"h","ts":...,"tn":...}``."""
    return encode(HeartbeatMsg(now // _NS, now % _NS))


def keepalive_frame() -> bytes:
    """The undocumented ``{"t":"pu"}``."""
    return encode(KeepAliveMsg())


def md_heartbeat_frame(now: int) -> bytes:
    return encode_md(MdHeartbeatMsg(now // _NS, now % _NS))


def event_frames(events: Events) -> list[Outbound]:
    """Engine events as frames addressed to their accounts."""
    return [Outbound(account, encode(event)) for account, event in events]


class VenueSession:
    """Server side of one ``/orders/ws`` connection.

    Args:
        engine: the shared matching engine.
        user_id: the authenticated user (the login's ``li``).
        account_id: the user's account.
        connection_id: an id unique among live connections (orders remember it for
            cancel-on-disconnect).
        cancel_on_disconnect: the ``cancel_on_disconnect=true`` query flag.

    Call :meth:`connection_made` once after the upgrade and send its frame, then
    :meth:`receive` for every text frame, and :meth:`connection_lost` when the socket closes.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        user_id: str,
        account_id: str,
        connection_id: int,
        cancel_on_disconnect: bool = False,
    ) -> None:
        self.engine = engine
        self.user_id = user_id
        self.account_id = account_id
        self.connection_id = connection_id
        self.cancel_on_disconnect = cancel_on_disconnect
        self.requests = 0

    def connection_made(self, now: int) -> bytes:
        """The rid-0 login response (``o`` is null when nothing is open)."""
        del now
        orders = self.engine.open_orders(self.account_id)
        return encode_login(
            LoginResult(
                login_id=self.user_id,
                orders=orders or None,
                cancel_on_disconnect=self.cancel_on_disconnect,
            )
        )

    def receive(self, data: bytes | str, now: int) -> list[Outbound]:
        """Handle one request frame; returns the response and the events, in sending order.

        Never raises for anything a client can send: bad frames get ``err`` 400.
        """
        self.requests += 1
        request = decode_client_frame(data)
        engine = self.engine
        account = self.account_id
        reply: Reply
        if isinstance(request, PlaceRequest):
            reply = engine.place(
                account,
                request.symbol,
                request.side,
                request.quantity,
                request.price,
                now=now,
                time_in_force=request.time_in_force,
                post_only=request.post_only,
                cid=request.cid,
                tag=request.tag,
                reprice=request.reprice,
                origin=self.connection_id,
            )
        elif isinstance(request, CancelRequest):
            if request.venue_order_id is None and request.cid is None:
                return self._error(request.request_id, 400, "cancel needs oid or cid")
            if request.account_id is not None and request.account_id != account:
                # Another account's namespace: nothing of this user's can match.
                reply = engine.refuse_cancel(
                    account, now, venue_order_id=request.venue_order_id, cid=request.cid
                )
            else:
                reply = engine.cancel(
                    account, now, venue_order_id=request.venue_order_id, cid=request.cid
                )
        elif isinstance(request, CancelAllRequest):
            reply = engine.cancel_all(account, now, symbol=request.symbol)
        elif isinstance(request, OpenOrdersRequest):
            reply = engine.open_orders_reply(account)
        elif isinstance(request, ReplaceRequest):
            reply = engine.replace(
                account,
                request.venue_order_id,
                now,
                price=request.price,
                quantity=request.quantity,
                time_in_force=request.time_in_force,
                post_only=request.post_only,
            )
        elif isinstance(request, StatusRequest):
            if request.venue_order_id is None and request.cid is None:
                return self._error(request.request_id, 400, "status needs oid or cid")
            reply = engine.status_reply(
                account, venue_order_id=request.venue_order_id, cid=request.cid
            )
        else:
            assert isinstance(request, BadRequest)
            return self._error(request.request_id, 400, request.message)
        rid = request.request_id
        if reply.error is not None:
            first = Outbound(None, encode_error(rid, reply.error.code, reply.error.message or ""))
        else:
            assert reply.result is not None
            first = Outbound(None, encode_result(rid, reply.result))
        if not reply.events:
            return [first]
        out = [first]
        out.extend(Outbound(acct, encode(event)) for acct, event in reply.events)
        return out

    def connection_lost(self, now: int) -> list[Outbound]:
        """Cancel-on-disconnect: cancel the orders placed through this connection."""
        if not self.cancel_on_disconnect:
            return []
        return event_frames(self.engine.cancel_origin(self.account_id, self.connection_id, now))

    @staticmethod
    def _error(request_id: int | None, code: int, message: str) -> list[Outbound]:
        return [Outbound(None, encode_error(request_id, code, message))]


# ---------------------------------------------------------------------------------------------
# Market data.


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one connection wants for one symbol."""

    level: str  # LEVEL_1 / LEVEL_2 / LEVEL_3 (served as LEVEL_2) / TRADES
    trades: bool
    ticker: bool

    @property
    def book_level(self) -> int:
        """0 (no book), 1 or 2."""
        if self.level == "LEVEL_1":
            return 1
        if self.level == "TRADES":
            return 0
        return 2


@dataclass(slots=True)
class SymbolUpdate:
    """The frames a publish produced for one symbol (None: nothing new)."""

    l1: bytes | None = None
    l2: bytes | None = None
    trades: list[bytes] | None = None
    ticker: bytes | None = None

    def frames_for(self, subscription: Subscription) -> list[bytes]:
        out: list[bytes] = []
        level = subscription.book_level
        if level == 1 and self.l1 is not None:
            out.append(self.l1)
        elif level == 2 and self.l2 is not None:
            out.append(self.l2)
        if subscription.trades and self.trades:
            out.extend(self.trades)
        if subscription.ticker and self.ticker is not None:
            out.append(self.ticker)
        return out


class MarketDataSession:
    """Server side of one ``/md/ws`` connection: its subscriptions.

    Args:
        engine: the shared engine (for symbols and snapshots).
        depth: levels per side in ``2`` book frames.
    """

    def __init__(self, engine: Engine, *, depth: int = 20) -> None:
        self.engine = engine
        self.depth = depth
        self.subscriptions: dict[str, Subscription] = {}

    def receive(self, data: bytes | str, now: int) -> list[bytes]:
        """Handle one request; returns the reply, then a snapshot after a subscribe."""
        request = decode_md_request(data)
        if request is None:
            return [self._error(md_request_id(data), 400, "unsupported or malformed request")]
        if isinstance(request, UnsubscribeRequest):
            self.subscriptions.pop(request.symbol, None)
            return [
                encode_md(MdReply(rid=request.rid, result=MdResult(unsubscribed=request.symbol)))
            ]
        assert isinstance(request, SubscribeRequest)
        symbol = request.symbol
        if self.engine.instrument(symbol) is None:
            return [self._error(request.rid, 404, f"Symbol {symbol} is not available")]
        if request.level not in _LEVELS:
            return [self._error(request.rid, 400, f"unknown level {request.level!r}")]
        subscription = Subscription(
            level=request.level,
            trades=request.trades is not False,
            ticker=request.ticker is not False,
        )
        self.subscriptions[symbol] = subscription
        out = [encode_md(MdReply(rid=request.rid, result=MdResult(subscribed=symbol)))]
        if subscription.book_level == 1:
            out.append(encode_md(self.engine.l1(symbol, now)))
        elif subscription.book_level == 2:
            out.append(encode_md(self.engine.l2(symbol, now, self.depth)))
        if subscription.ticker:
            out.append(encode_md(self.engine.ticker(symbol, now)))
        return out

    @staticmethod
    def _error(rid: int | None, code: int, message: str) -> bytes:
        return encode_md(MdReply(rid=rid, error=MdError(message=message, code=code)))


class MarketDataPublisher:
    """Turns the engine's changes into market-data frames, once for all subscribers.

    Book frames are sent only when the levels changed; tickers at most once per
    ``ticker_interval_ns`` per symbol (the venue throttles them to 1/s).
    """

    def __init__(self, engine: Engine, *, depth: int = 20, ticker_interval_ns: int = _NS) -> None:
        self.engine = engine
        self.depth = depth
        self.ticker_interval_ns = ticker_interval_ns
        self._last_l1: dict[str, tuple[object, object]] = {}
        self._last_l2: dict[str, tuple[object, object]] = {}
        self._last_ticker: dict[str, int] = {}
        self._pending_ticker: set[str] = set()

    def reset(self) -> None:
        """Forget what was last sent (after market data was switched off and on)."""
        self._last_l1.clear()
        self._last_l2.clear()
        self._pending_ticker.clear()

    def collect(self, now: int, wanted: Iterable[str]) -> dict[str, SymbolUpdate]:
        """Drain the engine's changes; frames only for the ``wanted`` symbols."""
        trades, dirty = self.engine.take_market_data()
        wanted_set = set(wanted)
        updates: dict[str, SymbolUpdate] = {}
        for trade in trades:
            if trade.symbol in wanted_set:
                update = updates.setdefault(trade.symbol, SymbolUpdate())
                if update.trades is None:
                    update.trades = []
                update.trades.append(encode_md(trade))
        for symbol in dirty:
            if symbol not in wanted_set:
                # Forget what was last sent, so a later subscriber never misses a change.
                self._last_l1.pop(symbol, None)
                self._last_l2.pop(symbol, None)
                continue
            self._pending_ticker.add(symbol)
            update = updates.setdefault(symbol, SymbolUpdate())
            l1 = self.engine.l1(symbol, now)
            key1 = (l1.bids, l1.asks)
            if self._last_l1.get(symbol) != key1:
                self._last_l1[symbol] = key1
                update.l1 = encode_md(l1)
            l2 = self.engine.l2(symbol, now, self.depth)
            key2 = (l2.bids, l2.asks)
            if self._last_l2.get(symbol) != key2:
                self._last_l2[symbol] = key2
                update.l2 = encode_md(l2)
        for symbol in list(self._pending_ticker):
            if symbol not in wanted_set:
                self._pending_ticker.discard(symbol)
                continue
            if now - self._last_ticker.get(symbol, -self.ticker_interval_ns) >= (
                self.ticker_interval_ns
            ):
                self._pending_ticker.discard(symbol)
                self._last_ticker[symbol] = now
                updates.setdefault(symbol, SymbolUpdate()).ticker = encode_md(
                    self.engine.ticker(symbol, now)
                )
        return updates
