"""A venue that does not know the WS status (`s`) and cancel-all (`X`) requests: the client
falls back to REST for them, once, and goes on (issue 11, fix 12)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, wait_until

from axorders import events as ev
from axorders.model import OrderStatus
from axorders.sim import SimConfig, SimServer
from axorders.sim import venue as sim_venue
from axorders.wire import orders as w

SimFactory = Callable[[SimConfig | None], Awaitable[SimServer]]


@pytest.fixture
def refuse_s_and_x(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The venue answers `s` and `X` with err 400, as one that does not know them would."""
    refused: list[str] = []
    original = sim_venue.VenueSession.receive

    def receive(self: Any, data: bytes | str, now: int) -> list[Any]:
        request = w.decode_client_frame(data)
        if isinstance(request, w.StatusRequest | w.CancelAllRequest):
            refused.append(type(request).__name__)
            self.requests += 1
            return self._error(request.request_id, 400, "unknown request type")  # type: ignore[no-any-return]
        return original(self, data, now)

    monkeypatch.setattr(sim_venue.VenueSession, "receive", receive)
    return refused


async def test_status_and_cancel_all_fall_back_to_rest(
    sim_factory: SimFactory, refuse_s_and_x: list[str]
) -> None:
    sim = await sim_factory(SimConfig(makers=False))
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("fb-1", SYMBOL, "BUY", 100, MARK - 10 * TICK)
        await client.place_order("fb-2", SYMBOL, "BUY", 100, MARK - 11 * TICK)
        answer = await client.order_status("fb-1")
        assert isinstance(answer, ev.OrderStatusReport), answer
        assert answer.status is OrderStatus.ACCEPTED
        assert refuse_s_and_x == ["StatusRequest"]
        # Said once; the next query goes straight to REST.
        answer = await client.order_status("fb-2")
        assert isinstance(answer, ev.OrderStatusReport)
        assert refuse_s_and_x == ["StatusRequest"]
        rid = await client.submit_cancel_all(SYMBOL)
        resolved = await client.wait_for(rid, timeout=5)
        assert resolved.ok, resolved
        await wait_until(lambda: len(rec.of(ev.OrderCanceled)) == 2)
        rid = await client.submit_cancel_all()
        assert (await client.wait_for(rid, timeout=5)).ok
        assert refuse_s_and_x == ["StatusRequest", "CancelAllRequest"]
        kinds = [e.kind for e in rec.of(ev.RequestFallback)]
        assert kinds == [ev.RequestKind.STATUS, ev.RequestKind.CANCEL_ALL]
