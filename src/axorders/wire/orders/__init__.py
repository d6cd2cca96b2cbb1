"""Orders WebSocket wire messages (SPEC §5–§8), both directions.

This package and its siblings in :mod:`axorders.wire` are the only places that know the venue's
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

from axorders.wire.orders.decode import ServerMessage, decode_server_frame
from axorders.wire.orders.events import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    Execution,
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
from axorders.wire.orders.fields import MAX_CID as MAX_CID
from axorders.wire.orders.fields import MAX_PRICE as MAX_PRICE
from axorders.wire.orders.fields import MIN_PRICE as MIN_PRICE
from axorders.wire.orders.fields import encode
from axorders.wire.orders.replies import (
    ErrorBody,
    ErrorReply,
    LoginResult,
    ReplyFrame,
    ResultBody,
    ResultReply,
    StatusBody,
    UnknownFrame,
    encode_error,
    encode_login,
    encode_result,
)
from axorders.wire.orders.requests import (
    BadRequest,
    CancelAllRequest,
    CancelRequest,
    ClientRequest,
    OpenOrdersRequest,
    PlaceRequest,
    ReplaceRequest,
    StatusRequest,
    decode_client_frame,
)

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
