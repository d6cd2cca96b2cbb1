"""OrdersSession under a venue that takes every liberty the protocol allows (issue 11).

Late events after a local verdict, replacements that start fresh, values out of range, orders
changed behind the record's back, floods of bad frames, and a venue that does not know the WS
status and cancel-all requests.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_harness import (
    EUR,
    T0,
    USER,
    body,
    dumps,
    error_frame,
    event_frame,
    fill_frame,
    fill_info,
    login_frame,
    make_session,
    px,
    result_frame,
)

from axorders import events as ev
from axorders.client.stops import StopTriggers
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    PlaceOrder,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.model import OrderStatus, OrderType, Side, cid_for
from axorders.session import OrdersSession, RestCancelAll, RestStatusQuery
from axorders.sim.instruments import default_instruments
from axorders.store import decode_record, encode_record
from axorders.wire import orders as w


class Bare:
    """A session fed by hand: the frames it sends are read back with :meth:`out`."""

    def __init__(self, **kw: Any) -> None:
        self.s = make_session(**kw)
        self.now = T0
        self.events: list[ev.Event] = []
        self.s.connection_made(self.now)
        self.s.receive(login_frame(), self.now)
        self.s.events_received()

    def feed(self, frame: bytes) -> list[ev.Event]:
        self.s.receive(frame, self.now)
        new = self.s.events_received()
        self.events.extend(new)
        return new

    def send(self, command: Any) -> int | None:
        rid = self.s.send(command, self.now)
        self.events.extend(self.s.events_received())
        return rid

    def out(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.s.frames_to_send()]

    def placed(self, coid: str, oid: str, qty: int = 100, *, ack: bool = True) -> int:
        rid = self.send(place(coid, qty))
        assert rid is not None
        self.out()
        self.feed(result_frame(rid, {"oid": oid}))
        if ack:
            self.feed(event_frame("n", body(oid, cid=cid_for(coid), qty=qty)))
        return rid

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def place(coid: str, qty: int = 100, price: Any = None, **kw: Any) -> PlaceOrder:
    side = kw.pop("side", "BUY")
    return PlaceOrder(coid, EUR, side, qty, price=price if price is not None else px(0), **kw)


def kinds(events: list[ev.Event]) -> list[type[Any]]:
    return [type(e) for e in events]


def status_frame(rid: int, oid: str, state: str, xq: int, rq: int, cid: int | None) -> bytes:
    status: dict[str, Any] = {
        "symbol": EUR,
        "order_id": oid,
        "state": state,
        "filled_quantity": xq,
        "remaining_quantity": rq,
    }
    if cid is not None:
        status["clord_id"] = cid
    return result_frame(rid, {"status": status})


# ---------------------------------------------------------------------------------------------
# 1. Late venue events after a local end.


def test_late_accept_after_an_err_reply_revives_the_order() -> None:
    bare = Bare()
    rid = bare.send(place("r1"))
    assert rid is not None
    bare.out()
    [rejected, resolved] = bare.feed(error_frame(rid, 400, "bad request"))
    assert isinstance(rejected, ev.OrderRejected)
    assert rejected.origin is ev.RejectOrigin.VENUE_ERROR
    assert isinstance(resolved, ev.RequestResolved) and resolved.outcome is ev.RequestOutcome.ERROR
    events = bare.feed(event_frame("n", body("O-1", cid=cid_for("r1"))))
    assert kinds(events) == [ev.OrderStateCorrected, ev.OrderAccepted]
    corrected = events[0]
    assert isinstance(corrected, ev.OrderStateCorrected)
    assert corrected.old_state is OrderStatus.REJECTED
    assert corrected.new_state is OrderStatus.ACCEPTED
    assert corrected.client_order_id == "r1" and corrected.venue_order_id == "O-1"
    assert corrected.reason
    rec = bare.s.order("r1")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED and rec.venue_order_id == "O-1"
    assert [r.client_order_id for r in bare.s.orders()] == ["r1"]
    assert bare.s.stats().corrections == 1
    assert bare.s.stats().duplicates_dropped == 0


def test_late_fills_after_an_err_reply_are_delivered() -> None:
    bare = Bare()
    rid = bare.send(place("r2"))
    assert rid is not None
    bare.out()
    bare.feed(error_frame(rid, 400))
    cid = cid_for("r2")
    events = bare.feed(fill_frame("p", body("O-2", cid=cid, xq=40), "T-1", 40))
    assert kinds(events) == [ev.OrderStateCorrected, ev.OrderAccepted, ev.OrderFilled]
    events = bare.feed(fill_frame("f", body("O-2", cid=cid, xq=100, status="FILLED"), "T-2", 60))
    assert kinds(events) == [ev.OrderFilled]
    assert isinstance(events[0], ev.OrderFilled) and events[0].is_final
    rec = bare.s.order("r2")
    assert rec is not None and rec.status is OrderStatus.FILLED and rec.filled_qty == 100
    assert bare.s.stats().duplicates_dropped == 0
    # Only trade ids de-duplicate.
    again = fill_frame("f", body("O-2", cid=cid, xq=100, status="FILLED"), "T-2", 60)
    assert bare.feed(again) == []


def lose_a_place(bare: Bare, coid: str) -> None:
    """Place ``coid``, drop the connection before the answer, and have the venue not find it
    (yet): the order is UNKNOWN, within its grace period."""
    bare.send(place(coid))
    bare.out()
    bare.s.connection_lost(bare.now)
    bare.s.connection_made(bare.now)
    bare.feed(login_frame())
    [query] = bare.out()
    assert query["t"] == "s" and query["cid"] == cid_for(coid)
    bare.feed(error_frame(query["rid"], 404, "order not found"))


def test_lost_order_revived_by_a_late_fill() -> None:
    """A place lost with the connection is UNKNOWN, not rejected: a late fill is applied
    as it is, with nothing to take back."""
    bare = Bare()
    lose_a_place(bare, "l1")
    assert not bare.of(ev.OrderRejected)
    [unknown] = bare.of(ev.OrderStatusUnknown)
    assert unknown.reason == "CONNECTION_LOST"
    [resolved] = [e for e in bare.of(ev.RequestResolved) if e.kind is ev.RequestKind.PLACE]
    assert resolved.outcome is ev.RequestOutcome.UNKNOWN
    bare.events.clear()
    cid = cid_for("l1")
    events = bare.feed(fill_frame("f", body("O-9", cid=cid, xq=100, status="FILLED"), "T-1", 100))
    assert kinds(events) == [ev.OrderFilled]
    rec = bare.s.order("l1")
    assert rec is not None and rec.status is OrderStatus.FILLED and rec.venue_order_id == "O-9"


def test_lost_order_revived_by_a_status_answer() -> None:
    bare = Bare()
    lose_a_place(bare, "l2")
    bare.events.clear()
    rid = bare.send(QueryOrderStatus(client_order_id="l2"))
    assert rid is not None
    [query] = bare.out()
    events = bare.feed(status_frame(query["rid"], "O-7", "PARTIALLY_FILLED", 30, 70, cid_for("l2")))
    assert ev.OrderAccepted in kinds(events) and ev.OrderStateCorrected not in kinds(events)
    rec = bare.s.order("l2")
    assert rec is not None and not rec.is_terminal and rec.venue_order_id == "O-7"
    assert bare.s.missing_fills  # the 30 filled contracts are fetched over REST


def test_lost_order_revived_by_the_open_orders_at_login() -> None:
    bare = Bare()
    lose_a_place(bare, "l3")
    bare.events.clear()
    bare.s.connection_lost(bare.now)
    bare.s.connection_made(bare.now)
    events = bare.feed(login_frame([body("O-3", cid=cid_for("l3"))]))
    assert ev.OrderStateCorrected not in kinds(events)
    assert ev.OrderAccepted in kinds(events)
    rec = bare.s.order("l3")
    assert rec is not None and rec.status is OrderStatus.ACCEPTED
    assert not bare.of(ev.ExternalOrderDiscovered)


def test_a_venue_reject_confirms_the_verdict() -> None:
    bare = Bare()
    rid = bare.send(place("r3"))
    assert rid is not None
    bare.out()
    bare.feed(error_frame(rid, 400))
    assert bare.feed(event_frame("j", body("O-3", cid=cid_for("r3"), status="REJECTED"))) == []
    # Confirmed: a later stray event no longer revives it.
    assert bare.feed(event_frame("n", body("O-3", cid=cid_for("r3")))) == []
    assert bare.s.stats().corrections == 0


def test_ended_orders_remembered_for_revival_are_bounded() -> None:
    bare = Bare(recent_capacity=3)
    for i in range(5):
        rid = bare.send(place(f"v{i}"))
        assert rid is not None
        bare.out()
        bare.feed(error_frame(rid, 400))
    assert bare.s.stats().recent_orders == 3
    assert len(bare.s.registry.verdicts) == 3
    events = bare.feed(event_frame("n", body("O-4", cid=cid_for("v4"))))
    assert ev.OrderStateCorrected in kinds(events)
    # The oldest is forgotten: its late event is an unknown order now.
    events = bare.feed(event_frame("n", body("O-0", cid=cid_for("v0"))))
    assert ev.ExternalOrderDiscovered in kinds(events)


# ---------------------------------------------------------------------------------------------
# 2. Replace after a partial fill, under both conventions.


def partly_filled_then_replaced(bare: Bare, *, fresh: bool, with_r: bool = True) -> None:
    cid = cid_for("p1")
    bare.placed("p1", "O-1", 100)
    bare.feed(fill_frame("p", body("O-1", cid=cid, xq=40), "T-1", 40))
    rid = bare.send(ReplaceOrder(client_order_id="p1", price=px(1)))
    assert rid is not None
    bare.out()
    bare.feed(result_frame(rid, {"oid": "O-2"}))
    if with_r:
        new = body("O-2", cid=cid, price=str(px(1)), qty=60) if fresh else None
        if new is None:
            new = body("O-2", cid=cid, price=str(px(1)), qty=100, xq=40)
        old = body("O-1", cid=cid, xq=40, status="REPLACED")
        bare.feed(dumps({"t": "r", "ts": T0 // 10**9, "ro": old, "noid": "O-2", "no": new}))


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "continuing"])
def test_the_base_a_replacement_carries_is_journaled(fresh: bool) -> None:
    """What a fresh replacement's filled count leaves out is kept on the record (and so in
    the journal); a replacement that counts everything carries nothing."""
    bare = Bare()
    partly_filled_then_replaced(bare, fresh=fresh)
    rec = bare.s.order("p1")
    assert rec is not None and rec.carried_qty == (40 if fresh else 0)
    assert decode_record(encode_record(rec)).carried_qty == rec.carried_qty


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "continuing"])
@pytest.mark.parametrize("with_r", [True, False], ids=["r", "no-r"])
def test_replace_after_a_partial_fill(fresh: bool, with_r: bool) -> None:
    bare = Bare()
    partly_filled_then_replaced(bare, fresh=fresh, with_r=with_r)
    cid = cid_for("p1")
    price = str(px(1))
    q, xq1, xq2 = (60, 30, 60) if fresh else (100, 70, 100)
    bare.events.clear()
    bare.feed(fill_frame("p", body("O-2", cid=cid, price=price, qty=q, xq=xq1), "T-2", 30))
    last = body("O-2", cid=cid, price=price, qty=q, xq=xq2, status="FILLED")
    bare.feed(fill_frame("f", last, "T-3", 30))
    fills = bare.of(ev.OrderFilled)
    assert [(f.trade_id, f.filled_qty, f.leaves_qty) for f in fills] == [
        ("T-2", 70, 30),
        ("T-3", 100, 0),
    ]
    assert fills[-1].is_final and fills[-1].quantity == 100
    assert not bare.of(ev.UnknownMessage)
    rec = bare.s.order("p1")
    assert rec is not None and rec.status is OrderStatus.FILLED and rec.filled_qty == 100
    assert not bare.s.missing_fills


def test_fresh_replacement_with_a_missed_fill_asks_rest() -> None:
    bare = Bare()
    partly_filled_then_replaced(bare, fresh=True)
    cid = cid_for("p1")
    price = str(px(1))
    # T-2 (10 lots) never arrives; T-3 says 30 filled on the new order.
    bare.feed(fill_frame("p", body("O-2", cid=cid, price=price, qty=60, xq=30), "T-3", 20))
    wanted = bare.s.fills_wanted()
    assert wanted is not None and wanted.missing_qty == 10


def test_a_frame_that_cannot_be_applied_asks_the_venue() -> None:
    bare = Bare()
    bare.placed("u1", "O-1")
    bare.out()
    frame = fill_frame("p", body("O-1", cid=cid_for("u1"), xq=10), "T-1", 10, price="1e400")
    events = bare.feed(frame)
    assert kinds(events) == [ev.UnknownMessage]
    [query] = bare.out()
    assert query["t"] == "s" and query["cid"] == cid_for("u1")
    rec = bare.s.order("u1")
    assert rec is not None and rec.filled_qty == 0


# ---------------------------------------------------------------------------------------------
# 5. Prices on the wire are plain digits on the tick.

_PRICE_RE = re.compile(rb'"p":"([^"]*)"')
_PLAIN = re.compile(rb"^[0-9]+(\.[0-9]+)?$")
INSTRUMENTS = {i.symbol: i for i in default_instruments()}


def _wire_prices(frames: list[bytes]) -> list[bytes]:
    return [m for f in frames for m in _PRICE_RE.findall(f)]


def _check_plain(raw: bytes, symbol: str, value: Decimal) -> None:
    assert _PLAIN.match(raw), raw
    tick = INSTRUMENTS[symbol].tick_size
    assert Decimal(raw.decode()) == value
    exponent = tick.as_tuple().exponent
    assert isinstance(exponent, int)
    decimals = len(raw.split(b".")[1]) if b"." in raw else 0
    assert decimals == max(0, -exponent)


def test_a_normalized_price_goes_out_plain() -> None:
    session = make_session()
    session.connection_made(T0)
    session.receive(login_frame(), T0)
    session.send(PlaceOrder("n1", "XAU-PERP", "BUY", 1, price=Decimal(3700).normalize()), T0)
    [frame] = session.frames_to_send()
    assert b'"p":"3700.0"' in frame


@settings(max_examples=60, deadline=None)
@given(
    symbol=st.sampled_from(sorted(INSTRUMENTS)),
    ticks=st.integers(min_value=1, max_value=10**9),
    new_ticks=st.integers(min_value=1, max_value=10**9),
    trigger_ticks=st.integers(min_value=1, max_value=10**9),
    normalize=st.booleans(),
)
def test_every_request_writes_plain_prices(
    symbol: str, ticks: int, new_ticks: int, trigger_ticks: int, normalize: bool
) -> None:
    inst = INSTRUMENTS[symbol]
    qty = inst.minimum_order_size

    def price_of(n: int) -> Decimal:
        value = inst.tick_size * n
        return value.normalize() if normalize else value

    session = make_session()
    session.connection_made(T0)
    session.receive(login_frame(), T0)
    frames: list[bytes] = []
    checks: list[Decimal] = []
    # LIMIT, MARKET (sent as an IOC limit), and a replace of the limit.
    session.send(PlaceOrder("a", symbol, "BUY", qty, price=price_of(ticks)), T0)
    checks.append(inst.tick_size * ticks)
    session.send(PlaceOrder("b", symbol, "SELL", qty, "MARKET", price=price_of(new_ticks)), T0)
    checks.append(inst.tick_size * new_ticks)
    frames += session.frames_to_send()
    session.receive(result_frame(1, {"oid": "O-A"}), T0)
    session.send(ReplaceOrder(client_order_id="a", price=price_of(new_ticks)), T0)
    checks.append(inst.tick_size * new_ticks)
    # A STOP_LIMIT: its limit goes out when the trigger is crossed.
    session.send(
        PlaceOrder(
            "c",
            symbol,
            "BUY",
            qty,
            "STOP_LIMIT",
            price=price_of(ticks),
            trigger_price=price_of(trigger_ticks),
        ),
        T0,
    )
    StopTriggers(session).update_market(symbol, T0, last=inst.tick_size * trigger_ticks)
    checks.append(inst.tick_size * ticks)
    # The requests without prices carry none.
    session.send(CancelOrder(client_order_id="a"), T0)
    session.send(CancelAllOrders(symbol=symbol), T0)
    session.send(QueryOrderStatus(client_order_id="a"), T0)
    frames += session.frames_to_send()
    raw = _wire_prices(frames)
    assert len(raw) == len(checks)
    for found, value in zip(raw, checks, strict=True):
        _check_plain(found, symbol, value)
    rec = session.order("c")
    assert rec is not None and rec.trigger_price is not None
    assert "E" not in str(rec.trigger_price) and "E" not in str(rec.price)


# ---------------------------------------------------------------------------------------------
# 6. Sane inbound numbers.

BAD_PRICES = ["1e400", "1E+999999999", "-1.13", "0", "1." + "0" * 4999 + "1", "NaN", "Infinity"]


@pytest.mark.parametrize("price", BAD_PRICES, ids=lambda p: p[:12])
@pytest.mark.parametrize("where", ["execution", "order"])
def test_insane_prices_are_reported_not_applied(price: str, where: str) -> None:
    bare = Bare()
    bare.placed("s1", "O-1")
    bare.out()
    order = body("O-1", cid=cid_for("s1"), xq=10)
    if where == "order":
        order["p"] = price
        frame = fill_frame("p", order, "T-1", 10)
    else:
        frame = fill_frame("p", order, "T-1", 10, price=price)
    events = bare.feed(frame)
    assert kinds(events) == [ev.UnknownMessage]
    rec = bare.s.order("s1")
    assert rec is not None and rec.filled_qty == 0 and rec.trade_ids == []
    assert bare.s.stats().unknown_messages == 1


def test_price_given_as_a_json_number_out_of_range() -> None:
    bare = Bare()
    bare.placed("s2", "O-1")
    frame = fill_frame("p", body("O-1", cid=cid_for("s2"), xq=10), "T-1", 10)
    frame = frame.replace(b'"p":"1.1388","d"', b'"p":1e400,"d"')
    assert b"1e400" in frame
    assert kinds(bare.feed(frame)) == [ev.UnknownMessage]


@pytest.mark.parametrize(
    ("ts", "tn"),
    [(2**64, 0), (-1, 0), (2**63 // 10**9, 0), (T0 // 10**9, -1), (T0 // 10**9, 2**32)],
)
def test_insane_timestamps_are_reported_not_applied(ts: int, tn: int) -> None:
    bare = Bare()
    bare.placed("t1", "O-1")
    cid = cid_for("t1")
    for frame in (
        fill_frame("p", body("O-1", cid=cid, xq=10), "T-1", 10, ts=ts, tn=tn),
        fill_frame("p", body("O-1", cid=cid, xq=10, ts=ts, tn=tn), "T-1", 10),
    ):
        assert kinds(bare.feed(frame)) == [ev.UnknownMessage]
    rec = bare.s.order("t1")
    assert rec is not None and rec.filled_qty == 0


@pytest.mark.parametrize("cid", [2**64, -1, 2**70])
def test_cids_outside_u64_are_reported_not_applied(cid: int) -> None:
    bare = Bare()
    bare.placed("c1", "O-1")
    events = bare.feed(fill_frame("p", body("O-1", cid=cid, xq=10), "T-1", 10))
    assert kinds(events) == [ev.UnknownMessage]
    rec = bare.s.order("c1")
    assert rec is not None and rec.filled_qty == 0
    assert bare.s.stats().unknown_messages == 1


def test_u64_cids_from_other_sessions_work_end_to_end() -> None:
    bare = Bare()
    cid = 2**64 - 1
    events = bare.feed(event_frame("n", body("O-X", cid=cid)))
    assert kinds(events) == [ev.ExternalOrderDiscovered, ev.OrderAccepted]
    coid = f"CID-{cid}"
    rec = bare.s.order(coid)
    assert rec is not None and rec.cid == cid
    events = bare.feed(fill_frame("p", body("O-X", cid=cid, xq=10), "T-1", 10))
    assert kinds(events) == [ev.OrderFilled]
    bare.send(QueryOrderStatus(client_order_id=coid))
    [query] = bare.out()
    assert query == {"t": "s", "rid": query["rid"], "oid": "O-X"} or query["cid"] == cid
    bare.send(CancelOrder(client_order_id=coid))
    [cancel] = bare.out()
    assert cancel["oid"] == "O-X"
    events = bare.feed(event_frame("c", body("O-X", cid=cid, xq=10, status="CANCELED")))
    assert kinds(events) == [ev.OrderCanceled]
    # After a reconnect the venue's u64 cid is matched, not adopted twice.
    bare.feed(event_frame("n", body("O-Y", cid=2**63 + 5)))
    bare.s.connection_lost(bare.now)
    bare.s.connection_made(bare.now)
    events = bare.feed(login_frame([body("O-Y", cid=2**63 + 5)]))
    assert ev.ExternalOrderDiscovered not in kinds(events)
    bare.send(QueryOrderStatus(client_order_id=f"CID-{2**63 + 5}"))
    frames = bare.out()
    assert any(f.get("cid") == 2**63 + 5 for f in frames)


# ---------------------------------------------------------------------------------------------
# 7. The venue cannot silently change an order.


def test_a_fill_beyond_the_remaining_quantity_is_not_applied() -> None:
    bare = Bare()
    bare.placed("q1", "O-1", 100)
    bare.out()
    frame = fill_frame("p", body("O-1", cid=cid_for("q1"), qty=1000, xq=520), "T-1", 500)
    assert kinds(bare.feed(frame)) == [ev.UnknownMessage]
    rec = bare.s.order("q1")
    assert rec is not None and rec.filled_qty == 0 and rec.quantity == 100
    [query] = bare.out()
    assert query["t"] == "s"
    assert bare.s.stats().inconsistent == 1


def test_a_quantity_changed_without_a_replace_is_reported_and_queried() -> None:
    bare = Bare()
    bare.placed("q2", "O-1", 100)
    bare.out()
    frame = fill_frame("p", body("O-1", cid=cid_for("q2"), qty=1000, xq=10), "T-1", 10)
    events = bare.feed(frame)
    assert kinds(events) == [ev.UnknownMessage, ev.OrderFilled]  # the trade itself counts
    rec = bare.s.order("q2")
    assert rec is not None and rec.quantity == 100 and rec.filled_qty == 10
    [query] = bare.out()
    assert query["t"] == "s"
    # The venue's answer settles it.
    events = bare.feed(status_frame(query["rid"], "O-1", "PARTIALLY_FILLED", 10, 990, None))
    assert rec.quantity == 1000
    assert ev.OrderReplaced in kinds(events)


@pytest.mark.parametrize("change", ["symbol", "side"])
def test_a_fill_of_another_symbol_or_side_is_not_applied(change: str) -> None:
    bare = Bare()
    bare.placed("q3", "O-1", 100)
    bare.out()
    order = body("O-1", cid=cid_for("q3"), xq=10)
    frame = json.loads(fill_frame("p", order, "T-1", 10))
    if change == "symbol":
        frame["xs"]["s"] = "GBPUSD-PERP"
    else:
        frame["xs"]["d"] = "S"
    assert kinds(bare.feed(dumps(frame))) == [ev.UnknownMessage]
    rec = bare.s.order("q3")
    assert rec is not None and rec.filled_qty == 0
    [query] = bare.out()
    assert query["t"] == "s"


def test_a_replace_in_flight_may_change_the_quantity() -> None:
    bare = Bare()
    bare.placed("q4", "O-1", 100)
    bare.send(ReplaceOrder(client_order_id="q4", quantity=200))
    bare.out()
    frame = fill_frame("p", body("O-1", cid=cid_for("q4"), qty=200, xq=150), "T-1", 150)
    events = bare.feed(frame)
    assert kinds(events) == [ev.OrderFilled]
    assert not bare.out()


# ---------------------------------------------------------------------------------------------
# 8. Bounded work under floods.


def test_a_flood_of_malformed_frames_starts_one_resync() -> None:
    bare = Bare()
    bare.placed("m1", "O-1")
    bare.out()
    before = bare.s.stats().resyncs
    for _ in range(1000):
        bare.feed(b'{"t":"p",')
    sent = bare.out()
    assert [f["t"] for f in sent] == ["o"]
    assert bare.s.stats().malformed_messages == 1000
    assert bare.s.stats().resyncs == before + 1
    # Frames that come after its open-orders answer get one more comparison at the end.
    bare.feed(result_frame(sent[0]["rid"], {"orders": []}))  # m1 is missing: asked about
    [query] = bare.out()
    assert query["t"] == "s"
    for _ in range(1000):
        bare.feed(b'{"t":"p",')
    assert bare.out() == []
    bare.feed(status_frame(query["rid"], "O-1", "ACCEPTED", 0, 100, cid_for("m1")))
    again = bare.out()
    assert [f["t"] for f in again] == ["o"]
    bare.feed(result_frame(again[0]["rid"], {"orders": [body("O-1", cid=cid_for("m1"))]}))
    assert bare.out() == []
    assert len(bare.of(ev.Resynced)) == 2
    assert bare.s.stats().resyncs == before + 2


def test_status_queries_are_paced() -> None:
    bare = Bare(max_status_queries=4)
    for i in range(20):
        bare.placed(f"k{i}", f"O-{i}")
    bare.out()
    bare.s.connection_lost(bare.now)
    bare.s.connection_made(bare.now)
    bare.feed(login_frame())  # none of them is open any more
    answered = 0
    sent = bare.out()
    while sent:
        assert len(sent) <= 4
        assert bare.s.stats().pending_requests <= 4 + 20
        for query in sent:
            assert query["t"] == "s"
            oid = f"O-{[f'k{i}' for i in range(20)].index(_coid_of(query['cid']))}"
            bare.feed(status_frame(query["rid"], oid, "CANCELED", 0, 0, query["cid"]))
            answered += 1
        sent = bare.out()
    assert answered == 20
    assert len(bare.of(ev.OrderCanceled)) == 20
    assert len(bare.of(ev.Resynced)) == 1
    assert bare.s.stats().status_queued == 0


def _coid_of(cid: int) -> str:
    for i in range(20):
        if cid_for(f"k{i}") == cid:
            return f"k{i}"
    raise AssertionError(cid)


def test_one_status_query_per_order_at_a_time() -> None:
    bare = Bare()
    bare.placed("o1", "O-1")
    bare.out()
    bad = fill_frame("p", body("O-1", cid=cid_for("o1"), xq=10), "T-1", 10, price="-1")
    for _ in range(100):
        bare.feed(bad)
    assert [f["t"] for f in bare.out()] == ["s"]


def test_unknown_orders_are_bounded() -> None:
    bare = Bare(max_external_orders=3)
    for i in range(5):
        bare.feed(event_frame("n", body(f"X-{i}", cid=2**63 + i)))
    stats = bare.s.stats()
    assert stats.external_orders == 3
    assert stats.externals_dropped == 2
    assert len(bare.of(ev.ExternalOrderDiscovered)) == 3
    # An ended one frees its place.
    bare.feed(event_frame("c", body("X-0", cid=2**63, status="CANCELED")))
    bare.feed(event_frame("n", body("X-9", cid=2**63 + 9)))
    assert bare.s.stats().external_orders == 3
    assert bare.s.stats().externals_dropped == 2


# ---------------------------------------------------------------------------------------------
# 12. Fallbacks to REST for `s` and `X`.


@pytest.mark.parametrize("code", [400, 405, 501])
def test_status_falls_back_to_rest(code: int) -> None:
    bare = Bare()
    bare.placed("f1", "O-1")
    bare.out()
    rid = bare.send(QueryOrderStatus(client_order_id="f1"))
    assert rid is not None
    [query] = bare.out()
    events = bare.feed(error_frame(query["rid"], code, "unknown request type"))
    assert kinds(events) == [ev.RequestFallback]
    fallback = events[0]
    assert isinstance(fallback, ev.RequestFallback) and fallback.kind is ev.RequestKind.STATUS
    assert bare.s.rest_wanted
    assert bare.s.rest_status_wanted() == [RestStatusQuery(rid, None, cid_for("f1"))]
    assert bare.s.rest_status_wanted() == []
    status = w.StatusBody(
        symbol=EUR, order_id="O-1", state="ACCEPTED", filled_quantity=0, remaining_quantity=100
    )
    bare.s.receive_rest_status(rid, status, bare.now)
    events = bare.s.events_received()
    assert kinds(events) == [ev.OrderStatusReport, ev.RequestResolved]
    assert events[1].outcome is ev.RequestOutcome.OK  # type: ignore[attr-defined]
    # From now on status queries go over REST, the session's own included; said only once.
    rid2 = bare.send(QueryOrderStatus(venue_order_id="O-1"))
    assert bare.out() == []
    assert bare.s.rest_status_wanted() == [RestStatusQuery(rid2 or 0, "O-1", None)]
    bare.s.receive_rest_status(rid2 or 0, None, bare.now)
    events = bare.s.events_received()
    [resolved] = events
    assert isinstance(resolved, ev.RequestResolved) and resolved.code == 404
    bare.feed(fill_frame("p", body("O-1", cid=cid_for("f1"), xq=10), "T-1", 10, price="0"))
    assert bare.out() == []
    [internal] = bare.s.rest_status_wanted()
    assert internal.cid == cid_for("f1")
    assert len(bare.of(ev.RequestFallback)) == 1


def test_a_404_to_a_status_query_is_not_a_fallback() -> None:
    bare = Bare()
    rid = bare.send(QueryOrderStatus(client_order_id="nobody"))
    [query] = bare.out()
    events = bare.feed(error_frame(query["rid"], 404, "order not found"))
    assert kinds(events) == [ev.RequestResolved]
    assert not bare.s.rest_wanted
    bare.send(QueryOrderStatus(client_order_id="nobody"))
    assert [f["t"] for f in bare.out()] == ["s"]
    assert rid is not None


def test_a_rest_error_does_not_loop() -> None:
    bare = Bare()
    rid = bare.send(QueryOrderStatus(client_order_id="x"))
    [query] = bare.out()
    bare.feed(error_frame(query["rid"], 400, "unknown request type"))
    [wanted] = bare.s.rest_status_wanted()
    bare.s.receive_rest_status(wanted.request_id, None, bare.now, code=400, message="bad")
    [resolved] = bare.s.events_received()
    assert isinstance(resolved, ev.RequestResolved) and resolved.request_id == rid
    assert resolved.outcome is ev.RequestOutcome.ERROR and resolved.code == 400
    assert not bare.s.rest_wanted


@pytest.mark.parametrize("code", [400, 405, 501])
def test_cancel_all_falls_back_to_rest(code: int) -> None:
    bare = Bare()
    rid = bare.send(CancelAllOrders(symbol=EUR))
    [frame] = bare.out()
    assert frame["t"] == "X"
    events = bare.feed(error_frame(frame["rid"], code, "unknown request type"))
    assert kinds(events) == [ev.RequestFallback]
    assert bare.s.rest_cancel_all_wanted() == [RestCancelAll(rid or 0, EUR)]
    bare.s.receive_rest_cancel_all(rid or 0, bare.now)
    [resolved] = bare.s.events_received()
    assert isinstance(resolved, ev.RequestResolved) and resolved.outcome is ev.RequestOutcome.OK
    rid2 = bare.send(CancelAllOrders())
    assert bare.out() == []
    assert bare.s.rest_cancel_all_wanted() == [RestCancelAll(rid2 or 0, None)]
    bare.s.receive_rest_cancel_all(rid2 or 0, bare.now, code=503, message="busy")
    [resolved] = bare.s.events_received()
    assert isinstance(resolved, ev.RequestResolved) and resolved.outcome is ev.RequestOutcome.ERROR
    assert len(bare.of(ev.RequestFallback)) == 1


def test_session_types_are_exported() -> None:
    import axorders

    assert axorders.OrderStateCorrected is ev.OrderStateCorrected
    assert axorders.RequestFallback is ev.RequestFallback
    assert isinstance(OrdersSession, type) and Side.BUY and USER


def replaced_in_journal(coid: str, quantity: int, filled: int, carried: int = 0) -> Any:
    """A journaled order, partly filled, whose venue order O-1 was replaced by O-2."""
    from axorders.state import OrderRecord

    return OrderRecord(
        client_order_id=coid,
        cid=cid_for(coid),
        symbol=EUR,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        price=px(1),
        account_id="acct-1",
        trader_id="TRADER-1",
        strategy_id="S-1",
        ts_init=T0,
        status=OrderStatus.PARTIALLY_FILLED,
        venue_order_id="O-2",
        prior_venue_order_ids=["O-1"],
        filled_qty=filled,
        trade_ids=["T-1"],
        carried_qty=carried,
    )


def test_a_fresh_replacement_known_from_the_journal() -> None:
    """After a restart the base of a replacement that started fresh is found again at login."""
    session = make_session()
    rec = replaced_in_journal("j1", 100, 40)
    session.restore([rec], T0)
    session.connection_made(T0)
    venue = body("O-2", cid=cid_for("j1"), price=str(px(1)), qty=60, xq=0, status="ACCEPTED")
    session.receive(login_frame([venue]), T0)
    events = session.events_received()
    assert ev.OrderReplaced not in kinds(events)
    assert not session.missing_fills
    last = body("O-2", cid=cid_for("j1"), price=str(px(1)), qty=60, xq=60, status="FILLED")
    session.receive(fill_frame("f", last, "T-2", 60), T0)
    [filled] = [e for e in session.events_received() if isinstance(e, ev.OrderFilled)]
    assert filled.filled_qty == 100 and filled.is_final
    assert session.stats().unknown_messages == 0


def test_a_fresh_replacement_filled_while_the_client_was_down() -> None:
    """A replacement that started fresh (its quantity what was left, its filled count from
    zero) filled again while the client was down: the base it carries is journaled, so the
    login reads the venue's figures against it (the remaining quantities no longer agree,
    so they cannot tell it), asks REST for the fill it missed, and the order stays open
    until the venue ends it: canceled, not filled."""
    rec = replaced_in_journal("j2", 30, 19, carried=19)
    stored = decode_record(encode_record(rec))
    assert stored.carried_qty == 19
    session = make_session()
    session.restore([stored], T0)
    session.connection_made(T0)
    venue = body(
        "O-2", cid=cid_for("j2"), price=str(px(1)), qty=11, xq=2, status="PARTIALLY_FILLED"
    )
    session.receive(login_frame([venue]), T0)
    events = session.events_received()
    assert ev.OrderReplaced not in kinds(events)
    assert session.missing_fills  # the 2 filled on O-2 while down
    order = session.order("j2")
    assert order is not None and order.quantity == 30 and order.filled_qty == 19
    assert session.receive_fills([fill_info("T-2", "O-2", 2, price=str(px(1)))], T0) == 1
    [filled] = [e for e in session.events_received() if isinstance(e, ev.OrderFilled)]
    assert (filled.filled_qty, filled.quantity, filled.is_final) == (21, 30, False)
    canceled = body(
        "O-2", cid=cid_for("j2"), price=str(px(1)), qty=11, xq=2, status="CANCELED"
    )
    session.receive(event_frame("c", canceled, xr="", txt=""), T0)
    [ended] = [e for e in session.events_received() if isinstance(e, ev.OrderCanceled)]
    assert ended.client_order_id == "j2"
    order = session.order("j2")
    assert order is not None and order.status is OrderStatus.CANCELED
    assert order.filled_qty == 21


def test_a_verdict_survives_a_restart_and_the_venue_still_wins() -> None:
    """An order ended by an ``err`` reply is journaled with its verdict; a process restarted
    from the journal asks the venue about it at login, and the venue's word revives it."""
    bare = Bare()
    rid = bare.send(place("rv1"))
    assert rid is not None
    bare.out()
    bare.feed(error_frame(rid, 400))
    rec = bare.s.order("rv1")
    assert rec is not None and rec.status is OrderStatus.REJECTED
    assert rec.verdict == "VENUE_ERROR_400"
    stored = decode_record(encode_record(rec))
    assert stored.verdict == "VENUE_ERROR_400"

    again = make_session()
    again.restore([stored], T0)
    again.connection_made(T0)
    again.receive(login_frame(), T0)  # the order is no longer open at the venue
    queries = [json.loads(f) for f in again.frames_to_send()]
    assert [q["t"] for q in queries] == ["s"]
    again.events_received()
    again.receive(status_frame(queries[0]["rid"], "O-9", "FILLED", 100, 0, cid_for("rv1")), T0)
    events = again.events_received()
    assert ev.OrderStateCorrected in kinds(events)
    assert again.missing_fills  # the venue's fills are fetched over REST
    revived = again.order("rv1")
    assert revived is not None and revived.verdict is None


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "continuing"])
@pytest.mark.parametrize("how", ["after-a-gap", "live", "answered"])
def test_an_unseen_replacement_filled_past_what_it_carried(fresh: bool, how: str) -> None:
    # p1 has 40 of 100 filled when a replace asks for 200. The replace's `r` never arrives
    # (nor, but in "answered", its answer), and the new order has 50 filled when it is first
    # named: by the login after a gap, or by its next fill. Its `xq` alone (50, past the 40
    # carried) cannot tell a fresh start (q = 160 left, xq counts only its own fills) from a
    # continuing one (q = 200, xq counts all): the quantity the replace asked for can.
    bare = Bare()
    cid = cid_for("p1")
    bare.placed("p1", "O-1", 100)
    bare.feed(fill_frame("p", body("O-1", cid=cid, xq=40), "T-1", 40))
    rid = bare.send(ReplaceOrder(client_order_id="p1", quantity=200))
    assert rid is not None
    bare.out()
    q, xq = (160, 50) if fresh else (200, 90)
    if how == "answered":
        bare.feed(result_frame(rid, {"oid": "O-2"}))
    gap = how == "after-a-gap"
    if gap:
        bare.s.connection_lost(bare.now)
        bare.s.connection_made(bare.now)
        bare.feed(login_frame([body("O-2", cid=cid, qty=q, xq=xq, status="PARTIALLY_FILLED")]))
    else:
        bare.feed(fill_frame("p", body("O-2", cid=cid, qty=q, xq=xq), "T-3", 10))
    rec = bare.s.order("p1")
    assert rec is not None and rec.venue_order_id == "O-2"
    assert rec.quantity == 200
    # 90 filled by the venue's count: what is not delivered yet is fetched over REST.
    wanted = bare.s.fills_wanted()
    assert wanted is not None and wanted.missing_qty == (50 if gap else 40)
