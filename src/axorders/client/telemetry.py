"""The client's metrics: what each part counts, gathered in one :class:`~axorders.metrics.Metrics`.

:class:`Telemetry` owns the registry. Parts that already count (the session's stats, the
connection's reconnects, the hub's drops, the journal writer's failures, the REST tasks'
fallbacks, the recorder's drops) are read only when a snapshot is taken, so they pay nothing
per event. The few things nobody else counts are pushed by the hub's handlers (one attribute
increment per order event; not per fill: the position keeping counts those) and by the
journaled send (orders submitted, the time each request left, for the latency histograms).

Latency histograms (seconds): ``request_seconds`` labelled by ``kind`` (place, cancel,
replace: from the command to the venue's answer, ``RequestResolved``), ``resync_seconds``
(from the socket's opening to ``Resynced``) and ``journal_commit_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from axorders import events as ev
from axorders.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from axorders.metrics import (
    CONNECTED,
    DROPPED,
    FILLS,
    LAST_MESSAGE_AGE,
    OPEN_ORDERS,
    ORDERS_SUBMITTED,
    READER_QUEUE_DEPTH,
    RECONNECTS,
    REJECTS,
    REQUEST_SECONDS,
    REQUESTS_IN_FLIGHT,
    Metrics,
    MetricsSnapshot,
)
from axorders.session import OrdersSession

__all__ = ["Telemetry"]

_KINDS: Final[dict[type[Command], str]] = {
    PlaceOrder: "place",
    CancelOrder: "cancel",
    ReplaceOrder: "replace",
}
_MAX_TIMED: Final = 100_000
"""Requests whose send time is kept for the latency histogram (each leaves on its answer)."""


class Telemetry:
    """Counters, gauges and histograms of one client (see the module's docstring)."""

    def __init__(self, session: OrdersSession, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.metrics = metrics = Metrics()
        self._session = session
        self._submitted = metrics.counter(ORDERS_SUBMITTED, "place requests sent")
        self._accepted = metrics.counter("orders_accepted", "orders the venue accepted")
        self._rejected = metrics.counter(
            "orders_rejected", "orders rejected, by reason", label="reason"
        )
        self._rejects = metrics.counter(REJECTS, "requests the venue said no to")
        self._cancels = metrics.counter("cancels", "orders canceled")
        self._replaces = metrics.counter("replaces", "orders replaced")
        self._unknown = metrics.counter(
            "orders_status_unknown", "orders whose state an ambiguous answer left unknown"
        )
        self._denied = metrics.counter("orders_denied", "orders refused before the wire")
        self._mismatches = metrics.counter(
            "position_mismatches", "positions the venue's figure corrected"
        )
        self._requests = metrics.histogram(
            REQUEST_SECONDS, "from a request to the venue's answer", label="kind"
        )
        self._resync = metrics.histogram("resync_seconds", "from a socket's opening to Resynced")
        self.journal_commit = metrics.histogram(
            "journal_commit_seconds", "one journal commit"
        ).observe
        self._sent: dict[int, tuple[str, int]] = {}
        self._opened_at = 0
        stats = session.stats
        metrics.counter_fn("resyncs", "resyncs with the venue", lambda: stats().resyncs)
        metrics.counter_fn(
            "malformed_frames",
            "frames that could not be parsed",
            lambda: stats().malformed_messages,
        )
        metrics.counter_fn(
            "unknown_frames", "frames of an unknown kind", lambda: stats().unknown_messages
        )
        metrics.counter_fn(
            "duplicates_dropped", "venue events seen twice", lambda: stats().duplicates_dropped
        )
        metrics.counter_fn("timeouts", "requests with no answer in time", lambda: stats().timeouts)
        metrics.counter_fn(
            "corrections", "local verdicts the venue undid", lambda: stats().corrections
        )
        metrics.gauge_fn(OPEN_ORDERS, "orders live at the venue", lambda: stats().live_orders)
        metrics.gauge_fn(
            REQUESTS_IN_FLIGHT, "requests sent and not answered", lambda: stats().pending_requests
        )

    # What the other parts report (wired by the client).

    def watch_connection(
        self,
        connected: Callable[[], bool],
        reconnects: Callable[[], int],
        silence: Callable[[], float],
    ) -> None:
        metrics = self.metrics
        metrics.gauge_fn(CONNECTED, "1 while the orders socket is logged in", connected)
        metrics.counter_fn(RECONNECTS, "reconnects of the orders socket", reconnects)
        metrics.gauge_fn(LAST_MESSAGE_AGE, "seconds since the venue's last message", silence)

    def watch_drops(self, drops: dict[str, Callable[[], int]]) -> None:
        """Counts of things dropped, by what (events, recorder records...)."""

        def read() -> dict[str, int]:
            return {what: fn() for what, fn in drops.items()}

        self.metrics.counter_fn(DROPPED, "things dropped, by what", read, label="what")

    def watch(self, name: str, help: str, fn: Callable[[], int], *, gauge: bool = False) -> None:
        """Another part's own count (or, with ``gauge``, level), read at snapshot time."""
        if gauge:
            self.metrics.gauge_fn(name, help, fn)
        else:
            self.metrics.counter_fn(name, help, fn)

    def watch_fills(self, fills: Callable[[], int]) -> None:
        """The fills delivered, as the part that sees every one counts them (one count per
        fill, and no handler of this part's on the busiest path)."""
        self.metrics.counter_fn(FILLS, "fills delivered", fills)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self.metrics.gauge_fn(READER_QUEUE_DEPTH, "events waiting for the slowest reader", depth)

    # Pushed.

    def sent(self, command: Command, rid: int | None, now: int) -> None:
        """A command left through the journaled send: count it, time its answer."""
        if not self.enabled:
            return
        kind = _KINDS.get(type(command))
        if kind is None:
            return
        if kind == "place":
            self._submitted.value += 1
        if rid is not None and len(self._sent) < _MAX_TIMED:
            self._sent[rid] = (kind, now)

    def on_resolved(self, event: ev.RequestResolved) -> None:
        if not self.enabled:
            return
        sent = self._sent.pop(event.request_id, None)
        if sent is not None:
            kind, at = sent
            self._requests.observe(max(0, event.ts_init - at) / 1e9, kind)
        if event.outcome is ev.RequestOutcome.ERROR:
            self._rejects.value += 1

    def on_accepted(self, event: ev.OrderAccepted) -> None:
        self._accepted.value += 1

    def on_rejected(self, event: ev.OrderRejected) -> None:
        self._rejected.inc_label(event.reason)

    def on_canceled(self, event: ev.OrderCanceled) -> None:
        self._cancels.value += 1

    def on_replaced(self, event: ev.OrderReplaced) -> None:
        self._replaces.value += 1

    def on_denied(self, event: ev.Event) -> None:
        self._denied.value += 1

    def on_unknown(self, event: ev.Event) -> None:
        self._unknown.value += 1

    def on_mismatch(self, event: ev.Event) -> None:
        self._mismatches.value += 1

    def opened(self, now: int) -> None:
        self._opened_at = now

    def on_resynced(self, event: ev.Resynced) -> None:
        if self._opened_at:
            self._resync.observe(max(0, event.ts_init - self._opened_at) / 1e9)
            self._opened_at = 0

    def handlers(self) -> dict[type[ev.Event], Callable[[ev.Event], None]]:
        """The hub's handlers of the order events this part counts (none when disabled)."""
        if not self.enabled:
            return {}
        found: dict[type[ev.Event], Callable[..., None]] = {
            ev.OrderAccepted: self.on_accepted,
            ev.OrderRejected: self.on_rejected,
            ev.OrderCanceled: self.on_canceled,
            ev.OrderReplaced: self.on_replaced,
            ev.OrderDenied: self.on_denied,
            ev.OrderStatusUnknown: self.on_unknown,
            ev.PositionMismatch: self.on_mismatch,
        }
        return found

    def snapshot(self) -> MetricsSnapshot:
        return self.metrics.snapshot()
