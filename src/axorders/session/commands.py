"""Commands into frames: local validation, place, cancel, replace, cancel-all, status; orders
placed elsewhere registered by hand; armed STOP_LIMIT orders and their trigger."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from axorders import events as ev
from axorders.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    QueryOpenOrders,
    QueryOrderStatus,
    ReplaceOrder,
)
from axorders.exceptions import (
    DuplicateOrderError,
    InvalidOrderError,
    InvalidStateError,
    UnknownInstrumentError,
    UnknownOrderError,
)
from axorders.model import (
    Instrument,
    OrderType,
    RequestId,
    Side,
    TimeInForce,
    cid_for,
)
from axorders.session.base import SessionBase, order_meta
from axorders.session.requests import Request
from axorders.session.values import K, Outcome, RestCancelAll, RestStatusQuery, S
from axorders.state import OrderRecord
from axorders.wire import orders as w

_K = K
_S = S
_WIDE: Final = decimal.Context(prec=100)  # quantizing a price to its tick never rounds here
_TAG_MAX: Final = 10


class Commands(SessionBase):
    """Commands in, frames out: every command is validated locally before anything is queued.

    Keeps no state of its own: a command's record goes to the registry, its request to the
    request book, its frame to the output queue."""

    def instrument(self, symbol: str) -> Instrument:
        """The cached instrument, or :class:`UnknownInstrumentError`."""
        found = self._instruments.get(symbol)
        if found is None:
            raise UnknownInstrumentError(symbol)
        return found

    def send(self, command: Command, now: int) -> RequestId | None:
        """Validate ``command`` and queue its frame; return its request id.

        An armed STOP_LIMIT returns None (nothing is sent before its trigger).

        Raises:
            InvalidOrderError: the command failed local validation (nothing was sent).
            DuplicateOrderError: the client order id or its cid is already in use.
            UnknownOrderError: a cancel/replace/status names no known order.
            InvalidStateError: not connected.
        """
        if isinstance(command, PlaceOrder):
            return self._place(command, now)
        if isinstance(command, CancelOrder):
            return self._cancel(command, now)
        if isinstance(command, ReplaceOrder):
            return self._replace(command, now)
        self._require_connected()
        if isinstance(command, CancelAllOrders):
            return self._cancel_all(command, now)
        if isinstance(command, QueryOpenOrders):
            req = self.requests.new(_K.OPEN_ORDERS, now)
            self._write(w.OpenOrdersRequest(request_id=req.rid))
            return RequestId(req.rid)
        if isinstance(command, QueryOrderStatus):
            return self._status(command, now)
        raise TypeError(f"not a command: {command!r}")

    def _require_connected(self) -> None:
        if not self._connected:
            raise InvalidStateError("not connected to the venue")

    def _place(self, cmd: PlaceOrder, now: int) -> RequestId | None:
        try:
            rec = self._validate_place(cmd, now)
        except InvalidOrderError as exc:
            self.reject(cmd, exc.reason, str(exc), now)
            raise
        if rec.order_type is OrderType.STOP_LIMIT:
            self.registry.track(rec)
            self.registry.arm(rec)
            self._changed_record(rec)
            return None  # held until a trigger strategy calls trigger_stop()
        self._require_connected()
        self.registry.track(rec)
        self._changed_record(rec)  # journaled before its frame leaves
        return RequestId(self._send_place(rec, now))

    def _validate_place(self, cmd: PlaceOrder, now: int) -> OrderRecord:
        coid = cmd.client_order_id
        if not isinstance(coid, str) or not coid.strip():
            raise InvalidOrderError("client_order_id", "MISSING", "must be a non-empty string")
        inst = self.instrument(cmd.symbol)
        side = Side.parse(cmd.side)
        otype = OrderType.parse(cmd.order_type)
        tif = TimeInForce.parse(cmd.time_in_force)
        quantity = inst.check_quantity(cmd.quantity)
        if cmd.price is None:
            what = "an aggressive limit price" if otype is OrderType.MARKET else "a limit price"
            raise InvalidOrderError("price", "MISSING_PRICE", f"{otype.value} needs {what}")
        price = self._plain(inst.symbol, inst.check_price(cmd.price))
        trigger: Decimal | None = None
        if otype is OrderType.STOP_LIMIT:
            if cmd.trigger_price is None:
                raise InvalidOrderError(
                    "trigger_price", "MISSING_TRIGGER", "STOP_LIMIT needs a trigger price"
                )
            trigger = self._plain(inst.symbol, inst.check_price(cmd.trigger_price, "trigger_price"))
        elif cmd.trigger_price is not None:
            raise InvalidOrderError(
                "trigger_price", "UNEXPECTED_TRIGGER", f"{otype.value} takes no trigger price"
            )
        if otype is OrderType.MARKET:
            if cmd.post_only:
                raise InvalidOrderError(
                    "post_only", "POST_ONLY_MARKET", "a MARKET order cannot be post-only"
                )
            tif = TimeInForce.IOC
        elif otype is OrderType.STOP_LIMIT and cmd.post_only:
            raise InvalidOrderError(
                "post_only", "POST_ONLY_STOP", "a STOP_LIMIT order cannot be post-only"
            )
        tag = cmd.tag
        if tag is not None and (not tag.isalnum() or not tag.isascii() or len(tag) > _TAG_MAX):
            raise InvalidOrderError("tag", "INVALID_TAG", "at most 10 ASCII letters or digits")
        if coid in self._orders or coid in self.registry.recent:
            raise DuplicateOrderError(f"client order id {coid!r} is already in use")
        cid = cid_for(coid)
        other = self._by_cid.get(cid)
        if other is not None:
            raise DuplicateOrderError(
                f"client order id {coid!r} maps to cid {cid}, already used by live order {other!r}"
            )
        return OrderRecord(
            client_order_id=coid,
            cid=cid,
            symbol=inst.symbol,
            side=side,
            order_type=otype,
            quantity=quantity,
            price=price,
            trigger_price=trigger,
            time_in_force=tif,
            post_only=bool(cmd.post_only),
            tag=tag,
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=cmd.strategy_id or self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.ARMED if otype is OrderType.STOP_LIMIT else _S.PENDING,
        )

    def reject(self, cmd: PlaceOrder, reason: str, text: str, now: int) -> None:
        """Reject an order locally (nothing is sent): emits OrderRejected, origin LOCAL."""
        self._emit(
            ev.OrderRejected(
                ts_init=now,
                client_order_id=str(cmd.client_order_id),
                venue_order_id=None,
                account_id=self.account_id,
                trader_id=self.trader_id,
                strategy_id=cmd.strategy_id or self.strategy_id,
                symbol=str(cmd.symbol),
                ts_event=now,
                reason=reason,
                text=text,
                origin=ev.RejectOrigin.LOCAL,
            )
        )

    def _send_place(self, rec: OrderRecord, now: int) -> int:
        req = self.requests.new(_K.PLACE, now, rec.client_order_id)
        rec.place_request_id = req.rid
        assert rec.price is not None
        self._write(
            w.PlaceRequest(
                request_id=req.rid,
                symbol=rec.symbol,
                side=rec.side,
                quantity=rec.quantity,
                price=self._plain(rec.symbol, rec.price),
                time_in_force=rec.time_in_force.value,
                post_only=rec.post_only,
                tag=rec.tag,
                cid=rec.cid,
            )
        )
        return req.rid

    def _cancel(self, cmd: CancelOrder, now: int) -> RequestId:
        rec = self._resolve(cmd.client_order_id, cmd.venue_order_id)
        if rec.is_terminal or rec.status is _S.ARMED:
            req = self.requests.new(_K.CANCEL, now, rec.client_order_id)
            if rec.status is _S.ARMED:
                self.registry.disarm(rec)
                self._end(rec, _S.CANCELED, now, now, "USER_REQUESTED", "canceled before trigger")
                self._resolve_request(req, Outcome.LOCAL, now, "canceled locally")
            else:
                self._refuse(req, rec, now)
            return RequestId(req.rid)
        self._require_connected()
        req = self.requests.new(_K.CANCEL, now, rec.client_order_id)

        def build(oid: str) -> bytes:
            req.venue_order_id = oid
            return w.encode(w.CancelRequest(request_id=req.rid, venue_order_id=oid))

        self._send_or_defer(rec, req, build)
        return RequestId(req.rid)

    def _replace(self, cmd: ReplaceOrder, now: int) -> RequestId:
        rec = self._resolve(cmd.client_order_id, cmd.venue_order_id)
        inst = self.instrument(rec.symbol)
        if cmd.price is None and cmd.quantity is None:
            raise InvalidOrderError("price", "NOTHING_TO_REPLACE", "give a new price or quantity")
        price = None
        if cmd.price is not None:
            price = self._plain(inst.symbol, inst.check_price(cmd.price))
        quantity = inst.check_quantity(cmd.quantity) if cmd.quantity is not None else None
        if quantity is not None and quantity <= rec.filled_qty:
            raise InvalidOrderError(
                "quantity",
                "BELOW_FILLED",
                f"{quantity} must exceed the {rec.filled_qty} contracts already filled",
            )
        req = self.requests.new(_K.REPLACE, now, rec.client_order_id)
        req.quantity = quantity if quantity is not None else rec.quantity
        if rec.is_terminal:
            self._refuse(req, rec, now)
            return RequestId(req.rid)
        if rec.status is _S.ARMED:
            old_price = rec.price
            rec.price = price if price is not None else old_price
            rec.quantity = quantity if quantity is not None else rec.quantity
            self._changed_record(rec)
            self._emit_replaced(rec, "", now, now)
            self._resolve_request(req, Outcome.LOCAL, now, "armed stop amended")
            return RequestId(req.rid)
        if not self._connected:
            del self._pending[req.rid]
            self._require_connected()

        def build(oid: str) -> bytes:
            req.venue_order_id = oid
            return w.encode(
                w.ReplaceRequest(
                    request_id=req.rid, venue_order_id=oid, price=price, quantity=quantity
                )
            )

        self.requests.note_replace(rec.client_order_id, req.rid)
        self._send_or_defer(rec, req, build)
        return RequestId(req.rid)

    def _cancel_all(self, cmd: CancelAllOrders, now: int) -> RequestId:
        if cmd.symbol is not None:
            self.instrument(cmd.symbol)
        for symbol in [cmd.symbol] if cmd.symbol is not None else list(self.registry.armed):
            for coid in list(self.registry.armed.get(symbol, ())):
                rec = self._orders[coid]
                self.registry.disarm(rec)
                self._end(rec, _S.CANCELED, now, now, "USER_REQUESTED", "canceled before trigger")
        req = self.requests.new(_K.CANCEL_ALL, now)
        req.symbol = cmd.symbol
        if self.fallbacks.cancel_all:
            self.fallbacks.cancel_all_wanted[req.rid] = RestCancelAll(req.rid, cmd.symbol)
        else:
            self._write(w.CancelAllRequest(request_id=req.rid, symbol=cmd.symbol))
        return RequestId(req.rid)

    def _status(self, cmd: QueryOrderStatus, now: int) -> RequestId:
        if cmd.client_order_id is None and cmd.venue_order_id is None:
            raise InvalidOrderError("client_order_id", "MISSING", "give a client or venue id")
        coid = cmd.client_order_id
        rec = self._find(cmd.venue_order_id, None) if cmd.venue_order_id is not None else None
        if coid is not None and rec is None:
            rec = self._get(coid)
        req = self.requests.new(_K.STATUS, now, rec.client_order_id if rec else coid)
        if cmd.venue_order_id is not None:
            req.venue_order_id = cmd.venue_order_id
        else:
            assert coid is not None
            req.cid = rec.cid if rec is not None else cid_for(coid)
        self._write_status(req)
        return RequestId(req.rid)

    def _write_status(self, req: Request) -> None:
        """Send a status request over the WebSocket, or queue it for REST after a fallback."""
        if self.fallbacks.status:
            self.fallbacks.status_wanted[req.rid] = RestStatusQuery(
                req.rid, req.venue_order_id, None if req.venue_order_id is not None else req.cid
            )
        elif req.venue_order_id is not None:
            self._write(w.StatusRequest(request_id=req.rid, venue_order_id=req.venue_order_id))
        else:
            self._write(w.StatusRequest(request_id=req.rid, cid=req.cid))

    def _plain(self, symbol: str, price: Decimal) -> Decimal:
        """``price`` with the exponent of the instrument's tick: plain digits on the wire."""
        inst = self._instruments.get(symbol)
        exponent = inst.tick_size.as_tuple().exponent if inst is not None else 0
        if not isinstance(exponent, int) or exponent > 0:
            exponent = 0
        if price.as_tuple().exponent == exponent:
            return price
        try:
            return price.quantize(Decimal(1).scaleb(exponent), context=_WIDE)
        except decimal.InvalidOperation:
            raise InvalidOrderError("price", "INVALID_PRICE", f"{price} is too large") from None

    def _resolve(self, client_order_id: str | None, venue_order_id: str | None) -> OrderRecord:
        if client_order_id is None and venue_order_id is None:
            raise InvalidOrderError(
                "client_order_id", "MISSING", "give a client order id or a venue order id"
            )
        rec = None
        if client_order_id is not None:
            rec = self._get(client_order_id)
        if rec is None and venue_order_id is not None:
            rec = self._find(venue_order_id, None)
        if rec is None and client_order_id is not None:
            # Placed by another process: adopted under CID-<cid>; take the caller's id for it.
            rec = self._find(None, cid_for(client_order_id))
            if rec is not None and rec.external and not rec.is_terminal:
                self._rename(rec, client_order_id)
        if rec is None:
            name = client_order_id if client_order_id is not None else venue_order_id
            raise UnknownOrderError(f"no tracked order {name!r}")
        return rec

    def _rename(self, rec: OrderRecord, client_order_id: str) -> None:
        """Give a live adopted order the client order id its cid was made from."""
        old = rec.client_order_id
        if self.registry.rename(rec, client_order_id):
            self._changed.pop(old, None)
            self._changed_record(rec)

    def _send_or_defer(
        self, rec: OrderRecord, req: Request, build: Callable[[str], bytes]
    ) -> None:
        oid = rec.venue_order_id
        if oid is not None:
            self._out.append(build(oid))
            return
        # The venue answers 409 to a cancel before the ack: wait for the venue id instead.
        self.requests.defer(rec.client_order_id, req, build)


    def register_external_order(
        self,
        *,
        client_order_id: str,
        venue_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int,
        price: Decimal | str,
        now: int,
        strategy_id: str | None = None,
        filled_qty: int = 0,
        cid: int | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
    ) -> OrderRecord:
        """Track an order placed elsewhere so that its events resolve to ``client_order_id``."""
        inst = self.instrument(symbol)
        if client_order_id in self._orders:
            raise DuplicateOrderError(f"client order id {client_order_id!r} is already tracked")
        rec = OrderRecord(
            client_order_id=client_order_id,
            cid=cid if cid is not None else cid_for(client_order_id),
            symbol=inst.symbol,
            side=Side.parse(side),
            order_type=OrderType.LIMIT,
            quantity=int(quantity),
            price=Decimal(price),
            time_in_force=TimeInForce.parse(time_in_force),
            account_id=self.account_id,
            trader_id=self.trader_id,
            strategy_id=strategy_id or self.strategy_id,
            ts_init=now,
            ts_last=now,
            status=_S.PARTIALLY_FILLED if filled_qty else _S.ACCEPTED,
            venue_order_id=venue_order_id,
            filled_qty=filled_qty,
            external=True,
        )
        self.registry.track(rec)
        self._changed_record(rec)
        return rec



    # -----------------------------------------------------------------------------------------
    # Armed STOP_LIMIT orders (the trigger strategy is the caller's, see axorders.client.stops).

    def armed_stops(self, symbol: str | None = None) -> list[OrderRecord]:
        """The armed STOP_LIMIT orders (of ``symbol``), oldest first."""
        armed = self.registry.armed
        orders = self._orders
        if symbol is not None:
            return [orders[coid] for coid in armed.get(symbol, ())]
        return [orders[coid] for ids in armed.values() for coid in ids]

    def trigger_stop(
        self, client_order_id: str, now: int, market_price: Decimal
    ) -> RequestId | None:
        """The market crossed this armed stop's trigger at ``market_price``: send its limit.

        The record is journaled, the place frame queued and ``OrderTriggered`` emitted with the
        place's request id. None (and nothing done) when the order is not armed or the session
        is not connected.
        """
        rec = self._orders.get(client_order_id)
        if rec is None or rec.status is not _S.ARMED or not self._connected:
            return None
        trigger = rec.trigger_price
        assert trigger is not None
        self.registry.disarm(rec)
        rec.status = _S.PENDING
        rec.ts_last = now
        self._changed_record(rec)
        rid = self._send_place(rec, now)
        self._emit(
            ev.OrderTriggered(
                **order_meta(rec, now, now),
                trigger_price=trigger,
                market_price=market_price,
                request_id=rid,
            )
        )
        return RequestId(rid)
