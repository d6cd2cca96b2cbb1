"""Who trades and what it costs them: users and tokens, and the trading accounts.

Users: a user has one trading account (``account_id``, the ``aid`` of its orders), an API key and
secret, and a username and password (:class:`SimUser`, :class:`Users`). Tokens are opaque
strings with an expiry time.

Trading accounts (:class:`Account`): the USD balance, one :class:`Position` per symbol (signed
quantity, cost basis, realized pnl and the exposure of open orders), the order bookkeeping the
venue keeps per account (open orders, client order ids, history, :class:`Fill` records), how a
fill moves a position (:meth:`Position.apply_fill`), the pre-trade initial-margin check
(:func:`margin_shortfall`) and the REST views of all that (positions, balances, the risk
snapshot, the margin an order would need). What does not live here: the books and their prices
(:mod:`axorders.sim.book`), when a fill happens and what events it produces
(:mod:`axorders.sim.matching`). Time comes in as ``now`` (Unix ns); nothing here reads a clock.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import msgspec

from axorders.model import Side
from axorders.sim.rules import ACCEPTED, HUNDRED, NS, ZERO, money, plain
from axorders.wire.orders import OrderBody
from axorders.wire.rest import (
    Balance,
    BalancesResponse,
    FillInfo,
    InitialMarginResponse,
    RiskSnapshot,
    SymbolRisk,
    format_rfc3339_ns,
)
from axorders.wire.rest import Position as PositionReport

if TYPE_CHECKING:
    from axorders.sim.book import Book, Order

__all__ = [
    "Account",
    "Fill",
    "Position",
    "SimUser",
    "Users",
    "balances",
    "initial_margin",
    "margin_shortfall",
    "opening_quantity",
    "position_reports",
    "risk_snapshot",
    "token_from_header",
]

_PERCENT: Final = Decimal("0.01")


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer X`` or a bare ``X``."""
    if value is None:
        return None
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text or None


@dataclass(frozen=True, slots=True)
class SimUser:
    """A simulated user and its credentials."""

    user_id: str
    account_id: str
    username: str
    password: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never show secrets
        return (
            f"SimUser(user_id={self.user_id!r}, account_id={self.account_id!r},"
            f" username={self.username!r}, api_key={self.api_key!r})"
        )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Users:
    """The user registry and token store.

    Args:
        token_factory: makes a new opaque token (default: 32 random URL-safe bytes).
    """

    def __init__(self, token_factory: Callable[[], str] | None = None) -> None:
        self._token_factory = token_factory or (lambda: secrets.token_urlsafe(32))
        self._users: dict[str, SimUser] = {}
        self._by_account: dict[str, SimUser] = {}
        self._tokens: dict[str, tuple[str, int]] = {}  # token -> (user id, expiry ns)

    def add(self, user: SimUser) -> SimUser:
        """Register ``user``.

        Raises:
            ValueError: the user id, account id, API key or username is taken.
        """
        for other in self._users.values():
            if user.user_id == other.user_id:
                raise ValueError(f"user {user.user_id!r} exists")
            if user.account_id == other.account_id:
                raise ValueError(f"account {user.account_id!r} belongs to another user")
            if user.api_key == other.api_key:
                raise ValueError("API key already in use")
            if user.username == other.username:
                raise ValueError(f"username {user.username!r} already in use")
        self._users[user.user_id] = user
        self._by_account[user.account_id] = user
        return user

    def __iter__(self) -> Iterator[SimUser]:
        return iter(list(self._users.values()))

    def __len__(self) -> int:
        return len(self._users)

    def get(self, user_id: str) -> SimUser | None:
        return self._users.get(user_id)

    def by_account(self, account_id: str) -> SimUser | None:
        return self._by_account.get(account_id)

    def check_api_key(self, api_key: str, api_secret: str) -> SimUser | None:
        """The user with this key and secret, or None."""
        for user in self._users.values():
            if _same(api_key, user.api_key) and _same(api_secret, user.api_secret):
                return user
        return None

    def check_password(self, username: str, password: str) -> SimUser | None:
        """The user with this username and password, or None."""
        for user in self._users.values():
            if _same(username, user.username) and _same(password, user.password):
                return user
        return None

    def issue_token(self, user_id: str, now: int, ttl_seconds: float) -> str:
        """A new token for ``user_id`` valid for ``ttl_seconds`` from ``now``.

        Raises:
            KeyError: unknown user.
        """
        if user_id not in self._users:
            raise KeyError(user_id)
        self._prune(now)
        token = self._token_factory()
        self._tokens[token] = (user_id, now + int(ttl_seconds * NS))
        return token

    def user_for_token(self, token: str | None, now: int) -> SimUser | None:
        """The user of a valid (known, unexpired) token, else None."""
        if token is None:
            return None
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= now:
            return None
        return self._users.get(entry[0])

    def expires_at(self, token: str) -> int | None:
        """Expiry time (Unix ns) of a token, None when unknown."""
        entry = self._tokens.get(token)
        return entry[1] if entry is not None else None

    def expire_tokens(self, user_id: str | None = None) -> int:
        """Expire every token (of one user, or of all); returns how many."""
        count = 0
        for token, (owner, _) in list(self._tokens.items()):
            if user_id is None or owner == user_id:
                self._tokens[token] = (owner, 0)
                count += 1
        return count

    def _prune(self, now: int) -> None:
        # Expired tokens are kept for an hour so that expiry can still be told apart from
        # garbage, then forgotten.
        if len(self._tokens) < 1024:
            return
        horizon = now - 3600 * NS
        for token, (_, expiry) in list(self._tokens.items()):
            if expiry < horizon:
                del self._tokens[token]


# ---------------------------------------------------------------------------------------------
# Trading accounts.


class Position:
    """Per account and symbol: position, cost basis, realized pnl and open-order exposure."""

    __slots__ = ("cost", "cost_f", "open_notional", "quantity", "realized", "ts")

    def __init__(self) -> None:
        self.quantity = 0  # signed contracts
        self.cost = ZERO  # signed cost basis, USD
        self.cost_f = 0.0  # the same as a float, for the margin check's fast path
        self.realized = ZERO
        self.ts = 0
        self.open_notional = 0  # sum of ticks × remaining quantity of open orders

    def apply_fill(
        self, is_buy: bool, qty: int, value: Decimal, value_f: float, now: int
    ) -> tuple[Decimal | None, float]:
        """Update the position with one fill at ``value`` (price × multiplier) per contract.

        The float mirror (``value_f``, ``cost_f``) feeds the margin check's fast path.

        Returns:
            The realized pnl of the fill's closing part (None when it only opens), and the
            same as a float (0.0 then).
        """
        signed = qty if is_buy else -qty
        self.ts = now
        held = self.quantity
        if held == 0 or (held > 0) == is_buy:
            self.quantity = held + signed
            self.cost += value * signed
            self.cost_f += value_f * signed
            return None, 0.0
        closing = min(qty, abs(held))
        direction = 1 if held > 0 else -1
        closed_cost = self.cost * closing / abs(held)
        closed_f = self.cost_f * closing / abs(held)
        realized = value * closing * direction - closed_cost
        self.realized += realized
        self.quantity = held + signed
        if self.quantity == 0:
            self.cost = ZERO
            self.cost_f = 0.0
        elif abs(signed) > closing:  # flipped: the rest opens the other way
            self.cost = value * self.quantity
            self.cost_f = value_f * self.quantity
        else:
            self.cost -= closed_cost
            self.cost_f -= closed_f
        return realized, value_f * closing * direction - closed_f


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
            fee=plain(self.fee),
            side=self.side,
            realized_pnl=None if self.realized_pnl is None else plain(self.realized_pnl),
        )


class Account:
    """One trading account: balance, positions, and the venue's bookkeeping of its orders."""

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
            price=ZERO,
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
        self.open: dict[str, Order] = {}
        self.live_cids: dict[int, Order] = {}
        self.last_cid: dict[int, Order] = {}
        self.history: list[Order] = []
        self.fills: list[Fill] = []
        self.positions: dict[str, Position] = {}

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position()
        return pos


def opening_quantity(position: int, is_buy: bool, quantity: int) -> int:
    """The part of an order that would grow the position (the rest closes it)."""
    if (position < 0 and is_buy) or (position > 0 and not is_buy):
        return max(quantity - abs(position), 0)
    return quantity


def margin_shortfall(
    acct: Account, books: Mapping[str, Book], book: Book, is_buy: bool, ticks: int, quantity: int
) -> str | None:
    """The venue's margin text when the order needs more margin than is available, else None.

    ``books`` maps every symbol the account holds to its book (for the marks).
    """
    pos = acct.positions.get(book.symbol)
    held_qty = pos.quantity if pos is not None else 0
    opening = quantity if held_qty == 0 else opening_quantity(held_qty, is_buy, quantity)
    if opening == 0:
        return None
    # Fast path in floats, decisive unless the order is within a hair of the limit.
    available_f = acct.balance_f
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
        other = books[symbol]
        if held.quantity:
            notional = held.quantity * other.mark * other.multiplier
            available += notional - held.cost - abs(notional) * other.im_rate
        if held.open_notional:
            available -= other.tick * held.open_notional * other.im_rate
    if required <= available:
        return None
    return (
        f"initial margin required for order ({money(required)}) is greater than"
        f" available initial margin ({money(available)})"
    )


# -- REST views ---------------------------------------------------------------------------------


def position_reports(acct: Account, books: Mapping[str, Book]) -> list[PositionReport]:
    """The account's positions (REST ``positions``), by symbol; never-traded ones left out."""
    result = []
    for symbol, pos in sorted(acct.positions.items()):
        if pos.ts == 0:
            continue  # open orders only, never traded
        book = books[symbol]
        result.append(
            PositionReport(
                account_id=acct.account_id,
                symbol=symbol,
                signed_quantity=pos.quantity,
                signed_cost_basis=plain(pos.cost),
                signed_notional=plain(pos.quantity * book.mark * book.multiplier),
                timestamp=format_rfc3339_ns(pos.ts),
                realized_pnl=plain(pos.realized),
            )
        )
    return result


def balances(acct: Account | None) -> BalancesResponse:
    """The account's USD balance (REST ``balances``); no balances for an unknown account."""
    if acct is None:
        return BalancesResponse(balances=[], usd_borrow=ZERO)
    balance = Balance(account_id=acct.account_id, symbol="USD", amount=plain(acct.balance))
    return BalancesResponse(balances=[balance], usd_borrow=ZERO)


def risk_snapshot(acct: Account, books: Mapping[str, Book], now: int) -> RiskSnapshot:
    """Per-symbol margin and pnl plus account totals (REST ``risk-snapshot``)."""
    per_symbol: dict[str, SymbolRisk] = {}
    im_pos = im_orders = maint = unrealized = ZERO
    for symbol, pos in sorted(acct.positions.items()):
        book = books[symbol]
        notional = pos.quantity * book.mark * book.multiplier
        s_im_pos = abs(notional) * book.im_rate
        s_im_orders = book.tick * pos.open_notional * book.im_rate
        s_maint = abs(notional) * book.instrument.maintenance_margin_pct / HUNDRED * book.multiplier
        s_unreal = notional - pos.cost
        per_symbol[symbol] = SymbolRisk(
            signed_quantity=pos.quantity,
            signed_cost_basis=plain(pos.cost),
            signed_notional=plain(notional),
            mark_price=book.mark,
            signed_usd_notional=plain(notional),
            average_price=plain(pos.cost / pos.quantity / book.multiplier)
            if pos.quantity
            else None,
            initial_margin_required_position=plain(s_im_pos),
            initial_margin_required_open_orders=plain(s_im_orders),
            initial_margin_required_total=plain(s_im_pos + s_im_orders),
            maintenance_margin_required=plain(s_maint),
            unrealized_pnl=plain(s_unreal),
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
        initial_margin_required_for_positions=plain(im_pos),
        initial_margin_required_for_open_orders=plain(im_orders),
        initial_margin_required_total=plain(im_pos + im_orders),
        maintenance_margin_required=plain(maint),
        unrealized_pnl=plain(unrealized),
        equity=plain(equity),
        initial_margin_available=plain(equity - im_pos - im_orders),
        maintenance_margin_available=plain(equity - maint),
        balance_usd=plain(acct.balance),
    )


def initial_margin(
    acct: Account, book: Book, side: Side, quantity: int, price: Decimal
) -> InitialMarginResponse:
    """The initial margin an order would need (REST ``initial-margin-requirement``)."""
    pos = acct.positions.get(book.symbol)
    position = pos.quantity if pos is not None else 0
    opening = opening_quantity(position, side is Side.BUY, quantity)
    pct = book.instrument.initial_margin_pct
    return InitialMarginResponse(
        im_pct=pct,
        im=price * opening * book.multiplier * pct * _PERCENT,
        pos=position,
        mult=book.multiplier,
    )
