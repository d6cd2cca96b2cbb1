"""The session's parts that own state: the order registry and the request book."""

from __future__ import annotations

from decimal import Decimal

from axorders import events as ev
from axorders.model import OrderStatus, OrderType, Side, TimeInForce, cid_for
from axorders.session.registry import OrderRegistry
from axorders.session.requests import RequestBook
from axorders.session.values import CANCEL_RETRY_NS, MAX_REQUEST_ID
from axorders.state import OrderRecord

T0 = 1_000


def record(coid: str, oid: str | None = None) -> OrderRecord:
    return OrderRecord(
        client_order_id=coid,
        cid=cid_for(coid),
        symbol="EURUSD-PERP",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=100,
        price=Decimal("1.1"),
        time_in_force=TimeInForce.GTC,
        account_id="A",
        trader_id="T",
        strategy_id="S",
        ts_init=T0,
        ts_last=T0,
        status=OrderStatus.ACCEPTED,
        venue_order_id=oid,
    )


def test_registry_finds_live_then_recent_and_forgets_the_oldest() -> None:
    reg = OrderRegistry(capacity=2)
    recs = [record(f"r{i}", f"O-{i}") for i in range(4)]
    for rec in recs:
        reg.track(rec)
    assert reg.find("O-1", None) is recs[1] and reg.find(None, cid_for("r2")) is recs[2]
    recs[0].prior_venue_order_ids.append("O-0-old")
    reg.track(recs[0])
    assert reg.find("O-0-old", None) is recs[0]
    for rec in recs:
        rec.status = OrderStatus.CANCELED
        assert reg.retire(rec)
        assert not reg.retire(rec)  # once
    assert reg.orders == {} and reg.by_oid == {} and reg.by_cid == {}
    assert list(reg.recent) == ["r2", "r3"]
    assert set(reg.recent_oid) == {"O-2", "O-3"}
    assert set(reg.recent_cid) == {cid_for("r2"), cid_for("r3")}
    assert reg.get("r0") is None and reg.find("O-3", None) is recs[3]


def test_registry_forget_drops_the_side_facts() -> None:
    reg = OrderRegistry(capacity=10)
    rec = record("f", "O-f")
    reg.track(rec)
    reg.verdicts["f"] = "LOST_IN_TRANSIT"
    reg.base["f"] = 5
    reg.forget(rec)
    assert reg.get("f") is None and reg.find("O-f", None) is None
    assert reg.verdicts == {} and reg.base == {} and reg.by_cid == {}


def test_registry_arms_and_disarms_per_symbol() -> None:
    reg = OrderRegistry(capacity=10)
    a, b = record("a"), record("b")
    reg.arm(a)
    reg.arm(b)
    assert reg.armed == {"EURUSD-PERP": ["a", "b"]} and reg.armed_count() == 2
    reg.disarm(a)
    reg.disarm(a)
    reg.disarm(b)
    assert reg.armed == {} and reg.armed_count() == 0


def test_request_ids_wrap_and_since_lists_the_new_ones() -> None:
    book = RequestBook(timeout_ns=100)
    book.next_rid = MAX_REQUEST_ID
    mark = book.next_rid
    first = book.new(ev.RequestKind.PLACE, T0, "a")
    second = book.new(ev.RequestKind.CANCEL, T0, "a")
    assert (first.rid, second.rid) == (MAX_REQUEST_ID, 1)
    assert book.since(mark) == [first, second]
    book.discard(first)
    assert book.since(mark) == [second] and list(book.pending) == [1]


def test_deadlines_retries_and_extension() -> None:
    timeout = 10 * CANCEL_RETRY_NS
    book = RequestBook(timeout_ns=timeout)
    req = book.new(ev.RequestKind.CANCEL, T0, "a")
    assert book.next_deadline() == T0 + timeout
    book.retry_later(req, T0)
    assert book.next_deadline() == T0 + CANCEL_RETRY_NS
    assert book.pop_due(T0 + CANCEL_RETRY_NS - 1) is None
    book.extend(CANCEL_RETRY_NS)  # the caller stopped reading for a while
    assert req.deadline == T0 + timeout + CANCEL_RETRY_NS
    due = book.pop_due(T0 + CANCEL_RETRY_NS)  # a retry keeps its time
    assert due is req and req.retry_at == 0 and book.retries == {}  # the retry, not a timeout
    assert book.pop_due(T0 + timeout) is None  # its deadline moved on
    assert book.pop_due(req.deadline) is req  # now its deadline
    book.discard(req)
    assert book.next_deadline() is None


def test_deferred_frames_and_replaces_in_flight() -> None:
    book = RequestBook(timeout_ns=100)
    cancel = book.new(ev.RequestKind.CANCEL, T0, "a")
    book.defer("a", cancel, lambda oid: oid.encode())
    assert cancel.frame == b""
    book.drop_deferred(cancel)
    assert book.take_deferred("a") == []
    replace = book.new(ev.RequestKind.REPLACE, T0, "a")
    book.note_replace("a", replace.rid)
    assert book.replacing("a") and book.replaces_of("a") == [replace]
    book.discard(replace)
    assert not book.replacing("a") and book.replaces_of("a") == []
