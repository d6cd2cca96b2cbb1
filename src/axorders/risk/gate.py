"""The pre-trade risk gate (pure): one check per new order or replace, before anything is sent.

:class:`RiskGate` never reads a clock (``now`` is passed in, Unix ns), never awaits and never
looks anything up beyond a dict: every check is O(1). The caller gives it what it needs as
plain values: the order's fields, its :class:`~axorders.model.Instrument`, a reference price
(or None) and an :class:`Exposure`, the symbol's position and working orders as the caller
counts them. A refusal raises :class:`~axorders.exceptions.RiskLimitError`; a pass consumes
one token of the submit (or modify) rate. Cancels are never checked: a trader can always
cancel, whatever the state or the rates.

The checks, in order (the first that fails is raised):

1. the trading state (:class:`TradingState`): HALTED refuses everything new, REDUCING only lets
   through orders that shrink the position without going past flat;
2. ``max_quantity``: the order's quantity;
3. ``max_notional``: price x quantity x the instrument's multiplier, the price being the limit
   price, else the trigger price, else the reference price (with none of them: not checked);
4. ``price_collar_bps``: the limit price's distance from the reference price, in basis points
   of the reference; for a STOP_LIMIT the trigger price against the reference, and the limit
   price against the trigger. With no reference price the collar is not checked: pass the
   venue's preview price (or a last trade, a mark) as the reference to have it checked;
5. ``max_open_orders`` and ``max_open_orders_total`` (places only: a replace adds no order);
6. ``max_position``: the position after every working order on the order's side and this one
   fill; when that figure is over the limit already, an order that brings it toward flat
   without going through it passes (a lowered limit never blocks the way out);
7. ``submit_rate`` (places) or ``modify_rate`` (replaces).

A value exactly at its limit passes; just over it fails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Final

from axorders.events import OrderDenied, RequestKind
from axorders.exceptions import RiskLimitError
from axorders.model import Instrument, OrderType, Side
from axorders.risk.limits import RateLimit, RiskLimits, SymbolLimits

__all__ = ["Exposure", "RiskGate", "TokenBucket", "TradingState", "denial"]

_NS: Final = 1_000_000_000
_BPS: Final = Decimal(10_000)
_CENT: Final = Decimal("0.01")


class TradingState(enum.Enum):
    """What the gate lets through.

    * ACTIVE: every order within the limits.
    * REDUCING: only orders that shrink the position (a BUY when short, a SELL when long)
      and never past flat, counting the open and in-flight orders on the order's side.
    * HALTED: nothing new (places and replaces are refused); cancels still go.
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the caller knows of one symbol when an order is checked.

    Attributes:
        position: the signed position, contracts (long > 0, short < 0).
        open_orders: the symbol's orders open on the venue or in flight to it.
        open_orders_total: the same, all symbols.
        buy_working: contracts still to fill on the symbol's open and in-flight BUY orders.
        sell_working: the same for SELL orders.
    """

    position: int = 0
    open_orders: int = 0
    open_orders_total: int = 0
    buy_working: int = 0
    sell_working: int = 0

    def working(self, side: Side) -> int:
        """Contracts still to fill on the symbol's orders of ``side``."""
        return self.buy_working if side is Side.BUY else self.sell_working


class TokenBucket:
    """A token bucket refilled continuously at ``rate`` per second up to ``burst`` tokens.

    It starts full. :meth:`take` never waits: it takes one token or says no. A ``now`` earlier
    than the last one seen refills nothing.
    """

    __slots__ = ("_last", "_per_ns", "burst", "tokens")

    def __init__(self, limit: RateLimit, now: int | None = None) -> None:
        self.burst = limit.burst
        self._per_ns = limit.rate / _NS
        self.tokens = float(limit.burst)
        self._last = now

    def refill(self, now: int) -> float:
        """Bring the bucket up to ``now``; return the tokens it holds."""
        last = self._last
        if last is None or now > last:
            if last is not None:
                self.tokens = min(float(self.burst), self.tokens + (now - last) * self._per_ns)
            self._last = now
        return self.tokens

    def take(self, now: int) -> bool:
        """Take one token if there is one; return whether it did."""
        if self.refill(now) < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RiskGate:
    """Pre-trade checks of new orders and replaces against :class:`RiskLimits` (pure).

    ``set_limits`` and ``set_state`` change the limits and the trading state at run time; the
    rate buckets are kept across a change when their rate and burst stay the same.
    """

    __slots__ = ("_defaults", "_limits", "_modify", "_reason", "_resolved", "_state", "_submit")

    def __init__(
        self,
        limits: RiskLimits | None = None,
        state: TradingState = TradingState.ACTIVE,
        reason: str = "",
    ) -> None:
        self._limits = RiskLimits()
        self._defaults = SymbolLimits()
        self._resolved: dict[str, SymbolLimits] = {}
        self._submit: TokenBucket | None = None
        self._modify: TokenBucket | None = None
        self._state = TradingState.ACTIVE
        self._reason = ""
        self.set_limits(limits or RiskLimits())
        self.set_state(state, reason)

    # -- configuration ----------------------------------------------------------------------

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the state was last set (as given to :meth:`set_state`)."""
        return self._reason

    def set_limits(self, limits: RiskLimits) -> None:
        """Use ``limits`` from now on (O(number of per-symbol overrides), once)."""
        old = self._limits
        self._limits = limits
        self._defaults = limits.defaults
        self._resolved = {symbol: limits.for_symbol(symbol) for symbol in limits.per_symbol}
        if limits.submit_rate != old.submit_rate or self._submit is None:
            self._submit = None if limits.submit_rate is None else TokenBucket(limits.submit_rate)
        if limits.modify_rate != old.modify_rate or self._modify is None:
            self._modify = None if limits.modify_rate is None else TokenBucket(limits.modify_rate)

    def set_state(self, state: TradingState, reason: str = "") -> None:
        """Switch the trading state; ``reason`` is kept for the refusals' messages."""
        if not isinstance(state, TradingState):
            raise ValueError(f"{state!r} is not a TradingState")
        self._state = state
        self._reason = reason

    def limits_for(self, symbol: str) -> SymbolLimits:
        """The limits that apply to ``symbol``."""
        return self._resolved.get(symbol, self._defaults)

    # -- checks -----------------------------------------------------------------------------

    def check_place(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        price: Decimal | None,
        trigger_price: Decimal | None = None,
        instrument: Instrument,
        reference_price: Decimal | None,
        exposure: Exposure,
        now: int,
    ) -> None:
        """Check a new order; consume a submit token when it passes.

        Raises:
            RiskLimitError: the first limit the order breaks (nothing is consumed then).
        """
        limits = self._resolved.get(symbol, self._defaults)
        working = exposure.working(side)
        self._check_state(symbol, side, quantity, exposure.position, working)
        self._check_order(
            limits, symbol, quantity, order_type, price, trigger_price, instrument, reference_price
        )
        cap = limits.max_open_orders
        if cap is not None and exposure.open_orders + 1 > cap:
            raise RiskLimitError(
                "max_open_orders", cap, exposure.open_orders + 1, symbol, field="symbol"
            )
        cap = self._limits.max_open_orders_total
        if cap is not None and exposure.open_orders_total + 1 > cap:
            raise RiskLimitError(
                "max_open_orders_total",
                cap,
                exposure.open_orders_total + 1,
                symbol,
                field="symbol",
            )
        self._check_position(limits, symbol, side, exposure.position, working, working + quantity)
        bucket = self._submit
        if bucket is not None and not bucket.take(now):
            raise _rate_error("submit_rate", self._limits.submit_rate, symbol)

    def check_replace(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        price: Decimal | None,
        instrument: Instrument,
        reference_price: Decimal | None,
        exposure: Exposure,
        now: int,
        leaves_qty: int,
        filled_qty: int = 0,
        order_type: OrderType = OrderType.LIMIT,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Check a replace of an open order; consume a modify token when it passes.

        ``quantity`` and ``price`` are the order's figures after the replace (pass the current
        ones for what does not change): ``quantity`` is the order's whole quantity, of which
        ``filled_qty`` is filled already. ``leaves_qty`` is what the order still has to fill
        now, counted in ``exposure``'s working quantity of its side; after the replace it will
        have ``quantity - filled_qty``. A HALTED gate refuses every replace (cancel instead).

        Raises:
            RiskLimitError: the first limit the replace breaks (nothing is consumed then).
        """
        limits = self._resolved.get(symbol, self._defaults)
        before = exposure.working(side)
        others = before - leaves_qty
        after = others + max(0, quantity - filled_qty)
        self._check_state(symbol, side, after - others, exposure.position, others)
        self._check_order(
            limits, symbol, quantity, order_type, price, trigger_price, instrument, reference_price
        )
        self._check_position(limits, symbol, side, exposure.position, before, after)
        bucket = self._modify
        if bucket is not None and not bucket.take(now):
            raise _rate_error("modify_rate", self._limits.modify_rate, symbol)

    # -- the parts --------------------------------------------------------------------------

    def _check_state(
        self, symbol: str, side: Side, quantity: int, position: int, working: int
    ) -> None:
        state = self._state
        if state is TradingState.ACTIVE:
            return
        why = f" ({self._reason})" if self._reason else ""
        if state is TradingState.HALTED:
            raise RiskLimitError(
                "trading_state",
                state.value,
                None,
                symbol,
                field="symbol",
                message=f"trading_state for {symbol}: HALTED{why}; only cancels are accepted",
            )
        # REDUCING: room = what can still be bought (when short) or sold (when long) before
        # the position, with every working order of that side filled, reaches flat.
        if side is Side.BUY:
            room = -position - working if position < 0 else 0
        else:
            room = position - working if position > 0 else 0
        if quantity > room:
            raise RiskLimitError(
                "trading_state",
                state.value,
                quantity,
                symbol,
                field="quantity",
                message=(
                    f"trading_state for {symbol}: REDUCING{why}; a {side.name} of {quantity}"
                    f" would not reduce the position {position} (working on that side:"
                    f" {working}; room: {max(0, room)})"
                ),
            )

    @staticmethod
    def _check_order(
        limits: SymbolLimits,
        symbol: str,
        quantity: int,
        order_type: OrderType,
        price: Decimal | None,
        trigger_price: Decimal | None,
        instrument: Instrument,
        reference: Decimal | None,
    ) -> None:
        cap = limits.max_quantity
        if cap is not None and quantity > cap:
            raise RiskLimitError("max_quantity", cap, quantity, symbol, field="quantity")
        worth = limits.max_notional
        if worth is not None:
            basis = price if price is not None else trigger_price
            if basis is None:
                basis = reference
            if basis is not None:
                notional = basis * quantity * instrument.multiplier
                if notional > worth:
                    raise RiskLimitError(
                        "max_notional",
                        worth,
                        notional,
                        symbol,
                        field="quantity",
                        message=f"max_notional for {symbol}: {worth} < order's {_up(notional)}",
                    )
        collar = limits.price_collar_bps
        if collar is None:
            return
        if order_type is OrderType.STOP_LIMIT and trigger_price is not None:
            if reference is not None:
                _check_collar(
                    collar, symbol, "trigger_price", trigger_price, reference, "reference"
                )
            if price is not None:
                _check_collar(collar, symbol, "price", price, trigger_price, "trigger")
        elif price is not None and reference is not None:
            _check_collar(collar, symbol, "price", price, reference, "reference")

    @staticmethod
    def _check_position(
        limits: SymbolLimits, symbol: str, side: Side, position: int, before: int, after: int
    ) -> None:
        cap = limits.max_position
        if cap is None:
            return
        sign = 1 if side is Side.BUY else -1
        then = position + sign * after
        worst = abs(then)
        if worst <= cap:
            return
        # Over the limit already: an order that brings the figure toward flat, without going
        # through it, passes (a limit lowered under a held position must not block its exit).
        held = position + sign * before
        if then * held > 0 and worst <= abs(held):
            return
        raise RiskLimitError("max_position", cap, worst, symbol, field="quantity")


def _check_collar(
    collar: Decimal, symbol: str, field: str, price: Decimal, reference: Decimal, name: str
) -> None:
    if reference <= 0:
        return
    distance = abs(price - reference) / reference * _BPS
    if distance > collar:
        raise RiskLimitError(
            "price_collar_bps",
            collar,
            distance,
            symbol,
            field=field,
            message=(
                f"price_collar_bps for {symbol}: {collar} < order's {_up(distance)}"
                f" ({field} {price} vs {name} {reference})"
            ),
        )


def _up(value: Decimal) -> str:
    """``value`` with two decimals, rounded up: a figure just over a limit never prints as
    the limit itself."""
    try:
        return str(value.quantize(_CENT, rounding=ROUND_CEILING))
    except InvalidOperation:
        return str(value)


def _rate_error(limit: str, rate: RateLimit | None, symbol: str) -> RiskLimitError:
    return RiskLimitError(
        limit,
        rate,
        None,
        symbol,
        field="order",
        message=f"{limit} for {symbol}: {rate} exhausted; try again later",
    )


def denial(
    error: RiskLimitError,
    *,
    client_order_id: str | None,
    side: Side,
    quantity: int,
    price: Decimal | None,
    now: int,
    kind: RequestKind = RequestKind.PLACE,
) -> OrderDenied:
    """The :class:`~axorders.events.OrderDenied` event that reports ``error``."""
    return OrderDenied(
        ts_init=now,
        client_order_id=client_order_id,
        symbol=error.symbol,
        side=side,
        quantity=quantity,
        price=price,
        reason=error.limit,
        text=str(error),
        kind=kind,
    )
