"""Market-data WebSocket wire messages (SPEC §12): what an orders client and the simulator need.

Requests use ``type`` (not ``t``); replies use the long ``result`` / ``error`` names, and errors
carry ``message`` (not ``msg``). Events are tagged on ``t``: ``1`` L1 book, ``2`` L2 book,
``t`` trade, ``s`` ticker, ``h`` heartbeat.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeAlias

import msgspec

from axorders.exceptions import RemoteProtocolError
from axorders.model import Side

__all__ = [
    "BookLevel",
    "L1BookMsg",
    "L2BookMsg",
    "MdError",
    "MdHeartbeatMsg",
    "MdReply",
    "MdRequest",
    "MdResult",
    "MdServerMessage",
    "SubscribeRequest",
    "TickerMsg",
    "TradeMsg",
    "UnsubscribeRequest",
    "decode_md_request",
    "decode_md_server_frame",
    "encode_md",
    "md_request_id",
]


class BookLevel(msgspec.Struct, gc=False, rename={"price": "p", "quantity": "q"}):
    """One price level: ``{"p": "1.138", "q": 26500}``."""

    price: Decimal  # p
    quantity: int  # q


_BOOK: Final = {"symbol": "s", "bids": "b", "asks": "a", "snapshot": "st"}


def _no_levels() -> list[BookLevel]:
    # A named factory (unlike ``list`` or ``[]``) is not an "empty default" to msgspec, so an
    # empty side is still written ("b": []), as the venue does.
    return []


class L1BookMsg(
    msgspec.Struct, tag_field="t", tag="1", kw_only=True, omit_defaults=True, gc=False, rename=_BOOK
):
    """``1``: best bid and ask."""

    ts: int  # ts
    tn: int = 0  # tn
    symbol: str  # s
    bids: list[BookLevel] = msgspec.field(default_factory=_no_levels)  # b
    asks: list[BookLevel] = msgspec.field(default_factory=_no_levels)  # a
    snapshot: bool | None = None  # st


class L2BookMsg(
    msgspec.Struct, tag_field="t", tag="2", kw_only=True, omit_defaults=True, gc=False, rename=_BOOK
):
    """``2``: aggregated price levels."""

    ts: int  # ts
    tn: int = 0  # tn
    symbol: str  # s
    bids: list[BookLevel] = msgspec.field(default_factory=_no_levels)  # b
    asks: list[BookLevel] = msgspec.field(default_factory=_no_levels)  # a
    snapshot: bool | None = None  # st


class TradeMsg(
    msgspec.Struct,
    tag_field="t",
    tag="t",
    kw_only=True,
    gc=False,
    rename={"price": "p", "quantity": "q", "symbol": "s", "side": "d"},
):
    """``t``: a public trade; ``d`` is the aggressor side. There is no trade id."""

    price: Decimal  # p
    quantity: int  # q
    symbol: str  # s
    side: Side  # d
    ts: int  # ts
    tn: int = 0  # tn


class TickerMsg(
    msgspec.Struct,
    tag_field="t",
    tag="s",
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={
        "symbol": "s",
        "last_price": "p",
        "last_quantity": "q",
        "open": "o",
        "low": "l",
        "high": "h",
        "volume": "v",
        "open_interest": "oi",
        "state": "i",
        "mark": "m",
        "bid": "bp",
        "ask": "ap",
        "band_lower": "pl",
        "band_upper": "pu",
        "last_settlement_price": "lsp",
        "last_settlement_time": "lst",
    },
):
    """``s``: ticker and statistics; many prices can be null."""

    ts: int  # ts
    tn: int = 0  # tn
    symbol: str  # s
    last_price: Decimal | None = None  # p
    last_quantity: int | None = None  # q
    open: Decimal | None = None  # o
    low: Decimal | None = None  # l
    high: Decimal | None = None  # h
    volume: int | None = None  # v
    open_interest: int | None = None  # oi
    state: str | None = None  # i
    mark: Decimal | None = None  # m
    bid: Decimal | None = None  # bp
    ask: Decimal | None = None  # ap
    band_lower: Decimal | None = None  # pl
    band_upper: Decimal | None = None  # pu
    last_settlement_price: Decimal | None = None  # lsp
    last_settlement_time: int | None = None  # lst


class MdHeartbeatMsg(msgspec.Struct, tag_field="t", tag="h", gc=False):
    """``h``: market-data heartbeat."""

    ts: int = 0  # ts
    tn: int = 0  # tn


class MdResult(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A ``result`` object: which key is set tells the request apart."""

    subscribed: str | None = None
    unsubscribed: str | None = None
    subscribed_candle: str | None = None
    unsubscribed_candle: str | None = None


class MdError(msgspec.Struct, kw_only=True, gc=False):
    """An ``error`` object (note ``message``, not ``msg``)."""

    message: str = ""
    code: int = 0


class MdReply(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """``{"rid", "result"}`` or ``{"rid", "error"}``."""

    rid: int | None = None
    result: MdResult | None = None
    error: MdError | None = None


class SubscribeRequest(
    msgspec.Struct, tag_field="type", tag="subscribe", kw_only=True, omit_defaults=True, gc=False
):
    """Subscribe to a symbol. ``level`` is LEVEL_1, LEVEL_2, LEVEL_3 or TRADES."""

    rid: int
    symbol: str
    level: str = "LEVEL_1"
    trades: bool | None = None  # default true on the venue
    ticker: bool | None = None  # default true on the venue


class UnsubscribeRequest(
    msgspec.Struct, tag_field="type", tag="unsubscribe", kw_only=True, gc=False
):
    """Unsubscribe from a symbol."""

    rid: int
    symbol: str


MdRequest: TypeAlias = SubscribeRequest | UnsubscribeRequest
MdEvent: TypeAlias = L1BookMsg | L2BookMsg | TradeMsg | TickerMsg | MdHeartbeatMsg
MdServerMessage: TypeAlias = MdEvent | MdReply

_md_event_decoder: Final[msgspec.json.Decoder[MdEvent]] = msgspec.json.Decoder(MdEvent)
_md_reply_decoder: Final = msgspec.json.Decoder(MdReply)
_md_request_decoder: Final[msgspec.json.Decoder[MdRequest]] = msgspec.json.Decoder(MdRequest)
_encoder: Final = msgspec.json.Encoder()


def decode_md_server_frame(data: bytes | str) -> MdServerMessage | None:
    """Decode a market-data frame; returns None for event kinds we do not use (candles...).

    Raises:
        RemoteProtocolError: malformed JSON.
    """
    try:
        return _md_event_decoder.decode(data)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"malformed JSON on market data: {exc}") from None
    except (UnicodeError, RecursionError) as exc:
        raise RemoteProtocolError(f"unreadable market-data frame: {exc}") from None
    try:
        # A wrong type can stop the typed decoder before it reaches a syntax error further on.
        obj = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise RemoteProtocolError(f"malformed JSON on market data: {exc}") from None
    if not isinstance(obj, dict) or "t" in obj:
        return None
    try:
        return msgspec.convert(obj, MdReply)
    except msgspec.ValidationError:
        return None


def decode_md_request(data: bytes | str) -> MdRequest | None:
    """Decode a market-data request on the server side; None when it is not one."""
    try:
        return _md_request_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


class _RidOnly(msgspec.Struct, gc=False):
    rid: int | None = None


def md_request_id(data: bytes | str) -> int | None:
    """The ``rid`` of a market-data request that did not decode, when it can be read."""
    try:
        return msgspec.json.decode(data, type=_RidOnly).rid
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


def encode_md(message: msgspec.Struct) -> bytes:
    """Encode a market-data struct."""
    return _encoder.encode(message)
