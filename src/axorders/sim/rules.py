"""The simulated venue's rules: its configuration, its texts and the states of an order.

Here live :class:`EngineConfig` and the knobs it holds (:class:`StpMode`,
:class:`MarginFailure`, :class:`CancelReject`), the venue's explanatory :class:`Texts`, the
order states as the venue spells them, :class:`Rejection` (a validation failure carrying the
venue's reason and text), the ``Events`` list every command fills, and the two ways the venue
writes numbers (:func:`plain`, :func:`money`). Everything here is a value or a tiny helper
shared by the book (:mod:`axorders.sim.book`), the accounts (:mod:`axorders.sim.accounts`),
the matching (:mod:`axorders.sim.matching`) and the engine (:mod:`axorders.sim.engine`); no
state and no decision of its own lives here, and it imports none of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypeAlias

import msgspec

from axorders.wire.orders import ErrorBody, ResultBody, ServerEvent

__all__ = [
    "ACCEPTED",
    "CANCELED",
    "DONE_FOR_DAY",
    "EXPIRED",
    "FILLED",
    "NS",
    "OPEN_STATES",
    "PARTIALLY_FILLED",
    "REJECTED",
    "REPLACED",
    "CancelReject",
    "EngineConfig",
    "Events",
    "MarginFailure",
    "Rejection",
    "Reply",
    "StpMode",
    "Texts",
    "money",
    "plain",
]

NS: Final = 1_000_000_000
ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
_CENT: Final = Decimal("0.01")

# Order states (the venue's spellings).
ACCEPTED: Final = "ACCEPTED"
PARTIALLY_FILLED: Final = "PARTIALLY_FILLED"
FILLED: Final = "FILLED"
CANCELED: Final = "CANCELED"
REJECTED: Final = "REJECTED"
EXPIRED: Final = "EXPIRED"
REPLACED: Final = "REPLACED"
DONE_FOR_DAY: Final = "DONE_FOR_DAY"
OPEN_STATES: Final = frozenset({ACCEPTED, PARTIALLY_FILLED})

Events: TypeAlias = list[tuple[str, ServerEvent]]
"""``(account id, wire event)`` pairs, in the order the venue emits them."""


class Reply(msgspec.Struct, gc=False):
    """What one command produced: the response body (``result`` or ``error``) and events.

    ``events`` are ``(account id, event)`` pairs, in emission order.
    """

    result: ResultBody | None = None
    error: ErrorBody | None = None
    events: Events = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class Texts:
    """The venue's explanatory texts (exact where the captures show them)."""

    POST_ONLY_CROSS: Final = "post-only order would cross the book"
    NO_LIQUIDITY: Final = "order could not be filled, no available liquidity"
    BELOW_MIN_PRICE: Final = "order price is below the exchange's minimum price limit"
    ABOVE_MAX_PRICE: Final = "order price is above the exchange's maximum price limit"
    NO_MATCHING_ORDERS: Final = "no matching orders"
    ORDER_NOT_FOUND: Final = "Order not found or already canceled"
    ORIGINAL_TERMINATED: Final = "original order is no longer open"
    SELF_TRADE: Final = "order canceled by self-trade prevention"
    CANCEL_ON_DISCONNECT: Final = "order canceled on disconnect"


class StpMode(enum.Enum):
    """What happens when an order would trade with a resting order of the same account."""

    CANCEL_INCOMING = "cancel-incoming"
    CANCEL_RESTING = "cancel-resting"
    CANCEL_BOTH = "cancel-both"


class MarginFailure(enum.Enum):
    """How a pre-trade margin failure is reported: ``err`` 400 (no oid) or a ``j`` event."""

    ERROR = "error"
    REJECT = "reject"


class CancelReject(enum.Enum):
    """How a cancel of an unknown order is refused: ``err`` 404 or ``cxl_rx`` + an ``e`` event."""

    ERROR = "error"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Venue rules of the engine.

    Attributes:
        maker_fee / taker_fee: fee rates; fee = price × quantity × rate.
        initial_balance: USD balance of a new account.
        stp: self-trade prevention mode.
        margin_failure: ``err`` 400 (default) or a ``j`` with ``INSUFFICIENT_MARGIN``.
        cancel_reject: ``err`` 404 (default) or an ``e`` event for unknown cancels.
        check_margin: run the initial-margin check at all.
        ack_aggressive: send ``n`` before the executions of an order that trades at once.
        record_market_data: keep public trades and changed books for market data.
        max_tag_length: longest accepted ``tag``.
    """

    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal("0.0002")
    initial_balance: Decimal = Decimal(1_000_000)
    stp: StpMode = StpMode.CANCEL_INCOMING
    margin_failure: MarginFailure = MarginFailure.ERROR
    cancel_reject: CancelReject = CancelReject.ERROR
    check_margin: bool = True
    ack_aggressive: bool = True
    record_market_data: bool = True
    max_tag_length: int = 50


class Rejection(Exception):
    """A validation failure with the venue's reason (None for a post-only cross) and text."""

    def __init__(self, reason: str | None, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (``1E+2`` -> ``100``)."""
    try:
        value = value.normalize()
    except ArithmeticError:  # an absurd client price: write it back as it came
        return value
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        try:
            return value.quantize(Decimal(1))
        except ArithmeticError:  # more digits than the context holds: keep the exponent
            return value
    return value


def money(value: Decimal) -> str:
    """A non-negative amount of USD in cents, as the venue's margin text writes it."""
    return str(max(value, ZERO).quantize(_CENT, rounding=ROUND_HALF_UP))
