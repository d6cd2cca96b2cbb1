"""The one exception tree of axorders.

A venue "no" (a reject, a cancel reject, an error reply) is never raised: it arrives as an
event. Exceptions are for programming errors, bad input and broken transports::

    AxOrdersError
    ├── ProtocolError                 sans-I/O core only
    │   ├── LocalProtocolError        the caller asked for something illegal now
    │   │   ├── InvalidOrderError     a command failed local validation (names the field)
    │   │   ├── UnknownInstrumentError
    │   │   ├── UnknownOrderError     no tracked order has that id
    │   │   └── DuplicateOrderError   client order id or cid already live
    │   └── RemoteProtocolError       the venue sent malformed JSON or an impossible frame
    ├── TransportError                asyncio layer only
    │   ├── ConnectError              could not open the socket (after retries)
    │   └── ConnectionLostError       the socket went away while a call needed it
    ├── AuthenticationError           the venue refused the credentials; never retried
    ├── RequestTimeoutError           no answer for a request before its deadline
    ├── RequestRejectedError          a REST call answered with an error status
    ├── InvalidStateError             e.g. a call on a closed client
    ├── InsecureTransportError        a plain ws:// or http:// URL to a non-loopback host
    └── StoreError                    the order journal could not be read or written

Messages never carry tokens or secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AxOrdersError",
    "ConnectError",
    "ConnectionLostError",
    "DuplicateOrderError",
    "InsecureTransportError",
    "InvalidOrderError",
    "InvalidStateError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestRejectedError",
    "RequestTimeoutError",
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


class UnknownOrderError(LocalProtocolError):
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
    """The connection was lost while an operation needed it."""


class AuthenticationError(AxOrdersError):
    """The venue refused the credentials (HTTP 401/403). Never retried."""


class RequestTimeoutError(AxOrdersError):
    """No answer arrived for a request before its deadline."""


class RequestRejectedError(AxOrdersError):
    """A REST call was answered with an error status (the venue's "no" to a query).

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
