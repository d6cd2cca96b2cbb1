"""STOP_LIMIT trigger emulation (StopTriggers) over an OrdersSession's armed stops."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from session_harness import EUR, NS, T0, Link, make_session, px

from axorders import events as ev
from axorders.client.stops import StopTriggers
from axorders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from axorders.model import OrderStatus, TriggerSource, cid_for
from axorders.session import OrdersSession


@pytest.fixture
def link() -> Link:
    lk = Link()
    lk.connect()
    lk.pump()
    lk.clear()
    return lk


def frames(session: OrdersSession) -> list[dict[str, Any]]:
    return [json.loads(f) for f in session.frames_to_send()]


@pytest.mark.parametrize(
    ("source", "side", "trigger", "quiet", "cross"),
    [
        (TriggerSource.LAST_TRADE, "BUY", "1.1400", {"last": "1.1399"}, {"last": "1.1400"}),
        (TriggerSource.LAST_TRADE, "SELL", "1.1300", {"last": "1.1301"}, {"last": "1.1299"}),
        (TriggerSource.BID_ASK, "BUY", "1.1400", {"ask": "1.1399", "bid": "1.1450"},
         {"ask": "1.1401"}),
        (TriggerSource.BID_ASK, "SELL", "1.1300", {"bid": "1.1301", "ask": "1.1200"},
         {"bid": "1.1300"}),
    ],
)  # fmt: skip
def test_stop_limit_triggers(
    source: TriggerSource,
    side: str,
    trigger: str,
    quiet: dict[str, str],
    cross: dict[str, str],
) -> None:
    link = Link()
    stops = StopTriggers(link.s, source)
    link.connect()
    link.pump()
    link.clear()
    rid = link.send(
        PlaceOrder(
            "stop-1", EUR, side, 100, order_type="STOP_LIMIT", price=trigger, trigger_price=trigger
        )
    )
    assert rid is None
    assert link.s.frames_to_send() == []
    assert link.s.order("stop-1").status is OrderStatus.ARMED  # type: ignore[union-attr]
    assert link.s.stats().armed_orders == 1
    stops.update_market(EUR, link.now, **{k: Decimal(v) for k, v in quiet.items()})
    assert link.s.frames_to_send() == []
    link.now += NS
    stops.update_market(EUR, link.now, **{k: Decimal(v) for k, v in cross.items()})
    [triggered] = link.collect()
    assert isinstance(triggered, ev.OrderTriggered)
    assert triggered.trigger_price == Decimal(trigger)
    assert triggered.market_price == Decimal(next(iter(cross.values())))
    assert triggered.client_order_id == "stop-1" and triggered.ts_event == link.now
    [frame] = frames(link.s)
    assert frame["t"] == "p" and frame["rid"] == triggered.request_id
    assert frame["p"] == trigger and frame["tif"] == "GTC" and frame["cid"] == cid_for("stop-1")
    assert link.s.order("stop-1").status is OrderStatus.PENDING  # type: ignore[union-attr]
    assert link.s.stats().armed_orders == 0
    # A second crossing sends nothing more.
    stops.update_market(EUR, link.now, **{k: Decimal(v) for k, v in cross.items()})
    assert link.s.frames_to_send() == []


def test_stop_triggers_on_a_remembered_price_at_once(link: Link) -> None:
    stops = StopTriggers(link.s)
    stops.update_market(EUR, link.now, last=Decimal("1.1500"))
    rid = link.send(
        PlaceOrder(
            "s", EUR, "BUY", 100, order_type="STOP_LIMIT", price="1.1400", trigger_price="1.1400"
        )
    )
    assert rid is None
    stops.check("s", link.now)  # right after arming it
    link.collect()
    assert [type(e) for e in link.events] == [ev.OrderTriggered]
    assert len(link.s.frames_to_send()) == 1


def test_stop_armed_while_disconnected_triggers_after_reconnect_on_the_known_price() -> None:
    link = Link()
    stops = StopTriggers(link.s, TriggerSource.BID_ASK)
    link.send(
        PlaceOrder(
            "s", EUR, "BUY", 100, order_type="STOP_LIMIT", price="1.1400", trigger_price="1.1400"
        )
    )
    stops.update_market(EUR, link.now, ask=Decimal("1.1410"))  # not connected: held
    assert link.s.order("s").status is OrderStatus.ARMED  # type: ignore[union-attr]
    link.connect()
    link.pump()
    stops.update_market(EUR, link.now, bid=Decimal("1.1405"))  # the known ask still crosses
    [triggered] = link.collect()
    assert isinstance(triggered, ev.OrderTriggered)
    assert triggered.market_price == Decimal("1.1410")
    link.pump()
    assert link.s.order("s").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_cancel_and_replace_of_an_armed_stop_are_local(link: Link) -> None:
    stops = StopTriggers(link.s)
    stop = dict(order_type="STOP_LIMIT", price="1.1400", trigger_price="1.1400")
    link.send(PlaceOrder("s1", EUR, "BUY", 100, **stop))  # type: ignore[arg-type]
    rid = link.send(ReplaceOrder("s1", price="1.1410", quantity=200))
    assert rid is not None
    assert link.s.frames_to_send() == []
    [replaced, resolved] = link.events
    assert isinstance(replaced, ev.OrderReplaced)
    assert (replaced.price, replaced.quantity, replaced.old_venue_order_id) == (
        Decimal("1.1410"),
        200,
        "",
    )
    assert isinstance(resolved, ev.RequestResolved)
    assert (resolved.request_id, resolved.outcome) == (rid, ev.RequestOutcome.LOCAL)
    link.clear()
    rid = link.send(CancelOrder("s1"))
    assert link.s.frames_to_send() == []
    [canceled, resolved] = link.events
    assert isinstance(canceled, ev.OrderCanceled) and canceled.reason == "USER_REQUESTED"
    assert isinstance(resolved, ev.RequestResolved)
    assert (resolved.request_id, resolved.kind, resolved.outcome) == (
        rid,
        ev.RequestKind.CANCEL,
        ev.RequestOutcome.LOCAL,
    )
    assert link.s.order("s1").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    stops.update_market(EUR, link.now, last=Decimal("1.1500"))
    assert link.s.frames_to_send() == []


def test_restore_of_an_armed_stop() -> None:
    old = make_session()
    old.send(
        PlaceOrder("st", EUR, "BUY", 100, order_type="STOP_LIMIT", price="1.1400",
                   trigger_price="1.1400"),
        T0,
    )  # fmt: skip
    new = make_session()
    assert new.restore(old.orders(), T0) == 1
    assert new.stats().armed_orders == 1
    link = Link(session=new)
    stops = StopTriggers(new)
    link.connect()
    link.pump()
    assert not [f for f in link.sent if json.loads(f)["t"] == "s"]  # nothing to ask about
    stops.update_market(EUR, link.now, last=px(100))
    link.collect()
    link.pump()
    assert link.s.order("st").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_armed_stops_and_trigger_stop(link: Link) -> None:
    stop = dict(order_type="STOP_LIMIT", price="1.1400", trigger_price="1.1400")
    link.send(PlaceOrder("a", EUR, "BUY", 100, **stop))  # type: ignore[arg-type]
    link.send(PlaceOrder("b", EUR, "SELL", 100, **stop))  # type: ignore[arg-type]
    assert [r.client_order_id for r in link.s.armed_stops()] == ["a", "b"]
    assert [r.client_order_id for r in link.s.armed_stops(EUR)] == ["a", "b"]
    assert link.s.armed_stops("NOPE-PERP") == []
    assert link.s.trigger_stop("nobody", link.now, Decimal("1.1400")) is None
    rid = link.s.trigger_stop("a", link.now, Decimal("1.1401"))
    assert rid is not None
    [triggered] = link.collect()
    assert isinstance(triggered, ev.OrderTriggered) and triggered.request_id == rid
    assert triggered.market_price == Decimal("1.1401")
    [frame] = frames(link.s)
    assert frame["t"] == "p" and frame["rid"] == rid
    assert [r.client_order_id for r in link.s.armed_stops()] == ["b"]
    assert link.s.trigger_stop("a", link.now, Decimal("1.1401")) is None  # no longer armed
    link.drop()
    assert link.s.trigger_stop("b", link.now, Decimal("1.1300")) is None  # not connected
    assert link.s.order("b").status is OrderStatus.ARMED  # type: ignore[union-attr]


def test_prices_keep_what_an_update_leaves_out() -> None:
    stops = StopTriggers(make_session())
    assert stops.prices(EUR) is None
    stops.update_market(EUR, T0, last=Decimal("1.1"))
    stops.update_market(EUR, T0, bid=Decimal("1.0"), ask=Decimal("1.2"))
    assert stops.prices(EUR) == (Decimal("1.1"), Decimal("1.0"), Decimal("1.2"))
    stops.update_market(EUR, T0, last=Decimal("1.15"))
    assert stops.prices(EUR) == (Decimal("1.15"), Decimal("1.0"), Decimal("1.2"))
