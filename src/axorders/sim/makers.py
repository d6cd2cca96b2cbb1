"""Built-in market makers: a few quote levels around a random-walk mark price per symbol.

Pure and seeded: :meth:`Makers.step` takes ``now`` and returns engine commands (move the mark,
pull the old quotes, place new ones); the server applies them on a timer. The same seed gives
the same marks and quotes. The makers trade from their own internal account, which is exempt
from the margin check and keeps no order history.

Each step, per symbol: the mark moves by a normally distributed number of ticks (standard
deviation ``volatility_bps`` of the mark), bounded to ``max_drift_pct`` around the starting
mark; then ``levels`` bids and asks are quoted at ``half_spread`` + ``i × level_step`` ticks
from the mark, each for a random multiple (1 … ``max_lots``) of the minimum order size. Quotes
are ordinary limit orders: when the mark moves through a resting user order, the makers' new
quote trades with it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from axorders.model import Instrument, Side
from axorders.sim.engine import CancelAll, Command, Place, SetMark

__all__ = ["MAKER_ACCOUNT", "MakerConfig", "Makers"]

MAKER_ACCOUNT = "sim-maker"
"""The makers' account id."""


@dataclass(frozen=True, slots=True)
class MakerConfig:
    """Market-maker parameters (basis points are of the mark)."""

    account_id: str = MAKER_ACCOUNT
    levels: int = 5
    half_spread_bps: float = 1.0
    level_step_bps: float = 1.0
    volatility_bps: float = 1.0
    max_drift_pct: float = 5.0
    max_lots: int = 20
    symbols: tuple[str, ...] | None = None  # None: every instrument


class _Quoted:
    __slots__ = ("highest", "instrument", "lowest", "mark", "start")

    def __init__(self, instrument: Instrument, mark: Decimal, drift_pct: float) -> None:
        self.instrument = instrument
        self.start = int(mark / instrument.tick_size)
        self.mark = self.start
        spread = max(1, int(self.start * drift_pct / 100))
        self.lowest = max(1, self.start - spread)
        self.highest = self.start + spread


class Makers:
    """Seeded market makers.

    Args:
        instruments: the contracts to quote (filtered by ``config.symbols``).
        marks: starting marks per symbol.
        rng: the randomness; seed it for repeatable runs.
        config: parameters.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        marks: Mapping[str, Decimal],
        rng: random.Random,
        config: MakerConfig | None = None,
    ) -> None:
        self.config = config or MakerConfig()
        self._rng = rng
        wanted = self.config.symbols
        self._books = {
            inst.symbol: _Quoted(inst, marks[inst.symbol], self.config.max_drift_pct)
            for inst in instruments
            if wanted is None or inst.symbol in wanted
        }

    @property
    def account_id(self) -> str:
        return self.config.account_id

    def marks(self) -> dict[str, Decimal]:
        """The makers' current mark per symbol."""
        return {symbol: q.instrument.tick_size * q.mark for symbol, q in self._books.items()}

    def step(self, now: int) -> list[Command]:
        """Move every mark one step and re-quote; returns the commands to apply in order."""
        del now  # quotes do not depend on the time of day
        commands: list[Command] = []
        config = self.config
        rng = self._rng
        account = config.account_id
        for symbol, quoted in self._books.items():
            instrument = quoted.instrument
            tick = instrument.tick_size
            sigma = quoted.mark * config.volatility_bps / 10_000
            move = round(rng.gauss(0.0, sigma)) if sigma > 0 else 0
            quoted.mark = min(max(quoted.mark + move, quoted.lowest), quoted.highest)
            mark = quoted.mark
            half = max(1, round(mark * config.half_spread_bps / 10_000))
            step = max(1, round(mark * config.level_step_bps / 10_000))
            commands.append(SetMark(symbol, tick * mark))
            commands.append(CancelAll(account, symbol))
            minimum = instrument.minimum_order_size
            for i in range(config.levels):
                offset = half + i * step
                bid = mark - offset
                if bid > 0:
                    commands.append(
                        Place(
                            account,
                            symbol,
                            Side.BUY,
                            minimum * rng.randint(1, config.max_lots),
                            tick * bid,
                        )
                    )
                commands.append(
                    Place(
                        account,
                        symbol,
                        Side.SELL,
                        minimum * rng.randint(1, config.max_lots),
                        tick * (mark + offset),
                    )
                )
        return commands
