"""Market data for STOP_LIMIT triggers: the client's market-data feed and what it feeds the
session.

:class:`MarketWatch` subscribes each symbol of an armed stop on the market-data WebSocket
(:class:`~axorders.client.marketdata.MarketDataFeed`) and hands last trades and best prices
to the trigger logic (:class:`~axorders.client.stops.StopTriggers`) through the session's
gate. No stop fires while the orders socket is down, so the highest and lowest prices seen
meanwhile are kept and replayed once the session has resynced: a stop whose trigger was
crossed in the gap fires then.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from decimal import Decimal

from axorders.auth import TokenProvider
from axorders.client.gate import SessionGate
from axorders.client.marketdata import MarketDataFeed

__all__ = ["MarketWatch"]

class MarketWatch:
    """The market-data feed of one client, started by its first STOP_LIMIT order."""

    def __init__(
        self,
        gate: SessionGate,
        pump: Callable[[], None],
        url: str,
        tokens: TokenProvider,
        *,
        allow_insecure: bool,
        ssl_context: ssl.SSLContext | None,
        proxy: str | None,
        max_message_size: int,
        clock: Callable[[], int] = time.time_ns,
        tap: Callable[[bytes], None] | None = None,
    ) -> None:
        self._tap = tap
        self._gate = gate
        self._stops = gate.stops
        self._clock = clock
        self._pump = pump
        self._url = url
        self._tokens = tokens
        self._allow_insecure = allow_insecure
        self._ssl = ssl_context
        self._proxy = proxy
        self._max_message_size = max_message_size
        self.feed: MarketDataFeed | None = None
        self._symbols: set[str] = set()
        # Per symbol: the (highest, lowest) of each price seen while the session was down.
        self._gap: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}

    @property
    def has_gap(self) -> bool:
        """True when prices seen while disconnected wait to be replayed."""
        return bool(self._gap)

    async def watch(self, symbol: str) -> None:
        """Subscribe ``symbol`` (once), connecting the feed first if needed."""
        if symbol in self._symbols:
            return
        if self.feed is None:
            self.feed = MarketDataFeed(
                self._url,
                self._tokens,
                self.on_price,
                allow_insecure=self._allow_insecure,
                ssl_context=self._ssl,
                proxy=self._proxy,
                max_message_size=self._max_message_size,
                tap=self._tap,
            )
            await self.feed.connect()
        await self.feed.subscribe(symbol)
        self._symbols.add(symbol)

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.close()

    def on_price(
        self,
        symbol: str,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
        ts_ns: int,
    ) -> None:
        """The feed's callback: feed the prices to the triggers (which remember them)."""
        stops = self._stops
        if not stops.session.is_connected:
            # No stop fires while the orders socket is down: remember how far
            # the market went, to replay it once the session is back (see replay_gap).
            gap = self._gap.setdefault(symbol, {})
            for name, price in (("last", last), ("bid", bid), ("ask", ask)):
                if price is not None:
                    hi, lo = gap.get(name, (price, price))
                    gap[name] = (max(hi, price), min(lo, price))
        self._gate.update_market(symbol, self._clock(), last=last, bid=bid, ask=ask)
        self._pump()

    def replay_gap(self) -> None:
        """Feed the highest and lowest prices seen while disconnected, so that a stop whose
        trigger was crossed in the gap fires now; then the latest prices again."""
        gap, self._gap = self._gap, {}
        stops = self._stops
        if not stops.session.is_connected:
            self._gap = gap
            return
        for symbol, seen in gap.items():
            latest = stops.prices(symbol)
            for i in (0, 1):
                self._gate.update_market(
                    symbol,
                    self._clock(),
                    last=seen["last"][i] if "last" in seen else None,
                    bid=seen["bid"][i] if "bid" in seen else None,
                    ask=seen["ask"][i] if "ask" in seen else None,
                )
            if latest is not None:
                last, bid, ask = latest
                self._gate.update_market(symbol, self._clock(), last=last, bid=bid, ask=ask)
        self._pump()
