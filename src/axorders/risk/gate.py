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
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Decimal,
    Inexact,
    InvalidOperation,
    Rounded,
    localcontext,
)
from typing import Final

from axorders.events import OrderDenied, RequestKind
from axorders.exceptions import RiskLimitError
from axorders.model import Instrument, OrderType, Side
from axorders.risk.limits import RateLimit, RiskLimits, SymbolLimits

__all__ = ["Exposure", "RiskGate", "TokenBucket", "TradingState", "denial"]

_NS: Final = 1_000_000_000
_BPS: Final = Decimal(10_000)
_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)
_NEVER: Final = (Decimal("Infinity"), Decimal("-Infinity"), -1)
"""A price band no price is in: every check takes the exact way."""
_SOON: Final = -2
"""The bound of a band not computed yet: the reference is new (computed at its second use,
so that a reference that changes at every order costs no band)."""
_ANY_QUANTITY: Final = 1 << 256
"""A quantity bound that stands for "no notional limit" (a larger quantity is checked the
exact way, and passes)."""
_UNBOUNDED: Final = 1 << 512
"""A bound no count reaches, for a limit that is off (only in the shortcut's comparisons: a
figure beyond it takes the exact way)."""
_STOP: Final = OrderType.STOP_LIMIT
_BUY: Final = Side.BUY
_MAX_BANDS: Final = 4096
"""Plans kept (one per symbol); beyond it the cache starts afresh."""


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

    __slots__ = ("_full", "_last", "_per_ns", "burst", "tokens")

    def __init__(self, limit: RateLimit, now: int | None = None) -> None:
        self.burst = limit.burst
        self._full = float(limit.burst)
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
        # The refill, inline: this runs once per order.
        tokens = self.tokens
        last = self._last
        if last is None or now > last:
            if last is not None:
                tokens += (now - last) * self._per_ns
                if tokens > self._full:  # noqa: PLR1730 - no call: once per order
                    tokens = self._full
            self._last = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True


class _Plan:
    """How a place of one symbol is checked, worked out once per change of the limits, of
    the reference price or of the multiplier (see :meth:`RiskGate._plan`): the symbol's
    limits as plain values, and the band of prices and quantities that pass both the
    notional and the collar."""

    __slots__ = (
        "fast_most",
        "fast_open",
        "fast_position",
        "high",
        "limits",
        "low",
        "max_open",
        "max_position",
        "max_quantity",
        "most",
        "multiplier",
        "priced",
        "reference",
    )

    def __init__(
        self,
        limits: SymbolLimits,
        reference: Decimal | None,
        multiplier: Decimal,
        low: Decimal,
        high: Decimal,
        most: int,
    ) -> None:
        self.limits = limits
        self.max_quantity = limits.max_quantity
        self.max_open = limits.max_open_orders
        self.max_position = limits.max_position
        self.priced = limits.max_notional is not None or limits.price_collar_bps is not None
        self.reference = reference
        self.multiplier = multiplier
        self.low = low
        self.high = high
        self.most = most
        # The same bounds with no None (a limit that is off is a bound nothing reaches), for
        # the shortcut of RiskGate.place: an order within all of them passes every limit.
        cap = limits.max_quantity
        self.fast_most = most if cap is None or cap > most else cap
        self.fast_open = _UNBOUNDED if self.max_open is None else self.max_open
        self.fast_position = _UNBOUNDED if self.max_position is None else self.max_position




class RiskGate:
    """Pre-trade checks of new orders and replaces against :class:`RiskLimits` (pure).

    ``set_limits`` and ``set_state`` change the limits and the trading state at run time; the
    rate buckets are kept across a change when their rate and burst stay the same.

    :meth:`check_place` and :meth:`check_replace` take the order and its :class:`Exposure` by
    keyword; :meth:`place` and :meth:`replace` are the same checks with plain positional
    values (no :class:`Exposure` to build), for a caller that checks every order.
    """

    __slots__ = (
        "_active",
        "_defaults",
        "_limits",
        "_modify",
        "_plans",
        "_reason",
        "_resolved",
        "_state",
        "_submit",
        "_total",
        "_total_cap",
    )

    def __init__(
        self,
        limits: RiskLimits | None = None,
        state: TradingState = TradingState.ACTIVE,
        reason: str = "",
    ) -> None:
        self._limits = RiskLimits()
        self._defaults = SymbolLimits()
        self._resolved: dict[str, SymbolLimits] = {}
        self._total: int | None = None
        self._total_cap = _UNBOUNDED
        # symbol -> how its places are checked (see _plan)
        self._plans: dict[str, _Plan] = {}
        self._submit: TokenBucket | None = None
        self._modify: TokenBucket | None = None
        self._state = TradingState.ACTIVE
        self._active = True
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
        """Use ``limits`` from now on (O(number of per-symbol overrides), once).

        Every symbol's limits are resolved here, once: a check reads plain values.
        """
        old = self._limits
        self._limits = limits
        self._defaults = limits.defaults
        self._resolved = {symbol: limits.for_symbol(symbol) for symbol in limits.per_symbol}
        self._total = limits.max_open_orders_total
        self._total_cap = _UNBOUNDED if self._total is None else self._total
        self._plans = {}
        if limits.submit_rate != old.submit_rate or self._submit is None:
            self._submit = None if limits.submit_rate is None else TokenBucket(limits.submit_rate)
        if limits.modify_rate != old.modify_rate or self._modify is None:
            self._modify = None if limits.modify_rate is None else TokenBucket(limits.modify_rate)

    def set_state(self, state: TradingState, reason: str = "") -> None:
        """Switch the trading state; ``reason`` is kept for the refusals' messages."""
        if not isinstance(state, TradingState):
            raise ValueError(f"{state!r} is not a TradingState")
        self._state = state
        self._active = state is TradingState.ACTIVE
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
        self.place(
            symbol,
            side,
            quantity,
            order_type,
            price,
            trigger_price,
            instrument.multiplier,
            reference_price,
            exposure.position,
            exposure.open_orders,
            exposure.open_orders_total,
            exposure.buy_working if side is Side.BUY else exposure.sell_working,
            now,
        )

    def place(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        price: Decimal | None,
        trigger_price: Decimal | None,
        multiplier: Decimal,
        reference: Decimal | None,
        position: int,
        open_orders: int,
        open_orders_total: int,
        working: int,
        now: int,
    ) -> None:
        """:meth:`check_place` with plain values: ``multiplier`` is the instrument's,
        ``working`` the contracts still to fill on the symbol's orders of ``side``.

        Raises:
            RiskLimitError: the first limit the order breaks (nothing is consumed then).
        """
        plan = self._plans.get(symbol)
        # The shortcut (the common case): a priced order, not a stop, of the plan's reference
        # and multiplier, within every bound of the plan: only the rate is left to check.
        if (
            plan is not None
            and plan.reference is reference
            and plan.multiplier is multiplier
            and self._active
            and price is not None
            and order_type is not _STOP
            and plan.low <= price <= plan.high
            and 0 < quantity <= plan.fast_most
            and open_orders < plan.fast_open
            and open_orders_total < self._total_cap
        ):
            bound = plan.fast_position
            then = position + working + quantity if side is _BUY else position - working - quantity
            if -bound <= then <= bound:
                bucket = self._submit
                if bucket is None or bucket.take(now):
                    return
                raise _rate_error("submit_rate", self._limits.submit_rate, symbol)
        # The exact way, in the order of the module's list.
        if (
            plan is None
            or (plan.reference is not reference and plan.reference != reference)
            or (plan.multiplier is not multiplier and plan.multiplier != multiplier)
        ):
            plan = self._plan(symbol, reference, multiplier, _SOON)
        elif plan.most == _SOON:
            plan = self._plan(symbol, reference, multiplier)
        if not self._active:
            self._check_state(symbol, side, quantity, position, working)
        cap = plan.max_quantity
        if cap is not None and quantity > cap:
            raise RiskLimitError("max_quantity", cap, quantity, symbol, field="quantity")
        # A priced order other than a stop (the common case) within the band passes both
        # the notional and the collar by comparisons alone; any other is checked the exact
        # way (with neither limit, that is nothing).
        if plan.priced and (
            price is None
            or order_type is OrderType.STOP_LIMIT
            or not (plan.low <= price <= plan.high and 0 < quantity <= plan.most)
        ):
            _check_prices(
                plan.limits,
                symbol,
                quantity,
                order_type,
                price,
                trigger_price,
                multiplier,
                reference,
            )
        cap = plan.max_open
        if cap is not None and open_orders >= cap:
            raise RiskLimitError("max_open_orders", cap, open_orders + 1, symbol, field="symbol")
        cap = self._total
        if cap is not None and open_orders_total >= cap:
            raise RiskLimitError(
                "max_open_orders_total", cap, open_orders_total + 1, symbol, field="symbol"
            )
        cap = plan.max_position
        if cap is not None:
            # The position with every working order of the side and this one filled.
            if side is Side.BUY:
                then = position + working + quantity
            else:
                then = position - working - quantity
            if then > cap or -then > cap:
                _check_position(cap, symbol, side, position, working, working + quantity)
        bucket = self._submit
        if bucket is not None and not bucket.take(now):
            raise _rate_error("submit_rate", self._limits.submit_rate, symbol)

    def _plan(
        self, symbol: str, reference: Decimal | None, multiplier: Decimal, most: int = 0
    ) -> _Plan:
        """How the places of ``symbol`` are checked for this reference and multiplier, kept
        until either changes, or the limits do.

        The band: a priced order (not a stop) with ``low <= price <= high`` and
        ``0 < quantity <= most`` passes both the notional and the collar. The band is the
        collar's, exactly, and ``most`` x ``high`` x multiplier is within the notional; it
        leaves out negative prices; with no collar (or no reference) it holds every price but
        bounds no quantity under a notional limit. Any figure that cannot be computed exactly
        gives a band no price is in, and so does ``most`` = ``_SOON`` (a reference seen for the
        first time: no band is computed yet).
        """
        plans = self._plans
        if len(plans) >= _MAX_BANDS:
            plans.clear()
        limits = self._resolved.get(symbol, self._defaults)
        if most == _SOON:
            plan = plans[symbol] = _Plan(limits, reference, multiplier, *_NEVER[:2], _SOON)
            return plan
        try:
            with localcontext() as ctx:
                ctx.traps[Inexact] = ctx.traps[Rounded] = True
                collar = limits.price_collar_bps
                if collar is None or reference is None or not reference > 0:
                    low, high = _ZERO, Decimal("Infinity")
                else:
                    half = collar * reference / _BPS
                    low, high = max(reference - half, _ZERO), reference + half
                worth = limits.max_notional
                if worth is None:
                    most = _ANY_QUANTITY
                elif high.is_infinite() or not high > 0 or not multiplier > 0:
                    most = -1
                else:
                    unit = high * multiplier
                    ctx.traps[Inexact] = ctx.traps[Rounded] = False
                    most = int((worth / unit).to_integral_value(rounding=ROUND_FLOOR))
                    ctx.traps[Inexact] = ctx.traps[Rounded] = True
                    # The quotient may have been rounded up to the next whole number.
                    if most > 0 and most * unit > worth:
                        most -= 1
                    if most > 0 and most * unit > worth:
                        most = -1
        except (ArithmeticError, ValueError):
            low, high, most = _NEVER
        plan = plans[symbol] = _Plan(limits, reference, multiplier, low, high, most)
        return plan

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
        self.replace(
            symbol,
            side,
            quantity,
            order_type,
            price,
            trigger_price,
            instrument.multiplier,
            reference_price,
            exposure.position,
            exposure.buy_working if side is Side.BUY else exposure.sell_working,
            leaves_qty,
            filled_qty,
            now,
        )

    def replace(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        price: Decimal | None,
        trigger_price: Decimal | None,
        multiplier: Decimal,
        reference: Decimal | None,
        position: int,
        working: int,
        leaves_qty: int,
        filled_qty: int,
        now: int,
    ) -> None:
        """:meth:`check_replace` with plain values (see :meth:`place`).

        Raises:
            RiskLimitError: the first limit the replace breaks (nothing is consumed then).
        """
        limits = self._resolved.get(symbol, self._defaults)
        others = working - leaves_qty
        after = others + max(0, quantity - filled_qty)
        if not self._active:
            self._check_state(symbol, side, after - others, position, others)
        cap = limits.max_quantity
        if cap is not None and quantity > cap:
            raise RiskLimitError("max_quantity", cap, quantity, symbol, field="quantity")
        if limits.max_notional is not None or limits.price_collar_bps is not None:
            _check_prices(
                limits, symbol, quantity, order_type, price, trigger_price, multiplier, reference
            )
        cap = limits.max_position
        if cap is not None:
            _check_position(cap, symbol, side, position, working, after)
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


def _check_prices(
    limits: SymbolLimits,
    symbol: str,
    quantity: int,
    order_type: OrderType,
    price: Decimal | None,
    trigger_price: Decimal | None,
    multiplier: Decimal,
    reference: Decimal | None,
) -> None:
    """``max_notional`` and ``price_collar_bps`` (each only when set)."""
    worth = limits.max_notional
    if worth is not None:
        basis = price if price is not None else trigger_price
        if basis is None:
            basis = reference
        if basis is not None:
            notional = basis * quantity * multiplier
            if notional > worth:
                raise _notional_error(worth, notional, symbol)
    collar = limits.price_collar_bps
    if collar is None:
        return
    if order_type is OrderType.STOP_LIMIT and trigger_price is not None:
        if reference is not None:
            _check_collar(collar, symbol, "trigger_price", trigger_price, reference, "reference")
        if price is not None:
            _check_collar(collar, symbol, "price", price, trigger_price, "trigger")
    elif price is not None and reference is not None:
        _check_collar(collar, symbol, "price", price, reference, "reference")


def _notional_error(worth: Decimal, notional: Decimal, symbol: str) -> RiskLimitError:
    return RiskLimitError(
        "max_notional",
        worth,
        notional,
        symbol,
        field="quantity",
        message=f"max_notional for {symbol}: {worth} < order's {_up(notional)}",
    )


def _check_position(
    cap: int, symbol: str, side: Side, position: int, before: int, after: int
) -> None:
    """``max_position``: ``before`` / ``after`` are the side's working contracts without /
    with the order."""
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
    # |price - reference| / reference x 10000 > collar, without the division: exact.
    if abs(price - reference) * _BPS <= collar * reference:
        return
    distance = abs(price - reference) / reference * _BPS
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
