"""OrdersSession: the sans-I/O heart of axorders.

Commands go in (:meth:`OrdersSession.send`), frames come out (:meth:`frames_to_send`); frames
go in (:meth:`receive`), typed events come out (:meth:`events_received`). The session never
awaits, sleeps, reads a clock or touches a socket: every call takes ``now`` (Unix ns).

See ``docs/ARCHITECTURE.md`` for the contract, the resync and the journal seam.
"""

from __future__ import annotations

import decimal
import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import msgspec

from axorders import events as ev
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    QueryOpenOrders,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.exceptions import (
    DuplicateOrderError,
    InvalidOrderError,
    InvalidStateError,
    RemoteProtocolError,
    UnknownInstrumentError,
    UnknownOrderError,
)
from axorders.model import (
    Instrument,
    LiquiditySide,
    OrderStatus,
    OrderType,
    RequestId,
    Side,
    TimeInForce,
    TriggerSource,
    cid_for,
)
from axorders.state import OrderRecord
from axorders.wire import orders as w
from axorders.wire.rest import FillInfo, parse_rfc3339_ns

__all__ = ["FillsWanted", "OrdersSession", "RestCancelAll", "RestStatusQuery", "SessionStats"]

NS: Final = 1_000_000_000
MAX_REQUEST_ID: Final = 2**31 - 1
CANCEL_RETRY_NS: Final = 50_000_000
"""Wait before re-sending a cancel the venue answered 409 (not yet acknowledged)."""
MAX_CANCEL_RETRIES: Final = 20
FILL_WINDOW_MARGIN_NS: Final = 5 * NS
"""How far before the last known fill a REST fills window starts."""
UNSUPPORTED_CODES: Final = frozenset({400, 405, 501})
"""``err`` codes to a WS status (``s``) or cancel-all (``X``) request that mean the venue does not
know the request: that kind goes over REST from then on. (For ``s``, 404 still means "no such
order".)"""

_K = ev.RequestKind
_S = OrderStatus
_WIDE: Final = decimal.Context(prec=100)  # quantizing a price to its tick never rounds here
_TAG_MAX = 10


@dataclass(frozen=True, slots=True)
class FillsWanted:
    """Fills the session knows it missed: fetch REST ``/fills`` from ``start_ns``.

    Pass what comes back to :meth:`OrdersSession.receive_fills`.
    """

    start_ns: int
    client_order_ids: tuple[str, ...]
    missing_qty: int


@dataclass(frozen=True, slots=True)
class RestStatusQuery:
    """A status query to make over REST (``GET order-status``), by venue id or else by ``cid``.

    Feed the answer to :meth:`OrdersSession.receive_rest_status` with the same request id.
    """

    request_id: int
    venue_order_id: str | None
    cid: int | None


@dataclass(frozen=True, slots=True)
class RestCancelAll:
    """A cancel-all to make over REST (``POST cancel-all-orders``).

    Report the outcome with :meth:`OrdersSession.receive_rest_cancel_all`.
    """

    request_id: int
    symbol: str | None


class SessionStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters, for monitoring and benchmarks."""

    frames_in: int
    frames_out: int
    events_out: int
    live_orders: int
    armed_orders: int
    recent_orders: int
    pending_requests: int
    unknown_messages: int
    malformed_messages: int
    duplicates_dropped: int
    timeouts: int
    resyncs: int
    corrections: int = 0  # local verdicts undone by venue evidence (OrderStateCorrected)
    inconsistent: int = 0  # frames naming an order that could not be applied as they were
    status_queued: int = 0  # the session's status queries waiting for a free slot
    external_orders: int = 0  # live orders adopted from the venue (unknown or external)
    externals_dropped: int = 0  # unknown orders not adopted because the bound was reached


class _Request:
    """One request sent (or waiting to be sent) to the venue."""

    __slots__ = (
        "cid",
        "client_order_id",
        "deadline",
        "frame",
        "internal",
        "interrupted",
        "kind",
        "refused",
        "retries",
        "retry_at",
        "rid",
        "symbol",
        "venue_order_id",
    )

    def __init__(
        self,
        rid: int,
        kind: ev.RequestKind,
        deadline: int,
        client_order_id: str | None = None,
        *,
        internal: bool = False,
    ) -> None:
        self.rid = rid
        self.kind = kind
        self.deadline = deadline
        self.client_order_id = client_order_id
        self.internal = internal  # the session's own query: no RequestResolved
        self.interrupted = False  # in flight when the connection dropped
        self.frame: bytes | None = None  # set while the frame waits for a venue order id
        self.refused: tuple[str, ...] = ()  # REPLACE: new venue ids already rejected (`j`)
        self.retries = 0
        self.retry_at = 0
        self.venue_order_id: str | None = None  # the id the request was about
        # PLACE: None; CANCEL/REPLACE: the order's id when sent; STATUS: the queried id
        self.cid: int | None = None  # STATUS by cid: the queried cid
        self.symbol: str | None = None  # CANCEL_ALL: its symbol


class _Deferred:
    """A cancel or replace waiting for its order's venue id."""

    __slots__ = ("build", "request")

    def __init__(self, request: _Request, build: Callable[[str], bytes]) -> None:
        self.request = request
        self.build = build


class _Resync:
    """Bookkeeping of one reconciliation with the venue."""

    __slots__ = (
        "again",
        "changed",
        "checked",
        "external",
        "fills",
        "interrupted",
        "open_rid",
        "queries",
        "resolved",
    )

    def __init__(self, interrupted: list[_Request]) -> None:
        self.interrupted = interrupted
        self.queries: set[int] = set()
        self.open_rid = 0  # its open-orders query, while unanswered
        self.again = False  # a trigger came after that answer: compare once more at the end
        self.checked = 0
        self.changed = 0
        self.external = 0
        self.fills = 0
        self.resolved = 0


class OrdersSession:
    """Order state and protocol logic for one AX account, without I/O.

    Args:
        account_id: stamped on every order event (the venue's account id).
        trader_id: stamped on every order event.
        strategy_id: default strategy id for orders that do not name one.
        instruments: the instrument cache to start with.
        request_timeout_ns: how long a request may wait for its answer.
        recent_capacity: how many ended orders are remembered to catch late and duplicate
            events (oldest forgotten first).
        trigger_source: which market price crosses STOP_LIMIT triggers.
        track_changes: collect changed records for :meth:`take_changed` (the journal).
        max_status_queries: how many of the session's own status queries may be in flight at
            once; the others wait in a queue (one entry per order) and go out as answers come.
        max_external_orders: how many live orders found on the venue (unknown or external) are
            tracked; beyond it they are counted (``SessionStats.externals_dropped``) and left.
    """

    def __init__(
        self,
        *,
        account_id: str,
        trader_id: str,
        strategy_id: str = "DEFAULT",
        instruments: Iterable[Instrument] = (),
        request_timeout_ns: int = 10 * NS,
        recent_capacity: int = 10_000,
        trigger_source: TriggerSource = TriggerSource.LAST_TRADE,
        track_changes: bool = False,
        max_status_queries: int = 16,
        max_external_orders: int = 10_000,
    ) -> None:
        if request_timeout_ns <= 0:
            raise ValueError("request_timeout_ns must be positive")
        if recent_capacity < 1:
            raise ValueError("recent_capacity must be at least 1")
        self.account_id = account_id
        self.trader_id = trader_id
        self.strategy_id = strategy_id
        self.request_timeout_ns = request_timeout_ns
        self.recent_capacity = recent_capacity
        self.trigger_source = trigger_source
        self.max_status_queries = max(1, max_status_queries)
        self.max_external_orders = max(0, max_external_orders)
        self._instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self._next_rid = 1
        self._out: list[bytes] = []
        self._events: list[ev.Event] = []
        self._pending: dict[int, _Request] = {}
        self._deadlines: list[tuple[int, int]] = []  # heap of (time, rid)
        self._deferred: dict[str, list[_Deferred]] = {}
        self._retries: dict[int, _Request] = {}  # cancels answered 409, to send again
        # Live orders, and the maps into them.
        self._orders: dict[str, OrderRecord] = {}
        self._by_cid: dict[int, str] = {}
        self._by_oid: dict[str, str] = {}
        self._armed: dict[str, list[str]] = {}  # symbol -> armed client order ids
        # Recently ended orders (insertion order = age), and their ids.
        self._recent: dict[str, OrderRecord] = {}
        self._recent_cid: dict[int, str] = {}
        self._recent_oid: dict[str, str] = {}
        # Fills known to be missing, and ends that wait for them.
        self._wanted: dict[str, int] = {}  # client order id -> venue's cumulative filled qty
        self._held_ends: dict[str, tuple[OrderStatus, str | None, str | None, int]] = {}
        self._last_price: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
        self._track_changes = track_changes
        self._changed: dict[str, OrderRecord] = {}
        self._connected = False
        self._logged_in = False
        self._resync: _Resync | None = None
        self._interrupted: list[_Request] = []
        self._frames_in = 0
        self._frames_out = 0
        self._events_out = 0
        self._unknown = 0
        self._malformed = 0
        self._duplicates = 0
        self._timeouts = 0
        self._resyncs = 0
        # Local verdicts (REJECTED by an err reply, LOST) that venue evidence may undo, by
        # client order id; kept as long as the ended record is remembered.
        self._verdicts: dict[str, str] = {}
        self._corrections = 0
        self._inconsistent = 0
        # Filled quantity carried from earlier venue orders that the current one's ``xq`` does
        # not count (a venue whose replacement starts fresh), by client order id.
        self._base: dict[str, int] = {}
        self._replace_rids: dict[str, list[int]] = {}  # client order id -> replace requests
        # The session's own status queries: in flight (client order id -> rid) and waiting.
        self._status_inflight: dict[str, int] = {}
        self._status_queue: deque[tuple[str, bool]] = deque()
        self._status_queued: set[str] = set()
        self._externals: set[str] = set()  # live adopted orders
        self._externals_dropped = 0
        # Request kinds the venue does not know over the WebSocket: done over REST instead.
        self._rest_status = False
        self._rest_cancel_all = False
        self._rest_status_wanted: dict[int, RestStatusQuery] = {}
        self._rest_cancel_all_wanted: dict[int, RestCancelAll] = {}
        self._via_rest = False  # an answer fed from REST is being handled
        self._handlers: dict[type[Any], Callable[[Any, int], None]] = {
            w.HeartbeatMsg: self._on_heartbeat,
            w.KeepAliveMsg: self._on_heartbeat,
            w.AcknowledgedMsg: self._on_ack,
            w.PartiallyFilledMsg: self._on_fill,
            w.FilledMsg: self._on_fill,
            w.CanceledMsg: self._on_canceled,
            w.RejectedMsg: self._on_rejected,
            w.ExpiredMsg: self._on_expired,
            w.DoneForDayMsg: self._on_expired,
            w.ReplacedMsg: self._on_replaced,
            w.CancelRejectedMsg: self._on_cancel_rejected,
            w.ResultReply: self._on_result,
            w.ErrorReply: self._on_error,
            w.UnknownFrame: self._on_unknown,
        }

    # -----------------------------------------------------------------------------------------
    # Instruments and inspection.

    def cache_instrument(self, instrument: Instrument) -> None:
        """Add or replace an instrument in the cache."""
        self._instruments[instrument.symbol] = instrument

    def instrument(self, symbol: str) -> Instrument:
        """The cached instrument, or :class:`UnknownInstrumentError`."""
        found = self._instruments.get(symbol)
        if found is None:
            raise UnknownInstrumentError(symbol)
        return found

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def is_resyncing(self) -> bool:
        return self._resync is not None

    def order(self, client_order_id: str) -> OrderRecord | None:
        """The record of a live or recently ended order."""
        rec = self._orders.get(client_order_id)
        return rec if rec is not None else self._recent.get(client_order_id)

    def order_by_venue_id(self, venue_order_id: str) -> OrderRecord | None:
        return self._find(venue_order_id, None)

    def orders(self, *, include_ended: bool = False) -> list[OrderRecord]:
        """Live orders (and the remembered ended ones with ``include_ended``)."""
        found = list(self._orders.values())
        if include_ended:
            found.extend(self._recent.values())
        return found

    def pending_request_ids(self) -> list[int]:
        return list(self._pending)

    def stats(self) -> SessionStats:
        return SessionStats(
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            events_out=self._events_out,
            live_orders=len(self._orders),
            armed_orders=sum(len(v) for v in self._armed.values()),
            recent_orders=len(self._recent),
            pending_requests=len(self._pending),
            unknown_messages=self._unknown,
            malformed_messages=self._malformed,
            duplicates_dropped=self._duplicates,
            timeouts=self._timeouts,
            resyncs=self._resyncs,
            corrections=self._corrections,
            inconsistent=self._inconsistent,
            status_queued=len(self._status_queue),
            external_orders=len(self._externals),
            externals_dropped=self._externals_dropped,
        )

    # -----------------------------------------------------------------------------------------
    # Output queues.

    def frames_to_send(self) -> list[bytes]:
        """Frames to write to the socket, in order; the queue is emptied."""
        out = self._out
        if out:
            self._out = []
            self._frames_out += len(out)
        return out

    def events_received(self) -> list[ev.Event]:
        """Events produced since the last call, in order; the queue is emptied."""
        out = self._events
        if out:
            self._events = []
            self._events_out += len(out)
        return out

    def take_changed(self) -> list[OrderRecord]:
        """Records changed since the last call (only with ``track_changes``)."""
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    def next_deadline(self) -> int | None:
        """The earliest time :meth:`tick` has work to do, or None."""
        heap = self._deadlines
        while heap and heap[0][1] not in self._pending:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -----------------------------------------------------------------------------------------
    # Connection lifecycle.

    def connection_made(self, now: int) -> None:
        """A socket is open; the venue's rid-0 login response comes next."""
        self._connected = True
        self._logged_in = False

    def connection_lost(self, now: int, reason: str = "connection lost") -> None:
        """The socket is gone. In-flight requests wait for the resync (or their deadline)."""
        if not self._connected:
            return
        self._connected = False
        self._logged_in = False
        self._out.clear()
        in_flight = [r for r in self._pending.values() if r.frame is None and not r.internal]
        for req in self._pending.values():
            if req.frame is None:
                req.interrupted = True
        # Internal queries of an unfinished resync die with the connection.
        for rid in [r.rid for r in self._pending.values() if r.internal]:
            del self._pending[rid]
        self._status_inflight.clear()
        self._status_queue.clear()
        self._status_queued.clear()
        if self._resync is not None:
            in_flight.extend(r for r in self._resync.interrupted if r.rid in self._pending)
            self._resync = None
        self._interrupted = list({r.rid: r for r in in_flight}.values())
        self._emit(ev.Disconnected(ts_init=now, reason=reason, in_flight=len(self._interrupted)))

    # -----------------------------------------------------------------------------------------
    # Commands.

    def send(self, command: Command, now: int) -> RequestId | None:
        """Validate ``command`` and queue its frame; return its request id.

        An armed STOP_LIMIT returns None (nothing is sent before its trigger).

        Raises:
            InvalidOrderError: the command failed local validation (nothing was sent).
            DuplicateOrderError: the client order id or its cid is already in use.
            UnknownOrderError: a cancel/replace/status names no known order.
            InvalidStateError: not connected.
        """
        if isinstance(command, PlaceOrder):
            return self._place(command, now)
        if isinstance(command, CancelOrder):
            return self._cancel(command, now)
        if isinstance(command, ReplaceOrder):
            return self._replace(command, now)
        self._require_connected()
        if isinstance(command, CancelAllOrders):
            return self._cancel_all(command, now)
        if isinstance(command, QueryOpenOrders):
            req = self._new_request(_K.OPEN_ORDERS, now)
            self._write(w.OpenOrdersRequest(request_id=req.rid))
            return RequestId(req.rid)
        if isinstance(command, QueryOrderStatus):
            return self._status(command, now)
        raise TypeError(f"not a command: {command!r}")

    def _require_connected(self) -> None:
        if not self._connected:
            raise InvalidStateError("not connected to the venue")

    def _place(self, cmd: PlaceOrder, now: int) -> RequestId | None:
        try:
            rec = self._validate_place(cmd, now)
        except InvalidOrderError as exc:
            self.reject(cmd, exc.reason, str(exc), now)
            raise
        if rec.order_type is OrderType.STOP_LIMIT:
            self._track(rec)
            self._armed.setdefault(rec.symbol, []).append(rec.client_order_id)
            self._changed_record(rec)
            last = self._last_price.get(rec.symbol)
            if last is not None and self._connected:
                self._check_trigger(rec, now, *last)
            return None
        self._require_connected()
        self._track(rec)
        self._changed_record(rec)  # journaled before its frame leaves
        return RequestId(self._send_place(rec, now))

    def _validate_place(self, cmd: PlaceOrder, now: int) -> OrderRecord:
        coid = cmd.client_order_id
        if not isinstance(coid, str) or not coid.strip():
            raise InvalidOrderError("client_order_id", "MISSING", "must be a non-empty string")
        inst = self.instrument(cmd.symbol)
        side = Side.parse(cmd.side)
        otype = OrderType.parse(cmd.order_type)
        tif = TimeInForce.parse(cmd.time_in_force)
        quantity = inst.check_quantity(cmd.quantity)
        if cmd.price is None:
            what = "an aggressive limit price" if otype is OrderType.MARKET else "a limit price"
            raise InvalidOrderError("price", "MISSING_PRICE", f"{otype.value} needs {what}")
        price = self._plain(inst.symbol, inst.check_price(cmd.price))
        trigger: Decimal | None = None
        if otype is OrderType.STOP_LIMIT:
            if cmd.trigger_price is None:
                raise InvalidOrderError(
                    "trigger_price", "MISSING_TRIGGER", "STOP_LIMIT needs a trigger price"
                )
            trigger = self._plain(inst.symbol, inst.check_price(cmd.trigger_price, "trigger_price"))
        elif cmd.trigger_price is not None:
            raise InvalidOrderError(
                "trigger_price", "UNEXPECTED_TRIGGER", f"{otype.value} takes no trigger price"
            )
        if otype is OrderType.MARKET:
            if cmd.post_only:
                raise InvalidOrderError(
                    "post_only", "POST_ONLY_MARKET", "a MARKET order cannot be post-only"
                )
            tif = TimeInForce.IOC
        elif otype is OrderType.STOP_LIMIT and cmd.post_only:
            raise InvalidOrderError(
                "post_only", "POST_ONLY_STOP", "a STOP_LIMIT order cannot be post-only"
            )
        tag = cmd.tag
        if tag is not None and (not tag.isalnum() or not tag.isascii() or len(tag) > _TAG_MAX):
            raise InvalidOrderError("tag", "INVALID_TAG", "at most 10 ASCII letters or digits")
        if coid in self._orders or coid in self._recent:
            raise DuplicateOrderError(f"client order id {coid!r} is already in use")
        cid = cid_for(coid)
        other = self._by_cid.get(cid)
        if other is not None:
            raise DuplicateOrderError(
                f"client order id {coid!r} maps to cid {cid}, already used by live order {other!r}"
            )
        return OrderRecord(
            client_order_id=coid,
            cid=cid,
            symbol=inst.symbol,
            side=side,
            order_type=otype,
            quantity=quantity,
            price=price,
            trigger_price=trigger,
            time_in_force=tif,
            post_only=bool(cmd.post_only),
            tag=tag,
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=cmd.strategy_id or self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.ARMED if otype is OrderType.STOP_LIMIT else _S.PENDING,
        )

    def reject(self, cmd: PlaceOrder, reason: str, text: str, now: int) -> None:
        """Reject an order locally (nothing is sent): emits OrderRejected, origin LOCAL."""
        self._emit(
            ev.OrderRejected(
                ts_init=now,
                client_order_id=str(cmd.client_order_id),
                venue_order_id=None,
                account_id=self.account_id,
                trader_id=self.trader_id,
                strategy_id=cmd.strategy_id or self.strategy_id,
                symbol=str(cmd.symbol),
                ts_event=now,
                reason=reason,
                text=text,
                origin=ev.RejectOrigin.LOCAL,
            )
        )

    def _send_place(self, rec: OrderRecord, now: int) -> int:
        req = self._new_request(_K.PLACE, now, rec.client_order_id)
        rec.place_request_id = req.rid
        assert rec.price is not None
        self._write(
            w.PlaceRequest(
                request_id=req.rid,
                symbol=rec.symbol,
                side=rec.side,
                quantity=rec.quantity,
                price=self._plain(rec.symbol, rec.price),
                time_in_force=rec.time_in_force.value,
                post_only=rec.post_only,
                tag=rec.tag,
                cid=rec.cid,
            )
        )
        return req.rid

    def _cancel(self, cmd: CancelOrder, now: int) -> RequestId:
        rec = self._resolve(cmd.client_order_id, cmd.venue_order_id)
        if rec.is_terminal or rec.status is _S.ARMED:
            req = self._new_request(_K.CANCEL, now, rec.client_order_id)
            if rec.status is _S.ARMED:
                self._disarm(rec)
                self._end(rec, _S.CANCELED, now, now, "USER_REQUESTED", "canceled before trigger")
                self._resolve_request(req, ev.RequestOutcome.LOCAL, now, "canceled locally")
            else:
                self._refuse(req, rec, now)
            return RequestId(req.rid)
        self._require_connected()
        req = self._new_request(_K.CANCEL, now, rec.client_order_id)

        def build(oid: str) -> bytes:
            req.venue_order_id = oid
            return w.encode(w.CancelRequest(request_id=req.rid, venue_order_id=oid))

        self._send_or_defer(rec, req, build)
        return RequestId(req.rid)

    def _replace(self, cmd: ReplaceOrder, now: int) -> RequestId:
        rec = self._resolve(cmd.client_order_id, cmd.venue_order_id)
        inst = self.instrument(rec.symbol)
        if cmd.price is None and cmd.quantity is None:
            raise InvalidOrderError("price", "NOTHING_TO_REPLACE", "give a new price or quantity")
        price = None
        if cmd.price is not None:
            price = self._plain(inst.symbol, inst.check_price(cmd.price))
        quantity = inst.check_quantity(cmd.quantity) if cmd.quantity is not None else None
        if quantity is not None and quantity <= rec.filled_qty:
            raise InvalidOrderError(
                "quantity",
                "BELOW_FILLED",
                f"{quantity} must exceed the {rec.filled_qty} contracts already filled",
            )
        req = self._new_request(_K.REPLACE, now, rec.client_order_id)
        if rec.is_terminal:
            self._refuse(req, rec, now)
            return RequestId(req.rid)
        if rec.status is _S.ARMED:
            old_price = rec.price
            rec.price = price if price is not None else old_price
            rec.quantity = quantity if quantity is not None else rec.quantity
            self._changed_record(rec)
            self._emit_replaced(rec, "", now, now)
            self._resolve_request(req, ev.RequestOutcome.LOCAL, now, "armed stop amended")
            return RequestId(req.rid)
        if not self._connected:
            del self._pending[req.rid]
            self._require_connected()

        def build(oid: str) -> bytes:
            req.venue_order_id = oid
            return w.encode(
                w.ReplaceRequest(
                    request_id=req.rid, venue_order_id=oid, price=price, quantity=quantity
                )
            )

        rids = self._replace_rids.setdefault(rec.client_order_id, [])
        if rids:
            rids[:] = [rid for rid in rids if rid in self._pending]  # answered ones go
        rids.append(req.rid)
        self._send_or_defer(rec, req, build)
        return RequestId(req.rid)

    def _cancel_all(self, cmd: CancelAllOrders, now: int) -> RequestId:
        if cmd.symbol is not None:
            self.instrument(cmd.symbol)
        for symbol in [cmd.symbol] if cmd.symbol is not None else list(self._armed):
            for coid in list(self._armed.get(symbol, ())):
                rec = self._orders[coid]
                self._disarm(rec)
                self._end(rec, _S.CANCELED, now, now, "USER_REQUESTED", "canceled before trigger")
        req = self._new_request(_K.CANCEL_ALL, now)
        req.symbol = cmd.symbol
        if self._rest_cancel_all:
            self._rest_cancel_all_wanted[req.rid] = RestCancelAll(req.rid, cmd.symbol)
        else:
            self._write(w.CancelAllRequest(request_id=req.rid, symbol=cmd.symbol))
        return RequestId(req.rid)

    def _status(self, cmd: QueryOrderStatus, now: int) -> RequestId:
        if cmd.client_order_id is None and cmd.venue_order_id is None:
            raise InvalidOrderError("client_order_id", "MISSING", "give a client or venue id")
        coid = cmd.client_order_id
        rec = self._find(cmd.venue_order_id, None) if cmd.venue_order_id is not None else None
        if coid is not None and rec is None:
            rec = self.order(coid)
        req = self._new_request(_K.STATUS, now, rec.client_order_id if rec else coid)
        if cmd.venue_order_id is not None:
            req.venue_order_id = cmd.venue_order_id
        else:
            assert coid is not None
            req.cid = rec.cid if rec is not None else cid_for(coid)
        self._write_status(req)
        return RequestId(req.rid)

    def _write_status(self, req: _Request) -> None:
        """Send a status request over the WebSocket, or queue it for REST after a fallback."""
        if self._rest_status:
            self._rest_status_wanted[req.rid] = RestStatusQuery(
                req.rid, req.venue_order_id, None if req.venue_order_id is not None else req.cid
            )
        elif req.venue_order_id is not None:
            self._write(w.StatusRequest(request_id=req.rid, venue_order_id=req.venue_order_id))
        else:
            self._write(w.StatusRequest(request_id=req.rid, cid=req.cid))

    def _plain(self, symbol: str, price: Decimal) -> Decimal:
        """``price`` with the exponent of the instrument's tick: plain digits on the wire."""
        inst = self._instruments.get(symbol)
        exponent = inst.tick_size.as_tuple().exponent if inst is not None else 0
        if not isinstance(exponent, int) or exponent > 0:
            exponent = 0
        if price.as_tuple().exponent == exponent:
            return price
        try:
            return price.quantize(Decimal(1).scaleb(exponent), context=_WIDE)
        except decimal.InvalidOperation:
            raise InvalidOrderError("price", "INVALID_PRICE", f"{price} is too large") from None

    def _resolve(self, client_order_id: str | None, venue_order_id: str | None) -> OrderRecord:
        if client_order_id is None and venue_order_id is None:
            raise InvalidOrderError(
                "client_order_id", "MISSING", "give a client order id or a venue order id"
            )
        rec = None
        if client_order_id is not None:
            rec = self.order(client_order_id)
        if rec is None and venue_order_id is not None:
            rec = self._find(venue_order_id, None)
        if rec is None and client_order_id is not None:
            # Placed by another process: adopted under CID-<cid>; take the caller's id for it.
            rec = self._find(None, cid_for(client_order_id))
            if rec is not None and rec.external and not rec.is_terminal:
                self._rename(rec, client_order_id)
        if rec is None:
            name = client_order_id if client_order_id is not None else venue_order_id
            raise UnknownOrderError(f"no tracked order {name!r}")
        return rec

    def _rename(self, rec: OrderRecord, client_order_id: str) -> None:
        """Give a live adopted order the client order id its cid was made from."""
        old = rec.client_order_id
        if old == client_order_id or client_order_id in self._orders:
            return
        del self._orders[old]
        self._externals.discard(old)
        if old in self._base:
            self._base[client_order_id] = self._base.pop(old)
        rec.client_order_id = client_order_id
        rec.external = False
        self._track(rec)
        self._changed.pop(old, None)
        self._changed_record(rec)

    def _send_or_defer(
        self, rec: OrderRecord, req: _Request, build: Callable[[str], bytes]
    ) -> None:
        oid = rec.venue_order_id
        if oid is not None:
            self._out.append(build(oid))
            return
        # The venue answers 409 to a cancel before the ack: wait for the venue id instead.
        req.frame = b""
        self._deferred.setdefault(rec.client_order_id, []).append(_Deferred(req, build))

    def _refuse(self, req: _Request, rec: OrderRecord, now: int) -> None:
        """A cancel or replace of an order that has already ended: a local "no"."""
        text = f"order already ended ({rec.status.value})"
        cls = ev.CancelRejected if req.kind is _K.CANCEL else ev.ReplaceRejected
        self._emit(
            cls(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=rec.venue_order_id,
                reason="ORDER_ALREADY_ENDED",
                text=text,
                request_id=req.rid,
                ts_event=now,
            )
        )
        self._resolve_request(req, ev.RequestOutcome.LOCAL, now, text)

    def register_external_order(
        self,
        *,
        client_order_id: str,
        venue_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int,
        price: Decimal | str,
        now: int,
        strategy_id: str | None = None,
        filled_qty: int = 0,
        cid: int | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
    ) -> OrderRecord:
        """Track an order placed elsewhere so that its events resolve to ``client_order_id``."""
        inst = self.instrument(symbol)
        if client_order_id in self._orders:
            raise DuplicateOrderError(f"client order id {client_order_id!r} is already tracked")
        rec = OrderRecord(
            client_order_id=client_order_id,
            cid=cid if cid is not None else cid_for(client_order_id),
            symbol=inst.symbol,
            side=Side.parse(side),
            order_type=OrderType.LIMIT,
            quantity=int(quantity),
            price=Decimal(price),
            time_in_force=TimeInForce.parse(time_in_force),
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=strategy_id or self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.PARTIALLY_FILLED if filled_qty else _S.ACCEPTED,
            venue_order_id=venue_order_id,
            filled_qty=filled_qty,
            external=True,
        )
        self._track(rec)
        self._changed_record(rec)
        return rec

    # -----------------------------------------------------------------------------------------
    # Market prices and STOP_LIMIT triggers.

    def update_market(
        self,
        symbol: str,
        now: int,
        *,
        last: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
    ) -> None:
        """Feed a market price; armed stops whose trigger is crossed are sent as limits.

        Prices left out keep their last known value, so a stop armed while the session was
        offline triggers on the first update after the reconnect if a known price crosses it.
        """
        prev = self._last_price.get(symbol, (None, None, None))
        prices = (
            last if last is not None else prev[0],
            bid if bid is not None else prev[1],
            ask if ask is not None else prev[2],
        )
        self._last_price[symbol] = prices
        armed = self._armed.get(symbol)
        if not armed or not self._connected:
            return
        for coid in list(armed):
            self._check_trigger(self._orders[coid], now, *prices)

    def _check_trigger(
        self,
        rec: OrderRecord,
        now: int,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
    ) -> None:
        trigger = rec.trigger_price
        assert trigger is not None
        buy = rec.side is Side.BUY
        market = last if self.trigger_source is TriggerSource.LAST_TRADE else ask if buy else bid
        if market is None or (market < trigger if buy else market > trigger):
            return
        self._disarm(rec)
        rec.status = _S.PENDING
        rec.ts_last = now
        self._changed_record(rec)
        rid = self._send_place(rec, now)
        self._emit(
            ev.OrderTriggered(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=None,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=now,
                trigger_price=trigger,
                market_price=market,
                request_id=rid,
            )
        )

    def _disarm(self, rec: OrderRecord) -> None:
        armed = self._armed.get(rec.symbol)
        if armed is not None and rec.client_order_id in armed:
            armed.remove(rec.client_order_id)
            if not armed:
                del self._armed[rec.symbol]

    # -----------------------------------------------------------------------------------------
    # Incoming frames.

    def receive(self, data: bytes | str, now: int) -> None:
        """Process one text frame from the orders WebSocket. Never raises on venue input."""
        self._frames_in += 1
        try:
            msg = w.decode_server_frame(data)
        except RemoteProtocolError as exc:
            self._malformed += 1
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            self._emit(
                ev.MalformedMessage(
                    ts_init=now, text=text[:500], error=str(exc), count=self._malformed
                )
            )
            self._soft_resync(now)
            return
        self._handlers[type(msg)](msg, now)

    def _on_heartbeat(self, msg: w.HeartbeatMsg | w.KeepAliveMsg, now: int) -> None:
        return

    def _on_unknown(self, msg: w.UnknownFrame, now: int) -> None:
        self._unknown += 1
        self._emit(
            ev.UnknownMessage(
                ts_init=now, text=msg.text[:500], reason=msg.reason, count=self._unknown
            )
        )
        if msg.venue_order_id is not None or msg.cid is not None:
            # It names an order: if it is one of ours, ask the venue what became of it.
            rec = self._find(msg.venue_order_id, msg.cid)
            if rec is not None and not rec.is_terminal:
                self._inconsistent += 1
                self._query_status(rec, now)

    def _report(self, rec: OrderRecord, what: Any, reason: str, now: int) -> None:
        """A frame names ``rec`` but cannot be applied as it is: report it, ask the venue."""
        self._unknown += 1
        self._inconsistent += 1
        self._emit(
            ev.UnknownMessage(
                ts_init=now, text=repr(what)[:500], reason=reason, count=self._unknown
            )
        )
        if not rec.is_terminal or rec.client_order_id in self._verdicts:
            self._query_status(rec, now)

    # Orders seen in events.

    def _find(self, oid: str | None, cid: int | None) -> OrderRecord | None:
        coid = None
        if oid is not None:
            coid = self._by_oid.get(oid)
        if coid is None and cid is not None:
            coid = self._by_cid.get(cid)
        if coid is not None:
            live = self._orders.get(coid)
            if live is not None:
                return live
        if oid is not None:
            coid = self._recent_oid.get(oid)
        if coid is None and cid is not None:
            coid = self._recent_cid.get(cid)
        return self._recent.get(coid) if coid is not None else None

    def _order_for(
        self, body: w.OrderBody, now: int, ack: bool = False, fill: int = 0
    ) -> OrderRecord | None:
        """The record an event's order belongs to; unknown orders are adopted as external
        (None past the bound on those). An order ended by a local verdict is revived.

        The handlers look a live order at its current venue id up themselves (the common
        case, inlined there) and call this for everything else."""
        oid = body.venue_order_id
        rec = self._find(oid, body.cid)
        if rec is not None:
            if rec.is_terminal:
                if rec.client_order_id not in self._verdicts:
                    return rec
                self._revive(rec, OrderStatus.from_wire(body.status), oid, now, accept=not ack)
            if rec.venue_order_id != oid:
                if rec.venue_order_id is None:
                    self._learn_oid(rec, oid, now)
                elif oid not in rec.prior_venue_order_ids:
                    self._follow_replace(rec, body, now, fill)
            return rec
        return self._adopt(body, now)

    def _revive(
        self, rec: OrderRecord, state: OrderStatus, oid: str | None, now: int, *, accept: bool
    ) -> None:
        """Venue evidence names an order ended by a local verdict: the venue's word wins. The
        order is live again (PENDING, or ACCEPTED with ``accept``)."""
        coid = rec.client_order_id
        verdict = self._verdicts.pop(coid, "")
        rec.verdict = None
        old = rec.status
        self._forget(rec)
        rec.status = _S.PENDING
        rec.ts_last = now
        self._track(rec)
        if oid is not None and rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
        self._corrections += 1
        self._changed_record(rec)
        self._emit(
            ev.OrderStateCorrected(
                ts_init=now,
                client_order_id=coid,
                venue_order_id=rec.venue_order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=now,
                old_state=old,
                new_state=state,
                reason=f"the venue reports the order after the local verdict {verdict}",
            )
        )
        if accept:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)

    def _follow_replace(
        self, rec: OrderRecord, body: w.OrderBody, now: int, fill: int = 0
    ) -> None:
        """An event names a newer venue id of this order (same cid): a replace whose ``r``
        never reached us. Move the order to it, as the ``r`` would have. ``fill`` is the
        quantity of the execution the event carries (counted in its ``xq``, not applied yet)."""
        old = rec.venue_order_id
        assert old is not None
        rec.prior_venue_order_ids.append(old)
        rec.venue_order_id = body.venue_order_id
        self._by_oid[body.venue_order_id] = rec.client_order_id
        rec.price = body.price
        base = self._new_base(rec, body.filled_quantity - fill)
        rec.quantity = max(base + body.quantity, rec.filled_qty)
        rec.ts_last = now
        if rec.status is _S.PENDING:
            rec.move_to(_S.ACCEPTED)
        self._changed_record(rec)
        self._emit_replaced(rec, old, now, body.ts * NS + body.tn)

    def _new_base(self, rec: OrderRecord, venue_filled: int, carried: int = 0) -> int:
        """A new venue order replaced ``rec``'s, with ``venue_filled`` filled on it when it
        was made. It either carries the filled quantity on (``xq`` continues) or starts fresh
        (``xq`` = 0, ``q`` = what is left): then what was filled before is its base."""
        coid = rec.client_order_id
        carried = max(carried, rec.filled_qty)
        base = carried if venue_filled < carried else 0
        if base:
            self._base[coid] = base
        elif self._base:
            self._base.pop(coid, None)
        return base

    def _adopt(self, body: w.OrderBody, now: int) -> OrderRecord | None:
        coid = f"CID-{body.cid}" if body.cid is not None else f"EXT-{body.venue_order_id}"
        if len(self._externals) >= self.max_external_orders and coid not in self._externals:
            self._externals_dropped += 1
            return None
        rec = OrderRecord(
            client_order_id=coid,
            cid=body.cid if body.cid is not None else cid_for(coid),
            symbol=body.symbol,
            side=body.side,
            order_type=OrderType.LIMIT,
            quantity=body.quantity,
            price=body.price,
            time_in_force=_tif(body.time_in_force),
            post_only=bool(body.post_only),
            tag=body.tag,
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.PENDING,
            venue_order_id=body.venue_order_id,
            external=True,
        )
        old = self._orders.get(coid) or self._recent.get(coid)
        if old is not None:  # an adopted id seen again: forget the stale record
            self._forget(old)
        self._track(rec)
        self._externals.add(coid)
        self._changed_record(rec)
        self._emit(ev.ExternalOrderDiscovered(ts_init=now, order=self._snapshot(body, coid)))
        if self._resync is not None:
            self._resync.external += 1
        return rec

    def _learn_ended_oid(self, rec: OrderRecord, oid: str) -> None:
        """An ended order's venue id, learned late: kept with the recent set's maps."""
        if rec.venue_order_id is None and self._recent.get(rec.client_order_id) is rec:
            rec.venue_order_id = oid
            self._recent_oid[oid] = rec.client_order_id
            self._changed_record(rec)

    def _learn_oid(self, rec: OrderRecord, oid: str, now: int) -> None:
        rec.venue_order_id = oid
        self._by_oid[oid] = rec.client_order_id
        self._changed_record(rec)
        if self._connected and rec.client_order_id in self._deferred:
            self._flush_deferred(rec, oid)

    def _flush_deferred(self, rec: OrderRecord, oid: str) -> None:
        """Send the cancels and replaces that waited for this order's venue id."""
        for item in self._deferred.pop(rec.client_order_id, ()):
            req = item.request
            if req.rid in self._pending:
                req.frame = None
                self._out.append(item.build(oid))

    def _on_ack(self, msg: w.AcknowledgedMsg, now: int) -> None:
        body = msg.order
        oid = body.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(body, now, True)
            if rec is None:
                return
        if rec.status is _S.ACCEPTED or not rec.move_to(_S.ACCEPTED):
            self._duplicates += 1
            return
        rec.ts_last = now
        if self._track_changes:
            self._changed[rec.client_order_id] = rec
        self._events.append(
            ev.OrderAccepted(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=body.venue_order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=msg.ts * NS + msg.tn,
                side=rec.side,
                price=body.price,
                quantity=body.quantity,
                time_in_force=rec.time_in_force,
                post_only=rec.post_only,
            )
        )
        if self._retries:
            self._retry_cancels(rec, now)

    def _on_fill(self, msg: w.PartiallyFilledMsg | w.FilledMsg, now: int) -> None:
        body = msg.order
        xs = msg.execution
        oid = body.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        ended = False
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(body, now, False, xs.quantity)
            if rec is None:
                return
            ended = rec.is_terminal  # a late fill of an order the venue has ended
        tid = xs.trade_id
        if rec.has_trade(tid):
            self._duplicates += 1
            return
        side = rec.side
        if xs.side is not side or xs.symbol != rec.symbol:
            self._report(rec, msg, "the fill's symbol or side differs from the order's", now)
            return
        final = type(msg) is w.FilledMsg
        ts_event = msg.ts * NS + msg.tn
        filled = rec.filled_qty + xs.quantity
        coid = rec.client_order_id
        base = self._base.get(coid, 0) if self._base else 0
        quantity = rec.quantity
        venue_qty = base + body.quantity
        changed = venue_qty != quantity and oid == rec.venue_order_id
        if changed and self._replacing(coid):
            # A replace is in flight: its events may come before its `r`.
            quantity = rec.quantity = max(venue_qty, rec.filled_qty)
            changed = False
        if filled > quantity:
            self._report(rec, msg, "the fill exceeds the order's remaining quantity", now)
            return
        if changed:
            self._report(rec, msg, "the order's quantity differs from the record", now)
        rec.add_trade(tid)
        rec.filled_qty = filled
        rec.last_fill_ns = ts_event
        rec.ts_last = now
        gap = base + body.filled_quantity - filled
        complete = final and gap <= 0
        if not complete and not ended and rec.status is not _S.PARTIALLY_FILLED:
            rec.move_to(_S.PARTIALLY_FILLED)
        if self._track_changes:
            self._changed[coid] = rec
        self._events.append(
            ev.OrderFilled(
                ts_init=now,
                client_order_id=coid,
                venue_order_id=body.venue_order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=ts_event,
                trade_id=tid,
                side=side,
                order_type=rec.order_type,
                last_qty=xs.quantity,
                last_price=xs.price,
                liquidity_side=LiquiditySide.TAKER if xs.aggressor else LiquiditySide.MAKER,
                filled_qty=filled,
                leaves_qty=0 if complete or ended else max(0, quantity - filled),
                quantity=quantity,
                is_final=complete,
            )
        )
        if ended:
            return
        if complete:
            rec.move_to(_S.FILLED)
            self._finish(rec)
        elif gap > 0:
            # An earlier fill never reached us: fetch it over REST before the order may end.
            self._want_fills(rec, base + body.filled_quantity)
            if final:
                self._held_ends[coid] = (_S.FILLED, None, None, ts_event)
        elif self._wanted and coid in self._wanted and filled >= self._wanted[coid]:
            # The fills an end waited for came after it (reordered events).
            del self._wanted[coid]
            self._release_end(coid, now)

    def _replacing(self, coid: str) -> bool:
        """True while a replace of this order waits for its answer."""
        rids = self._replace_rids.get(coid)
        if not rids:
            return False
        pending = self._pending
        rids[:] = [rid for rid in rids if rid in pending]
        return bool(rids)

    def _venue_filled(self, rec: OrderRecord, body: w.OrderBody) -> int:
        """The order's filled quantity by the venue's copy ``body`` (its base counted)."""
        if self._base and body.venue_order_id == rec.venue_order_id:
            return self._base.get(rec.client_order_id, 0) + body.filled_quantity
        return body.filled_quantity

    def _on_canceled(self, msg: w.CanceledMsg, now: int) -> None:
        oid = msg.order.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(msg.order, now)
            if rec is None:
                return
        self._end_from_event(
            rec, msg.order, _S.CANCELED, now, msg.ts * NS + msg.tn, msg.reason, msg.text
        )

    def _on_expired(self, msg: w.ExpiredMsg | w.DoneForDayMsg, now: int) -> None:
        target = _S.EXPIRED if type(msg) is w.ExpiredMsg else _S.DONE_FOR_DAY
        oid = msg.order.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(msg.order, now)
            if rec is None:
                return
        self._end_from_event(rec, msg.order, target, now, msg.ts * NS + msg.tn, None, None)

    def _on_rejected(self, msg: w.RejectedMsg, now: int) -> None:
        body = msg.order
        rec = self._find(body.venue_order_id, body.cid)
        ts_event = msg.ts * NS + msg.tn
        reason = _reject_reason(msg.reject_reason, msg.text)
        text = msg.text or body.text or ""
        if (
            rec is not None
            and rec.venue_order_id is not None
            and rec.venue_order_id != body.venue_order_id
        ):
            # The venue refused the order a replace would have created (e.g. the original
            # ended first): the order itself is unchanged.
            if self._by_oid.get(body.venue_order_id) == rec.client_order_id:
                del self._by_oid[body.venue_order_id]
            for rid in self._replace_rids.get(rec.client_order_id, ()):
                req = self._pending.get(rid)
                if req is not None and req.kind is _K.REPLACE:
                    req.refused += (body.venue_order_id,)  # its reply must not map the id
            self._emit(
                ev.ReplaceRejected(
                    ts_init=now,
                    client_order_id=rec.client_order_id,
                    venue_order_id=rec.venue_order_id,
                    reason=reason,
                    text=text,
                    ts_event=ts_event,
                )
            )
            return
        if rec is None:
            rec = self._adopt(body, now)
            if rec is None:
                return
        elif rec.is_terminal:
            # Already ended; for a local verdict, the venue confirms it: nothing to undo now.
            if self._verdicts.pop(rec.client_order_id, None) is not None:
                rec.verdict = None
                self._changed_record(rec)
            self._learn_ended_oid(rec, body.venue_order_id)
            self._duplicates += 1
            return
        elif rec.venue_order_id is None:
            self._learn_oid(rec, body.venue_order_id, now)
        self._end_from_event(rec, body, _S.REJECTED, now, ts_event, reason, text)

    def _end_from_event(
        self,
        rec: OrderRecord,
        body: w.OrderBody,
        target: OrderStatus,
        now: int,
        ts_event: int,
        reason: str | None,
        text: str | None,
    ) -> None:
        if rec.is_terminal or rec.client_order_id in self._held_ends:
            self._duplicates += 1
            return
        venue_filled = body.filled_quantity
        if self._base and body.venue_order_id == rec.venue_order_id:
            venue_filled += self._base.get(rec.client_order_id, 0)
        if venue_filled > rec.filled_qty:
            self._want_fills(rec, venue_filled)
            self._held_ends[rec.client_order_id] = (target, reason, text, ts_event)
            return
        self._end(rec, target, now, ts_event, reason, text)

    def _end(
        self,
        rec: OrderRecord,
        target: OrderStatus,
        now: int,
        ts_event: int,
        reason: str | None,
        text: str | None,
        origin: ev.RejectOrigin = ev.RejectOrigin.VENUE_EVENT,
        code: int | None = None,
    ) -> None:
        """Move ``rec`` to a terminal ``target``, emit the matching event, forget it."""
        if not rec.move_to(target):
            self._duplicates += 1
            return
        rec.ts_last = now
        common: dict[str, Any] = {
            "ts_init": now,
            "client_order_id": rec.client_order_id,
            "venue_order_id": rec.venue_order_id,
            "account_id": rec.account_id,
            "trader_id": rec.trader_id,
            "strategy_id": rec.strategy_id,
            "symbol": rec.symbol,
            "ts_event": ts_event,
        }
        if target is _S.CANCELED:
            self._emit(
                ev.OrderCanceled(
                    **common, reason=reason or "", text=text or "", filled_qty=rec.filled_qty
                )
            )
        elif target in (_S.EXPIRED, _S.DONE_FOR_DAY):
            self._emit(
                ev.OrderExpired(
                    **common, filled_qty=rec.filled_qty, done_for_day=target is _S.DONE_FOR_DAY
                )
            )
        elif target is _S.REJECTED:
            txt = text or ""
            self._emit(
                ev.OrderRejected(
                    **common,
                    reason=reason or "UNKNOWN",
                    text=txt,
                    origin=origin,
                    due_post_only=reason == "POST_ONLY_WOULD_CROSS",
                    code=code,
                )
            )
        # FILLED and REPLACED end without an event of their own here: the final fill, or the
        # OrderReplaced, has told the story.
        self._finish(rec)

    def _on_replaced(self, msg: w.ReplacedMsg, now: int) -> None:
        old = msg.old_order
        new = msg.new_order
        ts_event = msg.ts * NS + msg.tn
        if (msg.new_venue_order_id is None) != (new is None) or (
            new is not None and new.venue_order_id != msg.new_venue_order_id
        ):
            self._on_unknown(
                w.UnknownFrame(repr(msg), "replace event with inconsistent noid and no", "r"), now
            )
            return
        rec = self._find(old.venue_order_id, old.cid)
        if rec is None and new is not None:
            rec = self._find(new.venue_order_id, new.cid)
        if rec is None:
            rec = self._adopt(new if new is not None else old, now)
            if rec is None:
                return
        if rec.is_terminal:
            self._duplicates += 1
            return
        current = new if new is not None else old
        if (
            new is not None
            and new.venue_order_id == rec.venue_order_id
            and (old.venue_order_id in rec.prior_venue_order_ids)
        ):
            self._duplicates += 1
            return
        old_oid = rec.venue_order_id or old.venue_order_id
        if (
            new is None
            and current.venue_order_id == old_oid
            and (current.price, current.quantity) == (rec.price, rec.quantity)
        ):
            self._duplicates += 1
            return
        coid = rec.client_order_id
        old_filled = self._venue_filled(rec, old) if old.venue_order_id == old_oid else 0
        if current.venue_order_id != old_oid:
            if old_oid not in rec.prior_venue_order_ids:
                rec.prior_venue_order_ids.append(old_oid)
            rec.venue_order_id = current.venue_order_id
            self._by_oid[current.venue_order_id] = coid
            base = self._new_base(rec, current.filled_quantity, old_filled)
        else:
            base = self._base.get(coid, 0) if self._base else 0
        rec.price = current.price
        rec.quantity = max(base + current.quantity, rec.filled_qty)
        rec.ts_last = now
        if rec.status is _S.PENDING:
            rec.move_to(_S.ACCEPTED)
        self._changed_record(rec)
        self._emit_replaced(rec, old_oid, now, ts_event)
        venue_filled = max(base + current.filled_quantity, old_filled)
        if venue_filled > rec.filled_qty:
            self._want_fills(rec, venue_filled)

    def _emit_replaced(self, rec: OrderRecord, old_oid: str, now: int, ts_event: int) -> None:
        assert rec.price is not None
        self._emit(
            ev.OrderReplaced(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=rec.venue_order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=ts_event,
                old_venue_order_id=old_oid,
                price=rec.price,
                quantity=rec.quantity,
                filled_qty=rec.filled_qty,
            )
        )

    def _on_cancel_rejected(self, msg: w.CancelRejectedMsg, now: int) -> None:
        oid = msg.venue_order_id
        if oid is None and msg.order is not None:
            oid = msg.order.venue_order_id
        rec = self._find(oid, msg.cid)
        self._emit(
            ev.CancelRejected(
                ts_init=now,
                client_order_id=rec.client_order_id if rec is not None else None,
                venue_order_id=oid,
                reason=msg.reject_reason or "UNKNOWN",
                text=msg.text,
                ts_event=msg.ts * NS + msg.tn,
            )
        )

    # Replies.

    def _on_result(self, msg: w.ResultReply, now: int) -> None:
        res = msg.result
        req = self._pending.pop(msg.request_id, None)  # request ids start at 1
        if req is None:
            if msg.request_id == 0 and res.login_id is not None:
                self._on_login(res, now)
                return
            self._on_unknown(
                w.UnknownFrame(f"rid {msg.request_id}", "reply to no pending request"), now
            )
            return
        kind = req.kind
        rec = self.order(req.client_order_id) if req.client_order_id is not None else None
        oid = res.venue_order_id
        if kind is _K.PLACE:
            if rec is not None and oid is not None and rec.venue_order_id is None:
                if rec.is_terminal:
                    self._learn_ended_oid(rec, oid)
                else:
                    self._learn_oid(rec, oid, now)
        elif kind is _K.REPLACE:
            if (
                rec is not None
                and oid is not None
                and not rec.is_terminal
                and oid not in req.refused
            ):
                # Map the new id now so that the events of the new order find this record.
                self._by_oid.setdefault(oid, rec.client_order_id)
        elif kind is _K.OPEN_ORDERS:
            orders = res.orders or []
            if req.internal:
                sync = self._resync
                if sync is not None and sync.open_rid == req.rid:
                    sync.open_rid = 0
                self._reconcile(orders, now)
                return
            self._emit(
                ev.OpenOrdersReceived(
                    ts_init=now,
                    request_id=req.rid,
                    orders=tuple(self._snapshot(o) for o in orders),
                )
            )
        elif kind is _K.STATUS:
            if req.internal:
                self._free_status_slot(req)
            status = res.status
            if status is not None:
                self._on_status(req, status, now)
            else:
                self._resync_query_done(req.rid, now)
            if req.internal:
                return
        self._resolve_request(
            req, ev.RequestOutcome.OK, now, venue_order_id=oid or req.venue_order_id
        )

    def _on_status(self, req: _Request, status: w.StatusBody, now: int) -> None:
        state = OrderStatus.from_wire(status.state)
        rec = self.order(req.client_order_id) if req.client_order_id is not None else None
        if rec is None:
            rec = self._find(status.order_id, status.clord_id)
        if not req.internal:
            self._emit(
                ev.OrderStatusReport(
                    ts_init=now,
                    request_id=req.rid,
                    client_order_id=rec.client_order_id if rec is not None else None,
                    venue_order_id=status.order_id,
                    symbol=status.symbol,
                    status=state,
                    filled_qty=status.filled_quantity,
                    remaining_qty=status.remaining_quantity,
                    reject_reason=status.reject_reason,
                    reject_message=status.reject_message,
                )
            )
        if (
            rec is not None
            and rec.is_terminal
            and rec.client_order_id in self._verdicts
            and state not in (_S.REJECTED, _S.UNKNOWN)
        ):
            self._revive(rec, state, status.order_id, now, accept=False)
        if rec is not None and not rec.is_terminal and rec.status is not _S.ARMED:
            self._apply_status(rec, status, state, now)
        self._resync_query_done(req.rid, now)

    def _apply_status(
        self, rec: OrderRecord, status: w.StatusBody, state: OrderStatus, now: int
    ) -> None:
        """Bring ``rec`` up to the venue's word on it."""
        changed = False
        oid = status.order_id
        before = rec.venue_order_id or oid
        if state is _S.REJECTED and rec.venue_order_id is not None and oid != rec.venue_order_id:
            # By cid the venue reports its newest order with that cid: here a replacement it
            # refused (ORIGINAL_ORDER_TERMINATED), which says nothing of the order itself.
            # Ask about the order by its own venue id instead.
            if self._connected and self._logged_in:
                self._query_status(rec, now, by_venue_id=True)
            return
        if rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
            changed = True
        elif (
            oid != rec.venue_order_id
            and state is not _S.REPLACED
            and oid not in rec.prior_venue_order_ids
        ):
            rec.prior_venue_order_ids.append(rec.venue_order_id)
            rec.venue_order_id = oid
            self._by_oid[oid] = rec.client_order_id
            changed = True
        current = oid == rec.venue_order_id
        base = self._base.get(rec.client_order_id, 0) if self._base and current else 0
        target_filled = base + status.filled_quantity
        if target_filled > rec.filled_qty:
            self._want_fills(rec, target_filled)
            changed = True
        if current and state in (_S.ACCEPTED, _S.PARTIALLY_FILLED):
            venue_qty = target_filled + status.remaining_quantity
            if venue_qty != rec.quantity and venue_qty >= rec.filled_qty and rec.price is not None:
                # The venue's word on the order's size (an amend we never saw): it wins.
                rec.quantity = venue_qty
                self._emit_replaced(rec, before, now, now)
                changed = True
        if state.is_terminal and state is not _S.REPLACED:
            if target_filled > rec.filled_qty:
                self._held_ends[rec.client_order_id] = (
                    state,
                    status.reject_reason,
                    status.reject_message,
                    now,
                )
            else:
                self._end(rec, state, now, now, status.reject_reason, status.reject_message)
            changed = True
        elif state in (_S.ACCEPTED, _S.PARTIALLY_FILLED) and rec.status is _S.PENDING:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)
            changed = True
        if changed:
            self._changed_record(rec)
            if self._resync is not None:
                self._resync.changed += 1

    def _emit_accepted_from(self, rec: OrderRecord, now: int) -> None:
        assert rec.price is not None
        self._emit(
            ev.OrderAccepted(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=rec.venue_order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=now,
                side=rec.side,
                price=rec.price,
                quantity=rec.quantity,
                time_in_force=rec.time_in_force,
                post_only=rec.post_only,
            )
        )
        self._retry_cancels(rec, now)

    def _on_error(self, msg: w.ErrorReply, now: int) -> None:
        err = msg.error
        code = err.code
        text = err.message or ""
        req = self._pending.get(msg.request_id) if msg.request_id is not None else None
        if req is None:
            self._emit(
                ev.VenueError(ts_init=now, request_id=msg.request_id, code=code, message=text)
            )
            return
        rec = self.order(req.client_order_id) if req.client_order_id is not None else None
        kind = req.kind
        if code in UNSUPPORTED_CODES and kind in (_K.STATUS, _K.CANCEL_ALL) and not self._via_rest:
            self._fall_back(req, code, text, now)
            return
        if kind is _K.CANCEL and code == 409 and req.retries < MAX_CANCEL_RETRIES:
            # Not acknowledged yet: send the same cancel again shortly (or on the ack).
            req.retries += 1
            req.retry_at = now + CANCEL_RETRY_NS
            self._retries[req.rid] = req
            heapq.heappush(self._deadlines, (req.retry_at, req.rid))
            return
        del self._pending[req.rid]
        if req.internal and kind is _K.STATUS:
            self._free_status_slot(req)
        if kind is _K.PLACE and rec is not None and not rec.is_terminal:
            self._verdicts[rec.client_order_id] = rec.verdict = f"VENUE_ERROR_{code}"
            self._end(
                rec,
                _S.REJECTED,
                now,
                now,
                f"VENUE_ERROR_{code}",
                text,
                origin=ev.RejectOrigin.VENUE_ERROR,
                code=code,
            )
        elif kind in (_K.CANCEL, _K.REPLACE):
            cls = ev.CancelRejected if kind is _K.CANCEL else ev.ReplaceRejected
            self._emit(
                cls(
                    ts_init=now,
                    client_order_id=req.client_order_id,
                    venue_order_id=req.venue_order_id,
                    reason=_ERROR_REASONS.get(code, f"VENUE_ERROR_{code}"),
                    text=text,
                    code=code,
                    request_id=req.rid,
                    ts_event=now,
                )
            )
        elif kind is _K.STATUS and code == 404 and rec is not None:
            self._status_not_found(rec, now)
        if req.internal:
            self._resync_query_done(req.rid, now)
            return
        self._resolve_request(req, ev.RequestOutcome.ERROR, now, text, code=code)

    def _status_not_found(self, rec: OrderRecord, now: int) -> None:
        """The venue has no order with this cid: a place that never arrived (as far as the
        venue can tell now; a later event for it revives the order)."""
        if rec.is_terminal or rec.venue_order_id is not None or rec.status is not _S.PENDING:
            return
        place = self._pending.get(rec.place_request_id)
        if (
            place is not None
            and place.kind is _K.PLACE
            and place.client_order_id == rec.client_order_id
            and not place.interrupted
        ):
            return  # its place is still in flight on this connection
        self._verdicts[rec.client_order_id] = rec.verdict = "LOST_IN_TRANSIT"
        self._end(
            rec,
            _S.REJECTED,
            now,
            now,
            "LOST_IN_TRANSIT",
            "after the connection gap the venue reported no order with this cid; should it "
            "report one later, the order is revived (OrderStateCorrected)",
            origin=ev.RejectOrigin.LOCAL,
        )

    # -----------------------------------------------------------------------------------------
    # REST fallbacks for the WS status (`s`) and cancel-all (`X`) requests.

    def _fall_back(self, req: _Request, code: int, text: str, now: int) -> None:
        """The venue does not know this request kind over the WebSocket: from now on it goes
        over REST (for the session's life), and this request with it."""
        kind = req.kind
        first = not (self._rest_status if kind is _K.STATUS else self._rest_cancel_all)
        if kind is _K.STATUS:
            self._rest_status = True
            self._write_status(req)
        else:
            self._rest_cancel_all = True
            self._rest_cancel_all_wanted[req.rid] = RestCancelAll(req.rid, req.symbol)
        req.deadline = now + self.request_timeout_ns
        heapq.heappush(self._deadlines, (req.deadline, req.rid))
        if first:
            self._emit(ev.RequestFallback(ts_init=now, kind=kind, code=code, message=text))

    @property
    def rest_wanted(self) -> bool:
        """True while some status query or cancel-all waits to be made over REST."""
        return bool(self._rest_status_wanted or self._rest_cancel_all_wanted)

    def rest_status_wanted(self) -> list[RestStatusQuery]:
        """Status queries to make over REST (after the venue refused ``s``); taken once.

        Answer each with :meth:`receive_rest_status`.
        """
        wanted = [q for rid, q in self._rest_status_wanted.items() if rid in self._pending]
        self._rest_status_wanted.clear()
        return wanted

    def receive_rest_status(
        self,
        request_id: int,
        status: w.StatusBody | None,
        now: int,
        *,
        code: int | None = None,
        message: str = "",
    ) -> None:
        """The REST answer to a :class:`RestStatusQuery`: the order's status, or None with
        ``code`` (404 when the venue has no such order, the default)."""
        if request_id not in self._pending:
            return
        self._via_rest = True
        try:
            if status is not None:
                self._on_result(w.ResultReply(request_id, w.ResultBody(status=status)), now)
            else:
                error = w.ErrorBody(code=404 if code is None else code, message=message)
                self._on_error(w.ErrorReply(request_id, error), now)
        finally:
            self._via_rest = False

    def rest_cancel_all_wanted(self) -> list[RestCancelAll]:
        """Cancel-alls to make over REST (after the venue refused ``X``); taken once.

        Report each outcome with :meth:`receive_rest_cancel_all`.
        """
        wanted = [c for rid, c in self._rest_cancel_all_wanted.items() if rid in self._pending]
        self._rest_cancel_all_wanted.clear()
        return wanted

    def receive_rest_cancel_all(
        self, request_id: int, now: int, *, code: int | None = None, message: str = ""
    ) -> None:
        """The outcome of a REST cancel-all: done (``code`` None) or refused with ``code``.

        The orders' own cancel events still come over the WebSocket."""
        req = self._pending.get(request_id)
        if req is None or req.kind is not _K.CANCEL_ALL:
            return
        if code is None:
            self._resolve_request(req, ev.RequestOutcome.OK, now, "canceled over REST")
        else:
            self._resolve_request(req, ev.RequestOutcome.ERROR, now, message, code=code)

    def _retry_cancels(self, rec: OrderRecord, now: int) -> None:
        """Re-send at once any cancel the venue refused with 409 before this ack."""
        if not self._retries:
            return
        for req in [r for r in self._retries.values() if r.client_order_id == rec.client_order_id]:
            del self._retries[req.rid]
            req.retry_at = 0  # the delayed retry in the heap is void now
            if self._connected and req.venue_order_id is not None:
                self._write(w.CancelRequest(request_id=req.rid, venue_order_id=req.venue_order_id))

    # -----------------------------------------------------------------------------------------
    # Resync.

    def _on_login(self, res: w.ResultBody, now: int) -> None:
        orders = res.login_orders or []
        self._logged_in = True
        self._emit(
            ev.LoginSnapshot(
                ts_init=now,
                login_id=res.login_id or "",
                orders=tuple(self._snapshot(o) for o in orders),
                cancel_on_disconnect=res.cancel_on_disconnect,
                client_heartbeat=res.client_heartbeat,
            )
        )
        interrupted, self._interrupted = self._interrupted, []
        self._start_resync(interrupted)
        self._reconcile(orders, now)
        for coid in list(self._verdicts):
            # Ended by a local verdict: the venue may have carried it out after all.
            rec = self._recent.get(coid)
            if rec is not None:
                self._query_status(rec, now)
        self._maybe_finish_resync(now)
        for coid in list(self._deferred):
            rec = self._orders.get(coid)
            if rec is not None and rec.venue_order_id is not None:
                self._flush_deferred(rec, rec.venue_order_id)

    def _start_resync(self, interrupted: list[_Request]) -> None:
        if self._resync is None:
            self._resync = _Resync(interrupted)
            self._resyncs += 1
        else:
            self._resync.interrupted.extend(interrupted)

    def _soft_resync(self, now: int) -> None:
        """After a frame we could not read: compare with the venue's open orders.

        At most one resync is in flight: a trigger during one joins it (its open-orders answer
        is still to come), or has it compare once more when it ends."""
        if not self._connected or not self._logged_in:
            return
        sync = self._resync
        if sync is not None:
            if not sync.open_rid:
                sync.again = True
            return
        self._start_resync([])
        sync = self._resync
        assert sync is not None
        req = self._new_request(_K.OPEN_ORDERS, now, internal=True)
        sync.queries.add(req.rid)
        sync.open_rid = req.rid
        self._write(w.OpenOrdersRequest(request_id=req.rid))

    def _reconcile(self, venue_orders: list[w.OrderBody], now: int) -> None:
        sync = self._resync
        if sync is None:
            self._start_resync([])
            sync = self._resync
            assert sync is not None
        seen: set[str] = set()
        for body in venue_orders:
            rec = self._find(body.venue_order_id, body.cid)
            if rec is not None and rec.is_terminal and rec.client_order_id in self._verdicts:
                self._revive(rec, OrderStatus.from_wire(body.status), None, now, accept=False)
            if rec is None or rec.is_terminal:
                if rec is None:
                    self._adopt_open(body, now)
                continue
            seen.add(rec.client_order_id)
            sync.checked += 1
            if self._apply_open(rec, body, now):
                sync.changed += 1
        pending = self._pending
        for rec in list(self._orders.values()):
            coid = rec.client_order_id
            if coid in seen or rec.status is _S.ARMED:
                continue
            place = pending.get(rec.place_request_id)
            if (
                place is not None
                and place.kind is _K.PLACE
                and place.client_order_id == coid
                and not place.interrupted
            ):
                continue  # its place is in flight on this connection
            sync.checked += 1
            self._query_status(rec, now)
        for rid in list(sync.queries):
            if rid not in self._pending:
                sync.queries.discard(rid)
        self._maybe_finish_resync(now)

    def _adopt_open(self, body: w.OrderBody, now: int) -> None:
        rec = self._adopt(body, now)
        if rec is None:
            return
        state = OrderStatus.from_wire(body.status)
        rec.move_to(_S.PARTIALLY_FILLED if body.filled_quantity else _S.ACCEPTED)
        if state is _S.UNKNOWN:
            rec.status = _S.UNKNOWN
        rec.filled_qty = body.filled_quantity
        rec.quantity = max(rec.quantity, rec.filled_qty)

    def _apply_open(self, rec: OrderRecord, body: w.OrderBody, now: int) -> bool:
        """Compare a tracked order with the venue's open copy; return whether it changed."""
        changed = False
        oid = body.venue_order_id
        if rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
            changed = True
        if rec.status is _S.PENDING:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)
            changed = True
        coid = rec.client_order_id
        base = self._base.get(coid, 0) if self._base else 0
        if (
            not base
            and oid == rec.venue_order_id
            and rec.prior_venue_order_ids
            and body.filled_quantity < rec.filled_qty
            and body.quantity - body.filled_quantity == rec.quantity - rec.filled_qty
        ):
            # A replacement that started fresh, known from the journal: its base again.
            base = self._base[coid] = rec.filled_qty - body.filled_quantity
        venue_qty = base + body.quantity
        if oid != rec.venue_order_id or body.price != rec.price or venue_qty != rec.quantity:
            old_oid = rec.venue_order_id or oid
            if oid != old_oid:
                rec.prior_venue_order_ids.append(old_oid)
                rec.venue_order_id = oid
                self._by_oid[oid] = coid
                base = self._new_base(rec, body.filled_quantity)
                venue_qty = base + body.quantity
            rec.price = body.price
            rec.quantity = max(venue_qty, rec.filled_qty)
            self._emit_replaced(rec, old_oid, now, body.ts * NS + body.tn)
            changed = True
        if base + body.filled_quantity > rec.filled_qty:
            self._want_fills(rec, base + body.filled_quantity)
            changed = True
        if changed:
            rec.ts_last = now
            self._changed_record(rec)
        return changed

    def _query_status(self, rec: OrderRecord, now: int, *, by_venue_id: bool = False) -> None:
        """Ask the venue about ``rec`` (the session's own query, no RequestResolved).

        Paced: one query per order at a time, at most ``max_status_queries`` in flight; the
        others wait in a queue and go out as answers come back."""
        if not self._connected or not self._logged_in:
            return  # the next login compares everything anyway
        coid = rec.client_order_id
        if coid in self._status_inflight or coid in self._status_queued:
            return  # the answer on its way, or the query waiting, will do
        if len(self._status_inflight) >= self.max_status_queries:
            self._status_queue.append((coid, by_venue_id))
            self._status_queued.add(coid)
            return
        self._send_status(rec, now, by_venue_id)

    def _send_status(self, rec: OrderRecord, now: int, by_venue_id: bool) -> None:
        req = self._new_request(_K.STATUS, now, rec.client_order_id, internal=True)
        if by_venue_id and rec.venue_order_id is not None:
            req.venue_order_id = rec.venue_order_id
        else:
            req.cid = rec.cid
        self._write_status(req)
        self._status_inflight[rec.client_order_id] = req.rid
        if self._resync is not None:
            self._resync.queries.add(req.rid)

    def _free_status_slot(self, req: _Request) -> None:
        """An internal status query was answered (or timed out): its slot is free."""
        coid = req.client_order_id
        if coid is not None and self._status_inflight.get(coid) == req.rid:
            del self._status_inflight[coid]

    def _pump_status(self, now: int) -> None:
        """Send waiting status queries while there are free slots."""
        queue = self._status_queue
        while queue and len(self._status_inflight) < self.max_status_queries:
            if not self._connected or not self._logged_in:
                return
            coid, by_venue_id = queue.popleft()
            self._status_queued.discard(coid)
            rec = self.order(coid)
            if rec is None or (rec.is_terminal and coid not in self._verdicts):
                continue
            if coid not in self._status_inflight:
                self._send_status(rec, now, by_venue_id)

    def _resync_query_done(self, rid: int, now: int) -> None:
        if self._status_queue:
            self._pump_status(now)
        sync = self._resync
        if sync is not None and rid in sync.queries:
            sync.queries.discard(rid)
            self._maybe_finish_resync(now)

    def _maybe_finish_resync(self, now: int) -> None:
        sync = self._resync
        if sync is None or sync.queries or self._status_queue or not self._logged_in:
            return
        for req in sync.interrupted:
            if req.rid not in self._pending:
                continue
            outcome = self._interrupted_outcome(req)
            if outcome is None:
                continue
            sync.resolved += 1
            self._resolve_request(req, outcome, now, "resolved by resync")
        if any(r.rid in self._pending for r in sync.interrupted) or self._wanted:
            return  # waiting for fills (or for the answer to a request it cannot judge yet)
        self._resync = None
        self._emit(
            ev.Resynced(
                ts_init=now,
                orders_checked=sync.checked,
                changed=sync.changed,
                external=sync.external,
                fills_recovered=sync.fills,
                requests_resolved=sync.resolved,
            )
        )
        if sync.again:
            self._soft_resync(now)

    def _interrupted_outcome(self, req: _Request) -> ev.RequestOutcome | None:
        rec = self.order(req.client_order_id) if req.client_order_id is not None else None
        ok, lost = ev.RequestOutcome.OK, ev.RequestOutcome.LOST
        if req.kind is _K.PLACE:
            if rec is None:
                return lost
            if rec.status is _S.REJECTED and rec.venue_order_id is None:
                return lost
            return ok if rec.venue_order_id is not None else None
        if req.kind is _K.CANCEL:
            if rec is None:
                return lost
            return ok if rec.is_terminal else lost
        if req.kind is _K.REPLACE:
            if rec is None:
                return lost
            changed = rec.venue_order_id != req.venue_order_id and req.venue_order_id is not None
            return ok if changed else lost
        return lost

    # -----------------------------------------------------------------------------------------
    # Fills recovered over REST.

    def _want_fills(self, rec: OrderRecord, venue_filled: int) -> None:
        coid = rec.client_order_id
        if venue_filled > self._wanted.get(coid, 0):
            self._wanted[coid] = venue_filled

    @property
    def missing_fills(self) -> bool:
        """True while some fill is known to be missing (see :meth:`fills_wanted`)."""
        return bool(self._wanted)

    def fills_wanted(self) -> FillsWanted | None:
        """What to fetch from REST ``/fills``, or None when no fill is known to be missing."""
        if not self._wanted:
            return None
        start = None
        missing = 0
        for coid, target in self._wanted.items():
            rec = self.order(coid)
            if rec is None:
                continue
            missing += max(0, target - rec.filled_qty)
            begin = rec.last_fill_ns or rec.ts_init
            start = begin if start is None else min(start, begin)
        return FillsWanted(
            start_ns=max(0, (start or 0) - FILL_WINDOW_MARGIN_NS),
            client_order_ids=tuple(self._wanted),
            missing_qty=missing,
        )

    def receive_fills(self, fills: Iterable[FillInfo], now: int, *, final: bool = False) -> int:
        """Apply fills fetched from REST; each trade id is delivered once. Returns how many.

        With ``final`` the fetch is over: orders still short of the venue's filled quantity
        end anyway (their remaining fills stay unknown).
        """
        delivered = 0
        ordered = sorted(fills, key=lambda f: (parse_rfc3339_ns(f.timestamp), f.trade_id))
        for fill in ordered:
            rec = self._find(fill.order_id, None) if fill.order_id is not None else None
            if rec is None or rec.has_trade(fill.trade_id):
                continue
            if rec.is_terminal and rec.filled_qty >= rec.quantity:
                continue
            delivered += 1
            self._apply_rest_fill(rec, fill, now)
        for coid in list(self._wanted):
            rec = self.order(coid)
            if rec is None or rec.filled_qty >= self._wanted[coid] or final:
                del self._wanted[coid]
                self._release_end(coid, now)
        if self._resync is not None:
            self._resync.fills += delivered
            self._maybe_finish_resync(now)
        return delivered

    def _apply_rest_fill(self, rec: OrderRecord, fill: FillInfo, now: int) -> None:
        ts_event = parse_rfc3339_ns(fill.timestamp)
        rec.add_trade(fill.trade_id)
        rec.filled_qty += fill.quantity
        rec.quantity = max(rec.quantity, rec.filled_qty)  # a replace we never saw raised it
        rec.last_fill_ns = max(rec.last_fill_ns, ts_event)
        rec.ts_last = now
        complete = rec.filled_qty >= rec.quantity
        if not rec.is_terminal:
            rec.move_to(_S.PARTIALLY_FILLED)
        self._changed_record(rec)
        self._emit(
            ev.OrderFilled(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=fill.order_id,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=ts_event,
                trade_id=fill.trade_id,
                side=rec.side,
                order_type=rec.order_type,
                last_qty=fill.quantity,
                last_price=fill.price,
                liquidity_side=LiquiditySide.TAKER if fill.is_taker else LiquiditySide.MAKER,
                filled_qty=rec.filled_qty,
                leaves_qty=max(0, rec.quantity - rec.filled_qty),
                quantity=rec.quantity,
                is_final=complete,
                fee=fill.fee,
            )
        )
        if complete and not rec.is_terminal and rec.client_order_id not in self._held_ends:
            rec.move_to(_S.FILLED)
            self._finish(rec)

    def _release_end(self, coid: str, now: int) -> None:
        held = self._held_ends.pop(coid, None)
        rec = self.order(coid)
        if held is None or rec is None or rec.is_terminal:
            return
        target, reason, text, ts_event = held
        self._end(rec, target, now, ts_event, reason, text)

    # -----------------------------------------------------------------------------------------
    # Journal.

    def restore(self, records: Iterable[OrderRecord], now: int) -> int:
        """Load records from the journal (before connecting); return how many are live.

        Live orders are reconciled with the venue at the next login; ended ones only catch
        late duplicates.
        """
        live = 0
        for rec in records:
            if rec.client_order_id in self._orders or rec.client_order_id in self._recent:
                continue
            if rec.is_terminal:
                self._remember(rec)
                if rec.verdict is not None:
                    # Ended by a local verdict before the restart: the next login asks the
                    # venue again, whose word wins.
                    self._verdicts[rec.client_order_id] = rec.verdict
                continue
            self._track(rec)
            if rec.status is _S.ARMED:
                self._armed.setdefault(rec.symbol, []).append(rec.client_order_id)
            live += 1
        return live

    def _changed_record(self, rec: OrderRecord) -> None:
        if self._track_changes:
            self._changed[rec.client_order_id] = rec

    def journal_mark(self) -> tuple[int, int]:
        """Where the frame queue and the request ids stand, for :meth:`withdraw`."""
        return len(self._out), self._next_rid

    def frames_since(self, mark: tuple[int, int]) -> list[bytes]:
        """Take the frames queued since ``mark``, leaving the older ones queued."""
        queued = mark[0]
        out = self._out[queued:]
        del self._out[queued:]
        self._frames_out += len(out)
        return out

    def withdraw(
        self,
        mark: tuple[int, int],
        now: int,
        text: str,
        *,
        place: str | None = None,
        reason: str = "JOURNAL_WRITE_FAILED",
    ) -> OrderRecord | None:
        """Undo the frames :meth:`send` queued since ``mark``: none of them is sent.

        For the journal: when the records a command changed cannot be committed, its frames
        must not leave. Each request made since ``mark`` resolves LOCAL with ``text``; the
        order a place created (client order id ``place``) is forgotten and ends in an
        :class:`~axorders.events.OrderRejected` of origin LOCAL with ``reason``. Returns that
        forgotten record, whose pending journal change the caller must drop too. Local changes
        to other orders (an armed stop canceled or amended) stand.
        """
        queued, first_rid = mark
        del self._out[queued:]
        rid = first_rid
        while rid != self._next_rid:
            req = self._pending.get(rid)
            if req is not None:
                if self._deferred:
                    for items in self._deferred.values():
                        items[:] = [d for d in items if d.request is not req]
                self._resolve_request(req, ev.RequestOutcome.LOCAL, now, text)
            rid = rid + 1 if rid < MAX_REQUEST_ID else 1
        if place is None:
            return None
        rec = self._orders.get(place)
        if rec is None or rec.venue_order_id is not None:
            return None
        if rec.status is not _S.PENDING and rec.status is not _S.ARMED:
            return None
        self._disarm(rec)
        self._forget(rec)
        self._changed.pop(place, None)
        self._emit(
            ev.OrderRejected(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=None,
                account_id=rec.account_id,
                trader_id=rec.trader_id,
                strategy_id=rec.strategy_id,
                symbol=rec.symbol,
                ts_event=now,
                reason=reason,
                text=text,
                origin=ev.RejectOrigin.LOCAL,
            )
        )
        return rec

    # -----------------------------------------------------------------------------------------
    # Time.

    def tick(self, now: int) -> None:
        """Expire requests whose deadline has passed and re-send 409'd cancels."""
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, rid = heapq.heappop(heap)
            req = self._pending.get(rid)
            if req is None:
                continue
            if req.deadline <= now:
                self._retries.pop(rid, None)
                self._timeout(req, now)
            elif req.retry_at and req.retry_at <= now:
                req.retry_at = 0
                del self._retries[rid]
                if self._connected and req.venue_order_id is not None:
                    self._write(
                        w.CancelRequest(request_id=req.rid, venue_order_id=req.venue_order_id)
                    )

    def extend_deadlines(self, delta_ns: int) -> None:
        """Move every pending request's deadline ``delta_ns`` later.

        For a caller that stopped reading the socket for that long (backpressure from a slow
        consumer): the answers may be waiting unread, and must not be taken for timeouts.
        """
        if delta_ns <= 0:
            return
        heap: list[tuple[int, int]] = []
        for rid, req in self._pending.items():
            req.deadline += delta_ns
            heap.append((req.deadline, rid))
            if req.retry_at:
                heap.append((req.retry_at, rid))
        heapq.heapify(heap)
        self._deadlines = heap

    def _timeout(self, req: _Request, now: int) -> None:
        del self._pending[req.rid]
        self._timeouts += 1
        if req.internal:
            if req.kind is _K.STATUS:
                self._free_status_slot(req)
            sync = self._resync
            if sync is not None and sync.open_rid == req.rid:
                sync.open_rid = 0
            self._resync_query_done(req.rid, now)
            return
        if req.frame is not None and req.client_order_id is not None:
            items = self._deferred.get(req.client_order_id)
            if items:
                items[:] = [d for d in items if d.request is not req]
        self._resolve_request(req, ev.RequestOutcome.TIMEOUT, now, "no answer before deadline")
        if self._resync is not None:
            self._maybe_finish_resync(now)
        rec = self.order(req.client_order_id) if req.client_order_id is not None else None
        if rec is not None and not rec.is_terminal and self._connected and self._logged_in:
            self._query_status(rec, now)  # learn what became of it

    # -----------------------------------------------------------------------------------------
    # Plumbing.

    def _new_request(
        self,
        kind: ev.RequestKind,
        now: int,
        client_order_id: str | None = None,
        *,
        internal: bool = False,
    ) -> _Request:
        rid = self._next_rid
        self._next_rid = rid + 1 if rid < MAX_REQUEST_ID else 1
        req = _Request(rid, kind, now + self.request_timeout_ns, client_order_id, internal=internal)
        self._pending[rid] = req
        heapq.heappush(self._deadlines, (req.deadline, rid))
        return req

    def _write(self, message: msgspec.Struct) -> None:
        self._out.append(w.encode(message))

    def _emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def _resolve_request(
        self,
        req: _Request,
        outcome: ev.RequestOutcome,
        now: int,
        message: str = "",
        *,
        code: int | None = None,
        venue_order_id: str | None = None,
    ) -> None:
        self._pending.pop(req.rid, None)
        if self._retries:
            self._retries.pop(req.rid, None)
        if req.internal:
            return
        if not venue_order_id:
            coid = req.client_order_id
            rec = self.order(coid) if coid is not None else None
            venue_order_id = rec.venue_order_id if rec is not None else req.venue_order_id
        self._events.append(
            ev.RequestResolved(
                ts_init=now,
                request_id=req.rid,
                kind=req.kind,
                outcome=outcome,
                client_order_id=req.client_order_id,
                venue_order_id=venue_order_id,
                code=code,
                message=message,
            )
        )

    def _track(self, rec: OrderRecord) -> None:
        coid = rec.client_order_id
        self._orders[coid] = rec
        self._by_cid[rec.cid] = coid
        if rec.venue_order_id is not None:
            self._by_oid[rec.venue_order_id] = coid
        for oid in rec.prior_venue_order_ids:
            self._by_oid[oid] = coid

    def _finish(self, rec: OrderRecord) -> None:
        """Move an ended order from the live maps to the bounded recent set."""
        coid = rec.client_order_id
        if self._track_changes:
            self._changed[coid] = rec
        if self._orders.pop(coid, None) is None:
            return
        by_cid = self._by_cid
        if by_cid.get(rec.cid) == coid:
            del by_cid[rec.cid]
        by_oid = self._by_oid
        current = rec.venue_order_id
        if current is not None and by_oid.get(current) == coid:
            del by_oid[current]
        for oid in rec.prior_venue_order_ids:
            if by_oid.get(oid) == coid:
                del by_oid[oid]
        if self._wanted:
            self._wanted.pop(coid, None)
        if self._held_ends:
            self._held_ends.pop(coid, None)
        if self._replace_rids:
            self._replace_rids.pop(coid, None)
        if self._externals:
            self._externals.discard(coid)
        deferred = self._deferred.pop(coid, None) if self._deferred else None
        self._remember(rec)
        if deferred:
            now = rec.ts_last
            for item in deferred:
                if item.request.rid in self._pending:
                    self._refuse(item.request, rec, now)

    def _remember(self, rec: OrderRecord) -> None:
        coid = rec.client_order_id
        recent = self._recent
        recent[coid] = rec
        self._recent_cid[rec.cid] = coid
        recent_oid = self._recent_oid
        if rec.venue_order_id is not None:
            recent_oid[rec.venue_order_id] = coid
        for oid in rec.prior_venue_order_ids:
            recent_oid[oid] = coid
        if len(recent) > self.recent_capacity:
            while len(recent) > self.recent_capacity:
                self._forget(next(iter(recent.values())))

    def _forget(self, rec: OrderRecord) -> None:
        coid = rec.client_order_id
        if self._verdicts:
            self._verdicts.pop(coid, None)
        if self._base:
            self._base.pop(coid, None)
        if self._recent.pop(coid, None) is None:
            if self._orders.get(coid) is rec:
                del self._orders[coid]
                self._externals.discard(coid)
                if self._by_cid.get(rec.cid) == coid:
                    del self._by_cid[rec.cid]
                for oid in self._oids(rec):
                    if self._by_oid.get(oid) == coid:
                        del self._by_oid[oid]
            return
        if self._recent_cid.get(rec.cid) == coid:
            del self._recent_cid[rec.cid]
        recent_oid = self._recent_oid
        current = rec.venue_order_id
        if current is not None and recent_oid.get(current) == coid:
            del recent_oid[current]
        for oid in rec.prior_venue_order_ids:
            if recent_oid.get(oid) == coid:
                del recent_oid[oid]

    @staticmethod
    def _oids(rec: OrderRecord) -> Iterator[str]:
        if rec.venue_order_id is not None:
            yield rec.venue_order_id
        yield from rec.prior_venue_order_ids

    def _snapshot(self, body: w.OrderBody, client_order_id: str | None = None) -> ev.OrderSnapshot:
        if client_order_id is None:
            rec = self._find(body.venue_order_id, body.cid)
            client_order_id = rec.client_order_id if rec is not None else None
        return ev.OrderSnapshot(
            venue_order_id=body.venue_order_id,
            client_order_id=client_order_id,
            cid=body.cid,
            symbol=body.symbol,
            side=body.side,
            price=body.price,
            quantity=body.quantity,
            filled_qty=body.filled_quantity,
            remaining_qty=body.remaining_quantity,
            status=OrderStatus.from_wire(body.status),
            time_in_force=body.time_in_force,
            post_only=bool(body.post_only),
            tag=body.tag,
            ts_event=body.ts * NS + body.tn,
        )


_ERROR_REASONS: Final = {
    404: "ORDER_NOT_FOUND",
    409: "NOT_YET_ACKNOWLEDGED",
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
}

_POST_ONLY_TEXT: Final = "post-only"


def _reject_reason(reason: str | None, text: str | None) -> str:
    """The venue's code when it gave one; else POST_ONLY_WOULD_CROSS, the text, or UNKNOWN."""
    if reason:
        return reason
    if text and _POST_ONLY_TEXT in text.lower():
        return "POST_ONLY_WOULD_CROSS"
    return "UNKNOWN"


def _tif(value: str) -> TimeInForce:
    try:
        return TimeInForce(value)
    except ValueError:
        return TimeInForce.GTC
