"""The :class:`OrdersSession` facade: it builds the parts, owns the output queues and the
connection's lifecycle, the journal's marks and the clock's ticks, and delegates the rest."""

from __future__ import annotations

from collections.abc import Iterable

from axorders import events as ev
from axorders.model import Instrument
from axorders.session.base import order_meta
from axorders.session.commands import Commands
from axorders.session.handlers import EventHandlers
from axorders.session.parts import (
    FillRecovery,
    RestFallbacks,
    ResyncTracker,
    SessionCounters,
    StatusPacer,
    UnknownWatch,
)
from axorders.session.recovery import Recovery
from axorders.session.registry import OrderRegistry
from axorders.session.replies import ReplyHandlers
from axorders.session.requests import Request, RequestBook
from axorders.session.resync import Resync
from axorders.session.tracking import OrderTracking
from axorders.session.values import NS, K, Outcome, S, SessionStats
from axorders.state import OrderRecord
from axorders.wire import orders as w

__all__ = ["OrdersSession"]

_K = K
_S = S


class OrdersSession(Commands, EventHandlers, ReplyHandlers, OrderTracking, Resync, Recovery):
    """Order state and protocol logic for one AX account, without I/O.

    Args:
        account_id: stamped on every order event (the venue's account id).
        trader_id: stamped on every order event.
        strategy_id: default strategy id for orders that do not name one.
        instruments: the instrument cache to start with.
        request_timeout_ns: how long a request may wait for its answer.
        recent_capacity: how many ended orders are remembered to catch late and duplicate
            events (oldest forgotten first).
        track_changes: collect changed records for :meth:`take_changed` (the journal).
        max_status_queries: how many of the session's own status queries may be in flight at
            once; the others wait in a queue (one entry per order) and go out as answers come.
        max_external_orders: how many live orders found on the venue (unknown or external) are
            tracked; beyond it they are counted (``SessionStats.externals_dropped``) and left.

    STOP_LIMIT orders are held armed (:meth:`armed_stops`); a trigger strategy on market data
    (:class:`axorders.client.stops.StopTriggers`) sends them with :meth:`trigger_stop`.
    """

    def __init__(
        self,
        *,
        account_id: str,
        trader_id: str,
        strategy_id: str = "DEFAULT",
        instruments: Iterable[Instrument] = (),
        request_timeout_ns: int = 10 * NS,
        recent_capacity: int = 10_000,
        track_changes: bool = False,
        max_status_queries: int = 16,
        max_external_orders: int = 10_000,
    ) -> None:
        if request_timeout_ns <= 0:
            raise ValueError("request_timeout_ns must be positive")
        if recent_capacity < 1:
            raise ValueError("recent_capacity must be at least 1")
        self.account_id = account_id
        self.trader_id = trader_id
        self.strategy_id = strategy_id
        self.request_timeout_ns = request_timeout_ns
        self.recent_capacity = recent_capacity
        self.max_status_queries = max(1, max_status_queries)
        self.max_external_orders = max(0, max_external_orders)
        self._instruments = {i.symbol: i for i in instruments}
        # The parts that own their state, and references into them for the hot path.
        registry = self.registry = OrderRegistry(recent_capacity)
        requests = self.requests = RequestBook(request_timeout_ns)
        self._orders = registry.orders
        self._by_oid = registry.by_oid
        self._by_cid = registry.by_cid
        self._base = registry.base
        self._verdicts = registry.verdicts
        self._find = registry.find
        self._get = registry.get
        self._pending = requests.pending
        # Output.
        self._out: list[bytes] = []
        self._events: list[ev.Event] = []
        self._track_changes = track_changes
        self._changed: dict[str, OrderRecord] = {}
        self._connected = False
        self._logged_in = False
        # The state of the behaviour parts, one object each (see parts.py).
        self.resync = ResyncTracker()
        self.pacer = StatusPacer()
        self.recovery = FillRecovery()
        self.fallbacks = RestFallbacks()
        self.unknowns = UnknownWatch()
        self.counters = SessionCounters()
        self._init_handlers()

    # -----------------------------------------------------------------------------------------
    # Instruments and inspection.

    def cache_instrument(self, instrument: Instrument) -> None:
        """Add or replace an instrument in the cache."""
        self._instruments[instrument.symbol] = instrument

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def is_resyncing(self) -> bool:
        return self.resync.current is not None

    def order(self, client_order_id: str) -> OrderRecord | None:
        """The record of a live or recently ended order."""
        return self.registry.get(client_order_id)

    def order_by_venue_id(self, venue_order_id: str) -> OrderRecord | None:
        return self._find(venue_order_id, None)

    def orders(self, *, include_ended: bool = False) -> list[OrderRecord]:
        """Live orders (and the remembered ended ones with ``include_ended``)."""
        found = list(self._orders.values())
        if include_ended:
            found.extend(self.registry.recent.values())
        return found

    def pending_request_ids(self) -> list[int]:
        return list(self._pending)

    def stats(self) -> SessionStats:
        return SessionStats(
            frames_in=self.counters.frames_in,
            frames_out=self.counters.frames_out,
            events_out=self.counters.events_out,
            live_orders=len(self._orders),
            armed_orders=self.registry.armed_count(),
            recent_orders=len(self.registry.recent),
            pending_requests=len(self._pending),
            unknown_messages=self.counters.unknown,
            malformed_messages=self.counters.malformed,
            duplicates_dropped=self.counters.duplicates,
            timeouts=self.counters.timeouts,
            resyncs=self.counters.resyncs,
            corrections=self.counters.corrections,
            inconsistent=self.counters.inconsistent,
            status_queued=len(self.pacer.queue),
            external_orders=len(self.registry.externals),
            externals_dropped=self.counters.externals_dropped,
        )

    # -----------------------------------------------------------------------------------------
    # Output queues.

    def frames_to_send(self) -> list[bytes]:
        """Frames to write to the socket, in order; the queue is emptied."""
        out = self._out
        if out:
            self._out = []
            self.counters.frames_out += len(out)
        return out

    def events_received(self) -> list[ev.Event]:
        """Events produced since the last call, in order; the queue is emptied."""
        out = self._events
        if out:
            self._events = []
            self.counters.events_out += len(out)
        return out

    def take_changed(self) -> list[OrderRecord]:
        """Records changed since the last call (only with ``track_changes``)."""
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    # -----------------------------------------------------------------------------------------
    # Connection lifecycle.

    def connection_made(self, now: int) -> None:
        """A socket is open; the venue's rid-0 login response comes next."""
        self._connected = True
        self._logged_in = False

    def connection_lost(self, now: int, reason: str = "connection lost") -> None:
        """The socket is gone. A place or cancel in flight is judged now: carried out when its
        effect is already known, else ambiguous (UNKNOWN; see :mod:`axorders.session.verdicts`);
        other requests in flight (a replace among them) wait for the resync (or their
        deadline)."""
        if not self._connected:
            return
        # A replace in flight waits for the resync instead: the quantity it asked for tells
        # how the venue's copy of a replacement counts its fills (OrderTracking._new_base);
        # the resync resolves it OK when the order moved to a new venue id, else UNKNOWN.
        self._connected = False
        self._logged_in = False
        self._out.clear()
        in_flight = [r for r in self._pending.values() if r.frame is None and not r.internal]
        for req in self._pending.values():
            if req.frame is None:
                req.interrupted = True
        # Internal queries of an unfinished resync die with the connection.
        for rid in [r.rid for r in self._pending.values() if r.internal]:
            del self._pending[rid]
        self.pacer.clear()
        sync = self.resync
        if sync.current is not None:
            in_flight.extend(r for r in sync.current.interrupted if r.rid in self._pending)
            sync.current = None
        interrupted = list({r.rid: r for r in in_flight}.values())
        self._emit(ev.Disconnected(ts_init=now, reason=reason, in_flight=len(interrupted)))
        waiting = []
        for req in interrupted:
            if req.kind is _K.PLACE or req.kind is _K.CANCEL:
                self._judge_dropped(req, now)
            else:
                waiting.append(req)
        sync.interrupted = waiting

    def _judge_dropped(self, req: Request, now: int) -> None:
        """A place or cancel in flight when the connection dropped."""
        coid = req.client_order_id
        rec = self._get(coid) if coid is not None else None
        if rec is not None:
            done = rec.venue_order_id is not None if req.kind is _K.PLACE else rec.is_terminal
            if done:
                self._resolve_request(req, Outcome.OK, now, "carried out before the drop")
                return
        self._ambiguous(
            req,
            now,
            "CONNECTION_LOST",
            "the connection was lost before the venue answered; the venue may have carried "
            "the request out",
        )

    # -----------------------------------------------------------------------------------------
    # Journal.

    def restore(self, records: Iterable[OrderRecord], now: int) -> int:
        """Load records from the journal (before connecting); return how many are live.

        Live orders are reconciled with the venue at the next login; ended ones only catch
        late duplicates.
        """
        live = 0
        for rec in records:
            if rec.client_order_id in self._orders or rec.client_order_id in self.registry.recent:
                continue
            if rec.is_terminal:
                self.registry.remember(rec)
                if rec.verdict is not None:
                    # Ended by a local verdict before the restart: the next login asks the
                    # venue again, whose word wins.
                    self._verdicts[rec.client_order_id] = rec.verdict
                continue
            # Live: an UNKNOWN one (an ambiguous answer before the restart) is asked about at
            # the next login, with every live order the venue does not list as open.
            self.registry.track(rec)
            if rec.carried_qty:  # what the venue's count of its current order leaves out
                self._base[rec.client_order_id] = rec.carried_qty
            if rec.status is _S.ARMED:
                self.registry.arm(rec)
            live += 1
        return live

    def journal_mark(self) -> tuple[int, int]:
        """Where the frame queue and the request ids stand, for :meth:`withdraw`."""
        return len(self._out), self.requests.next_rid

    def frames_since(self, mark: tuple[int, int]) -> list[bytes]:
        """Take the frames queued since ``mark``, leaving the older ones queued."""
        queued = mark[0]
        out = self._out[queued:]
        del self._out[queued:]
        self.counters.frames_out += len(out)
        return out

    def withdraw(
        self,
        mark: tuple[int, int],
        now: int,
        text: str,
        *,
        place: str | None = None,
        reason: str = "JOURNAL_WRITE_FAILED",
    ) -> OrderRecord | None:
        """Undo the frames :meth:`send` queued since ``mark``: none of them is sent.

        For the journal: when the records a command changed cannot be committed, its frames
        must not leave. Each request made since ``mark`` resolves LOCAL with ``text``; the
        order a place created (client order id ``place``) is forgotten and ends in an
        :class:`~axorders.events.OrderRejected` of origin LOCAL with ``reason``. Returns that
        forgotten record, whose pending journal change the caller must drop too. Local changes
        to other orders (an armed stop canceled or amended) stand.
        """
        queued, first_rid = mark
        del self._out[queued:]
        requests = self.requests
        for req in requests.since(first_rid):
            if requests.deferred:
                requests.drop_deferred(req, everywhere=True)
            self._resolve_request(req, Outcome.LOCAL, now, text)
        if place is None:
            return None
        rec = self._orders.get(place)
        if rec is None or rec.venue_order_id is not None:
            return None
        if rec.status is not _S.PENDING and rec.status is not _S.ARMED:
            return None
        self.registry.disarm(rec)
        self.registry.forget(rec)
        self._changed.pop(place, None)
        self._emit(
            ev.OrderRejected(
                **order_meta(rec, now, now),
                reason=reason,
                text=text,
                origin=ev.RejectOrigin.LOCAL,
            )
        )
        return rec

    # -----------------------------------------------------------------------------------------
    # Time.

    def next_deadline(self) -> int | None:
        """The earliest time :meth:`tick` has work to do, or None."""
        due = self.requests.next_deadline()
        if self.unknowns.due:
            again = self.unknowns.next_due()
            if again is not None and (due is None or again < due):
                return again
        return due

    def tick(self, now: int) -> None:
        """Expire requests whose deadline has passed, re-send 409'd cancels, and ask the venue
        again about UNKNOWN orders whose grace period has passed."""
        pop_due = self.requests.pop_due
        while (req := pop_due(now)) is not None:
            if req.deadline <= now:
                self._timeout(req, now)
            elif self._connected and req.venue_order_id is not None:
                self._write(w.CancelRequest(request_id=req.rid, venue_order_id=req.venue_order_id))
        if self.unknowns.due:
            for coid in self.unknowns.pop_due(now):
                rec = self._orders.get(coid)
                if rec is not None and rec.status is _S.UNKNOWN:
                    self._query_status(rec, now)  # not connected: the next login asks

    def extend_deadlines(self, delta_ns: int) -> None:
        """Move every pending request's deadline ``delta_ns`` later.

        For a caller that stopped reading the socket for that long (backpressure from a slow
        consumer): the answers may be waiting unread, and must not be taken for timeouts.
        """
        self.requests.extend(delta_ns)

    def _timeout(self, req: Request, now: int) -> None:
        del self._pending[req.rid]
        self.counters.timeouts += 1
        if req.internal:
            if req.kind is _K.STATUS:
                self._free_status_slot(req)
                coid = req.client_order_id
                self._recheck_later(self._get(coid) if coid is not None else None, now)
            sync = self.resync.current
            if sync is not None and sync.open_rid == req.rid:
                sync.open_rid = 0
            self._resync_query_done(req.rid, now)
            return
        if req.frame is not None:
            self.requests.drop_deferred(req)  # never sent: nothing ambiguous about it
        elif req.kind is _K.PLACE or req.kind is _K.CANCEL or req.kind is _K.REPLACE:
            self._ambiguous(
                req, now, "TIMEOUT", "no answer before the deadline; the venue may have "
                "carried the request out"
            )
            if self.resync.current is not None:
                self._maybe_finish_resync(now)
            return
        self._resolve_request(req, Outcome.TIMEOUT, now, "no answer before deadline")
        if self.resync.current is not None:
            self._maybe_finish_resync(now)
        rec = self._get(req.client_order_id) if req.client_order_id is not None else None
        if rec is not None and not rec.is_terminal and self._connected and self._logged_in:
            self._query_status(rec, now)  # learn what became of it


