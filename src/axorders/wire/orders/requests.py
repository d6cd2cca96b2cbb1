"""What the client sends on the orders WebSocket (SPEC §7): the requests.

The client writes them with :func:`~axorders.wire.orders.encode`; :func:`decode_client_frame`
reads them (the simulator's side).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeAlias

import msgspec

from axorders.model import Side
from axorders.wire.orders.fields import _UNREADABLE, _any_decoder, _Quantity

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

