"""How a venue frame finds its order: look-up by venue id or ``cid``, adoption of orders nobody
here placed, revival of orders ended by a local verdict, and replaces learned from events."""

from __future__ import annotations

from axorders import events as ev
from axorders.model import OrderStatus, OrderType, cid_for
from axorders.session.base import SessionBase, order_meta, tif
from axorders.session.values import NS, S
from axorders.state import OrderRecord
from axorders.wire import orders as w

_S = S


class OrderTracking(SessionBase):
    """Finds (or adopts, or revives) the record a venue frame is about."""

    def _order_for(
        self, body: w.OrderBody, now: int, ack: bool = False, fill: int = 0
    ) -> OrderRecord | None:
        """The record an event's order belongs to; unknown orders are adopted as external
        (None past the bound on those). An order ended by a local verdict is revived.

        The handlers look a live order at its current venue id up themselves (the common
        case, inlined there) and call this for everything else."""
        oid = body.venue_order_id
        rec = self._find(oid, body.cid)
        if rec is not None:
            if rec.is_terminal:
                if rec.client_order_id not in self._verdicts:
                    return rec
                self._revive(rec, OrderStatus.from_wire(body.status), oid, now, accept=not ack)
            if rec.venue_order_id != oid:
                if rec.venue_order_id is None:
                    self._learn_oid(rec, oid, now)
                elif oid not in rec.prior_venue_order_ids:
                    self._follow_replace(rec, body, now, fill)
            return rec
        return self._adopt(body, now)

    def _revive(
        self, rec: OrderRecord, state: OrderStatus, oid: str | None, now: int, *, accept: bool
    ) -> None:
        """Venue evidence names an order ended by a local verdict: the venue's word wins. The
        order is live again (PENDING, or ACCEPTED with ``accept``)."""
        coid = rec.client_order_id
        verdict = self._verdicts.pop(coid, "")
        rec.verdict = None
        old = rec.status
        self.registry.forget(rec)
        rec.status = _S.PENDING
        rec.ts_last = now
        self.registry.track(rec)
        if oid is not None and rec.venue_order_id is None:
            self._learn_oid(rec, oid, now)
        self.counters.corrections += 1
        self._changed_record(rec)
        self._emit(
            ev.OrderStateCorrected(
                **order_meta(rec, now, now),
                old_state=old,
                new_state=state,
                reason=f"the venue reports the order after the local verdict {verdict}",
            )
        )
        if accept:
            rec.move_to(_S.ACCEPTED)
            self._emit_accepted_from(rec, now)

    def _follow_replace(
        self, rec: OrderRecord, body: w.OrderBody, now: int, fill: int = 0
    ) -> None:
        """An event names a newer venue id of this order (same cid): a replace whose ``r``
        never reached us. Move the order to it, as the ``r`` would have. ``fill`` is the
        quantity of the execution the event carries (counted in its ``xq``, not applied yet)."""
        old = rec.venue_order_id
        assert old is not None
        self.registry.move(rec, body.venue_order_id)
        rec.price = body.price
        base = self._new_base(rec, body.filled_quantity - fill, venue_qty=body.quantity)
        rec.quantity = max(base + body.quantity, rec.filled_qty)
        self._check_fills(rec)
        rec.ts_last = now
        if rec.status is _S.PENDING or rec.status is _S.UNKNOWN:
            rec.move_to(_S.ACCEPTED)
        self._changed_record(rec)
        self._emit_replaced(rec, old, now, body.ts * NS + body.tn)

    def _new_base(
        self, rec: OrderRecord, venue_filled: int, carried: int = 0, venue_qty: int = 0
    ) -> int:
        """A new venue order replaced ``rec``'s, with ``venue_filled`` filled on it when it
        was made and ``venue_qty`` its quantity (0: not known). It either carries the filled
        quantity on (``xq`` continues, ``q`` is the whole quantity) or starts fresh (``xq`` =
        0, ``q`` = what is left): then what was filled before is its base."""
        coid = rec.client_order_id
        # What was filled before it: at least what we counted, and at least the base of the
        # order it replaced (a fill of which we may have missed).
        carried = max(carried, rec.filled_qty, self._base.get(coid, 0) if self._base else 0)
        base = carried if venue_filled < carried else 0
        if carried and venue_qty:
            # Once the new order has filled past what was carried, its `xq` alone no longer
            # tells; the quantity a replace in flight asked for does.
            asked = self.registry.asked.get(rec.venue_order_id or "")
            wanted = [asked] if asked else [r.quantity for r in self.requests.replaces_of(coid)]
            for quantity in reversed(wanted):
                if quantity == venue_qty:
                    base = 0
                    break
                if quantity - carried == venue_qty:
                    base = carried
                    break
        if base:
            self._base[coid] = base
        elif self._base:
            self._base.pop(coid, None)
        rec.carried_qty = base  # journaled with the record
        return base

    def _adopt(self, body: w.OrderBody, now: int) -> OrderRecord | None:
        coid = f"CID-{body.cid}" if body.cid is not None else f"EXT-{body.venue_order_id}"
        externals = self.registry.externals
        if len(externals) >= self.max_external_orders and coid not in externals:
            self.counters.externals_dropped += 1
            return None
        rec = OrderRecord(
            client_order_id=coid,
            cid=body.cid if body.cid is not None else cid_for(coid),
            symbol=body.symbol,
            side=body.side,
            order_type=OrderType.LIMIT,
            quantity=body.quantity,
            price=body.price,
            time_in_force=tif(body.time_in_force),
            post_only=bool(body.post_only),
            tag=body.tag,
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.PENDING,
            venue_order_id=body.venue_order_id,
            external=True,
        )
        old = self._orders.get(coid) or self.registry.recent.get(coid)
        if old is not None:  # an adopted id seen again: forget the stale record
            self.registry.forget(old)
        self.registry.track(rec)
        externals.add(coid)
        self._changed_record(rec)
        self._emit(ev.ExternalOrderDiscovered(ts_init=now, order=self._snapshot(body, coid)))
        if self.resync.current is not None:
            self.resync.current.external += 1
        return rec


