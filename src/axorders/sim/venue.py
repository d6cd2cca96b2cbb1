"""The venue side of one WebSocket connection, sans I/O (the mirror of ``session.py``).

:class:`VenueSession` serves ``/orders/ws``: it turns request frames into engine commands and
the engine's replies into frames. :class:`MarketDataSession` serves ``/md/ws``
subscriptions, and :class:`MarketDataPublisher` turns engine changes into market-data frames.
Neither reads a clock nor touches a socket: frames come in as bytes with ``now`` and go out as
bytes, and the server does the sending.

Every output of :meth:`VenueSession.receive` is an :class:`Outbound`: ``target`` None means
"this connection" (the response), an account id means "every connection of that account"
(events). They are listed in the order they must be sent: the response first, then the events
(SPEC Q2), unless the hostile profile says otherwise (:class:`VenueLiberties`: an
:class:`Outbound` may then ask to be held back, and names the orders it concerns so that the
server never lets an order's later frame overtake an earlier one). Events reach every session
of the user, including the one that sent the request, and events of REST-initiated actions
reach them too (SPEC Q1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

import msgspec

from axorders.model import Side
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
    AcknowledgedMsg,
    BadRequest,
    CancelAllRequest,
    CancelRejectedMsg,
    CancelRequest,
    HeartbeatMsg,
    KeepAliveMsg,
    LoginResult,
    OpenOrdersRequest,
    OrderBody,
    PlaceRequest,
    ReplacedMsg,
    ReplaceRequest,
    ResultBody,
    StatusRequest,
    decode_client_frame,
    encode,
    encode_error,
    encode_login,
    encode_result,
)

__all__ = [
    "BARRIER",
    "LibertyGate",
    "MarketDataPublisher",
    "MarketDataSession",
    "Outbound",
    "Subscription",
    "SymbolUpdate",
    "VenueLiberties",
    "VenueSession",
    "event_frames",
    "heartbeat_frame",
    "keepalive_frame",
    "md_heartbeat_frame",
]

_NS: Final = 1_000_000_000
_LEVELS: Final = frozenset({"LEVEL_1", "LEVEL_2", "LEVEL_3", "TRADES"})


BARRIER: Final = "*"
"""An :attr:`Outbound.keys` entry: the frame waits for every held frame of its connection."""

UNKNOWN_REQUEST: Final = "unknown request type"
NOT_YET_ACKNOWLEDGED: Final = "order not yet acknowledged by exchange; retry shortly"
_FOREIGN_TICKS: Final = 50
_FOREIGN_LIFE_NS: Final = 300_000_000


class Outbound:
    """One frame to send: to this connection (``target`` None) or to an account's sessions.

    ``hold`` asks the server to send it that many seconds late (0: at once); ``keys`` name
    the orders it concerns (``oid``, ``c:<cid>``, or :data:`BARRIER`): a frame never overtakes
    a held frame of its connection that shares a key with it. It unpacks as the pair
    ``target, frame``.
    """

    __slots__ = ("frame", "hold", "keys", "target")

    def __init__(
        self, target: str | None, frame: bytes, hold: float = 0.0, keys: tuple[str, ...] = ()
    ) -> None:
        self.target = target
        self.frame = frame
        self.hold = hold
        self.keys = keys

    def __iter__(self) -> Iterator[str | bytes | None]:
        yield self.target
        yield self.frame

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outbound):
            return NotImplemented
        return (self.target, self.frame, self.hold, self.keys) == (
            other.target,
            other.frame,
            other.hold,
            other.keys,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Outbound({self.target!r}, {self.frame!r}, hold={self.hold}, keys={self.keys})"

    def held(self, hold: float) -> Outbound:
        """The same frame with another hold."""
        return Outbound(self.target, self.frame, hold, self.keys)


class LibertyGate(Protocol):
    """The draws and counters of the hostile profile (:class:`~axorders.sim.faults.Hostile`)."""

    on: dict[str, bool]
    active: bool

    def take(self, liberty: str, *, count: bool = True) -> bool: ...

    def count(self, liberty: str, n: int = 1) -> None: ...

    def hold(self, scale: float = 1.0) -> float: ...

    def random_cid(self) -> int: ...


def _order_keys(order: OrderBody, into: list[str]) -> None:
    into.append(order.venue_order_id)
    if order.cid is not None:
        into.append(f"c:{order.cid}")


def event_keys(event: object) -> tuple[str, ...]:
    """The orders an engine event concerns (see :attr:`Outbound.keys`)."""
    keys: list[str] = []
    order = getattr(event, "order", None)
    if isinstance(order, OrderBody):
        _order_keys(order, keys)
    if isinstance(event, ReplacedMsg):
        _order_keys(event.old_order, keys)
        if event.new_order is not None:
            _order_keys(event.new_order, keys)
    elif isinstance(event, CancelRejectedMsg):
        if event.venue_order_id is not None:
            keys.append(event.venue_order_id)
        if event.cid is not None:
            keys.append(f"c:{event.cid}")
    return tuple(keys)


class VenueLiberties:
    """The venue's side of the hostile profile, shared by every session (sans I/O).

    It shapes events (a fresh start after a replace, holds for delayed, reordered and
    unacknowledged events), answers cancels of orders whose ``n`` is still held with 409, and
    places and retires the orders of the account's "other sessions" (``cid`` ≥ 2^63).

    Args:
        engine: the shared engine.
        gate: the switches, rates, draws and counters.
    """

    def __init__(self, engine: Engine, gate: LibertyGate) -> None:
        self.engine = engine
        self.gate = gate
        self.fresh: dict[str, int] = {}
        """Venue order id → the filled quantity its WS view leaves out (fresh replaces)."""
        self._unacked: dict[tuple[str, str], int] = {}  # (account, key) → deadline (ns)
        self._foreign: list[tuple[int, str, str]] = []  # (deadline ns, account, oid)

    @property
    def engaged(self) -> bool:
        """Whether anything here can change a frame (a liberty is on, or one taken lasts)."""
        return self.gate.active or bool(self.fresh) or bool(self._unacked)

    # -- events -------------------------------------------------------------------------------

    def frames(self, events: Events, now: int) -> list[Outbound]:
        """Engine events as frames, with the liberties applied."""
        gate = self.gate
        out: list[Outbound] = []
        for account, event in events:
            shaped = self.shape_event(event)
            keys = event_keys(event)
            hold = 0.0
            if (
                isinstance(event, AcknowledgedMsg)
                and gate.on["cancel_409"]
                and gate.take("cancel_409", count=False)
            ):
                hold = gate.hold()
                self._hold_ack(account, keys, now + int(hold * 1e9))
            if not hold:
                if gate.take("delay"):
                    hold = gate.hold()
                elif gate.take("reorder"):
                    hold = gate.hold(0.1)
            out.append(Outbound(account, encode(shaped), hold, keys))
        return out

    def shape_event(self, event: msgspec.Struct) -> msgspec.Struct:
        """The event as a fresh-replace venue shows it."""
        fresh = self.fresh
        if isinstance(event, ReplacedMsg):
            new = event.new_order
            if new is not None:
                old_fresh = event.old_order.venue_order_id in fresh
                if new.filled_quantity > 0 and (
                    old_fresh or self.gate.take("fresh_replace")
                ):
                    fresh[new.venue_order_id] = new.filled_quantity
            if not fresh:
                return event
            return msgspec.structs.replace(
                event,
                old_order=self.shape_order(event.old_order),
                new_order=None if new is None else self.shape_order(new),
            )
        if not fresh:
            return event
        order = getattr(event, "order", None)
        if isinstance(order, OrderBody) and order.venue_order_id in fresh:
            return msgspec.structs.replace(event, order=self.shape_order(order))
        return event

    def shape_order(self, order: OrderBody) -> OrderBody:
        base = self.fresh.get(order.venue_order_id)
        if not base:
            return order
        filled = order.filled_quantity - base
        status = order.status
        if status == "PARTIALLY_FILLED" and filled == 0:
            status = "ACCEPTED"
        return msgspec.structs.replace(
            order, quantity=order.quantity - base, filled_quantity=filled, status=status
        )

    def shape_result(self, result: ResultBody) -> ResultBody:
        """Open-orders and status replies as a fresh-replace venue shows them."""
        if not self.fresh:
            return result
        if result.orders is not None:
            return msgspec.structs.replace(
                result, orders=[self.shape_order(o) for o in result.orders]
            )
        status = result.status
        if status is not None and status.order_id in self.fresh:
            filled = status.filled_quantity - self.fresh[status.order_id]
            state = "ACCEPTED" if status.state == "PARTIALLY_FILLED" and not filled else None
            shaped = msgspec.structs.replace(
                status, filled_quantity=filled, state=state or status.state
            )
            return msgspec.structs.replace(result, status=shaped)
        return result

    def engine_quantity(self, venue_order_id: str, quantity: int | None) -> int | None:
        """A replace's quantity in the engine's (carried) terms."""
        if quantity is None:
            return None
        return quantity + self.fresh.get(venue_order_id, 0)

    # -- cancel before the ack ----------------------------------------------------------------

    def _hold_ack(self, account: str, keys: tuple[str, ...], deadline: int) -> None:
        unacked = self._unacked
        if len(unacked) > 4096:
            now = deadline  # anything due before this hold's end is gone by then
            for stale in [k for k, d in unacked.items() if d < now - 1_000_000_000]:
                del unacked[stale]
        for key in keys:
            unacked[(account, key)] = deadline

    def refuses_cancel(
        self, account: str, venue_order_id: str | None, cid: int | None, now: int
    ) -> bool:
        """Whether a cancel arrives before the order's ``n`` left (then it gets 409)."""
        if not self._unacked:
            return False
        keys = []
        if venue_order_id is not None:
            keys.append(venue_order_id)
        if cid is not None:
            keys.append(f"c:{cid}")
        for key in keys:
            deadline = self._unacked.get((account, key))
            if deadline is not None:
                if deadline > now:
                    self.gate.count("cancel_409")
                    return True
                del self._unacked[(account, key)]
        return False

    # -- the account's other sessions ---------------------------------------------------------

    def foreign_place(self, account: str, request: PlaceRequest, now: int) -> Events:
        """Maybe place an order of another session (``cid`` ≥ 2^63) beside ``request``."""
        if not self.gate.take("foreign_cid"):
            return []
        instrument = self.engine.instrument(request.symbol)
        if instrument is None:
            return []
        step = instrument.tick_size * _FOREIGN_TICKS
        price = request.price - step if request.side is Side.BUY else request.price + step
        if price <= 0:
            price = Decimal(instrument.tick_size)
        reply = self.engine.place(
            account,
            request.symbol,
            request.side,
            instrument.minimum_order_size,
            price,
            now=now,
            time_in_force="GTC",
            post_only=True,
            cid=self.gate.random_cid(),
        )
        result = reply.result
        if reply.error is None and result is not None and result.venue_order_id is not None:
            self._foreign.append((now + _FOREIGN_LIFE_NS, account, result.venue_order_id))
        return reply.events

    def retire_foreign(self, now: int) -> Events:
        """Cancel the other sessions' orders whose time is up."""
        foreign = self._foreign
        if not foreign or foreign[0][0] > now:
            return []
        events: Events = []
        while foreign and foreign[0][0] <= now:
            _, account, oid = foreign.pop(0)
            reply = self.engine.cancel(account, now, venue_order_id=oid)
            if reply.error is None:
                events.extend(reply.events)
        return events


def heartbeat_frame(now: int) -> bytes:
    """``{"t":"h","ts":...,"tn":...}``."""
    return encode(HeartbeatMsg(now // _NS, now % _NS))


def keepalive_frame() -> bytes:
    """The undocumented ``{"t":"pu"}``."""
    return encode(KeepAliveMsg())


def md_heartbeat_frame(now: int) -> bytes:
    return encode_md(MdHeartbeatMsg(now // _NS, now % _NS))


def event_frames(
    events: Events, liberties: VenueLiberties | None = None, now: int = 0
) -> list[Outbound]:
    """Engine events as frames addressed to their accounts (with the liberties, if any)."""
    if liberties is not None:
        return liberties.frames(events, now)
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
        liberties: the hostile profile's venue side (None: a kind venue).

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
        liberties: VenueLiberties | None = None,
    ) -> None:
        self.liberties = liberties
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
        if orders and self.liberties is not None and self.liberties.fresh:
            orders = [self.liberties.shape_order(o) for o in orders]
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
        liberties = self.liberties
        if liberties is not None and not liberties.engaged:
            liberties = None
        gate = liberties.gate if liberties is not None else None
        reply: Reply
        extra: Events = []
        snapshot = False
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
            if liberties is not None and reply.error is None:
                extra = liberties.foreign_place(account, request, now)
                if gate is not None and gate.take("late_accept"):
                    return self._late_accept(request.request_id, reply.events + extra, now)
        elif isinstance(request, CancelRequest):
            if request.venue_order_id is None and request.cid is None:
                return self._error(request.request_id, 400, "cancel needs oid or cid")
            if request.account_id is not None and request.account_id != account:
                # Another account's namespace: nothing of this user's can match.
                reply = engine.refuse_cancel(
                    account, now, venue_order_id=request.venue_order_id, cid=request.cid
                )
            elif liberties is not None and liberties.refuses_cancel(
                account, request.venue_order_id, request.cid, now
            ):
                return self._error(request.request_id, 409, NOT_YET_ACKNOWLEDGED)
            else:
                reply = engine.cancel(
                    account, now, venue_order_id=request.venue_order_id, cid=request.cid
                )
        elif isinstance(request, CancelAllRequest):
            if gate is not None and gate.take("unknown_requests"):
                return self._error(request.request_id, 400, UNKNOWN_REQUEST)
            reply = engine.cancel_all(account, now, symbol=request.symbol)
        elif isinstance(request, OpenOrdersRequest):
            reply = engine.open_orders_reply(account)
            snapshot = True
        elif isinstance(request, ReplaceRequest):
            quantity = request.quantity
            if liberties is not None:
                quantity = liberties.engine_quantity(request.venue_order_id, quantity)
            reply = engine.replace(
                account,
                request.venue_order_id,
                now,
                price=request.price,
                quantity=quantity,
                time_in_force=request.time_in_force,
                post_only=request.post_only,
            )
        elif isinstance(request, StatusRequest):
            if request.venue_order_id is None and request.cid is None:
                return self._error(request.request_id, 400, "status needs oid or cid")
            if gate is not None and gate.take("unknown_requests"):
                return self._error(request.request_id, 400, UNKNOWN_REQUEST)
            reply = engine.status_reply(
                account, venue_order_id=request.venue_order_id, cid=request.cid
            )
            snapshot = True
        else:
            assert isinstance(request, BadRequest)
            return self._error(request.request_id, 400, request.message)
        rid = request.request_id
        if reply.error is not None:
            frame = encode_error(rid, reply.error.code, reply.error.message or "")
        else:
            assert reply.result is not None
            result = reply.result
            if liberties is not None:
                result = liberties.shape_result(result)
            frame = encode_result(rid, result)
        events = reply.events + extra if extra else reply.events
        if liberties is None:
            first = Outbound(None, frame)
            if not events:
                return [first]
            return [first, *(Outbound(acct, encode(event)) for acct, event in events)]
        if snapshot:
            keys: tuple[str, ...] = (BARRIER,)
        elif reply.error is None and isinstance(request, (CancelRequest, ReplaceRequest)):
            # Never ahead of the held events of the order it names.
            named = [request.venue_order_id] if request.venue_order_id else []
            cid = getattr(request, "cid", None)
            keys = (*named, f"c:{cid}") if cid is not None else tuple(named)
        else:
            keys = ()
        first = Outbound(None, frame, 0.0, keys)
        out = liberties.frames(events, now)
        if (
            out
            and isinstance(request, (PlaceRequest, ReplaceRequest))
            and gate is not None
            and gate.take("events_first")
        ):
            # The events go first; the reply follows them, late.
            keys = tuple({key for item in out for key in item.keys})
            return [*out, Outbound(None, frame, gate.hold(), keys)]
        return [first, *out]

    def _late_accept(self, request_id: int, events: Events, now: int) -> list[Outbound]:
        """``err`` 500 for a place that the venue carries out anyway: its events follow, late."""
        assert self.liberties is not None
        gate = self.liberties.gate
        out = [Outbound(None, encode_error(request_id, 500, "internal error"))]
        for item in self.liberties.frames(events, now):
            out.append(item.held(max(item.hold, gate.hold())))
        return out

    def connection_lost(self, now: int) -> list[Outbound]:
        """Cancel-on-disconnect: cancel the orders placed through this connection."""
        if not self.cancel_on_disconnect:
            return []
        events = self.engine.cancel_origin(self.account_id, self.connection_id, now)
        liberties = self.liberties
        return event_frames(events, liberties if liberties and liberties.engaged else None, now)

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
