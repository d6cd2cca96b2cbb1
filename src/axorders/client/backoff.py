"""Retry delays: exponential, capped, with jitter (pure; randomness and time are injected)."""

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

    A reconnecting caller reports each connection's life with :meth:`connected` and
    :meth:`disconnected` (monotonic seconds). Only a connection that lived at least
    ``stable_after`` seconds starts the delays again, and then the first retry goes out at
    once (``initial × jitter`` at most, to spread many clients). A venue that accepts and
    drops at once therefore cannot hold the delays at their shortest:

    >>> b = Backoff(initial=0.5, maximum=5.0, jitter=0.0, stable_after=5.0)
    >>> b.next_delay(), b.connected(100.0), b.disconnected(101.0), b.next_delay()
    (0.5, None, None, 1.0)
    >>> b.connected(200.0), b.disconnected(260.0), b.next_delay(), b.next_delay()
    (None, None, 0.0, 0.5)
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 5.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: Callable[[], float] = random.random,
        stable_after: float = 5.0,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or jitter < 0 or stable_after < 0:
            raise ValueError(
                "need 0 < initial <= maximum, factor >= 1, jitter >= 0 and stable_after >= 0"
            )
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.stable_after = stable_after
        self._rng = rng
        self._attempts = 0
        self._up_since: float | None = None
        self._at_once = False

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    def next_delay(self) -> float:
        if self._at_once:
            # The first retry after a stable connection: at once, give or take the jitter.
            self._at_once = False
            return self.initial * self.jitter * self._rng()
        base = self.maximum
        # Compared in logarithms: factor**attempts overflows a float after enough attempts.
        if self._attempts * math.log(self.factor) < math.log(self.maximum / self.initial):
            base = min(self.maximum, self.initial * self.factor**self._attempts)
        self._attempts += 1
        return base + base * self.jitter * self._rng()

    def reset(self) -> None:
        """Start again from ``initial`` (after a success)."""
        self._attempts = 0
        self._at_once = False

    def connected(self, now: float) -> None:
        """A connection is up since ``now`` (monotonic seconds)."""
        self._up_since = now

    def disconnected(self, now: float) -> None:
        """The connection reported by :meth:`connected` ended at ``now``.

        One that lived ``stable_after`` seconds or more resets the delays, and the next one is
        (almost) zero; a shorter one leaves them where they were.
        """
        up_since, self._up_since = self._up_since, None
        if up_since is not None and now - up_since >= self.stable_after:
            self._attempts = 0
            self._at_once = True
