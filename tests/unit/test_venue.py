"""Venue sessions: frames in, frames out, no sockets (orders and market data)."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest

from axorders.model import Side
from axorders.sim.engine import CancelReject, Engine, EngineConfig
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.venue import (
    MarketDataPublisher,
    MarketDataSession,
    Outbound,
    VenueSession,
    heartbeat_frame,
    keepalive_frame,
    md_heartbeat_frame,
)

T0 = 1_790_228_411_934_693_936
EUR = "EURUSD-PERP"

# The NautilusTrader 1.231.0 client's frames, byte for byte.
NAUTILUS_PLACE = (
    b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":10,"p":"1.08500","tif":"GTC","po":true,'
    b'"cid":4694084538830600987,"tag":"Nautilus"}'
)
NAUTILUS_OPEN_ORDERS = b'{"rid":2,"t":"o"}'
NAUTILUS_CANCEL = b'{"rid":3,"t":"x","oid":"O-TEST0001"}'


def make_engine(**config: Any) -> Engine:
    instruments = default_instruments()
    engine = Engine(
        instruments, marks_for(instruments), config=EngineConfig(**config), rng=random.Random(3)
    )
    engine.add_account("acct-1", user_id="user-1")
    engine.add_account("acct-2", user_id="user-2")
    return engine


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def session(engine: Engine, account: str = "acct-1", **kw: Any) -> VenueSession:
    user = "user-1" if account == "acct-1" else "user-2"
    return VenueSession(engine, user_id=user, account_id=account, connection_id=1, **kw)


def frames(outbound: list[Outbound]) -> list[tuple[str | None, dict[str, Any]]]:
    return [(o.target, json.loads(o.frame)) for o in outbound]


def test_login_response(engine: Engine) -> None:
    venue = session(engine, cancel_on_disconnect=True)
    assert json.loads(venue.connection_made(T0)) == {
        "rid": 0,
        "res": {"li": "user-1", "o": None, "cod": True},
    }
    venue.receive(
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.1300","tif":"GTC","po":false}',
        T0,
    )
    login = json.loads(session(engine).connection_made(T0))
    assert login["res"]["cod"] is False
    [order] = login["res"]["o"]
    assert (order["s"], order["o"], order["rq"]) == (EUR, "ACCEPTED", 100)
    assert list(json.loads(session(engine).connection_made(T0))) == ["rid", "res"]


def test_place_response_comes_before_events(engine: Engine) -> None:
    out = frames(
        session(engine).receive(
            b'{"rid":7,"t":"p","s":"EURUSD-PERP","d":"B","q":200,"p":"1.1283","tif":"GTC",'
            b'"po":true,"cid":10075,"tag":"abc"}',
            T0,
        )
    )
    assert out[0][0] is None
    assert list(out[0][1]) == ["rid", "res"] and out[0][1]["rid"] == 7
    oid = out[0][1]["res"]["oid"]
    assert out[1][0] == "acct-1"
    event = out[1][1]
    assert list(event) == ["t", "ts", "tn", "eid", "o"]
    assert event["t"] == "n" and event["o"]["oid"] == oid
    assert list(event["o"]) == [
        "oid", "u", "aid", "s", "p", "q", "xq", "rq", "o", "d", "tif", "cid", "tag", "po", "rb",
        "ts", "tn",
    ]  # fmt: skip


def test_nautilus_frames(engine: Engine) -> None:
    venue = session(engine)
    out = frames(venue.receive(NAUTILUS_PLACE, T0))
    assert out[0][1]["rid"] == 1 and out[0][1]["res"]["oid"].startswith("O-")
    # EURUSD-PERP's minimum is 100 contracts: the venue rejects the 10-lot probe.
    assert out[1][1]["t"] == "j" and out[1][1]["r"] == "INCORRECT_QUANTITY"
    assert out[1][1]["o"]["cid"] == 4694084538830600987
    assert frames(venue.receive(NAUTILUS_OPEN_ORDERS, T0)) == [
        (None, {"rid": 2, "res": {"orders": []}})
    ]
    assert frames(venue.receive(NAUTILUS_CANCEL, T0)) == [
        (None, {"rid": 3, "err": {"code": 404, "msg": "no matching orders"}})
    ]


@pytest.mark.parametrize(
    ("frame", "rid"),
    [
        (b"not json", None),
        (b"[1,2,3]", None),
        (b'{"rid":5,"t":"p","s":"EURUSD-PERP"}', 5),
        (b'{"rid":6,"t":"zz"}', 6),
        (b'{"rid":"x","t":"o"}', None),
        (b'{"rid":8,"t":"p","s":"EURUSD-PERP","d":"Q","q":1,"p":"1","tif":"GTC","po":false}', 8),
        (b'{"rid":9,"t":"p","s":"EURUSD-PERP","d":"B","q":1.5,"p":"1","tif":"GTC","po":false}', 9),
        (b'{"rid":10,"t":"x"}', 10),
        (b'{"rid":11,"t":"s"}', 11),
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_bad_frames_get_err_400(engine: Engine, frame: bytes, rid: int | None) -> None:
    [(target, reply)] = frames(session(engine).receive(frame, T0))
    assert target is None
    assert reply["err"]["code"] == 400 and reply["err"]["msg"]
    assert reply.get("rid") == rid


def test_unsupported_tif_is_err_400(engine: Engine) -> None:
    out = frames(
        session(engine).receive(
            b'{"rid":4,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.13","tif":"FOK","po":false}',
            T0,
        )
    )
    assert out == [
        (
            None,
            {
                "rid": 4,
                "err": {"code": 400, "msg": "unsupported time in force 'FOK'; use GTC, IOC or DAY"},
            },
        )
    ]


def test_cancel_replace_cancel_all_and_status(engine: Engine) -> None:
    venue = session(engine)
    placed = frames(
        venue.receive(
            b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":200,"p":"1.1283","tif":"GTC",'
            b'"po":true,"cid":10075}',
            T0,
        )
    )
    oid = placed[0][1]["res"]["oid"]
    replaced = frames(venue.receive(f'{{"rid":2,"t":"r","oid":"{oid}","q":100}}'.encode(), T0))
    new = replaced[0][1]["res"]["oid"]
    assert replaced[1][1]["t"] == "r"
    assert list(replaced[1][1]) == ["t", "ts", "tn", "eid", "ro", "noid", "no"]
    assert replaced[1][1]["noid"] == new == replaced[1][1]["no"]["oid"]
    status = frames(venue.receive(b'{"rid":3,"t":"s","cid":10075}', T0))
    assert status == [
        (
            None,
            {
                "rid": 3,
                "res": {
                    "status": {
                        "symbol": EUR,
                        "order_id": new,
                        "clord_id": 10075,
                        "state": "ACCEPTED",
                        "filled_quantity": 0,
                        "remaining_quantity": 100,
                    }
                },
            },
        )
    ]
    canceled = frames(venue.receive(b'{"rid":4,"t":"X"}', T0))
    assert canceled[0] == (None, {"rid": 4, "res": {}})
    assert canceled[1][1]["t"] == "c" and canceled[1][1]["o"]["oid"] == new
    assert list(canceled[1][1]) == ["t", "ts", "tn", "eid", "o", "xr", "txt"]
    again = frames(venue.receive(f'{{"rid":5,"t":"x","oid":"{new}"}}'.encode(), T0))
    assert again == [(None, {"rid": 5, "err": {"code": 404, "msg": "no matching orders"}})]
    unknown = frames(venue.receive(b'{"rid":6,"t":"s","oid":"O-NOPE"}', T0))
    assert unknown[0][1]["err"]["code"] == 404


def test_cancel_by_cid_and_foreign_aid(engine: Engine) -> None:
    venue = session(engine)
    venue.receive(
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.1283","tif":"GTC",'
        b'"po":false,"cid":5}',
        T0,
    )
    foreign = frames(venue.receive(b'{"rid":2,"t":"x","cid":5,"aid":"acct-2"}', T0))
    assert foreign[0][1]["err"]["code"] == 404
    own = frames(venue.receive(b'{"rid":3,"t":"x","cid":5,"aid":"acct-1"}', T0))
    assert own[0][1] == {"rid": 3, "res": {"cxl_rx": True}}
    assert own[1][1]["t"] == "c"


def test_fills_are_addressed_to_both_accounts(engine: Engine) -> None:
    seller = session(engine, "acct-2")
    seller.receive(
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"S","q":100,"p":"1.1388","tif":"GTC","po":false}',
        T0,
    )
    out = frames(
        session(engine).receive(
            b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.1408","tif":"IOC",'
            b'"po":false}',
            T0,
        )
    )
    by_target = [(target, frame.get("t")) for target, frame in out]
    assert by_target == [(None, None), ("acct-1", "n"), ("acct-1", "f"), ("acct-2", "f")]
    taker, maker = out[2][1], out[3][1]
    assert list(taker) == ["t", "ts", "tn", "eid", "o", "xs"]
    assert list(taker["xs"]) == ["tid", "aid", "s", "q", "p", "d", "agg"]
    assert (taker["xs"]["agg"], maker["xs"]["agg"]) == (True, False)
    assert taker["xs"]["p"] == maker["xs"]["p"] == "1.1388"


def test_cancel_on_disconnect_only_cancels_this_connections_orders(engine: Engine) -> None:
    first = VenueSession(
        engine, user_id="user-1", account_id="acct-1", connection_id=1, cancel_on_disconnect=True
    )
    second = VenueSession(engine, user_id="user-1", account_id="acct-1", connection_id=2)
    place = (
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.1283","tif":"GTC","po":false}'
    )
    mine = json.loads(first.receive(place, T0)[0].frame)["res"]["oid"]
    theirs = json.loads(second.receive(place, T0)[0].frame)["res"]["oid"]
    out = frames(first.connection_lost(T0))
    assert [(t, f["t"], f["o"]["oid"]) for t, f in out] == [("acct-1", "c", mine)]
    assert [o.venue_order_id for o in engine.open_orders("acct-1")] == [theirs]
    assert second.connection_lost(T0) == []


def test_heartbeat_frames() -> None:
    assert json.loads(heartbeat_frame(T0)) == {"t": "h", "ts": 1790228411, "tn": 934693936}
    assert json.loads(keepalive_frame()) == {"t": "pu"}
    assert json.loads(md_heartbeat_frame(T0)) == {"t": "h", "ts": 1790228411, "tn": 934693936}


# ---------------------------------------------------------------------------------------------
# Market data


def md(session: MarketDataSession, text: str) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame in session.receive(text.encode(), T0)]


def test_md_subscribe_and_snapshot(engine: Engine) -> None:
    engine.place("acct-2", EUR, Side.SELL, 4400, Decimal("1.1388"), now=T0)
    engine.place("acct-2", EUR, Side.BUY, 26500, Decimal("1.1380"), now=T0)
    mds = MarketDataSession(engine)
    out = md(mds, '{"rid":1,"type":"subscribe","symbol":"EURUSD-PERP","level":"LEVEL_1"}')
    assert out[0] == {"rid": 1, "result": {"subscribed": EUR}}
    assert out[1] == {
        "t": "1",
        "ts": 1790228411,
        "tn": 934693936,
        "s": EUR,
        "b": [{"p": "1.138", "q": 26500}],
        "a": [{"p": "1.1388", "q": 4400}],
    }
    assert out[2]["t"] == "s" and out[2]["s"] == EUR and out[2]["m"] == "1.1388"
    out = md(
        mds,
        '{"rid":2,"type":"subscribe","symbol":"GBPUSD-PERP","level":"LEVEL_2","trades":false,'
        '"ticker":false}',
    )
    assert out == [
        {"rid": 2, "result": {"subscribed": "GBPUSD-PERP"}},
        {"t": "2", "ts": 1790228411, "tn": 934693936, "s": "GBPUSD-PERP", "b": [], "a": [],
         "st": True},
    ]  # fmt: skip
    assert md(mds, '{"rid":3,"type":"unsubscribe","symbol":"GBPUSD-PERP"}') == [
        {"rid": 3, "result": {"unsubscribed": "GBPUSD-PERP"}}
    ]
    assert set(mds.subscriptions) == {EUR}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"rid":6,"type":"subscribe","symbol":"INVALID-AUDIT","level":"LEVEL_1"}',
            {"rid": 6, "error": {"message": "Symbol INVALID-AUDIT is not available", "code": 404}},
        ),
        (
            '{"rid":7,"type":"subscribe","symbol":"EURUSD-PERP","level":"LEVEL_9"}',
            {"rid": 7, "error": {"message": "unknown level 'LEVEL_9'", "code": 400}},
        ),
        (
            '{"rid":8,"type":"subscribe_candles","symbol":"EURUSD-PERP","width":"1m"}',
            {"rid": 8, "error": {"message": "unsupported or malformed request", "code": 400}},
        ),
        ("nonsense", {"error": {"message": "unsupported or malformed request", "code": 400}}),
    ],
)
def test_md_errors(engine: Engine, text: str, expected: dict[str, Any]) -> None:
    assert md(MarketDataSession(engine), text) == [expected]


def test_publisher_sends_changes_once(engine: Engine) -> None:
    engine.record_market_data = True
    publisher = MarketDataPublisher(engine, ticker_interval_ns=10**9)
    engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1390"), now=T0)
    updates = publisher.collect(T0, {EUR})
    assert set(updates) == {EUR}
    update = updates[EUR]
    assert update.l1 is not None and update.l2 is not None and update.ticker is not None
    assert update.trades is None
    engine.place("acct-1", EUR, Side.BUY, 100, Decimal("1.1390"), now=T0 + 1)
    update = publisher.collect(T0 + 1, {EUR})[EUR]
    assert update.trades is not None
    assert json.loads(update.trades[0]) == {
        "t": "t", "p": "1.139", "q": 100, "s": EUR, "d": "B", "ts": 1790228411, "tn": 934693937,
    }  # fmt: skip
    assert update.ticker is None  # throttled: one per second
    assert json.loads(update.l1 or b"{}")["a"] == []
    # An order that does not change the top of the book changes L2 only.
    engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1395"), now=T0 + 2)
    engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1396"), now=T0 + 2)
    first = publisher.collect(T0 + 2, {EUR})[EUR]
    assert first.l1 is not None
    engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1397"), now=T0 + 3)
    second = publisher.collect(T0 + 3, {EUR})[EUR]
    assert second.l1 is None and second.l2 is not None
    assert publisher.collect(T0 + 2 * 10**9, {EUR})[EUR].ticker is not None
    # Nothing is built for symbols nobody wants.
    engine.place("acct-2", "XAU-PERP", Side.SELL, 1, Decimal("3700.0"), now=T0)
    assert publisher.collect(T0 + 4, {EUR}) == {}


def test_cancel_refusal_as_an_e_event() -> None:
    engine = make_engine(cancel_reject=CancelReject.EVENT)
    venue = session(engine)
    venue.receive(
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":"1.1283","tif":"GTC",'
        b'"po":false,"cid":5}',
        T0,
    )
    out = frames(venue.receive(b'{"rid":2,"t":"x","cid":5,"aid":"acct-2"}', T0))
    assert out[0] == (None, {"rid": 2, "res": {"cxl_rx": True}})
    target, event = out[1]
    assert target == "acct-1"
    assert event == {
        "t": "e", "ts": 1790228411, "tn": 934693936, "r": "ORDER_NOT_FOUND",
        "txt": "Order not found or already canceled", "cid": 5,
    }  # fmt: skip
    assert len(engine.open_orders("acct-1")) == 1


@pytest.mark.parametrize("price", ['"1e999999999"', '"1E-999999999"', '"-1e40"'])
def test_absurd_prices_are_refused_not_raised(engine: Engine, price: str) -> None:
    venue = session(engine)
    for frame in (
        '{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":100,"p":%s,"tif":"GTC","po":false}',
        '{"rid":2,"t":"r","oid":"O-NONE","p":%s}',
    ):
        out = frames(venue.receive((frame % price).encode(), T0))
        assert out[0][1].get("err") is not None or out[1][1]["t"] == "j"
