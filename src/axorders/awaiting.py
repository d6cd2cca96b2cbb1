"""The awaitable order methods: each sends a command and returns the venue's answer, or raises
the typed error that says why there is none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from axorders import events as ev
from axorders.commands import QueryOpenOrders, QueryOrderStatus
from axorders.exceptions import (
    AxOrdersError,
    CancelRejectedError,
    ConnectionLostError,
    OrderNotFoundError,
    OrderRejectedError,
    ReplaceRejectedError,
    RequestRejectedError,
)
from axorders.model import OrderStatus, RequestId, Side
from axorders.ordering import OrderCommands
from axorders.results import OrderResult
from axorders.state import OrderRecord
from axorders.stream import _Watch
from axorders.waiters import Waiters, _refusal

__all__ = ["AwaitableOrders"]


class AwaitableOrders(OrderCommands, Waiters):
    """``place_order``, ``cancel_order``, ``replace_order``, ``cancel_all``,
    ``get_open_orders`` and ``order_status``."""

    async def place_order(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int | Decimal | str,
        price: Decimal | str | float | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> OrderResult:
        """Place an order and wait for the venue's answer: the order as the venue now has it.

        Takes the arguments of :meth:`submit_order`. The result's ``status`` is ACCEPTED for
        an order resting on the book, PARTIALLY_FILLED / FILLED when it traded at once,
        EXPIRED for an IOC (MARKET included) whose rest was canceled, and ARMED for a
        STOP_LIMIT, which the client holds until its trigger (nothing is sent yet).

        Raises:
            InvalidOrderError: bad input (nothing was sent).
            DuplicateOrderError: the client order id is in use.
            OrderRejectedError: the venue rejected the order (``reason``, ``code``), or a
                MARKET order found no liquidity (``reason`` ``NO_LIQUIDITY``, nothing sent).
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first (``reached_venue`` says
                whether the venue got the order).
        """
        wait = timeout or self.request_timeout
        watch = self._watch([client_order_id])
        drops = self._drops
        try:
            rid = await self.submit_order(
                client_order_id, symbol, side, quantity, price, **kwargs
            )
            if rid is None:
                rec = self.session.order(client_order_id)
                if rec is not None and rec.status is OrderStatus.ARMED:
                    return OrderResult.from_record(rec)
                raise self._rejection(watch, client_order_id, None, None)
            resolved = await self._resolution(rid, timeout, drops)
            if resolved.outcome is not ev.RequestOutcome.OK:
                raise self._rejection(watch, client_order_id, rid, resolved)

            def answered() -> bool:
                rec = self.session.order(client_order_id)
                return rec is None or rec.status is not OrderStatus.PENDING

            if not await self._settle(watch, wait, answered) and self._drops != drops:
                raise ConnectionLostError(
                    f"order {client_order_id!r}: the venue took it, then the connection"
                    " dropped before its state was known",
                    reached_venue=True,
                    request_id=rid,
                )
            rec = self.session.order(client_order_id)
            if rec is None or rec.status is OrderStatus.REJECTED:
                raise self._rejection(watch, client_order_id, rid, resolved)
            return OrderResult.from_record(rec, rid)
        finally:
            self._unwatch(watch)

    def _rejection(
        self,
        watch: _Watch,
        client_order_id: str,
        rid: int | None,
        resolved: ev.RequestResolved | None,
    ) -> AxOrdersError:
        """The error for a place that did not become an order."""
        rejected = None
        for event in watch.events:
            if type(event) is ev.OrderRejected:
                rejected = event
        if rejected is not None and rejected.reason == "LOST_IN_TRANSIT":
            return ConnectionLostError(
                f"order {client_order_id!r}: {rejected.text}", reached_venue=False, request_id=rid
            )
        if rejected is not None:
            return OrderRejectedError(
                f"order {client_order_id!r} rejected: {rejected.reason}: {rejected.text}",
                reason=rejected.reason,
                text=rejected.text,
                code=rejected.code,
                client_order_id=client_order_id,
                venue_order_id=rejected.venue_order_id,
                request_id=rid,
            )
        code = resolved.code if resolved is not None else None
        text = resolved.message if resolved is not None else ""
        reason = f"VENUE_ERROR_{code}" if code is not None else "UNKNOWN"
        return OrderRejectedError(
            f"order {client_order_id!r} rejected: {reason}: {text}",
            reason=reason,
            text=text,
            code=code,
            client_order_id=client_order_id,
            request_id=rid,
        )
    async def cancel_order(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        timeout: float | None = None,
    ) -> OrderResult:
        """Cancel one order (by client or venue order id) and wait until the venue confirms.

        Returns the order as it ended (status CANCELED; an armed STOP_LIMIT is canceled
        locally, nothing is sent).

        Raises:
            OrderNotFoundError: the order is unknown (to the client or the venue) or has
                already ended (``reason`` ``ORDER_ALREADY_ENDED``, ``status`` its end).
            CancelRejectedError: the venue refused the cancel for another reason.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        rid, rec, resolved, got, name = await self._change(
            "cancel",
            client_order_id,
            venue_order_id,
            timeout,
            lambda: self.submit_cancel(client_order_id, venue_order_id),
            (ev.CancelRejected,),
        )
        no = got if isinstance(got, ev.CancelRejected) else None
        if no is not None or resolved.outcome is ev.RequestOutcome.ERROR:
            raise _refusal(CancelRejectedError, name, no, resolved, rec, rid)
        assert rec is not None
        return OrderResult.from_record(rec, rid)

    async def replace_order(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        *,
        price: Decimal | str | float | None = None,
        quantity: int | Decimal | str | None = None,
        timeout: float | None = None,
    ) -> OrderResult:
        """Cancel-replace an open order's price and/or quantity and wait until it took effect.

        Returns the order with its new price, quantity and venue order id (an armed
        STOP_LIMIT is amended locally).

        Raises:
            InvalidOrderError: bad price or quantity (nothing was sent).
            OrderNotFoundError: the order is unknown or has already ended.
            ReplaceRejectedError: the venue refused the replace (e.g. a price outside the
                band); the order keeps its old price and quantity.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        rid, rec, resolved, got, name = await self._change(
            "replace",
            client_order_id,
            venue_order_id,
            timeout,
            lambda: self.submit_replace(
                client_order_id, venue_order_id, price=price, quantity=quantity
            ),
            (ev.OrderReplaced, ev.ReplaceRejected),
        )
        if resolved.outcome is ev.RequestOutcome.ERROR or not isinstance(got, ev.OrderReplaced):
            no = got if isinstance(got, ev.ReplaceRejected) else None
            raise _refusal(ReplaceRejectedError, name, no, resolved, rec, rid)
        assert rec is not None
        return OrderResult.from_record(rec, rid)

    async def _change(
        self,
        what: str,
        client_order_id: str | None,
        venue_order_id: str | None,
        timeout: float | None,
        submit: Callable[[], Awaitable[RequestId]],
        answers: tuple[type[ev.Event], ...],
    ) -> tuple[RequestId, OrderRecord | None, ev.RequestResolved, ev.Event | None, str]:
        """Submit a cancel or a replace and wait for its outcome: the request's answer, then
        (when the venue took it) the first of ``answers`` among the order's events, or its end.

        Returns the request id, the order, the answer, the event found and the request's name.
        """
        wait = timeout or self.request_timeout
        known = self._tracked(client_order_id, venue_order_id)
        coid = client_order_id or (known.client_order_id if known is not None else None)
        watch = self._watch([coid] if coid is not None else [])
        drops = self._drops
        try:
            rid = await submit()
            rec = self._tracked(client_order_id, venue_order_id)
            name = f"{what} of {coid if coid is not None else venue_order_id!r}"
            resolved = await self._resolution(rid, timeout, drops)

            def answer() -> ev.Event | None:
                for event in watch.events:
                    if type(event) in answers:
                        return event
                return None

            if resolved.outcome is ev.RequestOutcome.OK:

                def done() -> bool:
                    return (rec is not None and rec.is_terminal) or answer() is not None

                if not await self._settle(watch, wait, done):
                    raise self._unsettled(name, rid, drops, wait)
            return rid, rec, resolved, answer(), name
        finally:
            self._unwatch(watch)

    async def cancel_all(
        self, symbol: str | None = None, *, timeout: float | None = None
    ) -> list[OrderResult]:
        """Cancel every open order (of ``symbol``) and wait until the venue has canceled them.

        Returns the orders this canceled, as they ended (status CANCELED), in the order they
        were placed; an empty list when nothing was open. Armed STOP_LIMIT orders are
        canceled locally and included. An order that filled before the cancel reached it is
        not in the list.

        Raises:
            UnknownInstrumentError: ``symbol`` is not a known instrument.
            CancelRejectedError: the venue refused the request.
            RequestTimeoutError: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionLostError: the connection dropped first.
        """
        wait = timeout or self.request_timeout
        wanted = self.session.instrument(symbol).symbol if symbol is not None else None
        live = [
            rec
            for rec in self.session.orders()
            if not rec.is_terminal and wanted in (None, rec.symbol)
        ]
        watch = self._watch([rec.client_order_id for rec in live])
        drops = self._drops
        try:
            rid = await self.submit_cancel_all(symbol)
            resolved = await self._resolution(rid, timeout, drops)
            if resolved.outcome is ev.RequestOutcome.ERROR:
                raise _refusal(CancelRejectedError, "cancel-all", None, resolved, None, rid)
            await self._settle(watch, wait, lambda: all(rec.is_terminal for rec in live))
            return [
                OrderResult.from_record(rec, rid)
                for rec in live
                if rec.status is OrderStatus.CANCELED
            ]
        finally:
            self._unwatch(watch)

    async def get_open_orders(self, timeout: float | None = None) -> list[ev.OrderSnapshot]:
        """The venue's open orders, as the venue reports them.

        Raises:
            RequestTimeoutError: no answer in time.
            ConnectionLostError: the connection dropped before the answer.
            RequestRejectedError: the venue answered with an error.
        """
        answer = await self._ask(QueryOpenOrders(), timeout)
        if isinstance(answer, ev.RequestResolved):
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OpenOrdersReceived)
        return list(answer.orders)

    async def order_status(
        self,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
        timeout: float | None = None,
    ) -> ev.OrderStatusReport:
        """The venue's status of one order (open or ended), as the venue reports it.

        Raises:
            OrderNotFoundError: the venue has no such order (404).
            RequestRejectedError: the venue answered with another error.
            RequestTimeoutError: no answer in time.
            ConnectionLostError: the connection dropped before the answer.
        """
        answer = await self._ask(QueryOrderStatus(client_order_id, venue_order_id), timeout)
        if isinstance(answer, ev.RequestResolved):
            name = repr(client_order_id if client_order_id is not None else venue_order_id)
            if answer.code == 404:
                raise OrderNotFoundError(
                    f"order {name}: not found on this account",
                    code=404,
                    text=answer.message,
                    client_order_id=client_order_id,
                    venue_order_id=venue_order_id,
                    request_id=answer.request_id,
                )
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OrderStatusReport)
        return answer
