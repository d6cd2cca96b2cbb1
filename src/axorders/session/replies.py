"""The handlers of the venue's replies: ``res`` and ``err``, matched to their request by id."""

from __future__ import annotations

from axorders import events as ev
from axorders.session.base import ERROR_REASONS, SessionBase
from axorders.session.values import MAX_CANCEL_RETRIES, UNSUPPORTED_CODES, K, Outcome, S
from axorders.session.verdicts import Verdict, classify
from axorders.wire import orders as w

_K = K
_S = S
_RETRY = Verdict.RETRY
_AMBIGUOUS = Verdict.AMBIGUOUS


class ReplyHandlers(SessionBase):
    """A reply ends its request (OK, ERROR, or UNKNOWN for an ``err`` to a place, cancel or
    replace that the venue may have acted on: see :mod:`axorders.session.verdicts`), except a
    409 to a cancel (retried), an unsupported ``s``/``X`` (moved to REST) and the login (rid 0,
    which starts the resync)."""

    def _on_result(self, msg: w.ResultReply, now: int) -> None:
        res = msg.result
        req = self._pending.pop(msg.request_id, None)  # request ids start at 1
        if req is None:
            if msg.request_id == 0 and res.login_id is not None:
                self._on_login(res, now)
                return
            self._on_unknown(
                w.UnknownFrame(f"rid {msg.request_id}", "reply to no pending request"), now
            )
            return
        kind = req.kind
        rec = self._get(req.client_order_id) if req.client_order_id is not None else None
        oid = res.venue_order_id
        if kind is _K.PLACE:
            if rec is not None and oid is not None and rec.venue_order_id is None:
                if rec.is_terminal:
                    self._learn_ended_oid(rec, oid)
                else:
                    self._learn_oid(rec, oid, now)
        elif kind is _K.REPLACE:
            if (
                rec is not None
                and oid is not None
                and not rec.is_terminal
                and oid not in req.refused
            ):
                # Map the new id now so that the events of the new order find this record.
                self.registry.map_ahead(rec, oid, req.quantity)
        elif kind is _K.OPEN_ORDERS:
            orders = res.orders or []
            if req.internal:
                sync = self.resync.current
                if sync is not None and sync.open_rid == req.rid:
                    sync.open_rid = 0
                self._reconcile(orders, now)
                return
            self._emit(
                ev.OpenOrdersReceived(
                    ts_init=now,
                    request_id=req.rid,
                    orders=tuple(self._snapshot(o) for o in orders),
                )
            )
        elif kind is _K.STATUS:
            if req.internal:
                self._free_status_slot(req)
            status = res.status
            if status is not None:
                self._on_status(req, status, now)
            else:
                self._resync_query_done(req.rid, now)
            if req.internal:
                return
        self._resolve_request(
            req, Outcome.OK, now, venue_order_id=oid or req.venue_order_id
        )


    def _on_error(self, msg: w.ErrorReply, now: int) -> None:
        err = msg.error
        code = err.code
        text = err.message or ""
        req = self._pending.get(msg.request_id) if msg.request_id is not None else None
        if req is None:
            self._emit(
                ev.VenueError(ts_init=now, request_id=msg.request_id, code=code, message=text)
            )
            return
        rec = self._get(req.client_order_id) if req.client_order_id is not None else None
        kind = req.kind
        fallback = kind is _K.STATUS or kind is _K.CANCEL_ALL
        if code in UNSUPPORTED_CODES and fallback and not self.fallbacks.via_rest:
            self._fall_back(req, code, text, now)
            return
        verdict = classify(kind, code)
        if verdict is _RETRY and req.retries < MAX_CANCEL_RETRIES:
            # Not acknowledged yet: send the same cancel again shortly (or on the ack).
            self.requests.retry_later(req, now)
            return
        del self._pending[req.rid]
        if req.internal and kind is _K.STATUS:
            self._free_status_slot(req)
        if verdict is _AMBIGUOUS and (kind is _K.PLACE or kind is _K.CANCEL or kind is _K.REPLACE):
            # The venue may have carried it out: no "no" is published; the venue is asked.
            self._ambiguous(
                req, now, f"VENUE_ERROR_{code}", f"the venue answered err {code}: {text}", code
            )
            return
        if kind is _K.PLACE and rec is not None and not rec.is_terminal:
            self._verdicts[rec.client_order_id] = rec.verdict = f"VENUE_ERROR_{code}"
            self._end(
                rec,
                _S.REJECTED,
                now,
                now,
                f"VENUE_ERROR_{code}",
                text,
                origin=ev.RejectOrigin.VENUE_ERROR,
                code=code,
            )
        elif kind in (_K.CANCEL, _K.REPLACE):
            cls = ev.CancelRejected if kind is _K.CANCEL else ev.ReplaceRejected
            self._emit(
                cls(
                    ts_init=now,
                    client_order_id=req.client_order_id,
                    venue_order_id=req.venue_order_id,
                    reason=ERROR_REASONS.get(code, f"VENUE_ERROR_{code}"),
                    text=text,
                    code=code,
                    request_id=req.rid,
                    ts_event=now,
                )
            )
        elif kind is _K.STATUS and code == 404 and rec is not None:
            self._status_not_found(rec, now)
        elif kind is _K.STATUS and req.internal:
            self._recheck_later(rec, now)
        if req.internal:
            self._resync_query_done(req.rid, now)
            return
        self._resolve_request(req, Outcome.ERROR, now, text, code=code)


