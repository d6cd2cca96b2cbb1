"""Helpers shared by the OrdersClient integration tests.

* :class:`Recorder`: an ``on_event`` callback that keeps every event and can wait for one.
* :func:`connect_client`: an :class:`OrdersClient` connected to a simulator (closed by the
  caller, usually through ``async with``).
* :func:`wait_until`: poll a condition with a bounded wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.model import OrderStatus
from axorders.sim import SimServer

SYMBOL = "EURUSD-PERP"
MARK = Decimal("1.1388")
TICK = Decimal("0.0001")
TIMEOUT = 5.0

E = TypeVar("E", bound=ev.Event)


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` every 10 ms until it holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class Recorder:
    """Keeps every event the client publishes, in order."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, cls: type[E], client_order_id: str | None = None) -> list[E]:
        return [
            e
            for e in self.events
            if isinstance(e, cls)
            and (client_order_id is None or getattr(e, "client_order_id", None) == client_order_id)
        ]

    async def wait(
        self, cls: type[E], client_order_id: str | None = None, *, count: int = 1, **attrs: Any
    ) -> E:
        """Wait for the ``count``-th event of ``cls`` (for ``client_order_id``, with ``attrs``)."""

        def found() -> list[E]:
            return [
                e
                for e in self.of(cls, client_order_id)
                if all(getattr(e, k) == v for k, v in attrs.items())
            ]

        await wait_until(lambda: len(found()) >= count)
        return found()[count - 1]


def fills(rec: Recorder, client_order_id: str | None = None) -> list[ev.OrderFilled]:
    return rec.of(ev.OrderFilled, client_order_id)


def client_for(sim: SimServer, rec: Recorder | None = None, **kwargs: Any) -> OrdersClient:
    """A client for ``sim``'s default user (fresh token), not connected yet."""
    if "token" not in kwargs and "api_key" not in kwargs and "token_provider" not in kwargs:
        kwargs["token"] = sim.issue_token()
    kwargs.setdefault("heartbeat", 1.0)
    kwargs.setdefault("request_timeout", 3.0)
    kwargs.setdefault("connect_timeout", 2.0)
    if rec is not None:
        kwargs.setdefault("on_event", rec)
        kwargs.setdefault("event_queue", False)
    return OrdersClient(sim.base_url, **kwargs)


async def connect_client(
    sim: SimServer, rec: Recorder | None = None, **kwargs: Any
) -> OrdersClient:
    client = client_for(sim, rec, **kwargs)
    await client.connect()
    return client


def venue_status(sim: SimServer, client: OrdersClient, client_order_id: str) -> OrderStatus:
    """The venue's state of one of the client's orders."""
    rec = client.order(client_order_id)
    assert rec is not None, client_order_id
    status = sim.engine.status(client.session.account_id, cid=rec.cid)
    assert status is not None, client_order_id
    return OrderStatus.from_wire(status.state)


def place_requests(sim: SimServer, account_id: str) -> int:
    """Orders the venue has seen from ``account_id`` (every state)."""
    return len(sim.engine.history(account_id))
