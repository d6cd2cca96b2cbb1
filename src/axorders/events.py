"""Typed events (past-tense names) that come out of the session and the client.

Every event carries ``ts_init``: the local receive time in Unix nanoseconds, taken from the
``now`` the caller passed in. Order events also carry the order's metadata (account, trader,
strategy, symbol) and ``ts_event``: the venue's event time, ``ts * 10**9 + tn``.

A venue "no" is an event here (:class:`OrderRejected`, :class:`CancelRejected`,
:class:`ReplaceRejected`, a failed :class:`RequestResolved`), never an exception.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import msgspec

from axorders.model import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "CancelRejected",
    "Disconnected",
    "Event",
    "ExternalOrderDiscovered",
    "JournalWarning",
    "LoginSnapshot",
    "MalformedMessage",
    "OpenOrdersReceived",
    "OrderAccepted",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderReplaced",
    "OrderSnapshot",
    "OrderStateCorrected",
    "OrderStatusReport",
    "OrderStatusUnknown",
    "OrderTriggered",
    "PositionChanged",
    "PositionMismatch",
    "Reconnected",
    "RecorderWarning",
    "RejectOrigin",
    "ReplaceRejected",
    "RequestFallback",
    "RequestKind",
    "RequestOutcome",
    "RequestResolved",
    "Resynced",
    "UnknownMessage",
    "VenueError",
    "format_event",
]


class RequestKind(enum.Enum):
    """What a request asked for."""

    PLACE = "PLACE"
    CANCEL = "CANCEL"
    REPLACE = "REPLACE"
    CANCEL_ALL = "CANCEL_ALL"
    OPEN_ORDERS = "OPEN_ORDERS"
    STATUS = "STATUS"


class RequestOutcome(enum.Enum):
    """How a request ended.

    * OK: the venue answered ``res``.
    * ERROR: the venue answered ``err`` (``code`` and ``message`` are set).
    * TIMEOUT: no answer before the request's deadline.
    * LOST: the connection dropped before the answer and the resync found no trace of the
      request's effect (for a place: after the gap the venue reported no order with its
      ``cid``; should the venue name the order later, it is revived and an
      :class:`OrderStateCorrected` says so).
    * LOCAL: refused or resolved locally without a venue round trip.
    * UNKNOWN: the answer to a place, cancel or replace was ambiguous: an ``err`` the venue
      may have acted on (5xx...), no answer before the deadline, or the connection lost
      before the answer (see :mod:`axorders.session.verdicts`). The venue may have carried
      the request out. The session asks the venue; the order's events tell the outcome (for
      a place: :class:`OrderStatusUnknown` first, then :class:`OrderAccepted` and fills, or
      a definitive :class:`OrderRejected`). ``code`` is the venue's code when it gave one.
    """

    OK = "OK"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"
    LOST = "LOST"
    LOCAL = "LOCAL"
    UNKNOWN = "UNKNOWN"


class RejectOrigin(enum.Enum):
    """Where an :class:`OrderRejected` came from."""

    VENUE_EVENT = "VENUE_EVENT"  # a `j` event
    VENUE_ERROR = "VENUE_ERROR"  # an `err` reply to the place request
    LOCAL = "LOCAL"  # local validation, no liquidity for a market order, a lost place


class Event(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Base of every event.

    Events are frozen and hold only immutable values (no lists or dicts), so they can never be
    part of a reference cycle: ``gc=False`` (inherited by every event) keeps them out of the
    cyclic garbage collector, which makes creating them about twice as cheap.

    Encoded by msgspec (as the flight recorder does), an event carries its class's name as
    ``"type"`` (``tag=True``), so that it can be decoded back.

    Build them with keywords. The fields of the base classes and of the events made once per
    venue frame (:class:`OrderAccepted`, :class:`OrderFilled`, :class:`PositionChanged`) may
    also be given by position,
    in the order of ``__struct_fields__``: the session does so, as keywords cost three times
    as much for an event of twenty fields.
    """

    ts_init: int  # local receive time, ns

    def __str__(self) -> str:
        return format_event(self)


class OrderEvent(Event, frozen=True):
    """Base of events about one order, with its metadata."""

    client_order_id: str
    venue_order_id: str | None
    account_id: str
    trader_id: str
    strategy_id: str
    symbol: str
    ts_event: int  # venue time, ns (local time for local events)


class OrderAccepted(OrderEvent, frozen=True):
    """The order rests on the venue's book (``n``)."""

    side: Side
    price: Decimal
    quantity: int
    time_in_force: TimeInForce
    post_only: bool


class OrderRejected(OrderEvent, frozen=True, kw_only=True):
    """The order will never trade.

    ``reason`` is the venue's reject code (``PRICE_OUT_OF_BOUNDS``...) when it gave one,
    otherwise ``POST_ONLY_WOULD_CROSS``, ``VENUE_ERROR_<code>``, a local code, or ``UNKNOWN``.
    """

    reason: str
    text: str
    origin: RejectOrigin
    due_post_only: bool = False
    code: int | None = None  # the err code for VENUE_ERROR


class OrderFilled(OrderEvent, frozen=True):
    """One execution (``p`` partial or ``f`` final, or a fill recovered over REST)."""

    trade_id: str
    side: Side
    order_type: OrderType
    last_qty: int
    last_price: Decimal
    liquidity_side: LiquiditySide
    filled_qty: int  # cumulative after this fill
    leaves_qty: int  # still open after this fill
    quantity: int  # order quantity
    is_final: bool  # True when this fill completed the order
    fee: Decimal | None = None  # known only for fills recovered from REST


class OrderCanceled(OrderEvent, frozen=True, kw_only=True):
    """The venue confirmed a cancel (``c``), or an armed stop was canceled locally."""

    reason: str
    text: str
    filled_qty: int


class OrderExpired(OrderEvent, frozen=True, kw_only=True):
    """The order ended unfilled or partly filled: IOC remainder (``x``) or DAY end (``d``)."""

    filled_qty: int
    done_for_day: bool


class OrderReplaced(OrderEvent, frozen=True, kw_only=True):
    """A cancel-replace (new venue id) or an in-place amend (same venue id) took effect.

    ``venue_order_id`` is the order's id from now on.
    """

    old_venue_order_id: str
    price: Decimal
    quantity: int
    filled_qty: int


class OrderTriggered(OrderEvent, frozen=True, kw_only=True):
    """A STOP_LIMIT trigger was crossed; the limit order is now being sent."""

    trigger_price: Decimal
    market_price: Decimal
    request_id: int


class CancelRejected(Event, frozen=True, kw_only=True):
    """A cancel was refused (``e`` event, or an ``err`` reply such as 404 or 409)."""

    client_order_id: str | None
    venue_order_id: str | None
    reason: str
    text: str
    code: int | None = None
    request_id: int | None = None
    ts_event: int


class ReplaceRejected(Event, frozen=True, kw_only=True):
    """A replace was refused (``err`` reply, or ORIGINAL_ORDER_TERMINATED)."""

    client_order_id: str | None
    venue_order_id: str | None
    reason: str
    text: str
    code: int | None = None
    request_id: int | None = None
    ts_event: int


class RequestResolved(Event, frozen=True, kw_only=True):
    """The outcome of one request, by request id. Every request gets exactly one."""

    request_id: int
    kind: RequestKind
    outcome: RequestOutcome
    client_order_id: str | None = None
    venue_order_id: str | None = None
    code: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is RequestOutcome.OK


class OrderSnapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An order as the venue reports it (login, open orders, external orders)."""

    venue_order_id: str
    client_order_id: str | None  # None when the cid maps to no known order
    cid: int | None
    symbol: str
    side: Side
    price: Decimal
    quantity: int
    filled_qty: int
    remaining_qty: int
    status: OrderStatus
    time_in_force: str
    post_only: bool
    tag: str | None
    ts_event: int

    def __str__(self) -> str:
        return format_event(self)


class LoginSnapshot(Event, frozen=True, kw_only=True):
    """The venue's rid-0 login response: who we are and every open order."""

    login_id: str
    orders: tuple[OrderSnapshot, ...]
    cancel_on_disconnect: bool | None
    client_heartbeat: int | None = None


class OpenOrdersReceived(Event, frozen=True, kw_only=True):
    """The answer to an open-orders request."""

    request_id: int
    orders: tuple[OrderSnapshot, ...]


class OrderStatusReport(Event, frozen=True, kw_only=True):
    """The answer to an order-status request."""

    request_id: int
    client_order_id: str | None
    venue_order_id: str
    symbol: str
    status: OrderStatus
    filled_qty: int
    remaining_qty: int
    reject_reason: str | None = None
    reject_message: str | None = None


class ExternalOrderDiscovered(Event, frozen=True, kw_only=True):
    """An open order on the venue that this session did not place or register."""

    order: OrderSnapshot


class Disconnected(Event, frozen=True, kw_only=True):
    """The connection dropped; in-flight requests now wait for the resync."""

    reason: str
    in_flight: int


class Reconnected(Event, frozen=True, kw_only=True):
    """A new connection is up; a resync follows."""

    attempt: int = 1


class Resynced(Event, frozen=True, kw_only=True):
    """Local state was reconciled with the venue after a (re)connect.

    Attributes:
        orders_checked: tracked orders compared with the venue.
        changed: orders whose state differed and were brought up to date.
        external: open venue orders nobody here knew.
        fills_recovered: fills learned from REST for the gap.
        requests_resolved: in-flight requests resolved by what the resync learned.
    """

    orders_checked: int
    changed: int
    external: int
    fills_recovered: int
    requests_resolved: int


class UnknownMessage(Event, frozen=True, kw_only=True):
    """A frame with an unknown ``t`` or an unknown shape. ``count`` is the running total."""

    text: str
    reason: str
    count: int


class MalformedMessage(Event, frozen=True, kw_only=True):
    """A frame that is not valid JSON (a remote protocol error). A resync follows."""

    text: str
    error: str
    count: int


class VenueError(Event, frozen=True, kw_only=True):
    """An ``err`` that answers no known request (no ``rid``, or an unknown one)."""

    request_id: int | None
    code: int
    message: str


class JournalWarning(Event, frozen=True, kw_only=True):
    """The order journal needs attention; the client stays connected.

    ``kind`` is one of:

    * ``WRITE_FAILED``: a write failed (once per streak of failures). Records changed by the
      venue stay queued and are retried with a bounded backoff; until one write succeeds no
      frame leaves. ``pending`` records wait.
    * ``WRITE_RECOVERED``: the queued records were written; held frames left.
    * ``DAMAGED``: the journal was found damaged (lost commits, a lost or deleted
      write-ahead log, a failed integrity check). Orders it lost are unknown to this process.
    """

    kind: str
    path: str
    message: str
    pending: int = 0


class RecorderWarning(Event, frozen=True, kw_only=True):
    """The flight recorder lost records; trading goes on untouched.

    Published once per streak: ``kind`` ``WRITE_FAILED`` (the disk is full, slow or
    unwritable: records are dropped and counted until a write works again), ``WRITE_RECOVERED``
    (the recorder writes again) or ``DROPPED`` (its buffer was full). ``dropped`` is the count
    of records lost so far; ``path`` the recording's folder.
    """

    kind: str
    path: str
    message: str
    dropped: int = 0


class OrderStateCorrected(OrderEvent, frozen=True, kw_only=True):
    """Venue evidence undid a local verdict on an order.

    An order ended locally (REJECTED by an ``err`` reply to its place, or judged lost after the
    venue reported no order with its ``cid``) was then named by the venue: an event (``n``,
    ``p``, ``f``...), a status answer or an open-orders list. The venue's word wins: the order
    is live again from ``old_state``, and the events the venue's report implies follow
    (:class:`OrderAccepted`, :class:`OrderFilled`...). ``new_state`` is the venue's state for
    it as that report gave it.
    """

    old_state: OrderStatus
    new_state: OrderStatus
    reason: str


class OrderStatusUnknown(OrderEvent, frozen=True, kw_only=True):
    """The venue may or may not hold the order: its answer to the place was ambiguous.

    Published once when an order enters the UNKNOWN state: an ``err`` to its place that the
    venue may have acted on (``reason`` ``VENUE_ERROR_<code>``, ``code`` set), no answer
    before the deadline (``TIMEOUT``), the connection lost before the answer
    (``CONNECTION_LOST``), or an order the journal had sent and the venue did not report at
    the next login (``NOT_REPORTED_AFTER_GAP``). ``cause`` says it in words; ``request_id``
    is the place's.

    The order stays live (status UNKNOWN). The session asks the venue until it knows; the
    venue's word ends it: :class:`OrderAccepted` (and fills), fills straight away, a venue
    reject, or, once the venue has said it holds no such order and
    :data:`~axorders.session.UNKNOWN_GRACE_NS` has passed since the ambiguity began, one
    definitive :class:`OrderRejected` (reason ``NOT_FOUND_AT_VENUE``). None of these is ever
    taken back. Do not place the order again under a new id meanwhile.
    """

    reason: str
    cause: str
    code: int | None = None
    request_id: int | None = None


class RequestFallback(Event, frozen=True, kw_only=True):
    """The venue does not know a WebSocket request kind (``err`` 400, 405 or 501 to a status or
    cancel-all request): from now on that kind goes over REST. Emitted once per kind."""

    kind: RequestKind
    code: int
    message: str


class OrderDenied(Event, frozen=True, kw_only=True):
    """A pre-trade risk control refused an order (or a replace) before anything was sent.

    ``reason`` names the limit (``max_notional``, ``trading_state``...); ``text`` is the
    :class:`~axorders.exceptions.RiskLimitError` message (limit, its value, the order's value).
    ``kind`` is PLACE or REPLACE; for a replace, ``quantity`` and ``price`` are the asked ones.
    """

    client_order_id: str | None
    symbol: str
    side: Side
    quantity: int
    price: Decimal | None
    reason: str
    text: str
    kind: RequestKind = RequestKind.PLACE


class PositionChanged(Event, frozen=True):
    """A fill (or a late fee for one) changed a position.

    ``quantity`` is signed (long > 0, short < 0) and ``avg_price`` the average entry price of
    the open quantity (0 when flat); ``realized_pnl`` and ``fees`` are cumulative for the symbol
    (in the quote currency; fees paid are positive). ``trade_id`` is the fill's.
    """

    symbol: str
    quantity: int
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    trade_id: str


class PositionMismatch(Event, frozen=True, kw_only=True):
    """The venue's position for a symbol differed from the local one; the venue's was adopted.

    ``venue_avg_price`` is None when the venue gave no average price.
    """

    symbol: str
    quantity: int
    avg_price: Decimal
    venue_quantity: int
    venue_avg_price: Decimal | None


# ---------------------------------------------------------------------------------------------
# One readable line per event.

# Fields left out of the line: timestamps and the metadata that is the same for every event of
# a session. ``repr()`` keeps every field.
_QUIET = frozenset({"ts_init", "ts_event", "account_id", "trader_id", "strategy_id"})


def _text(value: Any) -> str:
    if isinstance(value, Side):
        return value.name
    if isinstance(value, enum.Enum):
        return str(value.value)
    text = str(value)
    if text.isprintable():
        return text
    # A value never breaks the line: control characters are written as escapes.
    return text.encode("unicode_escape").decode("ascii")


def _pairs(struct: msgspec.Struct, skip: frozenset[str]) -> list[str]:
    fields = []
    for key in struct.__struct_fields__:
        if key in skip:
            continue
        value = getattr(struct, key)
        if value is None or value == "":
            continue
        if isinstance(value, tuple):
            # The orders of a snapshot: their number (each order prints on its own).
            fields.append(f"{'open_' + key if key == 'orders' else key}={len(value)}")
        elif isinstance(value, msgspec.Struct):
            fields.extend(_pairs(value, skip | {"cid"}))
        else:
            fields.append(f"{key}={_text(value)}")
    return fields


def format_event(event: Event | OrderSnapshot) -> str:
    """One readable line for an event: its name, then ``key=value`` pairs.

    This is also ``str(event)``, and the format the ``axorders`` command line prints. Empty
    values, timestamps and the account, trader and strategy ids are left out; sides print as
    ``BUY``/``SELL``, other enums as their value, a tuple of orders as ``open_orders=<count>``
    and a nested order as its own fields. The line never holds a line break.

    >>> format_event(Reconnected(ts_init=0, attempt=2))
    'Reconnected attempt=2'
    """
    return " ".join([type(event).__name__, *_pairs(event, _QUIET)])
