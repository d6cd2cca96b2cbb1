"""The handlers of the venue's order events, and the one dispatch table of every frame type.

:meth:`EventHandlers.receive` decodes a frame and calls the handler its type maps to in
``_handlers`` (bound methods, built once). Replies (``res``/``err``) are handled by
:class:`~axorders.session.replies.ReplyHandlers`, through the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axorders import events as ev
from axorders.exceptions import RemoteProtocolError
from axorders.model import LiquiditySide, OrderStatus
from axorders.session.base import SessionBase, reject_reason
from axorders.session.values import NS, S
from axorders.state import OrderRecord
from axorders.wire import orders as w

_S = S
_decode = w.decode_server_frame
_TAKER = LiquiditySide.TAKER
_MAKER = LiquiditySide.MAKER
_OrderFilled = ev.OrderFilled
_OrderAccepted = ev.OrderAccepted


class EventHandlers(SessionBase):
    """One handler per venue event type; each finds its order and applies the event.

    Owns ``_handlers``, the dispatch table (frame type -> bound handler, built once)."""

    _handlers: dict[type[Any], Callable[[Any, int], None]]

    def _init_handlers(self) -> None:
        self._handlers = {
            w.HeartbeatMsg: self._on_heartbeat,
            w.KeepAliveMsg: self._on_heartbeat,
            w.AcknowledgedMsg: self._on_ack,
            w.PartiallyFilledMsg: self._on_fill,
            w.FilledMsg: self._on_fill,
            w.CanceledMsg: self._on_canceled,
            w.RejectedMsg: self._on_rejected,
            w.ExpiredMsg: self._on_expired,
            w.DoneForDayMsg: self._on_expired,
            w.ReplacedMsg: self._on_replaced,
            w.CancelRejectedMsg: self._on_cancel_rejected,
            w.ResultReply: self._on_result,
            w.ErrorReply: self._on_error,
            w.UnknownFrame: self._on_unknown,
        }

    def receive(self, data: bytes | str, now: int) -> None:
        """Process one text frame from the orders WebSocket. Never raises on venue input."""
        self.counters.frames_in += 1
        try:
            msg = _decode(data)
        except RemoteProtocolError as exc:
            self.counters.malformed += 1
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            self._emit(
                ev.MalformedMessage(
                    ts_init=now, text=text[:500], error=str(exc), count=self.counters.malformed
                )
            )
            self._soft_resync(now)
            return
        self._handlers[type(msg)](msg, now)

    def _on_heartbeat(self, msg: w.HeartbeatMsg | w.KeepAliveMsg, now: int) -> None:
        return

    def _on_unknown(self, msg: w.UnknownFrame, now: int) -> None:
        self.counters.unknown += 1
        self._emit(
            ev.UnknownMessage(
                ts_init=now, text=msg.text[:500], reason=msg.reason, count=self.counters.unknown
            )
        )
        if msg.venue_order_id is not None or msg.cid is not None:
            # It names an order: if it is one of ours, ask the venue what became of it.
            rec = self._find(msg.venue_order_id, msg.cid)
            if rec is not None and not rec.is_terminal:
                self.counters.inconsistent += 1
                self._query_status(rec, now)

    def _report(self, rec: OrderRecord, what: Any, reason: str, now: int) -> None:
        """A frame names ``rec`` but cannot be applied as it is: report it, ask the venue."""
        self.counters.unknown += 1
        self.counters.inconsistent += 1
        self._emit(
            ev.UnknownMessage(
                ts_init=now, text=repr(what)[:500], reason=reason, count=self.counters.unknown
            )
        )
        if not rec.is_terminal or rec.client_order_id in self._verdicts:
            self._query_status(rec, now)

    def _on_ack(self, msg: w.AcknowledgedMsg, now: int) -> None:
        body = msg.order
        oid = body.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(body, now, True)
            if rec is None:
                return
        if rec.status is _S.ACCEPTED or not rec.move_to(_S.ACCEPTED):
            self.counters.duplicates += 1
            return
        rec.ts_last = now
        if self._track_changes:
            self._changed[rec.client_order_id] = rec
        self._events.append(
            _OrderAccepted(  # by position (see ev.Event): the fields in their declared order
                now,  # ts_init
                rec.client_order_id,
                oid,  # venue_order_id
                rec.account_id,
                rec.trader_id,
                rec.strategy_id,
                rec.symbol,
                msg.ts * NS + msg.tn,  # ts_event
                rec.side,
                body.price,
                body.quantity,
                rec.time_in_force,
                rec.post_only,
            )
        )
        if self.requests.retries:
            self._retry_cancels(rec, now)

    def _on_fill(self, msg: w.PartiallyFilledMsg | w.FilledMsg, now: int) -> None:
        body = msg.order
        xs = msg.execution
        oid = body.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        ended = False
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(body, now, False, xs.quantity)
            if rec is None:
                return
            ended = rec.is_terminal  # a late fill of an order the venue has ended
        tid = xs.trade_id
        if rec.has_trade(tid):
            self.counters.duplicates += 1
            return
        side = rec.side
        if xs.side is not side or xs.symbol != rec.symbol:
            self._report(rec, msg, "the fill's symbol or side differs from the order's", now)
            return
        final = type(msg) is w.FilledMsg
        ts_event = msg.ts * NS + msg.tn
        filled = rec.filled_qty + xs.quantity
        coid = rec.client_order_id
        base = self._base.get(coid, 0) if self._base else 0
        quantity = rec.quantity
        venue_qty = base + body.quantity
        changed = venue_qty != quantity and oid == rec.venue_order_id
        if changed and self.requests.replacing(coid):
            # A replace is in flight: its events may come before its `r`.
            quantity = rec.quantity = max(venue_qty, rec.filled_qty)
            changed = False
        if filled > quantity:
            self._report(rec, msg, "the fill exceeds the order's remaining quantity", now)
            return
        if changed:
            self._report(rec, msg, "the order's quantity differs from the record", now)
        rec.add_trade(tid)
        rec.filled_qty = filled
        rec.last_fill_ns = ts_event
        rec.ts_last = now
        gap = base + body.filled_quantity - filled
        complete = final and gap <= 0
        if not complete and not ended and rec.status is not _S.PARTIALLY_FILLED:
            rec.move_to(_S.PARTIALLY_FILLED)
        if self._track_changes:
            self._changed[coid] = rec
        self._events.append(
            _OrderFilled(  # by position (see ev.Event): the fields in their declared order
                now,  # ts_init
                coid,  # client_order_id
                oid,  # venue_order_id
                rec.account_id,
                rec.trader_id,
                rec.strategy_id,
                rec.symbol,
                ts_event,
                tid,  # trade_id
                side,
                rec.order_type,
                xs.quantity,  # last_qty
                xs.price,  # last_price
                _TAKER if xs.aggressor else _MAKER,  # liquidity_side
                filled,  # filled_qty
                0 if complete or ended else max(0, quantity - filled),  # leaves_qty
                quantity,
                complete,  # is_final
            )
        )
        if ended:
            return
        if complete:
            rec.move_to(_S.FILLED)
            self._finish(rec)
        elif gap > 0:
            # An earlier fill never reached us: fetch it over REST before the order may end.
            self._want_fills(rec, base + body.filled_quantity)
            if final:
                self.recovery.held_ends[coid] = (_S.FILLED, None, None, ts_event)
        elif (wanted := self.recovery.wanted) and coid in wanted and filled >= wanted[coid]:
            # The fills an end waited for came after it (reordered events).
            del wanted[coid]
            self._release_end(coid, now)

    def _replacing(self, coid: str) -> bool:
        """True while a replace of this order waits for its answer."""
        rids = self.requests.replace_rids.get(coid)
        if not rids:
            return False
        pending = self._pending
        rids[:] = [rid for rid in rids if rid in pending]
        return bool(rids)

    def _venue_filled(self, rec: OrderRecord, body: w.OrderBody) -> int:
        """The order's filled quantity by the venue's copy ``body`` (its base counted)."""
        if self._base and body.venue_order_id == rec.venue_order_id:
            return self._base.get(rec.client_order_id, 0) + body.filled_quantity
        return body.filled_quantity

    def _on_canceled(self, msg: w.CanceledMsg, now: int) -> None:
        oid = msg.order.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(msg.order, now)
            if rec is None:
                return
        self._end_from_event(
            rec, msg.order, _S.CANCELED, now, msg.ts * NS + msg.tn, msg.reason, msg.text
        )

    def _on_expired(self, msg: w.ExpiredMsg | w.DoneForDayMsg, now: int) -> None:
        target = _S.EXPIRED if type(msg) is w.ExpiredMsg else _S.DONE_FOR_DAY
        oid = msg.order.venue_order_id
        rec = self._orders.get(self._by_oid.get(oid, ""))
        if rec is None or rec.venue_order_id != oid:
            rec = self._order_for(msg.order, now)
            if rec is None:
                return
        self._end_from_event(rec, msg.order, target, now, msg.ts * NS + msg.tn, None, None)

    def _on_rejected(self, msg: w.RejectedMsg, now: int) -> None:
        body = msg.order
        rec = self._find(body.venue_order_id, body.cid)
        ts_event = msg.ts * NS + msg.tn
        reason = reject_reason(msg.reject_reason, msg.text)
        text = msg.text or body.text or ""
        if (
            rec is not None
            and rec.venue_order_id is not None
            and rec.venue_order_id != body.venue_order_id
        ):
            # The venue refused the order a replace would have created (e.g. the original
            # ended first): the order itself is unchanged.
            if self._by_oid.get(body.venue_order_id) == rec.client_order_id:
                del self._by_oid[body.venue_order_id]
            for req in self.requests.replaces_of(rec.client_order_id):
                req.refused += (body.venue_order_id,)  # its reply must not map the id
            self._emit(
                ev.ReplaceRejected(
                    ts_init=now,
                    client_order_id=rec.client_order_id,
                    venue_order_id=rec.venue_order_id,
                    reason=reason,
                    text=text,
                    ts_event=ts_event,
                )
            )
            return
        if rec is None:
            rec = self._adopt(body, now)
            if rec is None:
                return
        elif rec.is_terminal:
            # Already ended; for a local verdict, the venue confirms it: nothing to undo now.
            if self._verdicts.pop(rec.client_order_id, None) is not None:
                rec.verdict = None
                self._changed_record(rec)
            self._learn_ended_oid(rec, body.venue_order_id)
            self.counters.duplicates += 1
            return
        elif rec.venue_order_id is None:
            self._learn_oid(rec, body.venue_order_id, now)
        self._end_from_event(rec, body, _S.REJECTED, now, ts_event, reason, text)

    def _end_from_event(
        self,
        rec: OrderRecord,
        body: w.OrderBody,
        target: OrderStatus,
        now: int,
        ts_event: int,
        reason: str | None,
        text: str | None,
    ) -> None:
        if rec.is_terminal or rec.client_order_id in self.recovery.held_ends:
            self.counters.duplicates += 1
            return
        venue_filled = body.filled_quantity
        if self._base and body.venue_order_id == rec.venue_order_id:
            venue_filled += self._base.get(rec.client_order_id, 0)
        if venue_filled > rec.filled_qty:
            self._want_fills(rec, venue_filled)
            self.recovery.held_ends[rec.client_order_id] = (target, reason, text, ts_event)
            return
        self._end(rec, target, now, ts_event, reason, text)


    def _on_replaced(self, msg: w.ReplacedMsg, now: int) -> None:
        old = msg.old_order
        new = msg.new_order
        ts_event = msg.ts * NS + msg.tn
        if (msg.new_venue_order_id is None) != (new is None) or (
            new is not None and new.venue_order_id != msg.new_venue_order_id
        ):
            self._on_unknown(
                w.UnknownFrame(repr(msg), "replace event with inconsistent noid and no", "r"), now
            )
            return
        rec = self._find(old.venue_order_id, old.cid)
        if rec is None and new is not None:
            rec = self._find(new.venue_order_id, new.cid)
        if rec is None:
            rec = self._adopt(new if new is not None else old, now)
            if rec is None:
                return
        if rec.is_terminal:
            self.counters.duplicates += 1
            return
        current = new if new is not None else old
        if (
            new is not None
            and new.venue_order_id == rec.venue_order_id
            and (old.venue_order_id in rec.prior_venue_order_ids)
        ):
            self.counters.duplicates += 1
            return
        old_oid = rec.venue_order_id or old.venue_order_id
        if (
            new is None
            and current.venue_order_id == old_oid
            and (current.price, current.quantity) == (rec.price, rec.quantity)
        ):
            self.counters.duplicates += 1
            return
        coid = rec.client_order_id
        old_filled = self._venue_filled(rec, old) if old.venue_order_id == old_oid else 0
        if current.venue_order_id != old_oid:
            self.registry.move(rec, current.venue_order_id, old_oid)
            base = self._new_base(rec, current.filled_quantity, old_filled)
        else:
            base = self._base.get(coid, 0) if self._base else 0
        rec.price = current.price
        rec.quantity = max(base + current.quantity, rec.filled_qty)
        rec.ts_last = now
        if rec.status is _S.PENDING or rec.status is _S.UNKNOWN:
            rec.move_to(_S.ACCEPTED)
        self._changed_record(rec)
        self._emit_replaced(rec, old_oid, now, ts_event)
        venue_filled = max(base + current.filled_quantity, old_filled)
        if venue_filled > rec.filled_qty:
            self._want_fills(rec, venue_filled)


    def _on_cancel_rejected(self, msg: w.CancelRejectedMsg, now: int) -> None:
        oid = msg.venue_order_id
        if oid is None and msg.order is not None:
            oid = msg.order.venue_order_id
        rec = self._find(oid, msg.cid)
        self._emit(
            ev.CancelRejected(
                ts_init=now,
                client_order_id=rec.client_order_id if rec is not None else None,
                venue_order_id=oid,
                reason=msg.reject_reason or "UNKNOWN",
                text=msg.text,
                ts_event=msg.ts * NS + msg.tn,
            )
        )


