"""The session's constants and the small values it hands out (what to fetch, its stats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from axorders import events as ev
from axorders.model import OrderStatus

NS: Final = 1_000_000_000
MAX_REQUEST_ID: Final = 2**31 - 1
CANCEL_RETRY_NS: Final = 50_000_000
"""Wait before re-sending a cancel the venue answered 409 (not yet acknowledged)."""
MAX_CANCEL_RETRIES: Final = 20
FILL_WINDOW_MARGIN_NS: Final = 5 * NS
"""How far before the last known fill a REST fills window starts."""
UNKNOWN_GRACE_NS: Final = 5 * NS
"""How long after an ambiguous answer to a place (see :mod:`axorders.session.verdicts`) the
venue's "no such order" is taken as definitive. A venue that failed while handling the place
(an ``err`` 500) may still be carrying it out, and an order on its way through the gateway is
not found by a status query that overtakes it: a first "not found" soon after the answer is not
the venue's last word. Five seconds is orders of magnitude longer than the venue takes to act
on a request (milliseconds) and short enough for a strategy to wait; it does not depend on the
request timeout, so a short timeout does not shorten it. A "not found" before it is asked again
once it has passed."""
UNSUPPORTED_CODES: Final = frozenset({400, 405, 501})
"""``err`` codes to a WS status (``s``) or cancel-all (``X``) request that mean the venue does not
know the request: that kind goes over REST from then on. (For ``s``, 404 still means "no such
order".)"""


class K:
    """The request kinds as plain class attributes: looking an enum member up on its enum
    class costs about ten times a plain attribute, and the handlers do it on every frame."""

    PLACE: Final = ev.RequestKind.PLACE
    CANCEL: Final = ev.RequestKind.CANCEL
    REPLACE: Final = ev.RequestKind.REPLACE
    CANCEL_ALL: Final = ev.RequestKind.CANCEL_ALL
    OPEN_ORDERS: Final = ev.RequestKind.OPEN_ORDERS
    STATUS: Final = ev.RequestKind.STATUS


class S:
    """The order states as plain class attributes (see :class:`K`)."""

    ARMED: Final = OrderStatus.ARMED
    PENDING: Final = OrderStatus.PENDING
    ACCEPTED: Final = OrderStatus.ACCEPTED
    PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
    FILLED: Final = OrderStatus.FILLED
    CANCELED: Final = OrderStatus.CANCELED
    REJECTED: Final = OrderStatus.REJECTED
    EXPIRED: Final = OrderStatus.EXPIRED
    REPLACED: Final = OrderStatus.REPLACED
    DONE_FOR_DAY: Final = OrderStatus.DONE_FOR_DAY
    UNKNOWN: Final = OrderStatus.UNKNOWN


class Outcome:
    """The request outcomes as plain class attributes (see :class:`K`)."""

    OK: Final = ev.RequestOutcome.OK
    ERROR: Final = ev.RequestOutcome.ERROR
    TIMEOUT: Final = ev.RequestOutcome.TIMEOUT
    LOST: Final = ev.RequestOutcome.LOST
    LOCAL: Final = ev.RequestOutcome.LOCAL
    UNKNOWN: Final = ev.RequestOutcome.UNKNOWN


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
