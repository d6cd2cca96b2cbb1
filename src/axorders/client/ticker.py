"""The client's one timer: every tick, the callbacks it was given run in order.

The client gives it the session's deadlines (through the gate), the pump, and the connection's
pings and watchdog. A bug in one tick is logged and the next tick comes anyway, so the
deadlines and the watchdog never stop for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

__all__ = ["TICK_S", "Ticker"]

log = logging.getLogger("axorders.client")

TICK_S: Final = 0.02
"""Seconds between two ticks."""


class Ticker:
    """Runs ``tick`` every ``interval`` seconds in one task, from :meth:`start` to :meth:`stop`."""

    def __init__(self, tick: Callable[[], None], interval: float = TICK_S) -> None:
        self._tick = tick
        self._interval = interval
        self.task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        """Start ticking (once; later calls do nothing)."""
        if self.task is None and not self._stopped:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        self._stopped = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self._interval)
            try:
                self._tick()
            except Exception:  # a bug must not stop the deadlines and the watchdog for good
                log.exception("timer tick failed")
