"""STOP_LIMIT trigger emulation: a client-side strategy on market data (pure, sans-I/O).

The venue has no stop orders. The session holds a STOP_LIMIT armed (it is order state: it can be
canceled or amended before its trigger, journaled and restored); :class:`StopTriggers` watches
the market prices fed to it and, when one crosses an armed stop's trigger, tells the session to
send it (:meth:`~axorders.session.OrdersSession.trigger_stop`).

A BUY stop triggers when the market price is at or above its trigger, a SELL stop at or below.
The market price is the last trade (``TriggerSource.LAST_TRADE``) or the best ask for a BUY and
the best bid for a SELL (``TriggerSource.BID_ASK``).
"""

from __future__ import annotations

from decimal import Decimal

from axorders.model import OrderStatus, Side, TriggerSource
from axorders.session import OrdersSession
from axorders.state import OrderRecord

__all__ = ["Prices", "StopTriggers"]

Prices = tuple[Decimal | None, Decimal | None, Decimal | None]
"""The last known (last trade, best bid, best ask) of a symbol."""


class StopTriggers:
    """Fires a session's armed STOP_LIMIT orders from market prices.

    Args:
        session: the session whose armed stops this watches.
        trigger_source: which market price crosses a trigger.
    """

    __slots__ = ("_prices", "session", "trigger_source")

    def __init__(
        self, session: OrdersSession, trigger_source: TriggerSource = TriggerSource.LAST_TRADE
    ) -> None:
        self.session = session
        self.trigger_source = trigger_source
        self._prices: dict[str, Prices] = {}

    def prices(self, symbol: str) -> Prices | None:
        """The last known (last, bid, ask) of ``symbol``, or None before any price."""
        return self._prices.get(symbol)

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
        Nothing fires while the session is not connected.
        """
        prev = self._prices.get(symbol, (None, None, None))
        prices = (
            last if last is not None else prev[0],
            bid if bid is not None else prev[1],
            ask if ask is not None else prev[2],
        )
        self._prices[symbol] = prices
        session = self.session
        if not session.is_connected:
            return
        for rec in session.armed_stops(symbol):
            self._check(rec, now, prices)

    def check(self, client_order_id: str, now: int) -> None:
        """Check one armed stop against the known prices (right after arming it)."""
        session = self.session
        rec = session.order(client_order_id)
        if rec is None or rec.status is not OrderStatus.ARMED or not session.is_connected:
            return
        prices = self._prices.get(rec.symbol)
        if prices is not None:
            self._check(rec, now, prices)

    def _check(self, rec: OrderRecord, now: int, prices: Prices) -> None:
        trigger = rec.trigger_price
        if trigger is None:
            return
        last, bid, ask = prices
        buy = rec.side is Side.BUY
        market = last if self.trigger_source is TriggerSource.LAST_TRADE else ask if buy else bid
        if market is None or (market < trigger if buy else market > trigger):
            return
        self.session.trigger_stop(rec.client_order_id, now, market)
