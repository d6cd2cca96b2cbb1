"""Positions from fills (pure): signed quantity, average entry price, realized pnl and fees.

:class:`PositionBook` applies each fill exactly once, by trade id, and reconciles with the
venue's positions (REST ``/positions``), whose word wins.

The arithmetic, per symbol, with ``multiplier`` the instrument's contract multiplier:

* a fill that opens or adds to the position moves the average entry price to the
  quantity-weighted average of the old one and the fill's price;
* a fill that reduces it leaves the average unchanged and realizes
  ``(price - avg_price) x closed quantity x multiplier`` for a long (the opposite for a short);
* a fill that goes through flat realizes the closing part as above and the rest opens a new
  position at the fill's price; at flat the average price is 0;
* ``fees`` add up every fill's fee (paid > 0). A fill whose fee is not known yet (the orders
  WebSocket carries none; REST ``/fills`` does, a few seconds later) adds nothing; the same
  fill given again with its fee adds the fee, once.

Prices are :class:`~decimal.Decimal`; a weighted average that does not divide exactly is
rounded to the decimal context's precision (28 digits).

Exactly once, and its bound: the book remembers the trade ids it applied, the latest
``max_trade_ids`` of them (the oldest are forgotten first; :attr:`PositionBook.forgotten`
counts them). A fill is applied once as long as its trade id is among those: keep
``max_trade_ids`` above the number of fills a recovery can replay (REST ``/fills`` answers at
most 7 days). A trade id is remembered with its side, as a self-match gives the account both
sides of one trade.

Persistence: :meth:`PositionBook.to_json` writes the positions *and* the remembered trade ids,
and :meth:`PositionBook.from_json` restores both, so a fill applied before a snapshot is
still refused after a restore. A journal keeps a snapshot and, after it, every fill it
applies; on restart it restores the snapshot and gives the book those fills again: the ones
the snapshot already holds are refused by their trade id, the others are applied once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec

from axorders.events import PositionChanged, PositionMismatch
from axorders.model import Side

__all__ = ["DEFAULT_MAX_TRADE_IDS", "Position", "PositionBook", "venue_position"]

DEFAULT_MAX_TRADE_IDS: Final = 200_000
"""How many trade ids a book remembers by default (about 40 MB at most)."""

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's position.

    Attributes:
        symbol: the instrument.
        quantity: signed contracts (long > 0, short < 0, 0 flat).
        avg_price: the average entry price of the open quantity (0 when flat).
        realized_pnl: realized profit (> 0) or loss, cumulative, quote currency.
        fees: fees paid, cumulative, quote currency.
        multiplier: the contract multiplier the pnl was computed with.
        last_trade_id: the trade id of the latest fill applied (None before the first).
        ts_last: local time of the latest change, ns.
    """

    symbol: str
    quantity: int
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    multiplier: Decimal = _ONE
    last_trade_id: str | None = None
    ts_last: int = 0

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """The pnl of the open quantity if it were closed at ``mark``."""
        return (mark - self.avg_price) * self.quantity * self.multiplier


class _Slot:
    """The mutable state of one symbol's position."""

    __slots__ = ("avg", "fees", "last_trade_id", "multiplier", "quantity", "realized", "ts")

    def __init__(self) -> None:
        self.quantity = 0
        self.avg = _ZERO
        self.realized = _ZERO
        self.fees = _ZERO
        self.multiplier = _ONE
        self.last_trade_id: str | None = None
        self.ts = 0

    def frozen(self, symbol: str) -> Position:
        return Position(
            symbol=symbol,
            quantity=self.quantity,
            avg_price=self.avg,
            realized_pnl=self.realized,
            fees=self.fees,
            multiplier=self.multiplier,
            last_trade_id=self.last_trade_id,
            ts_last=self.ts,
        )

    def changed(self, symbol: str, trade_id: str, now: int) -> PositionChanged:
        # By position (the order of PositionChanged's fields): one per fill, keywords cost more.
        return PositionChanged(
            now, symbol, self.quantity, self.avg, self.realized, self.fees, trade_id
        )


# The persisted form (``to_json``): numbers as strings, so that nothing is rounded.
class _SavedPosition(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    quantity: int
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    multiplier: Decimal = _ONE
    last_trade_id: str | None = None
    ts_last: int = 0


class _SavedTrade(msgspec.Struct, frozen=True, array_like=True):
    trade_id: str
    side: str  # "B" / "S"
    fee_pending: bool


class _SavedBook(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    max_trade_ids: int
    forgotten: int = 0
    positions: list[_SavedPosition] = []
    trades: list[_SavedTrade] = []


def venue_position(
    signed_quantity: int, signed_cost_basis: Decimal, multiplier: Decimal = _ONE
) -> tuple[int, Decimal | None]:
    """A venue position (REST ``/positions``: ``signed_quantity``, ``signed_cost_basis``) as
    :meth:`PositionBook.reconcile` takes it: ``(signed quantity, average price)``.

    The venue's cost basis is price x quantity x multiplier, signed like the quantity; the
    average price is None when the venue is flat.
    """
    if signed_quantity == 0 or multiplier == 0:
        return signed_quantity, None
    return signed_quantity, signed_cost_basis / signed_quantity / multiplier


class PositionBook:
    """Positions by symbol, built from fills, each applied exactly once (pure).

    Args:
        max_trade_ids: how many trade ids to remember (see the module's notes on the bound).
    """

    __slots__ = ("_max", "_slots", "_trades", "forgotten")

    def __init__(self, max_trade_ids: int = DEFAULT_MAX_TRADE_IDS) -> None:
        if isinstance(max_trade_ids, bool) or not isinstance(max_trade_ids, int):
            raise ValueError(f"max_trade_ids: {max_trade_ids!r} is not a whole number")
        if max_trade_ids < 1:
            raise ValueError(f"max_trade_ids: {max_trade_ids} must be at least 1")
        self._max = max_trade_ids
        self._slots: dict[str, _Slot] = {}
        # (trade id, side) -> True while the fill's fee is not known yet; oldest first.
        self._trades: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self.forgotten = 0
        """Trade ids forgotten to keep within ``max_trade_ids``."""

    @property
    def max_trade_ids(self) -> int:
        return self._max

    def __len__(self) -> int:
        """The number of trade ids remembered."""
        return len(self._trades)

    def has_trade(self, trade_id: str, side: Side) -> bool:
        """True when the fill ``trade_id`` of ``side`` was applied (and is remembered)."""
        return (trade_id, side.value) in self._trades

    def position(self, symbol: str) -> Position:
        """``symbol``'s position (flat when no fill of it was applied)."""
        slot = self._slots.get(symbol)
        return (slot or _Slot()).frozen(symbol)

    def positions(self) -> dict[str, Position]:
        """Every symbol that had a fill or a reconcile, flat ones included."""
        return {symbol: slot.frozen(symbol) for symbol, slot in self._slots.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self._slots)

    # -- fills -------------------------------------------------------------------------------

    def apply_fill(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        price: Decimal,
        fee: Decimal | None,
        trade_id: str,
        now: int,
        *,
        multiplier: Decimal = _ONE,
    ) -> PositionChanged | None:
        """Apply one fill; return the change, or None for a fill already applied.

        ``fee`` is None when not known yet; the same fill given again with its fee then adds
        the fee (and returns the change). ``multiplier`` is the instrument's.

        Raises:
            ValueError: a quantity that is not a positive whole number, a price that is not a
                positive finite Decimal, a fee or multiplier that is not a finite Decimal, or
                an empty trade id. Nothing is changed then.
        """
        if not isinstance(side, Side):
            raise ValueError(f"side: {side!r} is not a Side")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValueError(f"quantity: {quantity!r} must be a positive whole number")
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise ValueError(f"price: {price!r} must be a positive finite Decimal")
        if fee is not None and (not isinstance(fee, Decimal) or not fee.is_finite()):
            raise ValueError(f"fee: {fee!r} must be a finite Decimal or None")
        if not isinstance(multiplier, Decimal) or not multiplier.is_finite() or multiplier <= 0:
            raise ValueError(f"multiplier: {multiplier!r} must be a positive finite Decimal")
        if not isinstance(trade_id, str) or not trade_id:
            raise ValueError(f"trade_id: {trade_id!r} must be a non-empty string")
        return self.apply_checked_fill(
            symbol, side, quantity, price, fee, trade_id, now, multiplier
        )

    def apply_checked_fill(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        price: Decimal,
        fee: Decimal | None,
        trade_id: str,
        now: int,
        multiplier: Decimal = _ONE,
    ) -> PositionChanged | None:
        """:meth:`apply_fill` of values already checked (a fill the session delivered: its
        side, positive whole quantity, positive finite price and trade id are known good).

        Raises:
            ValueError: the fill cannot be computed within the decimal context (nothing is
                changed then).
        """
        key = (trade_id, "B" if side is Side.BUY else "S")
        trades = self._trades
        pending = trades.get(key)
        if pending is not None:
            if not pending or fee is None:
                return None  # applied already
            # The fill came back with the fee it lacked: add the fee, once.
            owner = self._slots.setdefault(symbol, _Slot())
            trades[key] = False
            owner.fees += fee
            owner.ts = now
            return owner.changed(symbol, trade_id, now)
        slot = self._slots.get(symbol)
        if slot is None:
            slot = self._slots[symbol] = _Slot()
        try:
            _fill(slot, side, quantity, price, multiplier)
        except ArithmeticError as exc:  # beyond the decimal context: the state is unchanged
            raise ValueError(f"fill {trade_id!r} cannot be computed: {exc!r}") from None
        if fee is not None:
            slot.fees += fee
        slot.last_trade_id = trade_id
        slot.ts = now
        trades[key] = fee is None
        if len(trades) > self._max:
            trades.popitem(last=False)
            self.forgotten += 1
        return slot.changed(symbol, trade_id, now)

    # -- the venue's word --------------------------------------------------------------------

    def reconcile(
        self,
        venue: Mapping[str, tuple[int, Decimal | None]],
        now: int,
        *,
        price_tolerance: Decimal = Decimal("0.000001"),
    ) -> list[PositionMismatch]:
        """Compare with the venue's positions (``symbol -> (signed quantity, average price or
        None)``, see :func:`venue_position`) and adopt the venue's where they differ.

        A symbol the venue does not list is flat at the venue. The quantities must be equal;
        the average prices (when the venue gives one and the position is open) within
        ``price_tolerance``. Where they differ, the venue's quantity and average price are
        adopted (with no average price from the venue: ours is kept if the side is the same,
        else 0); realized pnl and fees are kept. One :class:`PositionMismatch` per symbol
        that differed, in symbol order.
        """
        found: list[PositionMismatch] = []
        for symbol in sorted(set(self._slots) | set(venue)):
            quantity, avg = venue.get(symbol, (0, None))
            slot = self._slots.get(symbol)
            ours_qty = slot.quantity if slot is not None else 0
            ours_avg = slot.avg if slot is not None else _ZERO
            same = ours_qty == quantity and (
                avg is None or quantity == 0 or abs(ours_avg - avg) <= price_tolerance
            )
            if same:
                continue
            found.append(
                PositionMismatch(
                    ts_init=now,
                    symbol=symbol,
                    quantity=ours_qty,
                    avg_price=ours_avg,
                    venue_quantity=quantity,
                    venue_avg_price=avg,
                )
            )
            if slot is None:
                slot = self._slots[symbol] = _Slot()
            if quantity == 0:
                slot.avg = _ZERO
            elif avg is not None:
                slot.avg = avg
            elif (quantity > 0) != (ours_qty > 0) or ours_qty == 0:
                slot.avg = _ZERO
            slot.quantity = quantity
            slot.ts = now
        return found

    # -- persistence -------------------------------------------------------------------------

    def to_json(self) -> bytes:
        """The book as JSON: positions and remembered trade ids (oldest first)."""
        saved = _SavedBook(
            format=_FORMAT,
            max_trade_ids=self._max,
            forgotten=self.forgotten,
            positions=[
                _SavedPosition(
                    symbol=symbol,
                    quantity=slot.quantity,
                    avg_price=slot.avg,
                    realized_pnl=slot.realized,
                    fees=slot.fees,
                    multiplier=slot.multiplier,
                    last_trade_id=slot.last_trade_id,
                    ts_last=slot.ts,
                )
                for symbol, slot in self._slots.items()
            ],
            trades=[
                _SavedTrade(tid, side, pending) for (tid, side), pending in self._trades.items()
            ],
        )
        return msgspec.json.encode(saved)

    @classmethod
    def from_json(cls, data: bytes | str, max_trade_ids: int | None = None) -> PositionBook:
        """A book restored from :meth:`to_json`'s output.

        ``max_trade_ids`` overrides the saved bound (the oldest ids beyond it are forgotten).

        Raises:
            ValueError: the data is not a saved book.
        """
        try:
            saved = msgspec.json.decode(data, type=_SavedBook)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a saved position book: {exc}") from None
        if saved.format != _FORMAT:
            raise ValueError(f"saved position book of format {saved.format}; known: {_FORMAT}")
        book = cls(max_trade_ids if max_trade_ids is not None else saved.max_trade_ids)
        book.forgotten = saved.forgotten
        for p in saved.positions:
            slot = book._slots[p.symbol] = _Slot()
            slot.quantity = p.quantity
            slot.avg = p.avg_price
            slot.realized = p.realized_pnl
            slot.fees = p.fees
            slot.multiplier = p.multiplier
            slot.last_trade_id = p.last_trade_id
            slot.ts = p.ts_last
        for t in saved.trades:
            if t.side not in ("B", "S"):
                raise ValueError(f"saved position book: trade {t.trade_id!r} has side {t.side!r}")
            book._trades[(t.trade_id, t.side)] = t.fee_pending
        while len(book._trades) > book._max:
            book._trades.popitem(last=False)
            book.forgotten += 1
        return book


def _fill(slot: _Slot, side: Side, quantity: int, price: Decimal, multiplier: Decimal) -> None:
    """Move ``slot`` by one fill (computed first, then stored: an error changes nothing)."""
    held = slot.quantity
    signed = quantity if side is Side.BUY else -quantity
    after = held + signed
    if held == 0 or (held > 0) == (signed > 0):
        size = abs(held)
        avg = slot.avg
        if held == 0:
            avg = price
        elif price != avg:  # the same price keeps the average: no division
            avg = (avg * size + price * quantity) / (size + quantity)
        realized = slot.realized
    else:
        closing = min(quantity, abs(held))
        direction = 1 if held > 0 else -1
        realized = slot.realized + (price - slot.avg) * closing * direction * multiplier
        if after == 0:
            avg = _ZERO
        elif (after > 0) != (held > 0):
            avg = price  # through flat: the rest opens at the fill's price
        else:
            avg = slot.avg
    slot.quantity = after
    slot.avg = avg
    slot.realized = realized
    slot.multiplier = multiplier
