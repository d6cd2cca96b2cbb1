"""The venue's order object and order events on the orders WebSocket (SPEC §6, §8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeAlias

import msgspec

from axorders.model import Side
from axorders.wire.orders.fields import _Cid, _Count, _Nanos, _Seconds

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
