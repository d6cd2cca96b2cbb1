"""Matching engine: validations, matching, lifecycle events, accounts (no sockets)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from axorders.model import Instrument, Side
from axorders.sim.engine import (
    Cancel,
    CancelAll,
    CancelReject,
    Engine,
    EngineConfig,
    MarginFailure,
    Place,
    Reply,
    SetMark,
    StpMode,
    Texts,
)
from axorders.sim.ids import is_ulid
from axorders.sim.instruments import default_instruments, marks_for
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    ExpiredMsg,
    FilledMsg,
    PartiallyFilledMsg,
    RejectedMsg,
    ReplacedMsg,
    ServerEvent,
    encode,
)

D = Decimal
T0 = 1_790_228_411_934_693_936
EUR = "EURUSD-PERP"


def make_engine(**config: object) -> Engine:
    instruments = default_instruments()
    engine = Engine(
        instruments,
        marks_for(instruments),
        config=EngineConfig(**config),  # type: ignore[arg-type]
        rng=random.Random(7),
    )
    for account in ("A", "B", "C"):
        engine.add_account(account, user_id=f"user-{account}")
    return engine


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def events_of(reply: Reply, account: str | None = None) -> list[ServerEvent]:
    return [e for a, e in reply.events if account is None or a == account]


def place(
    engine: Engine,
    account: str,
    side: str,
    qty: int,
    price: str,
    *,
    now: int = T0,
    **kw: object,
) -> Reply:
    return engine.place(
        account,
        kw.pop("symbol", EUR),  # type: ignore[arg-type]
        Side.parse(side),
        qty,
        D(price),
        now=now,
        **kw,  # type: ignore[arg-type]
    )


def oid(reply: Reply) -> str:
    assert reply.result is not None and reply.result.venue_order_id is not None
    return reply.result.venue_order_id


# ---------------------------------------------------------------------------------------------
# Acceptance and ids


def test_resting_order_is_acknowledged(engine: Engine) -> None:
    reply = place(engine, "A", "B", 200, "1.12830", post_only=True, cid=10075, tag="t1")
    assert reply.error is None
    order_id = oid(reply)
    assert order_id.startswith("O-") and is_ulid(order_id[2:])
    [event] = events_of(reply)
    assert isinstance(event, AcknowledgedMsg)
    assert event.event_id.startswith("E-") and is_ulid(event.event_id[2:])
    body = event.order
    assert (body.venue_order_id, body.status, body.quantity) == (order_id, "ACCEPTED", 200)
    assert (body.filled_quantity, body.remaining_quantity) == (0, 200)
    assert body.price == D("1.1283") and str(body.price) == "1.1283"  # normalized
    assert (body.user_id, body.account_id, body.cid, body.tag) == ("user-A", "A", 10075, "t1")
    assert body.post_only is True and body.reprice == "rej"
    assert (body.ts, body.tn) == divmod(T0, 10**9)
    assert [o.venue_order_id for o in engine.open_orders("A")] == [order_id]


def test_ids_are_time_ordered_and_unique(engine: Engine) -> None:
    ids = [oid(place(engine, "A", "B", 100, "1.1300", now=T0 + i * 10)) for i in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_same_seed_same_ids() -> None:
    first = [oid(place(make_engine(), "A", "B", 100, "1.1300")) for _ in range(3)]
    assert first[0] == first[1] == first[2]


# ---------------------------------------------------------------------------------------------
# Validations


@pytest.mark.parametrize(
    "case",
    [
        ("NOPE-PERP", 100, "1.1300", "UNKNOWN_SYMBOL", "symbol NOPE-PERP is not available"),
        (EUR, 99, "1.1300", "INCORRECT_QUANTITY", None),
        (EUR, 0, "1.1300", "INCORRECT_QUANTITY", "order quantity must be positive"),
        (EUR, -5, "1.1300", "INCORRECT_QUANTITY", "order quantity must be positive"),
        (EUR, 100, "1.13005", "INVALID_PRICE_INCREMENT", None),
        (EUR, 100, "1.0000", "PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE),
        (EUR, 100, "0", "PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE),
        (EUR, 100, "-1.1300", "PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE),
        (EUR, 100, "1.3000", "PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE),
        (EUR, 100, "9E+999999", "PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE),
        ("US500-PERP", 1, "6600.30", "INVALID_PRICE_INCREMENT", None),
    ],
)
def test_rejections_get_an_oid_and_a_j_event(
    engine: Engine, case: tuple[str, int, str, str, str | None]
) -> None:
    symbol, qty, price, reason, text = case
    reply = place(engine, "A", "B", qty, price, symbol=symbol, cid=5)
    order_id = oid(reply)
    [event] = events_of(reply, "A")
    assert isinstance(event, RejectedMsg)
    assert event.reject_reason == reason
    if text is not None:
        assert event.text == text
    assert event.order.venue_order_id == order_id
    assert (event.order.status, event.order.remaining_quantity) == ("REJECTED", 0)
    assert event.order.reject_reason == reason and event.order.text == event.text
    status = engine.status("A", venue_order_id=order_id)
    assert status is not None and status.state == "REJECTED" and status.reject_reason == reason
    assert engine.open_orders("A") == []


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_in_force": "FOK"}, "unsupported time in force 'FOK'; use GTC, IOC or DAY"),
        ({"time_in_force": "GTD"}, "unsupported time in force"),
        ({"reprice": "zz"}, "unsupported reprice behaviour"),
        ({"cid": -1}, "cid must be a non-negative integer"),
        ({"tag": "x" * 51}, "tag is longer than 50 characters"),
    ],
)
def test_request_level_errors_have_no_oid(
    engine: Engine, kwargs: dict[str, object], message: str
) -> None:
    reply = place(engine, "A", "B", 100, "1.1300", **kwargs)
    assert reply.result is None and reply.events == []
    assert reply.error is not None and reply.error.code == 400
    assert reply.error.message is not None and reply.error.message.startswith(message)
    assert engine.history("A") == []


def test_non_finite_price_is_a_request_error(engine: Engine) -> None:
    reply = engine.place("A", EUR, Side.BUY, 100, D("NaN"), now=T0)
    assert reply.error is not None and reply.error.code == 400


def test_duplicate_live_cid_is_rejected(engine: Engine) -> None:
    first = place(engine, "A", "B", 100, "1.1300", cid=42)
    second = place(engine, "A", "B", 100, "1.1301", cid=42)
    [event] = events_of(second)
    assert isinstance(event, RejectedMsg) and event.reject_reason == "DUPLICATE_CLIENT_ORDER_ID"
    # Another account may use the same cid, and the cid is free again once the order ends.
    assert isinstance(events_of(place(engine, "B", "B", 100, "1.1300", cid=42))[0], AcknowledgedMsg)
    engine.cancel("A", T0, venue_order_id=oid(first))
    assert isinstance(events_of(place(engine, "A", "B", 100, "1.1300", cid=42))[0], AcknowledgedMsg)


def test_margin_failure_is_an_err_400_by_default(engine: Engine) -> None:
    engine.add_account("POOR", balance=D("10"))
    reply = place(engine, "POOR", "B", 1000, "1.1300")
    assert reply.result is None and reply.events == []
    assert reply.error is not None and reply.error.code == 400
    assert reply.error.message == (
        "initial margin required for order (67.80) is greater than available initial margin (10.00)"
    )
    assert engine.history("POOR") == []


def test_margin_failure_can_be_a_reject() -> None:
    engine = make_engine(margin_failure=MarginFailure.REJECT)
    engine.add_account("POOR", balance=D("0"))
    reply = place(engine, "POOR", "B", 1000, "1.1300")
    [event] = events_of(reply)
    assert isinstance(event, RejectedMsg) and event.reject_reason == "INSUFFICIENT_MARGIN"
    assert event.text is not None and "available initial margin (0.00)" in event.text


def test_open_orders_use_margin_and_closing_orders_need_none(engine: Engine) -> None:
    engine.add_account("SMALL", balance=D("100"))
    # 1000 × 1.13 × 6 % = 67.80 fits once, not twice.
    assert place(engine, "SMALL", "B", 1000, "1.1300").error is None
    assert place(engine, "SMALL", "B", 1000, "1.1300").error is not None
    engine.cancel_all("SMALL", T0)
    # Buy 1000 against liquidity, then selling it back needs no margin.
    place(engine, "B", "S", 1000, "1.1300")
    place(engine, "SMALL", "B", 1000, "1.1300", time_in_force="IOC")
    assert engine.positions("SMALL")[0].signed_quantity == 1000
    place(engine, "B", "B", 1000, "1.1290")
    assert place(engine, "SMALL", "S", 1000, "1.1290", time_in_force="IOC").error is None


# ---------------------------------------------------------------------------------------------
# Matching


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


def test_crossing_book_is_never_left_behind(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    place(engine, "A", "B", 300, "1.1395")
    bid, ask = engine.best_prices(EUR)
    assert bid == D("1.1395") and ask is None


# ---------------------------------------------------------------------------------------------
# Self-trade prevention


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


# ---------------------------------------------------------------------------------------------
# Cancel, cancel-all, status


def test_cancel(engine: Engine) -> None:
    order_id = oid(place(engine, "A", "B", 100, "1.1300"))
    reply = engine.cancel("A", T0 + 5, venue_order_id=order_id)
    assert reply.result is not None and reply.result.cancel_received is True
    [event] = events_of(reply)
    assert isinstance(event, CanceledMsg)
    assert (event.reason, event.text) == ("", "")
    assert (event.order.status, event.order.remaining_quantity) == ("CANCELED", 0)
    assert engine.best_prices(EUR) == (None, None)


def test_cancel_by_cid(engine: Engine) -> None:
    order_id = oid(place(engine, "A", "B", 100, "1.1300", cid=77))
    reply = engine.cancel("A", T0, cid=77)
    assert events_of(reply)[0].order.venue_order_id == order_id  # type: ignore[union-attr]


@pytest.mark.parametrize("target", ["unknown", "terminal", "foreign"])
def test_cancel_refused_with_404(engine: Engine, target: str) -> None:
    order_id = oid(place(engine, "A", "B", 100, "1.1300"))
    if target == "unknown":
        order_id = "O-TEST0001"
    elif target == "terminal":
        engine.cancel("A", T0, venue_order_id=order_id)
    account = "B" if target == "foreign" else "A"
    reply = engine.cancel(account, T0, venue_order_id=order_id)
    assert reply.error is not None
    assert (reply.error.code, reply.error.message) == (404, "no matching orders")
    assert reply.events == []
    if target == "foreign":
        assert len(engine.open_orders("A")) == 1


def test_cancel_refusal_as_event() -> None:
    engine = make_engine(cancel_reject=CancelReject.EVENT)
    reply = engine.cancel("A", T0, venue_order_id="O-TEST0001")
    assert reply.result is not None and reply.result.cancel_received
    [event] = events_of(reply, "A")
    assert isinstance(event, CancelRejectedMsg)
    assert (event.venue_order_id, event.reject_reason) == ("O-TEST0001", "ORDER_NOT_FOUND")


def test_cancel_all_optionally_by_symbol(engine: Engine) -> None:
    place(engine, "A", "B", 100, "1.1300")
    place(engine, "A", "B", 100, "1.1301")
    xau = oid(place(engine, "A", "B", 1, "3600.0", symbol="XAU-PERP"))
    place(engine, "B", "B", 100, "1.1300")
    reply = engine.cancel_all("A", T0, symbol=EUR)
    assert reply.result is not None and reply.error is None
    assert len(events_of(reply)) == 2 and all(isinstance(e, CanceledMsg) for e in events_of(reply))
    assert [o.venue_order_id for o in engine.open_orders("A")] == [xau]
    assert len(events_of(engine.cancel_all("A", T0))) == 1
    assert len(engine.open_orders("B")) == 1


def test_status_by_oid_and_cid(engine: Engine) -> None:
    order_id = oid(place(engine, "A", "B", 300, "1.1390", cid=9))
    place(engine, "B", "S", 100, "1.1390")
    status = engine.status("A", cid=9)
    assert status is not None
    assert (status.order_id, status.clord_id, status.state) == (order_id, 9, "PARTIALLY_FILLED")
    assert (status.filled_quantity, status.remaining_quantity) == (100, 200)
    assert engine.status("B", venue_order_id=order_id) is None
    reply = engine.status_reply("A", venue_order_id="O-NOPE")
    assert reply.error is not None and reply.error.code == 404


def test_session_close_ends_day_orders(engine: Engine) -> None:
    day = oid(place(engine, "A", "B", 300, "1.1390", time_in_force="DAY"))
    gtc = oid(place(engine, "A", "B", 100, "1.1300"))
    place(engine, "B", "S", 100, "1.1390")
    events = engine.session_close(T0 + 100)
    assert len(events) == 1
    account, event = events[0]
    assert account == "A" and isinstance(event, DoneForDayMsg)
    assert event.order.venue_order_id == day
    assert (event.order.status, event.order.filled_quantity, event.order.remaining_quantity) == (
        "DONE_FOR_DAY",
        100,
        0,
    )
    assert [o.venue_order_id for o in engine.open_orders("A")] == [gtc]


# ---------------------------------------------------------------------------------------------
# Replace


def test_replace_is_cancel_replace(engine: Engine) -> None:
    old = oid(place(engine, "A", "B", 200, "1.1283", post_only=True, cid=10075, tag="t"))
    reply = engine.replace("A", old, T0 + 10, quantity=100)
    new = oid(reply)
    assert new != old
    [event] = events_of(reply)
    assert isinstance(event, ReplacedMsg)
    assert event.new_venue_order_id == new
    assert event.old_order.venue_order_id == old
    assert (event.old_order.status, event.old_order.remaining_quantity) == ("REPLACED", 0)
    assert event.new_order is not None
    no = event.new_order
    assert (no.venue_order_id, no.status, no.quantity, no.remaining_quantity) == (
        new,
        "ACCEPTED",
        100,
        100,
    )
    assert (no.cid, no.tag, no.post_only, no.reprice) == (10075, "t", True, "rej")
    assert (no.ts, no.tn) == divmod(T0 + 10, 10**9)
    assert [o.venue_order_id for o in engine.open_orders("A")] == [new]
    old_status = engine.status("A", venue_order_id=old)
    assert old_status is not None and old_status.state == "REPLACED"
    assert engine.status("A", cid=10075).order_id == new  # type: ignore[union-attr]


def test_replace_that_crosses_trades_as_aggressor(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1390")
    old = oid(place(engine, "A", "B", 100, "1.1300"))
    reply = engine.replace("A", old, T0, price=D("1.1390"))
    kinds = [type(e) for e in events_of(reply, "A")]
    assert kinds == [ReplacedMsg, FilledMsg]
    fill = events_of(reply, "A")[1]
    assert isinstance(fill, FilledMsg) and fill.execution.aggressor is True


def test_replace_keeps_filled_quantity(engine: Engine) -> None:
    old = oid(place(engine, "A", "B", 300, "1.1390"))
    place(engine, "B", "S", 100, "1.1390")
    refused = engine.replace("A", old, T0, quantity=100)
    assert refused.error is not None and refused.error.code == 400
    assert "must be greater than the filled quantity (100)" in (refused.error.message or "")
    reply = engine.replace("A", old, T0, quantity=200)
    event = events_of(reply)[0]
    assert isinstance(event, ReplacedMsg) and event.new_order is not None
    no = event.new_order
    assert (no.quantity, no.filled_quantity, no.remaining_quantity) == (200, 100, 100)
    assert event.old_order.filled_quantity == 100


def test_replace_of_terminal_order_answers_then_rejects(engine: Engine) -> None:
    old = oid(place(engine, "A", "B", 100, "1.1300"))
    engine.cancel("A", T0, venue_order_id=old)
    reply = engine.replace("A", old, T0, price=D("1.1301"))
    new = oid(reply)
    [event] = events_of(reply)
    assert isinstance(event, RejectedMsg)
    assert event.order.venue_order_id == new
    assert event.reject_reason == "ORIGINAL_ORDER_TERMINATED"


def test_replace_with_bad_parameters_leaves_the_original(engine: Engine) -> None:
    old = oid(place(engine, "A", "B", 100, "1.1300", cid=3))
    place(engine, "B", "S", 100, "1.1390")
    for kwargs in (
        {"price": D("1.13005")},
        {"price": D("5")},
        {"quantity": 50},
        {"time_in_force": "FOK"},
    ):
        reply = engine.replace("A", old, T0, **kwargs)  # type: ignore[arg-type]
        assert reply.error is not None and reply.error.code == 400, kwargs
    post_only = engine.replace("A", old, T0, price=D("1.1390"), post_only=True)
    assert post_only.error is not None and post_only.error.message == Texts.POST_ONLY_CROSS
    [still] = engine.open_orders("A")
    assert (still.venue_order_id, still.status) == (old, "ACCEPTED")
    assert engine.best_prices(EUR) == (D("1.1300"), D("1.1390"))
    assert engine.replace("B", old, T0, quantity=200).error.code == 404  # type: ignore[union-attr]


def test_refused_replace_keeps_time_priority(engine: Engine) -> None:
    first = oid(place(engine, "A", "S", 100, "1.1390", now=T0))
    place(engine, "B", "S", 100, "1.1390", now=T0 + 1)
    assert engine.replace("A", first, T0 + 2, quantity=1).error is not None
    reply = place(engine, "C", "B", 100, "1.1390", now=T0 + 3)
    assert [a for a, e in reply.events if a != "C"] == ["A"]


# ---------------------------------------------------------------------------------------------
# Fees, positions, balances


def test_fees_positions_and_realized_pnl(engine: Engine) -> None:
    start = engine.balance("A")
    place(engine, "B", "S", 100, "1.1388")
    place(engine, "A", "B", 100, "1.1408", time_in_force="IOC")
    [fill] = engine.fills("A")
    info = fill.info()
    assert (info.is_taker, info.fee, info.realized_pnl) == (True, D("0.022776"), None)
    assert info.timestamp == "2026-09-24T05:40:11.934693936Z"
    maker_info = engine.fills("B")[0].info()
    assert (maker_info.is_taker, maker_info.fee) == (False, D(0))
    [position] = engine.positions("A")
    assert (position.signed_quantity, position.signed_cost_basis) == (100, D("113.88"))
    place(engine, "B", "B", 100, "1.1384")
    place(engine, "A", "S", 100, "1.1363", time_in_force="IOC")
    closing = engine.fills("A")[-1].info()
    assert closing.realized_pnl == D("-0.04")
    assert closing.fee == D("0.022768")
    [position] = engine.positions("A")
    assert (position.signed_quantity, position.signed_cost_basis) == (0, D(0))
    assert position.realized_pnl == D("-0.04")
    assert engine.balance("A") == start - D("0.022776") - D("0.022768") - D("0.04")


def test_position_flip(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1300")
    place(engine, "A", "B", 100, "1.1300")
    place(engine, "B", "B", 300, "1.1310")
    place(engine, "A", "S", 300, "1.1310")
    [position] = engine.positions("A")
    assert position.signed_quantity == -200
    assert position.signed_cost_basis == D("-226.2")
    assert position.realized_pnl == D("0.1")


def test_risk_snapshot_and_balances(engine: Engine) -> None:
    place(engine, "A", "B", 1000, "1.1300")
    snapshot = engine.risk_snapshot("A", T0)
    assert snapshot.initial_margin_required_for_open_orders == D("67.8")
    assert snapshot.initial_margin_available == D(1_000_000) - D("67.8")
    assert snapshot.timestamp_ns == "2026-09-24T05:40:11Z"
    assert engine.balances("A").balances[0].amount == D(1_000_000)


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


def test_initial_margin_requirement(engine: Engine) -> None:
    margin = engine.initial_margin("A", EUR, Side.BUY, 100, D("1.1383"))
    assert margin is not None
    assert (margin.im_pct, margin.im, margin.pos, margin.mult) == (
        D("6.0"),
        D("6.8298000"),
        0,
        D(1),
    )


def test_users_only_see_their_own_orders(engine: Engine) -> None:
    order_id = oid(place(engine, "A", "B", 100, "1.1300", cid=1))
    assert engine.open_orders("B") == []
    assert engine.order("B", order_id) is None
    assert engine.status("B", cid=1) is None
    assert engine.history("B") == []
    assert engine.cancel_all("B", T0).events == []


def test_history_newest_first_in_every_state(engine: Engine) -> None:
    a = oid(place(engine, "A", "B", 100, "1.1300", now=T0))
    b = oid(place(engine, "A", "B", 100, "1.0000", now=T0 + 1))  # rejected
    engine.cancel("A", T0 + 2, venue_order_id=a)
    history = engine.history("A")
    assert [(o.venue_order_id, o.status) for o in history] == [(b, "REJECTED"), (a, "CANCELED")]


def test_commands_for_makers(engine: Engine) -> None:
    placed = engine.apply(Place("B", EUR, Side.SELL, 100, D("1.1390")), T0)
    engine.apply(SetMark(EUR, D("1.2000")), T0)
    assert engine.mark(EUR) == D("1.2000")
    assert engine.apply(Cancel("B", oid(placed)), T0).error is None
    engine.apply(Place("B", EUR, Side.SELL, 100, D("1.2100")), T0)
    assert len(engine.apply(CancelAll("B", EUR), T0).events) == 1


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
