"""The venue's replies to requests on the orders WebSocket (SPEC §5.1, §7).

:func:`encode_result`, :func:`encode_login` and :func:`encode_error` write them (the
simulator's side); :func:`~axorders.wire.orders.decode_server_frame` reads them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from axorders.wire.orders.events import OrderBody
from axorders.wire.orders.fields import _Cid, _Count, _encoder


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
