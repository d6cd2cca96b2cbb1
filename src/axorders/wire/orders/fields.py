"""Field types and bounds shared by both directions of the orders WebSocket, and the encoder."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

import msgspec

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

_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    """Encode any wire struct with the venue's keys."""
    return _encoder.encode(message)
