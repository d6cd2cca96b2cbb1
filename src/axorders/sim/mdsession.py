"""The venue side of one market-data WebSocket connection, sans I/O.

:class:`MarketDataSession` serves ``/md/ws`` subscriptions; :class:`MarketDataPublisher` turns
the engine's book and trade changes into the frames each subscription asks for. Neither reads
a clock nor touches a socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from axorders.sim.engine import Engine
from axorders.wire.md import (
    MdError,
    MdHeartbeatMsg,
    MdReply,
    MdResult,
    SubscribeRequest,
    UnsubscribeRequest,
    decode_md_request,
    encode_md,
    md_request_id,
)

__all__ = [
    "MarketDataPublisher",
    "MarketDataSession",
    "Subscription",
    "SymbolUpdate",
    "md_heartbeat_frame",
]

_NS: Final = 1_000_000_000
_LEVELS: Final = frozenset({"LEVEL_1", "LEVEL_2", "LEVEL_3", "TRADES"})


def md_heartbeat_frame(now: int) -> bytes:
    """The market-data heartbeat."""
    return encode_md(MdHeartbeatMsg(now // _NS, now % _NS))


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one connection wants for one symbol."""

    level: str  # LEVEL_1 / LEVEL_2 / LEVEL_3 (served as LEVEL_2) / TRADES
    trades: bool
    ticker: bool

    @property
    def book_level(self) -> int:
        """0 (no book), 1 or 2."""
        if self.level == "LEVEL_1":
            return 1
        if self.level == "TRADES":
            return 0
        return 2


@dataclass(slots=True)
class SymbolUpdate:
    """The frames a publish produced for one symbol (None: nothing new)."""

    l1: bytes | None = None
    l2: bytes | None = None
    trades: list[bytes] | None = None
    ticker: bytes | None = None

    def frames_for(self, subscription: Subscription) -> list[bytes]:
        out: list[bytes] = []
        level = subscription.book_level
        if level == 1 and self.l1 is not None:
            out.append(self.l1)
        elif level == 2 and self.l2 is not None:
            out.append(self.l2)
        if subscription.trades and self.trades:
            out.extend(self.trades)
        if subscription.ticker and self.ticker is not None:
            out.append(self.ticker)
        return out


class MarketDataSession:
    """Server side of one ``/md/ws`` connection: its subscriptions.

    Args:
        engine: the shared engine (for symbols and snapshots).
        depth: levels per side in ``2`` book frames.
    """

    def __init__(self, engine: Engine, *, depth: int = 20) -> None:
        self.engine = engine
        self.depth = depth
        self.subscriptions: dict[str, Subscription] = {}

    def receive(self, data: bytes | str, now: int) -> list[bytes]:
        """Handle one request; returns the reply, then a snapshot after a subscribe."""
        request = decode_md_request(data)
        if request is None:
            return [self._error(md_request_id(data), 400, "unsupported or malformed request")]
        if isinstance(request, UnsubscribeRequest):
            self.subscriptions.pop(request.symbol, None)
            return [
                encode_md(MdReply(rid=request.rid, result=MdResult(unsubscribed=request.symbol)))
            ]
        assert isinstance(request, SubscribeRequest)
        symbol = request.symbol
        if self.engine.instrument(symbol) is None:
            return [self._error(request.rid, 404, f"Symbol {symbol} is not available")]
        if request.level not in _LEVELS:
            return [self._error(request.rid, 400, f"unknown level {request.level!r}")]
        subscription = Subscription(
            level=request.level,
            trades=request.trades is not False,
            ticker=request.ticker is not False,
        )
        self.subscriptions[symbol] = subscription
        out = [encode_md(MdReply(rid=request.rid, result=MdResult(subscribed=symbol)))]
        if subscription.book_level == 1:
            out.append(encode_md(self.engine.l1(symbol, now)))
        elif subscription.book_level == 2:
            out.append(encode_md(self.engine.l2(symbol, now, self.depth)))
        if subscription.ticker:
            out.append(encode_md(self.engine.ticker(symbol, now)))
        return out

    @staticmethod
    def _error(rid: int | None, code: int, message: str) -> bytes:
        return encode_md(MdReply(rid=rid, error=MdError(message=message, code=code)))


class MarketDataPublisher:
    """Turns the engine's changes into market-data frames, once for all subscribers.

    Book frames are sent only when the levels changed; tickers at most once per
    ``ticker_interval_ns`` per symbol (the venue throttles them to 1/s).
    """

    def __init__(self, engine: Engine, *, depth: int = 20, ticker_interval_ns: int = _NS) -> None:
        self.engine = engine
        self.depth = depth
        self.ticker_interval_ns = ticker_interval_ns
        self._last_l1: dict[str, tuple[object, object]] = {}
        self._last_l2: dict[str, tuple[object, object]] = {}
        self._last_ticker: dict[str, int] = {}
        self._pending_ticker: set[str] = set()

    def reset(self) -> None:
        """Forget what was last sent (after market data was switched off and on)."""
        self._last_l1.clear()
        self._last_l2.clear()
        self._pending_ticker.clear()

    def collect(self, now: int, wanted: Iterable[str]) -> dict[str, SymbolUpdate]:
        """Drain the engine's changes; frames only for the ``wanted`` symbols."""
        trades, dirty = self.engine.take_market_data()
        wanted_set = set(wanted)
        updates: dict[str, SymbolUpdate] = {}
        for trade in trades:
            if trade.symbol in wanted_set:
                update = updates.setdefault(trade.symbol, SymbolUpdate())
                if update.trades is None:
                    update.trades = []
                update.trades.append(encode_md(trade))
        for symbol in dirty:
            if symbol not in wanted_set:
                # Forget what was last sent, so a later subscriber never misses a change.
                self._last_l1.pop(symbol, None)
                self._last_l2.pop(symbol, None)
                continue
            self._pending_ticker.add(symbol)
            update = updates.setdefault(symbol, SymbolUpdate())
            l1 = self.engine.l1(symbol, now)
            key1 = (l1.bids, l1.asks)
            if self._last_l1.get(symbol) != key1:
                self._last_l1[symbol] = key1
                update.l1 = encode_md(l1)
            l2 = self.engine.l2(symbol, now, self.depth)
            key2 = (l2.bids, l2.asks)
            if self._last_l2.get(symbol) != key2:
                self._last_l2[symbol] = key2
                update.l2 = encode_md(l2)
        for symbol in list(self._pending_ticker):
            if symbol not in wanted_set:
                self._pending_ticker.discard(symbol)
                continue
            if now - self._last_ticker.get(symbol, -self.ticker_interval_ns) >= (
                self.ticker_interval_ns
            ):
                self._pending_ticker.discard(symbol)
                self._last_ticker[symbol] = now
                updates.setdefault(symbol, SymbolUpdate()).ticker = encode_md(
                    self.engine.ticker(symbol, now)
                )
        return updates
