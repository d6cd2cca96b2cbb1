"""The simulator as a judge of any AX client: users made from outside, liberties counted only
where a client receives them and repeatable from the seed, outages started and ended on their
own, and the reason of a self-trade-prevention cancel in REST.

Clients here are plain aiohttp or a bare TCP stream, never the project's own client.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer
from axorders.sim.faults import LIBERTIES, HostileConfig
from conftest import OrdersWs, RawWs

EUR = "EURUSD-PERP"
Factory = Callable[[SimConfig | None], Awaitable[SimServer]]
RawFactory = Callable[..., Awaitable[RawWs]]


def admin(sim: SimServer) -> dict[str, str]:
    return {"X-Sim-Token": sim.admin_token}


async def fault(http: aiohttp.ClientSession, sim: SimServer, **body: Any) -> tuple[int, Any]:
    async with http.post(sim.base_url + "/sim/faults", json=body, headers=admin(sim)) as resp:
        return resp.status, await resp.json()


async def login(http: aiohttp.ClientSession, base_url: str, key: str, secret: str) -> str:
    async with http.post(
        base_url + "/api/authenticate", json={"api_key": key, "api_secret": secret}
    ) as resp:
        assert resp.status == 200, await resp.text()
        token: str = (await resp.json())["token"]
        return token


async def whoami_account(http: aiohttp.ClientSession, base_url: str, token: str) -> str:
    async with http.get(
        base_url + "/api/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200
        account: str = (await resp.json())["accounts"][0]["id"]
        return account


# -- users from outside ----------------------------------------------------------------------


async def run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "axorders.sim", "--no-makers", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await process.wait()


async def test_cli_users_appear_in_the_json_line_and_can_trade() -> None:
    process = await run_cli("--print-json", "--users", "2")
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            info = json.loads(await process.stdout.readline())
        users = info["users"]
        assert len(users) == 2
        for user in users:
            assert {"user_id", "account_id", "api_key", "api_secret"} <= set(user)
        ids = {info["user_id"], *(u["user_id"] for u in users)}
        keys = {info["api_key"], *(u["api_key"] for u in users)}
        assert len(ids) == len(keys) == 3
        async with aiohttp.ClientSession() as http:
            accounts = set()
            for user in users:
                token = await login(http, info["base_url"], user["api_key"], user["api_secret"])
                accounts.add(await whoami_account(http, info["base_url"], token))
            assert accounts == {u["account_id"] for u in users}
    finally:
        await stop(process)


async def test_cli_users_keys_are_printed_at_startup() -> None:
    process = await run_cli("--users", "2")
    try:
        assert process.stdout is not None
        lines = []
        async with asyncio.timeout(20):
            while not lines or not lines[-1].startswith("Ctrl-C"):
                lines.append((await process.stdout.readline()).decode())
        extra = [line for line in lines if "api secret" in line and "account" in line]
        assert len(extra) == 2
        assert all("api key key-" in line for line in extra)
    finally:
        await stop(process)


async def test_post_sim_users_creates_a_user_with_its_credentials(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    url = sim.base_url + "/sim/users"
    async with http.post(url, json={}) as resp:
        assert resp.status == 401
    async with http.post(url, data=b"{}", headers=admin(sim)) as resp:
        assert resp.status == 415
    async with http.post(url, json={}, headers=admin(sim)) as resp:
        assert resp.status == 200
        made = await resp.json()
    assert set(made) == {"user_id", "account_id", "api_key", "api_secret", "username", "password"}
    token = await login(http, sim.base_url, made["api_key"], made["api_secret"])
    assert await whoami_account(http, sim.base_url, token) == made["account_id"]
    body = {"user_id": "judge-1", "balance": "50000"}
    async with http.post(url, json=body, headers=admin(sim)) as resp:
        assert resp.status == 200
        judge = await resp.json()
    assert judge["user_id"] == judge["account_id"] == "judge-1"
    token = await login(http, sim.base_url, judge["api_key"], judge["api_secret"])
    async with http.get(
        sim.base_url + "/api/balances", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        [balance] = (await resp.json())["balances"]
    assert float(balance["amount"]) == 50000
    for bad in ({"user_id": "judge-1"}, {"balance": "lots"}, {"user_id": ""}, {"nope": 1}):
        async with http.post(url, json=bad, headers=admin(sim)) as resp:
            assert resp.status == 400, bad
            assert (await resp.json())["code"] == 400


# -- liberties: counted where a client receives them, repeatable from the seed ------------------


def every_liberty(seed: int = 1) -> HostileConfig:
    return HostileConfig.only("all", rates=dict.fromkeys(LIBERTIES, 1.0), seed=seed)


async def test_makers_alone_take_no_liberty(sim_factory: Factory, raw_ws: RawFactory) -> None:
    sim = await sim_factory(
        SimConfig(makers=True, maker_interval=0.01, heartbeat_interval=60, hostile=every_liberty())
    )
    sim.faults.duplicate_events(3)
    await asyncio.sleep(0.4)
    assert sim.engine.orders_processed > 0  # the makers did trade and quote
    assert sum(sim.stats().liberties.values()) == 0
    ws = await raw_ws(sim)
    _, frames = await ws.message()
    assert frames > 1  # the login is fragmented: taken, and counted
    await asyncio.sleep(0.3)
    assert sim.stats().liberties == {n: int(n == "fragment") for n in LIBERTIES}


async def test_duplicates_asked_for_are_not_spent_on_events_nobody_receives(
    sim_factory: Factory, orders_ws: OrdersWs
) -> None:
    sim = await sim_factory(SimConfig(makers=True, maker_interval=0.01, heartbeat_interval=60))
    sim.faults.duplicate_events(1)
    await asyncio.sleep(0.3)  # the makers' events go to nobody
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, 1, "1.1000"))
    frames = await ws.recv_until(lambda f: f.get("t") == "n")
    assert frames[0] == {"rid": 1, "res": {"oid": frames[-1]["o"]["oid"]}}
    again = await ws.recv()
    assert again == frames[-1]  # the one duplicate asked for


def place(rid: int, cid: int, price: str) -> dict[str, Any]:
    return {"rid": rid, "t": "p", "s": EUR, "d": "B", "q": 100, "p": price, "tif": "GTC",
            "po": True, "cid": cid}  # fmt: skip


def shape(message: dict[str, Any]) -> tuple[Any, ...]:
    """What a message says, without ids and times (which differ from run to run)."""
    if "rid" in message:
        return ("reply", message["rid"], message["err"]["code"] if "err" in message else "res")
    order = message.get("o") or {}
    return (message["t"], order.get("cid"), order.get("o"))


async def one_client(sim: SimServer, raw_ws: RawFactory) -> tuple[Counter[Any], int]:
    """A fixed client: places, status and cancel-all requests, snapshots, cancels by cid.

    Each request waits for its reply; the transcript is read until the venue goes quiet.
    Returns what was received (as a multiset of :func:`shape`) and how many messages came
    fragmented.
    """
    ws = await raw_ws(sim)
    seen: Counter[Any] = Counter()
    fragmented = 0

    async def take(rid: int | None = None, quiet: float = 5.0) -> None:
        nonlocal fragmented
        while True:
            try:
                message, frames = await ws.message(timeout=quiet)
            except TimeoutError:
                assert rid is None, f"no reply to {rid}"
                return
            seen[shape(message)] += 1
            fragmented += frames > 1
            if rid is not None and message.get("rid") == rid:
                return

    await take(0)
    requests: list[dict[str, Any]] = []
    for n in range(1, 11):
        requests.append(place(n, n, f"1.10{n:02d}"))
    requests += [{"rid": 11, "t": "s", "cid": 1}, {"rid": 12, "t": "X"}]
    requests += [{"rid": 13, "t": "o"}]
    requests += [{"rid": 13 + n, "t": "x", "cid": n} for n in range(1, 11)]
    requests += [{"rid": 24, "t": "o"}]
    for request in requests:
        await ws.send(request)
        await take(request["rid"])
    await take(None, quiet=0.8)  # the held frames (holds are at most 0.2 s)
    return seen, fragmented


SOME = ("fragment", "events_first", "late_accept", "unknown_requests", "duplicate", "reorder",
        "delay")  # fmt: skip
RATES = {"fragment": 0.5, "events_first": 0.4, "late_accept": 0.3, "unknown_requests": 1.0,
         "duplicate": 0.4, "reorder": 0.4, "delay": 0.3}  # fmt: skip


async def test_the_seed_gives_the_client_the_same_liberties_whatever_the_makers_do(
    sim_factory: Factory, raw_ws: RawFactory
) -> None:
    def config(seed: int, makers: bool) -> SimConfig:
        return SimConfig(
            makers=makers,
            maker_interval=0.005,
            heartbeat_interval=60,
            hostile=HostileConfig.only(*SOME, rates=RATES, seed=seed),
        )

    quiet = await sim_factory(config(7, makers=False))
    first = await one_client(quiet, raw_ws)
    busy = await sim_factory(config(7, makers=True))
    await asyncio.sleep(0.1)  # the makers have been drawing... nothing
    second = await one_client(busy, raw_ws)
    assert busy.engine.orders_processed > quiet.engine.orders_processed
    assert first == second
    assert quiet.stats().liberties == busy.stats().liberties
    taken = quiet.stats().liberties
    assert all(taken[n] > 0 for n in ("fragment", "unknown_requests", "duplicate")), taken
    assert first[1] == taken["fragment"]  # each fragmented message counted once
    assert sum(c for (t, *_), c in first[0].items() if t == "reply") == 25  # each once
    other = await sim_factory(config(8, makers=False))
    third = await one_client(other, raw_ws)
    assert (third, other.stats().liberties) != (first, taken)


# -- outages ------------------------------------------------------------------------------------


async def test_an_outage_starts_and_ends_on_its_own_without_touching_the_liberties(
    sim: SimServer, http: aiohttp.ClientSession, orders_ws: OrdersWs
) -> None:
    ws, _ = await orders_ws(sim)
    sim.faults.hostile("duplicate", rate=0.5)
    assert await fault(http, sim, action="outage_end") == (200, {"count": 0})  # harmless
    status, body = await fault(http, sim, action="outage")
    assert (status, body) == (200, {"count": 1})
    msg = await ws.recv_message()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await asyncio.sleep(0.2)
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 503
        assert (await resp.json())["code"] == 503
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await orders_ws(sim)
    assert refused.value.status == 503
    async with http.get(sim.base_url + "/sim/stats", headers=admin(sim)) as resp:
        assert resp.status == 200  # the admin surface stays up
    assert await fault(http, sim, action="outage_end") == (200, {"count": 1})
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 200
    ws, login_frame = await orders_ws(sim)
    assert login_frame["rid"] == 0
    assert sim.faults.liberties.on["duplicate"] and sim.faults.liberties.rates["duplicate"] == 0.5
    # Timed: it ends by itself.
    assert (await fault(http, sim, action="outage", seconds=0.3))[0] == 200
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 503
    await asyncio.sleep(0.5)
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 200
    # seconds 0 is "until ended"; clear ends it too; bad seconds are refused.
    assert (await fault(http, sim, action="outage", seconds=0))[0] == 200
    await asyncio.sleep(0.2)
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 503
    assert (await fault(http, sim, action="clear"))[0] == 200
    async with http.get(sim.base_url + "/api/instruments") as resp:
        assert resp.status == 200
    assert (await fault(http, sim, action="outage", seconds=-1))[0] == 400


async def test_an_outage_drops_market_data_sockets_too(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {sim.issue_token()}"}
    md = await http.ws_connect(sim.md_ws_url, headers=headers)
    assert sim.md_connection_count() == 1
    sim.faults.outage()
    msg = await md.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(sim.md_ws_url, headers=headers)
    assert sim.faults.end_outage() == 1
    md = await http.ws_connect(sim.md_ws_url, headers=headers)
    await md.close()


# -- self-trade prevention, over the wire ---------------------------------------------------------


async def test_a_self_trade_cancel_reason_reaches_rest_as_it_reaches_the_socket(
    sim: SimServer, http: aiohttp.ClientSession, orders_ws: OrdersWs
) -> None:
    ws, _ = await orders_ws(sim)
    await ws.send({"rid": 1, "t": "p", "s": EUR, "d": "S", "q": 100, "p": "1.1390",
                   "tif": "GTC", "po": False, "cid": 1})  # fmt: skip
    await ws.recv_until(lambda f: f.get("t") == "n")
    await ws.send({"rid": 2, "t": "p", "s": EUR, "d": "B", "q": 100, "p": "1.1390",
                   "tif": "GTC", "po": False, "cid": 2})  # fmt: skip
    frames = await ws.recv_until(lambda f: f.get("t") == "c")
    canceled = frames[-1]
    why = canceled["txt"]
    assert why == "order canceled by self-trade prevention" and canceled["o"]["cid"] == 2
    oid = canceled["o"]["oid"]
    auth = {"Authorization": f"Bearer {sim.issue_token()}"}
    async with http.get(sim.base_url + "/orders/orders", params={"order_id": oid},
                        headers=auth) as resp:  # fmt: skip
        [order] = (await resp.json())["orders"]
    assert (order["o"], order["txt"]) == ("CANCELED", why)
    async with http.get(sim.base_url + "/orders/order-status", params={"oid": oid},
                        headers=auth) as resp:  # fmt: skip
        status = (await resp.json())["status"]
    assert (status["state"], status["reject_message"]) == ("CANCELED", why)
