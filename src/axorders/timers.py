"""The client's timers: request deadlines, pings and the watchdog, on one tick."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Final

from axorders.clientbase import ClientBase
from axorders.clientbase import now_ns as _now

__all__ = ["Timers"]

log = logging.getLogger("axorders.client")

_TICK_S: Final = 0.02


class Timers(ClientBase):
    """Every ``_TICK_S``: the session's deadlines, a ping every ``heartbeat`` seconds, and the
    watchdog, which drops a socket the venue has gone quiet on (the reconnect follows)."""

    heartbeat: float
    watchdog: float
    venue_heartbeat: float
    _last_ping: float
    _gaps: collections.deque[float]

    async def _timer_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(_TICK_S)
            try:
                self._tick()
            except Exception:  # a bug must not stop the deadlines and the watchdog for good
                log.exception("timer tick failed")

    def _tick(self) -> None:
        if not self._paused:  # deadlines wait while reading is paused (see _pause)
            self.session.tick(_now())
        self._pump()
        transport = self._transport
        if transport is None or self._paused:
            return
        mono = time.monotonic()
        if mono - self._last_ping >= self.heartbeat and self._login.is_set():
            self._last_ping = mono
            with contextlib.suppress(Exception):
                transport.send_ping()
        if self.watchdog > 0 and mono - self._last_rx > self.watchdog_limit:
            log.warning("nothing from the venue for %.1f s; reconnecting", mono - self._last_rx)
            self._last_rx = mono
            transport.disconnect()

    @property
    def watchdog_limit(self) -> float:
        """Seconds of silence from the venue after which the watchdog drops the socket:
        ``watchdog × max(venue_heartbeat, the longest of the last 8 gaps between the
        venue's messages)``, where the messages of one socket read count as one. The venue's
        own cadence sets it, never the client's pings."""
        gaps = self._gaps
        cadence = max((self.venue_heartbeat, *gaps))
        return self.watchdog * cadence
