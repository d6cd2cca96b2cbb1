"""Recovery over REST: fills known to be missing (fetched from REST ``/fills``), order ends
that wait for them, and the REST fallbacks of the status (``s``) and cancel-all (``X``)
requests when the venue does not know them over the WebSocket."""

from __future__ import annotations

from collections.abc import Iterable

from axorders import events as ev
from axorders.model import LiquiditySide
from axorders.session.base import SessionBase, order_meta
from axorders.session.requests import Request
from axorders.session.values import (
    FILL_WINDOW_MARGIN_NS,
    FillsWanted,
    K,
    Outcome,
    RestCancelAll,
    RestStatusQuery,
    S,
)
from axorders.state import OrderRecord
from axorders.wire import orders as w
from axorders.wire.rest import FillInfo, parse_rfc3339_ns

_K = K
_S = S


class Recovery(SessionBase):
    """Fills recovered over REST and the REST fallbacks.

    Its state: ``self.recovery`` (:class:`~axorders.session.parts.FillRecovery`: fills known
    missing, ends waiting for them) and ``self.fallbacks``
    (:class:`~axorders.session.parts.RestFallbacks`: the kinds done over REST, the queries
    waiting for it)."""

    def _fall_back(self, req: Request, code: int, text: str, now: int) -> None:
        """The venue does not know this request kind over the WebSocket: from now on it goes
        over REST (for the session's life), and this request with it."""
        kind = req.kind
        first = not (self.fallbacks.status if kind is _K.STATUS else self.fallbacks.cancel_all)
        if kind is _K.STATUS:
            self.fallbacks.status = True
            self._write_status(req)
        else:
            self.fallbacks.cancel_all = True
            self.fallbacks.cancel_all_wanted[req.rid] = RestCancelAll(req.rid, req.symbol)
        self.requests.renew(req, now)
        if first:
            self._emit(ev.RequestFallback(ts_init=now, kind=kind, code=code, message=text))

    @property
    def rest_wanted(self) -> bool:
        """True while some status query or cancel-all waits to be made over REST."""
        return bool(self.fallbacks.status_wanted or self.fallbacks.cancel_all_wanted)

    def rest_status_wanted(self) -> list[RestStatusQuery]:
        """Status queries to make over REST (after the venue refused ``s``); taken once.

        Answer each with :meth:`receive_rest_status`.
        """
        wanted = [q for rid, q in self.fallbacks.status_wanted.items() if rid in self._pending]
        self.fallbacks.status_wanted.clear()
        return wanted

    def receive_rest_status(
        self,
        request_id: int,
        status: w.StatusBody | None,
        now: int,
        *,
        code: int | None = None,
        message: str = "",
    ) -> None:
        """The REST answer to a :class:`RestStatusQuery`: the order's status, or None with
        ``code`` (404 when the venue has no such order, the default)."""
        if request_id not in self._pending:
            return
        self.fallbacks.via_rest = True
        try:
            if status is not None:
                self._on_result(w.ResultReply(request_id, w.ResultBody(status=status)), now)
            else:
                error = w.ErrorBody(code=404 if code is None else code, message=message)
                self._on_error(w.ErrorReply(request_id, error), now)
        finally:
            self.fallbacks.via_rest = False

    def rest_cancel_all_wanted(self) -> list[RestCancelAll]:
        """Cancel-alls to make over REST (after the venue refused ``X``); taken once.

        Report each outcome with :meth:`receive_rest_cancel_all`.
        """
        wanted = [c for rid, c in self.fallbacks.cancel_all_wanted.items() if rid in self._pending]
        self.fallbacks.cancel_all_wanted.clear()
        return wanted

    def receive_rest_cancel_all(
        self, request_id: int, now: int, *, code: int | None = None, message: str = ""
    ) -> None:
        """The outcome of a REST cancel-all: done (``code`` None) or refused with ``code``.

        The orders' own cancel events still come over the WebSocket."""
        req = self._pending.get(request_id)
        if req is None or req.kind is not _K.CANCEL_ALL:
            return
        if code is None:
            self._resolve_request(req, Outcome.OK, now, "canceled over REST")
        else:
            self._resolve_request(req, Outcome.ERROR, now, message, code=code)


    def _want_fills(self, rec: OrderRecord, venue_filled: int) -> None:
        coid = rec.client_order_id
        if venue_filled > self.recovery.wanted.get(coid, 0):
            self.recovery.wanted[coid] = venue_filled

    def _check_fills(self, rec: OrderRecord) -> None:
        """Ask REST for ``rec``'s fills once, none being known missing: a replace whose `r`
        never came may have hidden a fill of the order it replaced (a replacement that starts
        fresh counts none of them)."""
        self.recovery.wanted.setdefault(rec.client_order_id, rec.filled_qty)

    @property
    def missing_fills(self) -> bool:
        """True while some fill is known to be missing (see :meth:`fills_wanted`)."""
        return bool(self.recovery.wanted)

    def fills_wanted(self) -> FillsWanted | None:
        """What to fetch from REST ``/fills``, or None when no fill is known to be missing."""
        if not self.recovery.wanted:
            return None
        start = None
        missing = 0
        for coid, target in self.recovery.wanted.items():
            rec = self._get(coid)
            if rec is None:
                continue
            missing += max(0, target - rec.filled_qty)
            begin = rec.last_fill_ns or rec.ts_init
            start = begin if start is None else min(start, begin)
        return FillsWanted(
            start_ns=max(0, (start or 0) - FILL_WINDOW_MARGIN_NS),
            client_order_ids=tuple(self.recovery.wanted),
            missing_qty=missing,
        )

    def receive_fills(self, fills: Iterable[FillInfo], now: int, *, final: bool = False) -> int:
        """Apply fills fetched from REST; each trade id is delivered once. Returns how many.

        With ``final`` the fetch is over: orders still short of the venue's filled quantity
        end anyway (their remaining fills stay unknown).
        """
        delivered = 0
        ordered = sorted(fills, key=lambda f: (parse_rfc3339_ns(f.timestamp), f.trade_id))
        for fill in ordered:
            rec = self._find(fill.order_id, None) if fill.order_id is not None else None
            if rec is None or rec.has_trade(fill.trade_id):
                continue
            if rec.is_terminal and rec.filled_qty >= rec.quantity:
                continue
            delivered += 1
            self._apply_rest_fill(rec, fill, now)
        for coid in list(self.recovery.wanted):
            rec = self._get(coid)
            if rec is None or rec.filled_qty >= self.recovery.wanted[coid] or final:
                del self.recovery.wanted[coid]
                self._release_end(coid, now)
        if self.resync.current is not None:
            self.resync.current.fills += delivered
            self._maybe_finish_resync(now)
        return delivered

    def _apply_rest_fill(self, rec: OrderRecord, fill: FillInfo, now: int) -> None:
        ts_event = parse_rfc3339_ns(fill.timestamp)
        coid = rec.client_order_id
        oid = fill.order_id
        moved = (
            oid is not None
            and oid != rec.venue_order_id
            and oid not in rec.prior_venue_order_ids
            and rec.venue_order_id is not None
        )
        if moved:
            # A fill of a newer venue order of this one (its id came in a replace's reply;
            # the `r` never did): the order lives there now, with a size only the venue
            # knows. It does not end here: the venue is asked (or the next login tells).
            assert oid is not None
            self.registry.move(rec, oid)
            self._query_status(rec, now, by_venue_id=True)
        if (
            fill.order_id != rec.venue_order_id
            and fill.order_id in rec.prior_venue_order_ids
            and self.recovery.wanted.get(coid, 0) < rec.filled_qty + fill.quantity
        ):
            # A fill of an order this one replaced, that the venue's count of the current
            # order leaves out: the replacement started fresh (its `q` is what was left), so
            # the fill belongs to its base, and the order's quantity grows with it.
            self._base[coid] = rec.carried_qty = self._base.get(coid, 0) + fill.quantity
            rec.quantity += fill.quantity
        rec.add_trade(fill.trade_id)
        rec.filled_qty += fill.quantity
        rec.quantity = max(rec.quantity, rec.filled_qty)  # a replace we never saw raised it
        rec.last_fill_ns = max(rec.last_fill_ns, ts_event)
        rec.ts_last = now
        complete = rec.filled_qty >= rec.quantity and not moved
        if not rec.is_terminal:
            rec.move_to(_S.PARTIALLY_FILLED)
        self._changed_record(rec)
        self._emit(
            ev.OrderFilled(
                **order_meta(rec, now, ts_event, fill.order_id),
                trade_id=fill.trade_id,
                side=rec.side,
                order_type=rec.order_type,
                last_qty=fill.quantity,
                last_price=fill.price,
                liquidity_side=LiquiditySide.TAKER if fill.is_taker else LiquiditySide.MAKER,
                filled_qty=rec.filled_qty,
                leaves_qty=max(0, rec.quantity - rec.filled_qty),
                quantity=rec.quantity,
                is_final=complete,
                fee=fill.fee,
            )
        )
        if complete and not rec.is_terminal and rec.client_order_id not in self.recovery.held_ends:
            rec.move_to(_S.FILLED)
            self._finish(rec)

    def _release_end(self, coid: str, now: int) -> None:
        held = self.recovery.held_ends.pop(coid, None)
        rec = self._get(coid)
        if held is None or rec is None or rec.is_terminal:
            return
        target, reason, text, ts_event = held
        self._end(rec, target, now, ts_event, reason, text)


