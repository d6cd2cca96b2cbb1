"""Commands a caller gives :class:`~axorders.session.OrdersSession` (imperative names).

Fields accept friendly input (``"BUY"``, ``"1.1283"``, ``100``); the session validates and
converts them before anything is sent, raising
:class:`~axorders.exceptions.InvalidOrderError` with the offending field's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from axorders.model import OrderType, Side, TimeInForce, check_client_order_id

__all__ = [
    "CancelAllOrders",
    "CancelOrder",
    "Command",
    "PlaceOrder",
    "QueryOpenOrders",
    "QueryOrderStatus",
    "ReplaceOrder",
]

Number = Decimal | int | float | str


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place an order.

    Attributes:
        client_order_id: the caller's id; its ``cid`` is :func:`axorders.model.cid_for` of it.
        symbol: instrument symbol, which must be cached.
        side: BUY or SELL.
        quantity: whole number of contracts, at least the instrument minimum.
        order_type: LIMIT, MARKET (sent as an IOC limit at ``price``) or STOP_LIMIT
            (held until ``trigger_price`` is crossed, then sent as a limit at ``price``).
        price: limit price; for MARKET the aggressive price to send (the client fills it in
            from the venue's preview).
        trigger_price: STOP_LIMIT only.
        time_in_force: GTC, IOC or DAY (MARKET is always IOC).
        post_only: refused on MARKET and STOP_LIMIT.
        strategy_id: defaults to the session's default strategy id.
        tag: optional venue tag, at most 10 letters or digits.
    """

    client_order_id: str
    symbol: str
    side: Side | str
    quantity: Number
    order_type: OrderType | str = OrderType.LIMIT
    price: Number | None = None
    trigger_price: Number | None = None
    time_in_force: TimeInForce | str = TimeInForce.GTC
    post_only: bool = False
    strategy_id: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        # The id's length and characters are checked for every place, whoever builds it; a
        # missing or blank id is refused by the session with the rest of the order.
        if isinstance(self.client_order_id, str) and self.client_order_id.strip():
            check_client_order_id(self.client_order_id)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one order, named by client order id or by venue order id (one is enough)."""

    client_order_id: str | None = None
    venue_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    """Replace (cancel-replace) an open order's price and/or quantity."""

    client_order_id: str | None = None
    venue_order_id: str | None = None
    price: Number | None = None
    quantity: Number | None = None


@dataclass(frozen=True, slots=True)
class CancelAllOrders:
    """Cancel every open order, or only those of ``symbol``."""

    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class QueryOpenOrders:
    """Ask the venue for its list of open orders."""


@dataclass(frozen=True, slots=True)
class QueryOrderStatus:
    """Ask the venue for the status of one order (any state)."""

    client_order_id: str | None = None
    venue_order_id: str | None = None


Command = (
    PlaceOrder | CancelOrder | ReplaceOrder | CancelAllOrders | QueryOpenOrders | QueryOrderStatus
)
