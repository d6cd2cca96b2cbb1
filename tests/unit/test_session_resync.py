"""OrdersSession resync: drops, the login snapshot, gap fills over REST, in-flight requests,
restarts from the journal's records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_harness import (
    EUR,
    NS,
    T0,
    Link,
    body,
    fill_info,
    is_request,
    login_frame,
    make_session,
    px,
    result_frame,
)

from axorders import events as ev
from axorders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from axorders.model import OrderStatus, Side, cid_for
from axorders.session import FILL_WINDOW_MARGIN_NS
from axorders.wire.rest import parse_rfc3339_ns

OK, LOST, UNKNOWN = ev.RequestOutcome.OK, ev.RequestOutcome.LOST, ev.RequestOutcome.UNKNOWN


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


def to_venue_only(link: Link) -> None:
    """Send the session's frames to the venue; every answer is lost (the socket dies)."""
    for frame in link.s.frames_to_send():
        link.sent.append(frame)
        link.venue.receive(frame, link.now)  # type: ignore[union-attr]


def oid_of(link: Link, coid: str) -> str:
    rec = link.s.order(coid)
    assert rec is not None and rec.venue_order_id is not None
    return rec.venue_order_id


def place_frames(link: Link, coid: str) -> list[dict[str, Any]]:
    cid = cid_for(coid)
    return [
        obj
        for obj in (json.loads(f) for f in link.sent)
        if obj.get("t") == "p" and obj.get("cid") == cid
    ]


def test_disconnected_counts_in_flight(link: Link) -> None:
    link.do(place("live"))
    link.send(place("a"))
    link.send(place("b"))
    link.send(CancelOrder("a"))  # deferred: waits for a's venue id, not in flight
    link.clear()
    link.drop("test drop")
    gone = link.events[0]
    assert isinstance(gone, ev.Disconnected)
    # The two places in flight are ambiguous now: UNKNOWN, each with its order's event.
    assert [e.client_order_id for e in link.of(ev.OrderStatusUnknown)] == ["a", "b"]
    assert (gone.reason, gone.in_flight, gone.ts_init) == ("test drop", 2, link.now)
    assert not link.s.is_connected
    assert link.s.frames_to_send() == []
    link.drop()  # a second loss is a no-op
    assert len(link.of(ev.Disconnected)) == 1


def test_quiet_reconnect(link: Link) -> None:
    link.do(place("q1"))
    link.clear()
    link.reconnect()
    [_, login, resynced] = link.events
    assert isinstance(login, ev.LoginSnapshot)
    [snap] = login.orders
    assert (snap.client_order_id, snap.venue_order_id) == ("q1", oid_of(link, "q1"))
    assert isinstance(resynced, ev.Resynced)
    assert (resynced.orders_checked, resynced.changed, resynced.external) == (1, 0, 0)
    assert link.s.stats().resyncs == 2
    assert [json.loads(f)["t"] for f in link.sent].count("s") == 0


def test_orders_ended_during_the_gap(link: Link) -> None:
    link.do(place("gone-c"))
    link.do(place("gone-f", 200))
    link.do(place("gone-d", time_in_force="DAY"))
    link.do(place("stays"))
    link.drop()
    link.venue_cancel(oid_of(link, "gone-c"))
    link.maker("SELL", 200, px(-10))  # fills gone-f (first in time at this price)
    link.session_close()
    link.clear()
    link.connect()
    link.pump()
    statuses = [json.loads(f) for f in link.sent if json.loads(f)["t"] == "s"]
    assert {s["cid"] for s in statuses} == {cid_for(c) for c in ("gone-c", "gone-f", "gone-d")}
    [canceled] = link.of(ev.OrderCanceled)
    assert canceled.client_order_id == "gone-c"
    [expired] = link.of(ev.OrderExpired)
    assert expired.client_order_id == "gone-d" and expired.done_for_day
    # gone-f: its fills are missing; the order ends only once they are in.
    rec = link.s.order("gone-f")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.filled_qty == 0
    assert link.s.missing_fills and link.s.is_resyncing
    assert not link.of(ev.Resynced)
    wanted = link.s.fills_wanted()
    assert wanted is not None
    assert wanted.client_order_ids == ("gone-f",) and wanted.missing_qty == 200
    assert wanted.start_ns == rec.ts_init - FILL_WINDOW_MARGIN_NS
    fills = link.fills()
    assert all(parse_rfc3339_ns(f.timestamp) >= wanted.start_ns for f in fills)
    link.clear()
    assert link.s.receive_fills(fills, link.now, final=True) == 1
    link.collect()
    [fill, resynced] = link.events
    assert isinstance(fill, ev.OrderFilled)
    assert (fill.client_order_id, fill.last_qty, fill.filled_qty, fill.leaves_qty) == (
        "gone-f",
        200,
        200,
        0,
    )
    assert fill.is_final and fill.fee == fills[0].fee and fill.fee is not None
    assert fill.trade_id == fills[0].trade_id and fill.venue_order_id == oid_of(link, "gone-f")
    assert rec.status is OrderStatus.FILLED
    assert isinstance(resynced, ev.Resynced)
    assert (resynced.orders_checked, resynced.changed, resynced.fills_recovered) == (4, 3, 1)
    assert [r.client_order_id for r in link.s.orders()] == ["stays"]
    # The same fills again deliver nothing.
    assert link.s.receive_fills(fills, link.now, final=True) == 0
    assert link.collect() == []


def test_gap_fills_are_deduplicated_against_trade_ids_seen(link: Link) -> None:
    link.do(place("p1", 300))
    link.maker("SELL", 100, px(-10))  # seen
    seen = link.s.order("p1").trade_ids[:]  # type: ignore[union-attr]
    link.drop()
    link.maker("SELL", 100, px(-10))  # missed
    link.clear()
    link.connect()
    link.pump()
    # Still open on the venue with more filled than we know: fetch the fills.
    wanted = link.s.fills_wanted()
    assert wanted is not None and wanted.missing_qty == 100
    rec = link.s.order("p1")
    assert rec is not None
    assert wanted.start_ns == rec.last_fill_ns - FILL_WINDOW_MARGIN_NS
    fills = link.fills()
    assert len(fills) == 2 and fills[0].trade_id == seen[0]
    assert link.s.receive_fills(fills, link.now) == 1
    [fill, resynced] = link.collect()
    assert isinstance(fill, ev.OrderFilled)
    assert (fill.filled_qty, fill.leaves_qty, fill.is_final) == (200, 100, False)
    assert fill.liquidity_side.value == "MAKER"
    assert isinstance(resynced, ev.Resynced) and resynced.fills_recovered == 1
    assert rec.status is OrderStatus.PARTIALLY_FILLED and not link.s.missing_fills
    # The WebSocket copy of a fill that REST already delivered is dropped.
    link.maker("SELL", 100, px(-10))
    assert link.of(ev.OrderFilled)[-1].filled_qty == 300


def test_rest_fills_that_are_not_there_yet(link: Link) -> None:
    link.do(place("lag", 200))
    link.drop()
    link.maker("SELL", 200, px(-10))
    link.connect()
    link.pump()
    link.clear()
    assert link.s.receive_fills([], link.now) == 0  # REST lags: keep waiting
    assert link.s.missing_fills and link.s.is_resyncing
    assert link.s.receive_fills(link.fills(), link.now) == 1
    assert not link.s.missing_fills
    kinds = [type(e) for e in link.collect()]
    assert kinds == [ev.OrderFilled, ev.Resynced]


def test_final_fetch_without_the_fills_ends_the_order_anyway(link: Link) -> None:
    link.do(place("nof"))
    link.drop()
    link.venue_cancel(oid_of(link, "nof"))
    link.connect()
    link.pump()
    assert link.of(ev.OrderCanceled)
    # A canceled order with a fill we cannot fetch: the end waits, then happens.
    bare = make_session()
    bare.connection_made(T0)
    bare.receive(login_frame(), T0)
    bare.send(place("held"), T0)
    bare.frames_to_send()
    bare.receive(result_frame(1, {"oid": "O-1"}), T0)
    bare.receive(
        json.dumps(
            {"t": "c", "ts": 1, "o": body("O-1", cid=cid_for("held"), xq=100, qty=200,
                                          status="CANCELED")}
        ).encode(),
        T0,
    )  # fmt: skip
    bare.events_received()
    assert bare.order("held").status is OrderStatus.PENDING  # type: ignore[union-attr]
    assert bare.missing_fills
    bare.receive_fills([], T0, final=True)
    [canceled] = bare.events_received()
    assert isinstance(canceled, ev.OrderCanceled) and canceled.filled_qty == 0
    assert not bare.missing_fills


def test_receive_fills_delivers_each_trade_once_in_time_order(link: Link) -> None:
    link.do(place("ord", 300))
    oid = oid_of(link, "ord")
    link.drop()
    link.clear()
    venue_fills = [
        fill_info("T-3", oid, 100, ts=T0 + 3),
        fill_info("T-1", oid, 100, ts=T0 + 1),
        fill_info("T-1", oid, 100, ts=T0 + 1),
        fill_info("T-X", "O-unknown", 100, ts=T0 + 2),
    ]
    assert link.s.receive_fills(venue_fills, link.now) == 2
    fills = [e for e in link.collect() if isinstance(e, ev.OrderFilled)]
    assert [f.trade_id for f in fills] == ["T-1", "T-3"]
    assert [f.filled_qty for f in fills] == [100, 200]
    assert fills[0].ts_event == T0 + 1 and fills[0].fee is not None


def test_place_in_flight_that_reached_the_venue(link: Link) -> None:
    rid = link.send(place("arrived"))
    to_venue_only(link)
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    # Resolved at the drop: the venue may have it; the resync then says it has.
    assert (res.outcome, res.kind) == (UNKNOWN, ev.RequestKind.PLACE)
    assert res.client_order_id == "arrived"
    [unknown] = link.of(ev.OrderStatusUnknown)
    assert unknown.reason == "CONNECTION_LOST"
    [accepted] = link.of(ev.OrderAccepted)
    assert accepted.client_order_id == "arrived"
    assert accepted.venue_order_id == oid_of(link, "arrived")
    [resynced] = link.of(ev.Resynced)
    assert resynced.requests_resolved == 0
    assert len(place_frames(link, "arrived")) == 1


def test_place_in_flight_that_filled_during_the_gap(link: Link) -> None:
    link.maker("SELL", 100, px(1))
    rid = link.send(place("took", 100, px(1)))
    to_venue_only(link)
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is UNKNOWN  # judged at the drop; the resync finds the venue has it
    assert not link.of(ev.OrderRejected)
    assert not link.of(ev.Resynced)  # ...but the resync waits for its fills
    link.s.receive_fills(link.fills(), link.now, final=True)
    link.collect()
    [fill] = link.of(ev.OrderFilled)
    assert fill.is_final and fill.liquidity_side.value == "TAKER"
    assert link.s.order("took").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert len(link.of(ev.Resynced)) == 1


def test_place_lost_in_transit(link: Link) -> None:
    rid = link.send(place("lost"))
    link.s.frames_to_send()  # written to a socket that was already dead
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert (res.outcome, res.kind) == (UNKNOWN, ev.RequestKind.PLACE)
    assert not link.of(ev.OrderRejected)  # the venue's first "not found" is not its last word
    [resynced] = link.of(ev.Resynced)
    assert resynced.requests_resolved == 0
    assert place_frames(link, "lost") == []  # never re-sent
    link.settle()
    [rejected] = link.of(ev.OrderRejected)
    assert (rejected.origin, rejected.reason, rejected.client_order_id) == (
        ev.RejectOrigin.LOCAL,
        "NOT_FOUND_AT_VENUE",
        "lost",
    )
    assert len(link.resolutions(rid)) == 1  # type: ignore[arg-type]
    assert place_frames(link, "lost") == []


def test_cancel_in_flight(link: Link) -> None:
    link.do(place("c-ok"))
    link.do(place("c-lost"))
    r_ok = link.send(CancelOrder("c-ok"))
    [frame] = link.s.frames_to_send()
    link.venue.receive(frame, link.now)  # type: ignore[union-attr]
    r_lost = link.send(CancelOrder("c-lost"))
    link.s.frames_to_send()
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    # Both judged at the drop: ambiguous (the login's diff then shows what the venue did).
    assert link.resolutions(r_ok)[0].outcome is UNKNOWN  # type: ignore[arg-type]
    assert link.resolutions(r_lost)[0].outcome is UNKNOWN  # type: ignore[arg-type]
    assert [c.client_order_id for c in link.of(ev.OrderCanceled)] == ["c-ok"]
    assert link.s.order("c-lost").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_replace_in_flight_that_reached_the_venue(link: Link) -> None:
    link.do(place("rp"))
    old = oid_of(link, "rp")
    rid = link.send(ReplaceOrder("rp", price=px(-11)))
    to_venue_only(link)
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    [replaced] = link.of(ev.OrderReplaced)
    assert replaced.old_venue_order_id == old and replaced.price == px(-11)
    assert link.resolutions(rid)[0].outcome is OK  # type: ignore[arg-type]
    rec = link.s.order("rp")
    assert rec is not None and rec.prior_venue_order_ids == [old]


def test_deferred_cancel_of_a_lost_place(link: Link) -> None:
    r_place = link.send(place("dl"))
    r_cancel = link.send(CancelOrder("dl"))
    link.s.frames_to_send()
    link.clear()
    link.drop()  # the requests in flight are judged here
    link.connect()
    link.pump()
    assert link.resolutions(r_place)[0].outcome is UNKNOWN  # type: ignore[arg-type]
    assert link.resolutions(r_cancel) == []  # type: ignore[arg-type]
    link.settle()  # the venue never had it: a definitive reject after the grace period
    [cancel_res] = link.resolutions(r_cancel)  # type: ignore[arg-type]
    # It waited for a venue id that never came: never sent, so its deadline is a plain
    # TIMEOUT (nothing ambiguous), before the order's grace period ends.
    assert cancel_res.outcome is ev.RequestOutcome.TIMEOUT
    assert link.of(ev.OrderRejected)[0].reason == "NOT_FOUND_AT_VENUE"


def test_deferred_cancel_of_a_place_that_arrived(link: Link) -> None:
    link.send(place("da"))
    r_cancel = link.send(CancelOrder("da"))
    to_venue_only(link)
    link.drop()
    link.clear()
    link.connect()
    link.pump()
    assert link.resolutions(r_cancel)[0].outcome is OK  # type: ignore[arg-type]
    assert link.s.order("da").status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_drop_during_the_resync(link: Link) -> None:
    link.do(place("x1"))
    link.clear()
    rid = link.send(place("x2"))
    link.s.frames_to_send()
    link.drop()
    link.venue_cancel(oid_of(link, "x1"))
    link.connect()  # login delivered; status queries queued
    assert link.s.is_resyncing
    link.drop()  # ...and lost with the connection
    link.connect()
    link.pump()
    assert link.resolutions(rid)[0].outcome is UNKNOWN  # type: ignore[arg-type]
    assert len(link.of(ev.Resynced)) == 1
    assert link.of(ev.OrderCanceled)[0].client_order_id == "x1"
    assert not link.s.is_resyncing and link.s.pending_request_ids() == []


def test_timeout_while_disconnected_resolves_once(link: Link) -> None:
    rid = link.send(place("t1"))
    to_venue_only(link)
    link.drop()
    link.advance(10 * NS)
    [res] = link.resolutions(rid)  # type: ignore[arg-type]
    assert res.outcome is UNKNOWN  # judged at the drop, before its deadline
    link.connect()
    link.pump()
    assert len(link.resolutions(rid)) == 1  # type: ignore[arg-type]
    assert link.s.order("t1").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_external_orders_found_at_login(link: Link) -> None:
    link.engine.place("acct-1", EUR, Side.BUY, 100, px(-30), now=link.now, cid=4242, origin=7)
    link.engine.place("acct-1", EUR, Side.SELL, 100, px(30), now=link.now, origin=7)
    link.clear()
    link.reconnect()
    found = link.of(ev.ExternalOrderDiscovered)
    assert found[0].order.client_order_id == "CID-4242"
    assert found[1].order.client_order_id.startswith("EXT-O-")  # type: ignore[union-attr]
    [resynced] = link.of(ev.Resynced)
    assert resynced.external == 2
    rec = link.s.order("CID-4242")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.external


def test_restore_after_a_restart(link: Link) -> None:
    link.session = make_session(link.engine, track_changes=True)
    link.connect()
    link.pump()
    link.do(place("r-open", 300))
    link.maker("SELL", 100, px(-10))
    link.do(place("r-gone"))
    link.do(place("r-done"))
    link.do(CancelOrder("r-done"))
    link.send(place("r-flight"))
    to_venue_only(link)  # reached the venue; the process died before the answer
    records = link.s.take_changed()
    assert {r.client_order_id for r in records} >= {"r-open", "r-gone", "r-done", "r-flight"}
    saved = [msgspec_copy(r) for r in link.s.orders(include_ended=True)]
    # The process dies; meanwhile the venue fills and cancels.
    link.venue = None
    link.maker("SELL", 200, px(-10))  # fills the rest of r-open
    link.engine.cancel("acct-1", link.now, venue_order_id=saved[1].venue_order_id)
    # A new process restores the records and logs in.
    link.session = make_session(link.engine, track_changes=True)
    assert link.s.restore(saved, link.now) == 3
    assert link.s.restore(saved, link.now) == 0  # idempotent
    link.clear()
    link.connect()
    link.pump()
    link.s.receive_fills(link.fills(), link.now, final=True)
    link.collect()
    fills = link.of(ev.OrderFilled)
    assert [(f.client_order_id, f.last_qty) for f in fills] == [("r-open", 200)]
    assert fills[0].filled_qty == 300 and fills[0].is_final
    assert link.s.order("r-open").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert link.s.order("r-gone").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    flight = link.s.order("r-flight")
    assert flight is not None and flight.status is OrderStatus.ACCEPTED
    assert not link.of(ev.ExternalOrderDiscovered)
    assert len(link.of(ev.Resynced)) == 1
    changed = {r.client_order_id for r in link.s.take_changed()}
    assert changed >= {"r-open", "r-gone", "r-flight"}
    assert link.s.take_changed() == []
    # Ended orders came back as ended: their late events and ids are still known.
    assert link.s.order("r-done").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    with pytest.raises(Exception, match="already in use"):
        link.s.send(place("r-done"), link.now)


def msgspec_copy(rec: Any) -> Any:
    """A deep copy of a record, as the journal would give it back."""
    import copy

    return copy.deepcopy(rec)


def test_restore_of_a_lost_pending_order(link: Link) -> None:
    link.send(place("never"))
    link.s.frames_to_send()  # lost with the process
    saved = [msgspec_copy(r) for r in link.s.orders(include_ended=True)]
    link.venue = None
    link.session = make_session(link.engine)
    link.s.restore(saved, link.now)
    link.clear()
    link.connect()
    link.pump()
    # Not reported at login: UNKNOWN first (it may be on its way), then a definitive reject.
    [unknown] = link.of(ev.OrderStatusUnknown)
    assert unknown.reason == "NOT_REPORTED_AFTER_GAP"
    assert not link.of(ev.OrderRejected)
    link.settle()
    [rejected] = link.of(ev.OrderRejected)
    assert rejected.reason == "NOT_FOUND_AT_VENUE"
    assert not link.of(ev.RequestResolved)  # the old process's request is not ours


def test_take_changed(link: Link) -> None:
    link.session = make_session(link.engine, track_changes=True)
    assert link.s.take_changed() == []
    link.connect()
    link.send(place("tc"))
    [rec] = link.s.take_changed()  # journaled before its frame leaves
    assert rec.client_order_id == "tc" and rec.status is OrderStatus.PENDING
    link.pump()
    [rec] = link.s.take_changed()
    assert rec.status is OrderStatus.ACCEPTED and rec.venue_order_id is not None
    assert link.s.take_changed() == []
    link.do(CancelOrder("tc"))
    assert [r.status for r in link.s.take_changed()] == [OrderStatus.CANCELED]
    untracked = make_session()
    untracked.connection_made(T0)
    untracked.send(place("u"), T0)
    assert untracked.take_changed() == []


def test_soft_resync_status_query_is_lost(link: Link) -> None:
    link.do(place("sq"))
    link.drop()
    link.venue_cancel(oid_of(link, "sq"))
    link.fault("out", "lose", is_request("s"))
    link.clear()
    link.connect()
    link.pump()
    assert link.s.is_resyncing
    link.settle()  # the status query times out; the resync ends without it
    assert link.of(ev.Resynced)
    assert not link.s.is_resyncing


def test_status_by_cid_that_names_a_refused_replacement(link: Link) -> None:
    link.do(place("rr", 200))
    oid = oid_of(link, "rr")
    link.fault("in", "lose", lambda o: o.get("t") == "c")
    link.venue_cancel(oid)  # its `c` is lost
    link.do(ReplaceOrder("rr", price=px(-11)))  # refused: ORIGINAL_ORDER_TERMINATED
    link.clear()
    link.reconnect()
    # The venue's newest order with this cid is the refused replacement; the session asks
    # about its own order by venue id and learns it was canceled.
    [canceled] = link.of(ev.OrderCanceled)
    assert (canceled.client_order_id, canceled.venue_order_id) == ("rr", oid)
    rec = link.s.order("rr")
    assert rec is not None and rec.status is OrderStatus.CANCELED and rec.venue_order_id == oid
    assert not link.of(ev.OrderRejected)
    assert link.of(ev.Resynced)
