"""Orders WebSocket wire messages (SPEC §5–§8), both directions.

This module and its siblings in :mod:`axorders.wire` are the only places that know the venue's
JSON keys. Every struct spells its fields out in Python and maps them to the venue's compact
keys with ``rename``; the comment after each field names the key.

Decoding is as tolerant as the venue requires: unknown keys are ignored, ``request_id`` /
``result`` / ``error`` are accepted for ``rid`` / ``res`` / ``err``, ``"err": null`` next to
``res`` is fine, ``cid`` is an unsigned 64-bit integer and prices are Decimals parsed from
strings. Inbound numbers are checked: prices finite, positive and of bounded size, times within
0 <= t < 2**63 ns, ``cid`` within the unsigned 64-bit range, quantities not negative. Anything
with an unknown ``t``, a value out of range or a shape that matches nothing comes back as an
:class:`UnknownFrame` (never an exception). Malformed JSON raises
:class:`~axorders.exceptions.RemoteProtocolError`.

Encoding writes exactly the venue's keys and leaves absent optional fields out.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Final, TypeAlias

import msgspec

from axorders.exceptions import RemoteProtocolError
from axorders.model import Side

__all__ = [
    "AcknowledgedMsg",
    "BadRequest",
    "CancelAllRequest",
    "CancelRejectedMsg",
    "CancelRequest",
    "CanceledMsg",
    "ClientRequest",
    "DoneForDayMsg",
    "ErrorBody",
    "ErrorReply",
    "Execution",
    "ExpiredMsg",
    "FilledMsg",
    "HeartbeatMsg",
    "KeepAliveMsg",
    "LoginResult",
    "OpenOrdersRequest",
    "OrderBody",
    "PartiallyFilledMsg",
    "PlaceRequest",
    "RejectedMsg",
    "ReplaceRequest",
    "ReplacedMsg",
    "ReplyFrame",
    "ResultBody",
    "ResultReply",
    "ServerEvent",
    "ServerMessage",
    "StatusBody",
    "StatusRequest",
    "UnknownFrame",
    "decode_client_frame",
    "decode_server_frame",
    "encode",
    "encode_error",
    "encode_login",
    "encode_result",
]

# A request quantity (``q``) above the int64 range is refused as a bad request: it keeps absurd
# values (``1e30`` contracts) out of the simulator's decimal arithmetic. Negative values still
# decode so that the venue's own refusal answers them. (msgspec bounds stop at int64.)
_Quantity = Annotated[int, msgspec.Meta(le=2**63 - 1)]

# A quantity the venue reports (order and execution quantities): never negative, and within the
# int64 range. msgspec checks both while decoding; a frame outside them is an UnknownFrame.
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

# Venue times: ``ts`` seconds and ``tn`` nanoseconds, so that ``ts * 10**9 + tn`` stays within
# 0 <= t < 2**63 ns. ``tn`` is meant to be below 10**9, but shapes with a larger one exist (a
# listing whose ``tn`` repeats ``ts``); it is read as an unsigned 32-bit value, a few seconds at
# most, rather than refusing the whole frame. A frame outside them is an UnknownFrame.
_MAX_TN: Final = 2**32 - 1
_Seconds = Annotated[int, msgspec.Meta(ge=0, le=(2**63 - 1 - _MAX_TN) // 1_000_000_000)]
_Nanos = Annotated[int, msgspec.Meta(ge=0, le=_MAX_TN)]

# A ``cid`` is an unsigned 64-bit integer. msgspec bounds stop at int64, so the upper bound
# (``MAX_CID``) is checked after decoding, with the prices.
_Cid = Annotated[int, msgspec.Meta(ge=0)]
MAX_CID: Final = 2**64 - 1

# A sane price: at least ``MIN_PRICE``, below ``MAX_PRICE``, and at most 76 significant digits
# (a Decimal's size grows with its coefficient; a 76-digit one is the largest of the smallest
# size, so the check is one C call, not a walk over the digits).
MIN_PRICE: Final = Decimal("1E-12")
MAX_PRICE: Final = Decimal("1E+15")
_PRICE_SIZE: Final = Decimal(1).__sizeof__()

# What the decoders turn into RemoteProtocolError besides msgspec.DecodeError: invalid UTF-8
# inside a string, a ``str`` frame holding lone surrogates, or nesting too deep to parse.
_UNREADABLE: Final = (UnicodeError, RecursionError)

_ORDER_KEYS: Final = {
    "venue_order_id": "oid",
    "user_id": "u",
    "account_id": "aid",
    "symbol": "s",
    "price": "p",
    "quantity": "q",
    "filled_quantity": "xq",
    "remaining_quantity": "rq",
    "status": "o",
    "side": "d",
    "time_in_force": "tif",
    "cid": "cid",
    "tag": "tag",
    "post_only": "po",
    "reprice": "rb",
    "reject_reason": "r",
    "text": "txt",
    "ts": "ts",
    "tn": "tn",
}


class OrderBody(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, rename=_ORDER_KEYS):
    """The venue's order object (SPEC §6), in login, open-orders, events and REST pages."""

    venue_order_id: str  # oid
    user_id: str = ""  # u
    account_id: str | None = None  # aid (newer API)
    symbol: str  # s
    price: Decimal  # p, decimal string
    quantity: _Count  # q, contracts
    filled_quantity: _Count  # xq
    remaining_quantity: _Count  # rq
    status: str  # o, mapped with OrderStatus.from_wire (unknown -> UNKNOWN)
    side: Side  # d, "B"/"S"
    time_in_force: str  # tif
    cid: _Cid | None = None  # cid, unsigned 64-bit
    tag: str | None = None  # tag
    post_only: bool | None = None  # po, missing means false
    reprice: str | None = None  # rb: rej / bo / tbl
    reject_reason: str | None = None  # r
    text: str | None = None  # txt
    ts: _Seconds  # ts, seconds
    tn: _Nanos = 0  # tn, nanoseconds within the second


class Execution(
    msgspec.Struct,
    kw_only=True,
    gc=False,
    rename={
        "trade_id": "tid",
        "account_id": "aid",
        "symbol": "s",
        "quantity": "q",
        "price": "p",
        "side": "d",
        "aggressor": "agg",
    },
):
    """One execution, the ``xs`` object of ``p`` and ``f`` events.

    Every key is written, ``"agg": false`` included, as the venue does.
    """

    trade_id: str  # tid
    account_id: str | None = None  # aid
    symbol: str  # s
    quantity: _Count  # q
    price: Decimal  # p
    side: Side  # d
    aggressor: bool = False  # agg: true when this order took liquidity


# ---------------------------------------------------------------------------------------------
# Server events (SPEC §8). The tag letter is the venue's `t`.

_EVENT: Final = {"event_id": "eid", "order": "o", "execution": "xs"}


class HeartbeatMsg(msgspec.Struct, tag_field="t", tag="h", gc=False):
    """``h``: application heartbeat."""

    ts: int = 0  # ts
    tn: int = 0  # tn


class KeepAliveMsg(msgspec.Struct, tag_field="t", tag="pu", gc=False):
    """``pu``: undocumented keep-alive with no fields; treated as a heartbeat."""


class AcknowledgedMsg(
    msgspec.Struct, tag_field="t", tag="n", kw_only=True, gc=False, rename=_EVENT
):
    """``n``: the order rests on the book (ACCEPTED)."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o


class PartiallyFilledMsg(
    msgspec.Struct, tag_field="t", tag="p", kw_only=True, gc=False, rename=_EVENT
):
    """``p``: a partial execution; ``order`` holds cumulative quantities."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o
    execution: Execution  # xs


class FilledMsg(msgspec.Struct, tag_field="t", tag="f", kw_only=True, gc=False, rename=_EVENT):
    """``f``: the execution that completed the order."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o
    execution: Execution  # xs


class CanceledMsg(
    msgspec.Struct,
    tag_field="t",
    tag="c",
    kw_only=True,
    gc=False,
    rename={**_EVENT, "reason": "xr", "text": "txt"},
):
    """``c``: cancel confirmed."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o
    reason: str = ""  # xr: USER_REQUESTED or empty
    text: str = ""  # txt


class RejectedMsg(
    msgspec.Struct,
    tag_field="t",
    tag="j",
    kw_only=True,
    gc=False,
    rename={**_EVENT, "reject_reason": "r", "text": "txt"},
):
    """``j``: the venue rejected the order. ``r`` and ``txt`` are written even when null."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o
    reject_reason: str | None = None  # r, null for a post-only cross
    text: str | None = None  # txt


class ExpiredMsg(msgspec.Struct, tag_field="t", tag="x", kw_only=True, gc=False, rename=_EVENT):
    """``x``: IOC remainder (or the whole IOC order) expired."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o


class DoneForDayMsg(msgspec.Struct, tag_field="t", tag="d", kw_only=True, gc=False, rename=_EVENT):
    """``d``: a DAY order ended at the session close."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    order: OrderBody  # o


class ReplacedMsg(
    msgspec.Struct,
    tag_field="t",
    tag="r",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "event_id": "eid",
        "old_order": "ro",
        "new_venue_order_id": "noid",
        "new_order": "no",
    },
):
    """``r``: cancel-replace (``ro`` + ``noid`` + ``no``) or in-place amend (``ro`` only)."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    event_id: str = ""  # eid
    old_order: OrderBody  # ro
    new_venue_order_id: str | None = None  # noid
    new_order: OrderBody | None = None  # no


class CancelRejectedMsg(
    msgspec.Struct,
    tag_field="t",
    tag="e",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "venue_order_id": "oid",
        "reject_reason": "r",
        "text": "txt",
        "order": "o",
    },
):
    """``e``: a cancel was refused (for example ``ORDER_NOT_FOUND``)."""

    ts: _Seconds  # ts
    tn: _Nanos = 0  # tn
    venue_order_id: str | None = None  # oid
    reject_reason: str = ""  # r
    text: str = ""  # txt
    cid: _Cid | None = None  # cid (tolerated)
    order: OrderBody | None = None  # o (tolerated)


ServerEvent: TypeAlias = (
    HeartbeatMsg
    | KeepAliveMsg
    | AcknowledgedMsg
    | PartiallyFilledMsg
    | FilledMsg
    | CanceledMsg
    | RejectedMsg
    | ExpiredMsg
    | DoneForDayMsg
    | ReplacedMsg
    | CancelRejectedMsg
)

# ---------------------------------------------------------------------------------------------
# Responses (SPEC §5.1, §7).


class StatusBody(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """The ``status`` object of an order-status reply (WS ``s`` and REST).

    The quantities are required, so that zeros are written as the venue does.
    """

    symbol: str
    order_id: str
    clord_id: _Cid | None = None
    state: str
    filled_quantity: _Count
    remaining_quantity: _Count
    reject_reason: str | None = None
    reject_message: str | None = None


class ResultBody(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "login_id": "li",
        "login_orders": "o",
        "cancel_on_disconnect": "cod",
        "client_heartbeat": "chb",
        "venue_order_id": "oid",
        "cancel_received": "cxl_rx",
        "orders": "orders",
        "status": "status",
    },
):
    """A ``res`` object. Which keys are set tells the reply apart (SPEC §5.2).

    ``{}`` (cancel-all) decodes with every field unset.
    """

    login_id: str | None = None  # li
    login_orders: list[OrderBody] | None = None  # o (login only; null = none open)
    cancel_on_disconnect: bool | None = None  # cod
    client_heartbeat: int | None = None  # chb
    venue_order_id: str | None = None  # oid (place, replace)
    cancel_received: bool | None = None  # cxl_rx
    orders: list[OrderBody] | None = None  # orders (open orders)
    status: StatusBody | None = None  # status (order status)


class LoginResult(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "login_id": "li",
        "orders": "o",
        "cancel_on_disconnect": "cod",
        "client_heartbeat": "chb",
    },
):
    """The rid-0 login ``res`` as the server writes it: ``o`` is written even when null."""

    login_id: str  # li
    orders: list[OrderBody] | None  # o
    cancel_on_disconnect: bool  # cod
    client_heartbeat: int | None = None  # chb


class ErrorBody(
    msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, rename={"message": "msg"}
):
    """An ``err`` object."""

    code: int  # code, HTTP-like
    message: str | None = None  # msg
    data: str | None = None  # data, optional detail


class ReplyFrame(msgspec.Struct, kw_only=True, gc=False):
    """A reply frame as it comes off the wire, under either set of key names (``rid``/``res``/
    ``err`` or ``request_id``/``result``/``error``); :func:`decode_server_frame` turns it into
    a :class:`ResultReply` or an :class:`ErrorReply`."""

    rid: int | None = None
    res: ResultBody | None = None
    err: ErrorBody | None = None
    request_id: int | None = None
    result: ResultBody | None = None
    error: ErrorBody | None = None


class ResultReply(msgspec.Struct, gc=False):
    """A successful reply: ``{"rid": n, "res": {...}}``."""

    request_id: int
    result: ResultBody


class ErrorReply(msgspec.Struct, gc=False):
    """An error reply: ``{"rid": n, "err": {...}}``; ``request_id`` is None when absent."""

    request_id: int | None
    error: ErrorBody


class UnknownFrame(msgspec.Struct, gc=False):
    """A frame with an unknown ``t`` or a shape that matches nothing we know.

    ``venue_order_id`` / ``cid`` are set when the frame still names an order (an event with a
    value out of range), so that the session can ask the venue about that order.
    """

    text: str
    reason: str
    tag: str | None = None
    venue_order_id: str | None = None
    cid: int | None = None


ServerMessage: TypeAlias = ServerEvent | ResultReply | ErrorReply | UnknownFrame

_event_decoder: Final[msgspec.json.Decoder[ServerEvent]] = msgspec.json.Decoder(ServerEvent)
_response_decoder: Final[msgspec.json.Decoder[ReplyFrame]] = msgspec.json.Decoder(ReplyFrame)
_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _reply(resp: ReplyFrame, data: bytes | str) -> ResultReply | ErrorReply | UnknownFrame:
    rid = resp.rid if resp.rid is not None else resp.request_id
    err = resp.err if resp.err is not None else resp.error
    if err is not None:
        return ErrorReply(rid, err)
    res = resp.res if resp.res is not None else resp.result
    if res is not None and rid is not None:
        return ResultReply(rid, res)
    return UnknownFrame(_text(data), "reply without rid and res, or without err")


def _sane(price: Decimal) -> bool:
    """A finite price in [MIN_PRICE, MAX_PRICE) with a bounded number of digits."""
    try:
        return MIN_PRICE <= price < MAX_PRICE and price.__sizeof__() <= _PRICE_SIZE
    except ArithmeticError:  # a NaN does not compare
        return False


def _body_ok(body: OrderBody) -> bool:
    cid = body.cid
    return _sane(body.price) and (cid is None or cid <= MAX_CID)


def _order_ok(msg: Any) -> bool:
    # Inlined _body_ok: this runs for every order event.
    body = msg.order
    price = body.price
    cid = body.cid
    try:
        return (
            MIN_PRICE <= price < MAX_PRICE
            and price.__sizeof__() <= _PRICE_SIZE
            and (cid is None or cid <= MAX_CID)
        )
    except ArithmeticError:
        return False


def _fill_ok(msg: Any) -> bool:
    # Inlined _body_ok and _sane: this runs for every fill.
    body = msg.order
    price = body.price
    last = msg.execution.price
    cid = body.cid
    try:
        return (
            MIN_PRICE <= price < MAX_PRICE
            and MIN_PRICE <= last < MAX_PRICE
            and price.__sizeof__() <= _PRICE_SIZE
            and last.__sizeof__() <= _PRICE_SIZE
            and (cid is None or cid <= MAX_CID)
        )
    except ArithmeticError:
        return False


def _replace_ok(msg: Any) -> bool:
    new = msg.new_order
    return _body_ok(msg.old_order) and (new is None or _body_ok(new))


def _cancel_reject_ok(msg: Any) -> bool:
    cid = msg.cid
    return (msg.order is None or _body_ok(msg.order)) and (cid is None or cid <= MAX_CID)


def _reply_ok(msg: Any) -> bool:
    res = msg.result
    for bodies in (res.login_orders, res.orders):
        if bodies and not all(_body_ok(body) for body in bodies):
            return False
    status = res.status
    return status is None or status.clord_id is None or status.clord_id <= MAX_CID


# msgspec decodes "NaN", "Infinity", "1e400" or "-1" into Decimals, and any integer into a
# ``cid``: these checks turn a frame carrying one out of range into an UnknownFrame. Quantities
# and times are bounded by the structs themselves.
_CHECKS: Final[dict[type[Any], Callable[[Any], bool]]] = {
    AcknowledgedMsg: _order_ok,
    CanceledMsg: _order_ok,
    RejectedMsg: _order_ok,
    ExpiredMsg: _order_ok,
    DoneForDayMsg: _order_ok,
    PartiallyFilledMsg: _fill_ok,
    FilledMsg: _fill_ok,
    ReplacedMsg: _replace_ok,
    CancelRejectedMsg: _cancel_reject_ok,
    ResultReply: _reply_ok,
}


def _named(msg: Any) -> tuple[str | None, int | None]:
    """The venue order id and ``cid`` a decoded message names, where it names one order."""
    body = getattr(msg, "order", None)
    if body is None:
        body = getattr(msg, "old_order", None)
    if isinstance(body, OrderBody):
        return body.venue_order_id, body.cid
    return getattr(msg, "venue_order_id", None), getattr(msg, "cid", None)


def _named_raw(obj: dict[str, Any]) -> tuple[str | None, int | None]:
    """The venue order id and ``cid`` a raw event names (best effort, for a status query)."""
    body = obj.get("o")
    if not isinstance(body, dict):
        body = obj.get("ro")
    if not isinstance(body, dict):
        body = obj
    oid = body.get("oid")
    cid = body.get("cid")
    return (
        oid if isinstance(oid, str) else None,
        cid if type(cid) is int and 0 <= cid <= MAX_CID else None,
    )


def decode_server_frame(data: bytes | str) -> ServerMessage:
    """Decode one text frame from the orders WebSocket.

    Returns an event struct, a :class:`ResultReply`, an :class:`ErrorReply`, or an
    :class:`UnknownFrame` for anything else, including a frame that carries a NaN or infinite
    price, or a negative or out-of-range quantity.

    Raises:
        RemoteProtocolError: the frame is not valid JSON.
    """
    head = data[:6]
    msg: ServerMessage
    try:
        if head in (b'{"t":"', '{"t":"'):
            msg = _event_decoder.decode(data)
        elif head in (b'{"rid"', '{"rid"'):
            msg = _reply(_response_decoder.decode(data), data)
        else:
            msg = _decode_slow(data)
    except msgspec.ValidationError:
        msg = _decode_slow(data)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"malformed JSON from venue: {exc}") from None
    except _UNREADABLE as exc:
        raise RemoteProtocolError(f"unreadable frame from venue: {exc}") from None
    check = _CHECKS.get(type(msg))
    if check is not None and not check(msg):
        oid, cid = _named(msg)
        if cid is not None and not 0 <= cid <= MAX_CID:
            cid = None
        return UnknownFrame(_text(data), "a price or cid out of range", None, oid, cid)
    return msg


_EVENT_TYPES: Final[dict[str, type[Any]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        HeartbeatMsg,
        KeepAliveMsg,
        AcknowledgedMsg,
        PartiallyFilledMsg,
        FilledMsg,
        CanceledMsg,
        RejectedMsg,
        ExpiredMsg,
        DoneForDayMsg,
        ReplacedMsg,
        CancelRejectedMsg,
    )
}


def _decode_slow(data: bytes | str) -> ServerMessage:
    try:
        obj = _any_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"malformed JSON from venue: {exc}") from None
    except _UNREADABLE as exc:
        raise RemoteProtocolError(f"unreadable frame from venue: {exc}") from None
    if not isinstance(obj, dict):
        return UnknownFrame(_text(data), "not a JSON object")
    tag = obj.get("t")
    try:
        if isinstance(tag, str):
            # Converting to one struct class is cheap; to the union it costs ~150 us a frame.
            cls = _EVENT_TYPES.get(tag)
            if cls is None:
                return UnknownFrame(_text(data), f"unknown event type {tag[:20]!r}", tag[:20])
            event: ServerEvent = msgspec.convert(obj, cls)
            return event
        if any(k in obj for k in ("res", "err", "result", "error")):
            return _reply(msgspec.convert(obj, ReplyFrame), data)
    except msgspec.ValidationError as exc:
        if isinstance(tag, str):
            oid, cid = _named_raw(obj)
            return UnknownFrame(_text(data), str(exc), tag, oid, cid)
        return UnknownFrame(_text(data), str(exc))
    return UnknownFrame(_text(data), "no 't', 'res' or 'err' key")


# ---------------------------------------------------------------------------------------------
# Requests (client -> server, SPEC §7).


class PlaceRequest(
    msgspec.Struct,
    tag_field="t",
    tag="p",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "request_id": "rid",
        "symbol": "s",
        "side": "d",
        "quantity": "q",
        "price": "p",
        "time_in_force": "tif",
        "post_only": "po",
        "reprice": "rb",
    },
):
    """``p``: place a limit order. There is no order type and no trigger price on AX."""

    request_id: int  # rid
    symbol: str  # s
    side: Side  # d
    quantity: _Quantity  # q
    price: Decimal  # p
    time_in_force: str  # tif
    post_only: bool  # po (always written)
    cid: int | None = None  # cid
    tag: str | None = None  # tag
    reprice: str | None = None  # rb


class CancelRequest(
    msgspec.Struct,
    tag_field="t",
    tag="x",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={"request_id": "rid", "venue_order_id": "oid", "account_id": "aid"},
):
    """``x``: cancel one order, by ``oid`` (or ``cid`` on newer gateways)."""

    request_id: int  # rid
    venue_order_id: str | None = None  # oid
    cid: int | None = None  # cid
    account_id: str | None = None  # aid


class CancelAllRequest(
    msgspec.Struct,
    tag_field="t",
    tag="X",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={"request_id": "rid"},
):
    """``X``: cancel every open order, optionally for one symbol."""

    request_id: int  # rid
    symbol: str | None = None  # symbol


class OpenOrdersRequest(
    msgspec.Struct, tag_field="t", tag="o", kw_only=True, gc=False, rename={"request_id": "rid"}
):
    """``o``: list open orders."""

    request_id: int  # rid


class ReplaceRequest(
    msgspec.Struct,
    tag_field="t",
    tag="r",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "request_id": "rid",
        "venue_order_id": "oid",
        "price": "p",
        "quantity": "q",
        "time_in_force": "tif",
        "post_only": "po",
    },
):
    """``r``: cancel-replace; omitted fields are inherited from the original."""

    request_id: int  # rid
    venue_order_id: str  # oid
    price: Decimal | None = None  # p
    quantity: _Quantity | None = None  # q
    time_in_force: str | None = None  # tif
    post_only: bool | None = None  # po


class StatusRequest(
    msgspec.Struct,
    tag_field="t",
    tag="s",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={"request_id": "rid", "venue_order_id": "oid"},
):
    """``s``: status of one order, by ``oid`` or ``cid``."""

    request_id: int  # rid
    venue_order_id: str | None = None  # oid
    cid: int | None = None  # cid


ClientRequest: TypeAlias = (
    PlaceRequest
    | CancelRequest
    | CancelAllRequest
    | OpenOrdersRequest
    | ReplaceRequest
    | StatusRequest
)


class BadRequest(msgspec.Struct, gc=False):
    """A client frame the server cannot accept; ``request_id`` is set when it could be read."""

    request_id: int | None
    message: str


_request_decoder: Final[msgspec.json.Decoder[ClientRequest]] = msgspec.json.Decoder(ClientRequest)


def decode_client_frame(data: bytes | str) -> ClientRequest | BadRequest:
    """Decode one request frame on the server side. Never raises."""
    try:
        return _request_decoder.decode(data)
    except msgspec.DecodeError as exc:
        message = str(exc)
    except _UNREADABLE as exc:
        return BadRequest(None, f"unreadable frame: {exc}")
    rid: int | None = None
    try:
        obj = _any_decoder.decode(data)
    except (msgspec.DecodeError, *_UNREADABLE):
        return BadRequest(None, f"malformed JSON: {message}")
    if isinstance(obj, dict):
        raw = obj.get("rid", obj.get("request_id"))
        if isinstance(raw, int) and not isinstance(raw, bool):
            rid = raw
    return BadRequest(rid, message)


# ---------------------------------------------------------------------------------------------
# Encoding.


def encode(message: msgspec.Struct) -> bytes:
    """Encode any wire struct with the venue's keys."""
    return _encoder.encode(message)


class _ResOut(msgspec.Struct, gc=False):
    rid: int
    res: Any


class _ErrOut(msgspec.Struct, omit_defaults=True, gc=False):
    rid: int | None = None
    err: ErrorBody | None = None


def encode_result(request_id: int, result: ResultBody | LoginResult) -> bytes:
    """``{"rid": request_id, "res": result}``."""
    return _encoder.encode(_ResOut(request_id, result))


def encode_login(login: LoginResult) -> bytes:
    """The rid-0 login response the server pushes right after the upgrade."""
    return _encoder.encode(_ResOut(0, login))


def encode_error(request_id: int | None, code: int, message: str, data: str | None = None) -> bytes:
    """``{"rid": request_id, "err": {"code", "msg"}}``; ``rid`` is left out when None."""
    return _encoder.encode(_ErrOut(request_id, ErrorBody(code=code, message=message, data=data)))
