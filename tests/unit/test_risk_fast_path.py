"""The short ways of the risk checks: the gate's shortcut decides as its exact way, and the
working orders count a passed place at once and let the venue's acceptance confirm it."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from test_client_risk_part import SYMBOL, FakeSession, Harness

from axorders import events as ev
from axorders.exceptions import RiskLimitError
from axorders.model import Instrument, OrderStatus, OrderType, Side, TimeInForce
from axorders.risk import RateLimit, RiskGate, RiskLimits, TradingState

S = 1_000_000_000
T0 = 1_700_000_000 * S
ANY = "EURUSD-PERP"


# -- the gate's shortcut -----------------------------------------------------------------------


def _verdict(gate: RiskGate, args: tuple[Any, ...]) -> str | None:
    try:
        gate.place(*args)
    except RiskLimitError as exc:
        return exc.limit
    return None


def test_the_shortcut_decides_as_the_exact_way() -> None:
    """Two gates of the same limits see the same orders: one with the same reference and
    multiplier objects every time (its plan is reused: the shortcut), the other with equal
    copies (never the shortcut: every order the exact way)."""
    rng = random.Random(7)
    for _ in range(150):
        limits = RiskLimits(
            max_quantity=rng.choice([None, 1, 100, 1000]),
            max_notional=rng.choice([None, Decimal(0), Decimal(1000), Decimal("123456.7")]),
            price_collar_bps=rng.choice([None, Decimal(0), Decimal(50), Decimal(5000)]),
            max_open_orders=rng.choice([None, 0, 1, 3]),
            max_open_orders_total=rng.choice([None, 0, 2, 5]),
            max_position=rng.choice([None, 0, 100, 500]),
            submit_rate=rng.choice([None, RateLimit(rate=10, burst=3)]),
        )
        fast, exact = RiskGate(limits), RiskGate(limits)
        state = rng.choice([TradingState.ACTIVE] * 4 + [TradingState.REDUCING])
        fast.set_state(state)
        exact.set_state(state)
        ref = rng.choice([None, Decimal("1.1388"), Decimal(100)])
        multiplier = rng.choice([Decimal(1), Decimal(10), Decimal("0.1")])
        for i in range(40):
            base = ref if ref is not None else Decimal("1.5")
            price = rng.choice(
                [None, base, base * Decimal("1.004"), base * Decimal("0.996"), base * 2, -base]
            )
            order = (
                ANY,
                rng.choice([Side.BUY, Side.SELL]),
                rng.choice([0, 1, 50, 100, 101, 999, 1000, 1001, 10**6]),
                rng.choice([OrderType.LIMIT] * 5 + [OrderType.STOP_LIMIT, OrderType.MARKET]),
                price,
                rng.choice([None, None, base]),
            )
            exposure = (
                rng.choice([-600, -100, 0, 50, 400, 600]),  # position
                rng.choice([0, 1, 2, 3]),  # open orders of the symbol
                rng.choice([0, 1, 2, 4, 5]),  # open orders in all
                rng.choice([0, 50, 450]),  # working on the order's side
                T0 + i * S // 20,
            )
            copy_ref = None if ref is None else Decimal(str(ref))
            got = _verdict(fast, (*order, multiplier, ref, *exposure))
            expected = _verdict(exact, (*order, Decimal(str(multiplier)), copy_ref, *exposure))
            assert got == expected, (limits, state, order, exposure, ref, multiplier)


def test_the_shortcut_is_taken_and_still_takes_a_token() -> None:
    gate = RiskGate(RiskLimits(max_quantity=10, submit_rate=RateLimit(rate=1, burst=2)))
    one = Decimal(1)
    args = (ANY, Side.BUY, 5, OrderType.LIMIT, Decimal("1.1"), None, one, None, 0, 0, 0, 0, T0)
    gate.place(*args)  # the plan is made: later orders take the shortcut
    gate.place(*args)
    with pytest.raises(RiskLimitError, match="submit_rate"):
        gate.place(*args)
    with pytest.raises(RiskLimitError, match="max_quantity"):  # refused before the rate
        gate.place(ANY, Side.BUY, 11, OrderType.LIMIT, Decimal("1.1"), None, one, None,
                   0, 0, 0, 0, T0 + 10 * S)  # fmt: skip


# -- the working orders ------------------------------------------------------------------------


class CountingSession(FakeSession):
    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def order(self, coid: str) -> Any:
        self.looks += 1
        return super().order(coid)


def accepted(coid: str) -> ev.OrderAccepted:
    return ev.OrderAccepted(
        0, coid, "V", "A", "T", "S", SYMBOL, 0, Side.BUY, Decimal("1.1"), 100,
        TimeInForce.GTC, False,
    )  # fmt: skip


def resolved(coid: str, outcome: ev.RequestOutcome = ev.RequestOutcome.OK) -> ev.RequestResolved:
    return ev.RequestResolved(
        ts_init=0, request_id=1, kind=ev.RequestKind.PLACE, outcome=outcome, client_order_id=coid
    )


def test_a_passed_place_counts_at_once_and_its_acceptance_needs_no_look() -> None:
    session = CountingSession()
    h = Harness(RiskLimits(max_open_orders=10), session=session)
    handlers = h.guard.handlers()
    w = h.guard.working
    h.place("a", "BUY", 100)
    assert w.stale == {"a": 1}  # counted, to be looked at unless accepted first
    session.add("a", Side.BUY, 100, OrderStatus.PENDING)
    handlers[ev.OrderAccepted](accepted("a"))
    handlers[ev.RequestResolved](resolved("a"))
    assert not w.stale
    looks = session.looks
    assert w.counts(SYMBOL)[:3] == [1, 100, 0]  # type: ignore[index]
    h.place("b", "BUY", 200)
    assert session.looks == looks  # nothing looked at
    session.add("b", Side.BUY, 200, OrderStatus.PENDING)
    assert w.counts(SYMBOL)[:3] == [2, 300, 0]  # type: ignore[index]
    assert session.looks == looks + 1  # b, once the session holds it


def test_a_place_answered_ok_before_its_acceptance_is_confirmed_by_either() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=10), session=session)
    handlers = h.guard.handlers()
    w = h.guard.working
    h.place("a", "BUY", 100)
    session.add("a", Side.BUY, 100, OrderStatus.ACCEPTED)
    handlers[ev.RequestResolved](resolved("a"))  # counted already: nothing changes
    handlers[ev.OrderAccepted](accepted("a"))
    assert not w.stale
    assert w.counts(SYMBOL)[:3] == [1, 100, 0]  # type: ignore[index]


def test_a_passed_place_the_session_refused_is_uncounted_at_the_next_read() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=1), session=session)
    w = h.guard.working
    h.place("bad", "BUY", 100)  # passed, then refused by the session: no record
    h.place("good", "BUY", 100)  # the next read uncounts "bad": room for this one
    session.add("good", Side.BUY, 100, OrderStatus.PENDING)
    assert w.counts(SYMBOL)[:3] == [1, 100, 0]  # type: ignore[index]
    with pytest.raises(RiskLimitError, match="max_open_orders"):
        h.place("third", "BUY", 100)


def test_a_failed_place_request_and_other_events_are_looked_at() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=10), session=session)
    handlers = h.guard.handlers()
    w = h.guard.working
    h.place("a", "BUY", 100)
    rec = session.add("a", Side.BUY, 100, OrderStatus.PENDING)
    rec.status = OrderStatus.REJECTED
    handlers[ev.RequestResolved](resolved("a", ev.RequestOutcome.ERROR))
    assert list(w.stale) == ["a"]
    assert w.counts(SYMBOL)[:3] == [0, 0, 0]  # type: ignore[index]


def test_an_accepted_order_the_checks_never_counted_is_looked_at() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=10), session=session)
    handlers = h.guard.handlers()
    w = h.guard.working
    h.place("first", "BUY", 100)
    session.add("first", Side.BUY, 100)
    session.add("other", Side.SELL, 300)  # placed some other way
    handlers[ev.OrderAccepted](accepted("other"))
    assert "other" in w.stale
    assert w.counts(SYMBOL)[:3] == [2, 100, 300]  # type: ignore[index]


def test_a_place_with_an_id_in_use_is_looked_at_not_counted_twice() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=10), session=session)
    w = h.guard.working
    h.place("a", "BUY", 100)
    session.add("a", Side.BUY, 100)
    h.place("a", "BUY", 500)  # the session refuses the duplicate id
    assert w.stale == {"a": None}
    assert w.counts(SYMBOL)[:3] == [1, 100, 0]  # type: ignore[index]


def test_the_collar_reference_from_the_feed_is_worked_out_once_per_price_change() -> None:
    h = Harness(
        RiskLimits(price_collar_bps=Decimal(100)),
        prices=(None, Decimal("1.0990"), Decimal("1.1010")),
    )
    h.place("a", "BUY", 100, "1.1110")  # mid 1.1000: 1.1110 is 100 bps away
    first = h.guard.reference(SYMBOL, h.now)
    assert first == Decimal("1.1000") and h.guard.reference(SYMBOL, h.now) is first
    with pytest.raises(RiskLimitError, match="price_collar_bps"):
        h.place("b", "BUY", 100, "1.1112")
    h.prices = (None, Decimal("1.1990"), Decimal("1.2010"))  # the feed moved
    assert h.guard.reference(SYMBOL, h.now) == Decimal("1.2000")
    h.place("c", "BUY", 100, "1.2110")


def test_a_multiplier_change_of_the_instrument_makes_a_new_plan() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_notional=Decimal(1100)), session=session)
    h.place("a", "BUY", 1000, "1.1000")
    h.place("b", "BUY", 1000, "1.1000")
    session.instruments[SYMBOL] = Instrument(
        symbol=SYMBOL, tick_size=Decimal("0.0001"), minimum_order_size=100, price_precision=4,
        multiplier=Decimal(10),
    )  # fmt: skip
    with pytest.raises(RiskLimitError, match="max_notional"):
        h.place("c", "BUY", 1000, "1.1000")
