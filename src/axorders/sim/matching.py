"""The life of an accepted order inside the venue, and the events it produces.

Here lives :class:`Matcher`: it holds the books, the accounts and the index of orders by
``oid``, and carries an order that passed the engine's checks through its life: registered,
acknowledged, matched against the opposite side in price-time priority (with self-trade
prevention), rested or expired, canceled, finished; each step appends the venue's event for it
(``n``, ``p``/``f``, ``x``, ``c``, ``j``, ``d``) to the command's ``Events``. An execution moves
both accounts' positions, balances and fees (through :mod:`axorders.sim.accounts`) and the
book's statistics, and is kept as a public trade for market data when that is recorded.

What does not live here: the validation of a request and the choice between an ``err`` and a
``j`` (:mod:`axorders.sim.engine`), the price levels themselves and the tick and band rules
(:mod:`axorders.sim.book`), margin and the REST views of accounts
(:mod:`axorders.sim.accounts`). Pure: time comes in as ``now``; ids come from the engine's
:class:`~axorders.sim.ids.UlidFactory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axorders.sim.accounts import Account, Fill, Position
from axorders.sim.book import Book, Level, Order
from axorders.sim.ids import UlidFactory
from axorders.sim.rules import (
    CANCELED,
    EXPIRED,
    FILLED,
    NS,
    OPEN_STATES,
    PARTIALLY_FILLED,
    REJECTED,
    ZERO,
    EngineConfig,
    Events,
    Rejection,
    StpMode,
    Texts,
    plain,
)
from axorders.wire.md import TradeMsg
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    Execution,
    ExpiredMsg,
    FilledMsg,
    PartiallyFilledMsg,
    RejectedMsg,
)

if TYPE_CHECKING:
    from axorders.wire.orders import ServerEvent

__all__ = ["Matcher"]


class Matcher:
    """Books, accounts and orders, and the steps of an order's life (see the module notes).

    Args:
        books: the book of every symbol (shared with the engine).
        accounts: every account (shared with the engine).
        config: fees, self-trade prevention, early acknowledgement, market-data recording.
        ids: the id factory of events and trades.
    """

    def __init__(
        self,
        books: dict[str, Book],
        accounts: dict[str, Account],
        config: EngineConfig,
        ids: UlidFactory,
    ) -> None:
        self.books = books
        self.accounts = accounts
        self.orders: dict[str, Order] = {}
        """Orders by ``oid``: every order of a history-keeping account, else until it ends."""
        self._ids = ids
        self._stp = config.stp
        self._ack_aggressive = config.ack_aggressive
        self._taker_fee = config.taker_fee
        self._maker_fee = config.maker_fee
        self._taker_fee_f = float(config.taker_fee)
        self._maker_fee_f = float(config.maker_fee)
        self.record_md = config.record_market_data
        self.md_dirty: set[str] = set()
        self.md_trades: list[TradeMsg] = []

    # -- bookkeeping ----------------------------------------------------------------------------

    def find(
        self, acct: Account | None, venue_order_id: str | None, cid: int | None
    ) -> Order | None:
        """The account's order by ``oid``, else by ``cid`` (its open order, else its newest)."""
        if acct is None:
            return None
        if venue_order_id is not None:
            order = self.orders.get(venue_order_id)
            return order if order is not None and order.account_id == acct.account_id else None
        if cid is not None:
            return acct.live_cids.get(cid) or acct.last_cid.get(cid)
        return None

    def record(self, order: Order) -> None:
        """A rejected order: history and the cid's latest order."""
        acct = self.accounts[order.account_id]
        if acct.keep_history:
            acct.history.append(order)
            self.orders[order.oid] = order
        if order.cid is not None:
            acct.last_cid[order.cid] = order

    def register(self, order: Order) -> None:
        """An accepted order: history, open set, live cid."""
        acct = self.accounts[order.account_id]
        oid = order.oid
        self.orders[oid] = order  # until it ends, even without history (cancels need it)
        acct.open[oid] = order
        if acct.keep_history:
            acct.history.append(order)
        cid = order.cid
        if cid is not None:
            acct.last_cid[cid] = order
            acct.live_cids[cid] = order

    def finish(self, order: Order) -> None:
        """Bookkeeping for an order that reached a terminal state."""
        acct = self.accounts[order.account_id]
        acct.open.pop(order.oid, None)
        if order.cid is not None and acct.live_cids.get(order.cid) is order:
            del acct.live_cids[order.cid]
        if not acct.keep_history:
            self.orders.pop(order.oid, None)

    # -- the book -------------------------------------------------------------------------------

    def rest_again(self, order: Order, book: Book) -> None:
        """Put back an order taken off for a refused replace (it keeps its time priority)."""
        remaining = book.put_back(order)
        self.accounts[order.account_id].position(order.symbol).open_notional += (
            order.ticks * remaining
        )

    def unrest(self, order: Order) -> None:
        """Take a live order off its level (lazily: the FIFO entry is skipped later).

        :meth:`cancel` does the same inline.
        """
        if not order.live:
            return
        remaining = self.books[order.symbol].take_off(order)
        self.accounts[order.account_id].position(order.symbol).open_notional -= (
            order.ticks * remaining
        )
        if self.record_md:
            self.md_dirty.add(order.symbol)

    # -- an order's life ------------------------------------------------------------------------

    def reject(self, order: Order, rejection: Rejection, now: int, events: Events) -> None:
        """Record ``order`` as REJECTED and emit its ``j``."""
        order.price = plain(order.price)
        order.status = REJECTED
        order.reason = rejection.reason
        order.text = rejection.text
        self.record(order)
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

    def run(self, order: Order, book: Book, now: int, events: Events, ack: bool) -> None:
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
            self.match(order, book, now, events)
        if order.status not in OPEN_STATES:
            return  # filled, or canceled by self-trade prevention
        if order.tif == "IOC":
            order.status = EXPIRED
            self.finish(order)
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
        # Rest it, counting its exposure in the account's position (inline: the hot path).
        remaining = book.rest(order)
        positions = self.accounts[account_id].positions
        pos = positions.get(order.symbol)
        if pos is None:
            pos = positions[order.symbol] = Position()
        pos.open_notional += ticks * remaining
        if self.record_md:
            self.md_dirty.add(order.symbol)
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

    def cancel(self, order: Order, now: int, events: Events, reason: str, text: str) -> None:
        """Take ``order`` off the book, end it as CANCELED and emit its ``c``."""
        if order.live:  # :meth:`unrest`, inline: the hot path
            remaining = self.books[order.symbol].take_off(order)
            self.accounts[order.account_id].position(order.symbol).open_notional -= (
                order.ticks * remaining
            )
            if self.record_md:
                self.md_dirty.add(order.symbol)
        order.status = CANCELED
        self.finish(order)
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
        if text:
            # Why the venue canceled it (self-trade prevention, cancel-on-disconnect): the
            # event says so in its ``txt``, REST (history and status) in the order's.
            order.text = text

    def match(self, order: Order, book: Book, now: int, events: Events) -> None:
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
                        self.cancel(resting, now, events, "", Texts.SELF_TRADE)
                    if stp is not StpMode.CANCEL_RESTING:
                        self.cancel(order, now, events, "", Texts.SELF_TRADE)
                        stop = True
                        break
                    continue  # the resting order is gone (and maybe its level)
                self.execute(order, resting, level, book, now=now, events=events)
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

    def execute(
        self,
        taker: Order,
        maker: Order,
        level: Level,
        book: Book,
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
        accounts = self.accounts
        for order, is_taker in ((taker, True), (maker, False)):
            acct = accounts[order.account_id]
            positions = acct.positions
            pos = positions.get(symbol)
            if pos is None:
                pos = positions[symbol] = Position()
            if order.filled == order.quantity:
                order.status = FILLED
                if not is_taker:
                    order.live = False
                self.finish(order)
            else:
                order.status = PARTIALLY_FILLED
            if is_taker:
                rate, rate_f = self._taker_fee, self._taker_fee_f
            else:
                pos.open_notional -= ticks * qty
                rate, rate_f = self._maker_fee, self._maker_fee_f
            fee = value * qty * rate if rate_f else ZERO
            realized, realized_f = pos.apply_fill(order.is_buy, qty, value, value_f, now)
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
        book.record_trade(ticks, qty)
        if self.record_md:
            self.md_dirty.add(symbol)
            trade = TradeMsg(
                price=price, quantity=qty, symbol=symbol, side=taker.side, ts=ts, tn=tn
            )
            self.md_trades.append(trade)
