"""Market-data WebSocket and REST codecs: project fixtures, tolerance, exact encoding."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from axorders.exceptions import RemoteProtocolError
from axorders.model import Instrument, Side
from axorders.wire.md import (
    BookLevel,
    L1BookMsg,
    L2BookMsg,
    MdError,
    MdHeartbeatMsg,
    MdReply,
    MdResult,
    SubscribeRequest,
    TickerMsg,
    TradeMsg,
    UnsubscribeRequest,
    decode_md_request,
    decode_md_server_frame,
    encode_md,
    md_request_id,
)
from axorders.wire.rest import (
    AuthenticateRequest,
    AuthenticateResponse,
    BalancesResponse,
    CancelAllBody,
    CancelOrderBody,
    CancelOrderResponse,
    FillsPage,
    FillsQuery,
    InitialMarginResponse,
    InstrumentInfo,
    InstrumentsResponse,
    OpenOrdersPage,
    OrderIdResponse,
    OrdersHistoryPage,
    OrderStatusQuery,
    OrderStatusResponse,
    PlaceOrderBody,
    PositionsResponse,
    PreviewRequest,
    PreviewResponse,
    ReplaceOrderBody,
    WhoAmI,
    decode_instrument,
    decode_query,
    decode_rest,
    encode_rest,
    format_rfc3339_ns,
    instrument_from_rest,
    parse_rfc3339_ns,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
D = Decimal
BIG_CID = 13835058055282163713
ACCOUNT = "ACC-7QK2-01"

MD_FRAMES: dict[str, type | None] = {
    "md_l1.json": L1BookMsg,
    "md_l2.json": L2BookMsg,
    "md_l2_one_side.json": L2BookMsg,
    "md_trade.json": TradeMsg,
    "md_ticker.json": TickerMsg,
    "md_ticker_nulls.json": TickerMsg,
    "md_heartbeat.json": MdHeartbeatMsg,
    "md_candle.json": None,  # candles are not used: decoded as None
    "md_reply_subscribed.json": MdReply,
    "md_reply_unsubscribed.json": MdReply,
    "md_reply_subscribed_candle.json": MdReply,
    "md_reply_error.json": MdReply,
}

MD_REQUESTS: dict[str, type] = {
    "md_req_subscribe.json": SubscribeRequest,
    "md_req_subscribe_minimal.json": SubscribeRequest,
    "md_req_unsubscribe.json": UnsubscribeRequest,
}

REST_BODIES: dict[str, Any] = {
    "rest_instruments.json": InstrumentsResponse,
    "rest_instrument.json": InstrumentInfo,
    "rest_authenticate.json": AuthenticateResponse,
    "rest_open_orders.json": OpenOrdersPage,
    "rest_orders_history.json": OrdersHistoryPage,
    "rest_order_status.json": OrderStatusResponse,
    "rest_fills.json": FillsPage,
    "rest_preview.json": PreviewResponse,
    "rest_preview_no_liquidity.json": PreviewResponse,
    "rest_place_order.json": OrderIdResponse,
    "rest_cancel_order.json": CancelOrderResponse,
    "rest_cancel_all_orders.json": CancelAllBody,
    "rest_whoami.json": WhoAmI,
    "rest_balances.json": BalancesResponse,
    "rest_positions.json": PositionsResponse,
    "rest_initial_margin.json": InitialMarginResponse,
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def compact(name: str) -> bytes:
    return json.dumps(json.loads(raw(name)), separators=(",", ":")).encode()


def md(name: str) -> Any:
    first = decode_md_server_frame(raw(name))
    assert decode_md_server_frame(compact(name)) == first
    assert decode_md_server_frame(compact(name).decode()) == first
    return first


def rest(name: str) -> Any:
    first = decode_rest(raw(name), REST_BODIES[name])
    assert decode_rest(compact(name), REST_BODIES[name]) == first
    return first


def test_every_md_and_rest_fixture_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("md_*.json")} == set(MD_FRAMES) | set(MD_REQUESTS)
    assert {p.name for p in FIXTURES.glob("rest_*.json")} == set(REST_BODIES)


# ---------------------------------------------------------------------------------------------
# Market data: server frames


@pytest.mark.parametrize(("name", "kind"), sorted(MD_FRAMES.items(), key=lambda kv: kv[0]))
def test_md_fixture_decodes_to_its_type(name: str, kind: type | None) -> None:
    message = md(name)
    if kind is None:
        assert message is None
    else:
        assert type(message) is kind


def test_l1_book() -> None:
    assert md("md_l1.json") == L1BookMsg(
        ts=1795001400,
        tn=12345,
        symbol="EURUSD-PERP",
        bids=[BookLevel(D("1.0904"), 12000)],
        asks=[BookLevel(D("1.0907"), 3500)],
    )


def test_l2_book_snapshot_and_one_sided_book() -> None:
    book = md("md_l2.json")
    assert book.snapshot is True
    assert [lvl.price for lvl in book.bids] == [D("2710.4"), D("2710.3"), D("2710")]
    assert [lvl.quantity for lvl in book.asks] == [3, 8]
    one = md("md_l2_one_side.json")
    assert one.bids == []
    assert one.asks == [BookLevel(D("31.3"), 7)]
    assert one.snapshot is None


def test_trade() -> None:
    assert md("md_trade.json") == TradeMsg(
        price=D("1.0907"),
        quantity=700,
        symbol="EURUSD-PERP",
        side=Side.SELL,
        ts=1795001403,
        tn=600,
    )


def test_ticker() -> None:
    ticker = md("md_ticker.json")
    assert ticker.last_price == D("1.0907")
    assert ticker.open == D("1.088500000000")
    assert (ticker.low, ticker.high) == (D("1.0851"), D("1.0932"))
    assert (ticker.volume, ticker.open_interest) == (18250000, 9100000)
    assert ticker.state == "OPEN"
    assert ticker.mark == D("1.0906")
    assert (ticker.bid, ticker.ask) == (D("1.0904"), D("1.0907"))
    assert (ticker.band_lower, ticker.band_upper) == (D("0.9816"), D("1.1996"))
    assert ticker.last_settlement_price == D("1.0890")
    assert ticker.last_settlement_time == 1794960000


def test_ticker_with_null_prices() -> None:
    ticker = md("md_ticker_nulls.json")
    for field in ("last_price", "last_quantity", "open", "low", "high", "bid", "ask"):
        assert getattr(ticker, field) is None, field
    assert ticker.last_settlement_price is None
    assert ticker.mark == D("980.5")
    assert ticker.state == "PRE_OPEN"
    assert ticker.volume == 0


def test_heartbeat() -> None:
    assert md("md_heartbeat.json") == MdHeartbeatMsg(ts=1795001406, tn=800)


def test_replies() -> None:
    assert md("md_reply_subscribed.json") == MdReply(
        rid=41, result=MdResult(subscribed="EURUSD-PERP")
    )
    assert md("md_reply_unsubscribed.json") == MdReply(
        rid=42, result=MdResult(unsubscribed="EURUSD-PERP")
    )
    assert md("md_reply_subscribed_candle.json") == MdReply(
        rid=43, result=MdResult(subscribed_candle="XAU-PERP:1m")
    )
    assert md("md_reply_error.json") == MdReply(
        rid=44, error=MdError(message="Symbol NOPE-PERP is not available", code=404)
    )


def test_reply_with_an_unknown_result_key() -> None:
    reply = decode_md_server_frame(b'{"rid":5,"result":{"subscribed_bbo_candle":"E:1s"}}')
    assert reply == MdReply(rid=5, result=MdResult())


def test_md_unknown_fields_are_ignored() -> None:
    obj = json.loads(raw("md_l1.json"))
    obj["zz"] = [1, 2]
    obj["b"][0]["o"] = [6000, 6000]  # per-order quantities, as on a level-3 book
    message = decode_md_server_frame(json.dumps(obj))
    assert message == md("md_l1.json")


@pytest.mark.parametrize(
    "frame",
    [
        b'{"t":"3","ts":1,"s":"E","b":[{"p":"1","q":1,"o":[1]}],"a":[]}',  # level 3: not used
        b'{"t":"bc","symbol":"E","ts":1}',
        b'{"t":"zz"}',
        b'{"t":"1","ts":"x","s":"E"}',  # wrong shape
        b'{"t":"t","p":"1","q":1,"s":"E","d":"BUY","ts":1}',
        b"[]",
        b'"h"',
        b"null",
        b'{"rid":1,"result":[]}',
        b'{"rid":"1","result":{}}',
        b'{"rid":1,"error":{"message":5}}',
    ],
)
def test_md_frames_not_used_or_wrong_shape_decode_to_none(frame: bytes) -> None:
    assert decode_md_server_frame(frame) is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"{",
        b'{"t":"1"',
        b'{"t":"1","ts":"x", oops',  # a type error before the syntax error
        b'{"rid":1,"result":{"subscribed":"E"}',
        b"\xff",
        b'{"t":"zz","x":"\xff"}',
        b"[" * 5000,
        b'{"t":"2","b":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_md_malformed_json_raises_remote_protocol_error(frame: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_md_server_frame(frame)


# ---------------------------------------------------------------------------------------------
# Market data: requests and encoding


@pytest.mark.parametrize(("name", "kind"), sorted(MD_REQUESTS.items()))
def test_md_request_fixtures(name: str, kind: type) -> None:
    request = decode_md_request(raw(name))
    assert type(request) is kind
    assert json.loads(encode_md(request)) == json.loads(raw(name))  # type: ignore[arg-type]


def test_md_request_values() -> None:
    assert decode_md_request(raw("md_req_subscribe.json")) == SubscribeRequest(
        rid=45, symbol="EURUSD-PERP", level="LEVEL_2", trades=False, ticker=True
    )
    assert decode_md_request(raw("md_req_subscribe_minimal.json")) == SubscribeRequest(
        rid=46, symbol="XAU-PERP"
    )
    assert decode_md_request(raw("md_req_unsubscribe.json")) == UnsubscribeRequest(
        rid=47, symbol="EURUSD-PERP"
    )


def test_md_request_encoding_is_exact() -> None:
    assert encode_md(SubscribeRequest(rid=1, symbol="E", level="LEVEL_2", trades=False)) == (
        b'{"type":"subscribe","rid":1,"symbol":"E","level":"LEVEL_2","trades":false}'
    )
    assert encode_md(SubscribeRequest(rid=2, symbol="E")) == (
        b'{"type":"subscribe","rid":2,"symbol":"E"}'
    )
    assert encode_md(UnsubscribeRequest(rid=3, symbol="E")) == (
        b'{"type":"unsubscribe","rid":3,"symbol":"E"}'
    )


@pytest.mark.parametrize(
    ("frame", "rid"),
    [
        (b'{"rid":3,"type":"subscribe_candles","symbol":"E","width":"1m"}', 3),
        (b'{"rid":4,"type":"subscribe"}', 4),
        (b'{"rid":5,"t":"subscribe","symbol":"E"}', 5),
        (b'{"type":"subscribe","symbol":"E"}', None),
        (b'{"rid":"6","type":"unsubscribe","symbol":"E"}', None),
        (b"{", None),
        (b"\xff", None),
        (b"[" * 5000, None),
    ],
)
def test_md_bad_requests(frame: bytes, rid: int | None) -> None:
    assert decode_md_request(frame) is None
    assert md_request_id(frame) == rid


def test_md_events_encode_as_the_venue_writes_them() -> None:
    for name in (
        "md_l1.json",
        "md_l2.json",
        "md_trade.json",
        "md_ticker.json",
        "md_heartbeat.json",
    ):
        message = md(name)
        data = encode_md(message)
        assert json.loads(data) == json.loads(raw(name)), name
        assert list(json.loads(data)) == list(json.loads(raw(name))), name
        assert decode_md_server_frame(data) == message


def test_md_empty_book_sides_are_written() -> None:
    data = encode_md(L1BookMsg(ts=1, tn=5, symbol="E"))
    assert data == b'{"t":"1","ts":1,"tn":5,"s":"E","b":[],"a":[]}'


def test_md_ticker_leaves_absent_prices_out() -> None:
    data = encode_md(TickerMsg(ts=1, symbol="E", mark=D("2")))
    assert data == b'{"t":"s","ts":1,"s":"E","m":"2"}'


# ---------------------------------------------------------------------------------------------
# REST


@pytest.mark.parametrize(("name", "kind"), sorted(REST_BODIES.items()))
def test_rest_fixture_decodes_to_its_type(name: str, kind: type) -> None:
    assert type(rest(name)) is kind


def test_rest_instruments() -> None:
    response = rest("rest_instruments.json")
    eur, xau = (info.to_instrument() for info in response.instruments)
    assert eur == Instrument(
        symbol="EURUSD-PERP",
        tick_size=D("0.0001"),
        minimum_order_size=100,
        price_precision=4,
        price_band_lower_pct=D("10"),
        price_band_upper_pct=D("10"),
        initial_margin_pct=D("6.0"),
        maintenance_margin_pct=D("3.0"),
        category="fx",
        description="Euro / US dollar perpetual",
    )
    assert xau.symbol == "XAU-2026-DEC"
    assert xau.state == "PRE_OPEN"
    assert (xau.price_band_lower_pct, xau.price_band_upper_pct) == (D("5"), D("7.5"))
    assert xau.price_precision == 1
    assert response.instruments[1].expiration == "2026-12-29T21:00:00Z"
    assert response.instruments[0].price_scale == 10000


def test_rest_single_instrument() -> None:
    info = decode_instrument(raw("rest_instrument.json"))
    assert info == rest("rest_instruments.json").instruments[0]
    assert instrument_from_rest(raw("rest_instrument.json")) == info.to_instrument()


def test_rest_instrument_round_trip_through_the_domain() -> None:
    instrument = instrument_from_rest(raw("rest_instrument.json"))
    again = decode_instrument(encode_rest(InstrumentInfo.from_instrument(instrument)))
    assert again.to_instrument() == instrument


def test_instrument_from_rest_full_object() -> None:
    body = (
        b'{"symbol":"EURUSD-PERP","product":"EURUSD","expiration":null,"multiplier":"1",'
        b'"price_scale":10000,"minimum_order_size":"100","tick_size":"0.0001",'
        b'"quote_currency":"USD","price_band_lower_deviation_pct":"7.5",'
        b'"price_band_upper_deviation_pct":"12","funding_settlement_currency":"USD",'
        b'"maintenance_margin_pct":"3.0","initial_margin_pct":"6.0","category":"fx",'
        b'"description":"Euro perpetual","funding_schedule":{"times":[]},"contract_size":"x"}'
    )
    instrument = instrument_from_rest(body)
    assert instrument == Instrument(
        symbol="EURUSD-PERP",
        tick_size=D("0.0001"),
        minimum_order_size=100,
        price_precision=4,
        price_band_lower_pct=D("7.5"),
        price_band_upper_pct=D("12"),
        quote_currency="USD",
        multiplier=D(1),
        initial_margin_pct=D("6.0"),
        maintenance_margin_pct=D("3.0"),
        category="fx",
        state="OPEN",
        description="Euro perpetual",
    )
    assert instrument.check_price("1.08500") == D("1.085")


def test_instrument_from_rest_minimal_object_takes_defaults() -> None:
    instrument = instrument_from_rest(
        '{"symbol":"XAU-PERP","tick_size":"0.1","state":"HALTED"}'
    )
    assert instrument.symbol == "XAU-PERP"
    assert instrument.tick_size == D("0.1")
    assert instrument.price_precision == 1
    assert instrument.minimum_order_size == 1
    assert instrument.price_band_lower_pct == D(10)
    assert instrument.price_band_upper_pct == D(10)
    assert instrument.state == "HALTED"
    assert instrument.category == ""


def test_rest_order_pages() -> None:
    page = rest("rest_open_orders.json")
    assert (page.total_count, page.limit, page.offset) == (2, 100, 0)
    assert [o.venue_order_id for o in page.orders] == [
        "O-01JQ3MB7W5Y3A1C9E7G5J3L1N9",
        "O-01JQ3M9A2C4E6G8J0L2N4P6R8T",
    ]
    assert page.orders[0].cid == BIG_CID
    history = rest("rest_orders_history.json")
    assert history.next_cursor == "1795001341000000041:O-01JQ3N0007KKKKMMMMNNNNPPPP"
    assert history.total_count is None
    assert history.orders[1].reject_reason == "PRICE_OUT_OF_BOUNDS"


def test_rest_order_status() -> None:
    status = rest("rest_order_status.json").status
    assert status.clord_id == BIG_CID
    assert status.state == "FILLED"
    assert (status.filled_quantity, status.remaining_quantity) == (3, 0)


def test_rest_fills() -> None:
    page = rest("rest_fills.json")
    assert (page.limit, page.total_count) == (2, 7)
    taker, maker = page.fills
    assert taker.price == D("2721.3")
    assert str(taker.price) == "2721.300000000000"
    assert taker.fee == D("1.63278")
    assert taker.realized_pnl == D("12.6")
    assert taker.side is Side.SELL
    assert parse_rfc3339_ns(taker.timestamp) % 1_000_000_000 == 4
    assert maker.order_id is None  # block trade
    assert maker.realized_pnl is None
    assert maker.is_taker is False


def test_rest_small_bodies() -> None:
    assert rest("rest_preview.json") == PreviewResponse(
        limit_price=D("1.0909"), vwap=D("1.09075"), filled_quantity=1000, remaining_quantity=0
    )
    assert rest("rest_preview_no_liquidity.json").limit_price is None
    assert rest("rest_place_order.json") == OrderIdResponse(
        venue_order_id="O-01JQ3MB7W5Y3A1C9E7G5J3L1N9"
    )
    assert rest("rest_cancel_order.json") == CancelOrderResponse(cancel_received=True)
    assert rest("rest_cancel_all_orders.json") == CancelAllBody()
    assert rest("rest_authenticate.json").token == "tok-a1b2c3d4e5f6"
    assert "tok-" not in repr(rest("rest_authenticate.json"))
    assert rest("rest_initial_margin.json") == InitialMarginResponse(
        im_pct=D("6.0"), im=D("13.0860000"), pos=-300, mult=D(1)
    )


def test_rest_account_bodies() -> None:
    who = rest("rest_whoami.json")
    assert who.accounts[0].taker_fee == D("0.0002")
    assert who.accounts[0].maker_fee == D(0)
    assert rest("rest_balances.json").balances[0].amount == D("250000.125")
    position = rest("rest_positions.json").positions[0]
    assert position.signed_quantity == -300
    assert position.realized_pnl == D("0.42")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"{", OrderIdResponse),
        (b"", OrderIdResponse),
        (b"[]", OrderIdResponse),
        (b"{}", OrderIdResponse),
        (b'{"oid":5}', OrderIdResponse),
        (b'{"fills":[{"trade_id":"T"}]}', FillsPage),
        (b'{"status":null}', OrderStatusResponse),
        (b"\xff", WhoAmI),
        (b'{"id":"\xff"}', WhoAmI),
        (b"[" * 5000, WhoAmI),
    ],
)
def test_rest_wrong_bodies_raise_remote_protocol_error(data: bytes, kind: type) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_rest(data, kind)


def test_rest_request_bodies_encode_exactly() -> None:
    assert encode_rest(
        PlaceOrderBody(
            symbol="EURUSD-PERP",
            side=Side.BUY,
            quantity=100,
            price=D("1.0850"),
            post_only=True,
            cid=BIG_CID,
        )
    ) == (b'{"s":"EURUSD-PERP","d":"B","q":100,"p":"1.0850","po":true,"cid":13835058055282163713}')
    assert encode_rest(CancelOrderBody(venue_order_id="O-1")) == b'{"oid":"O-1"}'
    assert encode_rest(CancelOrderBody(cid=7, account_id=ACCOUNT)) == (
        b'{"cid":7,"aid":"ACC-7QK2-01"}'
    )
    assert encode_rest(ReplaceOrderBody(venue_order_id="O-1", price=D("1.1"))) == (
        b'{"oid":"O-1","p":"1.1"}'
    )
    assert encode_rest(CancelAllBody()) == b"{}"
    assert encode_rest(CancelAllBody(symbol="E")) == b'{"symbol":"E"}'
    assert encode_rest(PreviewRequest(symbol="E", quantity=5, side=Side.SELL)) == (
        b'{"symbol":"E","quantity":5,"side":"S"}'
    )
    assert encode_rest(AuthenticateRequest(api_key="k", api_secret="s")) == (
        b'{"api_key":"k","api_secret":"s","expiration_seconds":3600}'
    )


def test_rest_queries() -> None:
    assert decode_query({"oid": "O-1"}, OrderStatusQuery) == OrderStatusQuery(venue_order_id="O-1")
    assert decode_query({"cid": str(BIG_CID)}, OrderStatusQuery).cid == BIG_CID
    fills = decode_query(
        {"start_timestamp_ns": "1", "end_timestamp_ns": "2", "limit": "5"}, FillsQuery
    )
    assert (fills.start_timestamp_ns, fills.end_timestamp_ns, fills.limit) == (1, 2, 5)
    with pytest.raises(RemoteProtocolError):
        decode_query({"limit": "abc"}, FillsQuery)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-09-24T05:20:25.163976017Z", 1790227225163976017),
        ("2026-09-24T05:20:25Z", 1790227225000000000),
        ("2026-09-24T05:20:25.5Z", 1790227225500000000),
        ("2026-09-24T07:20:25.163976017+02:00", 1790227225163976017),
        ("1970-01-01T00:00:00.000000001Z", 1),
    ],
)
def test_rfc3339(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


@pytest.mark.parametrize("ns", [0, 1, 1790227225163976017, 1790227225000000000])
def test_rfc3339_round_trip(ns: int) -> None:
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-09-24", "2026-09-24T05:20:25"]
)
def test_rfc3339_refuses(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_rfc3339_ns(text)
