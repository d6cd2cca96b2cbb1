"""Wire codec properties: encode then decode gives the same message back, for every request,
event and reply; and decoding arbitrary or damaged input raises nothing but
RemoteProtocolError (the client-side decoder never raises at all).
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axorders.exceptions import RemoteProtocolError
from axorders.model import Side
from axorders.wire import rest as wr
from axorders.wire.md import (
    BookLevel,
    L1BookMsg,
    L2BookMsg,
    MdHeartbeatMsg,
    SubscribeRequest,
    TickerMsg,
    TradeMsg,
    UnsubscribeRequest,
    decode_md_request,
    decode_md_server_frame,
    encode_md,
)
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
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]

QUICK = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# Building blocks

U64 = st.integers(min_value=0, max_value=2**64 - 1)
I64 = st.integers(min_value=0, max_value=2**63 - 1)
RID = st.integers(min_value=0, max_value=2**31 - 1)
SECONDS = st.integers(min_value=0, max_value=2**33)
NANOS = st.integers(min_value=0, max_value=999_999_999)
TEXT = st.text(max_size=20)
IDS = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ-", min_size=1, max_size=28)
SYMBOLS = st.sampled_from(["EURUSD-PERP", "XAU-PERP", "JPYUSD-PERP", "XAU-2026-DEC", "S"])
SIDES = st.sampled_from(Side)
TIFS = st.sampled_from(["GTC", "IOC", "DAY"]) | TEXT
STATES = st.sampled_from(
    ["PENDING", "ACCEPTED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED",
     "REPLACED", "DONE_FOR_DAY", "UNKNOWN", "SOMETHING_NEW"]
)  # fmt: skip


@st.composite
def prices(draw: st.DrawFn) -> Decimal:
    """Decimal prices as the venue writes them: any digits, any exponent, sometimes negative."""
    digits = draw(st.integers(min_value=0, max_value=10**18))
    exponent = draw(st.integers(min_value=-12, max_value=6))
    sign = draw(st.sampled_from([1, 1, 1, -1]))
    return Decimal(sign * digits).scaleb(exponent)


@st.composite
def venue_prices(draw: st.DrawFn) -> Decimal:
    """Prices a sane venue writes: positive, below 10**15, at most 12 decimals."""
    digits = draw(st.integers(min_value=1, max_value=10**14))
    exponent = draw(st.integers(min_value=-12, max_value=0))
    return Decimal(digits).scaleb(exponent)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


order_bodies = st.builds(
    OrderBody,
    venue_order_id=IDS,
    user_id=TEXT,
    account_id=maybe(TEXT),
    symbol=SYMBOLS,
    price=venue_prices(),
    quantity=I64,
    filled_quantity=I64,
    remaining_quantity=I64,
    status=STATES,
    side=SIDES,
    time_in_force=TIFS,
    cid=maybe(U64),
    tag=maybe(TEXT),
    post_only=maybe(st.booleans()),
    reprice=maybe(st.sampled_from(["rej", "bo", "tbl"])),
    reject_reason=maybe(TEXT),
    text=maybe(TEXT),
    ts=SECONDS,
    tn=NANOS,
)

executions = st.builds(
    Execution,
    trade_id=IDS,
    account_id=maybe(TEXT),
    symbol=SYMBOLS,
    quantity=I64,
    price=venue_prices(),
    side=SIDES,
    aggressor=st.booleans(),
)

_event_common: dict[str, Any] = {"ts": SECONDS, "tn": NANOS, "event_id": TEXT}

events = st.one_of(
    st.builds(HeartbeatMsg, ts=SECONDS, tn=NANOS),
    st.just(KeepAliveMsg()),
    st.builds(AcknowledgedMsg, order=order_bodies, **_event_common),
    st.builds(PartiallyFilledMsg, order=order_bodies, execution=executions, **_event_common),
    st.builds(FilledMsg, order=order_bodies, execution=executions, **_event_common),
    st.builds(CanceledMsg, order=order_bodies, reason=TEXT, text=TEXT, **_event_common),
    st.builds(
        RejectedMsg,
        order=order_bodies,
        reject_reason=maybe(TEXT),
        text=maybe(TEXT),
        **_event_common,
    ),
    st.builds(ExpiredMsg, order=order_bodies, **_event_common),
    st.builds(DoneForDayMsg, order=order_bodies, **_event_common),
    st.builds(
        ReplacedMsg,
        old_order=order_bodies,
        new_venue_order_id=maybe(IDS),
        new_order=maybe(order_bodies),
        **_event_common,
    ),
    st.builds(
        CancelRejectedMsg,
        ts=SECONDS,
        tn=NANOS,
        venue_order_id=maybe(IDS),
        reject_reason=TEXT,
        text=TEXT,
        cid=maybe(U64),
        order=maybe(order_bodies),
    ),
)

status_bodies = st.builds(
    StatusBody,
    symbol=SYMBOLS,
    order_id=IDS,
    clord_id=maybe(U64),
    state=STATES,
    filled_quantity=I64,
    remaining_quantity=I64,
    reject_reason=maybe(TEXT),
    reject_message=maybe(TEXT),
)

result_bodies = st.one_of(
    st.builds(ResultBody, venue_order_id=IDS),  # place, replace
    st.builds(ResultBody, cancel_received=st.booleans()),  # cancel
    st.builds(ResultBody, orders=st.lists(order_bodies, max_size=3)),  # open orders
    st.builds(ResultBody, status=status_bodies),  # order status
    st.just(ResultBody()),  # cancel all
    st.builds(
        ResultBody,
        login_id=TEXT,
        login_orders=maybe(st.lists(order_bodies, max_size=3)),
        cancel_on_disconnect=maybe(st.booleans()),
        client_heartbeat=maybe(st.integers(min_value=0, max_value=3600)),
    ),
)

error_bodies = st.builds(
    ErrorBody, code=st.integers(100, 599), message=maybe(TEXT), data=maybe(TEXT)
)

requests = st.one_of(
    st.builds(
        PlaceRequest,
        request_id=RID,
        symbol=SYMBOLS,
        side=SIDES,
        quantity=I64,
        price=prices(),
        time_in_force=TIFS,
        post_only=st.booleans(),
        cid=maybe(U64),
        tag=maybe(TEXT),
        reprice=maybe(st.sampled_from(["rej", "bo", "tbl"])),
    ),
    st.builds(
        CancelRequest,
        request_id=RID,
        venue_order_id=maybe(IDS),
        cid=maybe(U64),
        account_id=maybe(TEXT),
    ),
    st.builds(CancelAllRequest, request_id=RID, symbol=maybe(SYMBOLS)),
    st.builds(OpenOrdersRequest, request_id=RID),
    st.builds(
        ReplaceRequest,
        request_id=RID,
        venue_order_id=IDS,
        price=maybe(prices()),
        quantity=maybe(I64),
        time_in_force=maybe(TIFS),
        post_only=maybe(st.booleans()),
    ),
    st.builds(StatusRequest, request_id=RID, venue_order_id=maybe(IDS), cid=maybe(U64)),
)

levels = st.lists(st.builds(BookLevel, price=prices(), quantity=U64), max_size=4)
md_events = st.one_of(
    st.builds(L1BookMsg, ts=SECONDS, tn=NANOS, symbol=SYMBOLS, bids=levels, asks=levels,
              snapshot=maybe(st.booleans())),
    st.builds(L2BookMsg, ts=SECONDS, tn=NANOS, symbol=SYMBOLS, bids=levels, asks=levels,
              snapshot=maybe(st.booleans())),
    st.builds(TradeMsg, price=prices(), quantity=U64, symbol=SYMBOLS, side=SIDES, ts=SECONDS,
              tn=NANOS),
    st.builds(TickerMsg, ts=SECONDS, tn=NANOS, symbol=SYMBOLS, last_price=maybe(prices()),
              last_quantity=maybe(U64), open=maybe(prices()), low=maybe(prices()),
              high=maybe(prices()), volume=maybe(U64), open_interest=maybe(U64),
              state=maybe(TEXT), mark=maybe(prices()), bid=maybe(prices()), ask=maybe(prices()),
              band_lower=maybe(prices()), band_upper=maybe(prices()),
              last_settlement_price=maybe(prices()), last_settlement_time=maybe(SECONDS)),
    st.builds(MdHeartbeatMsg, ts=SECONDS, tn=NANOS),
)  # fmt: skip
md_requests = st.one_of(
    st.builds(SubscribeRequest, rid=RID, symbol=SYMBOLS,
              level=st.sampled_from(["LEVEL_1", "LEVEL_2", "LEVEL_3", "TRADES"]),
              trades=maybe(st.booleans()), ticker=maybe(st.booleans())),
    st.builds(UnsubscribeRequest, rid=RID, symbol=SYMBOLS),
)  # fmt: skip


def same(a: Any, b: Any) -> None:
    """Equal as values, and equal once written again (so Decimal digits survive too)."""
    assert a == b
    assert encode(a) == encode(b)


# ---------------------------------------------------------------------------------------------
# Round trips


@QUICK
@given(events)
def test_event_round_trip(event: Any) -> None:
    data = encode(event)
    assert data.startswith(b'{"t":"')
    same(decode_server_frame(data), event)
    same(decode_server_frame(data.decode()), event)
    # the generic path (not starting with {"t":") agrees with the fast path
    same(decode_server_frame(b" " + data), event)


@QUICK
@given(
    events.filter(lambda e: hasattr(e, "order") and e.order is not None),
    st.sampled_from(["price", "cid", "ts", "tn"]),
    st.sampled_from(
        ["0", "-1.13", "1e400", "1E+999999999", "NaN", "1." + "0" * 5000 + "1", 2**64, -1]
    ),
)
def test_values_out_of_range_become_unknown_frames(event: Any, field: str, bad: Any) -> None:
    """Prices, cids and times out of range never decode into an event (issue 11)."""
    obj = json.loads(encode(event))
    key = {"price": "p", "cid": "cid", "ts": "ts", "tn": "tn"}[field]
    if field == "price":
        if not isinstance(bad, str):
            bad = str(bad)
    elif isinstance(bad, str):
        bad = 2**64 if field == "cid" else -1
    if field == "tn" and bad == 2**64:
        bad = 2**32  # past an unsigned 32-bit tn
    obj["o"][key] = bad
    data = json.dumps(obj).encode()
    msg = decode_server_frame(data)
    assert isinstance(msg, UnknownFrame), msg
    if field in ("price", "cid"):
        assert msg.venue_order_id == obj["o"]["oid"]


@QUICK
@given(RID, result_bodies)
def test_result_reply_round_trip(rid: int, body: ResultBody) -> None:
    data = encode_result(rid, body)
    same(decode_server_frame(data), ResultReply(rid, body))
    same(decode_server_frame(b" " + data), ResultReply(rid, body))


@QUICK
@given(maybe(RID), error_bodies)
def test_error_reply_round_trip(rid: int | None, body: ErrorBody) -> None:
    data = encode_error(rid, body.code, body.message or "", body.data)
    expected = ErrorReply(
        rid, ErrorBody(code=body.code, message=body.message or "", data=body.data)
    )
    same(decode_server_frame(data), expected)


@QUICK
@given(TEXT, maybe(st.lists(order_bodies, max_size=3)), st.booleans())
def test_login_round_trip(login_id: str, orders: list[OrderBody] | None, cod: bool) -> None:
    data = encode_login(LoginResult(login_id=login_id, orders=orders, cancel_on_disconnect=cod))
    assert b'"o":' in data  # written even when null
    reply = decode_server_frame(data)
    assert reply == ResultReply(
        0, ResultBody(login_id=login_id, login_orders=orders, cancel_on_disconnect=cod)
    )


@QUICK
@given(requests)
def test_request_round_trip(request: Any) -> None:
    data = encode(request)
    assert None not in json.loads(data).values()  # absent fields are left out, never null
    same(decode_client_frame(data), request)
    same(decode_client_frame(data.decode()), request)


@QUICK
@given(md_events)
def test_md_event_round_trip(event: Any) -> None:
    data = encode_md(event)
    decoded = decode_md_server_frame(data)
    assert decoded == event
    assert decoded is not None
    assert encode_md(decoded) == data


@QUICK
@given(md_requests)
def test_md_request_round_trip(request: Any) -> None:
    data = encode_md(request)
    decoded = decode_md_request(data)
    assert decoded == request
    assert decoded is not None
    assert encode_md(decoded) == data


@QUICK
@given(st.lists(order_bodies, max_size=3), st.integers(0, 1000), st.integers(1, 500))
def test_rest_open_orders_round_trip(orders: list[OrderBody], total: int, limit: int) -> None:
    page = wr.OpenOrdersPage(orders=orders, total_count=total, limit=limit, offset=0)
    assert wr.decode_rest(wr.encode_rest(page), wr.OpenOrdersPage) == page


# ---------------------------------------------------------------------------------------------
# Decoding never raises anything else


def check_all_decoders(data: bytes | str) -> None:
    try:
        result = decode_server_frame(data)
    except RemoteProtocolError:
        pass
    else:
        if isinstance(result, UnknownFrame):
            assert isinstance(result.text, str)
    client = decode_client_frame(data)  # never raises
    if isinstance(client, BadRequest):
        assert client.request_id is None or isinstance(client.request_id, int)
    with contextlib.suppress(RemoteProtocolError):
        decode_md_server_frame(data)
    decode_md_request(data)
    for kind in (wr.OpenOrdersPage, wr.FillsPage, wr.InstrumentsResponse):
        with contextlib.suppress(RemoteProtocolError):
            wr.decode_rest(data, kind)


@QUICK
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    check_all_decoders(data)


@QUICK
@given(st.text(max_size=200))
def test_arbitrary_text(data: str) -> None:
    check_all_decoders(data)


@QUICK
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 10**6),
                  st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=6,
    ),
)  # fmt: skip
def test_damaged_fixture_bytes(seed: bytes, edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(seed)
    for op, where, chunk in edits:
        if not data:
            break
        at = where % len(data)
        if op == "flip":
            data[at] ^= chunk[0] or 1
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = chunk
        else:
            del data[at : at + len(chunk)]
    check_all_decoders(bytes(data))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(["NaN", "Infinity", "-0", "1e999999", "", "B", "S", "h", "n", "r"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.extend(_paths(value, (*prefix, i)))
    return found


@QUICK
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_fixture_values(seed: bytes, data: st.DataObject) -> None:
    obj = json.loads(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(obj)))
        value = data.draw(json_values)
        if not path:
            obj = value
            continue
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    text = json.dumps(obj, separators=(",", ":"))
    check_all_decoders(text)
    check_all_decoders(text.encode())


@QUICK
@given(st.sampled_from(SEEDS), st.text(min_size=1, max_size=3), st.sampled_from(["t", "rid", "o"]))
def test_renamed_keys(seed: bytes, new_key: str, old_key: str) -> None:
    obj = json.loads(seed)
    if isinstance(obj, dict) and old_key in obj:
        obj[new_key] = obj.pop(old_key)
    check_all_decoders(json.dumps(obj))
