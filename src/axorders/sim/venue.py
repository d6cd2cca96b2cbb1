"""The venue side of one WebSocket connection, sans I/O (the mirror of ``session.py``).

:class:`VenueSession` serves ``/orders/ws``: it turns request frames into engine commands and
the engine's replies into frames (the market-data side is in :mod:`axorders.sim.mdsession`,
the hostile profile's shaping in :mod:`axorders.sim.liberties`). It reads no clock and touches
no socket: frames come in as bytes with ``now`` and go out as
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

from typing import Final

from axorders.sim.engine import Engine, Events, Reply
from axorders.sim.liberties import (
    BARRIER,
    NOT_YET_ACKNOWLEDGED,
    UNKNOWN_REQUEST,
    LibertyGate,
    Outbound,
    VenueLiberties,
    event_keys,
)
from axorders.sim.mdsession import (
    MarketDataPublisher,
    MarketDataSession,
    Subscription,
    SymbolUpdate,
    md_heartbeat_frame,
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
    "event_keys",
    "heartbeat_frame",
    "keepalive_frame",
    "md_heartbeat_frame",
]

_NS: Final = 1_000_000_000


def heartbeat_frame(now: int) -> bytes:
    """``{"t":"h","ts":...,"tn":...}``."""
    return encode(HeartbeatMsg(now // _NS, now % _NS))


def keepalive_frame() -> bytes:
    """The undocumented ``{"t":"pu"}``."""
    return encode(KeepAliveMsg())


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
        gate: this session's own draws (:meth:`~axorders.sim.faults.Hostile.session`;
            None: the venue's, ``liberties.gate``).

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
        gate: LibertyGate | None = None,
    ) -> None:
        self.liberties = liberties
        self.gate = gate
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
        gate = (self.gate or liberties.gate) if liberties is not None else None
        reply: Reply
        extra: Events = []
        snapshot = False
        if isinstance(request, PlaceRequest):
            if gate is not None and gate.take("lost_500"):
                # An honest internal error: nothing was placed, and the answer says no more.
                return self._error(request.request_id, 500, "internal error")
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
                extra = liberties.foreign_place(account, request, now, gate)
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
        out = liberties.frames(events, now, gate)
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
        gate = self.gate or self.liberties.gate
        out = [Outbound(None, encode_error(request_id, 500, "internal error"))]
        for item in self.liberties.frames(events, now, gate):
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


