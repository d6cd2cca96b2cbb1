"""The client's commands: ``submit_*`` methods that return a request id at once, MARKET
pricing, instruments, and the orders the client tracks.
"""

from __future__ import annotations

from decimal import Decimal

from axorders.clientbase import ClientBase, now_ns
from axorders.commands import CancelAllOrders, CancelOrder, PlaceOrder, ReplaceOrder
from axorders.exceptions import InvalidOrderError
from axorders.model import Instrument, OrderType, RequestId, Side, TimeInForce
from axorders.state import OrderRecord

__all__ = ["OrderCommands"]


class OrderCommands(ClientBase):
    """Sending commands; instruments and tracked orders."""

    async def load_instruments(self) -> list[Instrument]:
        """Fetch every instrument over REST and cache it."""
        instruments = await self.rest.instruments()
        for instrument in instruments:
            self.session.cache_instrument(instrument)
        return instruments

    def cache_instrument(self, instrument: Instrument) -> None:
        self.session.cache_instrument(instrument)

    def instrument(self, symbol: str) -> Instrument:
        return self.session.instrument(symbol)
    async def submit_order(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int | Decimal | str,
        price: Decimal | str | float | None = None,
        *,
        order_type: OrderType | str = OrderType.LIMIT,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        trigger_price: Decimal | str | float | None = None,
        strategy_id: str | None = None,
        tag: str | None = None,
    ) -> RequestId | None:
        """Send an order; returns its request id as soon as the frame is written.

        MARKET orders are priced from the venue's aggressive-limit preview and sent as IOC
        limits; with no liquidity they end in :class:`~axorders.events.OrderRejected` and
        this returns None. STOP_LIMIT orders are armed locally (returns None) and sent as a
        limit when the market crosses ``trigger_price``.

        Raises:
            InvalidOrderError: bad input (nothing was sent).
            DuplicateOrderError: the client order id is in use.
        """
        otype = OrderType.parse(order_type)
        command = PlaceOrder(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=otype,
            price=price,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            post_only=post_only,
            strategy_id=strategy_id,
            tag=tag,
        )
        if otype is OrderType.MARKET and price is None:
            command = await self._price_market(command)
            if command.price is None:
                return None
        if otype is OrderType.STOP_LIMIT:
            self.session.instrument(symbol)
            await self._market.watch(symbol)
            rid = self._send(command)
            self.stops.check(client_order_id, now_ns())  # a known price may cross it already
            self._pump()
            return rid
        return self._send(command)

    async def _price_market(self, command: PlaceOrder) -> PlaceOrder:
        inst = self.session.instrument(command.symbol)
        side = Side.parse(command.side)
        quantity = inst.check_quantity(command.quantity)
        if command.post_only:
            raise InvalidOrderError(
                "post_only", "POST_ONLY_MARKET", "a MARKET order cannot be post-only"
            )
        price = await self.rest.preview_aggressive_limit_order(command.symbol, side, quantity)
        if price is None:
            self.session.reject(
                command,
                "NO_LIQUIDITY",
                f"no liquidity on the {side.opposite.name.lower()} side of {command.symbol}",
                now_ns(),
            )
            self._pump()
            return command
        return PlaceOrder(
            client_order_id=command.client_order_id,
            symbol=command.symbol,
            side=side,
            quantity=quantity,
            order_type=OrderType.MARKET,
            price=inst.round_to_tick(price, side_up=side is Side.BUY),
            time_in_force=TimeInForce.IOC,
            strategy_id=command.strategy_id,
            tag=command.tag,
        )
    async def submit_cancel(
        self, client_order_id: str | None = None, venue_order_id: str | None = None
    ) -> RequestId:
        """Send a cancel of one order (by client or venue order id); returns its request id
        at once. The outcome arrives as events (:class:`~axorders.events.OrderCanceled` or
        :class:`~axorders.events.CancelRejected`, then a ``RequestResolved``).

        Raises:
            UnknownOrderError: no tracked order has that id (nothing was sent).
            InvalidStateError: not connected.
        """
        rid = self._send(CancelOrder(client_order_id, venue_order_id))
        assert rid is not None
        return rid

    async def submit_replace(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        price: Decimal | str | float | None = None,
        quantity: int | Decimal | str | None = None,
    ) -> RequestId:
        """Send a cancel-replace of an open order's price and/or quantity; returns its request
        id at once. The outcome arrives as events (``OrderReplaced`` or ``ReplaceRejected``).

        Raises:
            InvalidOrderError: bad price or quantity (nothing was sent).
            UnknownOrderError: no tracked order has that id.
        """
        rid = self._send(ReplaceOrder(client_order_id, venue_order_id, price, quantity))
        assert rid is not None
        return rid

    async def submit_cancel_all(self, symbol: str | None = None) -> RequestId:
        """Send a cancel of every open order (of ``symbol``); returns its request id at once.

        Armed STOP_LIMIT orders (of ``symbol``) are canceled locally at once.
        """
        rid = self._send(CancelAllOrders(symbol))
        assert rid is not None
        return rid

    def _tracked(
        self, client_order_id: str | None, venue_order_id: str | None
    ) -> OrderRecord | None:
        rec = self.session.order(client_order_id) if client_order_id is not None else None
        if rec is None and venue_order_id is not None:
            rec = self.session.order_by_venue_id(venue_order_id)
        return rec
    def register_external_order(
        self,
        client_order_id: str,
        venue_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int,
        price: Decimal | str,
        *,
        strategy_id: str | None = None,
        filled_qty: int = 0,
    ) -> OrderRecord:
        """Track an order placed elsewhere so that its events carry ``client_order_id``."""
        rec = self.session.register_external_order(
            client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            strategy_id=strategy_id,
            filled_qty=filled_qty,
            now=now_ns(),
        )
        self._pump()
        return rec

    def orders(self, *, include_ended: bool = False) -> list[OrderRecord]:
        """The orders this client tracks."""
        return self.session.orders(include_ended=include_ended)

    def order(self, client_order_id: str) -> OrderRecord | None:
        return self.session.order(client_order_id)
