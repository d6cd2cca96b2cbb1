"""The hostile profile on the wire: each liberty, its counter, the admin token, bounded queues.

These tests read the simulator's frames with plain aiohttp or a bare TCP stream, never with
the project's own client: they prove what the venue sends, not how a client copes with it.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer
from axorders.sim.cli import build_parser, config_from_args
from axorders.sim.faults import LIBERTIES, HostileConfig

EUR = "EURUSD-PERP"
Factory = Callable[[SimConfig | None], Awaitable[SimServer]]


def place(rid: int, **fields: Any) -> dict[str, Any]:
    return {"rid": rid, "t": "p", "s": EUR, "d": "B", "q": 100, "p": "1.1300",
            "tif": "GTC", "po": False, **fields}  # fmt: skip


def admin_headers(sim: SimServer) -> dict[str, str]:
    return {"X-Sim-Token": sim.admin_token}


async def hostile_sim(factory: Factory, *names: str, **rates: float) -> SimServer:
    every = dict.fromkeys(names, 1.0)
    every.update(rates)
    config = SimConfig(
        makers=False, heartbeat_interval=0.2, hostile=HostileConfig.only(*names, rates=every)
    )
    return await factory(config)


# -- fragmentation -------------------------------------------------------------------------


async def test_orders_messages_are_fragmented_into_continuation_frames(
    sim: SimServer, raw_ws: Any
) -> None:
    sim.faults.hostile("fragment", rate=1.0)
    ws = await raw_ws(sim)
    fin, opcode, _ = await ws.frame()
    assert (fin, opcode) == (False, 0x1)  # the login starts a fragmented message
    sim.faults.hostile("fragment", on=False)
    ws = await raw_ws(sim)
    login, count = await ws.message()
    assert login["rid"] == 0 and count == 1
    sim.faults.hostile("fragment", rate=1.0)
    await ws.send(place(1))
    reply, reply_frames = await ws.message()
    ack, ack_frames = await ws.message()
    assert reply["rid"] == 1 and ack["t"] == "n"
    assert reply_frames > 1 and ack_frames > 1
    # Through the queue and writer task as well (a delay forces that path).
    sim.faults.delay(0.01)
    await ws.send({"rid": 2, "t": "o"})
    snapshot, count = await ws.message()
    assert snapshot["rid"] == 2 and count > 1
    assert sim.stats().liberties["fragment"] >= 4


async def test_market_data_messages_are_fragmented_too(sim: SimServer, raw_ws: Any) -> None:
    sim.faults.hostile("fragment", rate=1.0)
    ws = await raw_ws(sim, "/md/ws")
    await ws.send({"rid": 1, "type": "subscribe", "symbol": EUR, "level": "LEVEL_1"})
    reply, count = await ws.message()
    assert reply == {"rid": 1, "result": {"subscribed": EUR}} and count > 1
    book, count = await ws.message()
    assert book["t"] == "1" and count > 1


async def test_a_conforming_client_reassembles_every_fragmented_message(
    sim: SimServer, orders_ws: Any
) -> None:
    sim.faults.hostile("fragment", rate=1.0)
    ws, login = await orders_ws(sim)
    assert login["rid"] == 0
    for rid in range(1, 21):
        await ws.send(place(rid, p=f"1.{1200 + rid}"))
        assert (await ws.recv())["rid"] == rid
        assert (await ws.recv())["t"] == "n"


# -- replies and events --------------------------------------------------------------------


async def test_events_come_before_the_late_reply(sim_factory: Factory, orders_ws: Any) -> None:
    sim = await hostile_sim(sim_factory, "events_first")
    ws, _ = await orders_ws(sim)
    await ws.send(place(1))
    ack = await ws.recv()
    reply = await ws.recv()
    assert ack["t"] == "n"
    assert reply == {"rid": 1, "res": {"oid": ack["o"]["oid"]}}
    assert sim.stats().liberties["events_first"] == 1


async def test_a_place_answered_500_is_carried_out_anyway(
    sim_factory: Factory, orders_ws: Any
) -> None:
    sim = await hostile_sim(sim_factory, "late_accept")
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, cid=41))
    assert await ws.recv() == {"rid": 1, "err": {"code": 500, "msg": "internal error"}}
    ack = await ws.recv()
    assert ack["t"] == "n" and ack["o"]["cid"] == 41
    await ws.send({"rid": 2, "t": "o"})
    [order] = (await ws.recv())["res"]["orders"]
    assert order["cid"] == 41
    assert sim.stats().liberties["late_accept"] == 1


async def test_a_cancel_before_the_ack_gets_409(sim_factory: Factory, orders_ws: Any) -> None:
    sim = await hostile_sim(sim_factory, "cancel_409")
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, cid=7))
    oid = (await ws.recv())["res"]["oid"]
    await ws.send({"rid": 2, "t": "x", "oid": oid})  # the n is still held back
    frames = await ws.recv_until(lambda f: f.get("rid") == 2)
    assert frames[-1] == {
        "rid": 2,
        "err": {"code": 409, "msg": "order not yet acknowledged by exchange; retry shortly"},
    }
    if len(frames) == 1:
        assert (await ws.recv())["t"] == "n"
    await ws.send({"rid": 3, "t": "x", "oid": oid})
    frames = await ws.recv_until(lambda f: f.get("t") == "c")
    assert {"rid": 3, "res": {}} in frames or any(f.get("rid") == 3 for f in frames)
    assert sim.stats().liberties["cancel_409"] == 1


async def test_status_and_cancel_all_are_unknown_requests(
    sim_factory: Factory, orders_ws: Any
) -> None:
    sim = await hostile_sim(sim_factory, "unknown_requests")
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, cid=3))
    await ws.recv_until(lambda f: f.get("t") == "n")

    async def text() -> str:
        while True:  # the exact text, heartbeats skipped
            data: str = (await ws.recv_message()).data
            if not data.startswith('{"t":"h"'):
                return data

    await ws.send({"rid": 2, "t": "s", "cid": 3})
    assert await text() == '{"rid":2,"err":{"code":400,"msg":"unknown request type"}}'
    await ws.send({"rid": 3, "t": "X"})
    assert await text() == '{"rid":3,"err":{"code":400,"msg":"unknown request type"}}'
    assert sim.engine.open_orders(sim.account_id)  # nothing was canceled
    assert sim.stats().liberties["unknown_requests"] == 2


async def test_other_sessions_place_orders_with_cids_above_2_63(
    sim_factory: Factory, orders_ws: Any
) -> None:
    sim = await hostile_sim(sim_factory, "foreign_cid")
    ws, _ = await orders_ws(sim)
    watcher, _ = await orders_ws(sim)
    await ws.send(place(1, cid=5))
    acks = (await watcher.recv(), await watcher.recv())
    cids = sorted(a["o"]["cid"] for a in acks)
    assert cids[0] == 5 and 2**63 <= cids[1] < 2**64
    canceled = await watcher.recv()  # the other session's order is retired soon
    assert canceled["t"] == "c" and canceled["o"]["cid"] == cids[1]
    assert sim.stats().liberties["foreign_cid"] == 1


async def test_fresh_replace_on_the_wire(sim_factory: Factory, orders_ws: Any) -> None:
    sim = await hostile_sim(sim_factory, "fresh_replace")
    sim.add_liquidity(EUR, "SELL", "1.1390", 100)
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, q=300, p="1.1390"))
    frames = await ws.recv_until(lambda f: f.get("t") == "p")
    oid = frames[0]["res"]["oid"]
    await ws.send({"rid": 2, "t": "r", "oid": oid, "p": "1.1385"})
    replaced = (await ws.recv_until(lambda f: f.get("t") == "r"))[-1]
    assert (replaced["no"]["q"], replaced["no"]["xq"], replaced["no"]["rq"]) == (200, 0, 200)
    sim.add_liquidity(EUR, "SELL", "1.1385", 200)
    filled = (await ws.recv_until(lambda f: f.get("t") == "f"))[-1]
    assert (filled["o"]["q"], filled["o"]["xq"], filled["xs"]["q"]) == (200, 200, 200)
    assert sim.stats().liberties["fresh_replace"] == 1


async def test_duplicated_reordered_and_delayed_events_keep_each_orders_order(
    sim_factory: Factory, orders_ws: Any
) -> None:
    sim = await hostile_sim(
        sim_factory, "duplicate", "reorder", "delay", duplicate=0.3, reorder=0.5, delay=0.3
    )
    ws, _ = await orders_ws(sim)
    count = 30
    for rid in range(1, count + 1):
        await ws.send(place(rid, cid=rid, p=f"1.{1200 + rid}"))
        await ws.send({"rid": 1000 + rid, "t": "x", "cid": rid})
    await ws.send({"rid": 5000, "t": "o"})
    frames = await ws.recv_until(lambda f: f.get("rid") == 5000)
    assert frames[-1]["res"]["orders"] == []
    events = [f for f in frames if "t" in f]
    # The snapshot waited for every held event; each order's n comes before its c.
    for rid in range(1, count + 1):
        kinds = [f["t"] for f in events if f["o"]["cid"] == rid]
        assert kinds.index("n") < kinds.index("c"), kinds
        assert set(kinds) == {"n", "c"}
    # A cancel's reply never overtakes the held events of the order it names.
    for rid in range(1, count + 1):
        ack = next(i for i, f in enumerate(frames) if f.get("t") == "n" and f["o"]["cid"] == rid)
        reply = next(i for i, f in enumerate(frames) if f.get("rid") == 1000 + rid)
        assert ack < reply
    arrival = [f["o"]["cid"] for f in events]
    assert arrival != sorted(arrival)  # some events overtook others
    stats = sim.stats().liberties
    assert stats["duplicate"] > 0 and stats["reorder"] > 0 and stats["delay"] > 0
    assert len(events) == 2 * count + stats["duplicate"]


async def test_a_full_profile_still_serves_orders(sim_factory: Factory, orders_ws: Any) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.2, hostile=HostileConfig(seed=4))
    )
    ws, _ = await orders_ws(sim)
    for rid in range(1, 11):
        await ws.send(place(rid, cid=rid))
    await asyncio.sleep(0.5)
    await ws.send({"rid": 99, "t": "o"})
    frames = await ws.recv_until(lambda f: f.get("rid") == 99)
    assert {f["rid"] for f in frames if "rid" in f} >= set(range(1, 11)) | {99}


# -- admin surface -------------------------------------------------------------------------


async def test_admin_endpoints_need_the_token_and_json(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    url = sim.base_url + "/sim/faults"
    body = {"action": "hostile", "liberty": "fragment", "on": True, "rate": 0.5}
    async with http.post(url, json=body) as response:
        assert response.status == 401
    async with http.get(sim.base_url + "/sim/stats") as response:
        assert response.status == 401
    async with http.post(url, json=body, headers={"X-Sim-Token": "wrong"}) as response:
        assert response.status == 403
    headers = admin_headers(sim)
    async with http.post(
        url, data=json.dumps(body), headers={**headers, "Content-Type": "text/plain"}
    ) as response:
        assert response.status == 415
    async with http.post(
        url,
        data="action=drop",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 415
    async with http.post(
        url, data=b"{not json", headers={**headers, "Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
    assert not sim.faults.liberties.active  # nothing above was applied
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200
    assert sim.faults.liberties.on["fragment"] and sim.faults.liberties.rates["fragment"] == 0.5
    async with http.post(
        url, json={"action": "hostile", "liberty": "nope"}, headers=headers
    ) as response:
        assert response.status == 400
    async with http.get(sim.base_url + "/sim/stats", headers=headers) as response:
        stats = await response.json()
    assert set(stats["liberties"]) == set(LIBERTIES)
    assert stats["overflow_closes"] == 0


async def test_a_given_admin_token_is_used(sim_factory: Factory) -> None:
    sim = await sim_factory(SimConfig(makers=False, admin_token="s3cret-token"))
    assert sim.admin_token == "s3cret-token"
    assert sim.info().admin_token == "s3cret-token"
    other = await sim_factory(SimConfig(makers=False))
    assert other.admin_token and other.admin_token != sim.admin_token


def test_the_cli_builds_the_hostile_profile() -> None:
    parse = build_parser().parse_args
    config = config_from_args(
        parse(
            [
                "--hostile",
                "--liberties",
                "fragment,late_accept",
                "--liberty-rate",
                "fragment=0.5",
                "--hostile-seed",
                "9",
                "--admin-token",
                "tok",
                "--max-send-buffer",
                "1000000",
            ]
        )
    )
    assert config.hostile is not None
    assert [n for n in LIBERTIES if config.hostile.is_on(n)] == ["fragment", "late_accept"]
    assert config.hostile.rate("fragment") == 0.5 and config.hostile.seed == 9
    assert (config.admin_token, config.max_send_buffer) == ("tok", 1_000_000)
    everything = config_from_args(parse(["--hostile"]))
    assert everything.hostile is not None
    assert all(everything.hostile.is_on(n) for n in LIBERTIES)
    assert config_from_args(parse([])).hostile is None
    with pytest.raises(SystemExit):
        parse(["--hostile", "--liberties", "nope"])
    with pytest.raises(SystemExit):
        parse(["--liberty-rate", "fragment=2"])


# -- bounded send queues -------------------------------------------------------------------


async def test_a_client_that_never_reads_is_closed_with_1008(
    sim_factory: Factory, raw_ws: Any, eventually: Any
) -> None:
    sim = await sim_factory(SimConfig(makers=False, heartbeat_interval=60, max_send_buffer=1 << 18))
    ws = await raw_ws(sim)  # reads nothing from here on
    await eventually(lambda: sim.connection_count() == 1)
    payload = b'{"t":"zz","pad":"' + b"x" * 16_000 + b'"}'
    sent = 0
    while sim.stats().overflow_closes == 0:
        assert sent < 20_000, "the queue was never bounded"
        sim.broadcast(payload)
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0)  # let the writer run (and block)
    assert sim.connection_count() == 0
    # What was already on its way still arrives, then the close frame with 1008.
    code = None
    while code is None:
        _, opcode, data = await ws.frame(timeout=10)
        if opcode == 0x8:
            (code,) = struct.unpack("!H", data[:2])
    assert code == 1008
