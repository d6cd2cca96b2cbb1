"""What the client fetches over REST for the session: fills missed in a gap, and the answers to
the WebSocket requests the venue does not know (status ``s``, cancel-all ``X``).

The session asks (``missing_fills``/``fills_wanted()``, ``rest_wanted``); after each pump the
client calls :meth:`RestRecovery.start`, which runs one task for each kind. The answers go back
into the session through the gate, each followed by a pump.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from axorders.client.gate import SessionGate
from axorders.exceptions import AxOrdersError, RequestRejectedError
from axorders.rest import RestClient

__all__ = ["RestRecovery"]

log = logging.getLogger("axorders.client")

_FILL_POLL_S: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0)
"""Waits between REST ``/fills`` polls while a missed fill has not appeared there yet."""


class RestRecovery:
    """REST fill recovery and the REST fallbacks (see the module's docstring).

    Args:
        gate: where the answers go in.
        rest: the REST client (made on first use).
        pump: moves the session's output on after each answer.
        clock: Unix nanoseconds.
    """

    def __init__(
        self,
        gate: SessionGate,
        rest: Callable[[], RestClient],
        pump: Callable[[], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._gate = gate
        self._session = gate.session
        self._rest = rest
        self._pump = pump
        self._clock = clock
        self.fills_task: asyncio.Task[None] | None = None
        self.rest_task: asyncio.Task[None] | None = None
        self.fallbacks = 0  # REST calls made for requests the venue's WebSocket does not know
        self.fill_polls = 0
        self._closed = False

    def start(self) -> None:
        """Start what the session asks for over REST, unless it is already under way."""
        session = self._session
        if self._closed:
            return
        if session.missing_fills and (self.fills_task is None or self.fills_task.done()):
            self.fills_task = asyncio.get_running_loop().create_task(self._recover_fills())
        if session.rest_wanted and (self.rest_task is None or self.rest_task.done()):
            self.rest_task = asyncio.get_running_loop().create_task(self._rest_fallback())

    def tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in (self.fills_task, self.rest_task) if t is not None]

    def close(self) -> None:
        self._closed = True

    async def _recover_fills(self) -> None:
        session = self._session
        for delay in (0.0, *_FILL_POLL_S):
            if delay:
                await asyncio.sleep(delay)
            wanted = session.fills_wanted()
            if wanted is None:
                return
            self.fill_polls += 1
            try:
                fills = await self._rest().fills(start_ns=wanted.start_ns)
            except AxOrdersError as exc:
                log.warning("could not fetch fills: %s", exc)
                continue
            self._gate.receive_fills(list(fills), self._clock())
            self._pump()
        if session.fills_wanted() is not None:
            log.warning("some fills never appeared over REST; ending their orders anyway")
            self._gate.receive_fills([], self._clock(), final=True)
            self._pump()

    async def _rest_fallback(self) -> None:
        session = self._session
        gate = self._gate
        while not self._closed and session.rest_wanted:
            for query in session.rest_status_wanted():
                status = None
                code: int | None = None
                message = ""
                self.fallbacks += 1
                try:
                    rest = self._rest()
                    if query.venue_order_id is not None:
                        status = await rest.order_status(venue_order_id=query.venue_order_id)
                    else:
                        status = await rest.order_status(cid=query.cid)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                gate.receive_rest_status(
                    query.request_id, status, self._clock(), code=code, message=message
                )
                self._pump()
            for cancel in session.rest_cancel_all_wanted():
                code = None
                message = ""
                self.fallbacks += 1
                try:
                    await self._rest().cancel_all_orders(cancel.symbol)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                gate.receive_rest_cancel_all(
                    cancel.request_id, self._clock(), code=code, message=message
                )
                self._pump()
