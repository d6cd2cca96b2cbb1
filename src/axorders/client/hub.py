"""The event hub: every event on its way to user code, and the backpressure on the socket.

:class:`EventHub` owns the readers of :meth:`~axorders.client.OrdersClient.events` (one bounded
queue each), the backlog kept while nobody reads, and the pause of the socket. Events are
published in batches (all those of one socket read together): each batch goes first to the
client's own handlers, then to ``on_event``, then to the watches of the awaitable methods, and
is handed to every reader with one ``extend`` and one wake-up.

The policy, all of it here:

* a reader ``max_queue`` events behind pauses reading the socket until every reader is back at
  ``low_water``; nothing is dropped;
* with no reader attached, the newest ``max_queue`` events are kept for the next reader and
  the socket is never paused; older ones are counted in :attr:`EventHub.dropped`;
* the first reader to attach takes the backlog over; a reader that detaches while it is the
  only one leaves what it did not read to the backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from axorders import events as ev

__all__ = ["EventHub", "EventStream"]

log = logging.getLogger("axorders.client")


class _Reader:
    """One events() reader: its own queue, and the future it waits on when that is empty."""

    __slots__ = ("queue", "waiter")

    def __init__(self) -> None:
        self.queue: collections.deque[ev.Event] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None


class EventHub:
    """Publishing events and the readers' queues (see the module's docstring).

    Args:
        max_queue: the bound of each reader's queue and of the backlog.
        low_water: reading resumes once every reader is at or below it (default: half).
        event_queue: False when nobody will call :meth:`events` (only ``on_event``).
        on_event: user code's callback, called with every event in order.
        handlers: the client's own handlers, by event type, called before anyone else.
        observe: called with each batch after ``on_event`` (the waiters' watches).
        pause: called with True when a reader falls ``max_queue`` behind, False once every
            reader has caught up (the connection stops and resumes reading).
    """

    def __init__(
        self,
        *,
        max_queue: int,
        low_water: int | None = None,
        event_queue: bool = True,
        on_event: Callable[[ev.Event], None] | None = None,
        handlers: Mapping[type[ev.Event], Callable[[Any], None]] | None = None,
        observe: Callable[[list[ev.Event]], None] | None = None,
        pause: Callable[[bool], None] | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.max_queue = max_queue
        self.low_water = low_water if low_water is not None else max_queue // 2
        self._on_event = on_event
        self._event_queue = event_queue
        self._handlers: dict[type[ev.Event], Callable[[Any], None]] = dict(handlers or {})
        self._observe = observe
        self._pause_reading = pause
        self._readers: list[_Reader] = []
        self._backlog: collections.deque[ev.Event] = collections.deque()
        self._pending: list[ev.Event] = []  # published, not yet handed to the readers
        self._flush_soon = False
        self._dropped = 0
        self._drop_logged = False
        self.paused = False
        self.closed = False

    def add_handlers(self, handlers: Mapping[type[ev.Event], Callable[[Any], None]]) -> None:
        """More of the client's own handlers (a part built after the hub); a type that
        already has one gets both, the earlier first."""
        self._handlers = merge_handlers(self._handlers, handlers)

    # What the client and the metrics read.

    @property
    def dropped(self) -> int:
        """Events dropped from the backlog while no reader was attached."""
        self.flush()
        return self._dropped

    @property
    def dropped_count(self) -> int:
        """:attr:`dropped` without handing pending events over first."""
        return self._dropped

    @property
    def reader_count(self) -> int:
        return len(self._readers)

    @property
    def depth(self) -> int:
        """Events waiting for the slowest reader (or in the backlog when none is attached)."""
        pending = len(self._pending)
        if not self._readers:
            return len(self._backlog) + pending
        return max(len(r.queue) for r in self._readers) + pending

    def backlog(self) -> list[ev.Event]:
        """The events kept for the next reader (a copy, for inspection)."""
        self.flush()
        return list(self._backlog)

    # Publishing.

    def publish(self, events: list[ev.Event]) -> None:
        """Hand a batch to the handlers, ``on_event`` and the watches now, and to the readers
        at the end of this loop turn (or at once with no loop running)."""
        get = self._handlers.get
        callback = self._on_event
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
        if self._observe is not None:
            self._observe(events)
        if self._event_queue:
            self._pending.extend(events)
            if not self._flush_soon:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # called outside the loop: hand them over now
                    self.flush()
                    return
                self._flush_soon = True
                loop.call_soon(self.flush)

    def hold(self) -> None:
        """A socket read's batch is under way: what it publishes waits for :meth:`flush_now`
        (no hand-over is scheduled for a later loop turn)."""
        self._flush_soon = True

    def flush_now(self) -> None:
        """The end of a socket read: the readers get this batch now, not in a later turn."""
        self._flush_soon = True
        try:
            self.flush()
        except Exception:
            self._flush_soon = False
            log.exception("event hand-over failed")

    def flush(self) -> None:
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
            if len(queue) >= bound and not self.paused:
                self._set_paused(True)

    def _keep(self, events: list[ev.Event]) -> None:
        """Nobody reads: keep the newest ``max_queue`` for the next reader, never pause the
        socket for them, and count (and log once) what falls out."""
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

    # Backpressure.

    def _set_paused(self, pause: bool) -> None:
        self.paused = pause
        if self._pause_reading is not None:
            self._pause_reading(pause)

    def maybe_resume(self) -> None:
        """Resume reading once every attached reader is at or below ``low_water``."""
        if not self.paused:
            return
        low = self.low_water
        for reader in self._readers:
            if len(reader.queue) > low:
                return
        self._set_paused(False)

    def connection_gone(self) -> None:
        """The socket closed: a paused read has nothing left to pause."""
        self.paused = False

    # Readers.

    def events(self) -> EventStream:
        return EventStream(self)

    def attach(self) -> _Reader:
        """A new reader: the first one takes the backlog over (the very events, not a copy:
        what it reads is gone for every later reader)."""
        self.flush()
        reader = _Reader()
        if not self._readers:
            reader.queue, self._backlog = self._backlog, collections.deque()
        self._readers.append(reader)
        return reader

    def detach(self, reader: _Reader) -> None:
        """A reader stopped: with nobody else reading, what it did not read is kept."""
        self.flush()
        try:
            self._readers.remove(reader)
        except ValueError:
            return
        if not self._readers and reader.queue:
            self._backlog = reader.queue
            self._keep([])
        reader.queue = collections.deque()
        self.maybe_resume()

    def close(self) -> None:
        """The client closed: every reader wakes and ends after what it has queued."""
        self.closed = True
        for reader in tuple(self._readers):
            waiter = reader.waiter
            if waiter is not None:
                reader.waiter = None
                if not waiter.done():
                    waiter.set_result(None)


class EventStream:
    """An async iterator over a client's events (see :meth:`OrdersClient.events`).

    It attaches to the hub at its first ``__anext__`` and detaches when exhausted, on
    :meth:`aclose`/:meth:`close`, or when it is dropped.
    """

    __slots__ = ("__weakref__", "_ended", "_hub", "_reader")

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._reader: _Reader | None = None
        self._ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ev.Event:
        reader = self._reader
        hub = self._hub
        if reader is None:
            if self._ended:
                raise StopAsyncIteration
            reader = self._reader = hub.attach()
        queue = reader.queue
        while not queue:
            if hub._pending:
                hub.flush()
                queue = reader.queue
                continue
            if hub.closed:
                self.close()
                raise StopAsyncIteration
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            reader.waiter = waiter
            try:
                await waiter
            finally:
                reader.waiter = None
        event = queue.popleft()
        if hub.paused and len(queue) <= hub.low_water:
            hub.maybe_resume()
        return event

    def close(self) -> None:
        """Detach from the client; the iterator ends."""
        self._ended = True
        reader = self._reader
        if reader is not None:
            self._reader = None
            self._hub.detach(reader)

    async def aclose(self) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def merge_handlers(
    *tables: Mapping[type[ev.Event], Callable[[Any], None]],
) -> dict[type[ev.Event], Callable[[Any], None]]:
    """One table of handlers from several parts' tables: where two name the same event type,
    both are called, in the order the tables are given."""
    merged: dict[type[ev.Event], Callable[[Any], None]] = {}
    for table in tables:
        for kind, handler in table.items():
            first = merged.get(kind)
            merged[kind] = handler if first is None else _both(first, handler)
    return merged


def _both(first: Callable[[Any], None], second: Callable[[Any], None]) -> Callable[[Any], None]:
    def both(event: Any) -> None:
        first(event)
        second(event)

    return both
