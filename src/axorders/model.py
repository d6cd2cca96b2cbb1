"""Domain model: identifiers, enumerations, instruments and the stable ``cid`` mapping.

Nothing here knows a JSON key. Prices are :class:`~decimal.Decimal`, quantities are ``int``
numbers of contracts and timestamps are ``int`` nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import NewType

from axorders.exceptions import InvalidOrderError

__all__ = [
    "CID_MASK",
    "MAX_CLIENT_ORDER_ID_LENGTH",
    "MAX_QUANTITY",
    "ClientOrderId",
    "Instrument",
    "LiquiditySide",
    "OrderStatus",
    "OrderType",
    "RequestId",
    "Side",
    "TimeInForce",
    "TriggerSource",
    "VenueOrderId",
    "check_client_order_id",
    "cid_for",
    "to_decimal",
]

ClientOrderId = NewType("ClientOrderId", str)
"""The caller's own order id: any non-empty string, fixed before the order is sent."""

VenueOrderId = NewType("VenueOrderId", str)
"""The venue's order id (``O-`` + ULID), known once the venue has answered."""

RequestId = NewType("RequestId", int)
"""A request id, unique per session, in 1 … 2**31 - 1."""

CID_MASK = 0x7FFF_FFFF_FFFF_FFFF

MAX_CLIENT_ORDER_ID_LENGTH = 64
"""The longest client order id accepted, in characters (the venue only sees its ``cid``)."""

MAX_QUANTITY = 2**63 - 1
"""The largest quantity the wire carries: a quantity is a non-negative 64-bit integer."""


def check_client_order_id(client_order_id: object) -> str:
    """Return ``client_order_id`` if it can name an order, or raise.

    A client order id is a string of 1 to :data:`MAX_CLIENT_ORDER_ID_LENGTH` characters, not
    only blanks, without control characters (so that it prints on one line).

    Raises:
        InvalidOrderError: not a string, empty or blank, too long, or holding a control
            character.
    """
    if not isinstance(client_order_id, str) or not client_order_id.strip():
        raise InvalidOrderError("client_order_id", "MISSING", "must be a non-empty string")
    if len(client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
        raise InvalidOrderError(
            "client_order_id",
            "TOO_LONG",
            f"{len(client_order_id)} characters; at most {MAX_CLIENT_ORDER_ID_LENGTH}",
        )
    if not client_order_id.replace(" ", "").isprintable():
        raise InvalidOrderError(
            "client_order_id",
            "CONTROL_CHARACTER",
            f"{client_order_id!r} holds a control character (a line break, a tab, ...)",
        )
    return client_order_id


def cid_for(client_order_id: str) -> int:
    """Return the venue ``cid`` for a client order id.

    The mapping is documented and stable: the first 8 bytes of the SHA-256 digest of the
    UTF-8 encoded client order id, read as a big-endian unsigned integer and masked to 63 bits
    (so it always fits the venue's non-negative int64). It gives the same value in every
    process, on every platform and in every version of axorders, so orders placed before a
    restart are recognised after it.

    >>> cid_for("demo-1")
    7710658737549443707
    """
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & CID_MASK


class Side(enum.Enum):
    """Order side; the values are the venue's spellings."""

    BUY = "B"
    SELL = "S"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def parse(cls, value: Side | str) -> Side:
        """Accept a :class:`Side`, ``"B"``/``"S"`` or ``"BUY"``/``"SELL"`` (any case)."""
        if isinstance(value, Side):
            return value
        text = str(value).strip().upper()
        if text in ("B", "BUY"):
            return Side.BUY
        if text in ("S", "SELL"):
            return Side.SELL
        raise InvalidOrderError("side", "INVALID_SIDE", f"unknown side {value!r}; use BUY or SELL")


class TimeInForce(enum.Enum):
    """The time-in-force values AX supports. GTD, FOK and the rest are refused."""

    GTC = "GTC"
    IOC = "IOC"
    DAY = "DAY"

    @classmethod
    def parse(cls, value: TimeInForce | str) -> TimeInForce:
        """Return the member for ``value`` or raise :class:`InvalidOrderError`."""
        if isinstance(value, TimeInForce):
            return value
        text = str(value).strip().upper()
        try:
            return cls(text)
        except ValueError:
            raise InvalidOrderError(
                "time_in_force",
                "UNSUPPORTED_TIME_IN_FORCE",
                f"{value!r} is not supported by AX; use GTC, IOC or DAY",
            ) from None


class OrderType(enum.Enum):
    """Order types axorders accepts.

    AX only knows priced limit orders. MARKET is sent as an aggressive IOC limit and
    STOP_LIMIT is held by the client until its trigger is crossed, then sent as a limit.
    """

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"

    @classmethod
    def parse(cls, value: OrderType | str) -> OrderType:
        if isinstance(value, OrderType):
            return value
        text = str(value).strip().upper().replace("-", "_")
        try:
            return cls(text)
        except ValueError:
            raise InvalidOrderError(
                "order_type",
                "UNSUPPORTED_ORDER_TYPE",
                f"{value!r} is not supported; use MARKET, LIMIT or STOP_LIMIT",
            ) from None


class OrderStatus(enum.Enum):
    """Order states. The first ten are the venue's; ARMED is local.

    ARMED marks a STOP_LIMIT order held by the client until its trigger is crossed.
    PENDING also covers an order sent to the venue and not yet acknowledged.
    """

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    REPLACED = "REPLACED"
    DONE_FOR_DAY = "DONE_FOR_DAY"
    UNKNOWN = "UNKNOWN"
    ARMED = "ARMED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """True for states in which the order rests on the venue's book."""
        return self in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)

    @classmethod
    def from_wire(cls, value: str | None) -> OrderStatus:
        """Map a venue state string to a member; anything unknown becomes UNKNOWN."""
        if value is None:
            return cls.UNKNOWN
        member = _BY_WIRE.get(value)
        return member if member is not None else cls.UNKNOWN


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
        OrderStatus.DONE_FOR_DAY,
    }
)
_BY_WIRE = {m.value: m for m in OrderStatus if m is not OrderStatus.ARMED}


class LiquiditySide(enum.Enum):
    """Whether a fill added liquidity (MAKER) or took it (TAKER, ``agg`` true)."""

    MAKER = "MAKER"
    TAKER = "TAKER"


class TriggerSource(enum.Enum):
    """Which market price arms a STOP_LIMIT trigger."""

    LAST_TRADE = "LAST_TRADE"
    BID_ASK = "BID_ASK"


def to_decimal(value: Decimal | str | int | float, field: str) -> Decimal:
    """Convert user input to a finite Decimal or raise :class:`InvalidOrderError`.

    Floats go through ``str`` so that ``1.1`` means ``Decimal("1.1")``.
    """
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise InvalidOrderError(field, "INVALID_NUMBER", f"{value!r} is not a number") from None
    if not result.is_finite():
        raise InvalidOrderError(field, "INVALID_NUMBER", f"{value!r} is not a finite number")
    return result


@dataclass(frozen=True, slots=True)
class Instrument:
    """What an orders client must know about a contract.

    Attributes:
        symbol: e.g. ``"EURUSD-PERP"``.
        tick_size: the price increment.
        minimum_order_size: the smallest quantity, in contracts.
        price_precision: number of decimals of ``tick_size``.
        price_band_lower_pct / price_band_upper_pct: allowed deviation from the mark, percent.
        quote_currency: e.g. ``"USD"``.
        multiplier: contract multiplier (``1`` for every listed AX contract).
        initial_margin_pct / maintenance_margin_pct: percent of notional.
        category: ``fx``, ``metals``, ``equities``...
        state: instrument state, ``OPEN`` when the venue leaves it out.
    """

    symbol: str
    tick_size: Decimal
    minimum_order_size: int
    price_precision: int
    price_band_lower_pct: Decimal = Decimal(10)
    price_band_upper_pct: Decimal = Decimal(10)
    quote_currency: str = "USD"
    multiplier: Decimal = Decimal(1)
    initial_margin_pct: Decimal = Decimal(10)
    maintenance_margin_pct: Decimal = Decimal(5)
    category: str = ""
    state: str = "OPEN"
    description: str = ""

    @staticmethod
    def precision_of(tick_size: Decimal) -> int:
        """Number of decimals needed to write ``tick_size`` (``0.0001`` -> 4)."""
        exponent = tick_size.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0

    def check_price(self, price: Decimal | str | int | float, field: str = "price") -> Decimal:
        """Return ``price`` as a Decimal on this instrument's tick, or raise.

        Raises:
            InvalidOrderError: not a positive number, or not a multiple of the tick size.
        """
        value = to_decimal(price, field)
        if value <= 0:
            raise InvalidOrderError(field, "INVALID_PRICE", f"{value} must be greater than zero")
        if value % self.tick_size != 0:
            raise InvalidOrderError(
                field,
                "PRICE_OFF_TICK",
                f"{value} is not a multiple of the tick size {self.tick_size} of {self.symbol}",
            )
        return value

    def check_quantity(self, quantity: int | Decimal | str | float) -> int:
        """Return ``quantity`` as a whole number of contracts, or raise.

        Raises:
            InvalidOrderError: fractional, not positive, below the instrument minimum, or
                beyond what the wire carries (:data:`MAX_QUANTITY`).
        """
        if isinstance(quantity, bool):
            raise InvalidOrderError("quantity", "INVALID_QUANTITY", "must be a number")
        if isinstance(quantity, int):
            contracts = quantity
        else:
            value = to_decimal(quantity, "quantity")
            if value != value.to_integral_value():
                raise InvalidOrderError(
                    "quantity",
                    "FRACTIONAL_QUANTITY",
                    f"{quantity} is not a whole number of contracts",
                )
            contracts = int(value)
        if contracts <= 0:
            raise InvalidOrderError(
                "quantity",
                "INVALID_QUANTITY",
                f"{contracts} must be a positive number of contracts",
            )
        if contracts > MAX_QUANTITY:
            raise InvalidOrderError(
                "quantity", "QUANTITY_TOO_LARGE", f"{contracts} is more than {MAX_QUANTITY}"
            )
        if contracts < self.minimum_order_size:
            raise InvalidOrderError(
                "quantity",
                "BELOW_MINIMUM_SIZE",
                f"{contracts} is below the minimum order size {self.minimum_order_size}"
                f" of {self.symbol}",
            )
        return contracts

    def format_price(self, price: Decimal) -> str:
        """Write ``price`` with this instrument's precision, as Nautilus does (``"1.08500"``)."""
        return f"{price:.{self.price_precision}f}"

    def price_band(self, mark: Decimal) -> tuple[Decimal, Decimal]:
        """The lowest and highest acceptable prices around ``mark``, snapped to ticks.

        The lower limit is rounded up and the upper limit down, so both are inside the band.
        Both are written with the tick's exponent (``1.0250`` on a ``0.0001`` tick).
        """
        low = mark * (1 - self.price_band_lower_pct / 100)
        high = mark * (1 + self.price_band_upper_pct / 100)
        return (self._snap(low, ROUND_CEILING), self._snap(high, ROUND_FLOOR))

    def round_to_tick(self, price: Decimal, side_up: bool) -> Decimal:
        """Snap ``price`` to the tick, rounding up (``side_up``) or down.

        A price already on the tick is returned unchanged (written with the tick's exponent).
        """
        return self._snap(price, ROUND_CEILING if side_up else ROUND_FLOOR)

    def _snap(self, price: Decimal, rounding: str) -> Decimal:
        # Decimal ``//`` truncates toward zero, so ``-((-x) // tick)`` is not a ceiling: round
        # the number of ticks explicitly instead.
        tick = self.tick_size
        ticks = (price / tick).to_integral_value(rounding=rounding)
        return (ticks * tick).quantize(tick)
