"""``POST /sim/flood``: synthetic partial fills sent to a user's orders sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp

from axorders.model import Side
from axorders.sim import SimServer

OrdersWs = Callable[..., Awaitable[tuple[Any, dict[str, Any]]]]

PRICE = "1.1288"


def admin_headers(sim: SimServer) -> dict[str, str]:
    """The ``X-Sim-Token`` header that every ``/sim/*`` request needs."""
    return {"X-Sim-Token": sim.admin_token}


async def _rest(ws: Any, rid: int, quantity: int) -> str:
    await ws.send(
        {
            "rid": rid,
            "t": "p",
            "s": "EURUSD-PERP",
            "d": "B",
            "q": quantity,
            "p": PRICE,
            "tif": "GTC",
            "po": False,
        }
    )
    frames = await ws.recv_until(lambda f: f.get("t") == "n")
    oid: str = frames[-1]["o"]["oid"]
    return oid


async def _flood(http: aiohttp.ClientSession, sim: SimServer, body: Any) -> tuple[int, Any]:
    async with http.post(
        f"{sim.base_url}/sim/flood", json=body, headers=admin_headers(sim)
    ) as resp:
        return resp.status, await resp.json()


async def test_flood_sends_partial_fills_round_robin(
    sim: SimServer, orders_ws: OrdersWs, http: aiohttp.ClientSession
) -> None:
    ws, _ = await orders_ws(sim)
    first = await _rest(ws, 1, 300)
    second = await _rest(ws, 2, 200)
    status, body = await _flood(http, sim, {"count": 5, "kind": "fill"})
    assert (status, body) == (200, {"count": 5})
    frames = [await ws.recv() for _ in range(5)]
    assert [f["t"] for f in frames] == ["p"] * 5
    assert [f["o"]["oid"] for f in frames] == [first, second, first, second, first]
    assert [f["o"]["xq"] for f in frames] == [1, 1, 2, 2, 3]
    assert [f["o"]["rq"] for f in frames] == [299, 199, 298, 198, 297]
    assert all(f["o"]["o"] == "PARTIALLY_FILLED" and f["xs"]["q"] == 1 for f in frames)
    assert all(f["xs"]["p"] == PRICE and f["xs"]["d"] == "B" for f in frames)
    assert len({f["xs"]["tid"] for f in frames}) == 5
    # A second flood continues the cumulative quantities and the trade ids.
    assert await _flood(http, sim, {"count": 2}) == (200, {"count": 2})
    more = [await ws.recv() for _ in range(2)]
    assert [(f["o"]["oid"], f["o"]["xq"]) for f in more] == [(first, 4), (second, 3)]
    assert not {f["xs"]["tid"] for f in more} & {f["xs"]["tid"] for f in frames}
    # The engine is untouched: the orders are still open and unfilled.
    assert [o.filled_quantity for o in sim.engine.open_orders(sim.account_id)] == [0, 0]


async def test_flood_reaches_every_socket_of_the_user(
    sim: SimServer, orders_ws: OrdersWs, http: aiohttp.ClientSession
) -> None:
    one, _ = await orders_ws(sim)
    two, _ = await orders_ws(sim)
    await _rest(one, 1, 1000)
    await two.recv_until(lambda f: f.get("t") == "n")
    assert await _flood(http, sim, {"count": 600, "kind": "fill"}) == (200, {"count": 600})
    for ws in (one, two):
        frames = [await ws.recv() for _ in range(600)]
        assert [f["o"]["xq"] for f in frames] == list(range(1, 601))


async def test_flood_refusals(
    sim: SimServer, orders_ws: OrdersWs, http: aiohttp.ClientSession
) -> None:
    status, body = await _flood(http, sim, {"count": 1})
    assert status == 400 and "room" in body["error"]  # no open orders
    ws, _ = await orders_ws(sim)
    await _rest(ws, 1, 100)
    assert (await _flood(http, sim, {"count": 100}))[0] == 400  # room for 99 only
    assert (await _flood(http, sim, {"count": 1, "kind": "ack"}))[0] == 400
    assert (await _flood(http, sim, {"count": -1}))[0] == 400
    assert (await _flood(http, sim, {"count": 1, "user_id": "nobody"}))[0] == 400
    assert (await _flood(http, sim, {"count": 1, "extra": 1}))[0] == 400
    assert (await _flood(http, sim, "not an object"))[0] == 400
    assert await _flood(http, sim, {"count": 99}) == (200, {"count": 99})


async def test_flood_without_a_socket_sends_nothing(sim: SimServer) -> None:
    now = sim.config.clock()
    sim.engine.place(sim.account_id, "EURUSD-PERP", Side.BUY, 100, Decimal(PRICE), now=now)
    assert sim.flood(3) == 0
