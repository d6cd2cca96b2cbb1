"""The state each behaviour part of the session owns, one small object per part.

The behaviour parts (``resync.py``, ``recovery.py``, ...) are methods of the one session class;
their state lives here, in objects the session holds one attribute each, so that
:class:`~axorders.session.base.SessionBase` names one object per part instead of declaring
every part's fields. This module imports no other part of the session but the request book
(which imports none of them), so every part can import it without a cycle.

* :class:`ResyncState`: one reconciliation with the venue (``Resync``'s, per resync).
* :class:`ResyncTracker`: the resync in flight and the requests interrupted by the last drop
  (``session.resync``).
* :class:`StatusPacer`: the session's own status queries in flight and waiting
  (``session.pacer``).
* :class:`FillRecovery`: fills known to be missing and the ends that wait for them
  (``session.recovery``).
* :class:`RestFallbacks`: the request kinds done over REST and the queries waiting for it
  (``session.fallbacks``).
* :class:`UnknownWatch`: the UNKNOWN orders to ask the venue about again once their grace
  period has passed (``session.unknowns``).
* :class:`SessionCounters`: the counters :meth:`OrdersSession.stats` reports
  (``session.counters``).
"""

from __future__ import annotations

import heapq
from collections import deque

from axorders.model import OrderStatus
from axorders.session.requests import Request
from axorders.session.values import RestCancelAll, RestStatusQuery

__all__ = [
    "FillRecovery",
    "RestFallbacks",
    "ResyncState",
    "ResyncTracker",
    "SessionCounters",
    "StatusPacer",
    "UnknownWatch",
]


class ResyncState:
    """Bookkeeping of one reconciliation with the venue."""

    __slots__ = (
        "again",
        "changed",
        "checked",
        "external",
        "fills",
        "interrupted",
        "open_rid",
        "queries",
        "resolved",
    )

    def __init__(self, interrupted: list[Request]) -> None:
        self.interrupted = interrupted
        self.queries: set[int] = set()
        self.open_rid = 0  # its open-orders query, while unanswered
        self.again = False  # a trigger came after that answer: compare once more at the end
        self.checked = 0
        self.changed = 0
        self.external = 0
        self.fills = 0
        self.resolved = 0


class ResyncTracker:
    """The one resync in flight (``current``, None between resyncs) and the requests that
    were in flight when the connection last dropped (``interrupted``, judged by the next
    resync)."""

    __slots__ = ("current", "interrupted")

    def __init__(self) -> None:
        self.current: ResyncState | None = None
        self.interrupted: list[Request] = []


class StatusPacer:
    """The session's own status queries: one per order at a time, at most the session's
    ``max_status_queries`` in flight (``inflight``: client order id -> rid); the others wait
    in ``queue`` (client order id, by venue id), each order once (``queued``)."""

    __slots__ = ("inflight", "queue", "queued")

    def __init__(self) -> None:
        self.inflight: dict[str, int] = {}
        self.queue: deque[tuple[str, bool]] = deque()
        self.queued: set[str] = set()

    def clear(self) -> None:
        """Forget every query (the connection is gone: the next login asks again)."""
        self.inflight.clear()
        self.queue.clear()
        self.queued.clear()


class FillRecovery:
    """Fills known to be missing (``wanted``: client order id -> the venue's cumulative
    filled quantity) and the ends that wait for them (``held_ends``: client order id ->
    target state, reason, text, venue time). The dicts are never replaced."""

    __slots__ = ("held_ends", "wanted")

    def __init__(self) -> None:
        self.wanted: dict[str, int] = {}
        self.held_ends: dict[str, tuple[OrderStatus, str | None, str | None, int]] = {}

    def forget(self, client_order_id: str) -> None:
        """The order ended: nothing is waited for it any more."""
        if self.wanted:
            self.wanted.pop(client_order_id, None)
        if self.held_ends:
            self.held_ends.pop(client_order_id, None)


class RestFallbacks:
    """Request kinds the venue does not know over the WebSocket, done over REST instead.

    ``status`` / ``cancel_all``: that kind goes over REST from now on; ``status_wanted`` /
    ``cancel_all_wanted``: the requests waiting to be made there, by request id;
    ``via_rest``: an answer fed from REST is being handled (its errors are final)."""

    __slots__ = ("cancel_all", "cancel_all_wanted", "status", "status_wanted", "via_rest")

    def __init__(self) -> None:
        self.status = False
        self.cancel_all = False
        self.status_wanted: dict[int, RestStatusQuery] = {}
        self.cancel_all_wanted: dict[int, RestCancelAll] = {}
        self.via_rest = False


class UnknownWatch:
    """Orders in the UNKNOWN state the venue said it does not hold before their grace period
    ended: each is asked about again at its time (``due``: client order id -> time; a heap of
    (time, client order id) with stale entries skipped)."""

    __slots__ = ("due", "heap")

    def __init__(self) -> None:
        self.due: dict[str, int] = {}
        self.heap: list[tuple[int, str]] = []

    def watch(self, client_order_id: str, at: int) -> None:
        """Ask about this order again at ``at`` (the earlier time wins)."""
        known = self.due.get(client_order_id)
        if known is not None and known <= at:
            return
        self.due[client_order_id] = at
        heapq.heappush(self.heap, (at, client_order_id))

    def next_due(self) -> int | None:
        heap, due = self.heap, self.due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: int) -> list[str]:
        """The orders due at ``now``, taken off the watch."""
        found = []
        heap, due = self.heap, self.due
        while heap and heap[0][0] <= now:
            at, coid = heapq.heappop(heap)
            if due.get(coid) == at:
                del due[coid]
                found.append(coid)
        return found

    def forget(self, client_order_id: str) -> None:
        self.due.pop(client_order_id, None)


class SessionCounters:
    """What :meth:`OrdersSession.stats` counts."""

    __slots__ = (
        "corrections",
        "duplicates",
        "events_out",
        "externals_dropped",
        "frames_in",
        "frames_out",
        "inconsistent",
        "malformed",
        "resyncs",
        "timeouts",
        "unknown",
    )

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.events_out = 0
        self.unknown = 0
        self.malformed = 0
        self.duplicates = 0
        self.timeouts = 0
        self.resyncs = 0
        self.corrections = 0
        self.inconsistent = 0
        self.externals_dropped = 0
