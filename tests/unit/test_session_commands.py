"""OrdersSession commands: local validation, frames, stops, cancels, replaces and queries."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from session_harness import EUR, T0, Link, error_frame, make_session, px, result_frame

from axorders import events as ev
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    PlaceOrder,
    QueryOpenOrders,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.exceptions import (
    DuplicateOrderError,
    InvalidOrderError,
    InvalidStateError,
    UnknownOrderError,
)
from axorders.model import OrderStatus, cid_for
from axorders.session import MAX_REQUEST_ID, OrdersSession


@pytest.fixture
def link() -> Link:
    lk = Link()
    lk.connect()
    lk.pump()
    lk.clear()
    return lk


def place(coid: str, qty: Any = 100, price: Any = None, **kw: Any) -> PlaceOrder:
    side = kw.pop("side", "BUY")
    return PlaceOrder(coid, kw.pop("symbol", EUR), side, qty, price=price or px(-10), **kw)


def frames(session: OrdersSession) -> list[dict[str, Any]]:
    return [json.loads(f) for f in session.frames_to_send()]


# ---------------------------------------------------------------------------------------------
# Local validation.


@pytest.mark.parametrize(
    ("command", "field", "reason"),
    [
        (place("v", symbol="NOPE-PERP"), "symbol", "UNKNOWN_INSTRUMENT"),
        (place("v", price="1.13885"), "price", "PRICE_OFF_TICK"),
        (place("v", price="-1"), "price", "INVALID_PRICE"),
        (place("v", price="abc"), "price", "INVALID_NUMBER"),
        (place("v", qty="150.5"), "quantity", "FRACTIONAL_QUANTITY"),
        (place("v", qty=Decimal("100.1")), "quantity", "FRACTIONAL_QUANTITY"),
        (place("v", qty=0), "quantity", "INVALID_QUANTITY"),
        (place("v", qty=-100), "quantity", "INVALID_QUANTITY"),
        (place("v", qty=99), "quantity", "BELOW_MINIMUM_SIZE"),
        (place("v", qty=True), "quantity", "INVALID_QUANTITY"),
        (place("v", time_in_force="GTD"), "time_in_force", "UNSUPPORTED_TIME_IN_FORCE"),
        (place("v", time_in_force="FOK"), "time_in_force", "UNSUPPORTED_TIME_IN_FORCE"),
        (place("v", side="SIDEWAYS"), "side", "INVALID_SIDE"),
        (place("v", order_type="TRAILING"), "order_type", "UNSUPPORTED_ORDER_TYPE"),
        (PlaceOrder("v", EUR, "BUY", 100), "price", "MISSING_PRICE"),
        (PlaceOrder("v", EUR, "BUY", 100, order_type="MARKET"), "price", "MISSING_PRICE"),
        (place("v", order_type="STOP_LIMIT"), "trigger_price", "MISSING_TRIGGER"),
        (place("v", order_type="STOP_LIMIT", trigger_price="1.13881"), "trigger_price",
         "PRICE_OFF_TICK"),
        (place("v", trigger_price="1.1400"), "trigger_price", "UNEXPECTED_TRIGGER"),
        (place("v", order_type="MARKET", post_only=True), "post_only", "POST_ONLY_MARKET"),
        (place("v", order_type="STOP_LIMIT", trigger_price="1.1400", post_only=True),
         "post_only", "POST_ONLY_STOP"),
        (place("v", tag="not ok!"), "tag", "INVALID_TAG"),
        (place("v", tag="abcdefghijk"), "tag", "INVALID_TAG"),
        (place(""), "client_order_id", "MISSING"),
        (place("   "), "client_order_id", "MISSING"),
    ],
)  # fmt: skip
def test_local_validation(link: Link, command: PlaceOrder, field: str, reason: str) -> None:
    rid_before = link.s.requests.next_rid
    with pytest.raises(InvalidOrderError) as info:
        link.s.send(command, link.now)
    assert info.value.field == field
    assert info.value.reason == reason
    assert link.s.frames_to_send() == []
    [rejected] = link.s.events_received()
    assert isinstance(rejected, ev.OrderRejected)
    assert rejected.origin is ev.RejectOrigin.LOCAL
    assert rejected.reason == reason
    assert rejected.client_order_id == command.client_order_id
    assert (rejected.account_id, rejected.trader_id, rejected.strategy_id) == (
        "acct-1",
        "TRADER-1",
        "S-1",
    )
    assert rejected.ts_event == rejected.ts_init == link.now
    assert link.s.order(command.client_order_id) is None
    assert link.s.requests.next_rid == rid_before
    assert link.s.pending_request_ids() == []


def test_validation_runs_before_the_connection_check() -> None:
    session = make_session()
    with pytest.raises(InvalidOrderError):
        session.send(place("v", price="1.13885"), T0)
    with pytest.raises(InvalidStateError):
        session.send(place("v"), T0)
    assert session.frames_to_send() == []
    assert session.order("v") is None


def test_duplicate_client_order_id(link: Link) -> None:
    link.do(place("d1"))
    with pytest.raises(DuplicateOrderError):
        link.s.send(place("d1"), link.now)
    assert link.s.frames_to_send() == []
    assert link.s.events_received() == []
    # Still refused once the order has ended (it is remembered).
    link.do(CancelOrder("d1"))
    with pytest.raises(DuplicateOrderError):
        link.s.send(place("d1"), link.now)


def test_cid_collision_is_refused(link: Link, monkeypatch: pytest.MonkeyPatch) -> None:
    link.do(place("c1"))
    import axorders.session.commands as mod

    monkeypatch.setattr(mod, "cid_for", lambda coid: cid_for("c1"))
    with pytest.raises(DuplicateOrderError, match="cid"):
        link.s.send(place("c2"), link.now)
    assert link.s.frames_to_send() == []
    assert link.s.order("c2") is None


def test_not_connected() -> None:
    session = make_session()
    with pytest.raises(InvalidStateError):
        session.send(QueryOpenOrders(), T0)
    with pytest.raises(InvalidStateError):
        session.send(CancelAllOrders(), T0)


# ---------------------------------------------------------------------------------------------
# Frames.


def test_exact_place_frame(link: Link) -> None:
    rid = link.send(place("exact-1", 300, "1.1380", tag="abc", post_only=True))
    assert rid == 1
    [frame] = link.s.frames_to_send()
    assert frame == (
        b'{"t":"p","rid":1,"s":"EURUSD-PERP","d":"B","q":300,"p":"1.1380","tif":"GTC",'
        b'"po":true,"cid":' + str(cid_for("exact-1")).encode() + b',"tag":"abc"}'
    )


def test_exact_frames_of_every_request(link: Link) -> None:
    link.do(place("f1"))
    oid = link.s.order("f1").venue_order_id  # type: ignore[union-attr]
    link.s.send(ReplaceOrder("f1", price="1.1300"), link.now)
    link.s.send(ReplaceOrder("f1", quantity=500), link.now)
    link.s.send(CancelOrder("f1"), link.now)
    link.s.send(CancelAllOrders(), link.now)
    link.s.send(CancelAllOrders(EUR), link.now)
    link.s.send(QueryOpenOrders(), link.now)
    link.s.send(QueryOrderStatus(venue_order_id="O-X"), link.now)
    link.s.send(QueryOrderStatus(client_order_id="f1"), link.now)
    assert link.s.frames_to_send() == [
        b'{"t":"r","rid":2,"oid":"' + oid.encode() + b'","p":"1.1300"}',
        b'{"t":"r","rid":3,"oid":"' + oid.encode() + b'","q":500}',
        b'{"t":"x","rid":4,"oid":"' + oid.encode() + b'"}',
        b'{"t":"X","rid":5}',
        b'{"t":"X","rid":6,"symbol":"EURUSD-PERP"}',
        b'{"t":"o","rid":7}',
        b'{"t":"s","rid":8,"oid":"O-X"}',
        b'{"t":"s","rid":9,"cid":' + str(cid_for("f1")).encode() + b"}",
    ]


def test_market_is_sent_as_an_ioc_limit(link: Link) -> None:
    link.maker("SELL", 100, px(2))
    rid = link.send(PlaceOrder("m1", EUR, "BUY", 100, order_type="MARKET", price=px(5)))
    [frame] = frames(link.s)
    assert (frame["t"], frame["tif"], frame["p"], frame["po"]) == ("p", "IOC", "1.1393", False)
    assert "trigger" not in json.dumps(frame)
    link.venue.receive(json.dumps(frame).encode(), link.now)  # type: ignore[union-attr]
    rec = link.s.order("m1")
    assert rec is not None and rec.time_in_force.value == "IOC"
    assert rid == frame["rid"]


def test_request_ids_wrap(link: Link) -> None:
    link.s.requests.next_rid = MAX_REQUEST_ID - 1
    rids = [link.send(QueryOpenOrders()) for _ in range(3)]
    assert rids == [MAX_REQUEST_ID - 1, MAX_REQUEST_ID, 1]
    assert [f["rid"] for f in frames(link.s)] == rids


def test_request_ids_count_from_one(link: Link) -> None:
    assert [link.send(QueryOpenOrders()) for _ in range(3)] == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# STOP_LIMIT.


def test_cancel_of_an_armed_stop_works_offline() -> None:
    session = make_session()
    session.send(
        PlaceOrder(
            "s", EUR, "SELL", 100, order_type="STOP_LIMIT", price="1.1300", trigger_price="1.1300"
        ),
        T0,
    )
    rid = session.send(CancelOrder("s"), T0)
    kinds = [type(e) for e in session.events_received()]
    assert kinds == [ev.OrderCanceled, ev.RequestResolved]
    assert rid == 1


# ---------------------------------------------------------------------------------------------
# Cancel and replace.


def test_cancel_by_client_id_and_by_venue_id(link: Link) -> None:
    link.do(place("k1"))
    link.do(place("k2"))
    oid2 = link.s.order("k2").venue_order_id  # type: ignore[union-attr]
    link.clear()
    r1 = link.do(CancelOrder("k1"))
    r2 = link.do(CancelOrder(venue_order_id=oid2))
    canceled = link.of(ev.OrderCanceled)
    assert [c.client_order_id for c in canceled] == ["k1", "k2"]
    assert canceled[1].venue_order_id == oid2
    for rid, coid in ((r1, "k1"), (r2, "k2")):
        [res] = link.resolutions(rid)  # type: ignore[arg-type]
        assert (res.outcome, res.kind, res.client_order_id) == (
            ev.RequestOutcome.OK,
            ev.RequestKind.CANCEL,
            coid,
        )
    assert link.s.orders() == []


def test_cancel_unknown_order_raises(link: Link) -> None:
    with pytest.raises(UnknownOrderError):
        link.s.send(CancelOrder("ghost"), link.now)
    with pytest.raises(InvalidOrderError):
        link.s.send(CancelOrder(), link.now)
    assert link.s.frames_to_send() == []


def test_cancel_of_an_ended_order_is_refused_locally(link: Link) -> None:
    link.do(place("e1"))
    link.do(CancelOrder("e1"))
    link.clear()
    rid = link.send(CancelOrder("e1"))
    assert link.s.frames_to_send() == []
    [rejected, resolved] = link.events
    assert isinstance(rejected, ev.CancelRejected) and rejected.reason == "ORDER_ALREADY_ENDED"
    assert rejected.request_id == rid
    assert isinstance(resolved, ev.RequestResolved)
    assert resolved.outcome is ev.RequestOutcome.LOCAL
    rid = link.send(ReplaceOrder("e1", price="1.1300"))
    assert isinstance(link.events[-2], ev.ReplaceRejected)
    assert link.resolutions(rid)[0].outcome is ev.RequestOutcome.LOCAL  # type: ignore[arg-type]


def test_cancel_before_ack_is_deferred_until_the_venue_id_is_known(link: Link) -> None:
    link.send(place("p1"))
    cancel_rid = link.send(CancelOrder("p1"))
    out = link.s.frames_to_send()
    assert len(out) == 1 and json.loads(out[0])["t"] == "p"  # the cancel waits
    assert cancel_rid in link.s.pending_request_ids()
    replies = link.venue.receive(out[0], link.now)  # type: ignore[union-attr]
    link.deliver(replies[0].frame)  # the place reply carries the venue id
    [cancel] = frames(link.s)
    oid = link.s.order("p1").venue_order_id  # type: ignore[union-attr]
    assert cancel == {"t": "x", "rid": cancel_rid, "oid": oid}
    link.venue.receive(json.dumps(cancel).encode(), link.now)  # type: ignore[union-attr]


def test_deferred_cancel_is_sent_on_the_ack_event(link: Link) -> None:
    link.send(place("p1"))
    cancel_rid = link.send(CancelOrder("p1"))
    [place_frame] = link.s.frames_to_send()
    replies = link.venue.receive(place_frame, link.now)  # type: ignore[union-attr]
    link.deliver(replies[1].frame)  # the ack first
    [cancel] = frames(link.s)
    assert cancel["t"] == "x" and cancel["rid"] == cancel_rid


def test_replace(link: Link) -> None:
    link.do(place("r1", 200))
    old = link.s.order("r1").venue_order_id  # type: ignore[union-attr]
    link.clear()
    rid = link.do(ReplaceOrder("r1", price=px(-12), quantity=300))
    rec = link.s.order("r1")
    assert rec is not None
    assert rec.venue_order_id != old and rec.prior_venue_order_ids == [old]
    assert (rec.price, rec.quantity, rec.status) == (px(-12), 300, OrderStatus.ACCEPTED)
    [replaced] = link.of(ev.OrderReplaced)
    assert replaced.old_venue_order_id == old and replaced.venue_order_id == rec.venue_order_id
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is ev.RequestOutcome.OK and res.venue_order_id == rec.venue_order_id
    # Both ids find the order; events of the new id update it.
    assert link.s.order_by_venue_id(old) is rec  # type: ignore[arg-type]
    link.do(CancelOrder(venue_order_id=rec.venue_order_id))
    assert rec.status is OrderStatus.CANCELED


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({}, "price"),
        ({"price": "1.13885"}, "price"),
        ({"quantity": 150.5}, "quantity"),
        ({"quantity": 50}, "quantity"),
    ],
)
def test_replace_validation(link: Link, kw: dict[str, Any], field: str) -> None:
    link.do(place("rv"))
    link.clear()
    with pytest.raises(InvalidOrderError) as info:
        link.s.send(ReplaceOrder("rv", **kw), link.now)
    assert info.value.field == field
    assert link.s.frames_to_send() == []
    assert link.s.pending_request_ids() == []


def test_replace_below_filled_is_refused(link: Link) -> None:
    link.do(place("rf", 300))
    link.maker("SELL", 200, px(-10))
    with pytest.raises(InvalidOrderError) as info:
        link.s.send(ReplaceOrder("rf", quantity=200), link.now)
    assert info.value.reason == "BELOW_FILLED"


def test_replace_while_disconnected_raises_and_leaves_nothing_pending(link: Link) -> None:
    link.do(place("rd"))
    link.drop()
    with pytest.raises(InvalidStateError):
        link.s.send(ReplaceOrder("rd", price="1.1300"), link.now)
    with pytest.raises(InvalidStateError):
        link.s.send(CancelOrder("rd"), link.now)
    assert link.s.pending_request_ids() == []


def test_cancel_all(link: Link) -> None:
    stop = dict(order_type="STOP_LIMIT", price="1.1400", trigger_price="1.1400")
    link.do(place("a1"))
    link.do(place("a2", side="SELL", price=px(10)))
    link.send(PlaceOrder("s1", EUR, "BUY", 100, **stop))  # type: ignore[arg-type]
    link.clear()
    rid = link.do(CancelAllOrders())
    assert sorted(c.client_order_id for c in link.of(ev.OrderCanceled)) == ["a1", "a2", "s1"]
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.kind is ev.RequestKind.CANCEL_ALL and res.outcome is ev.RequestOutcome.OK
    assert link.s.orders() == []
    assert link.s.stats().armed_orders == 0


def test_cancel_all_of_one_symbol(link: Link) -> None:
    other = next(s for s in link.s.instruments if s != EUR)
    inst = link.s.instrument(other)
    stop = dict(order_type="STOP_LIMIT")
    link.send(
        PlaceOrder("s-eur", EUR, "BUY", 100, price="1.1400", trigger_price="1.1400", **stop)  # type: ignore[arg-type]
    )
    link.send(
        PlaceOrder(
            "s-other",
            other,
            "BUY",
            inst.minimum_order_size,
            price=inst.tick_size * 10**6,
            trigger_price=inst.tick_size * 10**6,
            **stop,  # type: ignore[arg-type]
        )
    )
    link.do(place("eur-1"))
    link.clear()
    link.do(CancelAllOrders(EUR))
    assert sorted(c.client_order_id for c in link.of(ev.OrderCanceled)) == ["eur-1", "s-eur"]
    assert link.s.order("s-other").status is OrderStatus.ARMED  # type: ignore[union-attr]
    with pytest.raises(InvalidOrderError):
        link.s.send(CancelAllOrders("NOPE-PERP"), link.now)


def test_open_orders(link: Link) -> None:
    link.do(place("o1", 200, tag="t1"))
    link.clear()
    rid = link.do(QueryOpenOrders())
    [report] = link.of(ev.OpenOrdersReceived)
    assert report.request_id == rid
    [snap] = report.orders
    rec = link.s.order("o1")
    assert rec is not None
    assert (snap.client_order_id, snap.venue_order_id, snap.cid) == (
        "o1",
        rec.venue_order_id,
        rec.cid,
    )
    assert (snap.quantity, snap.remaining_qty, snap.tag, snap.status) == (
        200,
        200,
        "t1",
        OrderStatus.ACCEPTED,
    )
    assert link.resolutions(rid)[0].outcome is ev.RequestOutcome.OK  # type: ignore[arg-type]


def test_status_by_client_id_and_by_venue_id(link: Link) -> None:
    link.do(place("st1", 300))
    link.maker("SELL", 100, px(-10))
    oid = link.s.order("st1").venue_order_id  # type: ignore[union-attr]
    link.clear()
    r1 = link.do(QueryOrderStatus(client_order_id="st1"))
    r2 = link.do(QueryOrderStatus(venue_order_id=oid))
    reports = link.of(ev.OrderStatusReport)
    assert [r.request_id for r in reports] == [r1, r2]
    for report in reports:
        assert (report.client_order_id, report.venue_order_id, report.status) == (
            "st1",
            oid,
            OrderStatus.PARTIALLY_FILLED,
        )
        assert (report.filled_qty, report.remaining_qty) == (100, 200)
    assert [link.resolutions(r)[0].outcome for r in (r1, r2)] == [ev.RequestOutcome.OK] * 2  # type: ignore[arg-type]
    # A status that finds nothing is an ERROR resolution, not an exception.
    r3 = link.do(QueryOrderStatus(client_order_id="never-placed"))
    [res] = link.resolutions(r3)  # type: ignore[arg-type]
    assert (res.outcome, res.code) == (ev.RequestOutcome.ERROR, 404)
    with pytest.raises(InvalidOrderError):
        link.s.send(QueryOrderStatus(), link.now)


def test_status_reply_for_a_terminal_order(link: Link) -> None:
    link.do(place("st2"))
    link.do(CancelOrder("st2"))
    link.clear()
    rid = link.do(QueryOrderStatus(client_order_id="st2"))
    [report] = link.of(ev.OrderStatusReport)
    assert report.status is OrderStatus.CANCELED and report.request_id == rid


def test_reply_to_no_pending_request(link: Link) -> None:
    [unknown] = link.deliver(result_frame(77, {"oid": "O-1"}))
    assert isinstance(unknown, ev.UnknownMessage) and unknown.count == 1
    [err] = link.deliver(error_frame(78, 400))
    assert isinstance(err, ev.VenueError) and (err.request_id, err.code) == (78, 400)
