"""What every part of the session shares: its state, its output and the effects on an order.

:class:`SessionBase` declares the state of the session: the registry and the request book, one
object per behaviour part (:mod:`axorders.session.parts`), the output queues, the connection
flags; and the few effects that several parts
apply to an order: ending it (and emitting the matching event), moving it to the recent set,
learning its venue id, and resolving a request. The parts (commands, handlers, replies,
tracking, resync, recovery) build on it; :class:`~axorders.session.OrdersSession` joins them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from axorders import events as ev
from axorders.model import Instrument, OrderStatus, TimeInForce
from axorders.session.parts import (
    FillRecovery,
    RestFallbacks,
    ResyncTracker,
    SessionCounters,
    StatusPacer,
    UnknownWatch,
)
from axorders.session.registry import OrderRegistry
from axorders.session.requests import Request, RequestBook
from axorders.session.values import NS, UNKNOWN_GRACE_NS, K, Outcome, S
from axorders.state import OrderRecord
from axorders.wire import orders as w

_K = K
_S = S


def order_meta(
    rec: OrderRecord, now: int, ts_event: int, venue_order_id: str | None = None
) -> dict[str, Any]:
    """The fields every order event carries, from ``rec`` (keywords for an event's
    constructor; ``venue_order_id`` when the event names another one than the order's own).
    The events of the hot path are built by position instead."""
    return {
        "ts_init": now,
        "client_order_id": rec.client_order_id,
        "venue_order_id": venue_order_id if venue_order_id is not None else rec.venue_order_id,
        "account_id": rec.account_id,
        "trader_id": rec.trader_id,
        "strategy_id": rec.strategy_id,
        "symbol": rec.symbol,
        "ts_event": ts_event,
    }


class SessionBase:
    """The shared state and effects of the session's parts (not used on its own)."""

    # Who the orders are for.
    account_id: str
    trader_id: str
    strategy_id: str
    max_status_queries: int
    max_external_orders: int
    _instruments: dict[str, Instrument]
    # The parts that own their state.
    registry: OrderRegistry
    requests: RequestBook
    # Hot-path references into them (the same objects, never replaced).
    _orders: dict[str, OrderRecord]
    _by_oid: dict[str, str]
    _by_cid: dict[int, str]
    _base: dict[str, int]
    _verdicts: dict[str, str]
    _pending: dict[int, Request]
    _find: Callable[[str | None, int | None], OrderRecord | None]
    _get: Callable[[str], OrderRecord | None]
    # Output: frames to the venue, events to the caller, records to the journal.
    _out: list[bytes]
    _events: list[ev.Event]
    _track_changes: bool
    _changed: dict[str, OrderRecord]
    # Connection.
    _connected: bool
    _logged_in: bool
    # The state of the behaviour parts: one object each, defined in parts.py.
    resync: ResyncTracker  # the resync in flight, the requests the last drop interrupted
    pacer: StatusPacer  # the session's own status queries, in flight and waiting
    recovery: FillRecovery  # fills known missing, ends waiting for them
    fallbacks: RestFallbacks  # request kinds done over REST, and those waiting for it
    unknowns: UnknownWatch  # UNKNOWN orders to ask about again after their grace period
    counters: SessionCounters  # what stats() reports

    if TYPE_CHECKING:
        # Implemented by the parts; declared here so that each part can call the others.
        def _query_status(
            self, rec: OrderRecord, now: int, *, by_venue_id: bool = False
        ) -> None: ...
        def _want_fills(self, rec: OrderRecord, venue_filled: int) -> None: ...
        def _release_end(self, coid: str, now: int) -> None: ...
        def _soft_resync(self, now: int) -> None: ...
        def _on_login(self, res: w.ResultBody, now: int) -> None: ...
        def _reconcile(self, venue_orders: list[w.OrderBody], now: int) -> None: ...
        def _on_status(self, req: Request, status: w.StatusBody, now: int) -> None: ...
        def _status_not_found(self, rec: OrderRecord, now: int) -> None: ...
        def _resync_query_done(self, rid: int, now: int) -> None: ...
        def _maybe_finish_resync(self, now: int) -> None: ...
        def _free_status_slot(self, req: Request) -> None: ...
        def _fall_back(self, req: Request, code: int, text: str, now: int) -> None: ...
        def _write_status(self, req: Request) -> None: ...
        def _on_result(self, msg: w.ResultReply, now: int) -> None: ...
        def _on_error(self, msg: w.ErrorReply, now: int) -> None: ...
        def _on_unknown(self, msg: w.UnknownFrame, now: int) -> None: ...
        def _order_for(
            self, body: w.OrderBody, now: int, ack: bool = False, fill: int = 0
        ) -> OrderRecord | None: ...
        def _revive(
            self, rec: OrderRecord, state: OrderStatus, oid: str | None, now: int, *, accept: bool
        ) -> None: ...
        def _adopt(self, body: w.OrderBody, now: int) -> OrderRecord | None: ...
        def _new_base(
            self, rec: OrderRecord, venue_filled: int, carried: int = 0, venue_qty: int = 0
        ) -> int: ...
        def _check_fills(self, rec: OrderRecord) -> None: ...

    # -----------------------------------------------------------------------------------------
    # Output.

    def _write(self, message: msgspec.Struct) -> None:
        self._out.append(w.encode(message))

    def _emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def _changed_record(self, rec: OrderRecord) -> None:
        if self._track_changes:
            self._changed[rec.client_order_id] = rec

    # -----------------------------------------------------------------------------------------
    # Effects on an order.

    def _emit_replaced(self, rec: OrderRecord, old_oid: str, now: int, ts_event: int) -> None:
        assert rec.price is not None
        self._emit(
            ev.OrderReplaced(
                **order_meta(rec, now, ts_event),
                old_venue_order_id=old_oid,
                price=rec.price,
                quantity=rec.quantity,
                filled_qty=rec.filled_qty,
            )
        )


    def _emit_accepted_from(self, rec: OrderRecord, now: int) -> None:
        assert rec.price is not None
        self._emit(
            ev.OrderAccepted(
                **order_meta(rec, now, now),
                side=rec.side,
                price=rec.price,
                quantity=rec.quantity,
                time_in_force=rec.time_in_force,
                post_only=rec.post_only,
            )
        )
        self._retry_cancels(rec, now)


    def _end(
        self,
        rec: OrderRecord,
        target: OrderStatus,
        now: int,
        ts_event: int,
        reason: str | None,
        text: str | None,
        origin: ev.RejectOrigin = ev.RejectOrigin.VENUE_EVENT,
        code: int | None = None,
    ) -> None:
        """Move ``rec`` to a terminal ``target``, emit the matching event, forget it."""
        if not rec.move_to(target):
            self.counters.duplicates += 1
            return
        rec.ts_last = now
        common = order_meta(rec, now, ts_event)
        if target is _S.CANCELED:
            self._emit(
                ev.OrderCanceled(
                    **common, reason=reason or "", text=text or "", filled_qty=rec.filled_qty
                )
            )
        elif target in (_S.EXPIRED, _S.DONE_FOR_DAY):
            self._emit(
                ev.OrderExpired(
                    **common, filled_qty=rec.filled_qty, done_for_day=target is _S.DONE_FOR_DAY
                )
            )
        elif target is _S.REJECTED:
            txt = text or ""
            self._emit(
                ev.OrderRejected(
                    **common,
                    reason=reason or "UNKNOWN",
                    text=txt,
                    origin=origin,
                    due_post_only=reason == "POST_ONLY_WOULD_CROSS",
                    code=code,
                )
            )
        # FILLED and REPLACED end without an event of their own here: the final fill, or the
        # OrderReplaced, has told the story.
        self._finish(rec)


    def _ambiguous(
        self,
        req: Request,
        now: int,
        reason: str,
        cause: str,
        code: int | None = None,
    ) -> None:
        """The answer to ``req`` (a place, cancel or replace) was ambiguous (see
        :mod:`axorders.session.verdicts`): the venue may have carried it out. The request
        resolves UNKNOWN; a place's order, not yet heard of, goes UNKNOWN; the venue is asked
        about the order (now, or at the next login)."""
        coid = req.client_order_id
        rec = self._get(coid) if coid is not None else None
        self._resolve_request(req, Outcome.UNKNOWN, now, cause, code=code)
        if rec is None or rec.is_terminal or rec.status is _S.ARMED:
            return
        if req.kind is _K.PLACE and rec.status is _S.PENDING and rec.venue_order_id is None:
            self._enter_unknown(rec, now, reason, cause, code=code, request_id=req.rid)
        else:
            self._query_status(rec, now)

    def _enter_unknown(
        self,
        rec: OrderRecord,
        now: int,
        reason: str,
        cause: str,
        *,
        code: int | None = None,
        request_id: int | None = None,
        ask: bool = True,
    ) -> None:
        """The venue may or may not hold ``rec`` (PENDING): it goes UNKNOWN, with one
        OrderStatusUnknown, and (with ``ask``) the venue is asked about it."""
        if not rec.move_to(_S.UNKNOWN):
            return
        rec.unknown_since = now
        rec.unknown_reason = reason
        rec.ts_last = now
        self._changed_record(rec)
        self._emit(
            ev.OrderStatusUnknown(
                **order_meta(rec, now, now),
                reason=reason,
                cause=cause,
                code=code,
                request_id=request_id,
            )
        )
        if ask:
            self._query_status(rec, now)

    def _recheck_later(self, rec: OrderRecord | None, now: int) -> None:
        """A status query about an UNKNOWN order got no usable answer: ask again later."""
        if rec is not None and rec.status is _S.UNKNOWN and rec.unknown_since:
            self.unknowns.watch(rec.client_order_id, now + UNKNOWN_GRACE_NS)

    def _refuse(self, req: Request, rec: OrderRecord, now: int) -> None:
        """A cancel or replace of an order that has already ended: a local "no"."""
        text = f"order already ended ({rec.status.value})"
        cls = ev.CancelRejected if req.kind is _K.CANCEL else ev.ReplaceRejected
        self._emit(
            cls(
                ts_init=now,
                client_order_id=rec.client_order_id,
                venue_order_id=rec.venue_order_id,
                reason="ORDER_ALREADY_ENDED",
                text=text,
                request_id=req.rid,
                ts_event=now,
            )
        )
        self._resolve_request(req, Outcome.LOCAL, now, text)


    def _learn_ended_oid(self, rec: OrderRecord, oid: str) -> None:
        """An ended order's venue id, learned late: kept with the recent set's maps."""
        if self.registry.learn_ended_oid(rec, oid):
            self._changed_record(rec)

    def _learn_oid(self, rec: OrderRecord, oid: str, now: int) -> None:
        rec.venue_order_id = oid
        self._by_oid[oid] = rec.client_order_id
        self._changed_record(rec)
        if self._connected and rec.client_order_id in self.requests.deferred:
            self._flush_deferred(rec, oid)

    def _flush_deferred(self, rec: OrderRecord, oid: str) -> None:
        """Send the cancels and replaces that waited for this order's venue id."""
        for item in self.requests.take_deferred(rec.client_order_id):
            req = item.request
            if req.rid in self._pending:
                req.frame = None
                self._out.append(item.build(oid))


    def _retry_cancels(self, rec: OrderRecord, now: int) -> None:
        """Re-send at once any cancel the venue refused with 409 before this ack."""
        if not self.requests.retries:
            return
        for req in self.requests.take_retries(rec.client_order_id):
            if self._connected and req.venue_order_id is not None:
                self._write(w.CancelRequest(request_id=req.rid, venue_order_id=req.venue_order_id))

    def _resolve_request(
        self,
        req: Request,
        outcome: ev.RequestOutcome,
        now: int,
        message: str = "",
        *,
        code: int | None = None,
        venue_order_id: str | None = None,
    ) -> None:
        self._pending.pop(req.rid, None)  # requests.discard(req), inlined: the hot path
        retries = self.requests.retries
        if retries:
            retries.pop(req.rid, None)
        if req.internal:
            return
        if not venue_order_id:
            coid = req.client_order_id
            rec = self._get(coid) if coid is not None else None
            venue_order_id = rec.venue_order_id if rec is not None else req.venue_order_id
        self._events.append(
            ev.RequestResolved(
                ts_init=now,
                request_id=req.rid,
                kind=req.kind,
                outcome=outcome,
                client_order_id=req.client_order_id,
                venue_order_id=venue_order_id,
                code=code,
                message=message,
            )
        )


    def _finish(self, rec: OrderRecord) -> None:
        """Move an ended order from the live maps to the bounded recent set."""
        coid = rec.client_order_id
        if self._track_changes:
            self._changed[coid] = rec
        if not self.registry.retire(rec):
            return
        self.recovery.forget(coid)
        if self.unknowns.due:
            self.unknowns.forget(coid)
        requests = self.requests
        if requests.replace_rids:
            requests.replace_rids.pop(coid, None)
        if requests.deferred:
            deferred = requests.take_deferred(coid)
            now = rec.ts_last
            for item in deferred:
                if item.request.rid in self._pending:
                    self._refuse(item.request, rec, now)

    def _snapshot(self, body: w.OrderBody, client_order_id: str | None = None) -> ev.OrderSnapshot:
        if client_order_id is None:
            rec = self._find(body.venue_order_id, body.cid)
            client_order_id = rec.client_order_id if rec is not None else None
        return ev.OrderSnapshot(
            venue_order_id=body.venue_order_id,
            client_order_id=client_order_id,
            cid=body.cid,
            symbol=body.symbol,
            side=body.side,
            price=body.price,
            quantity=body.quantity,
            filled_qty=body.filled_quantity,
            remaining_qty=body.remaining_quantity,
            status=OrderStatus.from_wire(body.status),
            time_in_force=body.time_in_force,
            post_only=bool(body.post_only),
            tag=body.tag,
            ts_event=body.ts * NS + body.tn,
        )




def reject_reason(reason: str | None, text: str | None) -> str:
    """The venue's code when it gave one; else POST_ONLY_WOULD_CROSS, the text, or UNKNOWN."""
    if reason:
        return reason
    if text and _POST_ONLY_TEXT in text.lower():
        return "POST_ONLY_WOULD_CROSS"
    return "UNKNOWN"


_POST_ONLY_TEXT: Final = "post-only"

ERROR_REASONS: Final = {
    404: "ORDER_NOT_FOUND",
    409: "NOT_YET_ACKNOWLEDGED",
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
}


def tif(value: str) -> TimeInForce:
    try:
        return TimeInForce(value)
    except ValueError:
        return TimeInForce.GTC
