"""Engine, the commands: acceptance, validations, cancels, status, replace, history (no sockets).

The book, the matching and the accounts have their own files: test_engine_book.py,
test_engine_matching.py, test_engine_accounts.py.
"""

from __future__ import annotations

import pytest
from engine_harness import EUR, T0, D, events_of, make_engine, oid, place

from axorders.model import Side
from axorders.sim.engine import Cancel, CancelAll, CancelReject, Engine, Place, SetMark, Texts
from axorders.sim.ids import is_ulid
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    FilledMsg,
    RejectedMsg,
    ReplacedMsg,
)


@pytest.fixture
def engine() -> Engine:
    return make_engine()


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




def test_the_engine_interface_stays_importable_from_the_engine_module() -> None:
    """The gateway, the makers and the REST layer import these names from one place."""
    import axorders.sim.engine as module

    names = [
        "Cancel",
        "CancelAll",
        "CancelReject",
        "Command",
        "Engine",
        "EngineConfig",
        "Events",
        "Fill",
        "MarginFailure",
        "Place",
        "Reply",
        "SetMark",
        "StpMode",
        "Texts",
    ]
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name) is not None
    assert module.Texts.NO_MATCHING_ORDERS == "no matching orders"
