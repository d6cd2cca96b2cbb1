"""axorders through the reliability flow of :mod:`benchmarks.reliability`.

:func:`run` connects an :class:`~axorders.OrdersClient` to a simulator, drives the flow
through it and returns what its ``on_event`` callback reported (a
:class:`~benchmarks.reliability.Recorder`) and the run's timings; :func:`coid_map` names the
venue's orders by client order id (the ``cid`` is a documented function of it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.exceptions import AxOrdersError, InvalidStateError
from axorders.model import OrderStatus, cid_for
from benchmarks.common import SYMBOL
from benchmarks.reliability import Recorder, Step, drive, plan_orders, price_of

__all__ = ["AxSide", "coid_map", "run"]

_STATUS_UNKNOWN = ev.OrderStatusUnknown


class AxSide:
    """The flow's client steps on an :class:`OrdersClient` (see
    :class:`~benchmarks.reliability.ClientSide`)."""

    def __init__(self, info: dict[str, Any], recorder: Recorder) -> None:
        self.recorder = recorder
        self.client = OrdersClient(
            info["base_url"],
            api_key=info["api_key"],
            api_secret=info["api_secret"],
            heartbeat=1.0,
            request_timeout=5.0,
            event_queue=False,
            on_event=self.on_event,
        )

    def on_event(self, event: ev.Event) -> None:
        add = self.recorder.add
        if isinstance(event, ev.OrderFilled):
            add(
                "filled",
                event.client_order_id,
                oid=event.venue_order_id,
                tid=event.trade_id,
                qty=event.last_qty,
                px=str(event.last_price),
                side=event.side.value,
            )
        elif isinstance(event, ev.OrderAccepted):
            add("accepted", event.client_order_id, oid=event.venue_order_id)
        elif isinstance(event, ev.OrderCanceled):
            add("canceled", event.client_order_id, oid=event.venue_order_id)
        elif isinstance(event, ev.OrderExpired):
            add("expired", event.client_order_id, oid=event.venue_order_id)
        elif isinstance(event, ev.OrderRejected):
            add("rejected", event.client_order_id, oid=event.venue_order_id, reason=event.reason)
        elif isinstance(event, ev.OrderReplaced):
            add("replaced", event.client_order_id, oid=event.venue_order_id)
        elif isinstance(event, ev.OrderStateCorrected):
            add("corrected", event.client_order_id, state=event.new_state.value)
        elif isinstance(event, _STATUS_UNKNOWN):
            add("unknown", getattr(event, "client_order_id", None))
        elif isinstance(event, ev.Reconnected):
            self.recorder.notes["reconnects"] += 1
        elif isinstance(event, ev.Resynced):
            self.recorder.notes["resyncs"] += 1
            self.recorder.notes["fills recovered by resyncs"] += event.fills_recovered

    def is_active(self) -> bool:
        return self.client.is_active

    async def _send(self, what: str, call: Any) -> bool:
        """Send, retrying while a drop lands between the connection check and the send."""
        for _ in range(200):
            try:
                await call()
                return True
            except InvalidStateError:
                await asyncio.sleep(0.02)
            except AxOrdersError as exc:
                self.recorder.notes[f"{what} refused locally"] += 1
                logging.getLogger(__name__).debug("%s refused: %s", what, exc)
                return False
        self.recorder.notes[f"{what} never sent"] += 1
        return False

    async def place(self, step: Step) -> None:
        tif = "IOC" if step.kind == "ioc" else "GTC"
        ok = await self._send(
            "place",
            lambda: self.client.submit_order(
                step.coid,
                SYMBOL,
                "BUY" if step.side == "B" else "SELL",
                step.qty,
                price_of(step.ticks),
                time_in_force=tif,
            ),
        )
        if not ok:
            self.recorder.add("rejected", step.coid, reason="not sent")

    async def cancel(self, step: Step) -> None:
        if step.fast:
            self.recorder.notes["cancels before the ack"] += 1
        await self._send("cancel", lambda: self.client.submit_cancel(step.target))

    async def replace(self, step: Step) -> None:
        rec = self.client.order(step.target)
        if rec is None or rec.is_terminal:
            self.recorder.notes["replaces skipped (order ended)"] += 1
            return
        self.recorder.notes["replaces sent"] += 1
        await self._send(
            "replace", lambda: self.client.submit_replace(step.target, price=price_of(step.ticks))
        )

    async def settle(self, limit: float = 20.0) -> None:
        """Until the client is connected with nothing pending and no order whose state an
        ambiguous answer left unknown (``limit`` seconds at most)."""
        client = self.client
        session = client.session
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if (
                client.is_active
                and not session.is_resyncing
                and not session.pending_request_ids()
                and not session.missing_fills
                and not any(r.status is OrderStatus.UNKNOWN for r in client.orders())
            ):
                return
            await asyncio.sleep(0.05)
        self.recorder.notes["did not settle"] += 1


async def run(
    info: dict[str, Any], plan: Sequence[Step], *, grace: float = 2.0
) -> tuple[Recorder, dict[str, Any]]:
    """Drive ``plan`` through axorders against the simulator ``info``."""
    logger = logging.getLogger("axorders")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # reconnects are expected
    try:
        recorder = Recorder()
        side = AxSide(info, recorder)
        await side.client.connect()
        try:
            timings = await drive(plan, side, info, recorder, settle=side.settle, grace=grace)
        finally:
            await side.client.close()
    finally:
        logger.setLevel(level)
    return recorder, timings


def coid_map(plan: Sequence[Step], orders: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Venue order id → the flow's client order id, by ``cid``."""
    by_cid = {cid_for(coid): coid for coid in plan_orders(plan)}
    out: dict[str, str] = {}
    for order in orders:
        cid = order.get("cid")
        if cid is not None and int(cid) in by_cid:
            out[order["oid"]] = by_cid[int(cid)]
    return out
