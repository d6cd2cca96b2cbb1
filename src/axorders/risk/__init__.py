"""Pre-trade risk controls and positions (pure, sans-I/O).

* :class:`RiskLimits` / :class:`SymbolLimits` / :class:`RateLimit`: the limits, with
  per-symbol overrides, from a mapping or a TOML/JSON file.
* :class:`RiskGate`: checks each new order and replace against the limits and the
  :class:`TradingState`, raising :class:`~axorders.exceptions.RiskLimitError`; cancels are
  never checked. :func:`denial` makes the :class:`~axorders.events.OrderDenied` event of a
  refusal.
* :class:`PositionBook`: positions from fills, each applied once by trade id, reconciled with
  the venue's; persisted with ``to_json``/``from_json``.

Nothing here reads a clock, sleeps or does I/O: times are passed in as ``now`` (Unix ns).
"""

from axorders.risk.gate import Exposure, RiskGate, TokenBucket, TradingState, denial
from axorders.risk.limits import RateLimit, RiskLimits, SymbolLimits
from axorders.risk.positions import (
    DEFAULT_MAX_TRADE_IDS,
    Position,
    PositionBook,
    venue_position,
)

__all__ = [
    "DEFAULT_MAX_TRADE_IDS",
    "Exposure",
    "Position",
    "PositionBook",
    "RateLimit",
    "RiskGate",
    "RiskLimits",
    "SymbolLimits",
    "TokenBucket",
    "TradingState",
    "denial",
    "venue_position",
]
