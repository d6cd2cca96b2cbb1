"""``/md/ws`` over loopback: subscriptions, book and trade updates, shapes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from axorders.sim import SimConfig, SimServer

Frame = dict[str, Any]


def same_shape(ours: Any, theirs: Any, path: str = "") -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert list(ours) == list(theirs), f"{path}: {list(ours)} != {list(theirs)}"
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list) and theirs and ours:
        same_shape(ours[0], theirs[0], f"{path}[0]")


async def test_subscribe_l1_and_follow_the_book(sim: SimServer, md_ws: Any) -> None:
    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 4400)
    ws = await md_ws(sim)
    await ws.send({"rid": 1, "type": "subscribe", "symbol": "EURUSD-PERP", "level": "LEVEL_1"})
    assert await ws.recv() == {"rid": 1, "result": {"subscribed": "EURUSD-PERP"}}
    book = await ws.recv()
    assert (book["t"], book["s"], book["b"], book["a"]) == (
        "1",
        "EURUSD-PERP",
        [],
        [{"p": "1.1388", "q": 4400}],
    )
    ticker = await ws.recv()
    assert ticker["t"] == "s" and ticker["ap"] == "1.1388" and ticker["m"] == "1.1388"
    sim.add_liquidity("EURUSD-PERP", "B", "1.1380", 26500)
    update = await ws.recv_until(lambda f: f.get("t") == "1")
    assert update[-1]["b"] == [{"p": "1.138", "q": 26500}]


async def test_trades_and_l2(sim: SimServer, md_ws: Any, orders_ws: Any) -> None:
    sim.add_liquidity("GBPUSD-PERP", "S", "1.3260", 400)
    sim.add_liquidity("GBPUSD-PERP", "S", "1.3261", 500)
    ws = await md_ws(sim)
    await ws.send(
        {
            "rid": 2,
            "type": "subscribe",
            "symbol": "GBPUSD-PERP",
            "level": "LEVEL_2",
            "ticker": False,
        }
    )
    assert await ws.recv() == {"rid": 2, "result": {"subscribed": "GBPUSD-PERP"}}
    snapshot = await ws.recv()
    assert snapshot["t"] == "2" and snapshot["st"] is True
    assert snapshot["a"] == [{"p": "1.326", "q": 400}, {"p": "1.3261", "q": 500}]
    trader, _ = await orders_ws(sim)
    await trader.send(
        {"rid": 1, "t": "p", "s": "GBPUSD-PERP", "d": "B", "q": 100, "p": "1.3260",
         "tif": "IOC", "po": False}
    )  # fmt: skip
    frames = await ws.recv_until(lambda f: f.get("t") == "t")
    trade = frames[-1]
    assert (trade["p"], trade["q"], trade["s"], trade["d"]) == ("1.326", 100, "GBPUSD-PERP", "B")
    books = [f for f in frames if f.get("t") == "2"]
    assert books and books[-1]["a"][0] == {"p": "1.326", "q": 300}


async def test_errors_and_unsubscribe(sim: SimServer, md_ws: Any) -> None:
    ws = await md_ws(sim)
    await ws.send({"rid": 6, "type": "subscribe", "symbol": "INVALID-AUDIT", "level": "LEVEL_1"})
    assert await ws.recv() == {
        "rid": 6,
        "error": {"message": "Symbol INVALID-AUDIT is not available", "code": 404},
    }
    await ws.send("garbage")
    assert (await ws.recv())["error"]["code"] == 400
    await ws.send({"rid": 7, "type": "subscribe", "symbol": "XAU-PERP", "level": "TRADES"})
    assert (await ws.recv())["result"] == {"subscribed": "XAU-PERP"}
    await ws.recv_until(lambda f: f.get("t") == "s")  # the ticker snapshot
    await ws.send({"rid": 8, "type": "unsubscribe", "symbol": "XAU-PERP"})
    assert await ws.recv() == {"rid": 8, "result": {"unsubscribed": "XAU-PERP"}}
    sim.add_liquidity("XAU-PERP", "S", "3700.0", 1)
    await ws.send({"rid": 9, "type": "unsubscribe", "symbol": "XAU-PERP"})
    assert await ws.recv() == {"rid": 9, "result": {"unsubscribed": "XAU-PERP"}}


async def test_md_heartbeat(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]], md_ws: Any
) -> None:
    sim = await sim_factory(SimConfig(makers=False, heartbeat_interval=0.05))
    ws = await md_ws(sim)
    frame = await ws.recv(heartbeats=True)
    assert frame["t"] == "h" and list(frame) == ["t", "ts", "tn"]


async def test_makers_move_the_book(sim_with_makers: SimServer, md_ws: Any) -> None:
    ws = await md_ws(sim_with_makers)
    await ws.send(
        {"rid": 1, "type": "subscribe", "symbol": "XAU-PERP", "level": "LEVEL_2", "ticker": False}
    )
    await ws.recv()
    first = await ws.recv()
    assert first["t"] == "2" and len(first["b"]) == 5 and len(first["a"]) == 5
    bids = [float(level["p"]) for level in first["b"]]
    assert bids == sorted(bids, reverse=True)
    later = await ws.recv_until(lambda f: f.get("t") == "2")
    assert later[-1]["s"] == "XAU-PERP"


async def test_shapes_match_captured_frames(
    sim: SimServer, md_ws: Any, orders_ws: Any, protocol_dir: Path
) -> None:
    def ref(name: str) -> Frame:
        data: Frame = json.loads((protocol_dir / "captured" / name).read_text())
        return data

    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 4400)
    sim.add_liquidity("EURUSD-PERP", "B", "1.1380", 26500)
    ws = await md_ws(sim)
    await ws.send({"rid": 1, "type": "subscribe", "symbol": "EURUSD-PERP", "level": "LEVEL_1"})
    assert await ws.recv() == ref("ws-md-response-1.json")
    same_shape(await ws.recv(), ref("ws-md-1.json"))
    ticker = await ws.recv()
    reference = ref("ws-md-s.json")
    # Fields the venue leaves null are left out here (no settlement in the simulator).
    assert set(ticker) <= set(reference)
    assert list(ticker) == [k for k in reference if k in ticker]
    await ws.send({"rid": 2, "type": "subscribe", "symbol": "GBPUSD-PERP", "level": "LEVEL_2"})
    assert await ws.recv() == ref("ws-md-response-2.json")
    same_shape(await ws.recv(), ref("ws-md-2.json"))
    await ws.send({"rid": 6, "type": "subscribe", "symbol": "INVALID-AUDIT", "level": "LEVEL_1"})
    assert (await ws.recv_until(lambda f: f.get("rid") == 6))[-1] == ref("ws-md-response-6.json")
    trader, _ = await orders_ws(sim)
    await trader.send(
        {"rid": 1, "t": "p", "s": "EURUSD-PERP", "d": "B", "q": 400, "p": "1.1388",
         "tif": "IOC", "po": False}
    )  # fmt: skip
    trade = (await ws.recv_until(lambda f: f.get("t") == "t"))[-1]
    same_shape(trade, ref("ws-md-t.json"))
    heartbeat = await ws.recv(heartbeats=True)
    while heartbeat.get("t") != "h":
        heartbeat = await ws.recv(heartbeats=True)
    same_shape(heartbeat, ref("ws-md-h.json"))
