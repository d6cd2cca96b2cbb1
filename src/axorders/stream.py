"""The client's events on their way to user code: ``on_event``, the awaitable methods waiting on
some orders, and one bounded queue per :meth:`~axorders.client.OrdersClient.events` reader.

Events are published in batches (all those of one socket read together): each batch is handed
to every reader with one ``extend`` and one wake-up. A reader ``max_queue`` events behind
pauses reading the socket until every reader is back at ``low_water``; nothing is dropped.
With no reader attached the newest ``max_queue`` events are kept for the next one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable

from axorders import events as ev
from axorders.clientbase import ClientBase, now_ns
from axorders.exceptions import InvalidStateError, RequestTimeoutError

__all__ = ["EventFanout", "EventStream"]

log = logging.getLogger("axorders.client")


class _Reader:
    """One events() reader: its own queue, and the future it waits on when that is empty."""

    __slots__ = ("queue", "waiter")

    def __init__(self) -> None:
        self.queue: collections.deque[ev.Event] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None


class _Wakeup:
    """Wakes every waiting reader and awaitable method (``close()`` calls :meth:`set`)."""

    __slots__ = ("_readers", "_watches")

    def __init__(self, readers: list[_Reader], watches: dict[str, list[_Watch]]) -> None:
        self._readers = readers
        self._watches = watches

    def set(self) -> None:
        for reader in tuple(self._readers):
            waiter = reader.waiter
            if waiter is not None:
                reader.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        for found in list(self._watches.values()):
            for watch in tuple(found):
                if watch.wake is not None and not watch.wake.done():
                    watch.wake.set_result(None)


class _Watch:
    """The events of some orders, collected for an awaitable method waiting on them."""

    __slots__ = ("events", "keys", "wake")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.events: list[ev.Event] = []
        self.wake: asyncio.Future[None] | None = None


class EventStream:
    """An async iterator over a client's events (see :meth:`OrdersClient.events`).

    It attaches to the client at its first ``__anext__`` and detaches when exhausted, on
    :meth:`aclose`/:meth:`close`, or when it is dropped.
    """

    __slots__ = ("__weakref__", "_client", "_ended", "_reader")

    def __init__(self, client: EventFanout) -> None:
        self._client = client
        self._reader: _Reader | None = None
        self._ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ev.Event:
        reader = self._reader
        client = self._client
        if reader is None:
            if self._ended:
                raise StopAsyncIteration
            reader = self._reader = client._attach()
        queue = reader.queue
        while not queue:
            if client._pending:
                client._flush()
                queue = reader.queue
                continue
            if client._closed:
                self.close()
                raise StopAsyncIteration
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            reader.waiter = waiter
            try:
                await waiter
            finally:
                reader.waiter = None
        event = queue.popleft()
        if client._paused and len(queue) <= client.low_water:
            client._maybe_resume()
        return event

    def close(self) -> None:
        """Detach from the client; the iterator ends."""
        self._ended = True
        reader = self._reader
        if reader is not None:
            self._reader = None
            self._client._detach(reader)

    async def aclose(self) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class EventFanout(ClientBase):
    """Publishing events: the client's handlers, ``on_event``, watches, and the readers."""

    def _init_stream(
        self,
        max_queue: int,
        low_water: int | None,
        event_queue: bool,
        on_event: Callable[[ev.Event], None] | None,
    ) -> None:
        self.max_queue = max_queue
        self.low_water = low_water if low_water is not None else max_queue // 2
        self._on_event = on_event
        self._event_queue = event_queue
        # One queue per events() reader (fan-out); while nobody reads, a bounded backlog
        # that the next reader takes over. close() sets _queue_ready: every reader wakes.
        self._readers = []
        self._backlog = collections.deque()
        self._watches = {}
        self._pending = []  # published, not yet handed to the readers
        self._flush_soon = False
        self._queue_ready = _Wakeup(self._readers, self._watches)
        self._dropped = 0
        self._drop_logged = False
        self._paused = False
        self._paused_at = 0

    def events(self) -> EventStream:
        """An iterator over every event, in order, until the client is closed.

        Every iterator gets every event published while it is attached (fan-out); the first
        one attached also gets the events kept while nobody was reading (at most
        ``max_queue``, the newest). Reading is paused only while an attached reader is
        ``max_queue`` events behind, so a program that never calls this never stalls. An
        iterator detaches when it is closed (``aclose()``), exhausted, or dropped (e.g. after
        ``break``); what it left unread goes back to the backlog when it was the only one.
        """
        return EventStream(self)

    stream = events

    async def next_event(
        self, predicate: Callable[[ev.Event], bool] | None = None, timeout: float | None = None
    ) -> ev.Event:
        """The next event (matching ``predicate``), waiting up to ``timeout`` seconds.

        Events before the match are consumed, as with an :meth:`events` iterator.

        Raises:
            RequestTimeoutError: nothing matched within ``timeout``.
            InvalidStateError: the client was closed first.
        """
        stream = self.events()
        try:
            async with asyncio.timeout(timeout):
                async for event in stream:
                    if predicate is None or predicate(event):
                        return event
        except TimeoutError:
            raise RequestTimeoutError(f"no matching event within {timeout} s") from None
        finally:
            stream.close()
        raise InvalidStateError("the client was closed")

    @property
    def events_dropped(self) -> int:
        """Events dropped from the backlog while no :meth:`events` reader was attached."""
        self._flush()
        return self._dropped

    def _publish(self, events: list[ev.Event]) -> None:
        special = self._special
        callback = self._on_event
        get = special.get
        if callback is None:
            for event in events:
                handler = get(type(event))
                if handler is not None:
                    handler(event)
        else:
            for event in events:
                handler = get(type(event))
                if handler is not None:
                    handler(event)
                try:
                    callback(event)
                except Exception:
                    log.exception("on_event callback failed")
        if self._watches:
            self._notify_watches(events)
        if self._event_queue:
            # The readers get the events of a whole socket read at once, in _flush.
            self._pending.extend(events)
            if not self._flush_soon:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # called outside the loop: hand them over now
                    self._flush()
                    return
                self._flush_soon = True
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Hand the events published since the last flush to the readers (or the backlog):
        once per batch, with one wake-up per reader and one check of the bound."""
        self._flush_soon = False
        events = self._pending
        if not events:
            return
        self._pending = []
        readers = self._readers
        if not readers:
            self._keep(events)
            return
        bound = self.max_queue
        for reader in tuple(readers):  # a dropped iterator may detach meanwhile
            queue = reader.queue
            queue.extend(events)
            waiter = reader.waiter
            if waiter is not None:
                reader.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            if len(queue) >= bound and not self._paused:
                self._pause(True)

    def _keep(self, events: list[ev.Event]) -> None:
        """Nobody reads events(): keep the newest ``max_queue`` for the next reader, never
        pause the socket for them, and count (and log once) what falls out."""
        backlog = self._backlog
        backlog.extend(events)
        over = len(backlog) - self.max_queue
        if over > 0:
            self._dropped += over
            popleft = backlog.popleft
            for _ in range(over):
                popleft()
            if not self._drop_logged:
                self._drop_logged = True
                log.warning(
                    "nobody reads events(): only the newest %d events are kept for a later"
                    " reader (see OrdersClient.events_dropped)",
                    self.max_queue,
                )

    def _notify_watches(self, events: list[ev.Event]) -> None:
        """Hand the events of watched orders to the awaitable methods waiting on them."""
        watches = self._watches
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

    def _pause(self, pause: bool) -> None:
        transport = self._transport
        self._paused = pause
        if pause:
            self._paused_at = now_ns()
        else:
            # Answers may have waited unread while paused: that time is not the venue's.
            self.session.extend_deadlines(now_ns() - self._paused_at)
        if transport is None:
            return
        underlying = transport.underlying_transport
        if pause:
            underlying.pause_reading()
        else:
            # The silence while paused was ours: the watchdog's window starts again.
            self._last_rx = time.monotonic()
            underlying.resume_reading()

    def _maybe_resume(self) -> None:
        """Resume reading once every attached reader is at or below ``low_water``."""
        if not self._paused:
            return
        low = self.low_water
        for reader in self._readers:
            if len(reader.queue) > low:
                return
        self._pause(False)

    def _attach(self) -> _Reader:
        """A new events() reader: the first one takes over the backlog."""
        self._flush()
        reader = _Reader()
        if not self._readers:
            reader.queue, self._backlog = self._backlog, collections.deque()
        self._readers.append(reader)
        return reader

    def _detach(self, reader: _Reader) -> None:
        """A reader stopped: with nobody else reading, what it did not read is kept."""
        self._flush()
        try:
            self._readers.remove(reader)
        except ValueError:
            return
        if not self._readers and reader.queue:
            self._backlog = reader.queue
            self._keep([])
        reader.queue = collections.deque()
        self._maybe_resume()
