"""The simulated venue as its readers see it: orders, accounts, books and market data.

Here lives :class:`EngineViews`, the read side of :class:`~axorders.sim.engine.Engine`: the
instruments, marks and price bands; an account's open orders, order statuses, history,
fills, positions, balances, risk snapshot and the margin an order would need; a book's best
prices, depth, resting orders and preview; and the market-data views (public trades and changed
books since the last look, L1, L2, ticker). Every method here answers from the state and
changes nothing a command would see (draining the market-data record is the one exception,
and it belongs to the publisher). What does not live here: the commands that change the state
(:mod:`axorders.sim.engine`), the order life (:mod:`axorders.sim.matching`), and the
arithmetic behind the answers (:mod:`axorders.sim.book`, :mod:`axorders.sim.accounts`). Pure:
no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from axorders.model import Instrument, Side
from axorders.sim import accounts as _accounts
from axorders.sim.accounts import Account, Fill
from axorders.sim.book import Book
from axorders.sim.matching import Matcher
from axorders.sim.rules import Reply, Texts
from axorders.wire.md import BookLevel, L1BookMsg, L2BookMsg, TickerMsg, TradeMsg
from axorders.wire.orders import ErrorBody, OrderBody, ResultBody, StatusBody
from axorders.wire.rest import (
    BalancesResponse,
    InitialMarginResponse,
    Position,
    PreviewResponse,
    RiskSnapshot,
)

__all__ = ["EngineViews"]


class EngineViews:
    """The read side of the engine over shared books, accounts and matcher.

    Args:
        books: the book of every symbol.
        accounts: every account.
        matcher: the order index and the market-data record.
    """

    def __init__(
        self, books: dict[str, Book], accounts: dict[str, Account], matcher: Matcher
    ) -> None:
        self._books = books
        self._accounts = accounts
        self._matcher = matcher
        self._find = matcher.find

    # -- instruments and accounts ---------------------------------------------------------------

    @property
    def instruments(self) -> list[Instrument]:
        return [book.instrument for book in self._books.values()]

    def instrument(self, symbol: str) -> Instrument | None:
        book = self._books.get(symbol)
        return book.instrument if book is not None else None

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def mark(self, symbol: str) -> Decimal:
        """The mark price of ``symbol``. Raises KeyError for an unknown symbol."""
        return self._books[symbol].mark

    def price_band(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self._books[symbol]
        return book.price_of(book.band_low), book.price_of(book.band_high)

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
        return order.status_body() if order is not None else None

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
        """The account's positions (REST ``positions``); never-traded symbols are left out."""
        acct = self._accounts.get(account_id)
        return [] if acct is None else _accounts.position_reports(acct, self._books)

    def balance(self, account_id: str) -> Decimal:
        """USD balance: initial balance + realized pnl - fees. Raises KeyError if unknown."""
        return self._accounts[account_id].balance

    def balances(self, account_id: str) -> BalancesResponse:
        return _accounts.balances(self._accounts.get(account_id))

    def risk_snapshot(self, account_id: str, now: int) -> RiskSnapshot:
        """Per-symbol margin and pnl plus account totals (REST ``risk-snapshot``)."""
        return _accounts.risk_snapshot(self._accounts[account_id], self._books, now)

    def initial_margin(
        self, account_id: str, symbol: str, side: Side, quantity: int, price: Decimal
    ) -> InitialMarginResponse | None:
        """The initial margin an order would need (REST ``initial-margin-requirement``)."""
        book = self._books.get(symbol)
        acct = self._accounts.get(account_id)
        if book is None or acct is None:
            return None
        return _accounts.initial_margin(acct, book, side, quantity, price)

    def preview(self, symbol: str, side: Side, quantity: int) -> PreviewResponse | None:
        """Price an aggressive limit order against the book; None for an unknown symbol.

        ``limit_price`` is the worst level needed (null when that side is empty).
        """
        book = self._books.get(symbol)
        return book.preview(side, quantity) if book is not None else None

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
        for order in book.resting():
            yield order.body()

    # -- market data ----------------------------------------------------------------------------

    @property
    def record_market_data(self) -> bool:
        """Whether public trades and changed books are kept for :meth:`take_market_data`."""
        return self._matcher.record_md

    @record_market_data.setter
    def record_market_data(self, value: bool) -> None:
        matcher = self._matcher
        matcher.record_md = value
        if not value:
            matcher.md_trades, matcher.md_dirty = [], set()

    def take_market_data(self) -> tuple[list[TradeMsg], set[str]]:
        """Public trades and the symbols whose book changed since the last call."""
        matcher = self._matcher
        trades, dirty = matcher.md_trades, matcher.md_dirty
        matcher.md_trades, matcher.md_dirty = [], set()
        return trades, dirty

    def l1(self, symbol: str, now: int) -> L1BookMsg:
        return self._books[symbol].l1(now)

    def l2(self, symbol: str, now: int, depth: int = 20) -> L2BookMsg:
        return self._books[symbol].l2(now, depth)

    def ticker(self, symbol: str, now: int) -> TickerMsg:
        book = self._books[symbol]
        open_interest = sum(
            max(acct.positions[symbol].quantity, 0)
            for acct in self._accounts.values()
            if symbol in acct.positions
        )
        return book.ticker(now, open_interest)
