"""OrdersSession events: every venue event and reply, duplicates, errors, deadlines, strays."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from session_harness import (
    EUR,
    NS,
    T0,
    Link,
    body,
    error_frame,
    event_frame,
    fill_frame,
    is_event,
    is_reply,
    is_request,
    login_frame,
    make_engine,
    make_session,
    px,
    result_frame,
)

from axorders import events as ev
from axorders.commands import CancelOrder, PlaceOrder, QueryOpenOrders, ReplaceOrder
from axorders.model import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, cid_for
from axorders.session import CANCEL_RETRY_NS, MAX_CANCEL_RETRIES, OrdersSession
from axorders.sim.engine import CancelReject
from axorders.state import OrderRecord

META = {"account_id": "acct-1", "trader_id": "TRADER-1", "strategy_id": "S-1", "symbol": EUR}


@pytest.fixture
def link() -> Link:
    lk = Link()
    lk.connect()
    lk.pump()
    lk.clear()
    return lk


def place(coid: str, qty: int = 100, price: Any = None, **kw: Any) -> PlaceOrder:
    side = kw.pop("side", "BUY")
    return PlaceOrder(coid, EUR, side, qty, price=price if price is not None else px(-10), **kw)


def has_meta(event: ev.OrderEvent) -> bool:
    return all(getattr(event, k) == v for k, v in META.items())


def frames(session: OrdersSession) -> list[dict[str, Any]]:
    return [json.loads(f) for f in session.frames_to_send()]


class Bare:
    """A session with a hand-fed venue: frames in are written here, frames out are read."""

    def __init__(self, **kw: Any) -> None:
        self.s = make_session(**kw)
        self.now = T0
        self.s.connection_made(self.now)
        self.s.receive(login_frame(), self.now)
        self.s.events_received()

    def feed(self, frame: bytes) -> list[ev.Event]:
        self.s.receive(frame, self.now)
        return self.s.events_received()

    def send(self, command: Any) -> int | None:
        return self.s.send(command, self.now)

    def out(self) -> list[dict[str, Any]]:
        return frames(self.s)

    def placed(self, coid: str, oid: str, *, ack: bool = True) -> int:
        """Place ``coid`` and answer it with venue id ``oid`` (and its ack)."""
        rid = self.send(place(coid))
        assert rid is not None
        self.out()
        self.feed(result_frame(rid, {"oid": oid}))
        if ack:
            self.feed(event_frame("n", body(oid, cid=cid_for(coid), price=str(px(-10)))))
        return rid


# ---------------------------------------------------------------------------------------------
# The life of an order, as the simulator tells it.


def test_accepted_event_fields(link: Link) -> None:
    rid = link.do(place("a1", 200, px(-3), tag="tg", post_only=True, strategy_id="S-9"))
    rec = link.s.order("a1")
    assert rec is not None
    [resolved, accepted] = link.events
    assert isinstance(resolved, ev.RequestResolved)
    assert (resolved.request_id, resolved.kind, resolved.outcome, resolved.client_order_id) == (
        rid,
        ev.RequestKind.PLACE,
        ev.RequestOutcome.OK,
        "a1",
    )
    assert resolved.venue_order_id == rec.venue_order_id
    assert isinstance(accepted, ev.OrderAccepted)
    assert accepted.strategy_id == "S-9"
    assert (accepted.account_id, accepted.trader_id, accepted.symbol) == (
        "acct-1",
        "TRADER-1",
        EUR,
    )
    assert (accepted.client_order_id, accepted.venue_order_id) == ("a1", rec.venue_order_id)
    assert (accepted.side, accepted.price, accepted.quantity) == (Side.BUY, px(-3), 200)
    assert (accepted.time_in_force, accepted.post_only) == (TimeInForce.GTC, True)
    assert accepted.ts_init == link.now
    assert accepted.ts_event == link.now  # the sim stamps its own ts/tn from ``now``
    assert rec.status is OrderStatus.ACCEPTED


def test_ts_event_is_seconds_and_nanoseconds() -> None:
    bare = Bare()
    bare.placed("a1", "O-1", ack=False)
    [accepted] = bare.feed(
        event_frame("n", body("O-1", cid=cid_for("a1")), ts=1_790_228_500, tn=123)
    )
    assert isinstance(accepted, ev.OrderAccepted)
    assert accepted.ts_event == 1_790_228_500 * NS + 123
    assert accepted.ts_init == bare.now


def test_partial_and_full_fills(link: Link) -> None:
    link.do(place("f1", 300, px(-10)))
    oid = link.s.order("f1").venue_order_id  # type: ignore[union-attr]
    link.clear()
    link.maker("SELL", 100, px(-10))  # we rest: MAKER
    link.maker("SELL", 200, px(-10))
    [p1, p2] = link.of(ev.OrderFilled)
    assert has_meta(p1) and has_meta(p2)
    assert (p1.last_qty, p1.filled_qty, p1.leaves_qty, p1.is_final) == (100, 100, 200, False)
    assert (p2.last_qty, p2.filled_qty, p2.leaves_qty, p2.is_final) == (200, 300, 0, True)
    assert p1.liquidity_side is LiquiditySide.MAKER and p1.last_price == px(-10)
    assert p1.trade_id != p2.trade_id and p1.venue_order_id == oid
    assert (p1.side, p1.order_type, p1.quantity, p1.fee) == (Side.BUY, OrderType.LIMIT, 300, None)
    rec = link.s.order("f1")
    assert rec is not None and rec.status is OrderStatus.FILLED and rec.filled_qty == 300
    assert rec.trade_ids == [p1.trade_id, p2.trade_id]
    assert link.s.orders() == [] and link.s.stats().recent_orders == 1


def test_taker_fill(link: Link) -> None:
    link.maker("SELL", 100, px(1))
    link.do(place("t1", 100, px(2)))
    [fill] = link.of(ev.OrderFilled)
    assert fill.liquidity_side is LiquiditySide.TAKER and fill.is_final
    assert fill.last_price == px(1)


def test_ioc_remainder_expires(link: Link) -> None:
    link.maker("SELL", 100, px(1))
    link.do(place("ioc", 300, px(2), time_in_force="IOC"))
    [fill] = link.of(ev.OrderFilled)
    [expired] = link.of(ev.OrderExpired)
    assert not fill.is_final and fill.leaves_qty == 200
    assert has_meta(expired)
    assert (expired.filled_qty, expired.done_for_day, expired.client_order_id) == (
        100,
        False,
        "ioc",
    )
    assert link.s.order("ioc").status is OrderStatus.EXPIRED  # type: ignore[union-attr]


def test_done_for_day(link: Link) -> None:
    link.do(place("day", time_in_force="DAY"))
    link.session_close()
    [expired] = link.of(ev.OrderExpired)
    assert expired.done_for_day and expired.client_order_id == "day"
    assert link.s.order("day").status is OrderStatus.DONE_FOR_DAY  # type: ignore[union-attr]


def test_canceled_event_fields(link: Link) -> None:
    link.do(place("c1", 300))
    link.maker("SELL", 100, px(-10))
    link.clear()
    link.do(CancelOrder("c1"))
    [canceled] = link.of(ev.OrderCanceled)
    assert has_meta(canceled)
    assert canceled.filled_qty == 100 and canceled.ts_event == link.now


def test_venue_rejection_event(link: Link) -> None:
    link.maker("SELL", 100, px(1))
    rid = link.do(place("po", 100, px(2), post_only=True))
    [rejected] = link.of(ev.OrderRejected)
    assert has_meta(rejected)
    assert rejected.origin is ev.RejectOrigin.VENUE_EVENT
    assert (rejected.reason, rejected.due_post_only) == ("POST_ONLY_WOULD_CROSS", True)
    assert rejected.venue_order_id is not None
    # The place itself was answered res: it resolves OK, and the order is REJECTED.
    assert link.resolutions(rid)[0].outcome is ev.RequestOutcome.OK  # type: ignore[arg-type]
    assert link.s.order("po").status is OrderStatus.REJECTED  # type: ignore[union-attr]


def test_venue_rejection_with_a_reason(link: Link) -> None:
    link.do(place("far", 100, Decimal("9.0000")))
    [rejected] = link.of(ev.OrderRejected)
    assert rejected.reason == "PRICE_OUT_OF_BOUNDS" and not rejected.due_post_only
    assert rejected.text


def test_replaced_event(link: Link) -> None:
    link.do(place("r1", 300))
    link.maker("SELL", 100, px(-10))
    old = link.s.order("r1").venue_order_id  # type: ignore[union-attr]
    link.clear()
    link.do(ReplaceOrder("r1", price=px(-11)))
    [replaced] = link.of(ev.OrderReplaced)
    assert has_meta(replaced)
    assert replaced.old_venue_order_id == old and replaced.venue_order_id != old
    assert (replaced.price, replaced.quantity, replaced.filled_qty) == (px(-11), 300, 100)
    rec = link.s.order("r1")
    assert rec is not None and rec.status is OrderStatus.PARTIALLY_FILLED
    # A fill on the new id completes the order, cumulative across the replace.
    link.maker("SELL", 200, px(-11))
    final = link.of(ev.OrderFilled)[-1]
    assert (final.filled_qty, final.is_final, final.venue_order_id) == (
        300,
        True,
        rec.venue_order_id,
    )


def test_replace_that_trades_at_once(link: Link) -> None:
    link.do(place("r2", 100))
    link.maker("SELL", 100, px(1))
    link.clear()
    link.do(ReplaceOrder("r2", price=px(1)))
    kinds = [type(e) for e in link.events if not isinstance(e, ev.RequestResolved)]
    assert kinds == [ev.OrderReplaced, ev.OrderFilled]
    assert link.s.order("r2").status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_in_place_amend() -> None:
    bare = Bare()
    bare.placed("a1", "O-1")
    amended = body("O-1", cid=cid_for("a1"), qty=400, price="1.1300")
    [replaced] = bare.feed(json.dumps({"t": "r", "ts": 1, "tn": 2, "ro": amended}).encode())
    assert isinstance(replaced, ev.OrderReplaced)
    assert (replaced.venue_order_id, replaced.old_venue_order_id) == ("O-1", "O-1")
    assert (replaced.price, replaced.quantity, replaced.ts_event) == (
        Decimal("1.1300"),
        400,
        NS + 2,
    )
    rec = bare.s.order("a1")
    assert rec is not None and (rec.price, rec.quantity) == (Decimal("1.1300"), 400)
    # The same amend again is a duplicate.
    assert bare.feed(json.dumps({"t": "r", "ts": 1, "tn": 2, "ro": amended}).encode()) == []
    assert bare.s.stats().duplicates_dropped == 1


def test_inconsistent_replace_is_unknown() -> None:
    bare = Bare()
    bare.placed("a1", "O-1")
    frame = {"t": "r", "ts": 1, "ro": body("O-1", cid=cid_for("a1")), "noid": "O-2"}
    [unknown] = bare.feed(json.dumps(frame).encode())
    assert isinstance(unknown, ev.UnknownMessage) and unknown.count == 1


# ---------------------------------------------------------------------------------------------
# Duplicates and late events.


def test_duplicate_trade_id_dropped(link: Link) -> None:
    link.do(place("d1", 300))
    link.fault("in", "duplicate", is_event("p"))
    link.maker("SELL", 100, px(-10))
    assert len(link.of(ev.OrderFilled)) == 1
    assert link.s.order("d1").filled_qty == 100  # type: ignore[union-attr]
    assert link.s.stats().duplicates_dropped == 1


def test_duplicate_trade_id_dropped_after_many_fills(link: Link) -> None:
    # Past a few fills the trade ids are checked through a set: duplicates still drop.
    link.do(place("d2", 3000))
    for _ in range(20):
        link.maker("SELL", 100, px(-10))
    link.fault("in", "duplicate", is_event("p"))
    link.maker("SELL", 100, px(-10))
    rec = link.s.order("d2")
    assert rec is not None and rec.filled_qty == 2100 and len(rec.trade_ids) == 21
    assert len(link.of(ev.OrderFilled)) == 21
    assert link.s.stats().duplicates_dropped == 1


def test_trade_index_follows_a_list_changed_behind_its_back() -> None:
    rec = OrderRecord(
        client_order_id="r",
        cid=1,
        symbol="EURUSD-PERP",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=100,
        price=None,
        account_id="a",
        trader_id="t",
        strategy_id="s",
        ts_init=0,
        trade_ids=[f"T-{i}" for i in range(12)],
    )
    assert rec.has_trade("T-11") and not rec.has_trade("T-12")
    rec.trade_ids.append("T-12")  # as a journal reload would leave it
    assert rec.has_trade("T-12")
    rec.add_trade("T-13")
    assert rec.has_trade("T-13") and rec.trade_ids[-1] == "T-13"


@pytest.mark.parametrize("tag", ["c", "f", "x"])
def test_duplicate_terminal_events_dropped(link: Link, tag: str) -> None:
    link.fault("in", "duplicate", is_event(tag))
    link.do(place("d2", 100, px(1) if tag != "c" else px(-10), time_in_force="GTC"))
    if tag == "c":
        link.do(CancelOrder("d2"))
    elif tag == "f":
        link.maker("SELL", 100, px(1))
    else:
        link.do(place("d3", 100, px(9), time_in_force="IOC"))
    ended = [
        e
        for e in link.events
        if isinstance(e, ev.OrderCanceled | ev.OrderExpired)
        or (isinstance(e, ev.OrderFilled) and e.is_final)
    ]
    assert len(ended) == 1
    assert link.s.stats().duplicates_dropped >= 1


def test_duplicate_ack_dropped(link: Link) -> None:
    link.fault("in", "duplicate", is_event("n"))
    link.do(place("d4"))
    assert len(link.of(ev.OrderAccepted)) == 1
    assert link.s.stats().duplicates_dropped == 1


def test_late_events_for_recently_ended_orders() -> None:
    bare = Bare()
    bare.placed("l1", "O-1")
    cid = cid_for("l1")
    bare.feed(event_frame("c", body("O-1", cid=cid, status="CANCELED")))
    late = [
        event_frame("n", body("O-1", cid=cid)),
        event_frame("c", body("O-1", cid=cid, status="CANCELED")),
        event_frame("x", body("O-1", cid=cid, status="EXPIRED")),
        event_frame("j", body("O-1", cid=cid, status="REJECTED")),
    ]
    for frame in late:
        assert bare.feed(frame) == []
    assert bare.s.stats().duplicates_dropped == len(late)
    assert bare.s.order("l1").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert bare.s.orders() == []
    # Fills are de-duplicated by trade id only: a late fill is delivered once (issue 11).
    fill = fill_frame("f", body("O-1", cid=cid, xq=100, status="FILLED"), "T-9", 100)
    [filled] = bare.feed(fill)
    assert isinstance(filled, ev.OrderFilled) and filled.trade_id == "T-9"
    assert bare.feed(fill) == []
    assert bare.s.stats().duplicates_dropped == len(late) + 1
    assert bare.s.order("l1").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert bare.s.orders() == []


def test_recent_set_is_bounded() -> None:
    bare = Bare(recent_capacity=2)
    for i in range(4):
        bare.placed(f"b{i}", f"O-{i}")
        bare.feed(event_frame("c", body(f"O-{i}", cid=cid_for(f"b{i}"), status="CANCELED")))
    assert [r.client_order_id for r in bare.s.orders(include_ended=True)] == ["b2", "b3"]
    assert bare.s.order("b0") is None and bare.s.order_by_venue_id("O-0") is None
    assert bare.s.stats().recent_orders == 2
    assert not bare.s.registry.recent_cid.keys() - {cid_for("b2"), cid_for("b3")}
    assert set(bare.s.registry.recent_oid) == {"O-2", "O-3"}
    # A late event of a forgotten order is reported as an external order, not dropped.
    events = bare.feed(event_frame("c", body("O-0", cid=cid_for("b0"), status="CANCELED")))
    assert [type(e) for e in events] == [ev.ExternalOrderDiscovered, ev.OrderCanceled]


def test_events_before_the_place_response_resolve_via_cid(link: Link) -> None:
    link.events_first = True
    link.maker("SELL", 100, px(1))
    rid = link.do(place("e1", 300, px(1)))
    kinds = [type(e) for e in link.events]
    assert kinds == [ev.OrderAccepted, ev.OrderFilled, ev.RequestResolved]
    rec = link.s.order("e1")
    assert rec is not None and rec.venue_order_id is not None
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is ev.RequestOutcome.OK and res.venue_order_id == rec.venue_order_id
    assert not link.of(ev.ExternalOrderDiscovered)
    assert link.s.stats().unknown_messages == 0


def test_rejection_before_the_place_response() -> None:
    bare = Bare()
    rid = bare.send(place("j1"))
    bare.out()
    events = bare.feed(
        event_frame("j", body("O-1", cid=cid_for("j1"), status="REJECTED"), r="INCORRECT_QUANTITY")
    )
    [rejected] = events
    assert isinstance(rejected, ev.OrderRejected) and rejected.venue_order_id == "O-1"
    assert rejected.reason == "INCORRECT_QUANTITY"
    [res] = bare.feed(result_frame(rid, {"oid": "O-1"}))  # type: ignore[arg-type]
    assert isinstance(res, ev.RequestResolved) and res.outcome is ev.RequestOutcome.OK


# ---------------------------------------------------------------------------------------------
# Error replies.


def test_err_reply_to_a_place(link: Link) -> None:
    rid = link.do(place("big", 10**9, px(-10)))  # over the margin: err 400
    [rejected] = link.of(ev.OrderRejected)
    assert has_meta(rejected)
    assert rejected.origin is ev.RejectOrigin.VENUE_ERROR
    assert (rejected.code, rejected.reason) == (400, "VENUE_ERROR_400")
    assert rejected.text
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert (res.outcome, res.code, res.kind) == (
        ev.RequestOutcome.ERROR,
        400,
        ev.RequestKind.PLACE,
    )
    assert res.message == rejected.text
    assert link.s.order("big").status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert link.s.orders() == []


def test_err_404_to_a_cancel(link: Link) -> None:
    link.do(place("g1"))
    oid = link.s.order("g1").venue_order_id  # type: ignore[union-attr]
    link.engine.cancel("acct-1", link.now, venue_order_id=oid)  # its `c` never reaches us
    link.clear()
    rid = link.do(CancelOrder("g1"))
    [rejected] = link.of(ev.CancelRejected)
    assert (rejected.client_order_id, rejected.venue_order_id, rejected.code) == ("g1", oid, 404)
    assert (rejected.reason, rejected.request_id) == ("ORDER_NOT_FOUND", rid)
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert (res.outcome, res.code) == (ev.RequestOutcome.ERROR, 404)


def test_409_cancel_is_retried_after_a_delay() -> None:
    bare = Bare()
    bare.placed("n1", "O-1", ack=False)
    rid = bare.send(CancelOrder("n1"))
    assert bare.out() == [{"t": "x", "rid": rid, "oid": "O-1"}]
    assert bare.feed(error_frame(rid, 409, "not yet acknowledged")) == []
    assert rid in bare.s.pending_request_ids()
    bare.s.tick(bare.now + CANCEL_RETRY_NS - 1)
    assert bare.out() == []
    assert bare.s.next_deadline() == bare.now + CANCEL_RETRY_NS
    bare.now += CANCEL_RETRY_NS
    bare.s.tick(bare.now)
    assert bare.out() == [{"t": "x", "rid": rid, "oid": "O-1"}]
    [res] = bare.feed(result_frame(rid, {"cxl_rx": True}))
    assert isinstance(res, ev.RequestResolved) and res.outcome is ev.RequestOutcome.OK


def test_409_cancel_is_resent_at_once_on_the_ack() -> None:
    bare = Bare()
    bare.placed("n1", "O-1", ack=False)
    rid = bare.send(CancelOrder("n1"))
    bare.out()
    bare.feed(error_frame(rid, 409))
    [accepted] = bare.feed(event_frame("n", body("O-1", cid=cid_for("n1"))))
    assert isinstance(accepted, ev.OrderAccepted)
    assert bare.out() == [{"t": "x", "rid": rid, "oid": "O-1"}]
    bare.s.tick(bare.now + CANCEL_RETRY_NS)  # the delayed retry is not sent as well
    assert bare.out() == []


def test_409_cancel_gives_up_after_the_retries() -> None:
    bare = Bare(request_timeout_ns=3600 * NS)
    bare.placed("n1", "O-1", ack=False)
    rid = bare.send(CancelOrder("n1"))
    bare.out()
    sent = 1
    for _ in range(MAX_CANCEL_RETRIES):
        assert bare.feed(error_frame(rid, 409)) == []
        bare.now += CANCEL_RETRY_NS
        bare.s.tick(bare.now)
        sent += len(bare.out())
    assert sent == MAX_CANCEL_RETRIES + 1
    events = bare.feed(error_frame(rid, 409, "still not"))
    [rejected, res] = events
    assert isinstance(rejected, ev.CancelRejected)
    assert (rejected.code, rejected.reason) == (409, "NOT_YET_ACKNOWLEDGED")
    assert isinstance(res, ev.RequestResolved)
    assert (res.outcome, res.code) == (ev.RequestOutcome.ERROR, 409)
    assert bare.s.pending_request_ids() == []


def test_cancel_reject_event() -> None:
    link = Link(engine=make_engine(cancel_reject=CancelReject.EVENT))
    link.connect()
    link.pump()
    link.do(place("e1"))
    oid = link.s.order("e1").venue_order_id  # type: ignore[union-attr]
    link.engine.cancel("acct-1", link.now, venue_order_id=oid)  # lost `c`
    link.clear()
    rid = link.do(CancelOrder("e1"))
    [rejected] = link.of(ev.CancelRejected)
    assert (rejected.client_order_id, rejected.venue_order_id) == ("e1", oid)
    assert rejected.reason == "ORDER_NOT_FOUND" and rejected.text
    assert rejected.ts_event == link.now
    assert len(link.resolutions(rid)) == 1  # type: ignore[arg-type]


def test_cancel_reject_event_by_cid_and_for_nobody() -> None:
    bare = Bare()
    bare.placed("e2", "O-2")
    frame = {"t": "e", "ts": 3, "tn": 4, "cid": cid_for("e2"), "r": "TOO_LATE", "txt": "late"}
    [rejected] = bare.feed(json.dumps(frame).encode())
    assert isinstance(rejected, ev.CancelRejected)
    assert (rejected.client_order_id, rejected.reason, rejected.ts_event) == (
        "e2",
        "TOO_LATE",
        3 * NS + 4,
    )
    [stray] = bare.feed(json.dumps({"t": "e", "ts": 3, "oid": "O-404"}).encode())
    assert isinstance(stray, ev.CancelRejected) and stray.client_order_id is None


def test_replace_refused_by_err(link: Link) -> None:
    link.do(place("rr"))
    link.clear()
    rid = link.do(ReplaceOrder("rr", price=Decimal("9.0000")))  # outside the band
    [rejected] = link.of(ev.ReplaceRejected)
    assert (rejected.client_order_id, rejected.code, rejected.request_id) == ("rr", 400, rid)
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is ev.RequestOutcome.ERROR
    rec = link.s.order("rr")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.price == px(-10)


def test_replace_of_a_terminated_original(link: Link) -> None:
    link.do(place("rt"))
    rec = link.s.order("rt")
    assert rec is not None and rec.venue_order_id is not None
    link.engine.cancel("acct-1", link.now, venue_order_id=rec.venue_order_id)  # lost `c`
    link.clear()
    rid = link.do(ReplaceOrder("rt", price=px(-11)))
    [rejected] = link.of(ev.ReplaceRejected)
    assert rejected.reason == "ORIGINAL_ORDER_TERMINATED"
    assert rejected.client_order_id == "rt"
    assert len(link.resolutions(rid)) == 1  # type: ignore[arg-type]
    assert not link.of(ev.OrderRejected)  # the order itself is not rejected
    assert rec.status is OrderStatus.ACCEPTED
    assert set(link.s.registry.by_oid) == {rec.venue_order_id}


def test_replace_j_before_the_response() -> None:
    bare = Bare()
    bare.placed("rj", "O-1")
    rid = bare.send(ReplaceOrder("rj", price="1.1300"))
    bare.out()
    new = body("O-2", cid=cid_for("rj"), status="REJECTED", price="1.1300")
    [rejected] = bare.feed(event_frame("j", new, r="ORIGINAL_ORDER_TERMINATED", txt="gone"))
    assert isinstance(rejected, ev.ReplaceRejected)
    assert (rejected.client_order_id, rejected.venue_order_id) == ("rj", "O-1")
    [res] = bare.feed(result_frame(rid, {"oid": "O-2"}))  # type: ignore[arg-type]
    assert isinstance(res, ev.RequestResolved)
    rec = bare.s.order("rj")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.venue_order_id == "O-1"
    assert set(bare.s.registry.by_oid) == {"O-1"}


def test_err_without_rid_is_a_venue_error() -> None:
    bare = Bare()
    [err] = bare.feed(error_frame(None, 500, "boom"))
    assert isinstance(err, ev.VenueError)
    assert (err.request_id, err.code, err.message) == (None, 500, "boom")


def test_err_null_beside_res() -> None:
    bare = Bare()
    rid = bare.send(QueryOpenOrders())
    bare.out()
    events = bare.feed(result_frame(rid, {"orders": []}, err=None))  # type: ignore[arg-type]
    assert [type(e) for e in events] == [ev.OpenOrdersReceived, ev.RequestResolved]


# ---------------------------------------------------------------------------------------------
# Deadlines.


def test_timeout_resolves_and_asks_the_venue(link: Link) -> None:
    link.fault("out", "lose", is_request("p"))
    rid = link.do(place("lost"))
    assert link.s.next_deadline() == link.now + 5 * NS
    link.advance(5 * NS - 1)
    assert link.resolutions(rid) == []  # type: ignore[arg-type]
    link.advance(1)
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    # No answer is not a "no": the venue may hold the order.
    assert res.outcome is ev.RequestOutcome.UNKNOWN and res.client_order_id == "lost"
    [unknown] = link.of(ev.OrderStatusUnknown)
    assert unknown.reason == "TIMEOUT"
    # The session asked the venue about the order; the venue never saw it: after the grace
    # period, a definitive reject.
    assert not link.of(ev.OrderRejected)
    link.settle()
    [rejected] = link.of(ev.OrderRejected)
    assert rejected.reason == "NOT_FOUND_AT_VENUE" and rejected.origin is ev.RejectOrigin.LOCAL
    assert link.s.stats().timeouts == 1
    assert link.s.pending_request_ids() == []


def test_extended_deadlines_wait_longer(link: Link) -> None:
    link.fault("out", "lose", is_request("p"))
    rid = link.do(place("paused"))
    link.s.extend_deadlines(2 * NS)  # the caller did not read the socket for 2 s
    assert link.s.next_deadline() == link.now + 7 * NS
    link.advance(7 * NS - 1)
    assert link.resolutions(rid) == []  # type: ignore[arg-type]
    link.advance(1)
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is ev.RequestOutcome.UNKNOWN


def test_timeout_of_a_place_whose_reply_was_lost(link: Link) -> None:
    link.fault("in", "lose", is_reply)
    link.fault("in", "lose", is_event("n"))
    rid = link.do(place("slow"))
    link.settle()
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is ev.RequestOutcome.UNKNOWN
    rec = link.s.order("slow")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED
    assert len(link.of(ev.OrderAccepted)) == 1


def test_timeout_of_a_query(link: Link) -> None:
    link.fault("out", "lose", is_request("o"))
    rid = link.do(QueryOpenOrders())
    link.settle()
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert (res.outcome, res.kind) == (ev.RequestOutcome.TIMEOUT, ev.RequestKind.OPEN_ORDERS)
    # A late reply is reported, not applied twice.
    [unknown] = link.deliver(result_frame(rid, {"orders": []}))  # type: ignore[arg-type]
    assert isinstance(unknown, ev.UnknownMessage)


def test_next_deadline_skips_resolved_requests(link: Link) -> None:
    assert link.s.next_deadline() is None
    link.do(place("q"))
    assert link.s.next_deadline() is None


# ---------------------------------------------------------------------------------------------
# Unknown and malformed frames.


def test_unknown_frames_counted() -> None:
    bare = Bare()
    strays = [
        b'{"t":"zz","ts":1}',
        b"[1,2]",
        b'{"hello":1}',
        b'{"t":"n","ts":1}',  # an ack without its order
        b'{"rid":5}',
    ]
    counts = []
    for frame in strays:
        [unknown] = bare.feed(frame)
        assert isinstance(unknown, ev.UnknownMessage)
        counts.append(unknown.count)
    assert counts == [1, 2, 3, 4, 5]
    assert bare.s.stats().unknown_messages == 5
    assert bare.out() == []


def test_heartbeats_are_quiet() -> None:
    bare = Bare()
    assert bare.feed(b'{"t":"h","ts":1,"tn":2}') == []
    assert bare.feed(b'{"t":"pu"}') == []
    assert bare.s.stats().frames_in == 3


def test_malformed_frame_starts_a_soft_resync(link: Link) -> None:
    link.do(place("m1"))
    link.clear()
    [bad] = link.deliver(b'{"t":"n","ts":')
    assert isinstance(bad, ev.MalformedMessage) and bad.count == 1
    assert bad.text == '{"t":"n","ts":' and bad.error
    [query] = frames(link.s)
    assert query["t"] == "o"
    assert link.s.is_resyncing
    link.venue.receive(json.dumps(query).encode(), link.now)  # type: ignore[union-attr]
    replies = link.venue.receive(json.dumps(query).encode(), link.now)  # type: ignore[union-attr]
    link.deliver(replies[0].frame)
    [resynced] = link.of(ev.Resynced)
    assert resynced.orders_checked == 1 and resynced.changed == 0
    assert not link.s.is_resyncing
    assert not link.of(ev.RequestResolved)  # the session's own query is not the caller's


def test_soft_resync_catches_a_lost_cancel(link: Link) -> None:
    link.do(place("m2"))
    link.fault("in", "corrupt", is_event("c"))
    link.do(CancelOrder("m2"))
    assert link.of(ev.MalformedMessage)
    [canceled] = link.of(ev.OrderCanceled)
    assert canceled.client_order_id == "m2"
    assert link.of(ev.Resynced)


def test_malformed_before_login_sends_nothing() -> None:
    session = make_session()
    session.connection_made(T0)
    session.receive(b"{{{", T0)
    assert session.frames_to_send() == []
    assert isinstance(session.events_received()[0], ev.MalformedMessage)


# ---------------------------------------------------------------------------------------------
# Orders nobody here placed.


def test_external_orders_are_adopted(link: Link) -> None:
    other = link.engine.place(
        "acct-1", EUR, Side.SELL, 200, px(20), now=link.now, cid=12345, origin=99
    )
    link.venue_events(other.events)
    no_cid = link.engine.place("acct-1", EUR, Side.BUY, 100, px(-20), now=link.now, origin=99)
    link.venue_events(no_cid.events)
    discovered = link.of(ev.ExternalOrderDiscovered)
    assert [d.order.client_order_id for d in discovered] == [
        "CID-12345",
        f"EXT-{no_cid.result.venue_order_id}",  # type: ignore[union-attr]
    ]
    snap = discovered[0].order
    assert (snap.cid, snap.side, snap.quantity, snap.price) == (12345, Side.SELL, 200, px(20))
    accepted = link.of(ev.OrderAccepted)
    assert [a.client_order_id for a in accepted] == [
        "CID-12345",
        discovered[1].order.client_order_id,
    ]
    rec = link.s.order("CID-12345")
    assert rec is not None and rec.external and rec.status is OrderStatus.ACCEPTED
    # It can be canceled like any other order.
    link.do(CancelOrder("CID-12345"))
    assert link.s.order("CID-12345").status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_register_external_order() -> None:
    bare = Bare()
    rec = bare.s.register_external_order(
        client_order_id="ext-1",
        venue_order_id="O-77",
        symbol=EUR,
        side="SELL",
        quantity=300,
        price="1.1400",
        now=bare.now,
        filled_qty=100,
    )
    assert rec.cid == cid_for("ext-1") and rec.status is OrderStatus.PARTIALLY_FILLED
    order = body("O-77", qty=300, xq=200, status="PARTIALLY_FILLED", side="S", price="1.1400")
    [fill] = bare.feed(fill_frame("p", order, "T-1", 100, price="1.1400", agg=True))
    assert isinstance(fill, ev.OrderFilled)
    assert (fill.client_order_id, fill.filled_qty, fill.leaves_qty) == ("ext-1", 200, 100)
    assert fill.liquidity_side is LiquiditySide.TAKER
    rid = bare.send(CancelOrder("ext-1"))
    assert bare.out() == [{"t": "x", "rid": rid, "oid": "O-77"}]
    with pytest.raises(Exception, match="already tracked"):
        bare.s.register_external_order(
            client_order_id="ext-1",
            venue_order_id="O-78",
            symbol=EUR,
            side="SELL",
            quantity=300,
            price="1.1400",
            now=bare.now,
        )


def test_cancel_by_client_id_finds_an_adopted_order() -> None:
    bare = Bare()
    cid = cid_for("mine-elsewhere")
    bare.feed(event_frame("n", body("O-5", cid=cid)))
    assert bare.s.order(f"CID-{cid}") is not None
    rid = bare.send(CancelOrder("mine-elsewhere"))
    assert bare.out() == [{"t": "x", "rid": rid, "oid": "O-5"}]
    rec = bare.s.order("mine-elsewhere")
    assert rec is not None and not rec.external and bare.s.order(f"CID-{cid}") is None
    assert bare.s.registry.by_cid[cid] == "mine-elsewhere"


def test_events_of_a_replacement_whose_r_was_lost(link: Link) -> None:
    link.do(place("lr", 200))
    old = link.s.order("lr").venue_order_id  # type: ignore[union-attr]
    link.fault("in", "lose", is_event("r"))
    link.do(ReplaceOrder("lr", price=px(-11)))
    assert not link.of(ev.OrderReplaced)
    link.clear()
    link.maker("SELL", 200, px(-11))  # fills the replacement
    [replaced, fill] = link.events
    assert isinstance(replaced, ev.OrderReplaced)
    assert replaced.old_venue_order_id == old and replaced.price == px(-11)
    assert isinstance(fill, ev.OrderFilled) and fill.is_final
    rec = link.s.order("lr")
    assert rec is not None and rec.status is OrderStatus.FILLED
    assert rec.venue_order_id == fill.venue_order_id == replaced.venue_order_id
    assert rec.prior_venue_order_ids == [old]
    assert link.s.registry.by_oid == {}  # nothing left behind once the order ended


def test_the_events_built_by_position_keep_their_field_order() -> None:
    """The session builds these two by position (one per venue frame, keywords cost 3×)."""
    meta = (
        "ts_init",
        "client_order_id",
        "venue_order_id",
        "account_id",
        "trader_id",
        "strategy_id",
        "symbol",
        "ts_event",
    )
    assert ev.OrderAccepted.__struct_fields__ == (
        *meta,
        *("side", "price", "quantity", "time_in_force", "post_only"),
    )
    assert ev.OrderFilled.__struct_fields__ == (
        *meta,
        *("trade_id", "side", "order_type", "last_qty", "last_price", "liquidity_side"),
        *("filled_qty", "leaves_qty", "quantity", "is_final", "fee"),
    )
