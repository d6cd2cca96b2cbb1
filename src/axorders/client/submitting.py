"""The ``submit_*`` commands: each returns a request id as soon as its frame is queued.

:class:`Submitter` turns a call into a command (MARKET orders priced from the venue's preview,
STOP_LIMIT orders watched on market data) and hands it to the client's journaled send. It owns
no state: the session owns the orders, the journal writer the records.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from axorders.client.gate import SessionGate
from axorders.commands import Command, PlaceOrder
from axorders.exceptions import InvalidOrderError
from axorders.model import Instrument, OrderType, RequestId, Side, TimeInForce
from axorders.state import OrderRecord

__all__ = ["Submitter"]

Preview = Callable[[str, Side, int], Awaitable[Decimal | None]]
"""The venue's aggressive-limit price for ``(symbol, side, quantity)``, None with no liquidity."""


class Submitter:
    """The ``submit_*`` methods (see the module's docstring).

    Args:
        gate: the session's inputs.
        send: the client's journaled send of a command.
        preview: the venue's aggressive-limit price (REST), for MARKET orders.
        watch: subscribes a symbol's market data (for STOP_LIMIT triggers).
        pump: moves the session's output on.
        clock: Unix nanoseconds.
    """

    def __init__(
        self,
        gate: SessionGate,
        send: Callable[[Command], RequestId | None],
        preview: Preview,
        watch: Callable[[str], Awaitable[None]],
        pump: Callable[[], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._gate = gate
        self._session = gate.session
        self._send = send
        self._preview = preview
        self._watch = watch
        self._pump = pump
        self._clock = clock

    def instrument(self, symbol: str) -> Instrument:
        return self._session.instrument(symbol)
    async def submit(self, command: PlaceOrder) -> RequestId | None:
        """Send a place; its request id, or None for a STOP_LIMIT (armed, nothing sent) and
        a MARKET order that found no liquidity (rejected, nothing sent)."""
        otype = OrderType.parse(command.order_type)
        client_order_id = command.client_order_id
        symbol = command.symbol
        if otype is OrderType.MARKET and command.price is None:
            command = await self._price_market(command)
            if command.price is None:
                return None
        if otype is OrderType.STOP_LIMIT:
            self._session.instrument(symbol)
            await self._watch(symbol)
            rid = self._send(command)
            self._gate.check_stop(client_order_id, self._clock())  # a known price may cross it
            self._pump()
            return rid
        return self._send(command)

    async def _price_market(self, command: PlaceOrder) -> PlaceOrder:
        inst = self._session.instrument(command.symbol)
        side = Side.parse(command.side)
        quantity = inst.check_quantity(command.quantity)
        if command.post_only:
            raise InvalidOrderError(
                "post_only", "POST_ONLY_MARKET", "a MARKET order cannot be post-only"
            )
        price = await self._preview(command.symbol, side, quantity)
        if price is None:
            self._gate.reject(
                command,
                "NO_LIQUIDITY",
                f"no liquidity on the {side.opposite.name.lower()} side of {command.symbol}",
                self._clock(),
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

    def tracked(
        self, client_order_id: str | None, venue_order_id: str | None
    ) -> OrderRecord | None:
        """The order with that client (else venue) order id, if the session tracks it."""
        rec = self._session.order(client_order_id) if client_order_id is not None else None
        if rec is None and venue_order_id is not None:
            rec = self._session.order_by_venue_id(venue_order_id)
        return rec
