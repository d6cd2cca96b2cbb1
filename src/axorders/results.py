"""What the awaitable order methods of :class:`~axorders.client.OrdersClient` return.

:class:`OrderResult` is a frozen snapshot of one order as the client knows it once the venue
has answered: ``place_order`` returns it after the venue acknowledged (or filled, or expired)
the order, ``cancel_order`` after the venue confirmed the cancel, ``replace_order`` after the
replacement took effect. It never changes afterwards; events keep flowing through
``events()`` and ``on_event``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from axorders.model import OrderStatus, OrderType, Side, TimeInForce
from axorders.state import OrderRecord

__all__ = ["OrderResult"]


class OrderResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One order, as it stood when a request about it was answered.

    Attributes:
        client_order_id: the caller's id.
        venue_order_id: the venue's current id (None for an armed STOP_LIMIT).
        symbol: the instrument.
        side: BUY or SELL.
        order_type: LIMIT, MARKET or STOP_LIMIT.
        status: ACCEPTED (resting), PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED (an IOC's
            unfilled rest), ARMED (a STOP_LIMIT waiting for its trigger), PENDING (the venue
            took the request but sent no order event before the timeout)...
        quantity: the order's quantity (after a replace: the new one).
        filled_qty: contracts filled so far, across replaces.
        leaves_qty: contracts still working (0 once the order has ended).
        price: the limit price (for MARKET: the aggressive price it was sent at).
        trigger_price: STOP_LIMIT only.
        time_in_force: GTC, IOC or DAY.
        post_only: whether the order may only add liquidity.
        request_id: the request this answers (None for an armed STOP_LIMIT).
    """

    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    status: OrderStatus
    quantity: int
    filled_qty: int
    leaves_qty: int
    price: Decimal | None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    request_id: int | None = None

    @property
    def is_open(self) -> bool:
        """True while the order rests on the venue's book."""
        return self.status.is_open

    @property
    def is_terminal(self) -> bool:
        """True once the order has ended (filled, canceled, expired, rejected...)."""
        return self.status.is_terminal

    @classmethod
    def from_record(cls, rec: OrderRecord, request_id: int | None = None) -> OrderResult:
        """A snapshot of ``rec`` now."""
        return cls(
            client_order_id=rec.client_order_id,
            venue_order_id=rec.venue_order_id,
            symbol=rec.symbol,
            side=rec.side,
            order_type=rec.order_type,
            status=rec.status,
            quantity=rec.quantity,
            filled_qty=rec.filled_qty,
            leaves_qty=rec.leaves_qty,
            price=rec.price,
            trigger_price=rec.trigger_price,
            time_in_force=rec.time_in_force,
            post_only=rec.post_only,
            request_id=request_id,
        )
