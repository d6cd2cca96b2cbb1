"""The simulator gateway's direct socket writes keep the venue's frame order, and every fault
that acts on outgoing frames (delay, stall, drop-after) still goes through the writer task."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer
from axorders.sim.venue import Outbound

TIMEOUT = 5.0
SYMBOL = "EURUSD-PERP"


def place(rid: int, price: str = "1.1300", quantity: int = 100) -> str:
    return json.dumps(
        {
            "rid": rid,
            "t": "p",
            "s": SYMBOL,
            "d": "B",
            "q": quantity,
            "p": price,
            "tif": "GTC",
            "po": False,
        }
    )


def open_orders(rid: int) -> str:
    return json.dumps({"rid": rid, "t": "o"})


class Recorder:
    """What the venue handed to the gateway, and which of it went straight to the socket."""

    def __init__(self, sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.venue: list[tuple[str | None, bytes]] = []  # (target account or None, frame)
        self.direct: list[bytes] = []
        dispatch = sim.orders.dispatch
        write_now = sim.sender.write_now

        def record_dispatch(conn: Any, outbound: list[Outbound]) -> None:
            self.venue.extend((target, frame) for target, frame in outbound)
            dispatch(conn, outbound)

        def record_write(conn: Any, frames: list[bytes]) -> None:
            self.direct.extend(frames)
            write_now(conn, frames)

        monkeypatch.setattr(sim.orders, "dispatch", record_dispatch)
        monkeypatch.setattr(sim.sender, "write_now", record_write)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    # No makers and no heartbeat within a test: every frame comes from the test's requests.
    async with SimServer(SimConfig(makers=False, heartbeat_interval=60.0)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(sim: SimServer, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    headers = {"Authorization": f"Bearer {sim.issue_token()}"}
    ws = await http.ws_connect(sim.orders_ws_url, headers=headers)
    login = json.loads(await ws.receive_str(timeout=TIMEOUT))
    assert login["rid"] == 0
    return ws


async def frames_until_reply(ws: aiohttp.ClientWebSocketResponse, rid: int) -> list[bytes]:
    """Every text frame up to and including the reply to ``rid``."""
    frames: list[bytes] = []
    while True:
        msg = await ws.receive(timeout=TIMEOUT)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        frames.append(msg.data.encode())
        if json.loads(msg.data).get("rid") == rid:
            return frames


async def frames_until_close(ws: aiohttp.ClientWebSocketResponse) -> list[bytes]:
    """Every text frame until the socket closes."""
    frames: list[bytes] = []
    while True:
        msg = await ws.receive(timeout=TIMEOUT)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            assert msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ), msg.type
            return frames
        frames.append(msg.data.encode())


async def test_pipelined_places_arrive_in_venue_order(
    sim: SimServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Resting liquidity so that some places fill: several events per request.
    sim.add_liquidity(SYMBOL, "S", "1.1300", 5_000)
    trader = await connect(sim, http)
    watcher = await connect(sim, http)  # same account: sees the events, not the replies
    recorder = Recorder(sim, monkeypatch)
    count = 40
    for rid in range(1, count + 1):
        # Every fourth order crosses the liquidity, the others rest below it.
        await trader.send_str(place(rid, "1.1300" if rid % 4 == 0 else "1.1200"))
    await trader.send_str(open_orders(count + 1))

    received = await frames_until_reply(trader, count + 1)
    ours = [(t, f) for t, f in recorder.venue if t in (None, sim.account_id)]  # not sim-liquidity's
    venue = [frame for _, frame in ours]
    assert received == venue
    replies = [json.loads(frame)["rid"] for frame in received if b'"rid"' in frame]
    assert replies == list(range(1, count + 2))
    kinds = {json.loads(frame).get("t") for frame in received}
    assert {"n", "f"} <= kinds  # accepted and filled orders, no rejects
    assert "j" not in kinds

    events = [frame for target, frame in ours if target is not None]
    watched: list[bytes] = []
    while len(watched) < len(events):
        watched.append((await watcher.receive_str(timeout=TIMEOUT)).encode())
    assert watched == events

    # Without a fault, every frame went straight to the sockets.
    assert sorted(recorder.direct) == sorted(venue + events)
    await trader.close()
    await watcher.close()


async def test_delay_fault_bypasses_direct_writes(
    sim: SimServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await connect(sim, http)
    recorder = Recorder(sim, monkeypatch)
    loop = asyncio.get_running_loop()
    sim.faults.delay(0.3)
    sent = loop.time()
    for rid in range(1, 6):
        await ws.send_str(place(rid))
    async with asyncio.timeout(TIMEOUT):  # a reply and an `n` each, now waiting in the queue
        while len(recorder.venue) < 10:
            await asyncio.sleep(0.005)
    delayed = [frame for _, frame in recorder.venue]
    # Without the delay, a new reply still must not overtake the frames queued before it.
    sim.faults.delay(0)
    await ws.send_str(open_orders(6))
    first = await ws.receive(timeout=TIMEOUT)
    assert loop.time() - sent >= 0.28  # no frame leaves before its due time
    assert first.type is aiohttp.WSMsgType.TEXT
    received = [first.data.encode(), *await frames_until_reply(ws, 6)]
    assert received == [frame for _, frame in recorder.venue]
    assert not set(recorder.direct) & set(delayed)

    # Once the queue has drained, replies go direct again.
    await ws.send_str(open_orders(7))
    reply = await frames_until_reply(ws, 7)
    assert recorder.direct[-1:] == reply
    await ws.close()


async def test_stall_fault_bypasses_direct_writes(
    sim: SimServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await connect(sim, http)
    recorder = Recorder(sim, monkeypatch)
    loop = asyncio.get_running_loop()
    sim.faults.stall(0.2)
    stalled = loop.time()
    for rid in range(1, 4):
        await ws.send_str(place(rid))
    await ws.send_str(open_orders(4))
    received = await frames_until_reply(ws, 4)
    assert loop.time() - stalled >= 0.18  # nothing leaves before the stall ends
    assert received == [frame for _, frame in recorder.venue]
    assert recorder.direct == []

    # After the stall, replies go direct again.
    await ws.send_str(open_orders(5))
    reply = await frames_until_reply(ws, 5)
    assert recorder.direct == reply
    await ws.close()


async def test_drop_after_frames_counts_exactly(
    sim: SimServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await connect(sim, http)
    # A reply before the fault is armed...
    await ws.send_str(open_orders(1))
    await frames_until_reply(ws, 1)
    recorder = Recorder(sim, monkeypatch)
    assert sim.faults.drop_after(3) == 1
    # ...then exactly three frames, none written directly: a place gets a reply and an `n`,
    # so the third frame is the second place's reply, and its `n` never leaves.
    await ws.send_str(place(2))
    first = await frames_until_reply(ws, 2)
    first += [(await ws.receive_str(timeout=TIMEOUT)).encode()]
    assert [json.loads(frame).get("t") for frame in first] == [None, "n"]
    await ws.send_str(place(3))
    after = await frames_until_close(ws)
    assert [json.loads(frame).get("rid") for frame in after] == [3]
    assert recorder.direct == []
    async with asyncio.timeout(TIMEOUT):
        while sim.connection_count():
            await asyncio.sleep(0.01)
