"""Venue identifiers: ``O-``/``T-``/``E-`` + a 26-character ULID (Crockford base32).

A ULID is 48 bits of Unix milliseconds followed by 80 random bits. :class:`UlidFactory` is
monotonic: within one millisecond (or if the clock steps back) it increments the random part
instead of drawing a new one, so ids from one factory sort in creation order. Time comes in
as ``now`` (Unix nanoseconds) and randomness from an injected :class:`random.Random`, so a
seeded run gives the same ids every time.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["CROCKFORD", "UlidFactory", "is_ulid"]

CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two Crockford characters for every 10-bit value.
_PAIRS: Final = tuple(a + b for a in CROCKFORD for b in CROCKFORD)
_RANDOM_BITS: Final = 80
_LOW_MASK: Final = (1 << 40) - 1
_MAX_MS: Final = (1 << 48) - 1


def _encode(value: int, chars: int) -> str:
    """``value`` as ``chars`` Crockford characters (``chars`` even)."""
    return "".join(_PAIRS[(value >> shift) & 1023] for shift in range(5 * chars - 10, -1, -10))


def is_ulid(text: str) -> bool:
    """True when ``text`` is 26 Crockford base32 characters starting with 0-7."""
    return len(text) == 26 and text[0] in "01234567" and all(c in CROCKFORD for c in text)


class UlidFactory:
    """Monotonic ULIDs from ``now`` and a seeded random generator."""

    __slots__ = ("_head", "_high", "_low", "_ms", "_ms_end", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ms = -1
        self._ms_end = 0  # first ns after the current millisecond
        self._high = 0  # random bits 79..40
        self._low = 0  # random bits 39..0
        self._head = ""  # the first 24 characters for the current (ms, high, low >> 10)

    def new(self, now: int) -> str:
        """A new ULID for time ``now`` (Unix ns), greater than every earlier one."""
        if now >= self._ms_end:
            ms = min(now // 1_000_000, _MAX_MS)
            self._ms = ms
            self._ms_end = (ms + 1) * 1_000_000
            # 79 bits leave room to count up within the millisecond without overflowing.
            bits = self._rng.getrandbits(_RANDOM_BITS - 1)
            self._high = bits >> 40
            low = self._low = bits & _LOW_MASK
        else:
            # Same millisecond, or the clock stepped back: count up.
            low = self._low = self._low + 1
            if low & 1023:
                return self._head + _PAIRS[low & 1023]
            if low > _LOW_MASK:
                low = self._low = 0
                self._high += 1
                if self._high >> 40:
                    self._high = 0
                    self._ms = min(self._ms + 1, _MAX_MS)
        # 26 characters = 130 bits: 10 for the time (two leading zero bits), 16 for the random
        # bits. The first 24 change only every 1024 ids within a millisecond.
        self._head = _encode((self._ms << 40) | self._high, 18) + _encode(low >> 10, 6)
        return self._head + _PAIRS[low & 1023]
