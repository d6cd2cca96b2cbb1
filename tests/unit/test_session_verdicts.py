"""Honest verdicts: an answer the venue may have acted on is never published as a "no".

One test per row of the table in :mod:`axorders.session.verdicts`, then the UNKNOWN state of
an order end to end: accepted, never there (a definitive reject after the grace period),
filled first, kept across a restart; a timeout, a drop; ambiguous cancels and replaces.
"""

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
    error_frame,
    event_frame,
    fill_frame,
    is_request,
    login_frame,
    make_session,
    px,
    result_frame,
)

from axorders import events as ev
from axorders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from axorders.exceptions import OrderRequestError, OrderStatusUnknownError, RequestTimeoutError
from axorders.model import OrderStatus, cid_for
from axorders.session import UNKNOWN_GRACE_NS, OrdersSession
from axorders.session.verdicts import DROP, REJECT_EVENT, TIMEOUT, VERDICTS, Verdict, classify
from axorders.store import MemoryOrderStore, decode_record, encode_record

K = ev.RequestKind
UNKNOWN = ev.RequestOutcome.UNKNOWN


class Hand:
    """A session fed by hand; the frames it sends are read back with :meth:`out`."""

    def __init__(self, session: OrdersSession | None = None, **kw: Any) -> None:
        self.s = session if session is not None else make_session(**kw)
        self.now = T0
        self.events: list[ev.Event] = []
        self.s.connection_made(self.now)
        self.feed(login_frame())

    def feed(self, frame: bytes) -> list[ev.Event]:
        self.s.receive(frame, self.now)
        return self.collect()

    def collect(self) -> list[ev.Event]:
        new = self.s.events_received()
        self.events.extend(new)
        return new

    def send(self, command: Any) -> int:
        rid = self.s.send(command, self.now)
        self.collect()
        assert rid is not None
        return rid

    def out(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.s.frames_to_send()]

    def advance(self, ns: int) -> None:
        self.now += ns
        self.s.tick(self.now)
        self.collect()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def place(coid: str, qty: int = 100) -> PlaceOrder:
    return PlaceOrder(coid, EUR, "BUY", qty, price=px(0))


def status_frame(rid: int, oid: str, state: str, xq: int, rq: int, cid: int) -> bytes:
    status = {
        "symbol": EUR,
        "order_id": oid,
        "state": state,
        "filled_quantity": xq,
        "remaining_quantity": rq,
        "clord_id": cid,
    }
    return result_frame(rid, {"status": status})


def ambiguous_place(hand: Hand, coid: str, code: int = 500) -> int:
    """Place ``coid``; the venue answers ``err code``. Returns the place's rid."""
    rid = hand.send(place(coid))
    hand.out()
    hand.feed(error_frame(rid, code, "internal error"))
    return rid


# ---------------------------------------------------------------------------------------------
# The table, row by row.


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 501])
def test_refusal_codes_are_definitive(code: int) -> None:
    assert classify(K.PLACE, code) is Verdict.REFUSED
    hand = Hand()
    rid = ambiguous_place(hand, f"d{code}", code)
    [rejected] = hand.of(ev.OrderRejected)
    assert rejected.origin is ev.RejectOrigin.VENUE_ERROR and rejected.code == code
    [resolved] = hand.of(ev.RequestResolved)
    assert (resolved.request_id, resolved.outcome) == (rid, ev.RequestOutcome.ERROR)
    assert not hand.of(ev.OrderStatusUnknown)


def test_409_to_a_cancel_is_retried_and_to_a_replace_is_a_refusal() -> None:
    assert classify(K.CANCEL, 409) is Verdict.RETRY
    assert classify(K.REPLACE, 409) is Verdict.REFUSED
    hand = Hand()
    rid = hand.send(place("c1"))
    hand.out()
    hand.feed(result_frame(rid, {"oid": "O-1"}))
    cancel = hand.send(CancelOrder("c1"))
    hand.out()
    hand.feed(error_frame(cancel, 409, "order not yet acknowledged by exchange; retry shortly"))
    assert not hand.of(ev.CancelRejected) and cancel in hand.s.pending_request_ids()
    replace = hand.send(ReplaceOrder("c1", quantity=200))
    hand.out()
    hand.feed(error_frame(replace, 409))
    [rejected] = hand.of(ev.ReplaceRejected)
    assert rejected.code == 409
    assert hand.of(ev.RequestResolved)[-1].outcome is ev.RequestOutcome.ERROR


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504, 599, 418])
def test_server_errors_429_and_unlisted_codes_are_ambiguous(code: int) -> None:
    assert classify(K.PLACE, code) is Verdict.AMBIGUOUS
    hand = Hand()
    rid = ambiguous_place(hand, f"a{code}", code)
    assert not hand.of(ev.OrderRejected)
    [unknown] = hand.of(ev.OrderStatusUnknown)
    assert (unknown.reason, unknown.code, unknown.request_id) == (f"VENUE_ERROR_{code}", code, rid)
    [resolved] = hand.of(ev.RequestResolved)
    assert (resolved.outcome, resolved.code) == (UNKNOWN, code)


def test_a_venue_reject_event_is_definitive() -> None:
    assert VERDICTS[REJECT_EVENT] is Verdict.REFUSED
    hand = Hand()
    ambiguous_place(hand, "j1")
    hand.feed(event_frame("j", body("O-1", cid=cid_for("j1"), status="REJECTED"), r="INVALID"))
    [rejected] = hand.of(ev.OrderRejected)
    assert rejected.origin is ev.RejectOrigin.VENUE_EVENT
    rec = hand.s.order("j1")
    assert rec is not None and rec.status is OrderStatus.REJECTED
    assert not hand.of(ev.OrderStateCorrected)


def test_timeouts_and_drops_are_ambiguous() -> None:
    for kind in (K.PLACE, K.CANCEL, K.REPLACE):
        assert classify(kind, TIMEOUT) is Verdict.AMBIGUOUS
        assert classify(kind, DROP) is Verdict.AMBIGUOUS


# ---------------------------------------------------------------------------------------------
# An ambiguous place, end to end.


def test_500_then_the_venue_accepts_it() -> None:
    link = Link()
    link.connect()
    link.fault("out", "err_reply", is_request("p"))
    rid = link.do(place("u1"))
    assert rid is not None
    assert not link.of(ev.OrderRejected)
    assert len(link.of(ev.OrderStatusUnknown)) == 1
    [resolved] = link.resolutions(rid)
    assert resolved.outcome is UNKNOWN and resolved.code == 500
    kinds = [type(e) for e in link.events if isinstance(e, ev.OrderEvent)]
    assert kinds == [ev.OrderStatusUnknown, ev.OrderAccepted]
    rec = link.s.order("u1")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.venue_order_id
    link.settle()
    assert not link.of(ev.OrderRejected) and not link.of(ev.OrderStateCorrected)
    assert link.s.stats().corrections == 0


def test_500_and_the_venue_never_had_it_rejects_once_after_the_grace_period() -> None:
    hand = Hand()
    ambiguous_place(hand, "n1")
    [query] = hand.out()
    assert query["t"] == "s" and query["cid"] == cid_for("n1")
    hand.feed(error_frame(query["rid"], 404, "order not found"))
    assert not hand.of(ev.OrderRejected)  # too early: asked again after the grace period
    assert hand.s.next_deadline() == T0 + UNKNOWN_GRACE_NS
    hand.advance(UNKNOWN_GRACE_NS - 1)
    assert hand.out() == []
    hand.advance(1)
    [again] = hand.out()
    assert again["t"] == "s" and again["cid"] == cid_for("n1")
    hand.feed(error_frame(again["rid"], 404, "order not found"))
    [rejected] = hand.of(ev.OrderRejected)
    assert rejected.reason == "NOT_FOUND_AT_VENUE" and "VENUE_ERROR_500" in rejected.text
    rec = hand.s.order("n1")
    assert rec is not None and rec.status is OrderStatus.REJECTED
    # Definitive: nothing is asked or taken back later.
    hand.s.connection_lost(hand.now)
    hand.s.connection_made(hand.now)
    hand.feed(login_frame())
    assert hand.out() == []
    assert len(hand.of(ev.OrderRejected)) == 1 and not hand.of(ev.OrderStateCorrected)


def test_fills_before_anyone_asks_end_the_unknown_state() -> None:
    hand = Hand()
    ambiguous_place(hand, "f1")
    cid = cid_for("f1")
    hand.feed(fill_frame("p", body("O-1", cid=cid, xq=40), "T-1", 40))
    rec = hand.s.order("f1")
    assert rec is not None and rec.status is OrderStatus.PARTIALLY_FILLED
    assert rec.venue_order_id == "O-1"
    hand.feed(fill_frame("f", body("O-1", cid=cid, xq=100, status="FILLED"), "T-2", 60))
    assert rec.status is OrderStatus.FILLED and rec.filled_qty == 100
    [query] = hand.out()  # the status query asked at the 500 is answered late: no change
    hand.feed(status_frame(query["rid"], "O-1", "FILLED", 100, 0, cid))
    assert not hand.of(ev.OrderRejected) and not hand.of(ev.OrderStateCorrected)
    assert [type(e) for e in hand.events if isinstance(e, ev.OrderEvent)] == [
        ev.OrderStatusUnknown,
        ev.OrderFilled,
        ev.OrderFilled,
    ]


def test_unknown_across_a_restart() -> None:
    store = MemoryOrderStore()
    first = Hand(track_changes=True)
    ambiguous_place(first, "k1")
    store.save(first.s.take_changed())
    [stored] = store.load()
    assert stored.status is OrderStatus.UNKNOWN
    assert (stored.unknown_since, stored.unknown_reason) == (T0, "VENUE_ERROR_500")
    assert decode_record(encode_record(stored)) == stored
    # A fresh process: restore, then log in; the login asks the venue by cid.
    fresh = make_session()
    assert fresh.restore(store.load(), T0 + NS) == 1
    hand = Hand(fresh)
    [query] = hand.out()
    assert query["t"] == "s" and query["cid"] == cid_for("k1")
    hand.feed(status_frame(query["rid"], "O-5", "ACCEPTED", 0, 100, cid_for("k1")))
    assert [type(e) for e in hand.events if isinstance(e, ev.OrderEvent)] == [ev.OrderAccepted]
    rec = fresh.order("k1")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.venue_order_id == "O-5"


def test_unknown_across_a_restart_the_venue_lists_it_open() -> None:
    first = Hand()
    ambiguous_place(first, "k2")
    rec = first.s.order("k2")
    assert rec is not None
    fresh = make_session()
    fresh.restore([decode_record(encode_record(rec))], T0)
    fresh.connection_made(T0)
    fresh.receive(login_frame([body("O-6", cid=cid_for("k2"))]), T0)
    events = fresh.events_received()
    assert ev.OrderAccepted in [type(e) for e in events]
    assert not [e for e in events if isinstance(e, ev.ExternalOrderDiscovered)]


def test_a_place_timeout() -> None:
    link = Link()
    link.connect()
    link.fault("out", "lose", is_request("p"))
    rid = link.do(place("t1"))
    assert rid is not None
    link.advance(5 * NS)
    [resolved] = link.resolutions(rid)
    assert resolved.outcome is UNKNOWN and "deadline" in resolved.message
    [unknown] = link.of(ev.OrderStatusUnknown)
    assert unknown.reason == "TIMEOUT"
    link.settle()  # not found; asked again after the grace period; a definitive reject
    [rejected] = link.of(ev.OrderRejected)
    assert rejected.reason == "NOT_FOUND_AT_VENUE"
    assert not link.of(ev.OrderStateCorrected)


def test_a_place_timeout_that_the_venue_did_carry_out() -> None:
    link = Link()
    link.connect()
    link.fault("in", "lose", lambda obj: obj.get("rid") == 1)  # the reply only
    link.fault("in", "lose", lambda obj: obj.get("t") == "n")  # and the ack
    rid = link.do(place("t2"))
    link.advance(5 * NS)
    assert link.resolutions(rid)[0].outcome is UNKNOWN  # type: ignore[arg-type]
    rec = link.s.order("t2")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED  # by the status answer
    assert [type(e) for e in link.events if isinstance(e, ev.OrderEvent)] == [
        ev.OrderStatusUnknown,
        ev.OrderAccepted,
    ]


def test_a_drop_before_the_answer() -> None:
    link = Link()
    link.connect()
    rid = link.send(place("x1"))
    link.drop()
    [resolved] = link.resolutions(rid)  # type: ignore[arg-type]
    assert resolved.outcome is UNKNOWN
    [unknown] = link.of(ev.OrderStatusUnknown)
    assert unknown.reason == "CONNECTION_LOST"
    rec = link.s.order("x1")
    assert rec is not None and rec.status is OrderStatus.UNKNOWN
    link.connect()  # the place never left: the venue does not hold it
    link.pump()
    assert not link.of(ev.OrderRejected)
    link.settle()
    [rejected] = link.of(ev.OrderRejected)
    assert rejected.reason == "NOT_FOUND_AT_VENUE"
    assert link.now >= T0 + UNKNOWN_GRACE_NS


def test_a_drop_after_the_venue_took_it() -> None:
    link = Link()
    link.connect()
    link.fault("in", "lose", lambda obj: True, count=-1)
    link.do(place("x2"))
    link.faults.clear()
    link.drop()
    link.connect()
    link.pump()
    rec = link.s.order("x2")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED
    assert [type(e) for e in link.events if isinstance(e, ev.OrderEvent)] == [
        ev.OrderStatusUnknown,
        ev.OrderAccepted,
    ]


# ---------------------------------------------------------------------------------------------
# Cancels and replaces.


def accepted(hand: Hand, coid: str, oid: str) -> None:
    rid = hand.send(place(coid))
    hand.out()
    hand.feed(result_frame(rid, {"oid": oid}))
    hand.feed(event_frame("n", body(oid, cid=cid_for(coid))))


@pytest.mark.parametrize("kind", ["cancel", "replace"])
def test_an_ambiguous_cancel_or_replace(kind: str) -> None:
    hand = Hand()
    accepted(hand, "m1", "O-1")
    command = CancelOrder("m1") if kind == "cancel" else ReplaceOrder("m1", quantity=200)
    rid = hand.send(command)
    hand.out()
    hand.feed(error_frame(rid, 500, "internal error"))
    resolved = hand.of(ev.RequestResolved)[-1]
    assert (resolved.request_id, resolved.outcome, resolved.code) == (rid, UNKNOWN, 500)
    assert not hand.of(ev.CancelRejected) and not hand.of(ev.ReplaceRejected)
    assert not hand.of(ev.OrderStatusUnknown)
    rec = hand.s.order("m1")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED
    [query] = hand.out()
    assert query["t"] == "s"
    hand.feed(status_frame(query["rid"], "O-1", "CANCELED", 0, 0, cid_for("m1")))
    assert rec.status is OrderStatus.CANCELED  # the venue's word
    assert len(hand.of(ev.OrderCanceled)) == 1


def test_a_cancel_timeout_and_a_cancel_drop() -> None:
    hand = Hand()
    accepted(hand, "m2", "O-2")
    accepted(hand, "m3", "O-3")
    rid = hand.send(CancelOrder("m2"))
    hand.out()
    hand.advance(5 * NS)
    assert hand.of(ev.RequestResolved)[-1].outcome is UNKNOWN
    assert [q["t"] for q in hand.out()] == ["s"]
    rid = hand.send(CancelOrder("m3"))
    hand.out()
    hand.s.connection_lost(hand.now)
    hand.collect()
    last = hand.of(ev.RequestResolved)[-1]
    assert (last.request_id, last.outcome) == (rid, UNKNOWN)
    rec = hand.s.order("m3")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED


# ---------------------------------------------------------------------------------------------
# The error for the client.


def test_the_client_error_says_what_to_do() -> None:
    err = OrderStatusUnknownError(request_id=3, client_order_id="u1", reason="VENUE_ERROR_500")
    assert isinstance(err, RequestTimeoutError) and not isinstance(err, OrderRequestError)
    text = str(err)
    assert "may hold the order" in text and "do not place it again" in text
    assert "watch the events" in text
    assert (err.request_id, err.client_order_id, err.reason) == (3, "u1", "VENUE_ERROR_500")
