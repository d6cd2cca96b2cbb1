"""The awaitable order methods: each sends a command and returns the venue's answer, or raises
the typed error that says why there is none.

:class:`AwaitingOrders` owns no state: it sends through the :class:`Submitter` and the client's
journaled send, and waits with the :class:`~axorders.client.waiters.Waiters`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from axorders import events as ev
from axorders.client.submitting import Submitter
from axorders.client.waiters import Waiters, Watch, _refusal
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
    AxOrdersError,
    CancelRejectedError,
    ConnectionLostError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    ReplaceRejectedError,
    RequestRejectedError,
)
from axorders.model import OrderStatus, RequestId
from axorders.results import OrderResult
from axorders.session import OrdersSession
from axorders.state import OrderRecord

__all__ = ["AwaitingOrders"]

_UNDECIDED: Final = frozenset({OrderStatus.PENDING, OrderStatus.UNKNOWN})
"""An order in these states has no word from the venue yet."""


def _status_unknown(
    watch: Watch, client_order_id: str | None, rid: int, resolved: ev.RequestResolved
) -> OrderStatusUnknownError:
    """The error of a wait that ended before the venue said what became of the order."""
    reason = ""
    for event in watch.events:
        if type(event) is ev.OrderStatusUnknown:
            reason = event.reason
    if not reason:
        reason = f"VENUE_ERROR_{resolved.code}" if resolved.code is not None else "NO_ANSWER"
    return OrderStatusUnknownError(
        request_id=rid, client_order_id=client_order_id, reason=reason, code=resolved.code
    )


class AwaitingOrders:
    """``place_order``, ``cancel_order``, ``replace_order``, ``cancel_all``,
    ``get_open_orders`` and ``order_status`` of :class:`~axorders.client.OrdersClient`.

    Args:
        session: read for the orders' states (never fed: inputs go through the gate).
        submitter: sends places.
        send: the client's journaled send of any other command.
        waiters: the futures and watches.
    """

    def __init__(
        self,
        session: OrdersSession,
        submitter: Submitter,
        send: Callable[[Command], RequestId | None],
        waiters: Waiters,
    ) -> None:
        self._session = session
        self._submitter = submitter
        self._send = send
        self._waiters = waiters

    @property
    def request_timeout(self) -> float:
        return self._waiters.request_timeout

    async def place(self, command: PlaceOrder, timeout: float | None) -> OrderResult:
        """Send a place and wait for the venue's answer (see :meth:`OrdersClient.place_order`)."""
        client_order_id = command.client_order_id
        waiters = self._waiters
        wait = timeout or self.request_timeout
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        watch = waiters.watch([client_order_id])
        drops = waiters.drops
        session = self._session
        try:
            rid = await self._submitter.submit(command)
            if rid is None:
                rec = self._session.order(client_order_id)
                if rec is not None and rec.status is OrderStatus.ARMED:
                    return OrderResult.from_record(rec)
                raise self._rejection(watch, client_order_id, None, None)
            resolved = await waiters.resolution(rid, timeout, drops)
            if resolved.outcome is ev.RequestOutcome.UNKNOWN:
                # An ambiguous answer is no verdict: the venue may hold the order. The
                # session asks it; its word (an accept, fills, or a definitive reject) ends
                # the wait, or the time left runs out.
                def decided() -> bool:
                    rec = session.order(client_order_id)
                    return rec is None or rec.status not in _UNDECIDED

                if not await waiters.settle(watch, max(0.0, end - loop.time()), decided):
                    raise _status_unknown(watch, client_order_id, rid, resolved)
            elif resolved.outcome is not ev.RequestOutcome.OK:
                raise self._rejection(watch, client_order_id, rid, resolved)

            def answered() -> bool:
                rec = session.order(client_order_id)
                return rec is None or rec.status is not OrderStatus.PENDING

            if not await waiters.settle(watch, wait, answered) and waiters.drops != drops:
                raise ConnectionLostError(
                    f"order {client_order_id!r}: the venue took it, then the connection"
                    " dropped before its state was known",
                    reached_venue=True,
                    request_id=rid,
                )
            rec = session.order(client_order_id)
            if rec is None or rec.status is OrderStatus.REJECTED:
                raise self._rejection(watch, client_order_id, rid, resolved)
            if rec.status is OrderStatus.UNKNOWN:
                raise _status_unknown(watch, client_order_id, rid, resolved)
            return OrderResult.from_record(rec, rid)
        finally:
            waiters.unwatch(watch)

    @staticmethod
    def _rejection(
        watch: Watch,
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
    async def cancel(
        self, client_order_id: str | None, venue_order_id: str | None, timeout: float | None
    ) -> OrderResult:
        """Cancel one order and wait until the venue confirms (see
        :meth:`OrdersClient.cancel_order`)."""
        rid, rec, resolved, got, name = await self._change(
            "cancel",
            client_order_id,
            venue_order_id,
            timeout,
            CancelOrder(client_order_id, venue_order_id),
            (ev.CancelRejected,),
        )
        no = got if isinstance(got, ev.CancelRejected) else None
        if no is not None or resolved.outcome is ev.RequestOutcome.ERROR:
            raise _refusal(CancelRejectedError, name, no, resolved, rec, rid)
        assert rec is not None
        return OrderResult.from_record(rec, rid)

    async def replace(
        self,
        client_order_id: str | None,
        venue_order_id: str | None,
        price: Decimal | str | float | None,
        quantity: int | Decimal | str | None,
        timeout: float | None,
    ) -> OrderResult:
        """Replace an order's price and/or quantity and wait until it took effect (see
        :meth:`OrdersClient.replace_order`)."""
        rid, rec, resolved, got, name = await self._change(
            "replace",
            client_order_id,
            venue_order_id,
            timeout,
            ReplaceOrder(client_order_id, venue_order_id, price, quantity),
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
        command: Command,
        answers: tuple[type[ev.Event], ...],
    ) -> tuple[RequestId, OrderRecord | None, ev.RequestResolved, ev.Event | None, str]:
        """Submit a cancel or a replace and wait for its outcome: the request's answer, then
        (when the venue took it) the first of ``answers`` among the order's events, or its end.

        Returns the request id, the order, the answer, the event found and the request's name.
        """
        wait = timeout or self.request_timeout
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        waiters = self._waiters
        tracked = self._submitter.tracked
        known = tracked(client_order_id, venue_order_id)
        coid = client_order_id or (known.client_order_id if known is not None else None)
        watch = waiters.watch([coid] if coid is not None else [])
        drops = waiters.drops
        try:
            rid = self._send(command)
            assert rid is not None
            rec = tracked(client_order_id, venue_order_id)
            name = f"{what} of {coid if coid is not None else venue_order_id!r}"
            resolved = await waiters.resolution(rid, timeout, drops)

            def answer() -> ev.Event | None:
                for event in watch.events:
                    if type(event) in answers:
                        return event
                return None

            def done() -> bool:
                return (rec is not None and rec.is_terminal) or answer() is not None

            if resolved.outcome is ev.RequestOutcome.OK:
                if not await waiters.settle(watch, wait, done):
                    raise waiters.unsettled(name, rid, drops, wait)
            elif resolved.outcome is ev.RequestOutcome.UNKNOWN and not await waiters.settle(
                watch, max(0.0, end - loop.time()), done
            ):
                # Ambiguous: the venue may have acted on it, and had not said so in time.
                raise _status_unknown(watch, coid, rid, resolved)
            return rid, rec, resolved, answer(), name
        finally:
            waiters.unwatch(watch)

    async def cancel_all(self, symbol: str | None, timeout: float | None) -> list[OrderResult]:
        """Cancel every open order (of ``symbol``) and wait until the venue has canceled
        them (see :meth:`OrdersClient.cancel_all`)."""
        wait = timeout or self.request_timeout
        session = self._session
        waiters = self._waiters
        wanted = session.instrument(symbol).symbol if symbol is not None else None
        live = [
            rec for rec in session.orders() if not rec.is_terminal and wanted in (None, rec.symbol)
        ]
        watch = waiters.watch([rec.client_order_id for rec in live])
        drops = waiters.drops
        try:
            rid = self._send(CancelAllOrders(symbol))
            assert rid is not None
            resolved = await waiters.resolution(rid, timeout, drops)
            if resolved.outcome is ev.RequestOutcome.ERROR:
                raise _refusal(CancelRejectedError, "cancel-all", None, resolved, None, rid)
            await waiters.settle(watch, wait, lambda: all(rec.is_terminal for rec in live))
            return [
                OrderResult.from_record(rec, rid)
                for rec in live
                if rec.status is OrderStatus.CANCELED
            ]
        finally:
            waiters.unwatch(watch)

    async def open_orders(self, timeout: float | None) -> list[ev.OrderSnapshot]:
        """The venue's open orders (see :meth:`OrdersClient.get_open_orders`)."""
        answer = await self._waiters.ask(QueryOpenOrders(), timeout)
        if isinstance(answer, ev.RequestResolved):
            raise RequestRejectedError(answer.code or 0, answer.message or answer.outcome.value)
        assert isinstance(answer, ev.OpenOrdersReceived)
        return list(answer.orders)

    async def status(
        self, client_order_id: str | None, venue_order_id: str | None, timeout: float | None
    ) -> ev.OrderStatusReport:
        """The venue's status of one order (see :meth:`OrdersClient.order_status`)."""
        answer = await self._waiters.ask(QueryOrderStatus(client_order_id, venue_order_id), timeout)
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
