"""Engine, the matching: executions, priority, IOC, self-trade prevention, market data.

No sockets.
"""

from __future__ import annotations

import pytest
from engine_harness import EUR, T0, D, events_of, make_engine, oid, place

from axorders.model import Side
from axorders.sim.engine import Engine, StpMode, Texts
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    ExpiredMsg,
    FilledMsg,
    PartiallyFilledMsg,
    encode,
)


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def test_fill_at_resting_price_with_both_sides_notified(engine: Engine) -> None:
    maker = oid(place(engine, "B", "S", 100, "1.1388"))
    reply = place(engine, "A", "B", 100, "1.1408", time_in_force="IOC", cid=10078)
    taker_events = events_of(reply, "A")
    assert [type(e) for e in taker_events] == [AcknowledgedMsg, FilledMsg]
    fill = taker_events[1]
    assert isinstance(fill, FilledMsg)
    assert fill.order.price == D("1.1408") and fill.execution.price == D("1.1388")
    assert (fill.order.filled_quantity, fill.order.remaining_quantity) == (100, 0)
    assert fill.execution.aggressor is True and fill.execution.side is Side.BUY
    assert fill.execution.trade_id.startswith("T-")
    [maker_fill] = events_of(reply, "B")
    assert isinstance(maker_fill, FilledMsg)
    assert maker_fill.order.venue_order_id == maker
    assert maker_fill.execution.aggressor is False and maker_fill.execution.side is Side.SELL
    assert maker_fill.execution.trade_id == fill.execution.trade_id
    assert b'"agg":false' in encode(maker_fill)


def test_partial_fills_keep_quantities_consistent(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    place(engine, "C", "S", 200, "1.1391")
    reply = place(engine, "A", "B", 500, "1.1395")
    taker = [e for e in events_of(reply, "A")]
    assert [type(e) for e in taker] == [AcknowledgedMsg, PartiallyFilledMsg, PartiallyFilledMsg]
    last = taker[-1]
    assert isinstance(last, PartiallyFilledMsg)
    assert (last.order.filled_quantity, last.order.remaining_quantity) == (300, 200)
    assert last.execution.price == D("1.1391") and last.execution.quantity == 200
    [resting] = engine.open_orders("A")
    assert (resting.status, resting.filled_quantity, resting.remaining_quantity) == (
        "PARTIALLY_FILLED",
        300,
        200,
    )
    assert engine.best_prices(EUR) == (D("1.1395"), None)


def test_price_time_priority(engine: Engine) -> None:
    first = oid(place(engine, "B", "S", 100, "1.1390", now=T0))
    second = oid(place(engine, "C", "S", 100, "1.1390", now=T0 + 1))
    better = oid(place(engine, "C", "S", 100, "1.1389", now=T0 + 2))
    reply = place(engine, "A", "B", 300, "1.1390", now=T0 + 3)
    makers = [
        e.order.venue_order_id
        for a, e in reply.events
        if a != "A" and isinstance(e, FilledMsg | PartiallyFilledMsg)
    ]
    assert makers == [better, first, second]


def test_ioc_remainder_expires(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    reply = place(engine, "A", "B", 300, "1.1390", time_in_force="IOC")
    taker = events_of(reply, "A")
    assert [type(e) for e in taker] == [AcknowledgedMsg, PartiallyFilledMsg, ExpiredMsg]
    expired = taker[-1]
    assert isinstance(expired, ExpiredMsg)
    assert (expired.order.status, expired.order.filled_quantity) == ("EXPIRED", 100)
    assert expired.order.remaining_quantity == 0
    assert expired.order.text is None  # the event carries no text...
    history = engine.order("A", expired.order.venue_order_id)
    assert history is not None and history.text == Texts.NO_LIQUIDITY  # ...the history does


def test_ioc_without_liquidity_expires_untouched(engine: Engine) -> None:
    reply = place(engine, "A", "B", 100, "1.1283", time_in_force="IOC")
    assert [type(e) for e in events_of(reply)] == [AcknowledgedMsg, ExpiredMsg]
    assert engine.best_prices(EUR) == (None, None)


def test_ack_only_for_resting_orders_when_configured() -> None:
    engine = make_engine(ack_aggressive=False)
    place(engine, "B", "S", 100, "1.1390")
    reply = place(engine, "A", "B", 100, "1.1390", time_in_force="IOC")
    assert [type(e) for e in events_of(reply, "A")] == [FilledMsg]
    reply = place(engine, "A", "B", 100, "1.1300")
    assert [type(e) for e in events_of(reply, "A")] == [AcknowledgedMsg]
    reply = place(engine, "A", "B", 100, "1.1300", time_in_force="IOC")
    assert [type(e) for e in events_of(reply, "A")] == [ExpiredMsg]


def test_crossing_book_is_never_left_behind(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    place(engine, "A", "B", 300, "1.1395")
    bid, ask = engine.best_prices(EUR)
    assert bid == D("1.1395") and ask is None


def test_stp_cancel_incoming_is_the_default(engine: Engine) -> None:
    resting = oid(place(engine, "A", "S", 100, "1.1390"))
    reply = place(engine, "A", "B", 100, "1.1390")
    incoming = oid(reply)
    events = events_of(reply)
    assert [type(e) for e in events] == [AcknowledgedMsg, CanceledMsg]
    assert isinstance(events[1], CanceledMsg) and events[1].order.venue_order_id == incoming
    assert events[1].text == Texts.SELF_TRADE
    assert [o.venue_order_id for o in engine.open_orders("A")] == [resting]
    assert engine.fills("A") == []


def test_stp_cancel_resting_then_trades_on() -> None:
    engine = make_engine(stp=StpMode.CANCEL_RESTING)
    own = oid(place(engine, "A", "S", 100, "1.1390", now=T0))
    other = oid(place(engine, "B", "S", 100, "1.1390", now=T0 + 1))
    reply = place(engine, "A", "B", 100, "1.1390", now=T0 + 2)
    canceled = [e for e in events_of(reply, "A") if isinstance(e, CanceledMsg)]
    assert [e.order.venue_order_id for e in canceled] == [own]
    [maker_fill] = events_of(reply, "B")
    assert isinstance(maker_fill, FilledMsg) and maker_fill.order.venue_order_id == other


def test_stp_cancel_both() -> None:
    engine = make_engine(stp=StpMode.CANCEL_BOTH)
    own = oid(place(engine, "A", "S", 100, "1.1390"))
    reply = place(engine, "A", "B", 100, "1.1390")
    canceled = {e.order.venue_order_id for e in events_of(reply) if isinstance(e, CanceledMsg)}
    assert canceled == {own, oid(reply)}
    assert engine.open_orders("A") == []
    assert engine.best_prices(EUR) == (None, None)


def test_market_data_recording(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    place(engine, "A", "B", 100, "1.1390")
    trades, dirty = engine.take_market_data()
    assert dirty == {EUR}
    [trade] = trades
    assert (trade.price, trade.quantity, trade.side) == (D("1.139"), 100, Side.BUY)
    assert engine.take_market_data() == ([], set())
    engine.record_market_data = False
    place(engine, "B", "S", 100, "1.1390")
    assert engine.take_market_data() == ([], set())
    ticker = engine.ticker(EUR, T0)
    assert (ticker.last_price, ticker.volume, ticker.mark) == (D("1.139"), 100, D("1.1388"))
    assert (ticker.band_lower, ticker.band_upper) == (D("1.025"), D("1.2526"))
