"""Retry delays: exponential, capped, with jitter (pure; randomness is injected)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``initial × factor**n`` seconds, capped at ``maximum``, plus up to
    ``jitter`` of the delay at random.

    >>> b = Backoff(initial=0.5, maximum=5.0, jitter=0.0)
    >>> [b.next_delay() for _ in range(6)]
    [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 5.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or jitter < 0:
            raise ValueError("need 0 < initial <= maximum, factor >= 1 and jitter >= 0")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    def next_delay(self) -> float:
        base = self.maximum
        # Compared in logarithms: factor**attempts overflows a float after enough attempts.
        if self._attempts * math.log(self.factor) < math.log(self.maximum / self.initial):
            base = min(self.maximum, self.initial * self.factor**self._attempts)
        self._attempts += 1
        return base + base * self.jitter * self._rng()

    def reset(self) -> None:
        """Start again from ``initial`` (after a success)."""
        self._attempts = 0
