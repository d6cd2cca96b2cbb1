"""The risk gate: every limit at, under and just over; rates; trading states; replaces."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from axorders.events import OrderDenied, RequestKind
from axorders.exceptions import InvalidOrderError, RiskLimitError
from axorders.model import Instrument, OrderType, Side
from axorders.risk import (
    Exposure,
    RateLimit,
    RiskGate,
    RiskLimits,
    SymbolLimits,
    TokenBucket,
    TradingState,
    denial,
)

EURUSD = Instrument(
    symbol="EURUSD-PERP", tick_size=Decimal("0.0001"), minimum_order_size=1, price_precision=4
)
GOLD = Instrument(
    symbol="XAU-PERP",
    tick_size=Decimal("0.1"),
    minimum_order_size=1,
    price_precision=1,
    multiplier=Decimal(10),
)
S = 1_000_000_000  # one second, ns
T0 = 1_700_000_000 * S


def place(gate: RiskGate, **changes: Any) -> None:
    order: dict[str, Any] = {
        "symbol": "EURUSD-PERP",
        "side": Side.BUY,
        "quantity": 100,
        "order_type": OrderType.LIMIT,
        "price": Decimal("1.0850"),
        "trigger_price": None,
        "instrument": EURUSD,
        "reference_price": None,
        "exposure": Exposure(),
        "now": T0,
    }
    order.update(changes)
    gate.check_place(**order)


def replace(gate: RiskGate, **changes: Any) -> None:
    order: dict[str, Any] = {
        "symbol": "EURUSD-PERP",
        "side": Side.BUY,
        "quantity": 100,
        "price": Decimal("1.0850"),
        "instrument": EURUSD,
        "reference_price": None,
        "exposure": Exposure(open_orders=1, open_orders_total=1, buy_working=100),
        "now": T0,
        "leaves_qty": 100,
    }
    order.update(changes)
    gate.check_replace(**order)


def refused(limit: str, call: Any, gate: RiskGate, **changes: Any) -> RiskLimitError:
    with pytest.raises(RiskLimitError) as info:
        call(gate, **changes)
    assert info.value.limit == limit, str(info.value)
    return info.value


# -- each limit --------------------------------------------------------------------------------


def test_no_limits_let_everything_through() -> None:
    gate = RiskGate()
    for _ in range(1000):
        place(gate, quantity=10**12, exposure=Exposure(position=10**12, open_orders=10**6))


def test_max_quantity_at_under_and_just_over() -> None:
    gate = RiskGate(RiskLimits(max_quantity=1000))
    place(gate, quantity=999)
    place(gate, quantity=1000)
    error = refused("max_quantity", place, gate, quantity=1001)
    assert str(error) == "max_quantity for EURUSD-PERP: 1000 < order's 1001"
    assert (error.value, error.actual, error.symbol) == (1000, 1001, "EURUSD-PERP")
    assert error.field == "quantity" and error.reason == "MAX_QUANTITY"
    assert isinstance(error, InvalidOrderError)


def test_max_notional_at_under_and_just_over() -> None:
    gate = RiskGate(RiskLimits(max_notional=Decimal(1000000)))
    place(gate, quantity=921658, price=Decimal("1.0850"))  # 999998.93
    place(gate, quantity=1000000, price=Decimal("1.0000"))  # exactly at the limit
    error = refused("max_notional", place, gate, quantity=1000000, price=Decimal("1.0850"))
    assert str(error) == "max_notional for EURUSD-PERP: 1000000 < order's 1085000.00"
    assert error.actual == Decimal("1085000.0000")
    refused("max_notional", place, gate, quantity=1000000, price=Decimal("1.0001"))


def test_max_notional_counts_the_multiplier() -> None:
    gate = RiskGate(RiskLimits(max_notional=Decimal(20000)))
    gold = {"symbol": "XAU-PERP", "instrument": GOLD}
    place(gate, **gold, quantity=1, price=Decimal("2000.0"))  # 20000: at the limit
    error = refused("max_notional", place, gate, **gold, quantity=1, price=Decimal("2000.1"))
    assert error.actual == Decimal("20001.0")


def test_max_notional_without_a_price_uses_the_trigger_then_the_reference() -> None:
    gate = RiskGate(RiskLimits(max_notional=Decimal(1000)))
    market = {"order_type": OrderType.MARKET, "price": None, "quantity": 1000}
    place(gate, **market)  # nothing to price it with: not checked
    place(gate, **market, reference_price=Decimal(1))
    refused("max_notional", place, gate, **market, reference_price=Decimal("1.0001"))
    stop = {"order_type": OrderType.STOP_LIMIT, "price": None, "quantity": 1000}
    refused("max_notional", place, gate, **stop, trigger_price=Decimal("1.1"))


def test_price_collar_at_under_and_just_over() -> None:
    gate = RiskGate(RiskLimits(price_collar_bps=Decimal(50)))
    ref = Decimal("1.0000")
    place(gate, price=Decimal("1.0049"), reference_price=ref)
    place(gate, price=Decimal("1.0050"), reference_price=ref)  # exactly 50 bps
    place(gate, price=Decimal("0.9950"), reference_price=ref)
    error = refused("price_collar_bps", place, gate, price=Decimal("1.0051"), reference_price=ref)
    assert str(error) == (
        "price_collar_bps for EURUSD-PERP: 50 < order's 51.00 (price 1.0051 vs reference 1.0000)"
    )
    assert error.field == "price"
    refused("price_collar_bps", place, gate, price=Decimal("0.9949"), reference_price=ref)


def test_no_reference_price_means_no_collar_check() -> None:
    gate = RiskGate(RiskLimits(price_collar_bps=Decimal(1)))
    place(gate, price=Decimal("9.9999"), reference_price=None)
    # a MARKET order checked against the venue's preview price given as the reference
    market = {"order_type": OrderType.MARKET, "reference_price": Decimal("1.0000")}
    place(gate, **market, price=Decimal("1.0001"))
    refused("price_collar_bps", place, gate, **market, price=Decimal("1.0002"))


def test_a_stop_limit_collars_its_trigger_and_its_limit_against_the_trigger() -> None:
    gate = RiskGate(RiskLimits(price_collar_bps=Decimal(100)))
    stop = {"order_type": OrderType.STOP_LIMIT, "reference_price": Decimal("1.0000")}
    place(gate, **stop, trigger_price=Decimal("1.0100"), price=Decimal("1.0201"))
    error = refused(
        "price_collar_bps", place, gate, **stop, trigger_price=Decimal("1.0101"), price=None
    )
    assert error.field == "trigger_price"
    error = refused(
        "price_collar_bps",
        place,
        gate,
        **stop,
        trigger_price=Decimal("1.0100"),
        price=Decimal("1.0203"),
    )
    assert error.field == "price" and "vs trigger 1.0100" in str(error)


def test_max_open_orders_per_symbol_and_in_all() -> None:
    gate = RiskGate(RiskLimits(max_open_orders=3, max_open_orders_total=5))
    place(gate, exposure=Exposure(open_orders=1, open_orders_total=1))
    place(gate, exposure=Exposure(open_orders=2, open_orders_total=4))  # 3rd and 5th: at both
    error = refused("max_open_orders", place, gate, exposure=Exposure(open_orders=3))
    assert (error.value, error.actual) == (3, 4)
    error = refused(
        "max_open_orders_total", place, gate, exposure=Exposure(open_orders=0, open_orders_total=5)
    )
    assert str(error) == "max_open_orders_total for EURUSD-PERP: 5 < order's 6"


def test_max_position_counts_working_orders_on_the_same_side() -> None:
    gate = RiskGate(RiskLimits(max_position=1000))
    place(gate, quantity=500, exposure=Exposure(position=300, buy_working=200))  # 1000: at
    place(gate, quantity=499, exposure=Exposure(position=300, buy_working=200))
    error = refused(
        "max_position", place, gate, quantity=501, exposure=Exposure(position=300, buy_working=200)
    )
    assert (error.value, error.actual) == (1000, 1001)
    # the other side's working orders do not offset it
    refused(
        "max_position",
        place,
        gate,
        quantity=501,
        exposure=Exposure(position=300, buy_working=200, sell_working=1000),
    )
    # short side
    sell = {"side": Side.SELL}
    place(gate, **sell, quantity=1000, exposure=Exposure(position=0))
    refused("max_position", place, gate, **sell, quantity=101, exposure=Exposure(position=-900))


def test_an_order_that_shrinks_an_oversized_position_passes() -> None:
    gate = RiskGate(RiskLimits(max_position=100))
    sell = {"side": Side.SELL}
    place(gate, **sell, quantity=50, exposure=Exposure(position=500))  # 450, but smaller
    place(gate, **sell, quantity=600, exposure=Exposure(position=500))  # -100: at the limit
    refused("max_position", place, gate, **sell, quantity=601, exposure=Exposure(position=500))


def test_per_symbol_overrides_apply_to_that_symbol_only() -> None:
    gate = RiskGate(
        RiskLimits(max_quantity=1000, per_symbol={"XAU-PERP": SymbolLimits(max_quantity=10)})
    )
    place(gate, quantity=1000)
    place(gate, symbol="XAU-PERP", instrument=GOLD, quantity=10, price=Decimal("2000.0"))
    error = refused(
        "max_quantity",
        place,
        gate,
        symbol="XAU-PERP",
        instrument=GOLD,
        quantity=11,
        price=Decimal("2000.0"),
    )
    assert error.symbol == "XAU-PERP"


# -- rates -------------------------------------------------------------------------------------


def test_submits_up_to_the_burst_then_refused_then_refilled() -> None:
    gate = RiskGate(RiskLimits(submit_rate=RateLimit(rate=10, burst=5)))
    for _ in range(5):
        place(gate, now=T0)
    error = refused("submit_rate", place, gate, now=T0)
    assert str(error) == "submit_rate for EURUSD-PERP: 10/s burst 5 exhausted; try again later"
    refused("submit_rate", place, gate, now=T0 + S // 10 - 1)  # 0.99999999 token
    place(gate, now=T0 + S // 10)  # one token after 100 ms
    refused("submit_rate", place, gate, now=T0 + S // 10)
    # a long pause refills only up to the burst
    for _ in range(5):
        place(gate, now=T0 + 60 * S)
    refused("submit_rate", place, gate, now=T0 + 60 * S)


def test_a_steady_rate_under_the_limit_always_passes() -> None:
    gate = RiskGate(RiskLimits(submit_rate=RateLimit(rate=100, burst=1)))
    for i in range(1000):
        place(gate, now=T0 + i * (S // 100))
    refused("submit_rate", place, gate, now=T0 + 999 * (S // 100) + S // 200)


def test_a_refused_order_consumes_no_token() -> None:
    gate = RiskGate(RiskLimits(max_quantity=10, submit_rate=RateLimit(rate=1, burst=1)))
    refused("max_quantity", place, gate, quantity=11)
    place(gate, quantity=10)
    refused("submit_rate", place, gate, quantity=10)


def test_replaces_use_the_modify_rate_and_places_the_submit_rate() -> None:
    gate = RiskGate(
        RiskLimits(submit_rate=RateLimit(rate=1, burst=1), modify_rate=RateLimit(rate=1, burst=2))
    )
    place(gate)
    replace(gate)
    replace(gate)
    refused("modify_rate", replace, gate)
    refused("submit_rate", place, gate)
    replace(gate, now=T0 + S)


def test_time_going_back_refills_nothing() -> None:
    bucket = TokenBucket(RateLimit(rate=1, burst=1))
    assert bucket.take(T0 + S)
    assert not bucket.take(T0)
    assert not bucket.take(T0 + S + S // 2)
    assert bucket.take(T0 + 2 * S)


def test_new_limits_keep_the_buckets_of_unchanged_rates() -> None:
    rate = RateLimit(rate=1, burst=1)
    gate = RiskGate(RiskLimits(submit_rate=rate))
    place(gate)
    gate.set_limits(RiskLimits(submit_rate=rate, max_quantity=5))
    refused("submit_rate", place, gate, quantity=5)
    gate.set_limits(RiskLimits(submit_rate=RateLimit(rate=1, burst=2)))
    place(gate)  # a new rate: a new, full bucket
    gate.set_limits(RiskLimits())
    for _ in range(10):
        place(gate)


# -- trading states ----------------------------------------------------------------------------


def test_halted_refuses_places_and_replaces() -> None:
    gate = RiskGate()
    gate.set_state(TradingState.HALTED, "operator stop")
    assert gate.state is TradingState.HALTED and gate.reason == "operator stop"
    error = refused("trading_state", place, gate)
    assert str(error) == (
        "trading_state for EURUSD-PERP: HALTED (operator stop); only cancels are accepted"
    )
    assert error.value == "HALTED"
    refused("trading_state", place, gate, side=Side.SELL, exposure=Exposure(position=100))
    refused("trading_state", replace, gate)
    gate.set_state(TradingState.ACTIVE)
    place(gate)


def test_reducing_lets_only_shrinking_orders_through_and_never_past_flat() -> None:
    gate = RiskGate(state=TradingState.REDUCING)
    long = Exposure(position=300)
    place(gate, side=Side.SELL, quantity=300, exposure=long)  # to flat: at the edge
    place(gate, side=Side.SELL, quantity=299, exposure=long)
    error = refused("trading_state", place, gate, side=Side.SELL, quantity=301, exposure=long)
    assert "REDUCING" in str(error) and error.actual == 301
    refused("trading_state", place, gate, side=Side.BUY, quantity=1, exposure=long)
    short = Exposure(position=-300)
    place(gate, side=Side.BUY, quantity=300, exposure=short)
    refused("trading_state", place, gate, side=Side.BUY, quantity=301, exposure=short)
    refused("trading_state", place, gate, side=Side.SELL, quantity=1, exposure=short)
    flat = Exposure()
    refused("trading_state", place, gate, side=Side.SELL, quantity=1, exposure=flat)
    refused("trading_state", place, gate, side=Side.BUY, quantity=1, exposure=flat)


def test_reducing_counts_resting_and_in_flight_orders_on_the_reducing_side() -> None:
    gate = RiskGate(state=TradingState.REDUCING)
    # long 300 with 200 already being sold (resting + in flight): 100 more may be sold
    exposure = Exposure(position=300, sell_working=200, buy_working=1000)
    place(gate, side=Side.SELL, quantity=100, exposure=exposure)
    error = refused("trading_state", place, gate, side=Side.SELL, quantity=101, exposure=exposure)
    assert "room: 100" in str(error)
    # the side already covers the position: nothing more
    covered = Exposure(position=300, sell_working=300)
    refused("trading_state", place, gate, side=Side.SELL, quantity=1, exposure=covered)
    over = Exposure(position=-300, buy_working=400)
    refused("trading_state", place, gate, side=Side.BUY, quantity=1, exposure=over)


def test_reducing_replaces_may_shrink_or_move_a_reducing_order_only() -> None:
    gate = RiskGate(state=TradingState.REDUCING)
    # long 300, this SELL has 200 left, another SELL has 50
    exposure = Exposure(position=300, sell_working=250)
    sell = {"side": Side.SELL, "exposure": exposure, "leaves_qty": 200}
    replace(gate, **sell, quantity=200, price=Decimal("1.0900"))  # a new price
    replace(gate, **sell, quantity=250)  # grows to 250: 300 working, flat at worst
    refused("trading_state", replace, gate, **sell, quantity=251)
    # part filled: 100 of 250 filled, so quantity 350 means 250 left
    replace(gate, **sell, quantity=350, filled_qty=100)
    refused("trading_state", replace, gate, **sell, quantity=351, filled_qty=100)
    refused("trading_state", replace, gate, side=Side.BUY, exposure=exposure, leaves_qty=10)


def test_a_replace_skips_the_open_order_counts_and_checks_the_rest() -> None:
    gate = RiskGate(
        RiskLimits(
            max_open_orders=1,
            max_open_orders_total=1,
            max_quantity=500,
            max_position=400,
            price_collar_bps=Decimal(10),
        )
    )
    replace(gate)  # already one open order: a replace adds none
    refused("max_quantity", replace, gate, quantity=501)
    refused(
        "price_collar_bps",
        replace,
        gate,
        price=Decimal("1.0011"),
        reference_price=Decimal("1.0000"),
    )
    # position 100, this BUY has 100 left, another BUY 100: growing to 300 reaches 400
    exposure = Exposure(position=100, buy_working=200)
    replace(gate, quantity=200, exposure=exposure, leaves_qty=100)
    error = refused("max_position", replace, gate, quantity=201, exposure=exposure, leaves_qty=100)
    assert error.actual == 401


# -- the denial event --------------------------------------------------------------------------


def test_a_refusal_becomes_an_order_denied_event() -> None:
    gate = RiskGate(RiskLimits(max_quantity=10))
    with pytest.raises(RiskLimitError) as info:
        place(gate, quantity=11)
    event = denial(
        info.value,
        client_order_id="my-1",
        side=Side.BUY,
        quantity=11,
        price=Decimal("1.0850"),
        now=T0,
    )
    assert isinstance(event, OrderDenied)
    assert event.kind is RequestKind.PLACE and event.reason == "max_quantity"
    assert str(event) == (
        "OrderDenied client_order_id=my-1 symbol=EURUSD-PERP side=BUY quantity=11"
        " price=1.0850 reason=max_quantity text=max_quantity for EURUSD-PERP: 10 < order's 11"
        " kind=PLACE"
    )


# -- the price band (the fast way of the notional and the collar) ------------------------------


def _exact_refusal(
    limits: RiskLimits, quantity: int, price: Decimal, multiplier: Decimal, ref: Decimal | None
) -> str | None:
    """The limit the documented rules refuse a priced LIMIT order for, in exact arithmetic."""
    worth = limits.max_notional
    if worth is not None and Fraction(price) * quantity * Fraction(multiplier) > Fraction(worth):
        return "max_notional"
    collar = limits.price_collar_bps
    if collar is not None and ref is not None and ref > 0:
        distance = abs(Fraction(price) - Fraction(ref)) / Fraction(ref) * 10_000
        if distance > Fraction(collar):
            return "price_collar_bps"
    return None


def _outcome(gate: RiskGate, **changes: Any) -> str | None:
    try:
        place(gate, **changes)
    except RiskLimitError as exc:
        return exc.limit
    return None


def test_the_price_band_decides_as_the_exact_rules_at_every_edge() -> None:
    rng = random.Random(20240607)
    tiny = Decimal("0.00000001")
    for _ in range(250):
        limits = RiskLimits(
            max_notional=rng.choice(
                [None, Decimal(rng.randint(0, 10**6)), Decimal("12345.67"), Decimal(0)]
            ),
            price_collar_bps=rng.choice(
                [None, Decimal(rng.randint(0, 20_000)), Decimal("0.5"), Decimal(0)]
            ),
        )
        gate = RiskGate(limits)
        ref = rng.choice(
            [None, Decimal(0), Decimal(rng.randint(1, 10**6)) / 10**4, Decimal("1.1388")]
        )
        multiplier = rng.choice([Decimal(1), Decimal(10), Decimal("0.1"), Decimal(3)])
        inst = Instrument(
            symbol="EURUSD-PERP",
            tick_size=Decimal("0.0001"),
            minimum_order_size=1,
            price_precision=4,
            multiplier=multiplier,
        )
        base = ref if ref is not None and ref > 0 else Decimal("1.5")
        collar = limits.price_collar_bps or Decimal(0)
        half = collar * base / 10_000
        prices = [base, base + half, base - half, base + half + tiny, base - half - tiny]
        prices += [base + half - tiny, Decimal(0), base * 3, base / 3]
        for _ in range(30):  # the same reference again and again: the band is reused
            price = rng.choice(prices)
            worth = limits.max_notional
            most = int(worth / (price * multiplier)) if worth and price > 0 else 100
            quantity = max(1, rng.choice([1, most - 1, most, most + 1, 10**9]))
            expected = _exact_refusal(limits, quantity, price, multiplier, ref)
            got = _outcome(
                gate, quantity=quantity, price=price, reference_price=ref, instrument=inst
            )
            assert got == expected, (limits, ref, multiplier, price, quantity)


def test_the_band_follows_a_new_reference_and_new_limits() -> None:
    gate = RiskGate(RiskLimits(price_collar_bps=Decimal(50), max_notional=Decimal(1005)))
    ref = Decimal("1.0000")
    for _ in range(3):  # the band is made at the second use, then reused
        place(gate, price=Decimal("1.0050"), quantity=1000, reference_price=ref)
        refused("price_collar_bps", place, gate, price=Decimal("1.0051"), reference_price=ref)
        refused("max_notional", place, gate, price=Decimal("1.0050"), quantity=1001)
    moved = Decimal("1.0100")  # a new reference: a new band
    for _ in range(3):
        place(gate, price=Decimal("1.0150"), quantity=990, reference_price=moved)
        refused("price_collar_bps", place, gate, price=Decimal("1.0000"), reference_price=moved)
    gate.set_limits(RiskLimits(price_collar_bps=Decimal(10)))  # new limits: the band goes
    refused("price_collar_bps", place, gate, price=Decimal("1.0112"), reference_price=moved)
    place(gate, price=Decimal("1.0110"), quantity=10**6, reference_price=moved)


def test_a_reference_that_changes_at_every_order_is_checked_exactly() -> None:
    gate = RiskGate(RiskLimits(price_collar_bps=Decimal(100)))
    for i in range(20):
        ref = Decimal(100 + i)
        place(gate, price=ref * Decimal("1.01"), reference_price=ref)
        refused(
            "price_collar_bps",
            place,
            gate,
            price=ref * Decimal("1.01") + Decimal("0.0001"),
            reference_price=Decimal(100 + i),
        )


def test_the_positional_checks_are_the_keyword_ones() -> None:
    gate = RiskGate(RiskLimits(max_open_orders=1, max_position=150, max_quantity=1000))
    gate.place("EURUSD-PERP", Side.BUY, 100, OrderType.LIMIT, None, None, Decimal(1), None,
               50, 0, 0, 0, T0)  # fmt: skip
    with pytest.raises(RiskLimitError, match="max_position"):
        gate.place("EURUSD-PERP", Side.BUY, 100, OrderType.LIMIT, None, None, Decimal(1),
                   None, 51, 0, 0, 0, T0)  # fmt: skip
    with pytest.raises(RiskLimitError, match="max_open_orders"):
        gate.place("EURUSD-PERP", Side.SELL, 1, OrderType.LIMIT, None, None, Decimal(1), None,
                   0, 1, 1, 0, T0)  # fmt: skip
    gate.replace("EURUSD-PERP", Side.BUY, 100, OrderType.LIMIT, None, None, Decimal(1), None,
                 0, 150, 100, 0, T0)  # fmt: skip
    with pytest.raises(RiskLimitError, match="max_position"):
        gate.replace("EURUSD-PERP", Side.BUY, 101, OrderType.LIMIT, None, None, Decimal(1),
                     None, 0, 150, 100, 0, T0)  # fmt: skip
