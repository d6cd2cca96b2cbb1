"""The hostile profile's venue side, sans I/O: the liberties a venue may take within the protocol.

:class:`VenueLiberties` shapes the engine's events into frames the way a hostile (but
protocol-abiding) venue may send them: held back, reordered, duplicated, with replaced orders
that start afresh, and with orders of the account's other sessions. Each frame is an
:class:`Outbound` that names the orders it concerns (``keys``), so that the server never lets
an order's later frame overtake an earlier one; a :data:`BARRIER` key makes a frame wait for
every held frame of its connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Final, Protocol

import msgspec

from axorders.model import Side
from axorders.sim.engine import Engine, Events
from axorders.wire.orders import (
    AcknowledgedMsg,
    CancelRejectedMsg,
    OrderBody,
    PlaceRequest,
    ReplacedMsg,
    ResultBody,
    encode,
)

__all__ = [
    "BARRIER",
    "NOT_YET_ACKNOWLEDGED",
    "UNKNOWN_REQUEST",
    "LibertyGate",
    "Outbound",
    "VenueLiberties",
    "event_keys",
]

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
    """The draws and counters of the hostile profile: the venue's
    (:class:`~axorders.sim.faults.Hostile`) or one session's
    (:class:`~axorders.sim.faults.SessionGate`)."""

    @property
    def on(self) -> dict[str, bool]: ...

    @property
    def active(self) -> bool: ...

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

    The draws come from the gate of the session whose request is served (``gate``
    arguments), or from the venue's own gate for events no session asked for. Per-event
    liberties are taken only for events of an account with a connected session
    (:attr:`connected`): what nobody receives changes nothing and is not counted.

    Args:
        engine: the shared engine.
        gate: the switches, rates, counters and the venue's own draws.
    """

    def __init__(self, engine: Engine, gate: LibertyGate) -> None:
        self.engine = engine
        self.gate = gate
        self.connected: Callable[[str], bool] = lambda account: True
        """Whether an account has a connected orders session (the gateway sets it)."""
        self.fresh: dict[str, int] = {}
        """Venue order id → the filled quantity its WS view leaves out (fresh replaces)."""
        self._unacked: dict[tuple[str, str], int] = {}  # (account, key) → deadline (ns)
        self._foreign: list[tuple[int, str, str]] = []  # (deadline ns, account, oid)

    @property
    def engaged(self) -> bool:
        """Whether anything here can change a frame (a liberty is on, or one taken lasts)."""
        return self.gate.active or bool(self.fresh) or bool(self._unacked)

    # -- events -------------------------------------------------------------------------------

    def frames(
        self, events: Events, now: int, gate: LibertyGate | None = None
    ) -> list[Outbound]:
        """Engine events as frames, with the liberties applied (drawn from ``gate``, default
        the venue's); events of accounts without a connected session take none."""
        gate = gate or self.gate
        connected = self.connected
        out: list[Outbound] = []
        for account, event in events:
            keys = event_keys(event)
            if not connected(account):
                out.append(Outbound(account, encode(self.shape_event(event, None)), 0.0, keys))
                continue
            shaped = self.shape_event(event, gate)
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

    def shape_event(
        self, event: msgspec.Struct, gate: LibertyGate | None = None
    ) -> msgspec.Struct:
        """The event as a fresh-replace venue shows it (``gate`` None: take no new liberty)."""
        fresh = self.fresh
        if isinstance(event, ReplacedMsg):
            new = event.new_order
            if new is not None:
                old_fresh = event.old_order.venue_order_id in fresh
                if new.filled_quantity > 0 and (
                    old_fresh or (gate is not None and gate.take("fresh_replace"))
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

    def foreign_place(
        self, account: str, request: PlaceRequest, now: int, gate: LibertyGate | None = None
    ) -> Events:
        """Maybe place an order of another session (``cid`` ≥ 2^63) beside ``request``."""
        gate = gate or self.gate
        if not gate.take("foreign_cid"):
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
            cid=gate.random_cid(),
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

