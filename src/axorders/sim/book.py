"""One symbol's limit order book: its orders, its price levels and its price rules.

Here live :class:`Order` (one order as the venue keeps it, and the order object it writes for
it), :class:`Level` (a FIFO of orders at one price) and :class:`Book` (both sides of one
symbol, the mark and its price band, the tick arithmetic, the checks of size, tick and band,
the post-only re-pricing, putting orders on and taking them off the book, the last trade and
the day's range, and the market-data views: depth, preview, L1, L2 and ticker). Prices are
held as integer ticks; a request's decimal string is converted once and cached per book. Each
side is a dict ``ticks -> Level`` plus a sorted list of the level prices. Taking an order off
is lazy: the order is marked dead, the level's live quantity reduced, and the level dropped
when its live quantity reaches zero; the dead entry is skipped by the matching later.

What does not live here: who owns an order and what it costs them (margin, positions, fees:
:mod:`axorders.sim.accounts`), the walk of the opposite side when an order crosses and the
events it produces (:mod:`axorders.sim.matching`), and the commands (:mod:`axorders.sim.engine`).
Pure: no clock, no I/O.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

import msgspec

from axorders.model import Instrument, Side
from axorders.sim.rules import (
    ACCEPTED,
    CANCELED,
    HUNDRED,
    NS,
    OPEN_STATES,
    REJECTED,
    ZERO,
    Rejection,
    Texts,
    plain,
)
from axorders.wire.md import BookLevel, L1BookMsg, L2BookMsg, TickerMsg
from axorders.wire.orders import OrderBody, StatusBody
from axorders.wire.rest import PreviewResponse

__all__ = ["Book", "Level", "Order"]

_replace: Final = msgspec.structs.replace


class Order(msgspec.Struct, gc=False):
    """One order. Untracked by the cyclic garbage collector (``gc=False``): the history keeps
    every order, and scanning them all on each full collection would dominate the engine's
    cost. It therefore refers to nothing that could form a cycle: its account by id, and the
    account's blank order object (itself untracked).

    Created positionally (one per order; keyword passing of this many arguments costs more
    than the rest of the construction).
    """

    oid: str
    account_id: str
    blank: OrderBody  # the account's blank order object (user and account ids set)
    symbol: str
    side: Side
    is_buy: bool
    quantity: int
    price: Decimal
    ticks: int
    tif: str
    cid: int | None
    tag: str | None
    post_only: bool
    reprice: str
    ts: int
    origin: int | None
    filled: int = 0
    status: str = ACCEPTED
    reason: str | None = None
    text: str | None = None
    live: bool = False  # resting on the book
    first_body: OrderBody | None = None

    def final_body(self) -> OrderBody:
        """:meth:`body` for the order's terminal event; the cached first body is dropped.

        A history keeps every order: without the cache each holds a third less memory, and a
        later query rebuilds the object.
        """
        body = self.body()
        self.first_body = None
        return body

    def body(self) -> OrderBody:
        """The venue's order object for this order, as it is now.

        The first call builds the full object; later calls copy it with the fields that can
        change (state, quantities, reject reason and text), which is much cheaper. The price
        is settled before the first call.
        """
        status = self.status
        remaining = self.quantity - self.filled if status in OPEN_STATES else 0
        first = self.first_body
        if first is not None:
            return _replace(
                first,
                status=status,
                filled_quantity=self.filled,
                remaining_quantity=remaining,
                reject_reason=self.reason,
                text=self.text,
            )
        # Copying the account's blank order object is several times faster than building
        # one from scratch.
        first = self.first_body = _replace(
            self.blank,
            venue_order_id=self.oid,
            symbol=self.symbol,
            price=self.price,
            quantity=self.quantity,
            filled_quantity=self.filled,
            remaining_quantity=remaining,
            status=status,
            side=self.side,
            time_in_force=self.tif,
            cid=self.cid,
            tag=self.tag,
            post_only=self.post_only,
            reprice=self.reprice,
            reject_reason=self.reason,
            text=self.text,
            ts=self.ts // NS,
            tn=self.ts % NS,
        )
        return first

    def status_body(self) -> StatusBody:
        """The order-status object (WS ``s``, REST ``order-status``).

        ``reject_message`` is the venue's text of a REJECTED order, and of a CANCELED one that
        the venue canceled itself (self-trade prevention, cancel-on-disconnect).
        """
        status = self.status
        return StatusBody(
            symbol=self.symbol,
            order_id=self.oid,
            clord_id=self.cid,
            state=status,
            filled_quantity=self.filled,
            remaining_quantity=self.quantity - self.filled if status in OPEN_STATES else 0,
            reject_reason=self.reason,
            # The venue's text of a rejection, or of a cancel the venue made itself
            # (self-trade prevention, cancel-on-disconnect), as its ``c`` event says it.
            reject_message=self.text if status in (REJECTED, CANCELED) else None,
        )


class Level:
    """The orders at one price, oldest first, and their live quantity."""

    __slots__ = ("orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.qty = 0  # live quantity


class Book:
    """Both sides of one symbol's book, its mark and price band, and its trading statistics."""

    __slots__ = (
        "ask_levels",
        "ask_prices",
        "band_high",
        "band_low",
        "bid_levels",
        "bid_prices",
        "high",
        "im_f",
        "im_rate",
        "instrument",
        "last_qty",
        "last_ticks",
        "low",
        "mark",
        "mark_f",
        "mult_f",
        "multiplier",
        "open",
        "price_cache",
        "symbol",
        "tick",
        "tick_f",
        "volume",
    )

    def __init__(self, instrument: Instrument, mark: Decimal) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.tick = instrument.tick_size
        self.multiplier = instrument.multiplier
        self.im_rate = instrument.initial_margin_pct / HUNDRED * instrument.multiplier
        self.im_f = float(self.im_rate)
        self.tick_f = float(self.tick)
        self.mult_f = float(self.multiplier)
        self.mark_f = float(mark)
        self.bid_levels: dict[int, Level] = {}
        self.bid_prices: list[int] = []  # ascending; best bid last
        self.ask_levels: dict[int, Level] = {}
        self.ask_prices: list[int] = []  # ascending; best ask first
        self.price_cache: dict[Decimal, tuple[int, Decimal] | None] = {}
        self.mark = mark
        self.band_low = 0
        self.band_high = 0
        self.last_ticks: int | None = None
        self.last_qty = 0
        self.open: int | None = None
        self.high: int | None = None
        self.low: int | None = None
        self.volume = 0
        self.set_mark(mark)

    # -- prices ---------------------------------------------------------------------------------

    def set_mark(self, mark: Decimal) -> None:
        """New mark; the band is ``mark × (1 ± pct / 100)`` rounded inwards to ticks."""
        self.mark = mark
        self.mark_f = float(mark)
        instrument = self.instrument
        low = mark * (1 - instrument.price_band_lower_pct / HUNDRED) / self.tick
        high = mark * (1 + instrument.price_band_upper_pct / HUNDRED) / self.tick
        self.band_low = int(low.to_integral_value(rounding=ROUND_CEILING))
        self.band_high = int(high.to_integral_value(rounding=ROUND_FLOOR))

    def ticks_of(self, price: Decimal) -> tuple[int, Decimal] | None:
        """``(ticks, normalized price)``, or None when ``price`` is off the tick."""
        cache = self.price_cache
        try:
            return cache[price]
        except KeyError:
            pass
        try:
            ratio = price / self.tick
            exact = ratio == ratio.to_integral_value()
        except ArithmeticError:  # absurd exponents
            exact = False
        result = (int(ratio), self.price_of(int(ratio))) if exact else None
        if len(cache) > 50_000:
            cache.clear()
        cache[price] = result
        return result

    def price_of(self, ticks: int) -> Decimal:
        """The normalized decimal price of ``ticks`` (``"1.1283"``, ``"100"``)."""
        return plain(self.tick * ticks)

    def check(self, quantity: int, price: Decimal) -> tuple[int, Decimal]:
        """Size, tick and band checks; returns ``(ticks, normalized price)``.

        Raises:
            Rejection: ``INCORRECT_QUANTITY``, ``INVALID_PRICE_INCREMENT`` or
                ``PRICE_OUT_OF_BOUNDS`` with the venue's text.
        """
        instrument = self.instrument
        if quantity <= 0:
            raise Rejection("INCORRECT_QUANTITY", "order quantity must be positive")
        if quantity < instrument.minimum_order_size:
            raise Rejection(
                "INCORRECT_QUANTITY",
                f"order quantity is below the minimum order size ({instrument.minimum_order_size})",
            )
        cache = self.price_cache
        converted = cache[price] if price in cache else self.ticks_of(price)
        if converted is None:
            # Off the tick, unless far outside the band (too large to divide by the tick).
            if price <= 0:
                raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
            if price > self.price_of(self.band_high) * 2:
                raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
            raise Rejection(
                "INVALID_PRICE_INCREMENT",
                f"order price is not a multiple of the tick size ({instrument.tick_size})",
            )
        ticks = converted[0]
        if ticks < self.band_low or ticks <= 0:
            raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
        if ticks > self.band_high:
            raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
        return converted

    def crosses(self, is_buy: bool, ticks: int) -> bool:
        """Whether an order at ``ticks`` would trade with the opposite side."""
        if is_buy:
            return bool(self.ask_prices) and ticks >= self.ask_prices[0]
        return bool(self.bid_prices) and ticks <= self.bid_prices[-1]

    def reprice(self, order: Order) -> None:
        """A post-only order that would cross: reject (``rej``) or move it (``bo``/``tbl``).

        Raises:
            Rejection: ``rej``, or the moved price is outside the band.
        """
        if order.reprice == "rej":
            raise Rejection(None, Texts.POST_ONLY_CROSS)
        if order.is_buy:
            behind = self.ask_prices[0] - 1
            own = self.best_bid()
            ticks = own if order.reprice == "tbl" and own is not None and own < behind else behind
        else:
            behind = self.bid_prices[-1] + 1
            own = self.best_ask()
            ticks = own if order.reprice == "tbl" and own is not None and own > behind else behind
        if ticks < self.band_low or ticks <= 0:
            raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
        if ticks > self.band_high:
            raise Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
        order.ticks = ticks
        order.price = self.price_of(ticks)

    # -- resting orders -------------------------------------------------------------------------

    def rest(self, order: Order) -> int:
        """Put ``order`` last in its level; returns its remaining quantity."""
        if order.is_buy:
            table, prices = self.bid_levels, self.bid_prices
        else:
            table, prices = self.ask_levels, self.ask_prices
        level = table.get(order.ticks)
        if level is None:
            level = table[order.ticks] = Level()
            insort(prices, order.ticks)
        level.orders.append(order)
        remaining = order.quantity - order.filled
        level.qty += remaining
        order.live = True
        return remaining

    def put_back(self, order: Order) -> int:
        """Put back an order taken off for a refused replace (it keeps its time priority).

        Returns its remaining quantity.
        """
        if order.is_buy:
            table, prices = self.bid_levels, self.bid_prices
        else:
            table, prices = self.ask_levels, self.ask_prices
        level = table.get(order.ticks)
        if level is None:
            level = table[order.ticks] = Level()
            insort(prices, order.ticks)
        if order not in level.orders:
            # The level was dropped when it emptied; priority is first in the new level.
            level.orders.appendleft(order)
        remaining = order.quantity - order.filled
        level.qty += remaining
        order.live = True
        return remaining

    def take_off(self, order: Order) -> int:
        """Take a live order off its level (lazily); returns its remaining quantity."""
        order.live = False
        if order.is_buy:
            table, prices = self.bid_levels, self.bid_prices
        else:
            table, prices = self.ask_levels, self.ask_prices
        level = table[order.ticks]
        remaining = order.quantity - order.filled
        level.qty -= remaining
        if level.qty == 0:
            del table[order.ticks]
            prices.remove(order.ticks)
        return remaining

    def record_trade(self, ticks: int, quantity: int) -> None:
        """The last trade, the day's open, high and low, and the volume."""
        self.last_ticks = ticks
        self.last_qty = quantity
        self.volume += quantity
        if self.open is None:
            self.open = ticks
        if self.high is None or ticks > self.high:
            self.high = ticks
        if self.low is None or ticks < self.low:
            self.low = ticks

    # -- views ----------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    def levels(self, bids: bool, depth: int) -> list[BookLevel]:
        prices = self.bid_prices if bids else self.ask_prices
        table = self.bid_levels if bids else self.ask_levels
        chosen = prices[-depth:][::-1] if bids else prices[:depth]
        return [BookLevel(self.price_of(t), table[t].qty) for t in chosen]

    def resting(self) -> Iterator[Order]:
        """Every live order, bids then asks, in priority order."""
        for prices, table in (
            (self.bid_prices[::-1], self.bid_levels),
            (self.ask_prices, self.ask_levels),
        ):
            for ticks in prices:
                for order in table[ticks].orders:
                    if order.live:
                        yield order

    def preview(self, side: Side, quantity: int) -> PreviewResponse:
        """Price an aggressive limit order against the book.

        ``limit_price`` is the worst level needed (null when that side is empty).
        """
        if side is Side.BUY:
            prices, table = self.ask_prices, self.ask_levels
        else:
            prices, table = self.bid_prices[::-1], self.bid_levels
        needed = max(quantity, 0)
        filled = 0
        notional = ZERO
        worst: int | None = None
        for ticks in prices:
            if filled >= needed:
                break
            take = min(table[ticks].qty, needed - filled)
            filled += take
            notional += self.price_of(ticks) * take
            worst = ticks
        if worst is None:
            return PreviewResponse(
                limit_price=None, vwap=None, filled_quantity=0, remaining_quantity=needed
            )
        return PreviewResponse(
            limit_price=self.price_of(worst),
            vwap=plain((notional / filled).quantize(self.tick / 100)) if filled else None,
            filled_quantity=filled,
            remaining_quantity=needed - filled,
        )

    def l1(self, now: int) -> L1BookMsg:
        return L1BookMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=self.symbol,
            bids=self.levels(True, 1),
            asks=self.levels(False, 1),
        )

    def l2(self, now: int, depth: int) -> L2BookMsg:
        return L2BookMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=self.symbol,
            bids=self.levels(True, depth),
            asks=self.levels(False, depth),
            snapshot=True,
        )

    def ticker(self, now: int, open_interest: int) -> TickerMsg:
        bid, ask = self.best_bid(), self.best_ask()

        def px(ticks: int | None) -> Decimal | None:
            return None if ticks is None else self.price_of(ticks)

        return TickerMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=self.symbol,
            last_price=px(self.last_ticks),
            last_quantity=self.last_qty if self.last_ticks is not None else None,
            open=px(self.open),
            low=px(self.low),
            high=px(self.high),
            volume=self.volume,
            open_interest=open_interest,
            state=self.instrument.state,
            mark=self.mark,
            bid=px(bid),
            ask=px(ask),
            band_lower=self.price_of(self.band_low),
            band_upper=self.price_of(self.band_high),
        )
