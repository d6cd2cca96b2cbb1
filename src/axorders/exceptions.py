"""The one exception tree of axorders.

The sans-I/O core never raises for a venue "no" (a reject, a cancel reject, an error reply):
it reports it as an event. The awaitable methods of :class:`~axorders.client.OrdersClient`
(``place_order``, ``cancel_order``, ...) turn the venue's "no" to *their* request into an
:class:`OrderRequestError`; the event is published all the same::

    AxOrdersError
    ├── ProtocolError                 sans-I/O core only
    │   ├── LocalProtocolError        the caller asked for something illegal now
    │   │   ├── InvalidOrderError     a command failed local validation (names the field)
    │   │   │   ├── UnknownInstrumentError
    │   │   │   └── RiskLimitError    a pre-trade risk control refused the order
    │   │   ├── UnknownOrderError     no tracked order has that id (also an OrderNotFoundError)
    │   │   └── DuplicateOrderError   client order id or cid already live
    │   └── RemoteProtocolError       the venue sent malformed JSON or an impossible frame
    ├── TransportError                asyncio layer only
    │   ├── ConnectError              could not open the socket (after retries)
    │   └── ConnectionLostError       the socket went away while a request needed it
    ├── OrderRequestError             the venue (or the order's state) said no to a request
    │   ├── OrderRejectedError        a place was rejected: reason and code
    │   ├── CancelRejectedError       a cancel was refused
    │   ├── ReplaceRejectedError      a replace was refused
    │   └── OrderNotFoundError        the order is unknown or has already ended
    ├── AuthenticationError           the venue refused the credentials; never retried
    ├── RequestTimeoutError           no answer for a request before its deadline
    ├── RequestRejectedError          a query (REST or WebSocket) answered with an error status
    ├── InvalidStateError             e.g. a call on a closed client
    ├── InsecureTransportError        a plain ws:// or http:// URL to a non-loopback host
    └── StoreError                    the order journal could not be read or written

Messages never carry tokens or secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "AxOrdersError",
    "CancelRejectedError",
    "ConnectError",
    "ConnectionLostError",
    "DuplicateOrderError",
    "InsecureTransportError",
    "InvalidOrderError",
    "InvalidStateError",
    "LocalProtocolError",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderRequestError",
    "OrderStatusUnknownError",
    "ProtocolError",
    "RecordingError",
    "RemoteProtocolError",
    "ReplaceRejectedError",
    "RequestRejectedError",
    "RequestTimeoutError",
    "RiskLimitError",
    "StoreError",
    "TransportError",
    "UnknownInstrumentError",
    "UnknownOrderError",
]


class AxOrdersError(Exception):
    """Base class of every error raised by axorders."""


class ProtocolError(AxOrdersError):
    """A rule of the AX orders protocol was broken (by us or by the venue)."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol or the session does not allow now."""


class InvalidOrderError(LocalProtocolError):
    """A command failed local validation before anything was sent.

    Attributes:
        field: the name of the offending command field (``"price"``, ``"quantity"``...).
        reason: a short machine-friendly code, e.g. ``"PRICE_OFF_TICK"``.
    """

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = message


class UnknownInstrumentError(InvalidOrderError):
    """The symbol is not in the instrument cache."""

    def __init__(self, symbol: str) -> None:
        super().__init__(
            "symbol",
            "UNKNOWN_INSTRUMENT",
            f"unknown instrument {symbol!r}; load or cache it first",
        )
        self.symbol = symbol


class RiskLimitError(InvalidOrderError):
    """A pre-trade risk control refused an order or a replace before anything was sent.

    ``str(error)`` names the limit, its value and the order's value, e.g.
    ``"max_notional for EURUSD-PERP: 1000000 < order's 1085000.00"``.

    Attributes:
        limit: the limit's name (``"max_quantity"``, ``"max_notional"``, ``"price_collar_bps"``,
            ``"max_open_orders"``, ``"max_open_orders_total"``, ``"max_position"``,
            ``"submit_rate"``, ``"modify_rate"`` or ``"trading_state"``).
        value: the limit's value (for ``trading_state``: the state's name).
        actual: the order's value that broke it (None when there is none to give).
        symbol: the order's instrument.
        field: the order field concerned (``"quantity"``, ``"price"``, ``"side"``...).
        reason: ``limit`` in capitals (``"MAX_NOTIONAL"``).
    """

    def __init__(
        self,
        limit: str,
        value: object,
        actual: object,
        symbol: str,
        *,
        field: str = "order",
        message: str | None = None,
    ) -> None:
        text = message or f"{limit} for {symbol}: {value} < order's {actual}"
        super().__init__(field, limit.upper(), text)
        self.args = (text,)
        self.limit = limit
        self.value = value
        self.actual = actual
        self.symbol = symbol


class OrderRequestError(AxOrdersError):
    """The venue, or the order's known state, said no to a request about an order.

    Attributes:
        reason: a short code: the venue's reject reason (``POST_ONLY_WOULD_CROSS``,
            ``INSUFFICIENT_MARGIN``...), ``VENUE_ERROR_<code>`` for an error reply, or a local
            code such as ``NO_LIQUIDITY`` or ``ORDER_ALREADY_ENDED``.
        text: the venue's (or the client's) explanation.
        code: the venue's error code (400, 404...) when it answered with an error reply.
        client_order_id: the order's client order id, when known.
        venue_order_id: the order's venue order id, when known.
        request_id: the request that was refused, when one was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        text: str = "",
        code: int | None = None,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        request_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.text = text or message
        self.code = code
        self.client_order_id = client_order_id
        self.venue_order_id = venue_order_id
        self.request_id = request_id


class OrderRejectedError(OrderRequestError):
    """An order was rejected: by the venue (a ``j`` event or an error reply) or before it
    could be sent (a MARKET order with no liquidity: ``NO_LIQUIDITY``)."""


class CancelRejectedError(OrderRequestError):
    """A cancel was refused by the venue for a reason other than an unknown order."""


class ReplaceRejectedError(OrderRequestError):
    """A replace was refused (e.g. a new price outside the band, or a post-only cross)."""


class OrderNotFoundError(OrderRequestError):
    """The order is not open: unknown to the venue (404) or to the client, or already ended
    (``reason`` ``ORDER_ALREADY_ENDED``; ``status`` then names its final state)."""

    def __init__(self, message: str, *, status: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("reason", "ORDER_NOT_FOUND")
        super().__init__(message, **kwargs)
        self.status = status


class UnknownOrderError(LocalProtocolError, OrderNotFoundError):
    """No tracked order matches the given client order id or venue order id."""


class DuplicateOrderError(LocalProtocolError):
    """The client order id, or the cid derived from it, belongs to a live order."""


class RemoteProtocolError(ProtocolError):
    """The venue sent a frame that cannot be parsed (for example malformed JSON)."""


class TransportError(AxOrdersError):
    """The network transport failed."""


class ConnectError(TransportError):
    """The connection could not be established."""


class ConnectionLostError(TransportError):
    """The connection was lost while a request needed it.

    Attributes:
        reached_venue: whether the request reached the venue: True (it did, but what became
            of it after the drop is not known yet), False (the venue reported after the gap
            that it has no trace of it; a late venue event would still revive the order),
            None (unknown).
        request_id: the request, when one was sent.
    """

    def __init__(
        self, message: str, *, reached_venue: bool | None = None, request_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.reached_venue = reached_venue
        self.request_id = request_id


class AuthenticationError(AxOrdersError):
    """The venue refused the credentials (HTTP 401/403). Never retried."""


class RequestTimeoutError(AxOrdersError):
    """No answer arrived for a request before its deadline.

    Attributes:
        request_id: the request, when one was sent.
    """

    def __init__(self, message: str, *, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class OrderStatusUnknownError(RequestTimeoutError):
    """The venue's answer to a place, cancel or replace was ambiguous (an error it may have
    acted on, no answer before the deadline, or the connection lost before the answer), and
    the venue had not said what became of the order when the wait ended.

    A kind of :class:`RequestTimeoutError` (the wait for the venue's word ran out), not an
    :class:`OrderRequestError`: nothing says the venue refused the request, and a caller that
    takes it for a "no" and places again doubles its exposure. The session keeps asking the
    venue; the order's events (:class:`~axorders.events.OrderAccepted`, fills, or a
    definitive :class:`~axorders.events.OrderRejected`) tell the outcome.

    Attributes:
        request_id: the request whose answer was ambiguous.
        client_order_id: the order's client order id, when known.
        reason: what made it ambiguous (``VENUE_ERROR_500``, ``TIMEOUT``, ``CONNECTION_LOST``).
        code: the venue's error code, when it answered with one.
    """

    def __init__(
        self,
        message: str = "",
        *,
        request_id: int | None = None,
        client_order_id: str | None = None,
        reason: str = "",
        code: int | None = None,
    ) -> None:
        what = f"order {client_order_id!r}" if client_order_id else "the order"
        text = (
            f"the venue's answer about {what} was ambiguous ({reason or 'no answer'}): the "
            "venue may hold the order; do not place it again under a new id; watch the "
            "events for the venue's word"
        )
        super().__init__(f"{message}: {text}" if message else text, request_id=request_id)
        self.client_order_id = client_order_id
        self.reason = reason
        self.code = code


class RequestRejectedError(AxOrdersError):
    """A query was answered with an error status (the venue's "no" to a REST call or to an
    open-orders request).

    Attributes:
        status: the HTTP status.
        message: the venue's error text.
        code: the error code of the body, when it carries one.
    """

    def __init__(self, status: int, message: str, *, code: int | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code


class InvalidStateError(AxOrdersError):
    """The object is in a state that does not allow this call (e.g. closed)."""


class InsecureTransportError(AxOrdersError):
    """A plain-text URL points at a host that is not loopback and was not explicitly allowed."""


class StoreError(AxOrdersError):
    """The order journal could not be read or written."""


class RecordingError(AxOrdersError):
    """A recording file cannot be read: it is not one (not zstd, not JSON lines, another
    format), it is of a newer format version, or it is damaged or cut off before its header.
    The message names the file."""
