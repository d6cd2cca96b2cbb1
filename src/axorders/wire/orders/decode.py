"""Reading what the venue sends on the orders WebSocket: :func:`decode_server_frame`.

Events and replies decode in one pass (the hot path); a frame that fails the fast decoders, or
whose values are out of range, is looked at again, tolerantly, and comes back as an
:class:`~axorders.wire.orders.UnknownFrame` when nothing fits.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, TypeAlias

import msgspec

from axorders.exceptions import RemoteProtocolError
from axorders.wire.orders.events import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    ExpiredMsg,
    FilledMsg,
    HeartbeatMsg,
    KeepAliveMsg,
    OrderBody,
    PartiallyFilledMsg,
    RejectedMsg,
    ReplacedMsg,
    ServerEvent,
)
from axorders.wire.orders.fields import (
    _PRICE_SIZE,
    _UNREADABLE,
    MAX_CID,
    MAX_PRICE,
    MIN_PRICE,
    _any_decoder,
)
from axorders.wire.orders.replies import ErrorReply, ReplyFrame, ResultReply, UnknownFrame

ServerMessage: TypeAlias = ServerEvent | ResultReply | ErrorReply | UnknownFrame

_event_decoder: Final[msgspec.json.Decoder[ServerEvent]] = msgspec.json.Decoder(ServerEvent)
_response_decoder: Final[msgspec.json.Decoder[ReplyFrame]] = msgspec.json.Decoder(ReplyFrame)


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


