"""Fault injection, in-process and through the admin endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer
from axorders.sim.faults import MALFORMED_FRAME


def admin_headers(sim: SimServer) -> dict[str, str]:
    """The ``X-Sim-Token`` header that every ``/sim/*`` request needs."""
    return {"X-Sim-Token": sim.admin_token}


def place(rid: int, **fields: Any) -> dict[str, Any]:
    return {"rid": rid, "t": "p", "s": "EURUSD-PERP", "d": "B", "q": 100, "p": "1.1300",
            "tif": "GTC", "po": False, **fields}  # fmt: skip


async def closed(ws: Any) -> aiohttp.WSMessage:
    """Read until the socket reports it is closed; returns that message."""
    while True:
        msg = await ws.recv_message()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return msg


async def test_drop_now(sim: SimServer, orders_ws: Any, eventually: Any) -> None:
    other = sim.add_user()
    first, _ = await orders_ws(sim)
    second, _ = await orders_ws(sim, sim.issue_token(other.user_id))
    assert sim.faults.drop(user_id=sim.user_id) == 1
    await closed(first)
    await eventually(lambda: sim.connection_count(sim.user_id) == 0)
    await second.send({"rid": 1, "t": "o"})
    assert await second.recv() == {"rid": 1, "res": {"orders": []}}
    assert sim.faults.drop(abort=False) == 1
    msg = await closed(second)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011


async def test_drop_after_frames(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    sim.faults.drop_after(2)
    await ws.send(place(1))
    assert (await ws.recv())["rid"] == 1
    assert (await ws.recv())["t"] == "n"
    await closed(ws)


async def test_drop_after_frames_repeats_for_new_sockets(sim: SimServer, orders_ws: Any) -> None:
    sim.faults.drop_after(1, repeat=True)
    for _ in range(2):
        ws, login = await orders_ws(sim)
        assert login["rid"] == 0
        await closed(ws)
    sim.faults.clear()
    ws, _ = await orders_ws(sim)
    await ws.send({"rid": 1, "t": "o"})
    assert (await ws.recv())["rid"] == 1


async def test_delay_and_stall_keep_order(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    sim.faults.delay(0.05)
    sim.faults.stall(0.1)
    for rid in range(1, 4):
        await ws.send({"rid": rid, "t": "o"})
    assert [(await ws.recv())["rid"] for _ in range(3)] == [1, 2, 3]
    sim.faults.delay(0)


async def test_stop_and_resume_heartbeats(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    assert (await ws.recv(heartbeats=True))["t"] == "h"
    sim.faults.stop_heartbeats()
    # Over several heartbeat intervals (0.2 s), only our own replies arrive.
    for rid in range(1, 6):
        await ws.send({"rid": rid, "t": "o"})
        frame = await ws.recv(heartbeats=True)
        if frame.get("t") == "h":  # one may have been queued before the stop
            frame = await ws.recv(heartbeats=True)
        assert frame["rid"] == rid
        await asyncio.sleep(0.1)
    sim.faults.resume_heartbeats()
    assert (await ws.recv(heartbeats=True))["t"] == "h"


async def test_reject_next_auth(
    sim: SimServer, http: aiohttp.ClientSession, orders_ws: Any
) -> None:
    sim.faults.reject_next_auth(2)
    token = sim.issue_token()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(sim.orders_ws_url, headers={"Authorization": f"Bearer {token}"})
    assert info.value.status == 401
    async with http.post(
        sim.base_url + "/api/authenticate",
        json={"api_key": sim.api_key, "api_secret": sim.api_secret},
    ) as response:
        assert response.status == 401
    _, login = await orders_ws(sim, token)
    assert login["rid"] == 0


async def test_expire_tokens_closes_sockets(
    sim: SimServer, http: aiohttp.ClientSession, orders_ws: Any
) -> None:
    token = sim.issue_token()
    ws, _ = await orders_ws(sim, token)
    assert sim.faults.expire_tokens() >= 1
    msg = await closed(ws)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008
    async with http.get(
        sim.base_url + "/api/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 401


async def test_close_on_token_expiry(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]], orders_ws: Any
) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.2, close_on_token_expiry=True)
    )
    ws, _ = await orders_ws(sim, sim.issue_token(ttl=0.3))
    msg = await closed(ws)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008


async def test_malformed_unknown_and_duplicate_frames(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    assert sim.faults.send_malformed() == 1
    msg = await ws.recv_message()
    assert msg.data.encode() == MALFORMED_FRAME
    sim.faults.send_unknown()
    unknown = await ws.recv()
    assert unknown["t"] == "zz" and set(unknown) == {"t", "ts", "tn"}
    sim.faults.duplicate_events(1)
    await ws.send(place(1))
    frames = [await ws.recv() for _ in range(3)]
    assert frames[0]["rid"] == 1
    assert frames[1] == frames[2] and frames[1]["t"] == "n"
    await ws.send({"rid": 2, "t": "o"})
    assert (await ws.recv())["rid"] == 2  # only one duplicate was asked for


async def test_admin_endpoints(sim: SimServer, http: aiohttp.ClientSession, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, tif="DAY"))
    await ws.recv_until(lambda f: f.get("t") == "n")
    async with http.post(
        sim.base_url + "/sim/session-close", json={}, headers=admin_headers(sim)
    ) as response:
        assert response.status == 200 and await response.json() == {"count": 1}
    assert (await ws.recv())["t"] == "d"
    async with http.post(
        sim.base_url + "/sim/faults",
        json={"action": "send_unknown", "user_id": sim.user_id},
        headers=admin_headers(sim),
    ) as response:
        assert await response.json() == {"count": 1}
    assert (await ws.recv())["t"] == "zz"
    for bad in ({"action": "explode"}, {"action": "drop_after"}, {"nope": 1}):
        async with http.post(
            sim.base_url + "/sim/faults", json=bad, headers=admin_headers(sim)
        ) as response:
            assert response.status == 400 and (await response.json())["code"] == 400
    async with http.post(
        sim.base_url + "/sim/faults", json={"action": "drop"}, headers=admin_headers(sim)
    ) as response:
        assert await response.json() == {"count": 1}
    await closed(ws)
    async with http.get(sim.base_url + "/sim/stats", headers=admin_headers(sim)) as response:
        stats = await response.json()
    assert stats["orders_processed"] == 1 and stats["requests"] >= 1
    assert stats["processing_ns_total"] > 0
    assert stats["processing_ns_p50"] <= stats["processing_ns_p99"] <= stats["processing_ns_max"]
    async with http.get(sim.base_url + "/sim/nothing", headers=admin_headers(sim)) as response:
        assert response.status == 404


def test_faults_need_a_running_simulator() -> None:
    from axorders.sim.faults import Faults

    faults = Faults()
    faults.delay(0.1)
    with pytest.raises(RuntimeError):
        faults.drop()
    with pytest.raises(ValueError):
        faults.delay(-1)
