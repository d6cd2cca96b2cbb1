"""Engine, the book: tick and band checks, post-only re-pricing, preview (no sockets)."""

from __future__ import annotations

import random

import pytest
from engine_harness import EUR, D, events_of, make_engine, place

from axorders.model import Instrument, Side
from axorders.sim.engine import Engine
from axorders.wire.orders import AcknowledgedMsg, RejectedMsg, encode


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def test_price_is_compared_numerically_against_the_tick(engine: Engine) -> None:
    # Nautilus writes the instrument's own precision: "1.08500" is on a 0.0001 tick.
    engine.set_mark(EUR, D("1.0850"))
    reply = place(engine, "A", "B", 100, "1.08500")
    assert isinstance(events_of(reply)[0], AcknowledgedMsg)
    assert str(events_of(reply)[0].order.price) == "1.085"  # type: ignore[union-attr]


def test_band_follows_the_mark(engine: Engine) -> None:
    low, high = engine.price_band(EUR)
    assert (low, high) == (D("1.0250"), D("1.2526"))
    assert isinstance(events_of(place(engine, "A", "B", 100, str(low)))[0], AcknowledgedMsg)
    assert isinstance(events_of(place(engine, "A", "S", 100, str(high)))[0], AcknowledgedMsg)
    engine.set_mark(EUR, D("2.0000"))
    reply = place(engine, "A", "B", 100, "1.1300")
    assert events_of(reply)[0].reject_reason == "PRICE_OUT_OF_BOUNDS"  # type: ignore[union-attr]


def test_post_only_that_would_cross_is_rejected_with_null_reason(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1388")
    reply = place(engine, "A", "B", 100, "1.1393", post_only=True)
    [event] = events_of(reply, "A")
    assert isinstance(event, RejectedMsg)
    assert event.reject_reason is None and event.text == "post-only order would cross the book"
    assert event.order.text == "post-only order would cross the book"
    assert b'"r":null' in encode(event)
    assert engine.best_prices(EUR) == (None, D("1.1388"))


@pytest.mark.parametrize(("reprice", "expected"), [("bo", "1.1387"), ("tbl", "1.1380")])
def test_post_only_reprice(engine: Engine, reprice: str, expected: str) -> None:
    place(engine, "B", "S", 100, "1.1388")
    place(engine, "C", "B", 100, "1.1380")
    reply = place(engine, "A", "B", 100, "1.1393", post_only=True, reprice=reprice)
    [event] = events_of(reply, "A")
    assert isinstance(event, AcknowledgedMsg)
    assert event.order.price == D(expected) and event.order.reprice == reprice


def test_preview_walks_the_book(engine: Engine) -> None:
    empty = engine.preview(EUR, Side.BUY, 100)
    assert empty is not None and empty.limit_price is None and empty.remaining_quantity == 100
    place(engine, "B", "S", 100, "1.1388")
    place(engine, "B", "S", 200, "1.1390")
    preview = engine.preview(EUR, Side.BUY, 250)
    assert preview is not None
    assert (preview.limit_price, preview.filled_quantity, preview.remaining_quantity) == (
        D("1.139"),
        250,
        0,
    )
    assert preview.vwap == D("1.13892")
    thin = engine.preview(EUR, Side.BUY, 1000)
    assert thin is not None and (thin.filled_quantity, thin.remaining_quantity) == (300, 700)
    assert engine.preview("NOPE", Side.BUY, 1) is None


def test_instrument_with_a_small_minimum_accepts_nautilus_probe() -> None:
    tick = D("0.0001")
    probe = Instrument(
        symbol=EUR,
        tick_size=tick,
        minimum_order_size=1,
        price_precision=Instrument.precision_of(tick),
    )
    engine = Engine([probe], {EUR: D("1.0850")}, rng=random.Random(1))
    engine.add_account("A")
    reply = place(engine, "A", "B", 10, "1.08500", post_only=True, cid=4694084538830600987)
    assert isinstance(events_of(reply)[0], AcknowledgedMsg)
