"""The client's pre-trade risk controls, its positions and the kill switch.

:class:`RiskGuard` is the part of :class:`~axorders.client.OrdersClient` that owns

* the :class:`~axorders.risk.RiskGate` (the limits and the trading state), consulted by the
  client's journaled send before a place or a replace reaches the session: a refusal raises
  :class:`~axorders.exceptions.RiskLimitError` and publishes
  :class:`~axorders.events.OrderDenied`; nothing is sent;
* :class:`WorkingOrders`, what the gate needs of each symbol: open orders and the contracts
  still to fill on each side, kept up to date from the order events (O(1) per event and per
  check, a full count only after a connect, a resync or a drop);
* the reference prices of the price collar: the mid (else the last trade) of the client's
  market-data feed, else the venue's aggressive-limit preview for one contract, fetched before
  a place when the collar applies and kept ``reference_ttl`` seconds; with neither (no feed,
  no liquidity, REST down) the collar is skipped for that order and the other limits apply;
* the :class:`~axorders.risk.PositionBook`, fed every :class:`~axorders.events.OrderFilled`
  (REST-recovered ones included) and followed by a
  :class:`~axorders.events.PositionChanged`; compared with the venue's positions after every
  resync (:class:`~axorders.events.PositionMismatch`, the venue's figure adopted);
* the persistence of the trading state and of the positions in the order journal's
  key-value table, when a journal is used;
* the kill switch: :meth:`RiskGuard.halt`.

Positions in the journal, and a crash. A fill applied marks the book to be written (one small
value, staged with the journal writer): the pump's next journal write carries it in the same
transaction as the order records of that fill, so that after a crash the journal holds both
or neither; the session then re-delivers exactly the fills its journaled records lack, which
the restored book lacks too. The book is encoded once per write, whatever the number of fills
since the last one; a failed write keeps it staged and retries it with the records. The value
also holds the trade ids of the fills applied since the last commit of the records (normally
the fills of one socket read): with a store that cannot write both in one transaction the book
is committed just before the records, and a fill re-delivered after a crash between the two is
refused by its trade id, so it is never counted twice.

Limits of the design, stated: armed STOP_LIMIT orders count as open and working (they will be
sent without another check); a stop that triggers is not checked again (its check was at
arming); a replace that waits for the venue counts the larger of its old and new quantities;
a rate token is consumed before the session's own validation, so an order the session then
refuses (a duplicate id) still used one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import msgspec

from axorders import events as ev
from axorders.client.journal import JournalWriter
from axorders.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from axorders.events import RequestKind, RequestOutcome
from axorders.exceptions import (
    AxOrdersError,
    ConnectionLostError,
    InvalidOrderError,
    InvalidStateError,
    RequestTimeoutError,
    RiskLimitError,
    StoreError,
)
from axorders.model import OrderStatus, OrderType, RequestId, Side
from axorders.results import OrderResult
from axorders.risk import (
    Exposure,
    Position,
    PositionBook,
    RiskGate,
    RiskLimits,
    SymbolLimits,
    TradingState,
    denial,
    venue_position,
)
from axorders.session import OrdersSession
from axorders.state import OrderRecord
from axorders.wire.rest import Position as VenuePosition

__all__ = ["BOOK_KEY", "STATE_KEY", "RiskGuard", "WorkingOrders"]

log = logging.getLogger("axorders.client")

STATE_KEY: Final = "risk.trading_state"
"""The journal's key of the trading state (JSON: state, reason, whether a sweep is owed)."""

BOOK_KEY: Final = "risk.positions"
"""The journal's key of the positions (a :meth:`PositionBook.to_json` document)."""

_MAX_UNJOURNALED: Final = 100_000
"""Trade ids kept for the journal while the order records cannot be written (see the module's
docstring); beyond it the oldest are left out (and counted)."""

_MAX_STALE: Final = 1024
"""Orders named by events and not looked at yet beyond which they are looked at at once."""

_Accepted: Final = ev.OrderAccepted
_OK: Final = RequestOutcome.OK
_PLACE: Final = RequestKind.PLACE

_PASSED: Final = 1
"""In :attr:`WorkingOrders.stale`: an order counted by the check that passed it, to be looked
at once the session holds its record (the session may have refused it), unless the venue
accepts it first."""

_SETTLE_S: Final = 0.25
"""Seconds between the two reads of the venue's positions that must agree before a
difference is adopted (a fill on its way must not be taken for a mismatch)."""

_RECOVERY_WAIT_S: Final = 10.0
"""How long a position check waits for the session's REST fill recovery to finish."""


class _Book(msgspec.Struct, frozen=True, kw_only=True):
    """The form of :meth:`PositionBook.to_json` this part writes (a subset of the ids)."""

    format: int
    max_trade_ids: int
    forgotten: int = 0
    positions: list[dict[str, Any]] = []
    trades: list[tuple[str, str, bool]] = []


class _State(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    reason: str = ""
    sweep_owed: bool = False


# ---------------------------------------------------------------------------------------------
# What is working, per symbol.


class WorkingOrders:
    """Open orders and working contracts per symbol, kept from the session's records.

    Each live order contributes ``(symbol, side, contracts still to fill)``; the totals move
    by the difference when :meth:`refresh` looks at one order again (O(1), and nothing to do
    when the order counts as it did). The client calls :meth:`refresh` for every order event
    (:meth:`on_event`) and :meth:`invalidate` after a connect, a resync or a drop; the next
    read then counts every live order once (O(live orders)).

    A place the check passed counts at once, with its whole quantity (:meth:`passed`); it is
    looked at before the next read (the session may have refused it), unless the venue's
    acceptance came first (:meth:`on_accepted`). An acceptance changes nothing an order counts
    for (it had all its quantity to fill before, and has after); every change that does (a
    fill, a replace, an end, a correction) comes with an event of its own.
    """

    __slots__ = ("_asked", "_by_order", "_dirty", "_session", "_symbols", "held", "stale", "total")

    def __init__(self, session: OrdersSession) -> None:
        self._session = session
        self._by_order: dict[str, tuple[str, Side, int]] = {}
        # symbol -> [open orders, BUY contracts working, SELL contracts working, position]:
        # one look-up gives a check all it needs of the symbol.
        self._symbols: dict[str, list[int]] = {}
        # client order id -> the contracts a replace waiting for the venue asked for
        self._asked: dict[str, int] = {}
        self._dirty = True
        self.total = 0
        self.held: dict[str, int] = {}
        """The signed position of each symbol (as the client's position book has it)."""
        self.stale: dict[str, int | None] = {}
        """Orders to look at again before the next read (:meth:`settle`): those an event
        named (None), and the places a check passed and counted (``_PASSED``) until the venue
        accepts them (the look then has nothing to change: they leave without one)."""

    def set_position(self, symbol: str, quantity: int) -> None:
        """The position of ``symbol`` is now ``quantity`` (signed contracts)."""
        self.held[symbol] = quantity
        row = self._symbols.get(symbol)
        if row is not None:
            row[3] = quantity

    def set_positions(self, positions: Mapping[str, int]) -> None:
        """Every position at once (those not named are flat)."""
        held = self.held
        held.clear()
        held.update(positions)
        for symbol, row in self._symbols.items():
            row[3] = held.get(symbol, 0)

    def position(self, symbol: str) -> int:
        return self.held.get(symbol, 0)

    def invalidate(self) -> None:
        """Count everything again at the next read."""
        self._dirty = True

    def asked(self, client_order_id: str, leaves: int) -> None:
        """A replace went out asking for ``leaves`` contracts still to fill."""
        self._asked[client_order_id] = leaves
        self.refresh(client_order_id)

    def answered(self, client_order_id: str) -> None:
        """The venue answered a replace (done or refused)."""
        if self._asked.pop(client_order_id, None) is not None:
            self.refresh(client_order_id)

    def row(self, symbol: str) -> list[int]:
        """The counts of ``symbol`` (see :meth:`counts`), made when missing; read only."""
        row = self._symbols.get(symbol)
        if row is None:
            row = self._symbols[symbol] = [0, 0, 0, self.held.get(symbol, 0)]
        return row

    def passed(self, client_order_id: str, symbol: str, side: Side, quantity: int) -> None:
        """A check passed this place: it counts from now on, with all its ``quantity``
        (looked at again before the next read, unless the venue accepts it first)."""
        by_order = self._by_order
        if self._dirty or client_order_id in by_order:
            # Counted at the next read, or an id in use: the session's record tells.
            self.stale[client_order_id] = None
            return
        by_order[client_order_id] = (symbol, side, quantity)
        row = self.row(symbol)
        row[0] += 1
        row[1 if side is Side.BUY else 2] += quantity
        self.total += 1
        self.stale[client_order_id] = _PASSED

    def on_accepted(self, event: Any) -> None:
        """An ``OrderAccepted``: the order counts as it did (a place a check passed needs no
        look any more); one not counted yet is looked at (any other event: :meth:`on_event`)."""
        if self._dirty:
            return  # the next read counts everything
        stale = self.stale
        coid = event.client_order_id
        if type(event) is not _Accepted:
            self.on_event(event)
        elif stale.get(coid) == _PASSED:
            del stale[coid]  # the session holds it: it counts as the check counted it
        elif coid not in self._by_order:
            self.on_event(event)

    def on_resolved(self, event: ev.RequestResolved) -> None:
        """A request ended: a place the venue answered OK is accepted (see
        :meth:`on_accepted`); the order of any other is looked at again (:meth:`on_event`)."""
        if self._dirty:
            return  # the next read counts everything
        if (
            event.outcome is not _OK
            or event.kind is not _PLACE
            or event.client_order_id not in self._by_order
        ):
            self.on_event(event)

    def on_event(self, event: Any) -> None:
        """An order event (anything with a ``client_order_id``): its order is looked at again
        before the next read (O(1); the event's own delivery waits for nothing)."""
        if not self._dirty:
            coid = event.client_order_id
            if coid is not None:
                stale = self.stale
                stale[coid] = None
                if len(stale) >= _MAX_STALE:
                    self.settle()

    def settle(self) -> None:
        """Look again at every order named since the last read."""
        stale = self.stale
        if stale:
            self.stale = {}
            for coid in stale:
                self.refresh(coid)

    def refresh(self, client_order_id: str) -> None:
        """Look at one order again."""
        if self._dirty:
            return  # the next read counts everything
        rec = self._session.order(client_order_id)
        by_order = self._by_order
        old = by_order.get(client_order_id)
        # leaves_qty is 0 for an ended order: is_terminal is read only then.
        leaves = 0 if rec is None else rec.leaves_qty
        if rec is None or (not leaves and rec.is_terminal):
            if old is not None:
                del by_order[client_order_id]
                self._add(old, -1)
            if self._asked:
                self._asked.pop(client_order_id, None)
            return
        if self._asked:
            asked = self._asked.get(client_order_id)
            if asked is not None and asked > leaves:
                leaves = asked
        symbol = rec.symbol
        side = rec.side
        if old is None:
            by_order[client_order_id] = (symbol, side, leaves)
            row = self._symbols.get(symbol)
            if row is None:
                row = self._symbols[symbol] = [0, 0, 0, self.held.get(symbol, 0)]
            row[0] += 1
            row[1 if side is Side.BUY else 2] += leaves
            self.total += 1
        elif old[0] == symbol and old[1] is side:
            change = leaves - old[2]
            if change:
                by_order[client_order_id] = (symbol, side, leaves)
                self._symbols[symbol][1 if side is Side.BUY else 2] += change
        else:
            self._add(old, -1)
            new = by_order[client_order_id] = (symbol, side, leaves)
            self._add(new, 1)

    def counts(self, symbol: str) -> list[int] | None:
        """``[open orders, BUY contracts working, SELL contracts working, position]`` of
        ``symbol`` (None for a symbol never seen); read only. The total is :attr:`total`
        (read it after this)."""
        if self._dirty:
            self._recount()
        elif self.stale:
            self.settle()
        return self._symbols.get(symbol)

    def exposure(self, symbol: str, position: int) -> Exposure:
        row = self.counts(symbol)
        if row is None:
            return Exposure(position=position, open_orders_total=self.total)
        return Exposure(
            position=position,
            open_orders=row[0],
            open_orders_total=self.total,
            buy_working=row[1],
            sell_working=row[2],
        )

    def leaves(self, rec: OrderRecord) -> int:
        """What ``rec`` counts for in its side's working contracts."""
        found = self._contribution(rec)
        return 0 if found is None else found[2]

    def _contribution(self, rec: OrderRecord) -> tuple[str, Side, int] | None:
        if rec.is_terminal:
            return None
        leaves = rec.leaves_qty
        asked = self._asked.get(rec.client_order_id)
        if asked is not None and asked > leaves:
            leaves = asked
        return rec.symbol, rec.side, leaves

    def _add(self, item: tuple[str, Side, int], sign: int) -> None:
        symbol, side, leaves = item
        row = self._symbols.get(symbol)
        if row is None:
            row = self._symbols[symbol] = [0, 0, 0, self.held.get(symbol, 0)]
        row[0] += sign
        row[1 if side is Side.BUY else 2] += sign * leaves
        self.total += sign

    def _recount(self) -> None:
        self._dirty = False
        self.stale = {}
        self._by_order.clear()
        self._symbols.clear()
        self.total = 0
        for rec in self._session.orders():
            item = self._contribution(rec)
            if item is not None:
                self._by_order[rec.client_order_id] = item
                self._add(item, 1)
        live = self._by_order
        for coid in [c for c in self._asked if c not in live]:
            del self._asked[coid]


# ---------------------------------------------------------------------------------------------
# The guard.

Preview = Callable[[str, Side, int], Awaitable[Decimal | None]]
Prices = Callable[[str], "tuple[Decimal | None, Decimal | None, Decimal | None] | None"]


class RiskGuard:
    """Limits, trading state, positions and the kill switch of one client.

    Args:
        session: the session, read only (its orders, instruments and fill recovery).
        prices: the last known (last, bid, ask) of a symbol from the market-data feed.
        publish: the hub's publish (OrderDenied, PositionChanged, PositionMismatch).
        send: the client's journaled send (the local cancels of armed stops).
        cancel_all: cancels every open order and waits for the venue (the sweep of a halt).
        ready: set while the session is connected and resynced.
        preview: the venue's aggressive-limit price (REST), for the collar's reference.
        venue_positions: the venue's positions (REST ``/positions``).
        watch: subscribes a symbol's market data (a collar keeps its reference there).
        journal: the order journal, when one is used.
        limits: the limits (None: none; the trading state still applies).
        reference_ttl: seconds a preview price stays the collar's reference.
        clock: Unix nanoseconds.
    """

    def __init__(
        self,
        session: OrdersSession,
        *,
        prices: Prices,
        publish: Callable[[list[ev.Event]], None],
        send: Callable[[Command], RequestId | None],
        cancel_all: Callable[[float | None], Awaitable[list[OrderResult]]],
        ready: asyncio.Event,
        preview: Preview,
        venue_positions: Callable[[], Awaitable[list[VenuePosition]]],
        watch: Callable[[str], Awaitable[None]] | None = None,
        journal: JournalWriter | None = None,
        limits: RiskLimits | None = None,
        reference_ttl: float = 1.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if reference_ttl < 0:
            raise ValueError("reference_ttl must be zero or more")
        self._session = session
        self._prices = prices
        self._publish = publish
        self._send = send
        self._cancel_all = cancel_all
        self._ready = ready
        self._preview = preview
        self._venue_positions = venue_positions
        self._watch = watch
        self._journal = journal
        self._clock = clock
        self._ttl_ns = int(reference_ttl * 1e9)
        self.gate = RiskGate(limits)
        self._limited = limits is not None
        self.working = WorkingOrders(session)
        self.book = PositionBook()
        self._multipliers: dict[str, Decimal] = {}
        # Preview prices by symbol: (price, time fetched).
        self._previews: dict[str, tuple[Decimal, int]] = {}
        # The feed's prices of each symbol last seen by a check, and their reference price.
        self._fed: dict[str, tuple[Any, Decimal | None]] = {}
        self._watched: set[str] = set()
        # Trade ids applied since the order records were last committed (see the module).
        self._unjournaled: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self._commits_seen = -1
        # The book's quantities, for the checks: kept in the working orders' rows.
        self._held = self.working.held
        self._changes: list[ev.Event] = []
        self._flush_scheduled = False
        self._sweep_owed = False
        self._sweep: asyncio.Task[None] | None = None
        self._sweep_waiters: list[asyncio.Future[list[OrderResult]]] = []
        self._reconcile_task: asyncio.Task[list[ev.PositionMismatch]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.fills_applied = 0
        self.fills_seen = 0  # every OrderFilled handed to user code (the client's metrics)
        self.denied = 0
        self.book_write_failures = 0
        self.closed = False
        self._restore()
        self._sync_held()

    # -----------------------------------------------------------------------------------------
    # The hub's handlers.

    def handlers(self) -> dict[type[ev.Event], Callable[[Any], None]]:
        """The events this part follows (see :func:`axorders.client.hub.merge_handlers`)."""
        found: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.OrderFilled: self.on_fill,
            ev.OrderReplaced: self._on_replace_answer,
            ev.ReplaceRejected: self._on_replace_answer,
            ev.Resynced: self.on_resynced,
            ev.LoginSnapshot: self._on_reset,
            ev.Disconnected: self._on_reset,
        }
        found[ev.OrderAccepted] = self.working.on_accepted
        found[ev.RequestResolved] = self.working.on_resolved
        refresh = self.working.on_event
        for kind in (
            ev.OrderRejected,
            ev.OrderCanceled,
            ev.OrderExpired,
            ev.OrderTriggered,
            ev.OrderStateCorrected,
            ev.OrderStatusUnknown,
            ev.CancelRejected,
        ):
            found[kind] = refresh
        found[ev.ExternalOrderDiscovered] = self._on_external
        return found

    def _on_replace_answer(self, event: ev.OrderReplaced | ev.ReplaceRejected) -> None:
        coid = event.client_order_id
        if coid is not None:
            self.working.answered(coid)

    def _on_external(self, event: ev.ExternalOrderDiscovered) -> None:
        coid = event.order.client_order_id
        if coid is not None:
            self.working.refresh(coid)
        else:
            self.working.invalidate()

    def _on_reset(self, event: ev.Event) -> None:
        self.working.invalidate()

    # -----------------------------------------------------------------------------------------
    # Limits and the trading state.

    @property
    def limits(self) -> RiskLimits | None:
        return self.gate.limits if self._limited else None

    def set_limits(self, limits: RiskLimits | None) -> None:
        self._limited = limits is not None
        self.gate.set_limits(limits or RiskLimits())
        self.working.invalidate()

    @property
    def state(self) -> TradingState:
        return self.gate.state

    @property
    def reason(self) -> str:
        return self.gate.reason

    def set_state(self, state: TradingState | str, reason: str = "") -> None:
        """Switch the trading state (journaled when a journal is used).

        Raises:
            ValueError: not a trading state.
            StoreError: the journal could not be written (the state is switched anyway).
        """
        if isinstance(state, str):
            try:
                state = TradingState(state.strip().upper())
            except ValueError:
                raise ValueError(
                    f"{state!r} is not a trading state (ACTIVE, REDUCING or HALTED)"
                ) from None
        self.gate.set_state(state, reason)
        self.working.invalidate()
        if state is not TradingState.HALTED:
            self._sweep_owed = False
            self._fail_waiters(None)
        self._save_state()

    def check(self, command: Command, now: int | None = None) -> None:
        """The limits of a place or a replace, before the session sees it (O(1)).

        A command the session will refuse as bad input (an unknown symbol or order, a bad
        quantity or price) is left to the session. Cancels and queries are never checked.
        ``now`` is the caller's reading of the clock (Unix ns), else the clock is read.

        Raises:
            RiskLimitError: a limit refused it (an ``OrderDenied`` event was published).
        """
        if not self._limited and self.gate.state is TradingState.ACTIVE:
            return
        working = self.working
        if now is None:
            now = self._clock()
        if type(command) is not PlaceOrder and not isinstance(command, PlaceOrder):
            if isinstance(command, ReplaceOrder):
                self._check_replace(command, now)
            return
        # A place: the path of every new order, in one piece.
        symbol = command.symbol
        try:
            inst = self._session.instrument(symbol)
        except InvalidOrderError:
            return  # the session refuses it, with its own words
        # Values already typed are taken as they are (the session checks them next).
        side = command.side
        otype = command.order_type
        quantity = command.quantity
        price = command.price
        trigger = command.trigger_price
        try:
            if type(side) is not Side:
                side = Side.parse(side)
            if type(otype) is not OrderType:
                otype = OrderType.parse(otype)
            if type(quantity) is not int:
                quantity = inst.check_quantity(quantity)
            if price is not None and type(price) is not Decimal:
                price = inst.check_price(price)
            if trigger is not None:
                trigger = inst.check_price(trigger, "trigger_price")
        except (InvalidOrderError, ValueError):
            return  # the session refuses it, with its own words
        gate = self.gate
        limits = gate.limits_for(symbol)
        reference = None
        if limits.price_collar_bps is not None or (
            limits.max_notional is not None and price is None and trigger is None
        ):
            # self.reference(symbol, now), inline.
            known = self._prices(symbol)
            if known is not None:
                fed = self._fed.get(symbol)
                if fed is not None and fed[0] is known:
                    reference = fed[1]
                else:
                    reference = self._feed(symbol, known)
            if reference is None:
                seen = self._previews.get(symbol)
                if seen is not None and now - seen[1] <= self._ttl_ns:
                    reference = seen[0]
        if working._dirty:
            working._recount()
        elif working.stale:
            working.settle()
        row = working._symbols.get(symbol)
        if row is None:
            row = working.row(symbol)
        buy = side is Side.BUY
        try:
            gate.place(
                symbol,
                side,
                quantity,
                otype,
                price,
                trigger,
                inst.multiplier,
                reference,
                row[3],
                row[0],
                working.total,
                row[1] if buy else row[2],
                now,
            )
        except RiskLimitError as exc:
            self._deny(
                exc, command.client_order_id, side, quantity, price, now, ev.RequestKind.PLACE
            )
            raise
        # It counts from now on, looked at again once the session holds its record, unless
        # the venue accepts it first (WorkingOrders.passed, inline).
        coid = command.client_order_id
        by_order = working._by_order
        if coid in by_order:  # an id in use: the session's record tells
            working.stale[coid] = None
            return
        by_order[coid] = (symbol, side, quantity)
        row[0] += 1
        row[1 if buy else 2] += quantity
        working.total += 1
        working.stale[coid] = _PASSED

    @staticmethod
    def _uses_reference(
        limits: SymbolLimits, price: Decimal | None, trigger: Decimal | None
    ) -> bool:
        """Whether the gate reads the reference price for these limits: the collar does,
        and the notional of an order with neither a price nor a trigger price."""
        return limits.price_collar_bps is not None or (
            limits.max_notional is not None and price is None and trigger is None
        )

    def _check_replace(self, command: ReplaceOrder, now: int) -> None:
        session = self._session
        rec = None
        if command.client_order_id is not None:
            rec = session.order(command.client_order_id)
        if rec is None and command.venue_order_id is not None:
            rec = session.order_by_venue_id(command.venue_order_id)
        if rec is None or rec.is_terminal:
            return  # the session refuses it
        try:
            inst = session.instrument(rec.symbol)
            quantity = (
                rec.quantity if command.quantity is None else inst.check_quantity(command.quantity)
            )
            price = rec.price if command.price is None else inst.check_price(command.price)
        except (InvalidOrderError, ValueError):
            return
        symbol = rec.symbol
        side = rec.side
        trigger = rec.trigger_price
        gate = self.gate
        reference = None
        if self._uses_reference(gate.limits_for(symbol), price, trigger):
            reference = self.reference(symbol, now)
        working = self.working
        row = working.counts(symbol)
        side_working = 0 if row is None else row[1] if side is Side.BUY else row[2]
        try:
            gate.replace(
                symbol,
                side,
                quantity,
                rec.order_type,
                price,
                trigger,
                inst.multiplier,
                reference,
                working.position(symbol),
                side_working,
                working.leaves(rec),
                rec.filled_qty,
                now,
            )
        except RiskLimitError as exc:
            self._deny(
                exc, rec.client_order_id, side, quantity, price, now, ev.RequestKind.REPLACE
            )
            raise
        if rec.status is not OrderStatus.ARMED:
            working.asked(rec.client_order_id, max(0, quantity - rec.filled_qty))

    def _deny(
        self,
        exc: RiskLimitError,
        coid: str | None,
        side: Side,
        quantity: int,
        price: Decimal | None,
        now: int,
        kind: ev.RequestKind,
    ) -> None:
        self.denied += 1
        self._publish(
            [
                denial(
                    exc,
                    client_order_id=coid,
                    side=side,
                    quantity=quantity,
                    price=price,
                    now=now,
                    kind=kind,
                )
            ]
        )

    def _position(self, symbol: str) -> int:
        return self._held.get(symbol, 0)

    def _sync_held(self) -> None:
        self.working.set_positions({s: p.quantity for s, p in self.book.positions().items()})

    # -----------------------------------------------------------------------------------------
    # Reference prices.

    def reference(self, symbol: str, now: int) -> Decimal | None:
        """The collar's reference price of ``symbol``: the feed's mid, else its last trade,
        else a preview price younger than ``reference_ttl``; None when there is none."""
        known = self._prices(symbol)
        if known is not None:
            fed = self._fed.get(symbol)
            found = fed[1] if fed is not None and fed[0] is known else self._feed(symbol, known)
            if found is not None:
                return found
        seen = self._previews.get(symbol)
        if seen is not None and now - seen[1] <= self._ttl_ns:
            return seen[0]
        return None

    def _feed(
        self, symbol: str, known: tuple[Decimal | None, Decimal | None, Decimal | None]
    ) -> Decimal | None:
        """The reference price of the feed's ``(last, bid, ask)`` of a symbol: the mid, else
        the last trade; kept with the prices it came from (the mid is worked out once per
        change of the prices, and the gate sees the same value again)."""
        last, bid, ask = known
        if bid is not None and ask is not None and bid > 0 and ask > 0:
            found: Decimal | None = (bid + ask) / 2
        else:
            found = last
        self._fed[symbol] = (known, found)
        return found

    def needs_reference(self, symbol: str) -> bool:
        """True when a collar applies to ``symbol`` and no reference price is known."""
        if self.gate.limits_for(symbol).price_collar_bps is None:
            return False
        return self.reference(symbol, self._clock()) is None

    def needs_prepare(self, command: PlaceOrder) -> bool:
        """Whether :meth:`prepare` has anything to do for ``command`` (a cheap test, made
        before a place so that the usual one awaits nothing): limits are set, a collar
        applies to the symbol and no reference price is known."""
        if not self._limited:
            return False
        symbol = command.symbol
        # Is a reference known? (``reference() is not None``, without its arithmetic.)
        seen = self._previews.get(symbol)
        if seen is not None and self._clock() - seen[1] <= self._ttl_ns:
            return False
        if self.gate.limits_for(symbol).price_collar_bps is None:
            return False
        known = self._prices(symbol)
        if known is not None:
            last, bid, ask = known
            if last is not None or (bid is not None and ask is not None and bid > 0 and ask > 0):
                return False
        return True

    async def prepare(self, command: PlaceOrder) -> None:
        """Before a place: fetch the collar's reference price if one is needed and none is
        known (one REST call, at most every ``reference_ttl`` seconds per symbol), and watch
        the symbol's market data from then on. Never raises: without a price, the collar is
        skipped for this order."""
        if not self.needs_prepare(command):
            return
        symbol = command.symbol
        try:
            self._session.instrument(symbol)
        except InvalidOrderError:
            return  # the session refuses it
        if self._watch is not None and symbol not in self._watched:
            self._watched.add(symbol)
            self._spawn(self._watch_symbol(symbol))
        try:
            side = Side.parse(command.side)
            price = await self._preview(symbol, side, 1)
        except (AxOrdersError, ValueError) as exc:
            log.warning("no reference price for %s: %s", symbol, exc)
            return
        if price is not None:
            self._previews[symbol] = (price, self._clock())

    async def _watch_symbol(self, symbol: str) -> None:
        assert self._watch is not None
        try:
            await self._watch(symbol)
        except (AxOrdersError, OSError) as exc:
            log.warning("no market data for the price collar of %s: %s", symbol, exc)
            self._watched.discard(symbol)

    # -----------------------------------------------------------------------------------------
    # Positions.

    def positions(self) -> dict[str, Position]:
        return self.book.positions()

    def on_fill(self, event: ev.OrderFilled) -> None:
        """Apply a fill to the book (once, by trade id and side); journal the book; publish
        its ``PositionChanged`` right after the fill's own batch."""
        self.fills_seen += 1
        self.working.refresh(event.client_order_id)
        symbol = event.symbol
        multiplier = self._multipliers.get(symbol)
        if multiplier is None:
            multiplier = self._multiplier(symbol)
        try:
            # The session checked the fill's values (side, quantity, price, trade id).
            change = self.book.apply_checked_fill(
                symbol,
                event.side,
                event.last_qty,
                event.last_price,
                event.fee,
                event.trade_id,
                event.ts_init,
                multiplier,
            )
        except ValueError as exc:  # a fill the book cannot take: said, never raised
            log.warning(
                "position of %s: fill %s not applied: %s", event.symbol, event.trade_id, exc
            )
            return
        if change is None:
            return
        self.fills_applied += 1
        self.working.set_position(change.symbol, change.quantity)
        self._journal_fill(event.trade_id, event.side, event.fee is None)
        self._changes.append(change)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self._flush_scheduled = False  # no loop: the caller flushes

    def _multiplier(self, symbol: str) -> Decimal:
        """The instrument's multiplier (1 for one the session does not know), kept."""
        try:
            multiplier = self._session.instrument(symbol).multiplier
        except AxOrdersError:
            return Decimal(1)
        self._multipliers[symbol] = multiplier
        return multiplier

    def flush(self) -> None:
        """Publish the ``PositionChanged`` events of the fills applied so far (a fill's
        change follows the batch that carried the fill, in order)."""
        self._flush_scheduled = False
        changes, self._changes = self._changes, []
        if changes:
            self._publish(changes)

    # -----------------------------------------------------------------------------------------
    # The journal.

    def _restore(self) -> None:
        journal = self._journal
        if journal is None:
            return
        store = journal.store
        try:
            state = store.get_meta(STATE_KEY)
            book = store.get_meta(BOOK_KEY)
        except StoreError as exc:
            log.warning("risk state not restored from the journal: %s", exc)
            return
        if state:
            try:
                saved = msgspec.json.decode(state, type=_State)
                self.gate.set_state(TradingState(saved.state), saved.reason)
                self._sweep_owed = saved.sweep_owed and saved.state == TradingState.HALTED.value
            except (msgspec.DecodeError, ValueError) as exc:
                # Refuse to guess: a journal whose state cannot be read starts HALTED.
                log.warning("unreadable trading state in the journal (%s): starting HALTED", exc)
                self.gate.set_state(TradingState.HALTED, "unreadable trading state in the journal")
        if book:
            try:
                self.book = PositionBook.from_json(book, max_trade_ids=self.book.max_trade_ids)
            except ValueError as exc:
                log.warning("positions not restored from the journal: %s", exc)
            else:
                for trade in msgspec.json.decode(book, type=_Book).trades:
                    self._unjournaled[(trade[0], trade[1])] = trade[2]

    def _save_state(self) -> None:
        journal = self._journal
        if journal is None:
            return
        saved = _State(
            state=self.gate.state.value, reason=self.gate.reason, sweep_owed=self._sweep_owed
        )
        value = msgspec.json.encode(saved).decode()
        journal.store.set_meta(STATE_KEY, value)

    def _journal_fill(self, trade_id: str, side: Side, fee_pending: bool) -> None:
        journal = self._journal
        if journal is None:
            return
        kept = self._unjournaled
        commits = journal.commits
        if commits != self._commits_seen and not journal.failing and not journal.pending:
            # Every record changed before this fill is committed: their fills are safe.
            self._commits_seen = commits
            kept.clear()
        kept[(trade_id, side.value)] = fee_pending
        if len(kept) > _MAX_UNJOURNALED:
            kept.popitem(last=False)
        # Written with the order records of this fill, by the pump's next journal write.
        journal.stage(BOOK_KEY, self._book_value)

    def save_book(self) -> bool:
        """Write the positions and the trade ids not yet covered by the order records now,
        with whatever the journal has left to write (one transaction). False when the write
        failed: the book stays staged and goes with the journal's next write."""
        journal = self._journal
        if journal is None:
            return True
        journal.stage(BOOK_KEY, self._book_value)
        if journal.write([], now=True):
            return True
        self.book_write_failures += 1
        log.warning("positions not journaled yet: %s", journal.error)
        return False

    def _book_value(self) -> str:
        """The journal's value of the positions and of the trade ids not yet covered by the
        order records (see the module's docstring)."""
        book = self.book
        doc = _Book(
            format=1,
            max_trade_ids=book.max_trade_ids,
            positions=[
                {
                    "symbol": p.symbol,
                    "quantity": p.quantity,
                    "avg_price": str(p.avg_price),
                    "realized_pnl": str(p.realized_pnl),
                    "fees": str(p.fees),
                    "multiplier": str(p.multiplier),
                    "last_trade_id": p.last_trade_id,
                    "ts_last": p.ts_last,
                }
                for p in book.positions().values()
            ],
            trades=[(tid, side, pending) for (tid, side), pending in self._unjournaled.items()],
        )
        return msgspec.json.encode(doc).decode()

    # -----------------------------------------------------------------------------------------
    # The venue's positions.

    def on_resynced(self, event: ev.Resynced) -> None:
        """After every login and resync: check the positions against the venue's, and make
        a halt's owed sweep."""
        self.working.invalidate()
        if self.closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = self._spawn(self.reconcile())
        if self._sweep_owed and self.gate.state is TradingState.HALTED:
            self._start_sweep()

    async def reconcile(self) -> list[ev.PositionMismatch]:
        """Compare the positions with the venue's and adopt the venue's where they differ.

        Waits (a bounded time) for the session's REST fill recovery first. A difference is
        adopted only when two reads of the venue, ``_SETTLE_S`` apart, agree and no fill was
        applied meanwhile (a fill on its way is not a mismatch). Returns the mismatches
        published; an empty list when the venue could not be asked (logged).
        """
        session = self._session
        waited = 0.0
        while session.missing_fills and waited < _RECOVERY_WAIT_S:
            await asyncio.sleep(0.05)
            waited += 0.05
        for _ in range(5):
            seen = self.fills_applied
            try:
                first = self._figures(await self._venue_positions())
            except AxOrdersError as exc:
                log.warning("venue positions not checked: %s", exc)
                return []
            if not self._differs(first):
                return []
            await asyncio.sleep(_SETTLE_S)
            try:
                second = self._figures(await self._venue_positions())
            except AxOrdersError as exc:
                log.warning("venue positions not checked: %s", exc)
                return []
            if second != first or self.fills_applied != seen or session.missing_fills:
                continue  # the market moved: look again
            found = self.book.reconcile(second, self._clock())
            self._sync_held()
            if found:
                self.save_book()
                self._publish(list(found))
            return found
        return []

    def _figures(self, held: Iterable[VenuePosition]) -> dict[str, tuple[int, Decimal | None]]:
        instruments = self._session.instruments
        figures: dict[str, tuple[int, Decimal | None]] = {}
        for p in held:
            inst = instruments.get(p.symbol)
            figures[p.symbol] = venue_position(
                p.signed_quantity,
                p.signed_cost_basis,
                inst.multiplier if inst is not None else Decimal(1),
            )
        return figures

    def _differs(self, venue: Mapping[str, tuple[int, Decimal | None]]) -> bool:
        tolerance = Decimal("0.000001")
        mine = self.book.positions()
        for symbol in set(mine) | set(venue):
            quantity, avg = venue.get(symbol, (0, None))
            held = mine.get(symbol)
            ours = held.quantity if held is not None else 0
            if ours != quantity:
                return True
            if (
                avg is not None
                and quantity != 0
                and held is not None
                and abs(held.avg_price - avg) > tolerance
            ):
                return True
        return False

    # -----------------------------------------------------------------------------------------
    # The kill switch.

    async def halt(self, reason: str, timeout: float | None) -> list[OrderResult]:
        """HALTED, then every open order canceled; returns the orders canceled.

        Armed STOP_LIMIT orders are canceled locally at once (even offline). The venue's
        orders are canceled by one cancel-all once the session is connected and resynced: at
        once, or when the connection is back (the sweep is owed until then, across a restart
        with a journal). Nothing new is sent meanwhile (the state refuses it).

        Raises:
            RequestTimeoutError: the venue did not confirm within ``timeout`` (the sweep
                stays owed and goes as soon as it can).
        """
        self.gate.set_state(TradingState.HALTED, reason)
        self.working.invalidate()
        self._sweep_owed = True
        try:
            self._save_state()
        except StoreError as exc:  # halted in memory all the same
            log.warning("halt: state not journaled: %s", exc)
        armed = self._cancel_armed()
        future: asyncio.Future[list[OrderResult]] = asyncio.get_running_loop().create_future()
        self._sweep_waiters.append(future)
        if self._ready.is_set():
            self._start_sweep()
        try:
            async with asyncio.timeout(timeout):
                swept = await asyncio.shield(future)
        except TimeoutError:
            raise RequestTimeoutError(
                f"halted, but the venue did not confirm the cancels within {timeout:g} s;"
                " they go as soon as the connection allows"
            ) from None
        finally:
            if future in self._sweep_waiters:
                self._sweep_waiters.remove(future)
        return armed + swept

    def _cancel_armed(self) -> list[OrderResult]:
        canceled: list[OrderResult] = []
        for rec in self._session.orders():
            if rec.status is OrderStatus.ARMED:
                try:
                    rid = self._send(CancelOrder(rec.client_order_id))
                except AxOrdersError as exc:
                    log.warning("armed stop %s not canceled: %s", rec.client_order_id, exc)
                    continue
                canceled.append(OrderResult.from_record(rec, rid))
        return canceled

    def _start_sweep(self) -> None:
        if self._sweep is None or self._sweep.done():
            self._sweep = self._spawn(self._run_sweep())

    async def _run_sweep(self) -> None:
        try:
            swept = await self._cancel_all(None)
        except (ConnectionLostError, RequestTimeoutError, InvalidStateError) as exc:
            log.warning("halt: the cancels wait for the connection: %s", exc)
            return  # owed: the next resync tries again
        except AxOrdersError as exc:
            log.warning("halt: cancel-all failed: %s", exc)
            self._fail_waiters(exc)
            return
        if self.gate.state is TradingState.HALTED:
            self._sweep_owed = False
            try:
                self._save_state()
            except StoreError as exc:
                log.warning("halt: state not journaled: %s", exc)
        waiters, self._sweep_waiters = self._sweep_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(swept)

    def _fail_waiters(self, exc: BaseException | None) -> None:
        waiters, self._sweep_waiters = self._sweep_waiters, []
        for future in waiters:
            if not future.done():
                if exc is None:
                    future.set_result([])
                else:
                    future.set_exception(exc)

    # -----------------------------------------------------------------------------------------
    # Tasks.

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("risk task failed", exc_info=task.exception())

    def tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done()]

    def close(self) -> None:
        self.closed = True
        self.flush()
        for future in self._sweep_waiters:
            if not future.done():
                future.cancel()
        self._sweep_waiters = []
