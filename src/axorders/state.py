"""Order lifecycle: the one transition table and the per-order record (pure).

:class:`OrderRecord` is what the session tracks for each order and what the journal stores. The
client order id stays the same for the whole life of an order; a cancel-replace moves it to a
new venue order id (the venue keeps the ``cid``), and ``filled_qty`` is cumulative across them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from axorders.model import OrderStatus, OrderType, Side, TimeInForce

__all__ = ["TRANSITIONS", "OrderRecord", "can_transition"]

_S = OrderStatus
_LIVE_TARGETS: Final = frozenset(
    {
        _S.ACCEPTED,
        _S.PARTIALLY_FILLED,
        _S.FILLED,
        _S.CANCELED,
        _S.EXPIRED,
        _S.REPLACED,
        _S.DONE_FOR_DAY,
        _S.UNKNOWN,
    }
)

TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    # Held by the client until its trigger is crossed.
    _S.ARMED: frozenset({_S.PENDING, _S.CANCELED, _S.REJECTED}),
    # Sent, not acknowledged yet. A fill or an end can overtake the ack.
    _S.PENDING: _LIVE_TARGETS | {_S.REJECTED},
    # ACCEPTED -> ACCEPTED is an in-place amend.
    _S.ACCEPTED: _LIVE_TARGETS,
    _S.PARTIALLY_FILLED: _LIVE_TARGETS - {_S.ACCEPTED},
    # UNKNOWN: the venue's answer to the place was ambiguous, or the venue reported a state
    # we do not know; anything the venue says next may follow.
    _S.UNKNOWN: frozenset(OrderStatus) - {_S.ARMED},
}
"""Allowed moves. Terminal states have no entry: nothing leaves them."""


# The same table keyed by the members' string values: an Enum member hashes through a Python
# ``__hash__``, a str through its cached hash, and these lookups are on the hot path.
_ALLOWED: Final[dict[str, frozenset[str]]] = {
    state._value_: frozenset(t._value_ for t in targets) for state, targets in TRANSITIONS.items()
}
_TERMINAL_VALUES: Final = frozenset(s._value_ for s in OrderStatus if s.is_terminal)
_EMPTY: Final[frozenset[str]] = frozenset()
_SCAN_LIMIT: Final = 8  # up to this many trade ids, a list scan beats hashing


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when ``current -> target`` is a legal move."""
    return target._value_ in _ALLOWED.get(current._value_, _EMPTY)


@dataclass(slots=True, kw_only=True)
class OrderRecord:
    """Everything the session knows about one order.

    Attributes:
        client_order_id: the caller's id (``CID-<cid>`` / ``EXT-<venue id>`` for orders found
            on the venue that nobody here placed).
        cid: :func:`axorders.model.cid_for` of the client order id (the venue's for externals).
        venue_order_id: the current venue id; None until the venue has answered.
        prior_venue_order_ids: ids this order had before a cancel-replace.
        price: the limit price (None only for a MARKET order before it is priced).
        filled_qty: cumulative filled contracts, across replaces.
        trade_ids: trade ids already delivered, so that no fill is delivered twice.
        last_fill_ns: venue time of the latest fill delivered (0 before the first).
        ts_init: local time the order was created, ns.
        ts_last: local time of the latest change, ns.
        external: found on the venue, not placed here.
        verdict: for an order ended by a local verdict (a definitive ``err`` reply to its
            place), that verdict's reason: the venue may still name the order, and its word
            wins. None once the venue has spoken.
        unknown_since: local time (ns) an ambiguous answer put the order in the UNKNOWN
            state (0: never); the definitive "not at the venue" waits a grace period from it.
        unknown_reason: what made it UNKNOWN (``VENUE_ERROR_500``, ``TIMEOUT``,
            ``CONNECTION_LOST``...); None when it never was.
        carried_qty: the filled quantity carried from earlier venue orders that the current
            one's own filled count leaves out (a replacement the venue started fresh, its
            quantity what was left); 0 when it counts everything. Journaled: after a
            restart the venue's figures for the order are read against it.
    """

    client_order_id: str
    cid: int
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    price: Decimal | None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    tag: str | None = None
    account_id: str
    trader_id: str
    strategy_id: str
    ts_init: int
    status: OrderStatus = OrderStatus.PENDING
    venue_order_id: str | None = None
    prior_venue_order_ids: list[str] = field(default_factory=list)
    filled_qty: int = 0
    trade_ids: list[str] = field(default_factory=list)
    last_fill_ns: int = 0
    ts_last: int = 0
    external: bool = False
    verdict: str | None = None
    unknown_since: int = 0
    unknown_reason: str | None = None
    carried_qty: int = 0
    # A set over ``trade_ids`` once there are more than a few, so that an order with
    # thousands of fills does not scan a list per fill; rebuilt when the list changed
    # behind its back (a record loaded from the journal).
    _trade_index: set[str] | None = field(default=None, init=False, repr=False, compare=False)
    # The request id of its latest place on this session (0: none); not journaled.
    place_request_id: int = field(default=0, init=False, repr=False, compare=False)

    def has_trade(self, trade_id: str) -> bool:
        """True when a fill with ``trade_id`` was already delivered."""
        ids = self.trade_ids
        if len(ids) <= _SCAN_LIMIT:
            return trade_id in ids
        index = self._trade_index
        if index is None or len(index) != len(ids):
            index = self._trade_index = set(ids)
        return trade_id in index

    def add_trade(self, trade_id: str) -> None:
        """Record a delivered fill's trade id."""
        self.trade_ids.append(trade_id)
        index = self._trade_index
        if index is not None:
            index.add(trade_id)

    @property
    def leaves_qty(self) -> int:
        """Contracts still working (0 once the order is terminal)."""
        if self.status._value_ in _TERMINAL_VALUES:
            return 0
        return max(0, self.quantity - self.filled_qty)

    @property
    def is_terminal(self) -> bool:
        return self.status._value_ in _TERMINAL_VALUES

    def move_to(self, target: OrderStatus) -> bool:
        """Apply ``target`` if the table allows it; return whether it did."""
        if target._value_ not in _ALLOWED.get(self.status._value_, _EMPTY):
            return False
        self.status = target
        return True
