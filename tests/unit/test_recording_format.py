"""The recording format: the tagged encoding and its decoding, names, headers, settings."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from session_harness import EUR, NS, Link, px

from axorders import events as ev
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    PlaceOrder,
    QueryOpenOrders,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.exceptions import RecordingError
from axorders.model import Instrument, OrderStatus, OrderType, Side, TimeInForce
from axorders.recording import format as fmt
from axorders.recording.format import (
    FILE_PATTERN,
    decode_payload,
    decode_value,
    default_registry,
    encode_value,
    file_name,
    make_header,
    scrub_settings,
)
from axorders.session.values import FillsWanted, RestCancelAll, RestStatusQuery
from axorders.state import OrderRecord
from axorders.wire.rest import FillInfo


def through_json(value: Any) -> Any:
    """The encoding of ``value`` as it reads back from a file."""
    return msgspec.json.decode(msgspec.json.encode(encode_value(value)))


def round_trip(value: Any) -> Any:
    return decode_value(through_json(value), default_registry())


def traded_link() -> Link:
    """A session that placed, filled, replaced, canceled and reconnected."""
    link = Link()
    link.connect()
    link.pump()
    link.do(PlaceOrder("A-1", EUR, "BUY", 1000, price=px(-10)))
    link.advance(NS)
    link.maker("SELL", 400, px(-10))
    link.do(ReplaceOrder(client_order_id="A-1", price=px(-12)))
    link.do(PlaceOrder("B-1", EUR, Side.SELL, 500, price=px(30), time_in_force=TimeInForce.DAY))
    link.do(CancelOrder(client_order_id="A-1"))
    link.do(PlaceOrder("C-1", EUR, "BUY", 100, price=px(-5000)))  # refused by the price band
    link.reconnect()
    return link


def test_real_events_round_trip() -> None:
    link = traded_link()
    kinds = {type(e).__name__ for e in link.events}
    assert {"OrderAccepted", "OrderFilled", "OrderReplaced", "OrderCanceled"} <= kinds
    assert {"LoginSnapshot", "Disconnected", "Resynced", "OrderRejected"} <= kinds
    for event in link.events:
        back = round_trip(event)
        assert type(back) is type(event)
        assert back == event, type(event).__name__
        assert str(back) == str(event)


def test_commands_round_trip() -> None:
    commands = [
        PlaceOrder("A-1", EUR, Side.BUY, 100, price=Decimal("1.1283")),
        PlaceOrder(
            "A-3",
            EUR,
            Side.SELL,
            3,
            order_type=OrderType.STOP_LIMIT,
            price=Decimal("1.2"),
            trigger_price=Decimal("1.21"),
            time_in_force=TimeInForce.DAY,
            strategy_id="S-9",
            tag="abc",
        ),
        CancelOrder(client_order_id="A-1"),
        CancelOrder(venue_order_id="O-01"),
        ReplaceOrder(client_order_id="A-1", price=Decimal("1.3"), quantity=5),
        CancelAllOrders(symbol=EUR),
        CancelAllOrders(),
        QueryOpenOrders(),
        QueryOrderStatus(venue_order_id="O-2"),
    ]
    for command in commands:
        back = round_trip(command)
        assert back == command, command
        assert type(back) is type(command)
    # Friendly input comes back as the typed value it stands for, or as it was.
    friendly = round_trip(
        PlaceOrder("A-2", EUR, "SELL", "7", order_type="LIMIT", price="1.5", post_only=True)
    )
    assert friendly.quantity == Decimal(7) and friendly.price == Decimal("1.5")
    assert friendly.order_type is OrderType.LIMIT and friendly.side == "SELL"
    assert friendly.post_only is True
    # Enum members come back as members, whatever the annotation's union.
    assert round_trip(commands[0]).side is Side.BUY
    assert round_trip(commands[1]).order_type is OrderType.STOP_LIMIT
    assert isinstance(round_trip(commands[0]).price, Decimal)


def test_order_record_round_trip() -> None:
    link = traded_link()
    records = link.s.orders(include_ended=True)
    assert len(records) >= 2
    for record in records:
        back = round_trip(record)
        assert isinstance(back, OrderRecord)
        assert back == record
        assert back.prior_venue_order_ids == record.prior_venue_order_ids
        assert back.trade_ids == record.trade_ids
    a = next(r for r in records if r.client_order_id == "A-1")
    assert a.prior_venue_order_ids and a.filled_qty == 400 and a.status is OrderStatus.CANCELED
    # The fields not given to the constructor are not written.
    assert "_trade_index" not in through_json(a) and "place_request_id" not in through_json(a)


def test_rest_values_round_trip() -> None:
    link = traded_link()
    fills = link.fills()
    assert fills
    values: list[Any] = [
        fills,
        RestStatusQuery(request_id=3, venue_order_id="O-1", cid=None),
        RestCancelAll(request_id=4, symbol=None),
        FillsWanted(start_ns=5, client_order_ids=("A", "B"), missing_qty=3),
        Instrument(EUR, Decimal("0.0001"), 1, 4, category="fx"),
    ]
    for value in values:
        assert round_trip(value) == value
    assert isinstance(round_trip(fills)[0], FillInfo)
    assert round_trip(values[3]).client_order_ids == ("A", "B")


def test_encoding_shapes() -> None:
    accepted = ev.OrderAccepted(
        1, "c", None, "a", "t", "s", EUR, 2, Side.SELL, Decimal("1.50"), 5, TimeInForce.GTC, False
    )
    obj = encode_value(accepted)
    assert obj["type"] == "OrderAccepted"
    assert obj["side"] == "S" and obj["price"] == "1.50" and obj["venue_order_id"] is None
    assert encode_value((1, [2, (3,)])) == [1, [2, [3]]]
    assert encode_value({Side.BUY: Decimal(1)}) == {"B": "1"}
    assert encode_value(b"caf\xc3\xa9") == "café"
    odd = encode_value(b"\xff\x00")
    assert odd == {"type": "bytes", "base64": "/wA="}
    assert decode_value(through_json(b"\xff\x00")) == b"\xff\x00"
    assert encode_value(frozenset({"x"})) == ["x"]
    assert encode_value(ValueError("odd")) == "odd"  # anything else: its str()


def test_unknown_type_stays_a_dict() -> None:
    value = {"type": "NoSuchThing", "inner": {"type": "Reconnected", "ts_init": 1, "attempt": 2}}
    back = decode_value(value)
    assert back["type"] == "NoSuchThing"
    assert back["inner"] == ev.Reconnected(ts_init=1, attempt=2)


def test_unbuildable_value_is_a_recording_error() -> None:
    with pytest.raises(RecordingError, match="PlaceOrder"):
        decode_value({"type": "PlaceOrder", "client_order_id": "x\ny", "symbol": EUR})


def test_registry_names_every_event_and_command() -> None:
    registry = default_registry()
    for name in ev.__all__:
        obj = getattr(ev, name)
        if isinstance(obj, type) and issubclass(obj, ev.Event) and obj is not ev.Event:
            assert registry[name] is obj
    assert registry["OrderSnapshot"] is ev.OrderSnapshot
    for cls in (PlaceOrder, CancelOrder, ReplaceOrder, CancelAllOrders, QueryOpenOrders):
        assert registry[cls.__name__] is cls
    for cls in (OrderRecord, FillInfo, RestStatusQuery, RestCancelAll, FillsWanted, Instrument):
        assert registry[cls.__name__] is cls
    assert dataclasses.is_dataclass(registry["Instrument"])


def test_decode_payload_by_kind() -> None:
    event = ev.Reconnected(ts_init=3, attempt=2)
    command = CancelOrder(client_order_id="A")
    assert decode_payload({"kind": "event", "event": through_json(event)}) == event
    assert decode_payload({"kind": "cmd", "command": through_json(command)}) == command
    assert decode_payload({"kind": "in", "data": "{}"}) == "{}"
    assert decode_payload({"kind": "drop", "reason": "gone"}) == "gone"
    assert decode_payload({"kind": "tick"}) is None
    assert decode_payload({"kind": "custom", "payload": [1, "2"]}) == [1, "2"]
    restored = decode_payload({"kind": "restore", "records": through_json([_record()])})
    assert restored == [_record()]


def _record() -> OrderRecord:
    return OrderRecord(
        client_order_id="R-1",
        cid=7,
        symbol=EUR,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=10,
        price=Decimal("1.1"),
        account_id="acct-1",
        trader_id="T",
        strategy_id="S",
        ts_init=1,
        status=OrderStatus.ACCEPTED,
        venue_order_id="O-9",
        trade_ids=["t1"],
    )


def test_file_names_sort_in_time_order() -> None:
    names = [
        file_name(1_700_000_000_000_000_000, 1),
        file_name(1_700_000_000_000_001_000, 2),
        file_name(1_700_000_001_000_000_000, 3),
        file_name(1_800_000_000_000_000_000, 10_000),
    ]
    assert names == sorted(names)
    assert names[0] == "axorders-20231114T221320.000000Z-0001.jsonl.zst"
    assert all(FILE_PATTERN.match(n) for n in names)
    assert not FILE_PATTERN.match("axorders-notes.jsonl.zst")


def test_settings_lose_credentials() -> None:
    settings = {
        "url": "wss://gateway.example",
        "proxy": "http://alice:hunter2@proxy.example:3128",
        "Token": "tok",
        "api_secret": "s3",
        "PASSWORD": "p",
        "Authorization": "Bearer x",
        "api_key": "k",
        "nested": {"refresh_token": "r", "timeout": 3, "list": [{"client_secret": "c"}]},
        "timeout": 10,
    }
    before = copy.deepcopy(settings)
    clean = scrub_settings(settings)
    assert clean == {
        "url": "wss://gateway.example",
        "proxy": "http://***@proxy.example:3128",
        "nested": {"timeout": 3, "list": [{}]},
        "timeout": 10,
    }
    assert settings == before  # the caller's dict is left alone
    header = make_header(ts=1, settings=settings, instruments=[], process="p", seq=1, version="0")
    text = msgspec.json.encode(header)
    for secret in (b"tok", b"s3", b"hunter2", b"Bearer", b'"k"', b'"r"', b'"c"'):
        assert secret not in text
    assert header["kind"] == "header" and header["format"] == fmt.FORMAT_NAME
    assert header["version"] == fmt.FORMAT_VERSION
