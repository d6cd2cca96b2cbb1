"""Waiting for the venue's word: the machinery the awaitable order methods share.

:class:`Waiters` owns the futures of requests and queries and the watches of orders. A request's
``RequestResolved`` reaches the future waiting on it (or is kept a while for one that comes
later); a query's answer reaches its future; a watch collects the events of some orders until
the awaitable method watching them has seen enough. A timeout or a lost connection becomes the
typed error that says what is known of the request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Final

from axorders import events as ev
from axorders.commands import Command
from axorders.exceptions import (
    AxOrdersError,
    ConnectionLostError,
    InvalidStateError,
    OrderNotFoundError,
    OrderRequestError,
    RequestTimeoutError,
)
from axorders.model import RequestId
from axorders.state import OrderRecord

__all__ = ["Waiters", "Watch"]

_ORDER_KINDS: Final = frozenset(
    {ev.RequestKind.PLACE, ev.RequestKind.CANCEL, ev.RequestKind.REPLACE}
)
_KEEP_RESOLVED: Final = 10_000
"""Outcomes kept for a ``wait_for`` that comes after them (oldest forgotten first)."""


class Watch:
    """The events of some orders, collected for an awaitable method waiting on them."""

    __slots__ = ("events", "keys", "wake")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.events: list[ev.Event] = []
        self.wake: asyncio.Future[None] | None = None


class Waiters:
    """Futures for requests and answers, watches of orders, and the errors they end in.

    Args:
        send: sends a command through the client (journal first); its request id.
        drops: how many times the connection has dropped so far (to tell a timeout from a
            lost connection).
        request_timeout: the default wait, in seconds.
    """

    def __init__(
        self,
        send: Callable[[Command], RequestId | None],
        drops: Callable[[], int],
        request_timeout: float,
    ) -> None:
        self._send = send
        self._drops_now = drops
        self.request_timeout = request_timeout
        self._closed = False
        self._waiters: dict[int, asyncio.Future[ev.RequestResolved]] = {}
        self._answers: dict[int, asyncio.Future[ev.Event]] = {}
        self._resolved: collections.OrderedDict[int, ev.RequestResolved] = (
            collections.OrderedDict()
        )
        self._watches: dict[str, list[Watch]] = {}

    @property
    def drops(self) -> int:
        """How many times the connection has dropped so far."""
        return self._drops_now()

    @property
    def in_flight(self) -> int:
        """Requests and queries someone is waiting on."""
        return len(self._waiters) + len(self._answers)

    @property
    def watching(self) -> bool:
        return bool(self._watches)

    def close(self) -> None:
        """The client closed: every wait ends with :class:`InvalidStateError`."""
        self._closed = True
        closed = InvalidStateError("the client was closed")
        futures: list[asyncio.Future[Any]] = [*self._waiters.values(), *self._answers.values()]
        for future in futures:
            if not future.done():
                future.set_exception(closed)
                # A caller awaiting it still gets the error; one that gave up on it
                # leaves no "exception was never retrieved" behind.
                future.exception()
        self._waiters.clear()
        self._answers.clear()
        for found in list(self._watches.values()):
            for watch in tuple(found):
                if watch.wake is not None and not watch.wake.done():
                    watch.wake.set_result(None)

    def notify(self, events: list[ev.Event]) -> None:
        """Hand the events of watched orders to the awaitable methods waiting on them."""
        watches = self._watches
        if not watches:
            return
        for event in events:
            coid = getattr(event, "client_order_id", None)
            if coid is None:
                continue
            found = watches.get(coid)
            if found:
                for watch in found:
                    watch.events.append(event)
                    wake = watch.wake
                    if wake is not None and not wake.done():
                        wake.set_result(None)

    def on_answer(self, event: ev.OpenOrdersReceived | ev.OrderStatusReport) -> None:
        fut = self._answers.pop(event.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(event)

    def on_resolved(self, event: ev.RequestResolved) -> None:
        fut = self._waiters.pop(event.request_id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(event)
            return
        resolved = self._resolved
        resolved[event.request_id] = event
        if len(resolved) > _KEEP_RESOLVED:
            resolved.popitem(last=False)

    async def ask(self, command: Command, timeout: float | None) -> ev.Event:
        """Send a query; its answer event, or its failed ``RequestResolved`` (ERROR)."""
        drops = self.drops
        rid = self._send(command)
        assert rid is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[ev.Event] = loop.create_future()
        self._answers[rid] = answer
        resolved = self.waiter(rid)
        futures: set[asyncio.Future[Any]] = {answer, resolved}
        try:
            done, _ = await asyncio.wait(
                futures,
                timeout=timeout or self.request_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._answers.pop(rid, None)
        if answer in done:
            return answer.result()
        if resolved in done:
            return self.failure_or(resolved.result(), drops)
        self._waiters.pop(rid, None)
        raise self.no_answer(rid, drops)

    def waiter(self, rid: int) -> asyncio.Future[ev.RequestResolved]:
        fut: asyncio.Future[ev.RequestResolved] = asyncio.get_running_loop().create_future()
        done = self._resolved.pop(rid, None)
        if done is not None:
            fut.set_result(done)
        else:
            self._waiters[rid] = fut
        return fut

    def no_answer(self, rid: int, drops: int) -> AxOrdersError:
        if self.drops != drops:
            return ConnectionLostError(
                f"request {rid}: the connection dropped and no answer came; whether it reached"
                " the venue is not known",
                reached_venue=None,
                request_id=rid,
            )
        return RequestTimeoutError(f"request {rid}: no answer from the venue", request_id=rid)

    def failure_or(
        self, result: ev.RequestResolved, drops: int, *, lost: bool = True
    ) -> ev.RequestResolved:
        """``result`` unless it is a TIMEOUT (or, with ``lost``, a LOST) outcome: raised."""
        outcome = result.outcome
        if outcome is ev.RequestOutcome.TIMEOUT:
            raise self.no_answer(result.request_id, drops)
        if outcome is ev.RequestOutcome.LOST and lost:
            if result.kind in _ORDER_KINDS:
                raise ConnectionLostError(
                    f"request {result.request_id}: the connection dropped and after the gap the"
                    " venue reported no trace of it (a late venue event would revive it)",
                    reached_venue=False,
                    request_id=result.request_id,
                )
            raise ConnectionLostError(
                f"request {result.request_id}: the connection dropped before the answer",
                reached_venue=None,
                request_id=result.request_id,
            )
        return result

    async def resolution(
        self, rid: int, timeout: float | None, drops: int, *, lost: bool = True
    ) -> ev.RequestResolved:
        """The OK, ERROR or LOCAL outcome of request ``rid``; TIMEOUT (and LOST) are raised."""
        fut = self.waiter(rid)
        try:
            result = await asyncio.wait_for(fut, timeout or self.request_timeout * 2)
        except TimeoutError:
            self._waiters.pop(rid, None)
            raise self.no_answer(rid, drops) from None
        return self.failure_or(result, drops, lost=lost)

    def unsettled(self, what: str, rid: int, drops: int, wait: float) -> AxOrdersError:
        if self.drops != drops:
            return ConnectionLostError(
                f"{what}: the venue took it, then the connection dropped before it confirmed",
                reached_venue=True,
                request_id=rid,
            )
        return RequestTimeoutError(
            f"{what}: the venue took the request but confirmed nothing within {wait:g} s",
            request_id=rid,
        )

    def watch(self, client_order_ids: Iterable[str]) -> Watch:
        watch = Watch(tuple(client_order_ids))
        watches = self._watches
        for coid in watch.keys:
            watches.setdefault(coid, []).append(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        watches = self._watches
        for coid in watch.keys:
            found = watches.get(coid)
            if found is not None:
                with contextlib.suppress(ValueError):
                    found.remove(watch)
                if not found:
                    del watches[coid]

    async def settle(self, watch: Watch, timeout: float, done: Callable[[], bool]) -> bool:
        """Wait until ``done()`` holds, re-checking after each event of a watched order."""
        if done():
            return True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not done():
            if self._closed:
                raise InvalidStateError("the client was closed")
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            wake = watch.wake = loop.create_future()
            try:
                await asyncio.wait_for(wake, remaining)
            except TimeoutError:
                return done()
            finally:
                watch.wake = None
        return True

    async def wait_for(self, request_id: int, timeout: float | None = None) -> ev.RequestResolved:
        """The outcome of request ``request_id`` whatever it is, but a timeout (raised)."""
        return await self.resolution(request_id, timeout, self.drops, lost=False)


def _refusal(
    cls: type[OrderRequestError],
    what: str,
    event: ev.CancelRejected | ev.ReplaceRejected | None,
    resolved: ev.RequestResolved,
    rec: OrderRecord | None,
    rid: int,
) -> OrderRequestError:
    """The error for a refused cancel or replace: not found / already ended, or ``cls``."""
    code = event.code if event is not None and event.code is not None else resolved.code
    reason = event.reason if event is not None else f"VENUE_ERROR_{code}"
    text = event.text if event is not None else resolved.message
    coid = rec.client_order_id if rec is not None else resolved.client_order_id
    voi = rec.venue_order_id if rec is not None else resolved.venue_order_id
    kwargs: dict[str, Any] = {
        "reason": reason,
        "text": text,
        "code": code,
        "client_order_id": coid,
        "venue_order_id": voi,
        "request_id": rid,
    }
    ended = rec is not None and rec.is_terminal
    if (
        code == 404
        or reason in ("ORDER_NOT_FOUND", "ORDER_ALREADY_ENDED", "ORIGINAL_ORDER_TERMINATED")
        or (ended and event is None)
    ):
        if event is None and ended and code is None:
            kwargs["reason"] = "ORDER_ALREADY_ENDED"
        status = rec.status.value if rec is not None and ended else None
        detail = f"order already ended ({status})" if status else "no such order"
        return OrderNotFoundError(f"{what}: {detail}: {text}", status=status, **kwargs)
    return cls(f"{what} refused: {reason}: {text}", **kwargs)
