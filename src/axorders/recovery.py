"""What the client fetches over REST for the session: fills missed in a gap, and the answers to
the WebSocket requests the venue does not know (status ``s``, cancel-all ``X``).

The session asks (``missing_fills``/``fills_wanted()``, ``rest_wanted``); the pump starts one
task for each kind, and the answers go back into the session, each followed by a pump.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from axorders.clientbase import ClientBase, now_ns
from axorders.exceptions import AxOrdersError, RequestRejectedError

__all__ = ["RestRecovery"]

log = logging.getLogger("axorders.client")

_FILL_POLL_S: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0)
"""Waits between REST ``/fills`` polls while a missed fill has not appeared there yet."""


class RestRecovery(ClientBase):
    """REST fill recovery and the REST fallbacks, started by the pump."""

    def _start_rest_work(self) -> None:
        """Start what the session asks for over REST, unless it is already under way."""
        session = self.session
        if session.missing_fills and (self._fills_task is None or self._fills_task.done()):
            self._fills_task = asyncio.get_running_loop().create_task(self._recover_fills())
        if session.rest_wanted and (self._rest_task is None or self._rest_task.done()):
            self._rest_task = asyncio.get_running_loop().create_task(self._rest_fallback())

    async def _recover_fills(self) -> None:
        for delay in (0.0, *_FILL_POLL_S):
            if delay:
                await asyncio.sleep(delay)
            wanted = self.session.fills_wanted()
            if wanted is None:
                return
            try:
                fills = await self.rest.fills(start_ns=wanted.start_ns)
            except AxOrdersError as exc:
                log.warning("could not fetch fills: %s", exc)
                continue
            self.session.receive_fills(fills, now_ns())
            self._pump()
        if self.session.fills_wanted() is not None:
            log.warning("some fills never appeared over REST; ending their orders anyway")
            self.session.receive_fills([], now_ns(), final=True)
            self._pump()

    async def _rest_fallback(self) -> None:
        session = self.session
        while not self._closed and session.rest_wanted:
            for query in session.rest_status_wanted():
                status = None
                code: int | None = None
                message = ""
                try:
                    if query.venue_order_id is not None:
                        status = await self.rest.order_status(venue_order_id=query.venue_order_id)
                    else:
                        status = await self.rest.order_status(cid=query.cid)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                session.receive_rest_status(
                    query.request_id, status, now_ns(), code=code, message=message
                )
                self._pump()
            for cancel in session.rest_cancel_all_wanted():
                code = None
                message = ""
                try:
                    await self.rest.cancel_all_orders(cancel.symbol)
                except RequestRejectedError as exc:
                    code, message = exc.status, exc.message
                except AxOrdersError as exc:
                    code, message = 503, str(exc)
                session.receive_rest_cancel_all(
                    cancel.request_id, now_ns(), code=code, message=message
                )
                self._pump()
