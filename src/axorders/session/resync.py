"""The resync: the login's diff with the venue, the session's own status queries (paced) and
what their answers change.

After the rid-0 login the venue's open orders are compared with what the session tracks;
tracked orders missing from the list get a status query, unknown ones are adopted, requests
interrupted by the drop are judged. At most one resync is in flight
(:class:`~axorders.session.parts.ResyncState`);
``Resynced`` ends it once every query is answered and every missing fill has come.
"""

from __future__ import annotations

from axorders import events as ev
from axorders.model import OrderStatus
from axorders.session.base import SessionBase
from axorders.session.parts import ResyncState
from axorders.session.requests import Request
from axorders.session.values import NS, UNKNOWN_GRACE_NS, K, Outcome, S
from axorders.state import OrderRecord
from axorders.wire import orders as w

_K = K
_S = S
_NOT_HEARD = (_S.PENDING, _S.UNKNOWN)  # no word from the venue on the order yet


class Resync(SessionBase):
    """The login diff, the status queries and their pacing, the venue's word on each order.

    Its state: ``self.resync`` (:class:`~axorders.session.parts.ResyncTracker`: the one
    resync in flight, the requests in flight at the last drop) and ``self.pacer``
    (:class:`~axorders.session.parts.StatusPacer`: its status queries in flight and waiting)."""

    def _on_login(self, res: w.ResultBody, now: int) -> None:
        orders = res.login_orders or []
        self._logged_in = True
        self._emit(
            ev.LoginSnapshot(
                ts_init=now,
                login_id=res.login_id or "",
                orders=tuple(self._snapshot(o) for o in orders),
                cancel_on_disconnect=res.cancel_on_disconnect,
                client_heartbeat=res.client_heartbeat,
            )
        )
        interrupted, self.resync.interrupted = self.resync.interrupted, []
        self._start_resync(interrupted)
        self._reconcile(orders, now)
        for coid in list(self._verdicts):
            # Ended by a local verdict: the venue may have carried it out after all.
            rec = self.registry.recent.get(coid)
            if rec is not None:
                self._query_status(rec, now)
        self._maybe_finish_resync(now)
        for coid in list(self.requests.deferred):
            rec = self._orders.get(coid)
            if rec is not None and rec.venue_order_id is not None:
                self._flush_deferred(rec, rec.venue_order_id)

    def _start_resync(self, interrupted: list[Request]) -> None:
        if self.resync.current is None:
            self.resync.current = ResyncState(interrupted)
            self.counters.resyncs += 1
        else:
            self.resync.current.interrupted.extend(interrupted)

    def _soft_resync(self, now: int) -> None:
        """After a frame we could not read: compare with the venue's open orders.

        At most one resync is in flight: a trigger during one joins it (its open-orders answer
        is still to come), or has it compare once more when it ends."""
        if not self._connected or not self._logged_in:
            return
        sync = self.resync.current
        if sync is not None:
            if not sync.open_rid:
                sync.again = True
            return
        self._start_resync([])
        sync = self.resync.current
        assert sync is not None
        req = self.requests.new(_K.OPEN_ORDERS, now, internal=True)
        sync.queries.add(req.rid)
        sync.open_rid = req.rid
        self._write(w.OpenOrdersRequest(request_id=req.rid))

    def _reconcile(self, venue_orders: list[w.OrderBody], now: int) -> None:
        sync = self.resync.current
        if sync is None:
            self._start_resync([])
            sync = self.resync.current
            assert sync is not None
        seen: set[str] = set()
        for body in venue_orders:
            rec = self._find(body.venue_order_id, body.cid)
            if rec is not None and rec.is_terminal and rec.client_order_id in self._verdicts:
                self._revive(rec, OrderStatus.from_wire(body.status), None, now, accept=False)
            if rec is None or rec.is_terminal:
                if rec is None:
                    self._adopt_open(body, now)
                continue
            seen.add(rec.client_order_id)
            sync.checked += 1
            if self._apply_open(rec, body, now):
                sync.changed += 1
        pending = self._pending
        for rec in list(self._orders.values()):
            coid = rec.client_order_id
            if coid in seen or rec.status is _S.ARMED:
                continue
            place = pending.get(rec.place_request_id)
            if (
                place is not None
                and place.kind is _K.PLACE
                and place.client_order_id == coid
                and not place.interrupted
            ):
                continue  # its place is in flight on this connection
            sync.checked += 1
            self._query_status(rec, now)
        for rid in list(sync.queries):
            if rid not in self._pending:
                sync.queries.discard(rid)
        self._maybe_finish_resync(now)

    def _adopt_open(self, body: w.OrderBody, now: int) -> None:
        rec = self._adopt(body, now)
        if rec is None:
            return
        state = OrderStatus.from_wire(body.status)
        rec.move_to(_S.PARTIALLY_FILLED if body.filled_quantity else _S.ACCEPTED)
        if state is _S.UNKNOWN:
            rec.status = _S.UNKNOWN
        rec.filled_qty = body.filled_quantity
        rec.quantity = max(rec.quantity, rec.filled_qty)

    def _apply_open(self, rec: OrderRecord, body: w.OrderBody, now: int) -> bool:
        """Compare a tracked order with the venue's open copy; return whether it changed."""
        changed = False
        oid = body.venue_order_id
        if rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
            changed = True
        if rec.status is _S.PENDING or rec.status is _S.UNKNOWN:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)
            changed = True
        coid = rec.client_order_id
        base = self._base.get(coid, 0) if self._base else 0
        if (
            not base
            and oid == rec.venue_order_id
            and rec.prior_venue_order_ids
            and body.filled_quantity < rec.filled_qty
            and body.quantity - body.filled_quantity == rec.quantity - rec.filled_qty
        ):
            # A replacement that started fresh, known from the journal before it kept its
            # base: the base again.
            base = self._base[coid] = rec.carried_qty = rec.filled_qty - body.filled_quantity
            self._changed_record(rec)
        venue_qty = base + body.quantity
        if oid != rec.venue_order_id or body.price != rec.price or venue_qty != rec.quantity:
            old_oid = rec.venue_order_id or oid
            if oid != old_oid:
                self.registry.move(rec, oid)
                base = self._new_base(rec, body.filled_quantity, venue_qty=body.quantity)
                venue_qty = base + body.quantity
                self._check_fills(rec)
            rec.price = body.price
            rec.quantity = max(venue_qty, rec.filled_qty)
            self._emit_replaced(rec, old_oid, now, body.ts * NS + body.tn)
            changed = True
        if base + body.filled_quantity > rec.filled_qty:
            self._want_fills(rec, base + body.filled_quantity)
            changed = True
        if changed:
            rec.ts_last = now
            self._changed_record(rec)
        return changed

    def _query_status(self, rec: OrderRecord, now: int, *, by_venue_id: bool = False) -> None:
        """Ask the venue about ``rec`` (the session's own query, no RequestResolved).

        Paced: one query per order at a time, at most ``max_status_queries`` in flight; the
        others wait in a queue and go out as answers come back."""
        if not self._connected or not self._logged_in:
            return  # the next login compares everything anyway
        coid = rec.client_order_id
        if coid in self.pacer.inflight or coid in self.pacer.queued:
            return  # the answer on its way, or the query waiting, will do
        if len(self.pacer.inflight) >= self.max_status_queries:
            self.pacer.queue.append((coid, by_venue_id))
            self.pacer.queued.add(coid)
            return
        self._send_status(rec, now, by_venue_id)

    def _send_status(self, rec: OrderRecord, now: int, by_venue_id: bool) -> None:
        req = self.requests.new(_K.STATUS, now, rec.client_order_id, internal=True)
        if by_venue_id and rec.venue_order_id is not None:
            req.venue_order_id = rec.venue_order_id
        else:
            req.cid = rec.cid
        self._write_status(req)
        self.pacer.inflight[rec.client_order_id] = req.rid
        if self.resync.current is not None:
            self.resync.current.queries.add(req.rid)

    def _free_status_slot(self, req: Request) -> None:
        """An internal status query was answered (or timed out): its slot is free."""
        coid = req.client_order_id
        if coid is not None and self.pacer.inflight.get(coid) == req.rid:
            del self.pacer.inflight[coid]

    def _pump_status(self, now: int) -> None:
        """Send waiting status queries while there are free slots."""
        queue = self.pacer.queue
        while queue and len(self.pacer.inflight) < self.max_status_queries:
            if not self._connected or not self._logged_in:
                return
            coid, by_venue_id = queue.popleft()
            self.pacer.queued.discard(coid)
            rec = self._get(coid)
            if rec is None or (rec.is_terminal and coid not in self._verdicts):
                continue
            if coid not in self.pacer.inflight:
                self._send_status(rec, now, by_venue_id)

    def _resync_query_done(self, rid: int, now: int) -> None:
        if self.pacer.queue:
            self._pump_status(now)
        sync = self.resync.current
        if sync is not None and rid in sync.queries:
            sync.queries.discard(rid)
            self._maybe_finish_resync(now)

    def _maybe_finish_resync(self, now: int) -> None:
        sync = self.resync.current
        if sync is None or sync.queries or self.pacer.queue or not self._logged_in:
            return
        for req in sync.interrupted:
            if req.rid not in self._pending:
                continue
            outcome = self._interrupted_outcome(req)
            if outcome is None:
                continue
            sync.resolved += 1
            self._resolve_request(req, outcome, now, "resolved by resync")
        if any(r.rid in self._pending for r in sync.interrupted) or self.recovery.wanted:
            return  # waiting for fills (or for the answer to a request it cannot judge yet)
        self.resync.current = None
        self._emit(
            ev.Resynced(
                ts_init=now,
                orders_checked=sync.checked,
                changed=sync.changed,
                external=sync.external,
                fills_recovered=sync.fills,
                requests_resolved=sync.resolved,
            )
        )
        if sync.again:
            self._soft_resync(now)

    def _interrupted_outcome(self, req: Request) -> ev.RequestOutcome | None:
        rec = self._get(req.client_order_id) if req.client_order_id is not None else None
        ok, lost = Outcome.OK, Outcome.LOST
        if req.kind is _K.PLACE:
            if rec is None:
                return lost
            if rec.status is _S.REJECTED and rec.venue_order_id is None:
                return lost
            return ok if rec.venue_order_id is not None else None
        if req.kind is _K.CANCEL:
            if rec is None:
                return lost
            return ok if rec.is_terminal else lost
        if req.kind is _K.REPLACE:
            if rec is None:
                return lost
            changed = rec.venue_order_id != req.venue_order_id and req.venue_order_id is not None
            return ok if changed else Outcome.UNKNOWN  # the venue may still carry it out
        return lost


    def _on_status(self, req: Request, status: w.StatusBody, now: int) -> None:
        state = OrderStatus.from_wire(status.state)
        rec = self._get(req.client_order_id) if req.client_order_id is not None else None
        if rec is None:
            rec = self._find(status.order_id, status.clord_id)
        if not req.internal:
            self._emit(
                ev.OrderStatusReport(
                    ts_init=now,
                    request_id=req.rid,
                    client_order_id=rec.client_order_id if rec is not None else None,
                    venue_order_id=status.order_id,
                    symbol=status.symbol,
                    status=state,
                    filled_qty=status.filled_quantity,
                    remaining_qty=status.remaining_quantity,
                    reject_reason=status.reject_reason,
                    reject_message=status.reject_message,
                )
            )
        if rec is not None and rec.is_terminal and rec.client_order_id in self._verdicts:
            if state not in (_S.REJECTED, _S.UNKNOWN):
                self._revive(rec, state, status.order_id, now, accept=False)
            elif state is _S.REJECTED and rec.venue_order_id is None:
                # The venue did take the place it answered with an error, and refused the
                # order: the verdict stands, and the order's venue id is known now.
                self._learn_ended_oid(rec, status.order_id)
        if rec is not None and not rec.is_terminal and rec.status is not _S.ARMED:
            self._apply_status(rec, status, state, now)
        self._resync_query_done(req.rid, now)

    def _apply_status(
        self, rec: OrderRecord, status: w.StatusBody, state: OrderStatus, now: int
    ) -> None:
        """Bring ``rec`` up to the venue's word on it."""
        changed = False
        oid = status.order_id
        before = rec.venue_order_id or oid
        if oid != rec.venue_order_id and oid in rec.prior_venue_order_ids:
            # An answer about a venue order this one has left since it was asked (a fill of
            # the newer one came meanwhile): ask about the current one.
            if self._connected and self._logged_in:
                self._query_status(rec, now, by_venue_id=True)
            return
        if state is _S.REJECTED and rec.venue_order_id is not None and oid != rec.venue_order_id:
            # By cid the venue reports its newest order with that cid: here a replacement it
            # refused (ORIGINAL_ORDER_TERMINATED), which says nothing of the order itself.
            # Ask about the order by its own venue id instead.
            if self._connected and self._logged_in:
                self._query_status(rec, now, by_venue_id=True)
            return
        if rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
            changed = True
        elif (
            oid != rec.venue_order_id
            and state is not _S.REPLACED
            and oid not in rec.prior_venue_order_ids
        ):
            self.registry.move(rec, oid)
            changed = True
        current = oid == rec.venue_order_id
        base = self._base.get(rec.client_order_id, 0) if self._base and current else 0
        target_filled = base + status.filled_quantity
        if target_filled > rec.filled_qty:
            self._want_fills(rec, target_filled)
            changed = True
        if current and state in (_S.ACCEPTED, _S.PARTIALLY_FILLED):
            venue_qty = target_filled + status.remaining_quantity
            if venue_qty != rec.quantity and venue_qty >= rec.filled_qty and rec.price is not None:
                # The venue's word on the order's size (an amend we never saw): it wins.
                rec.quantity = venue_qty
                self._emit_replaced(rec, before, now, now)
                changed = True
        if state.is_terminal and state is not _S.REPLACED:
            if target_filled > rec.filled_qty:
                self.recovery.held_ends[rec.client_order_id] = (
                    state,
                    status.reject_reason,
                    status.reject_message,
                    now,
                )
            else:
                self._end(rec, state, now, now, status.reject_reason, status.reject_message)
            changed = True
        elif state in (_S.ACCEPTED, _S.PARTIALLY_FILLED) and rec.status in _NOT_HEARD:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)
            changed = True
        if changed:
            self._changed_record(rec)
            if self.resync.current is not None:
                self.resync.current.changed += 1


    def _status_not_found(self, rec: OrderRecord, now: int) -> None:
        """The venue has no order with this cid (as far as it can tell now).

        For an UNKNOWN order (an ambiguous answer to its place) that is the venue's word once
        ``UNKNOWN_GRACE_NS`` has passed since the ambiguity began: the order ends in one
        definitive OrderRejected. Before that it is asked about again when the grace period
        ends. A PENDING order whose place is not in flight (sent by the process before a
        restart) goes UNKNOWN first: its place may still be on its way."""
        if rec.is_terminal or rec.venue_order_id is not None:
            return
        if rec.status is _S.PENDING:
            place = self._pending.get(rec.place_request_id)
            if (
                place is not None
                and place.kind is _K.PLACE
                and place.client_order_id == rec.client_order_id
                and not place.interrupted
            ):
                return  # its place is still in flight on this connection
            self._enter_unknown(
                rec,
                now,
                "NOT_REPORTED_AFTER_GAP",
                "after a gap the venue reported no order with this cid; its place may still "
                "be on its way",
                ask=False,
            )
        if rec.status is not _S.UNKNOWN or not rec.unknown_since:
            return
        due = rec.unknown_since + UNKNOWN_GRACE_NS
        if now < due:
            self.unknowns.watch(rec.client_order_id, due)
            return
        self._end(
            rec,
            _S.REJECTED,
            now,
            now,
            "NOT_FOUND_AT_VENUE",
            f"the venue holds no order with this cid {(now - rec.unknown_since) // NS} s after "
            f"an ambiguous answer ({rec.unknown_reason})",
            origin=ev.RejectOrigin.LOCAL,
        )
