"""The simulator's matching engine: one limit order book per symbol, price-time priority.

Pure: no asyncio, no sockets, no clock and no sleeps. Every call takes ``now`` (Unix
nanoseconds); ids come from a :class:`~axorders.sim.ids.UlidFactory` fed by an injected
:class:`random.Random`. Nothing is sent: each command returns a :class:`Reply` holding the
response body for the requester (``res`` or ``err``) and the events, as
``(account id, wire event)`` pairs in the order the venue emits them (response first, then
events). The venue layer encodes them and fans events out to every session of the account.

Theory of operation
-------------------
Prices are held as integer ticks; the request's decimal string is converted once (and
cached per book). Each side of a book is a dict ``ticks -> _Level`` plus a sorted list of the
level prices; a level is a FIFO of orders. Cancels are lazy: the order is marked dead and the
level's live quantity reduced, and the level disappears when its live quantity reaches zero.

Which failures are what (SPEC §6, §7.1, §8.4, Q13):

* request-level ``err`` 400, no order id, nothing recorded: a time in force other than
  GTC/IOC/DAY, an unknown ``rb``, a negative ``cid``, a tag longer than
  ``EngineConfig.max_tag_length``, a price that is not a finite number, and (default
  ``MarginFailure.ERROR``) a pre-trade margin failure with the venue's text
  ``initial margin required for order (X) is greater than available initial margin (Y)``;
* a ``j`` event for an order that gets an ``oid`` and is recorded as REJECTED:
  ``UNKNOWN_SYMBOL``, ``INCORRECT_QUANTITY``, ``INVALID_PRICE_INCREMENT``,
  ``PRICE_OUT_OF_BOUNDS`` (the venue's below/above texts), ``DUPLICATE_CLIENT_ORDER_ID``,
  ``INSUFFICIENT_MARGIN`` (with ``MarginFailure.REJECT``), and a post-only order that would
  cross (``r`` null, ``"post-only order would cross the book"``) when its ``rb`` is ``rej``.
  ``rb`` ``bo`` re-prices the order one tick behind the best opposite price and ``tbl`` joins
  the best price of its own side (inferred meanings, SPEC Q6).

Order of events (SPEC Q2): response first; then ``n`` for every accepted order
(``EngineConfig.ack_aggressive``; when false, ``n`` only for an order that rests without
trading); then ``p``/``f`` for each execution (incoming side first, ``agg`` true); then ``x``
for an IOC remainder. DAY orders end with ``d`` at :meth:`Engine.session_close` (Q12).

A user's cancel has ``xr`` and ``txt`` empty, as captured; cancels by self-trade prevention
and cancel-on-disconnect say so in ``txt``. The price band is ``mark × (1 ± pct / 100)``
rounded inwards to the tick.

Cancels: an unknown, terminal or foreign order gets ``err`` 404 ``"no matching orders"``
(default) or, with ``CancelReject.EVENT``, ``res {"cxl_rx": true}`` then an ``e`` event (Q5).
Orders are acknowledged synchronously, so the venue's 409 (cancel before ack) never occurs.

Replace is cancel-replace: the new order (new ``oid``, same cid/tag/po/rb, ``ts`` = replace
time) carries the old filled quantity, so ``q`` stays the total; ``r`` carries ``ro``
(REPLACED, ``rq`` 0), ``noid`` and ``no`` (ACCEPTED, or PARTIALLY_FILLED when it carries
filled quantity). The new order loses time priority, and trades as the aggressor when it
crosses. Invalid new parameters (tick, band, size, ``q <= xq``, a post-only cross with ``rb`` rej,
margin) get ``err`` 400 and leave the original untouched. A replace of a terminal order is
answered with a new ``oid`` and a ``j`` for it with ``ORIGINAL_ORDER_TERMINATED``: the race the
venue describes, made deterministic.

Self-trade prevention (:class:`StpMode`, default cancel-incoming) applies when an order meets
a resting order of the same account.
"""

from __future__ import annotations

import enum
import random
from bisect import insort
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final, TypeAlias

import msgspec

from axorders.model import Instrument, Side
from axorders.sim.ids import UlidFactory
from axorders.wire.md import BookLevel, L1BookMsg, L2BookMsg, TickerMsg, TradeMsg
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    ErrorBody,
    Execution,
    ExpiredMsg,
    FilledMsg,
    OrderBody,
    PartiallyFilledMsg,
    RejectedMsg,
    ReplacedMsg,
    ResultBody,
    ServerEvent,
    StatusBody,
)
from axorders.wire.rest import (
    Balance,
    BalancesResponse,
    FillInfo,
    InitialMarginResponse,
    Position,
    PreviewResponse,
    RiskSnapshot,
    SymbolRisk,
    format_rfc3339_ns,
)

__all__ = [
    "Cancel",
    "CancelAll",
    "CancelReject",
    "Command",
    "Engine",
    "EngineConfig",
    "Fill",
    "MarginFailure",
    "Place",
    "Reply",
    "SetMark",
    "StpMode",
    "Texts",
]

NS: Final = 1_000_000_000
_replace: Final = msgspec.structs.replace
_ZERO: Final = Decimal(0)
_CENT: Final = Decimal("0.01")
_HUNDRED: Final = Decimal(100)
_PERCENT: Final = Decimal("0.01")

# Order states (the venue's spellings).
ACCEPTED: Final = "ACCEPTED"
PARTIALLY_FILLED: Final = "PARTIALLY_FILLED"
FILLED: Final = "FILLED"
CANCELED: Final = "CANCELED"
REJECTED: Final = "REJECTED"
EXPIRED: Final = "EXPIRED"
REPLACED: Final = "REPLACED"
DONE_FOR_DAY: Final = "DONE_FOR_DAY"
_OPEN_STATES: Final = frozenset({ACCEPTED, PARTIALLY_FILLED})
_TIFS: Final = frozenset({"GTC", "IOC", "DAY"})
_REPRICE: Final = frozenset({"rej", "bo", "tbl"})


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


Events: TypeAlias = list[tuple[str, ServerEvent]]


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


# ---------------------------------------------------------------------------------------------
# Commands (used by the makers, and handy in tests).


@dataclass(frozen=True, slots=True)
class Place:
    account_id: str
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    time_in_force: str = "GTC"
    post_only: bool = False
    cid: int | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    account_id: str
    venue_order_id: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    account_id: str
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class SetMark:
    symbol: str
    price: Decimal


Command: TypeAlias = Place | Cancel | CancelAll | SetMark


# ---------------------------------------------------------------------------------------------
# Internal state.


class _Position:
    """Per account and symbol: position, cost basis, realized pnl and open-order exposure."""

    __slots__ = ("cost", "cost_f", "open_notional", "quantity", "realized", "ts")

    def __init__(self) -> None:
        self.quantity = 0  # signed contracts
        self.cost = _ZERO  # signed cost basis, USD
        self.cost_f = 0.0  # the same as a float, for the margin check's fast path
        self.realized = _ZERO
        self.ts = 0
        self.open_notional = 0  # sum of ticks × remaining quantity of open orders


class _Account:
    __slots__ = (
        "account_id",
        "balance",
        "balance_f",
        "blank_body",
        "check_margin",
        "fills",
        "history",
        "keep_history",
        "last_cid",
        "live_cids",
        "open",
        "positions",
        "user_id",
    )

    def __init__(
        self,
        account_id: str,
        user_id: str,
        balance: Decimal,
        check_margin: bool,
        keep_history: bool,
    ) -> None:
        self.account_id = account_id
        self.user_id = user_id
        self.balance = balance
        self.balance_f = float(balance)
        self.blank_body = OrderBody(
            venue_order_id="",
            user_id=user_id,
            account_id=account_id,
            symbol="",
            price=_ZERO,
            quantity=0,
            filled_quantity=0,
            remaining_quantity=0,
            status=ACCEPTED,
            side=Side.BUY,
            time_in_force="GTC",
            ts=0,
        )
        self.check_margin = check_margin
        self.keep_history = keep_history
        self.open: dict[str, _Order] = {}
        self.live_cids: dict[int, _Order] = {}
        self.last_cid: dict[int, _Order] = {}
        self.history: list[_Order] = []
        self.fills: list[Fill] = []
        self.positions: dict[str, _Position] = {}

    def position(self, symbol: str) -> _Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = _Position()
        return pos


class _Order(msgspec.Struct, gc=False):
    """One order. Untracked by the cyclic garbage collector (``gc=False``): the history keeps
    every order, and scanning them all on each full collection would dominate the engine's
    cost. It therefore refers to nothing that could form a cycle: its account by id, and the
    account's blank order object (itself untracked).

    Created positionally (one per order; keyword passing of this many arguments costs more
    than the rest of the construction).
    """

    oid: str
    account_id: str
    blank: OrderBody  # the account's blank order object (user and account ids set)
    symbol: str
    side: Side
    is_buy: bool
    quantity: int
    price: Decimal
    ticks: int
    tif: str
    cid: int | None
    tag: str | None
    post_only: bool
    reprice: str
    ts: int
    origin: int | None
    filled: int = 0
    status: str = ACCEPTED
    reason: str | None = None
    text: str | None = None
    live: bool = False  # resting on the book
    first_body: OrderBody | None = None

    def final_body(self) -> OrderBody:
        """:meth:`body` for the order's terminal event; the cached first body is dropped.

        A history keeps every order: without the cache each holds a third less memory, and a
        later query rebuilds the object.
        """
        body = self.body()
        self.first_body = None
        return body

    def body(self) -> OrderBody:
        """The venue's order object for this order, as it is now.

        The first call builds the full object; later calls copy it with the fields that can
        change (state, quantities, reject reason and text), which is much cheaper. The price
        is settled before the first call.
        """
        status = self.status
        remaining = self.quantity - self.filled if status in _OPEN_STATES else 0
        first = self.first_body
        if first is not None:
            return _replace(
                first,
                status=status,
                filled_quantity=self.filled,
                remaining_quantity=remaining,
                reject_reason=self.reason,
                text=self.text,
            )
        # Copying the account's blank order object is several times faster than building
        # one from scratch.
        first = self.first_body = _replace(
            self.blank,
            venue_order_id=self.oid,
            symbol=self.symbol,
            price=self.price,
            quantity=self.quantity,
            filled_quantity=self.filled,
            remaining_quantity=remaining,
            status=status,
            side=self.side,
            time_in_force=self.tif,
            cid=self.cid,
            tag=self.tag,
            post_only=self.post_only,
            reprice=self.reprice,
            reject_reason=self.reason,
            text=self.text,
            ts=self.ts // NS,
            tn=self.ts % NS,
        )
        return first


class _Level:
    __slots__ = ("orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[_Order] = deque()
        self.qty = 0  # live quantity


class _Book:
    __slots__ = (
        "ask_levels",
        "ask_prices",
        "band_high",
        "band_low",
        "bid_levels",
        "bid_prices",
        "high",
        "im_f",
        "im_rate",
        "instrument",
        "last_qty",
        "last_ticks",
        "low",
        "mark",
        "mark_f",
        "mult_f",
        "multiplier",
        "open",
        "price_cache",
        "symbol",
        "tick",
        "tick_f",
        "volume",
    )

    def __init__(self, instrument: Instrument, mark: Decimal) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.tick = instrument.tick_size
        self.multiplier = instrument.multiplier
        self.im_rate = instrument.initial_margin_pct / _HUNDRED * instrument.multiplier
        self.im_f = float(self.im_rate)
        self.tick_f = float(self.tick)
        self.mult_f = float(self.multiplier)
        self.mark_f = float(mark)
        self.bid_levels: dict[int, _Level] = {}
        self.bid_prices: list[int] = []  # ascending; best bid last
        self.ask_levels: dict[int, _Level] = {}
        self.ask_prices: list[int] = []  # ascending; best ask first
        self.price_cache: dict[Decimal, tuple[int, Decimal] | None] = {}
        self.mark = mark
        self.band_low = 0
        self.band_high = 0
        self.last_ticks: int | None = None
        self.last_qty = 0
        self.open: int | None = None
        self.high: int | None = None
        self.low: int | None = None
        self.volume = 0
        self.set_mark(mark)

    def set_mark(self, mark: Decimal) -> None:
        """New mark; the band is ``mark × (1 ± pct / 100)`` rounded inwards to ticks."""
        self.mark = mark
        self.mark_f = float(mark)
        instrument = self.instrument
        low = mark * (1 - instrument.price_band_lower_pct / _HUNDRED) / self.tick
        high = mark * (1 + instrument.price_band_upper_pct / _HUNDRED) / self.tick
        self.band_low = int(low.to_integral_value(rounding=ROUND_CEILING))
        self.band_high = int(high.to_integral_value(rounding=ROUND_FLOOR))

    def ticks_of(self, price: Decimal) -> tuple[int, Decimal] | None:
        """``(ticks, normalized price)``, or None when ``price`` is off the tick."""
        cache = self.price_cache
        try:
            return cache[price]
        except KeyError:
            pass
        try:
            ratio = price / self.tick
            exact = ratio == ratio.to_integral_value()
        except ArithmeticError:  # absurd exponents
            exact = False
        result = (int(ratio), self.price_of(int(ratio))) if exact else None
        if len(cache) > 50_000:
            cache.clear()
        cache[price] = result
        return result

    def price_of(self, ticks: int) -> Decimal:
        """The normalized decimal price of ``ticks`` (``"1.1283"``, ``"100"``)."""
        return _plain(self.tick * ticks)

    def best_bid(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    def levels(self, bids: bool, depth: int) -> list[BookLevel]:
        prices = self.bid_prices if bids else self.ask_prices
        table = self.bid_levels if bids else self.ask_levels
        chosen = prices[-depth:][::-1] if bids else prices[:depth]
        return [BookLevel(self.price_of(t), table[t].qty) for t in chosen]


def _plain(value: Decimal) -> Decimal:
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


def _money(value: Decimal) -> str:
    return str(max(value, _ZERO).quantize(_CENT, rounding=ROUND_HALF_UP))


class Fill(msgspec.Struct, gc=False):
    """One execution of one account, as REST ``/fills`` reports it (untracked, like orders)."""

    trade_id: str
    order_id: str
    account_id: str
    ts: int
    symbol: str
    price: Decimal
    quantity: int
    is_taker: bool
    fee: Decimal
    side: Side
    realized_pnl: Decimal | None

    def info(self) -> FillInfo:
        return FillInfo(
            trade_id=self.trade_id,
            order_id=self.order_id,
            account_id=self.account_id,
            timestamp=format_rfc3339_ns(self.ts),
            symbol=self.symbol,
            price=self.price,
            quantity=self.quantity,
            is_taker=self.is_taker,
            fee=_plain(self.fee),
            side=self.side,
            realized_pnl=None if self.realized_pnl is None else _plain(self.realized_pnl),
        )


class _Rejection(Exception):
    """Internal: a validation failure with the venue's reason and text."""

    def __init__(self, reason: str | None, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


# ---------------------------------------------------------------------------------------------


class Engine:
    """Books, accounts, positions and the order history of the simulated venue.

    Args:
        instruments: the tradable contracts.
        marks: starting mark price per symbol (required for every instrument).
        config: venue rules.
        rng: the randomness for ids; seed it for repeatable runs.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        marks: Mapping[str, Decimal],
        *,
        config: EngineConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._ids = UlidFactory(rng or random.Random(0))
        self._books: dict[str, _Book] = {}
        for instrument in instruments:
            self._books[instrument.symbol] = _Book(instrument, marks[instrument.symbol])
        self._accounts: dict[str, _Account] = {}
        self._orders: dict[str, _Order] = {}
        self._stp = self.config.stp
        self._check_margin = self.config.check_margin
        self._ack_aggressive = self.config.ack_aggressive
        self._taker_fee = self.config.taker_fee
        self._maker_fee = self.config.maker_fee
        self._taker_fee_f = float(self.config.taker_fee)
        self._maker_fee_f = float(self.config.maker_fee)
        self._record_md = self.config.record_market_data
        self._md_dirty: set[str] = set()
        self._md_trades: list[TradeMsg] = []
        self.orders_processed = 0
        """Place, cancel, cancel-all and replace commands handled."""

    # -- accounts and instruments ---------------------------------------------------------------

    @property
    def instruments(self) -> list[Instrument]:
        return [book.instrument for book in self._books.values()]

    def instrument(self, symbol: str) -> Instrument | None:
        book = self._books.get(symbol)
        return book.instrument if book is not None else None

    def add_account(
        self,
        account_id: str,
        *,
        user_id: str | None = None,
        balance: Decimal | None = None,
        check_margin: bool = True,
        keep_history: bool = True,
    ) -> None:
        """Open an account (idempotent for an existing id).

        Args:
            user_id: the owning user (the order objects' ``u``); defaults to ``account_id``.
            balance: starting USD balance; defaults to the config's initial balance.
            check_margin: False exempts the account from the margin check (market makers).
            keep_history: False forgets terminal orders and fills (market makers).
        """
        if account_id in self._accounts:
            return
        self._accounts[account_id] = _Account(
            account_id,
            user_id or account_id,
            self.config.initial_balance if balance is None else balance,
            check_margin,
            keep_history,
        )

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def set_mark(self, symbol: str, price: Decimal) -> None:
        """Move the mark price (and with it the price band) of ``symbol``.

        Raises:
            KeyError: unknown symbol.
        """
        self._books[symbol].set_mark(price)

    def mark(self, symbol: str) -> Decimal:
        """The mark price of ``symbol``. Raises KeyError for an unknown symbol."""
        return self._books[symbol].mark

    def price_band(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self._books[symbol]
        return book.price_of(book.band_low), book.price_of(book.band_high)

    def apply(self, command: Command, now: int) -> Reply:
        """Run one :data:`Command`."""
        if isinstance(command, Place):
            return self.place(
                command.account_id,
                command.symbol,
                command.side,
                command.quantity,
                command.price,
                now=now,
                time_in_force=command.time_in_force,
                post_only=command.post_only,
                cid=command.cid,
                tag=command.tag,
            )
        if isinstance(command, Cancel):
            return self.cancel(command.account_id, now, venue_order_id=command.venue_order_id)
        if isinstance(command, CancelAll):
            return self.cancel_all(command.account_id, now, symbol=command.symbol)
        self.set_mark(command.symbol, command.price)
        return Reply(ResultBody())

    # -- order entry ----------------------------------------------------------------------------

    def place(
        self,
        account_id: str,
        symbol: str,
        side: Side,
        quantity: int,
        price: Decimal,
        *,
        now: int,
        time_in_force: str = "GTC",
        post_only: bool = False,
        cid: int | None = None,
        tag: str | None = None,
        reprice: str | None = None,
        origin: int | None = None,
    ) -> Reply:
        """Place a limit order (WS ``p``, REST ``place-order``).

        Args:
            origin: an opaque id of the connection that placed it (cancel-on-disconnect).

        Returns:
            ``res {"oid"}`` and the order's events, or an ``err`` (see the module notes).
        """
        self.orders_processed += 1
        acct = self._accounts.get(account_id)
        if acct is None:
            return Reply(error=ErrorBody(code=403, message="unknown account"))
        if (
            time_in_force not in _TIFS
            or reprice is not None
            or cid is not None
            or tag is not None
            or not price.is_finite()
        ):
            problem = self._request_problem(time_in_force, reprice, cid, tag, price)
            if problem is not None:
                return Reply(error=ErrorBody(code=400, message=problem))
        oid = "O-" + self._ids.new(now)
        book = self._books.get(symbol)
        order = _Order(
            oid,
            account_id,
            acct.blank_body,
            symbol,
            side,
            side is Side.BUY,
            quantity,
            price,
            0,
            time_in_force,
            cid,
            tag,
            post_only,
            reprice or "rej",
            now,
            origin,
        )
        reply = Reply(ResultBody(venue_order_id=oid))
        events = reply.events
        try:
            if book is None:
                raise _Rejection("UNKNOWN_SYMBOL", f"symbol {symbol} is not available")
            order.ticks, order.price = self._check_order(book, quantity, price)
            if cid is not None and cid in acct.live_cids:
                raise _Rejection(
                    "DUPLICATE_CLIENT_ORDER_ID",
                    f"client order id {cid} is already used by an open order",
                )
            if post_only and self._crosses(book, order.is_buy, order.ticks):
                self._reprice(book, order)
            if acct.check_margin and self._check_margin:
                shortfall = self._margin_shortfall(acct, book, order.is_buy, order.ticks, quantity)
                if shortfall is not None:
                    if self.config.margin_failure is MarginFailure.ERROR:
                        return Reply(error=ErrorBody(code=400, message=shortfall))
                    raise _Rejection("INSUFFICIENT_MARGIN", shortfall)
        except _Rejection as rejection:
            self._reject(order, rejection, now, events)
            return reply
        self._register(order)
        self._run(order, book, now, events, ack=True)
        return reply

    def cancel(
        self,
        account_id: str,
        now: int,
        *,
        venue_order_id: str | None = None,
        cid: int | None = None,
    ) -> Reply:
        """Cancel one open order by ``oid`` or ``cid`` (WS ``x``, REST ``cancel-order``)."""
        self.orders_processed += 1
        acct = self._accounts.get(account_id)
        order = self._find(acct, venue_order_id, cid)
        if order is None or order.status not in _OPEN_STATES:
            return self.refuse_cancel(account_id, now, venue_order_id=venue_order_id, cid=cid)
        reply = Reply(ResultBody(cancel_received=True))
        self._cancel(order, now, reply.events, "", "")
        return reply

    def refuse_cancel(
        self,
        account_id: str,
        now: int,
        *,
        venue_order_id: str | None = None,
        cid: int | None = None,
    ) -> Reply:
        """The venue's answer to a cancel of an order it cannot find for this account.

        ``err`` 404 ``"no matching orders"``, or with ``CancelReject.EVENT``
        ``res {"cxl_rx": true}`` followed by an ``e`` event (``ORDER_NOT_FOUND``).
        """
        if self.config.cancel_reject is CancelReject.EVENT and account_id in self._accounts:
            event = CancelRejectedMsg(
                ts=now // NS,
                tn=now % NS,
                venue_order_id=venue_order_id,
                reject_reason="ORDER_NOT_FOUND",
                text=Texts.ORDER_NOT_FOUND,
                cid=cid,
            )
            return Reply(ResultBody(cancel_received=True), events=[(account_id, event)])
        return Reply(error=ErrorBody(code=404, message=Texts.NO_MATCHING_ORDERS))

    def cancel_all(self, account_id: str, now: int, *, symbol: str | None = None) -> Reply:
        """Cancel every open order of the account, optionally of one symbol: ``res {}`` + ``c``s."""
        self.orders_processed += 1
        acct = self._accounts.get(account_id)
        if acct is None:
            return Reply(error=ErrorBody(code=403, message="unknown account"))
        reply = Reply(ResultBody())
        for order in [o for o in acct.open.values() if symbol is None or o.symbol == symbol]:
            self._cancel(order, now, reply.events, "", "")
        return reply

    def cancel_origin(self, account_id: str, origin: int, now: int) -> Events:
        """Cancel the open orders placed through connection ``origin`` (cancel-on-disconnect)."""
        acct = self._accounts.get(account_id)
        events: Events = []
        if acct is not None:
            for order in [o for o in acct.open.values() if o.origin == origin]:
                self._cancel(order, now, events, "", Texts.CANCEL_ON_DISCONNECT)
        return events

    def replace(
        self,
        account_id: str,
        venue_order_id: str,
        now: int,
        *,
        price: Decimal | None = None,
        quantity: int | None = None,
        time_in_force: str | None = None,
        post_only: bool | None = None,
    ) -> Reply:
        """Cancel-replace an open order (WS ``r``, REST ``replace-order``); see the module notes."""
        self.orders_processed += 1
        acct = self._accounts.get(account_id)
        old = self._find(acct, venue_order_id, None)
        if acct is None or old is None:
            return Reply(error=ErrorBody(code=404, message=Texts.NO_MATCHING_ORDERS))
        tif = time_in_force if time_in_force is not None else old.tif
        new_price = price if price is not None else old.price
        problem = self._request_problem(tif, None, None, None, new_price)
        if problem is not None:
            return Reply(error=ErrorBody(code=400, message=problem))
        new_qty = quantity if quantity is not None else old.quantity
        po = post_only if post_only is not None else old.post_only
        oid = "O-" + self._ids.new(now)
        new = _Order(
            oid,
            acct.account_id,
            acct.blank_body,
            old.symbol,
            old.side,
            old.is_buy,
            new_qty,
            new_price,
            old.ticks,
            tif,
            old.cid,
            old.tag,
            po,
            old.reprice,
            now,
            old.origin,
        )
        reply = Reply(ResultBody(venue_order_id=oid))
        if old.status not in _OPEN_STATES:
            terminated = _Rejection("ORIGINAL_ORDER_TERMINATED", Texts.ORIGINAL_TERMINATED)
            self._reject(new, terminated, now, reply.events)
            return reply
        book = self._books[old.symbol]
        try:
            new.ticks, new.price = self._check_order(book, new_qty, new_price)
            if new_qty <= old.filled:
                raise _Rejection(
                    "INCORRECT_QUANTITY",
                    f"replace quantity ({new_qty}) must be greater than the filled"
                    f" quantity ({old.filled})",
                )
            # The old order leaves the book first so that it neither blocks a post-only
            # re-price nor counts twice in the margin check.
            self._unrest(old)
            try:
                if po and self._crosses(book, new.is_buy, new.ticks):
                    self._reprice(book, new)
                if acct.check_margin and self._check_margin:
                    shortfall = self._margin_shortfall(
                        acct, book, new.is_buy, new.ticks, new_qty - old.filled
                    )
                    if shortfall is not None:
                        raise _Rejection("INSUFFICIENT_MARGIN", shortfall)
            except _Rejection:
                self._rest_again(old, book)
                raise
        except _Rejection as rejection:
            return Reply(error=ErrorBody(code=400, message=rejection.text))
        new.filled = old.filled
        if new.filled:
            new.status = PARTIALLY_FILLED
        old.status = REPLACED
        self._finish(old)
        self._register(new)
        reply.events.append(
            (
                acct.account_id,
                ReplacedMsg(
                    ts=now // NS,
                    tn=now % NS,
                    event_id="E-" + self._ids.new(now),
                    old_order=old.final_body(),
                    new_venue_order_id=oid,
                    new_order=new.body(),
                ),
            )
        )
        self._run(new, book, now, reply.events, ack=False)
        return reply

    def session_close(self, now: int) -> Events:
        """End every open DAY order with ``d`` (DONE_FOR_DAY, ``rq`` 0, ``xq`` kept)."""
        events: Events = []
        for acct in self._accounts.values():
            for order in [o for o in acct.open.values() if o.tif == "DAY"]:
                self._unrest(order)
                order.status = DONE_FOR_DAY
                self._finish(order)
                events.append(
                    (
                        acct.account_id,
                        DoneForDayMsg(
                            ts=now // NS,
                            tn=now % NS,
                            event_id="E-" + self._ids.new(now),
                            order=order.final_body(),
                        ),
                    )
                )
        return events

    # -- queries --------------------------------------------------------------------------------

    def open_orders(self, account_id: str) -> list[OrderBody]:
        """Open orders of the account, oldest first."""
        acct = self._accounts.get(account_id)
        return [o.body() for o in acct.open.values()] if acct is not None else []

    def open_orders_reply(self, account_id: str) -> Reply:
        """``res {"orders": [...]}`` (WS ``o``)."""
        return Reply(ResultBody(orders=self.open_orders(account_id)))

    def order(self, account_id: str, venue_order_id: str) -> OrderBody | None:
        """The order object of one of the account's orders (any state)."""
        order = self._find(self._accounts.get(account_id), venue_order_id, None)
        return order.body() if order is not None else None

    def status(
        self, account_id: str, *, venue_order_id: str | None = None, cid: int | None = None
    ) -> StatusBody | None:
        """The order-status object (WS ``s``, REST ``order-status``), or None when unknown.

        By ``cid`` it is the open order with that cid, else the newest order that had it.
        """
        order = self._find(self._accounts.get(account_id), venue_order_id, cid)
        if order is None:
            return None
        return StatusBody(
            symbol=order.symbol,
            order_id=order.oid,
            clord_id=order.cid,
            state=order.status,
            filled_quantity=order.filled,
            remaining_quantity=order.quantity - order.filled if order.status in _OPEN_STATES else 0,
            reject_reason=order.reason,
            reject_message=order.text if order.status == REJECTED else None,
        )

    def status_reply(
        self, account_id: str, *, venue_order_id: str | None = None, cid: int | None = None
    ) -> Reply:
        """``res {"status": {...}}`` or ``err`` 404."""
        status = self.status(account_id, venue_order_id=venue_order_id, cid=cid)
        if status is None:
            return Reply(error=ErrorBody(code=404, message=Texts.NO_MATCHING_ORDERS))
        return Reply(ResultBody(status=status))

    def history(self, account_id: str) -> list[OrderBody]:
        """Every order of the account in every state, newest first (by ``ts``, then ``oid``)."""
        acct = self._accounts.get(account_id)
        if acct is None:
            return []
        orders = sorted(acct.history, key=lambda o: (o.ts, o.oid), reverse=True)
        return [o.body() for o in orders]

    def fills(self, account_id: str) -> list[Fill]:
        """The account's executions, oldest first."""
        acct = self._accounts.get(account_id)
        return list(acct.fills) if acct is not None else []

    def positions(self, account_id: str) -> list[Position]:
        acct = self._accounts.get(account_id)
        if acct is None:
            return []
        result = []
        for symbol, pos in sorted(acct.positions.items()):
            if pos.ts == 0:
                continue  # open orders only, never traded
            book = self._books[symbol]
            result.append(
                Position(
                    account_id=acct.account_id,
                    symbol=symbol,
                    signed_quantity=pos.quantity,
                    signed_cost_basis=_plain(pos.cost),
                    signed_notional=_plain(pos.quantity * book.mark * book.multiplier),
                    timestamp=format_rfc3339_ns(pos.ts),
                    realized_pnl=_plain(pos.realized),
                )
            )
        return result

    def balance(self, account_id: str) -> Decimal:
        """USD balance: initial balance + realized pnl - fees. Raises KeyError if unknown."""
        return self._accounts[account_id].balance

    def balances(self, account_id: str) -> BalancesResponse:
        acct = self._accounts.get(account_id)
        if acct is None:
            return BalancesResponse(balances=[], usd_borrow=_ZERO)
        balance = Balance(account_id=acct.account_id, symbol="USD", amount=_plain(acct.balance))
        return BalancesResponse(balances=[balance], usd_borrow=_ZERO)

    def risk_snapshot(self, account_id: str, now: int) -> RiskSnapshot:
        """Per-symbol margin and pnl plus account totals (REST ``risk-snapshot``)."""
        acct = self._accounts[account_id]
        per_symbol: dict[str, SymbolRisk] = {}
        im_pos = im_orders = maint = unrealized = _ZERO
        for symbol, pos in sorted(acct.positions.items()):
            book = self._books[symbol]
            notional = pos.quantity * book.mark * book.multiplier
            s_im_pos = abs(notional) * book.im_rate
            s_im_orders = book.tick * pos.open_notional * book.im_rate
            s_maint = (
                abs(notional) * book.instrument.maintenance_margin_pct / _HUNDRED * book.multiplier
            )
            s_unreal = notional - pos.cost
            per_symbol[symbol] = SymbolRisk(
                signed_quantity=pos.quantity,
                signed_cost_basis=_plain(pos.cost),
                signed_notional=_plain(notional),
                mark_price=book.mark,
                signed_usd_notional=_plain(notional),
                average_price=_plain(pos.cost / pos.quantity / book.multiplier)
                if pos.quantity
                else None,
                initial_margin_required_position=_plain(s_im_pos),
                initial_margin_required_open_orders=_plain(s_im_orders),
                initial_margin_required_total=_plain(s_im_pos + s_im_orders),
                maintenance_margin_required=_plain(s_maint),
                unrealized_pnl=_plain(s_unreal),
                liquidation_price=None,
            )
            im_pos += s_im_pos
            im_orders += s_im_orders
            maint += s_maint
            unrealized += s_unreal
        equity = acct.balance + unrealized
        return RiskSnapshot(
            account_id=acct.account_id,
            timestamp_ns=format_rfc3339_ns(now - now % NS)[:19] + "Z",
            per_symbol=per_symbol,
            initial_margin_required_for_positions=_plain(im_pos),
            initial_margin_required_for_open_orders=_plain(im_orders),
            initial_margin_required_total=_plain(im_pos + im_orders),
            maintenance_margin_required=_plain(maint),
            unrealized_pnl=_plain(unrealized),
            equity=_plain(equity),
            initial_margin_available=_plain(equity - im_pos - im_orders),
            maintenance_margin_available=_plain(equity - maint),
            balance_usd=_plain(acct.balance),
        )

    def initial_margin(
        self, account_id: str, symbol: str, side: Side, quantity: int, price: Decimal
    ) -> InitialMarginResponse | None:
        """The initial margin an order would need (REST ``initial-margin-requirement``)."""
        book = self._books.get(symbol)
        acct = self._accounts.get(account_id)
        if book is None or acct is None:
            return None
        pos = acct.positions.get(symbol)
        position = pos.quantity if pos is not None else 0
        opening = self._opening_quantity(position, side is Side.BUY, quantity)
        return InitialMarginResponse(
            im_pct=book.instrument.initial_margin_pct,
            im=price * opening * book.multiplier * book.instrument.initial_margin_pct * _PERCENT,
            pos=position,
            mult=book.multiplier,
        )

    def preview(self, symbol: str, side: Side, quantity: int) -> PreviewResponse | None:
        """Price an aggressive limit order against the book; None for an unknown symbol.

        ``limit_price`` is the worst level needed (null when that side is empty).
        """
        book = self._books.get(symbol)
        if book is None:
            return None
        if side is Side.BUY:
            prices, table = book.ask_prices, book.ask_levels
        else:
            prices, table = book.bid_prices[::-1], book.bid_levels
        needed = max(quantity, 0)
        filled = 0
        notional = _ZERO
        worst: int | None = None
        for ticks in prices:
            if filled >= needed:
                break
            take = min(table[ticks].qty, needed - filled)
            filled += take
            notional += book.price_of(ticks) * take
            worst = ticks
        if worst is None:
            return PreviewResponse(
                limit_price=None, vwap=None, filled_quantity=0, remaining_quantity=needed
            )
        return PreviewResponse(
            limit_price=book.price_of(worst),
            vwap=_plain((notional / filled).quantize(book.tick / 100)) if filled else None,
            filled_quantity=filled,
            remaining_quantity=needed - filled,
        )

    def best_prices(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and ask of ``symbol`` (None for an empty side). Raises KeyError."""
        book = self._books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        return (
            None if bid is None else book.price_of(bid),
            None if ask is None else book.price_of(ask),
        )

    def depth(self, symbol: str, levels: int = 20) -> tuple[list[BookLevel], list[BookLevel]]:
        """Aggregated bids (best first) and asks (best first). Raises KeyError."""
        book = self._books[symbol]
        return book.levels(True, levels), book.levels(False, levels)

    def resting(self, symbol: str) -> Iterator[OrderBody]:
        """Every live order resting on ``symbol``'s book, bids then asks, in priority order."""
        book = self._books[symbol]
        for prices, table in (
            (book.bid_prices[::-1], book.bid_levels),
            (book.ask_prices, book.ask_levels),
        ):
            for ticks in prices:
                for order in table[ticks].orders:
                    if order.live:
                        yield order.body()

    # -- market data ----------------------------------------------------------------------------

    @property
    def record_market_data(self) -> bool:
        """Whether public trades and changed books are kept for :meth:`take_market_data`."""
        return self._record_md

    @record_market_data.setter
    def record_market_data(self, value: bool) -> None:
        self._record_md = value
        if not value:
            self._md_trades, self._md_dirty = [], set()

    def take_market_data(self) -> tuple[list[TradeMsg], set[str]]:
        """Public trades and the symbols whose book changed since the last call."""
        trades, dirty = self._md_trades, self._md_dirty
        self._md_trades, self._md_dirty = [], set()
        return trades, dirty

    def l1(self, symbol: str, now: int) -> L1BookMsg:
        book = self._books[symbol]
        return L1BookMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=symbol,
            bids=book.levels(True, 1),
            asks=book.levels(False, 1),
        )

    def l2(self, symbol: str, now: int, depth: int = 20) -> L2BookMsg:
        book = self._books[symbol]
        return L2BookMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=symbol,
            bids=book.levels(True, depth),
            asks=book.levels(False, depth),
            snapshot=True,
        )

    def ticker(self, symbol: str, now: int) -> TickerMsg:
        book = self._books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        open_interest = sum(
            max(acct.positions[symbol].quantity, 0)
            for acct in self._accounts.values()
            if symbol in acct.positions
        )

        def px(ticks: int | None) -> Decimal | None:
            return None if ticks is None else book.price_of(ticks)

        return TickerMsg(
            ts=now // NS,
            tn=now % NS,
            symbol=symbol,
            last_price=px(book.last_ticks),
            last_quantity=book.last_qty if book.last_ticks is not None else None,
            open=px(book.open),
            low=px(book.low),
            high=px(book.high),
            volume=book.volume,
            open_interest=open_interest,
            state=book.instrument.state,
            mark=book.mark,
            bid=px(bid),
            ask=px(ask),
            band_lower=book.price_of(book.band_low),
            band_upper=book.price_of(book.band_high),
        )

    # -- internals ------------------------------------------------------------------------------

    def _request_problem(
        self,
        tif: str,
        reprice: str | None,
        cid: int | None,
        tag: str | None,
        price: Decimal,
    ) -> str | None:
        if tif not in _TIFS:
            return f"unsupported time in force {tif!r}; use GTC, IOC or DAY"
        if reprice is not None and reprice not in _REPRICE:
            return f"unsupported reprice behaviour {reprice!r}; use rej, bo or tbl"
        if cid is not None and cid < 0:
            return "cid must be a non-negative integer"
        if tag is not None and len(tag) > self.config.max_tag_length:
            return f"tag is longer than {self.config.max_tag_length} characters"
        if not price.is_finite():
            return "price is not a finite number"
        return None

    def _check_order(self, book: _Book, quantity: int, price: Decimal) -> tuple[int, Decimal]:
        """Size, tick and band checks; returns ``(ticks, normalized price)``."""
        instrument = book.instrument
        if quantity <= 0:
            raise _Rejection("INCORRECT_QUANTITY", "order quantity must be positive")
        if quantity < instrument.minimum_order_size:
            raise _Rejection(
                "INCORRECT_QUANTITY",
                f"order quantity is below the minimum order size ({instrument.minimum_order_size})",
            )
        cache = book.price_cache
        converted = cache[price] if price in cache else book.ticks_of(price)
        if converted is None:
            # Off the tick, unless far outside the band (too large to divide by the tick).
            if price <= 0:
                raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
            if price > book.price_of(book.band_high) * 2:
                raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
            raise _Rejection(
                "INVALID_PRICE_INCREMENT",
                f"order price is not a multiple of the tick size ({instrument.tick_size})",
            )
        ticks = converted[0]
        if ticks < book.band_low or ticks <= 0:
            raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
        if ticks > book.band_high:
            raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
        return converted

    @staticmethod
    def _crosses(book: _Book, is_buy: bool, ticks: int) -> bool:
        if is_buy:
            return bool(book.ask_prices) and ticks >= book.ask_prices[0]
        return bool(book.bid_prices) and ticks <= book.bid_prices[-1]

    def _reprice(self, book: _Book, order: _Order) -> None:
        """A post-only order that would cross: reject (``rej``) or move it (``bo``/``tbl``)."""
        if order.reprice == "rej":
            raise _Rejection(None, Texts.POST_ONLY_CROSS)
        if order.is_buy:
            behind = book.ask_prices[0] - 1
            own = book.best_bid()
            ticks = own if order.reprice == "tbl" and own is not None and own < behind else behind
        else:
            behind = book.bid_prices[-1] + 1
            own = book.best_ask()
            ticks = own if order.reprice == "tbl" and own is not None and own > behind else behind
        if ticks < book.band_low or ticks <= 0:
            raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.BELOW_MIN_PRICE)
        if ticks > book.band_high:
            raise _Rejection("PRICE_OUT_OF_BOUNDS", Texts.ABOVE_MAX_PRICE)
        order.ticks = ticks
        order.price = book.price_of(ticks)

    @staticmethod
    def _opening_quantity(position: int, is_buy: bool, quantity: int) -> int:
        """The part of an order that would grow the position (the rest closes it)."""
        if (position < 0 and is_buy) or (position > 0 and not is_buy):
            return max(quantity - abs(position), 0)
        return quantity

    def _margin_shortfall(
        self, acct: _Account, book: _Book, is_buy: bool, ticks: int, quantity: int
    ) -> str | None:
        """The venue's margin text when the order needs more margin than is available."""
        pos = acct.positions.get(book.symbol)
        held_qty = pos.quantity if pos is not None else 0
        opening = quantity if held_qty == 0 else self._opening_quantity(held_qty, is_buy, quantity)
        if opening == 0:
            return None
        # Fast path in floats, decisive unless the order is within a hair of the limit.
        available_f = acct.balance_f
        books = self._books
        for symbol, held in acct.positions.items():
            if held.quantity:
                other = books[symbol]
                notional_f = held.quantity * other.mark_f * other.mult_f
                available_f += notional_f - held.cost_f - abs(notional_f) * other.im_f
            if held.open_notional:
                other = books[symbol]
                available_f -= other.tick_f * held.open_notional * other.im_f
        required_f = book.tick_f * ticks * opening * book.im_f
        # The floats follow the exact values incrementally; the margin covers their drift.
        if required_f < available_f - abs(available_f) * 1e-6 - 1e-3:
            return None
        # Exact.
        required = book.tick * ticks * opening * book.im_rate
        available = acct.balance
        for symbol, held in acct.positions.items():
            other = self._books[symbol]
            if held.quantity:
                notional = held.quantity * other.mark * other.multiplier
                available += notional - held.cost - abs(notional) * other.im_rate
            if held.open_notional:
                available -= other.tick * held.open_notional * other.im_rate
        if required <= available:
            return None
        return (
            f"initial margin required for order ({_money(required)}) is greater than"
            f" available initial margin ({_money(available)})"
        )

    def _find(
        self, acct: _Account | None, venue_order_id: str | None, cid: int | None
    ) -> _Order | None:
        if acct is None:
            return None
        if venue_order_id is not None:
            order = self._orders.get(venue_order_id)
            return order if order is not None and order.account_id == acct.account_id else None
        if cid is not None:
            return acct.live_cids.get(cid) or acct.last_cid.get(cid)
        return None

    def _record(self, order: _Order) -> None:
        """A rejected order: history and the cid's latest order."""
        acct = self._accounts[order.account_id]
        if acct.keep_history:
            acct.history.append(order)
            self._orders[order.oid] = order
        if order.cid is not None:
            acct.last_cid[order.cid] = order

    def _register(self, order: _Order) -> None:
        """An accepted order: history, open set, live cid."""
        acct = self._accounts[order.account_id]
        oid = order.oid
        self._orders[oid] = order  # until it ends, even without history (cancels need it)
        acct.open[oid] = order
        if acct.keep_history:
            acct.history.append(order)
        cid = order.cid
        if cid is not None:
            acct.last_cid[cid] = order
            acct.live_cids[cid] = order

    def _reject(self, order: _Order, rejection: _Rejection, now: int, events: Events) -> None:
        order.price = _plain(order.price)
        order.status = REJECTED
        order.reason = rejection.reason
        order.text = rejection.text
        self._record(order)
        events.append(
            (
                order.account_id,
                RejectedMsg(
                    ts=now // NS,
                    tn=now % NS,
                    event_id="E-" + self._ids.new(now),
                    order=order.final_body(),
                    reject_reason=rejection.reason,
                    text=rejection.text,
                ),
            )
        )

    def _run(self, order: _Order, book: _Book, now: int, events: Events, ack: bool) -> None:
        """Acknowledge (``ack``), match, then rest or expire an accepted order."""
        account_id = order.account_id
        early = ack and self._ack_aggressive
        if early:
            events.append(
                (
                    account_id,
                    AcknowledgedMsg(
                        ts=now // NS,
                        tn=now % NS,
                        event_id="E-" + self._ids.new(now),
                        order=order.body(),
                    ),
                )
            )
        ticks = order.ticks
        if order.is_buy:
            crosses = bool(book.ask_prices) and ticks >= book.ask_prices[0]
        else:
            crosses = bool(book.bid_prices) and ticks <= book.bid_prices[-1]
        if crosses:
            self._match(order, book, now, events)
        if order.status not in _OPEN_STATES:
            return  # filled, or canceled by self-trade prevention
        if order.tif == "IOC":
            order.status = EXPIRED
            self._finish(order)
            events.append(
                (
                    account_id,
                    ExpiredMsg(
                        ts=now // NS,
                        tn=now % NS,
                        event_id="E-" + self._ids.new(now),
                        order=order.final_body(),
                    ),
                )
            )
            order.text = Texts.NO_LIQUIDITY  # in the history, not in the event
            return
        self._rest(order, book)
        if ack and not early and not order.filled:
            events.append(
                (
                    account_id,
                    AcknowledgedMsg(
                        ts=now // NS,
                        tn=now % NS,
                        event_id="E-" + self._ids.new(now),
                        order=order.body(),
                    ),
                )
            )

    def _rest(self, order: _Order, book: _Book) -> None:
        if order.is_buy:
            table, prices = book.bid_levels, book.bid_prices
        else:
            table, prices = book.ask_levels, book.ask_prices
        level = table.get(order.ticks)
        if level is None:
            level = table[order.ticks] = _Level()
            insort(prices, order.ticks)
        level.orders.append(order)
        remaining = order.quantity - order.filled
        level.qty += remaining
        order.live = True
        positions = self._accounts[order.account_id].positions
        pos = positions.get(order.symbol)
        if pos is None:
            pos = positions[order.symbol] = _Position()
        pos.open_notional += order.ticks * remaining
        if self._record_md:
            self._md_dirty.add(order.symbol)

    def _rest_again(self, order: _Order, book: _Book) -> None:
        """Put back an order taken off for a refused replace (it keeps its time priority)."""
        if order.is_buy:
            table, prices = book.bid_levels, book.bid_prices
        else:
            table, prices = book.ask_levels, book.ask_prices
        level = table.get(order.ticks)
        if level is None:
            level = table[order.ticks] = _Level()
            insort(prices, order.ticks)
        if order not in level.orders:
            # The level was dropped when it emptied; priority is first in the new level.
            level.orders.appendleft(order)
        remaining = order.quantity - order.filled
        level.qty += remaining
        order.live = True
        self._accounts[order.account_id].position(order.symbol).open_notional += (
            order.ticks * remaining
        )

    def _unrest(self, order: _Order) -> None:
        """Take a live order off its level (lazily: the FIFO entry is skipped later)."""
        if not order.live:
            return
        order.live = False
        book = self._books[order.symbol]
        if order.is_buy:
            table, prices = book.bid_levels, book.bid_prices
        else:
            table, prices = book.ask_levels, book.ask_prices
        level = table[order.ticks]
        remaining = order.quantity - order.filled
        level.qty -= remaining
        self._accounts[order.account_id].position(order.symbol).open_notional -= (
            order.ticks * remaining
        )
        if level.qty == 0:
            del table[order.ticks]
            prices.remove(order.ticks)
        if self._record_md:
            self._md_dirty.add(order.symbol)

    def _finish(self, order: _Order) -> None:
        """Bookkeeping for an order that reached a terminal state."""
        acct = self._accounts[order.account_id]
        acct.open.pop(order.oid, None)
        if order.cid is not None and acct.live_cids.get(order.cid) is order:
            del acct.live_cids[order.cid]
        if not acct.keep_history:
            self._orders.pop(order.oid, None)

    def _cancel(self, order: _Order, now: int, events: Events, reason: str, text: str) -> None:
        self._unrest(order)
        order.status = CANCELED
        self._finish(order)
        events.append(
            (
                order.account_id,
                CanceledMsg(
                    ts=now // NS,
                    tn=now % NS,
                    event_id="E-" + self._ids.new(now),
                    order=order.final_body(),
                    reason=reason,
                    text=text,
                ),
            )
        )

    def _match(self, order: _Order, book: _Book, now: int, events: Events) -> None:
        """Trade ``order`` against the opposite side while it crosses."""
        if order.is_buy:
            prices, table = book.ask_prices, book.ask_levels
        else:
            prices, table = book.bid_prices, book.bid_levels
        is_buy = order.is_buy
        limit = order.ticks
        stp = self._stp
        account_id = order.account_id
        while prices and order.filled < order.quantity:
            best = prices[0] if is_buy else prices[-1]
            if (best > limit) if is_buy else (best < limit):
                break
            level = table[best]
            queue = level.orders
            stop = False
            while queue and order.filled < order.quantity:
                resting = queue[0]
                if not resting.live:
                    queue.popleft()
                    continue
                if resting.account_id == account_id:
                    if stp is not StpMode.CANCEL_INCOMING:
                        self._cancel(resting, now, events, "", Texts.SELF_TRADE)
                    if stp is not StpMode.CANCEL_RESTING:
                        self._cancel(order, now, events, "", Texts.SELF_TRADE)
                        stop = True
                        break
                    continue  # the resting order is gone (and maybe its level)
                self._execute(order, resting, level, book, now=now, events=events)
                if not resting.live:
                    queue.popleft()
            if best in table and table[best].qty == 0:
                del table[best]
                if is_buy:
                    del prices[0]
                else:
                    del prices[-1]
            if stop:
                return

    def _execute(
        self,
        taker: _Order,
        maker: _Order,
        level: _Level,
        book: _Book,
        *,
        now: int,
        events: Events,
    ) -> None:
        """One execution at the resting order's price."""
        qty = min(taker.quantity - taker.filled, maker.quantity - maker.filled)
        ticks = maker.ticks
        price = maker.price
        symbol = book.symbol
        taker.filled += qty
        maker.filled += qty
        level.qty -= qty
        ids = self._ids
        trade_id = "T-" + ids.new(now)
        ts, tn = divmod(now, NS)
        value = price * book.multiplier  # per contract
        value_f = ticks * book.tick_f * book.mult_f
        accounts = self._accounts
        for order, is_taker in ((taker, True), (maker, False)):
            acct = accounts[order.account_id]
            positions = acct.positions
            pos = positions.get(symbol)
            if pos is None:
                pos = positions[symbol] = _Position()
            if order.filled == order.quantity:
                order.status = FILLED
                if not is_taker:
                    order.live = False
                self._finish(order)
            else:
                order.status = PARTIALLY_FILLED
            if is_taker:
                rate, rate_f = self._taker_fee, self._taker_fee_f
            else:
                pos.open_notional -= ticks * qty
                rate, rate_f = self._maker_fee, self._maker_fee_f
            fee = value * qty * rate if rate_f else _ZERO
            realized, realized_f = self._apply_fill(pos, order.is_buy, qty, value, value_f, now)
            if rate_f:
                acct.balance -= fee
            if realized is not None:
                acct.balance += realized
            acct.balance_f += realized_f - value_f * qty * rate_f
            if acct.keep_history:
                acct.fills.append(
                    Fill(
                        trade_id,
                        order.oid,
                        acct.account_id,
                        now,
                        symbol,
                        price,
                        qty,
                        is_taker,
                        fee,
                        order.side,
                        realized,
                    )
                )
            execution = Execution(
                trade_id=trade_id,
                account_id=acct.account_id,
                symbol=symbol,
                quantity=qty,
                price=price,
                side=order.side,
                aggressor=is_taker,
            )
            message: ServerEvent
            if order.status == FILLED:
                message = FilledMsg(
                    ts=ts,
                    tn=tn,
                    event_id="E-" + ids.new(now),
                    order=order.final_body(),
                    execution=execution,
                )
            else:
                message = PartiallyFilledMsg(
                    ts=ts,
                    tn=tn,
                    event_id="E-" + ids.new(now),
                    order=order.body(),
                    execution=execution,
                )
            events.append((acct.account_id, message))
        book.last_ticks = ticks
        book.last_qty = qty
        book.volume += qty
        if book.open is None:
            book.open = ticks
        if book.high is None or ticks > book.high:
            book.high = ticks
        if book.low is None or ticks < book.low:
            book.low = ticks
        if self._record_md:
            self._md_dirty.add(symbol)
            trade = TradeMsg(
                price=price, quantity=qty, symbol=symbol, side=taker.side, ts=ts, tn=tn
            )
            self._md_trades.append(trade)

    @staticmethod
    def _apply_fill(
        pos: _Position, is_buy: bool, qty: int, value: Decimal, value_f: float, now: int
    ) -> tuple[Decimal | None, float]:
        """Update a position with one fill at ``value`` (price × multiplier) per contract.

        The float mirror (``value_f``, ``cost_f``) feeds the margin check's fast path.

        Returns:
            The realized pnl of the fill's closing part (None when it only opens), and the
            same as a float (0.0 then).
        """
        signed = qty if is_buy else -qty
        pos.ts = now
        held = pos.quantity
        if held == 0 or (held > 0) == is_buy:
            pos.quantity = held + signed
            pos.cost += value * signed
            pos.cost_f += value_f * signed
            return None, 0.0
        closing = min(qty, abs(held))
        direction = 1 if held > 0 else -1
        closed_cost = pos.cost * closing / abs(held)
        closed_f = pos.cost_f * closing / abs(held)
        realized = value * closing * direction - closed_cost
        pos.realized += realized
        pos.quantity = held + signed
        if pos.quantity == 0:
            pos.cost = _ZERO
            pos.cost_f = 0.0
        elif abs(signed) > closing:  # flipped: the rest opens the other way
            pos.cost = value * pos.quantity
            pos.cost_f = value_f * pos.quantity
        else:
            pos.cost -= closed_cost
            pos.cost_f -= closed_f
        return realized, value_f * closing * direction - closed_f
