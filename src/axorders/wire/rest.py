"""REST wire shapes (SPEC §3.1, §11): request bodies and responses, plus time-string helpers.

REST uses long field names (``trade_id``, ``filled_quantity``...), except order objects, which
are the same compact :class:`~axorders.wire.orders.OrderBody` as on the WebSocket.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

from axorders.exceptions import RemoteProtocolError
from axorders.model import Instrument, Side
from axorders.wire.orders import OrderBody, StatusBody

__all__ = [
    "AccountInfo",
    "AuthenticateRequest",
    "AuthenticateResponse",
    "Balance",
    "BalancesResponse",
    "CancelAllBody",
    "CancelOrderBody",
    "CancelOrderResponse",
    "FillInfo",
    "FillsPage",
    "FillsQuery",
    "InitialMarginResponse",
    "InstrumentInfo",
    "InstrumentQuery",
    "InstrumentsResponse",
    "OpenOrdersPage",
    "OpenOrdersQuery",
    "OrderIdResponse",
    "OrderStatusQuery",
    "OrderStatusResponse",
    "OrdersHistoryPage",
    "OrdersQuery",
    "PlaceOrderBody",
    "Position",
    "PositionsResponse",
    "PreviewRequest",
    "PreviewResponse",
    "ReplaceOrderBody",
    "RestError",
    "RiskSnapshot",
    "RiskSnapshotResponse",
    "SymbolRisk",
    "WhoAmI",
    "decode_instrument",
    "decode_query",
    "decode_rest",
    "encode_rest",
    "format_rfc3339_ns",
    "instrument_from_rest",
    "parse_rfc3339_ns",
]

T = TypeVar("T")


def _one_hour() -> int:
    # A named factory is never "the default" to omit_defaults: the lifetime is always written,
    # so the token lasts what the client asked for, not whatever the venue's default is.
    return 3600


class AuthenticateRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /api/authenticate`` body: API key and secret, or username and password.

    ``expiration_seconds`` is always written.
    """

    api_key: str | None = None
    api_secret: str | None = None
    username: str | None = None
    password: str | None = None
    totp: str | None = None
    expiration_seconds: int = msgspec.field(default_factory=_one_hour)

    def __repr__(self) -> str:  # never show secrets
        return (
            f"AuthenticateRequest(api_key={self.api_key!r},"
            f" expiration_seconds={self.expiration_seconds})"
        )


class AuthenticateResponse(msgspec.Struct, kw_only=True):
    """``{"token": "..."}``."""

    token: str

    def __repr__(self) -> str:
        return "AuthenticateResponse(token=<redacted>)"


class InstrumentInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One object of ``GET /api/instruments`` (only the fields an orders client uses)."""

    symbol: str
    tick_size: Decimal
    minimum_order_size: Decimal = Decimal(1)
    price_scale: int | None = None
    multiplier: Decimal = Decimal(1)
    quote_currency: str = "USD"
    product: str | None = None
    expiration: str | None = None
    price_band_lower_deviation_pct: Decimal = Decimal(10)
    price_band_upper_deviation_pct: Decimal = Decimal(10)
    initial_margin_pct: Decimal = Decimal(10)
    maintenance_margin_pct: Decimal = Decimal(5)
    funding_settlement_currency: str | None = None
    category: str | None = None
    description: str | None = None
    state: str | None = None
    is_closing: bool | None = None
    delisted_at: str | None = None

    def to_instrument(self) -> Instrument:
        """Convert to the domain :class:`~axorders.model.Instrument`."""
        return Instrument(
            symbol=self.symbol,
            tick_size=self.tick_size,
            minimum_order_size=int(self.minimum_order_size),
            price_precision=Instrument.precision_of(self.tick_size),
            price_band_lower_pct=self.price_band_lower_deviation_pct,
            price_band_upper_pct=self.price_band_upper_deviation_pct,
            quote_currency=self.quote_currency,
            multiplier=self.multiplier,
            initial_margin_pct=self.initial_margin_pct,
            maintenance_margin_pct=self.maintenance_margin_pct,
            category=self.category or "",
            state=self.state or "OPEN",
            description=self.description or "",
        )

    @classmethod
    def from_instrument(cls, instrument: Instrument) -> InstrumentInfo:
        """The REST shape of a domain instrument (used by the simulator)."""
        return cls(
            symbol=instrument.symbol,
            tick_size=instrument.tick_size,
            minimum_order_size=Decimal(instrument.minimum_order_size),
            price_scale=10**instrument.price_precision,
            multiplier=instrument.multiplier,
            quote_currency=instrument.quote_currency,
            product=instrument.symbol.split("-")[0],
            price_band_lower_deviation_pct=instrument.price_band_lower_pct,
            price_band_upper_deviation_pct=instrument.price_band_upper_pct,
            initial_margin_pct=instrument.initial_margin_pct,
            maintenance_margin_pct=instrument.maintenance_margin_pct,
            funding_settlement_currency=instrument.quote_currency,
            category=instrument.category or None,
            description=instrument.description or None,
            state=instrument.state,
        )


class InstrumentsResponse(msgspec.Struct, kw_only=True):
    """``{"instruments": [...]}``."""

    instruments: list[InstrumentInfo]


class AccountInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An account in ``/whoami``; fee rates are strings on the wire."""

    id: str
    name: str = ""
    is_close_only: bool = False
    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    can_trade: bool = True
    can_read: bool = True


class WhoAmI(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/whoami``."""

    id: str
    username: str = ""
    accounts: list[AccountInfo] = []
    is_frozen: bool = False


class OpenOrdersPage(msgspec.Struct, kw_only=True):
    """``GET /orders/open-orders``."""

    orders: list[OrderBody]
    total_count: int = 0
    limit: int = 100
    offset: int = 0


class OrdersHistoryPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /orders/orders``: newest first, ``next_cursor`` = ``"<ts_ns>:<oid>"``."""

    orders: list[OrderBody]
    next_cursor: str | None = None
    limit: int = 100
    total_count: int | None = None


class OrderStatusResponse(msgspec.Struct, kw_only=True):
    """``GET /orders/order-status``."""

    status: StatusBody


class FillInfo(msgspec.Struct, kw_only=True):
    """One fill of ``GET /api/fills``; ``fee`` is positive when paid, in USD.

    Every key is written, nulls included (``"realized_pnl": null`` on an opening fill).
    """

    trade_id: str
    order_id: str | None = None
    account_id: str | None = None
    timestamp: str
    symbol: str
    price: Decimal
    quantity: int
    is_taker: bool
    fee: Decimal = Decimal(0)
    side: Side
    realized_pnl: Decimal | None = None


class FillsPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/fills``."""

    fills: list[FillInfo]
    limit: int = 100
    total_count: int | None = None
    next_cursor: str | None = None


class PreviewRequest(msgspec.Struct, kw_only=True):
    """``POST /api/preview-aggressive-limit-order`` body."""

    symbol: str
    quantity: int
    side: Side


class PreviewResponse(msgspec.Struct, kw_only=True):
    """``limit_price`` is null when there is no liquidity."""

    limit_price: Decimal | None
    vwap: Decimal | None
    filled_quantity: int
    remaining_quantity: int


class Balance(msgspec.Struct, kw_only=True):
    account_id: str
    symbol: str
    amount: Decimal


class BalancesResponse(msgspec.Struct, kw_only=True):
    balances: list[Balance]
    usd_borrow: Decimal = Decimal(0)


class Position(msgspec.Struct, kw_only=True):
    account_id: str
    symbol: str
    signed_quantity: int
    signed_cost_basis: Decimal
    signed_notional: Decimal
    timestamp: str
    realized_pnl: Decimal


class PositionsResponse(msgspec.Struct, kw_only=True):
    positions: list[Position]


class PlaceOrderBody(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={
        "symbol": "s",
        "side": "d",
        "quantity": "q",
        "price": "p",
        "time_in_force": "tif",
        "post_only": "po",
        "reprice": "rb",
    },
):
    """``POST /orders/place-order``: the WS ``p`` fields without ``rid``/``t``."""

    symbol: str  # s
    side: Side  # d
    quantity: int  # q
    price: Decimal  # p
    time_in_force: str = "GTC"  # tif
    post_only: bool = False  # po
    tag: str | None = None  # tag
    cid: int | None = None  # cid
    reprice: str | None = None  # rb


class CancelOrderBody(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={"venue_order_id": "oid", "account_id": "aid"},
):
    """``POST /orders/cancel-order``: ``oid``, or ``cid`` with an optional ``aid``."""

    venue_order_id: str | None = None  # oid
    cid: int | None = None  # cid
    account_id: str | None = None  # aid


class ReplaceOrderBody(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={
        "venue_order_id": "oid",
        "price": "p",
        "quantity": "q",
        "time_in_force": "tif",
        "post_only": "po",
    },
):
    """``POST /orders/replace-order``."""

    venue_order_id: str  # oid
    price: Decimal | None = None  # p
    quantity: int | None = None  # q
    time_in_force: str | None = None  # tif
    post_only: bool | None = None  # po


class CancelAllBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /orders/cancel-all-orders``."""

    symbol: str | None = None
    account_id: str | None = None


class OrderIdResponse(msgspec.Struct, kw_only=True, rename={"venue_order_id": "oid"}):
    """``{"oid": ...}`` from place-order and replace-order."""

    venue_order_id: str  # oid


class CancelOrderResponse(msgspec.Struct, kw_only=True, rename={"cancel_received": "cxl_rx"}):
    """``{"cxl_rx": true}``."""

    cancel_received: bool  # cxl_rx


class SymbolRisk(msgspec.Struct, kw_only=True):
    """One symbol of a risk snapshot; amounts are decimal strings, nullable where noted."""

    signed_quantity: int
    signed_cost_basis: Decimal
    signed_notional: Decimal
    mark_price: Decimal | None = None
    signed_usd_notional: Decimal | None = None
    average_price: Decimal | None = None
    initial_margin_required_position: Decimal = Decimal(0)
    initial_margin_required_open_orders: Decimal = Decimal(0)
    initial_margin_required_total: Decimal = Decimal(0)
    maintenance_margin_required: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    liquidation_price: Decimal | None = None


class RiskSnapshot(msgspec.Struct, kw_only=True):
    """``risk_snapshot`` of ``GET /api/risk-snapshot`` (``timestamp_ns`` is an RFC 3339 string)."""

    account_id: str
    timestamp_ns: str
    per_symbol: dict[str, SymbolRisk] = {}
    initial_margin_required_for_positions: Decimal = Decimal(0)
    initial_margin_required_for_open_orders: Decimal = Decimal(0)
    initial_margin_required_total: Decimal = Decimal(0)
    maintenance_margin_required: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    initial_margin_available: Decimal = Decimal(0)
    maintenance_margin_available: Decimal = Decimal(0)
    balance_usd: Decimal = Decimal(0)


class RiskSnapshotResponse(msgspec.Struct, kw_only=True):
    """``{"risk_snapshot": {...}}``."""

    risk_snapshot: RiskSnapshot


class InitialMarginResponse(msgspec.Struct, kw_only=True):
    """``POST /orders/initial-margin-requirement``: ``{"im_pct","im","pos","mult"}``."""

    im_pct: Decimal
    im: Decimal
    pos: int
    mult: Decimal


# Query strings (what the gateway reads from the URL). Decode with :func:`decode_query`.


class InstrumentQuery(msgspec.Struct, kw_only=True):
    """``GET /api/instrument?symbol=``."""

    symbol: str


class OpenOrdersQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /orders/open-orders``."""

    limit: int | None = None
    offset: int = 0
    sort_ts: str | None = None  # asc / desc
    account_id: str | None = None


class OrdersQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /orders/orders`` (history); list values are comma-separated."""

    symbol: str | None = None
    start_timestamp_ns: int | None = None
    end_timestamp_ns: int | None = None
    limit: int | None = None
    offset: int = 0
    order_states: str | None = None
    order_id: str | None = None
    order_ids: str | None = None
    account_id: str | None = None
    cursor: str | None = None  # "<ts_ns>:<oid>"


class OrderStatusQuery(
    msgspec.Struct, kw_only=True, omit_defaults=True, rename={"venue_order_id": "oid"}
):
    """``GET /orders/order-status?oid=`` or ``?cid=``; the pre-v14 names are kept to refuse them."""

    venue_order_id: str | None = None  # oid
    cid: int | None = None
    order_id: str | None = None  # old name, refused
    client_order_id: str | None = None  # old name, refused


class FillsQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/fills``; both timestamps are required by the venue."""

    start_timestamp_ns: int | None = None
    end_timestamp_ns: int | None = None
    account_id: str | None = None
    symbol: str | None = None
    cursor: str | None = None  # "<ts_ns>:<trade_id>"
    limit: int | None = None
    sort_ts: str | None = None  # asc / desc


class RestError(msgspec.Struct, kw_only=True):
    """The error body the simulator writes: ``{"error": "...", "code": n}``."""

    error: str
    code: int = 400


_encoder: Final = msgspec.json.Encoder()


def decode_rest(data: bytes | str, type_: type[T]) -> T:
    """Decode a REST body into ``type_``.

    Raises:
        RemoteProtocolError: malformed JSON or a body of the wrong shape.
    """
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise RemoteProtocolError(f"unexpected REST body for {type_.__name__}: {exc}") from None


def encode_rest(value: Any) -> bytes:
    """Encode a REST struct (or plain data) as JSON."""
    return _encoder.encode(value)


def decode_query(params: Any, type_: type[T]) -> T:
    """Read query-string parameters (a mapping of strings) into ``type_``.

    Raises:
        RemoteProtocolError: a parameter has the wrong type (``limit=abc``).
    """
    try:
        return msgspec.convert(dict(params), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"bad query parameter: {exc}") from None


def decode_instrument(data: bytes | str) -> InstrumentInfo:
    """Decode one instrument object (``GET /api/instrument``)."""
    return decode_rest(data, InstrumentInfo)


def instrument_from_rest(data: bytes | str) -> Instrument:
    """Build the domain :class:`~axorders.model.Instrument` from one object of the REST
    ``/instruments`` shape.

    Raises:
        RemoteProtocolError: not JSON, or not an instrument object.
    """
    return decode_instrument(data).to_instrument()


_NS = 1_000_000_000


def format_rfc3339_ns(ts_ns: int) -> str:
    """``1790228425163976017`` -> ``"2026-09-24T05:20:25.163976017Z"``."""
    seconds, nanos = divmod(ts_ns, _NS)
    stamp = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 time with up to nanosecond digits into Unix nanoseconds.

    Raises:
        RemoteProtocolError: not an RFC 3339 timestamp.
    """
    try:
        body = text.strip()
        if body.endswith(("Z", "z")):
            body, offset = body[:-1], "+00:00"
        else:
            offset = body[-6:]
            body = body[:-6]
        fraction = ""
        if "." in body:
            body, fraction = body.split(".", 1)
        when = _dt.datetime.fromisoformat(body + offset)
        if when.tzinfo is None:
            raise ValueError("no UTC offset")  # a local time would depend on the machine
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
        return int(when.timestamp()) * _NS + nanos
    except (ValueError, IndexError) as exc:
        raise RemoteProtocolError(f"bad timestamp {text!r}") from exc
