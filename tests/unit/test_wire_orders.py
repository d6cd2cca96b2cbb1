"""Orders WebSocket codec: every project fixture, tolerance rules, encoding, client frames."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from axorders.exceptions import RemoteProtocolError
from axorders.model import OrderStatus, Side
from axorders.wire.orders import (
    AcknowledgedMsg,
    BadRequest,
    CancelAllRequest,
    CanceledMsg,
    CancelRejectedMsg,
    CancelRequest,
    DoneForDayMsg,
    ErrorBody,
    ErrorReply,
    Execution,
    ExpiredMsg,
    FilledMsg,
    HeartbeatMsg,
    KeepAliveMsg,
    LoginResult,
    OpenOrdersRequest,
    OrderBody,
    PartiallyFilledMsg,
    PlaceRequest,
    RejectedMsg,
    ReplacedMsg,
    ReplaceRequest,
    ResultBody,
    ResultReply,
    StatusBody,
    StatusRequest,
    UnknownFrame,
    decode_client_frame,
    decode_server_frame,
    encode,
    encode_error,
    encode_login,
    encode_result,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
D = Decimal
BIG_CID = 13835058055282163713  # above 2**63: the venue echoes such cids back
MAX_CID = 2**64 - 1
ACCOUNT = "ACC-7QK2-01"
USER = "U-7QK2-0042"

SERVER_FRAMES: dict[str, type] = {
    "orders_login.json": ResultReply,
    "orders_login_empty.json": ResultReply,
    "orders_reply_place.json": ResultReply,
    "orders_reply_cancel.json": ResultReply,
    "orders_reply_open_orders.json": ResultReply,
    "orders_reply_open_orders_empty.json": ResultReply,
    "orders_reply_cancel_all.json": ResultReply,
    "orders_reply_status.json": ResultReply,
    "orders_reply_status_rejected.json": ResultReply,
    "orders_reply_replace.json": ResultReply,
    "orders_err.json": ErrorReply,
    "orders_err_no_rid.json": ErrorReply,
    "orders_err_data.json": ErrorReply,
    "orders_alias_result.json": ResultReply,
    "orders_alias_error.json": ErrorReply,
    "orders_res_err_null.json": ResultReply,
    "orders_event_h.json": HeartbeatMsg,
    "orders_event_pu.json": KeepAliveMsg,
    "orders_event_n.json": AcknowledgedMsg,
    "orders_event_p.json": PartiallyFilledMsg,
    "orders_event_f.json": FilledMsg,
    "orders_event_c.json": CanceledMsg,
    "orders_event_c_user.json": CanceledMsg,
    "orders_event_j.json": RejectedMsg,
    "orders_event_j_post_only.json": RejectedMsg,
    "orders_event_x.json": ExpiredMsg,
    "orders_event_d.json": DoneForDayMsg,
    "orders_event_e.json": CancelRejectedMsg,
    "orders_event_r.json": ReplacedMsg,
    "orders_event_r_amend.json": ReplacedMsg,
}

CLIENT_FRAMES: dict[str, type] = {
    "orders_req_place.json": PlaceRequest,
    "orders_req_place_minimal.json": PlaceRequest,
    "orders_req_cancel.json": CancelRequest,
    "orders_req_cancel_by_cid.json": CancelRequest,
    "orders_req_cancel_all.json": CancelAllRequest,
    "orders_req_cancel_all_symbol.json": CancelAllRequest,
    "orders_req_open_orders.json": OpenOrdersRequest,
    "orders_req_replace.json": ReplaceRequest,
    "orders_req_replace_price.json": ReplaceRequest,
    "orders_req_status.json": StatusRequest,
    "orders_req_status_by_cid.json": StatusRequest,
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def compact(name: str) -> bytes:
    """The fixture as the venue writes it: no spaces, so ``{"t":"`` starts an event."""
    return json.dumps(json.loads(raw(name)), separators=(",", ":")).encode()


def server(name: str) -> Any:
    """Decode a fixture in both layouts (fast path and generic path); they must agree."""
    pretty = decode_server_frame(raw(name))
    tight = decode_server_frame(compact(name))
    as_text = decode_server_frame(compact(name).decode())
    assert pretty == tight == as_text
    return tight


def client(name: str) -> Any:
    first = decode_client_frame(raw(name))
    assert decode_client_frame(compact(name)) == first
    assert decode_client_frame(compact(name).decode()) == first
    return first


def test_every_orders_fixture_is_covered() -> None:
    names = {p.name for p in FIXTURES.glob("orders_*.json")}
    assert names == set(SERVER_FRAMES) | set(CLIENT_FRAMES)


@pytest.mark.parametrize(("name", "kind"), sorted(SERVER_FRAMES.items()))
def test_server_fixture_decodes_to_its_type(name: str, kind: type) -> None:
    assert type(server(name)) is kind


@pytest.mark.parametrize(("name", "kind"), sorted(CLIENT_FRAMES.items()))
def test_client_fixture_decodes_to_its_type(name: str, kind: type) -> None:
    assert type(client(name)) is kind


@pytest.mark.parametrize("name", sorted(CLIENT_FRAMES))
def test_client_frames_are_not_server_frames(name: str) -> None:
    # Requests never reach the client; if one did it must not pass for an event.
    message = decode_server_frame(compact(name))
    assert not isinstance(message, ResultReply | ErrorReply)


# ---------------------------------------------------------------------------------------------
# Replies


def test_login_with_open_orders() -> None:
    reply = server("orders_login.json")
    assert reply.request_id == 0
    res = reply.result
    assert res.login_id == USER
    assert res.cancel_on_disconnect is True
    assert res.client_heartbeat == 30
    assert res.orders is None
    assert res.venue_order_id is None
    first, second = res.login_orders
    assert first == OrderBody(
        venue_order_id="O-01JQ3M8Z4R6T9V2X5B7D0F1H3K",
        user_id=USER,
        account_id=ACCOUNT,
        symbol="EURUSD-PERP",
        price=D("1.0912"),
        quantity=300,
        filled_quantity=100,
        remaining_quantity=200,
        status="PARTIALLY_FILLED",
        side=Side.BUY,
        time_in_force="GTC",
        cid=4620693217682128896,
        tag="mm1",
        post_only=True,
        reprice="rej",
        ts=1795001000,
        tn=125000000,
    )
    # optional keys left out: no aid, cid, tag, po, rb
    assert second.account_id is None
    assert second.cid is None
    assert second.tag is None
    assert second.post_only is None
    assert second.reprice is None
    assert second.side is Side.SELL
    assert second.price == D("2710.5")
    assert second.time_in_force == "DAY"
    assert OrderStatus.from_wire(second.status) is OrderStatus.ACCEPTED


def test_login_with_null_orders() -> None:
    reply = server("orders_login_empty.json")
    assert reply == ResultReply(
        0, ResultBody(login_id=USER, login_orders=None, cancel_on_disconnect=False)
    )


def test_place_and_replace_replies() -> None:
    assert server("orders_reply_place.json") == ResultReply(
        1, ResultBody(venue_order_id="O-01JQ3MB7W5Y3A1C9E7G5J3L1N9")
    )
    assert server("orders_reply_replace.json") == ResultReply(
        8, ResultBody(venue_order_id="O-01JQ3MC0Q2S4U6W8Y0A2C4E6G8")
    )


def test_cancel_reply() -> None:
    assert server("orders_reply_cancel.json") == ResultReply(2, ResultBody(cancel_received=True))


def test_open_orders_replies() -> None:
    reply = server("orders_reply_open_orders.json")
    assert reply.request_id == 3
    (order,) = reply.result.orders
    assert order.cid == BIG_CID
    assert order.reprice == "bo"
    assert order.post_only is False
    assert order.tn == 987654321
    empty = server("orders_reply_open_orders_empty.json")
    assert empty == ResultReply(4, ResultBody(orders=[]))
    assert empty.result.login_orders is None


def test_cancel_all_reply_is_an_empty_result() -> None:
    reply = server("orders_reply_cancel_all.json")
    assert reply == ResultReply(5, ResultBody())
    assert all(getattr(reply.result, f) is None for f in ResultBody.__struct_fields__)


def test_status_replies() -> None:
    reply = server("orders_reply_status.json")
    assert reply.request_id == 6
    assert reply.result.status == StatusBody(
        symbol="EURUSD-PERP",
        order_id="O-01JQ3M8Z4R6T9V2X5B7D0F1H3K",
        clord_id=4620693217682128896,
        state="PARTIALLY_FILLED",
        filled_quantity=100,
        remaining_quantity=200,
    )
    rejected = server("orders_reply_status_rejected.json").result.status
    assert rejected.clord_id is None
    assert rejected.state == "REJECTED"
    assert rejected.reject_reason == "PRICE_OUT_OF_BOUNDS"
    assert rejected.reject_message == "order price is above the exchange's maximum price limit"
    assert (rejected.filled_quantity, rejected.remaining_quantity) == (0, 0)


def test_error_replies() -> None:
    assert server("orders_err.json") == ErrorReply(
        9, ErrorBody(code=400, message="insufficient initial margin: need 125.40, have 12.00")
    )
    assert server("orders_err_no_rid.json") == ErrorReply(
        None, ErrorBody(code=500, message="internal error, try again")
    )
    assert server("orders_err_data.json") == ErrorReply(
        10,
        ErrorBody(
            code=409, message="order not acknowledged yet", data="retry after the acknowledgement"
        ),
    )


def test_alias_forms() -> None:
    assert server("orders_alias_result.json") == ResultReply(
        11, ResultBody(venue_order_id="O-01JQ3M9A2C4E6G8J0L2N4P6R8T")
    )
    assert server("orders_alias_error.json") == ErrorReply(
        12, ErrorBody(code=404, message="no such order")
    )


def test_null_err_beside_res() -> None:
    assert server("orders_res_err_null.json") == ResultReply(13, ResultBody(cancel_received=True))
    assert decode_server_frame(b'{"rid":5,"err":null,"res":{}}') == ResultReply(5, ResultBody())
    assert decode_server_frame(b'{"res":{"oid":"O-1"},"error":null,"request_id":6}') == (
        ResultReply(6, ResultBody(venue_order_id="O-1"))
    )


def test_error_wins_over_result() -> None:
    frame = b'{"rid":3,"res":{"oid":"O-1"},"err":{"code":400,"msg":"no"}}'
    assert decode_server_frame(frame) == ErrorReply(3, ErrorBody(code=400, message="no"))


def test_error_without_message() -> None:
    assert decode_server_frame(b'{"rid":4,"err":{"code":403}}') == ErrorReply(
        4, ErrorBody(code=403)
    )


# ---------------------------------------------------------------------------------------------
# Events


def test_heartbeat_and_keepalive() -> None:
    assert server("orders_event_h.json") == HeartbeatMsg(ts=1795001200, tn=500)
    assert server("orders_event_pu.json") == KeepAliveMsg()
    assert decode_server_frame(b'{"t":"h"}') == HeartbeatMsg()


def test_acknowledged() -> None:
    event = server("orders_event_n.json")
    assert (event.ts, event.tn) == (1795001300, 111222333)
    assert event.event_id == "E-01JQ3N0001AAAABBBBCCCCDDDD"
    order = event.order
    assert order.venue_order_id == "O-01JQ3MB7W5Y3A1C9E7G5J3L1N9"
    assert order.status == "ACCEPTED"
    assert (order.quantity, order.filled_quantity, order.remaining_quantity) == (200, 0, 200)
    assert order.price == D("1.0905")
    assert order.cid == 77
    assert order.reprice == "tbl"
    assert (order.ts, order.tn) == (1795001300, 100200300)


def test_partially_filled() -> None:
    event = server("orders_event_p.json")
    assert event.order.status == "PARTIALLY_FILLED"
    assert (event.order.filled_quantity, event.order.remaining_quantity) == (50, 150)
    assert event.execution == Execution(
        trade_id="T-01JQ3N0002EEEEFFFFGGGGHHHH",
        account_id=ACCOUNT,
        symbol="EURUSD-PERP",
        quantity=50,
        price=D("1.0905"),
        side=Side.BUY,
        aggressor=False,
    )


def test_filled() -> None:
    event = server("orders_event_f.json")
    assert event.tn == 999_999_999
    assert event.order.status == "FILLED"
    assert event.order.cid == BIG_CID
    assert event.order.price == D("2720")
    assert event.order.user_id == USER
    assert event.execution.price == D("2721.3")  # better than the limit
    assert event.execution.aggressor is True
    assert event.execution.side is Side.SELL


def test_canceled() -> None:
    event = server("orders_event_c.json")
    assert event.order.status == "CANCELED"
    assert event.order.remaining_quantity == 0
    assert (event.reason, event.text) == ("", "")
    user = server("orders_event_c_user.json")
    assert (user.reason, user.text) == ("USER_REQUESTED", "canceled on request")
    assert user.order.account_id is None


def test_rejected_post_only_has_null_reason() -> None:
    event = server("orders_event_j_post_only.json")
    assert event.reject_reason is None
    assert event.text == "post-only order would cross the book"
    assert event.order.text == "post-only order would cross the book"
    assert event.order.reject_reason is None
    assert event.order.post_only is True


def test_rejected_with_reason() -> None:
    event = server("orders_event_j.json")
    assert event.reject_reason == "PRICE_OUT_OF_BOUNDS"
    assert event.order.reject_reason == "PRICE_OUT_OF_BOUNDS"
    assert event.text == "order price is above the exchange's maximum price limit"
    assert event.order.status == "REJECTED"


def test_expired_and_done_for_day() -> None:
    expired = server("orders_event_x.json")
    assert expired.order.time_in_force == "IOC"
    assert (expired.order.filled_quantity, expired.order.remaining_quantity) == (100, 0)
    done = server("orders_event_d.json")
    assert done.order.status == "DONE_FOR_DAY"
    assert done.order.price == D("31.25")
    assert done.order.filled_quantity == 4


def test_cancel_rejected() -> None:
    assert server("orders_event_e.json") == CancelRejectedMsg(
        ts=1795001360,
        tn=77,
        venue_order_id="O-01JQ3N0010KKKKMMMMNNNNPPPP",
        reject_reason="ORDER_NOT_FOUND",
        text="order is not open",
    )


def test_cancel_rejected_tolerates_cid_and_order() -> None:
    body = json.loads(raw("orders_event_n.json"))["o"]
    frame = {"t": "e", "ts": 1, "cid": BIG_CID, "o": body, "r": "ORDER_NOT_FOUND"}
    event = decode_server_frame(json.dumps(frame, separators=(",", ":")))
    assert isinstance(event, CancelRejectedMsg)
    assert event.cid == BIG_CID
    assert event.order is not None
    assert event.order.venue_order_id == body["oid"]
    assert event.venue_order_id is None


def test_replaced_cancel_replace_form() -> None:
    event = server("orders_event_r.json")
    assert event.old_order.status == "REPLACED"
    assert event.old_order.remaining_quantity == 0
    assert event.new_venue_order_id == "O-01JQ3N0011KKKKMMMMNNNNPPPP"
    assert event.new_order is not None
    assert event.new_order.venue_order_id == event.new_venue_order_id
    assert event.new_order.status == "ACCEPTED"
    assert (event.new_order.price, event.new_order.quantity) == (D("1.0915"), 250)
    assert event.old_order.cid == event.new_order.cid == BIG_CID


def test_replaced_amend_form() -> None:
    event = server("orders_event_r_amend.json")
    assert event.new_venue_order_id is None
    assert event.new_order is None
    assert event.old_order.venue_order_id == "O-01JQ3M8Z4R6T9V2X5B7D0F1H3K"
    assert event.old_order.status == "PARTIALLY_FILLED"
    assert event.old_order.quantity == 350


# ---------------------------------------------------------------------------------------------
# Tolerance


def _with_extras(obj: Any) -> Any:
    """Add unknown keys at every object level."""
    if isinstance(obj, dict):
        out = {k: _with_extras(v) for k, v in obj.items()}
        out["zz_new"] = {"nested": [1, "two", None]}
        out["fee"] = "0.01"
        return out
    if isinstance(obj, list):
        return [_with_extras(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", sorted(SERVER_FRAMES))
def test_unknown_fields_are_ignored(name: str) -> None:
    extended = json.dumps(_with_extras(json.loads(raw(name))), separators=(",", ":"))
    assert decode_server_frame(extended) == server(name)


@pytest.mark.parametrize("name", sorted(SERVER_FRAMES))
def test_key_order_does_not_matter(name: str) -> None:
    obj = json.loads(raw(name))
    reordered = json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":"))
    assert decode_server_frame(reordered) == server(name)


@pytest.mark.parametrize("cid", [0, 2**63 - 1, 2**63, BIG_CID, MAX_CID])
def test_cid_is_unsigned_64_bit(cid: int) -> None:
    obj = json.loads(raw("orders_event_n.json"))
    obj["o"]["cid"] = cid
    event = decode_server_frame(json.dumps(obj, separators=(",", ":")))
    assert isinstance(event, AcknowledgedMsg)
    assert event.order.cid == cid
    status = decode_server_frame(
        b'{"rid":1,"res":{"status":{"symbol":"S","order_id":"O-1","clord_id":%d,'
        b'"state":"FILLED","filled_quantity":1,"remaining_quantity":0}}}' % cid
    )
    assert isinstance(status, ResultReply)
    assert status.result.status is not None
    assert status.result.status.clord_id == cid


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.0905", D("1.0905")),
        ("1.09050", D("1.09050")),
        ("2720", D("2720")),
        ("0.000001", D("0.000001")),
        ("1.138800000000", D("1.138800000000")),
    ],
)
def test_prices_are_decimals_from_strings(text: str, value: Decimal) -> None:
    obj = json.loads(raw("orders_event_p.json"))
    obj["o"]["p"] = text
    obj["xs"]["p"] = text
    event = decode_server_frame(json.dumps(obj, separators=(",", ":")))
    assert isinstance(event, PartiallyFilledMsg)
    for price in (event.order.price, event.execution.price):
        assert type(price) is Decimal
        assert price == value
        assert str(price) == text  # exact digits, no float detour


@pytest.mark.parametrize(
    "frame",
    [
        b'{"t":"zz","ts":1}',
        b'{"t":"a","rid":101}',
        b'{"t":"z"}',
        b'{"t":"","x":1}',
        b'{"t":"N","ts":1}',
        b'{"t":"hh"}',
    ],
)
def test_unknown_tag_is_an_unknown_frame(frame: bytes) -> None:
    message = decode_server_frame(frame)
    assert isinstance(message, UnknownFrame)
    assert message.tag == json.loads(frame)["t"]
    assert message.text == frame.decode()
    assert message.reason


def test_unknown_tag_with_leading_space_uses_the_generic_path() -> None:
    message = decode_server_frame(b' {"t":"zz"}')
    assert isinstance(message, UnknownFrame)
    assert message.tag == "zz"


def _mutated(name: str, path: list[Any], value: Any, drop: bool = False) -> str:
    obj = json.loads(raw(name))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(obj, separators=(",", ":"))


@pytest.mark.parametrize(
    "frame",
    [
        _mutated("orders_event_n.json", ["o"], None, drop=True),  # no order
        _mutated("orders_event_n.json", ["o"], None),
        _mutated("orders_event_n.json", ["o"], []),
        _mutated("orders_event_n.json", ["ts"], "soon"),
        _mutated("orders_event_n.json", ["o", "q"], "200"),
        _mutated("orders_event_n.json", ["o", "q"], 1.5),
        _mutated("orders_event_n.json", ["o", "d"], "BUY"),
        _mutated("orders_event_n.json", ["o", "oid"], 12),
        _mutated("orders_event_n.json", ["o", "cid"], -1.0),
        _mutated("orders_event_n.json", ["o", "p"], "one"),
        _mutated("orders_event_n.json", ["o", "ts"], None, drop=True),
        _mutated("orders_event_f.json", ["xs"], None, drop=True),
        _mutated("orders_event_f.json", ["xs", "agg"], "yes"),
        _mutated("orders_event_r.json", ["ro"], None, drop=True),
        _mutated("orders_event_r.json", ["no"], "O-1"),
        _mutated("orders_event_h.json", ["ts"], [1]),
        _mutated("orders_event_j.json", ["r"], 7),
        _mutated("orders_event_c.json", ["xr"], None),
        _mutated("orders_event_e.json", ["oid"], False),
        '{"t":1}',
        '{"t":null,"rid":1}',
        '{"t":["n"]}',
    ],
)
def test_event_of_the_wrong_shape_is_an_unknown_frame(frame: str) -> None:
    message = decode_server_frame(frame)
    assert isinstance(message, UnknownFrame)
    assert message.text == frame
    assert message.reason


@pytest.mark.parametrize(
    "frame",
    [
        b"{}",
        b'{"rid":1}',
        b'{"rid":1,"res":null}',
        b'{"res":{"oid":"O-1"}}',  # a result without rid cannot be matched
        b'{"rid":true,"res":{}}',
        b'{"rid":"1","res":{}}',
        b'{"rid":1,"res":[]}',
        b'{"rid":1,"res":["O-1"]}',  # the obsolete bare-array open-orders form
        b'{"rid":1,"res":{"oid":7}}',
        b'{"rid":1,"err":"boom"}',
        b'{"rid":1,"err":{"msg":"no code"}}',
        b'{"rid":1,"err":{"code":"400"}}',
        b'{"rid":0,"res":{"li":"U","o":[{"oid":"O-1"}]}}',
        b'{"hello":"world"}',
    ],
)
def test_reply_of_the_wrong_shape_is_an_unknown_frame(frame: bytes) -> None:
    message = decode_server_frame(frame)
    assert isinstance(message, UnknownFrame)
    assert message.tag is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"   ",
        b"{",
        b'{"t":"h"',
        b'{"t":"h",}',
        b'{"t":"h"} {"t":"h"}',
        b'{"rid":1,"res":{"oid":"O-1"}',
        b"{'t':'h'}",
        b'{"t":"h","ts":NaN}',
        b'{"t":"h","ts":1e400}',
        b"\xff\xfe{}",
        b'{"t":"zz","x":"\xff"}',
        b'{"rid":1,"res":{"oid":"\xc3"}}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"t":"n","o":' + b"[" * 5000 + b"]" * 5000 + b"}",
        '{"t":"zz","x":"\ud800"}'.encode("utf-8", "surrogatepass"),
    ],
)
def test_malformed_json_raises_remote_protocol_error(frame: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_server_frame(frame)


def test_text_with_lone_surrogate_raises_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_server_frame('{"t":"h","x":"\ud800"}')


@pytest.mark.parametrize("frame", [b"[]", b'[{"t":"h"}]', b'"h"', b"1", b"null", b"true", b"1.5"])
def test_non_object_json_is_an_unknown_frame(frame: bytes) -> None:
    message = decode_server_frame(frame)
    assert isinstance(message, UnknownFrame)
    assert message.reason == "not a JSON object"
    assert message.text == frame.decode()


# ---------------------------------------------------------------------------------------------
# Encoding


def _keys(data: bytes) -> list[str]:
    return list(json.loads(data))


def test_encode_place_full() -> None:
    request = PlaceRequest(
        request_id=21,
        symbol="EURUSD-PERP",
        side=Side.BUY,
        quantity=200,
        price=D("1.09050"),
        time_in_force="GTC",
        post_only=True,
        cid=2**63 - 1,
        tag="alpha",
        reprice="bo",
    )
    data = encode(request)
    assert data == (
        b'{"t":"p","rid":21,"s":"EURUSD-PERP","d":"B","q":200,"p":"1.09050","tif":"GTC",'
        b'"po":true,"cid":9223372036854775807,"tag":"alpha","rb":"bo"}'
    )
    assert decode_client_frame(data) == request
    assert decode_client_frame(compact("orders_req_place.json")) == request


def test_encode_place_minimal_writes_po_and_no_nulls() -> None:
    request = PlaceRequest(
        request_id=22,
        symbol="XAU-PERP",
        side=Side.SELL,
        quantity=1,
        price=D("2715.0"),
        time_in_force="IOC",
        post_only=False,
    )
    data = encode(request)
    assert data == (
        b'{"t":"p","rid":22,"s":"XAU-PERP","d":"S","q":1,"p":"2715.0","tif":"IOC","po":false}'
    )
    assert b"null" not in data
    assert decode_client_frame(data) == client("orders_req_place_minimal.json")


def test_encode_place_has_no_order_type_or_trigger() -> None:
    data = encode(
        PlaceRequest(
            request_id=1,
            symbol="S",
            side=Side.BUY,
            quantity=1,
            price=D(1),
            time_in_force="GTC",
            post_only=False,
        )
    )
    assert not {"order_type", "trigger_price", "type"} & set(_keys(data))


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (CancelRequest(request_id=23, venue_order_id="O-A"), b'{"t":"x","rid":23,"oid":"O-A"}'),
        (
            CancelRequest(request_id=24, cid=MAX_CID, account_id=ACCOUNT),
            b'{"t":"x","rid":24,"cid":18446744073709551615,"aid":"ACC-7QK2-01"}',
        ),
        (CancelAllRequest(request_id=25), b'{"t":"X","rid":25}'),
        (
            CancelAllRequest(request_id=26, symbol="EURUSD-PERP"),
            b'{"t":"X","rid":26,"symbol":"EURUSD-PERP"}',
        ),
        (OpenOrdersRequest(request_id=27), b'{"t":"o","rid":27}'),
        (
            ReplaceRequest(
                request_id=28,
                venue_order_id="O-B",
                price=D("1.0915"),
                quantity=250,
                time_in_force="GTC",
                post_only=True,
            ),
            b'{"t":"r","rid":28,"oid":"O-B","p":"1.0915","q":250,"tif":"GTC","po":true}',
        ),
        (
            ReplaceRequest(request_id=29, venue_order_id="O-B", price=D("1.0916")),
            b'{"t":"r","rid":29,"oid":"O-B","p":"1.0916"}',
        ),
        (
            ReplaceRequest(request_id=29, venue_order_id="O-B", quantity=5, post_only=False),
            b'{"t":"r","rid":29,"oid":"O-B","q":5,"po":false}',
        ),
        (StatusRequest(request_id=30, venue_order_id="O-C"), b'{"t":"s","rid":30,"oid":"O-C"}'),
        (StatusRequest(request_id=31, cid=77), b'{"t":"s","rid":31,"cid":77}'),
    ],
)
def test_encode_requests_exactly(request_: Any, expected: bytes) -> None:
    data = encode(request_)
    assert data == expected
    assert b"null" not in data
    assert decode_client_frame(data) == request_


def test_request_fixtures_round_trip() -> None:
    for name in CLIENT_FRAMES:
        request = client(name)
        again = encode(request)
        assert json.loads(again) == json.loads(raw(name)), name
        assert decode_client_frame(again) == request


@pytest.mark.parametrize(
    ("name", "order_key"),
    [
        ("orders_event_n.json", "o"),
        ("orders_event_p.json", "o"),
        ("orders_event_f.json", "o"),
        ("orders_event_c.json", "o"),
        ("orders_event_j.json", "o"),
        ("orders_event_x.json", "o"),
        ("orders_event_d.json", "o"),
        ("orders_event_r.json", "ro"),
        ("orders_event_r_amend.json", "ro"),
    ],
)
def test_encode_events_follow_the_venue_key_order(name: str, order_key: str) -> None:
    # What the simulator writes: the keys and their order as the venue's captures show them.
    event = server(name)
    data = encode(event)
    original = json.loads(raw(name))
    assert json.loads(data) == original
    assert _keys(data) == list(original)
    assert list(json.loads(data)[order_key]) == list(original[order_key])
    assert data.startswith(b'{"t":"')
    assert decode_server_frame(data) == event


def test_encode_rejected_writes_null_reason() -> None:
    event = server("orders_event_j_post_only.json")
    data = json.loads(encode(event))
    assert data["r"] is None
    assert data["txt"] == "post-only order would cross the book"


def test_encode_order_body_omits_absent_optionals() -> None:
    body = OrderBody(
        venue_order_id="O-1",
        symbol="EURUSD-PERP",
        price=D("1.1"),
        quantity=100,
        filled_quantity=0,
        remaining_quantity=100,
        status="ACCEPTED",
        side=Side.BUY,
        time_in_force="GTC",
        ts=1,
    )
    assert encode(body) == (
        b'{"oid":"O-1","s":"EURUSD-PERP","p":"1.1","q":100,"xq":0,"rq":100,"o":"ACCEPTED",'
        b'"d":"B","tif":"GTC","ts":1}'
    )


def test_encode_execution_writes_agg_false() -> None:
    execution = Execution(
        trade_id="T-1", symbol="S", quantity=1, price=D("2"), side=Side.SELL, aggressor=False
    )
    assert json.loads(encode(execution))["agg"] is False


def test_encode_login_and_results() -> None:
    assert encode_login(LoginResult(login_id=USER, orders=None, cancel_on_disconnect=False)) == (
        b'{"rid":0,"res":{"li":"U-7QK2-0042","o":null,"cod":false}}'
    )
    assert decode_server_frame(
        encode_login(LoginResult(login_id=USER, orders=None, cancel_on_disconnect=False))
    ) == server("orders_login_empty.json")
    assert encode_result(5, ResultBody()) == b'{"rid":5,"res":{}}'
    assert encode_result(2, ResultBody(cancel_received=True)) == b'{"rid":2,"res":{"cxl_rx":true}}'
    assert encode_result(1, ResultBody(venue_order_id="O-9")) == b'{"rid":1,"res":{"oid":"O-9"}}'


def test_encode_errors() -> None:
    assert encode_error(2, 404, "no matching orders") == (
        b'{"rid":2,"err":{"code":404,"msg":"no matching orders"}}'
    )
    assert encode_error(None, 500, "down") == b'{"err":{"code":500,"msg":"down"}}'
    assert encode_error(3, 409, "later", data="x") == (
        b'{"rid":3,"err":{"code":409,"msg":"later","data":"x"}}'
    )
    for name in ("orders_err.json", "orders_err_no_rid.json", "orders_err_data.json"):
        reply = server(name)
        again = encode_error(
            reply.request_id, reply.error.code, reply.error.message, reply.error.data
        )
        assert json.loads(again) == json.loads(raw(name))


# ---------------------------------------------------------------------------------------------
# decode_client_frame: refusals


@pytest.mark.parametrize(
    ("frame", "rid"),
    [
        (b'{"rid":7,"t":"q"}', 7),  # unknown request type
        (b'{"rid":7,"t":"n"}', 7),  # an event letter the client never sends
        (b'{"rid":7,"t":"p","s":"EURUSD-PERP"}', 7),  # missing fields
        (b'{"rid":7,"t":"p","s":"E","d":"BUY","q":1,"p":"1","tif":"GTC","po":false}', 7),
        (b'{"rid":7,"t":"p","s":"E","d":"B","q":"1","p":"1","tif":"GTC","po":false}', 7),
        (b'{"rid":7,"t":"p","s":"E","d":"B","q":1.5,"p":"1","tif":"GTC","po":false}', 7),
        (b'{"rid":7,"t":"p","s":"E","d":"B","q":1,"p":"1","tif":"GTC","po":"yes"}', 7),
        (
            b'{"rid":7,"t":"p","s":"E","d":"B","q":99999999999999999999,"p":"1","tif":"GTC",'
            b'"po":false}',
            7,
        ),
        (b'{"rid":7,"t":"r","p":"1.1"}', 7),  # replace without oid
        (b'{"rid":7,"t":"r","oid":"O-1","q":1e30}', 7),
        (b'{"request_id":8,"t":"o"}', 8),  # the alias is read for the error's rid
        (b'{"t":"o"}', None),
        (b'{"rid":"7","t":"o"}', None),
        (b'{"rid":true,"t":"o"}', None),
        (b'{"rid":1.5,"t":"o"}', None),
        (b'{"rid":7}', 7),
        (b"[]", None),
        (b'"p"', None),
        (b"null", None),
    ],
)
def test_decode_client_frame_bad_requests(frame: bytes, rid: int | None) -> None:
    result = decode_client_frame(frame)
    assert isinstance(result, BadRequest)
    assert result.request_id == rid
    assert result.message


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"{",
        b'{"rid":7,"t":"o"',
        b"not json",
        b"\xff",
        b'{"rid":7,"t":"p","s":"\xff"}',
        b"[" * 5000,
        b'{"rid":7,"t":"x","oid":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_decode_client_frame_malformed(frame: bytes) -> None:
    result = decode_client_frame(frame)
    assert isinstance(result, BadRequest)
    assert result.request_id is None


def test_decode_client_frame_str_with_surrogate() -> None:
    result = decode_client_frame('{"rid":1,"t":"x","oid":"\ud800"}')
    assert isinstance(result, BadRequest)


def test_decode_client_frame_ignores_unknown_fields() -> None:
    frame = (
        b'{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":10,"p":"1.08500","tif":"GTC",'
        b'"po":true,"cid":4694084538830600987,"tag":"Nautilus","stp":"cancel-both","extra":{}}'
    )
    request = decode_client_frame(frame)
    assert isinstance(request, PlaceRequest)
    assert request.cid == 4694084538830600987
    assert request.price == D("1.08500")
    assert str(request.price) == "1.08500"


def test_decode_client_frame_reads_a_number_price_exactly() -> None:
    # Prices are strings on the wire; a JSON number is tolerated and read without a float.
    request = decode_client_frame(
        b'{"rid":1,"t":"p","s":"E","d":"B","q":1,"p":1.10,"tif":"GTC","po":false}'
    )
    assert isinstance(request, PlaceRequest)
    assert str(request.price) == "1.10"


def test_decode_client_frame_keeps_negative_values_for_the_venue_to_refuse() -> None:
    request = decode_client_frame(
        b'{"rid":1,"t":"p","s":"E","d":"B","q":-5,"p":"-1","tif":"FOK","po":false,"cid":-1}'
    )
    assert isinstance(request, PlaceRequest)
    assert (request.quantity, request.price, request.cid) == (-5, D(-1), -1)
    assert request.time_in_force == "FOK"


def test_decoders_are_msgspec_free_at_the_boundary() -> None:
    # Nothing msgspec-specific leaks: every failure above is a project type or exception.
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_frame(b"{")
    assert not isinstance(info.value, msgspec.MsgspecError)
