"""Requests to the venue: their ids, deadlines, cancel retries and frames held back.

Every request gets the next id (1 .. 2^31 - 1, then 1 again; the venue's login is rid 0) and a
deadline. The book correlates a reply with its request by id, tells when the next deadline is
due, re-schedules a cancel the venue answered 409, holds the frames of cancels and replaces
waiting for their order's venue id, and knows which replaces of an order are in flight.
Outcomes (``RequestResolved``) are the session's to emit; the book only forgets.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from axorders import events as ev
from axorders.session.values import CANCEL_RETRY_NS, MAX_REQUEST_ID

__all__ = ["Deferred", "Request", "RequestBook"]


class Request:
    """One request sent (or waiting to be sent) to the venue."""

    __slots__ = (
        "cid",
        "client_order_id",
        "deadline",
        "frame",
        "internal",
        "interrupted",
        "kind",
        "quantity",
        "refused",
        "retries",
        "retry_at",
        "rid",
        "symbol",
        "venue_order_id",
    )

    def __init__(
        self,
        rid: int,
        kind: ev.RequestKind,
        deadline: int,
        client_order_id: str | None = None,
        *,
        internal: bool = False,
    ) -> None:
        self.rid = rid
        self.kind = kind
        self.deadline = deadline
        self.client_order_id = client_order_id
        self.internal = internal  # the session's own query: no RequestResolved
        self.interrupted = False  # in flight when the connection dropped
        self.frame: bytes | None = None  # set while the frame waits for a venue order id
        self.refused: tuple[str, ...] = ()  # REPLACE: new venue ids already rejected (`j`)
        self.retries = 0
        self.retry_at = 0
        self.venue_order_id: str | None = None  # the id the request was about
        # PLACE: None; CANCEL/REPLACE: the order's id when sent; STATUS: the queried id
        self.cid: int | None = None  # STATUS by cid: the queried cid
        self.symbol: str | None = None  # CANCEL_ALL: its symbol
        self.quantity = 0  # REPLACE: the order's whole quantity it asks for


class Deferred:
    """A cancel or replace waiting for its order's venue id."""

    __slots__ = ("build", "request")

    def __init__(self, request: Request, build: Callable[[str], bytes]) -> None:
        self.request = request
        self.build = build


class RequestBook:
    """Pending requests by id, their deadlines (a heap), retries and deferred frames.

    Args:
        timeout_ns: how long a request may wait for its answer.
    """

    __slots__ = (
        "deadlines",
        "deferred",
        "next_rid",
        "pending",
        "replace_rids",
        "retries",
        "timeout_ns",
    )

    def __init__(self, timeout_ns: int) -> None:
        self.timeout_ns = timeout_ns
        self.next_rid = 1
        # Never replaced, so a part of the session may keep a reference for its hot path.
        self.pending: dict[int, Request] = {}
        self.deadlines: list[tuple[int, int]] = []  # heap of (time, rid); stale entries skipped
        self.deferred: dict[str, list[Deferred]] = {}  # client order id -> waiting frames
        self.retries: dict[int, Request] = {}  # cancels answered 409, to send again
        self.replace_rids: dict[str, list[int]] = {}  # client order id -> replace requests

    def new(
        self,
        kind: ev.RequestKind,
        now: int,
        client_order_id: str | None = None,
        *,
        internal: bool = False,
    ) -> Request:
        """A new pending request with the next id and a deadline."""
        rid = self.next_rid
        self.next_rid = rid + 1 if rid < MAX_REQUEST_ID else 1
        req = Request(rid, kind, now + self.timeout_ns, client_order_id, internal=internal)
        self.pending[rid] = req
        heapq.heappush(self.deadlines, (req.deadline, rid))
        return req

    def discard(self, req: Request) -> None:
        """``req`` is answered or given up: it is no longer pending."""
        self.pending.pop(req.rid, None)
        if self.retries:
            self.retries.pop(req.rid, None)

    def since(self, first_rid: int) -> list[Request]:
        """The pending requests made since ``first_rid`` was the next id, oldest first."""
        found = []
        rid = first_rid
        while rid != self.next_rid:
            req = self.pending.get(rid)
            if req is not None:
                found.append(req)
            rid = rid + 1 if rid < MAX_REQUEST_ID else 1
        return found

    # Time.

    def renew(self, req: Request, now: int) -> None:
        """Give ``req`` a fresh deadline from ``now``."""
        req.deadline = now + self.timeout_ns
        heapq.heappush(self.deadlines, (req.deadline, req.rid))

    def next_deadline(self) -> int | None:
        """The earliest time something is due, or None."""
        heap = self.deadlines
        pending = self.pending
        while heap and heap[0][1] not in pending:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: int) -> Request | None:
        """The next request due at ``now``: past its deadline (then ``deadline <= now``; its
        retry is dropped) or due for a cancel retry (taken off the retries). None when nothing
        more is due."""
        heap = self.deadlines
        while heap and heap[0][0] <= now:
            _, rid = heapq.heappop(heap)
            req = self.pending.get(rid)
            if req is None:
                continue
            if req.deadline <= now:
                self.retries.pop(rid, None)
                return req
            if req.retry_at and req.retry_at <= now:
                req.retry_at = 0
                del self.retries[rid]
                return req
        return None

    def extend(self, delta_ns: int) -> None:
        """Move every pending request's deadline (and retry) ``delta_ns`` later."""
        if delta_ns <= 0:
            return
        heap: list[tuple[int, int]] = []
        for rid, req in self.pending.items():
            req.deadline += delta_ns
            heap.append((req.deadline, rid))
            if req.retry_at:
                heap.append((req.retry_at, rid))
        heapq.heapify(heap)
        self.deadlines = heap

    # Cancels answered 409 (the order not acknowledged yet).

    def retry_later(self, req: Request, now: int) -> None:
        """Send this cancel again shortly (or on the order's ack, see :meth:`take_retries`)."""
        req.retries += 1
        req.retry_at = now + CANCEL_RETRY_NS
        self.retries[req.rid] = req
        heapq.heappush(self.deadlines, (req.retry_at, req.rid))

    def take_retries(self, client_order_id: str) -> list[Request]:
        """The cancels of this order waiting for a retry; their delayed retry is void."""
        found = [r for r in self.retries.values() if r.client_order_id == client_order_id]
        for req in found:
            del self.retries[req.rid]
            req.retry_at = 0
        return found

    # Frames waiting for a venue order id.

    def defer(self, client_order_id: str, req: Request, build: Callable[[str], bytes]) -> None:
        req.frame = b""
        self.deferred.setdefault(client_order_id, []).append(Deferred(req, build))

    def take_deferred(self, client_order_id: str) -> list[Deferred]:
        return self.deferred.pop(client_order_id, []) if self.deferred else []

    def drop_deferred(self, req: Request, *, everywhere: bool = False) -> None:
        """``req``'s frame will never be sent (looked for under its order, or ``everywhere``)."""
        if everywhere:
            for items in self.deferred.values():
                items[:] = [d for d in items if d.request is not req]
        elif req.client_order_id is not None:
            waiting = self.deferred.get(req.client_order_id)
            if waiting:
                waiting[:] = [d for d in waiting if d.request is not req]

    # Replaces in flight.

    def note_replace(self, client_order_id: str, rid: int) -> None:
        rids = self.replace_rids.setdefault(client_order_id, [])
        if rids:
            rids[:] = [r for r in rids if r in self.pending]  # answered ones go
        rids.append(rid)

    def replacing(self, client_order_id: str) -> bool:
        """True while a replace of this order waits for its answer."""
        rids = self.replace_rids.get(client_order_id)
        if not rids:
            return False
        pending = self.pending
        rids[:] = [rid for rid in rids if rid in pending]
        return bool(rids)

    def replaces_of(self, client_order_id: str) -> list[Request]:
        """The pending replaces of this order."""
        pending = self.pending
        found = []
        for rid in self.replace_rids.get(client_order_id, ()):
            req = pending.get(rid)
            if req is not None and req.kind is ev.RequestKind.REPLACE:
                found.append(req)
        return found
