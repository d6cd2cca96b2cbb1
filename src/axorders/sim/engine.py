"""The simulator's matching engine: one limit order book per symbol, price-time priority.

Pure: no asyncio, no sockets, no clock and no sleeps. Every call takes ``now`` (Unix
nanoseconds); ids come from a :class:`~axorders.sim.ids.UlidFactory` fed by an injected
:class:`random.Random`. Nothing is sent: each command returns a :class:`Reply` holding the
response body for the requester (``res`` or ``err``) and the events, as
``(account id, wire event)`` pairs in the order the venue emits them (response first, then
events). The venue layer encodes them and fans events out to every session of the account.

Where things are
----------------
This module holds the commands and the :class:`Engine` that joins the parts: it checks a
request, decides between an ``err`` and a ``j``, and hands an accepted order to the matching.
The engine's read side (queries, market-data views) is
:class:`~axorders.sim.views.EngineViews`, its base class. The price levels and the tick and
band rules of one symbol are in :mod:`axorders.sim.book`; the life of an accepted order
(acknowledge, match, rest, expire, cancel) and its events in :mod:`axorders.sim.matching`;
balances, positions, fees and margin in :mod:`axorders.sim.accounts`; the configuration, the
texts, the order states and :class:`Reply` in :mod:`axorders.sim.rules` (re-exported here).

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
and cancel-on-disconnect say so in ``txt``, and so does the order afterwards: its ``txt`` in
REST history and ``reject_message`` in order status (the event's own ``o`` is left as it
was, as for an expired IOC). The price band is ``mark × (1 ± pct / 100)``
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

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeAlias

from axorders.model import Instrument, Side
from axorders.sim.accounts import Account, Fill, margin_shortfall
from axorders.sim.book import Book, Order
from axorders.sim.ids import UlidFactory
from axorders.sim.matching import Matcher
from axorders.sim.rules import (
    DONE_FOR_DAY,
    NS,
    OPEN_STATES,
    PARTIALLY_FILLED,
    REPLACED,
    CancelReject,
    EngineConfig,
    Events,
    MarginFailure,
    Rejection,
    Reply,
    StpMode,
    Texts,
)
from axorders.sim.views import EngineViews
from axorders.wire.orders import (
    CancelRejectedMsg,
    DoneForDayMsg,
    ErrorBody,
    ReplacedMsg,
    ResultBody,
)

__all__ = [
    "Cancel",
    "CancelAll",
    "CancelReject",
    "Command",
    "Engine",
    "EngineConfig",
    "Events",
    "Fill",
    "MarginFailure",
    "Place",
    "Reply",
    "SetMark",
    "StpMode",
    "Texts",
]

_TIFS: Final = frozenset({"GTC", "IOC", "DAY"})
_REPRICE: Final = frozenset({"rej", "bo", "tbl"})


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


class Engine(EngineViews):
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
        books = {i.symbol: Book(i, marks[i.symbol]) for i in instruments}
        accounts: dict[str, Account] = {}
        matcher = Matcher(books, accounts, self.config, self._ids)
        super().__init__(books, accounts, matcher)
        self._check_margin = self.config.check_margin
        # The matcher's steps the commands use, bound once.
        self._register = matcher.register
        self._reject = matcher.reject
        self._run = matcher.run
        self._cancel = matcher.cancel
        self.orders_processed = 0
        """Place, cancel, cancel-all and replace commands handled."""

    # -- accounts and instruments ---------------------------------------------------------------

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
        self._accounts[account_id] = Account(
            account_id,
            user_id or account_id,
            self.config.initial_balance if balance is None else balance,
            check_margin,
            keep_history,
        )

    def set_mark(self, symbol: str, price: Decimal) -> None:
        """Move the mark price (and with it the price band) of ``symbol``.

        Raises:
            KeyError: unknown symbol.
        """
        self._books[symbol].set_mark(price)

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
        order = Order(
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
                raise Rejection("UNKNOWN_SYMBOL", f"symbol {symbol} is not available")
            order.ticks, order.price = book.check(quantity, price)
            if cid is not None and cid in acct.live_cids:
                raise Rejection(
                    "DUPLICATE_CLIENT_ORDER_ID",
                    f"client order id {cid} is already used by an open order",
                )
            if post_only and book.crosses(order.is_buy, order.ticks):
                book.reprice(order)
            if acct.check_margin and self._check_margin:
                shortfall = margin_shortfall(
                    acct, self._books, book, order.is_buy, order.ticks, quantity
                )
                if shortfall is not None:
                    if self.config.margin_failure is MarginFailure.ERROR:
                        return Reply(error=ErrorBody(code=400, message=shortfall))
                    raise Rejection("INSUFFICIENT_MARGIN", shortfall)
        except Rejection as rejection:
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
        if order is None or order.status not in OPEN_STATES:
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
        new = Order(
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
        if old.status not in OPEN_STATES:
            terminated = Rejection("ORIGINAL_ORDER_TERMINATED", Texts.ORIGINAL_TERMINATED)
            self._reject(new, terminated, now, reply.events)
            return reply
        book = self._books[old.symbol]
        try:
            new.ticks, new.price = book.check(new_qty, new_price)
            if new_qty <= old.filled:
                raise Rejection(
                    "INCORRECT_QUANTITY",
                    f"replace quantity ({new_qty}) must be greater than the filled"
                    f" quantity ({old.filled})",
                )
            # The old order leaves the book first so that it neither blocks a post-only
            # re-price nor counts twice in the margin check.
            self._matcher.unrest(old)
            try:
                if po and book.crosses(new.is_buy, new.ticks):
                    book.reprice(new)
                if acct.check_margin and self._check_margin:
                    shortfall = margin_shortfall(
                        acct, self._books, book, new.is_buy, new.ticks, new_qty - old.filled
                    )
                    if shortfall is not None:
                        raise Rejection("INSUFFICIENT_MARGIN", shortfall)
            except Rejection:
                self._matcher.rest_again(old, book)
                raise
        except Rejection as rejection:
            return Reply(error=ErrorBody(code=400, message=rejection.text))
        new.filled = old.filled
        if new.filled:
            new.status = PARTIALLY_FILLED
        old.status = REPLACED
        self._matcher.finish(old)
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
                self._matcher.unrest(order)
                order.status = DONE_FOR_DAY
                self._matcher.finish(order)
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

    # -- request checks -------------------------------------------------------------------------

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
