"""``/orders/ws`` over loopback with a plain aiohttp client: handshake, shapes, fan-out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from axorders.model import Instrument
from axorders.sim import SimConfig, SimServer

NAUTILUS_HEADERS = {"user-agent": "NautilusTrader/1.231.0"}
NAUTILUS_PLACE = (
    '{"rid":1,"t":"p","s":"EURUSD-PERP","d":"B","q":10,"p":"1.08500","tif":"GTC","po":true,'
    '"cid":4694084538830600987,"tag":"Nautilus"}'
)

Frame = dict[str, Any]


def place(rid: int, **fields: Any) -> Frame:
    frame: Frame = {
        "rid": rid, "t": "p", "s": "EURUSD-PERP", "d": "B", "q": 100, "p": "1.1300",
        "tif": "GTC", "po": False,
    }  # fmt: skip
    frame.update(fields)
    return frame


def is_reply(rid: int) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("rid") == rid


def of_type(tag: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("t") == tag


def same_shape(ours: Any, theirs: Any, path: str = "") -> None:
    """Same keys in the same order, recursively (values may differ)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert list(ours) == list(theirs), f"{path}: {list(ours)} != {list(theirs)}"
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{path}.{key}")


def captured(protocol_dir: Path, name: str) -> Frame:
    data: Frame = json.loads((protocol_dir / "captured" / name).read_text())
    return data


# ---------------------------------------------------------------------------------------------
# Handshake


async def test_nautilus_handshake_and_frames(sim: SimServer, http: aiohttp.ClientSession) -> None:
    token = sim.issue_token()
    headers = {**NAUTILUS_HEADERS, "Authorization": f"Bearer {token}"}
    async with http.ws_connect(sim.orders_ws_url, headers=headers, autoping=False) as ws:
        # No subprotocol and no compression extension were negotiated.
        assert ws.protocol is None
        assert ws.compress == 0
        assert json.loads(await ws.receive_str()) == {
            "rid": 0,
            "res": {"li": sim.user_id, "o": None, "cod": False},
        }
        await ws.send_str(NAUTILUS_PLACE)
        await ws.send_str('{"rid":2,"t":"o"}')
        await ws.send_str('{"rid":3,"t":"x","oid":"O-TEST0001"}')
        await ws.ping(b"")
        frames: list[Frame] = []
        pong = False
        while len(frames) < 4 or not pong:
            msg = await ws.receive(timeout=5)
            if msg.type is aiohttp.WSMsgType.PONG:
                pong = True
            elif msg.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if frame.get("t") != "h":
                    frames.append(frame)
        placed, rejected, open_orders, cancel = frames
        assert placed["rid"] == 1 and placed["res"]["oid"].startswith("O-")
        assert len(placed["res"]["oid"]) == 28
        # The 10-lot probe is below EURUSD-PERP's minimum of 100 contracts.
        assert rejected["t"] == "j" and rejected["r"] == "INCORRECT_QUANTITY"
        assert rejected["o"]["cid"] == 4694084538830600987 and rejected["o"]["tag"] == "Nautilus"
        assert open_orders == {"rid": 2, "res": {"orders": []}}
        assert cancel == {"rid": 3, "err": {"code": 404, "msg": "no matching orders"}}


async def test_nautilus_reconnect_with_lower_case_header(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    headers = {**NAUTILUS_HEADERS, "authorization": f"Bearer {sim.issue_token()}"}
    async with http.ws_connect(sim.orders_ws_url, headers=headers) as ws:
        assert json.loads(await ws.receive_str())["rid"] == 0


async def test_nautilus_probe_accepted_on_a_small_minimum(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]],
    orders_ws: Callable[..., Awaitable[tuple[Any, Frame]]],
) -> None:
    tick = Decimal("0.0001")
    instrument = Instrument(
        symbol="EURUSD-PERP", tick_size=tick, minimum_order_size=1, price_precision=4
    )
    sim = await sim_factory(
        SimConfig(makers=False, instruments=[instrument], marks={"EURUSD-PERP": Decimal("1.085")})
    )
    ws, _ = await orders_ws(sim)
    await ws.send(NAUTILUS_PLACE)
    frames = await ws.recv_until(of_type("n"))
    assert frames[-1]["o"]["p"] == "1.085" and frames[-1]["o"]["q"] == 10


async def test_bare_token_is_accepted(sim: SimServer, orders_ws: Any) -> None:
    _, login = await orders_ws(sim, headers={"Authorization": sim.issue_token()})
    assert login["res"]["li"] == sim.user_id


@pytest.mark.parametrize("header", [None, "Bearer nope", "", "Basic abc"])
async def test_bad_token_is_401_before_the_upgrade(
    sim: SimServer, http: aiohttp.ClientSession, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for url in (sim.orders_ws_url, sim.md_ws_url):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers=headers)
        assert info.value.status == 401


async def test_expired_token_is_refused(sim: SimServer, http: aiohttp.ClientSession) -> None:
    token = sim.issue_token(ttl=0)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(sim.orders_ws_url, headers={"Authorization": f"Bearer {token}"})
    assert info.value.status == 401


# ---------------------------------------------------------------------------------------------
# Order flow


async def test_login_lists_open_orders_and_cod(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, cid=7))
    reply = (await ws.recv_until(is_reply(1)))[-1]
    _, login = await orders_ws(sim, query="cancel_on_disconnect=true")
    assert login["res"]["cod"] is True
    [order] = login["res"]["o"]
    assert order["oid"] == reply["res"]["oid"] and order["cid"] == 7


async def test_response_then_events_and_fills_to_both_users(sim: SimServer, orders_ws: Any) -> None:
    other = sim.add_user()
    buyer, _ = await orders_ws(sim)
    seller, _ = await orders_ws(sim, sim.issue_token(other.user_id))
    await seller.send(place(1, d="S", q=300, p="1.1390"))
    frames = await seller.recv_until(of_type("n"))
    assert [f.get("rid") for f in frames] == [1, None]
    await buyer.send(place(5, q=100, p="1.1395", tif="IOC"))
    frames = await buyer.recv_until(of_type("f"))
    assert frames[0] == {"rid": 5, "res": {"oid": frames[1]["o"]["oid"]}}
    assert [f.get("t") for f in frames[1:]] == ["n", "f"]
    assert frames[-1]["xs"]["agg"] is True and frames[-1]["xs"]["p"] == "1.139"
    maker = await seller.recv_until(of_type("p"))
    assert maker[-1]["xs"]["agg"] is False
    assert maker[-1]["xs"]["tid"] == frames[-1]["xs"]["tid"]
    assert (maker[-1]["o"]["xq"], maker[-1]["o"]["rq"]) == (100, 200)
    assert maker[-1]["o"]["u"] == other.user_id


async def test_events_reach_every_session_of_the_user(sim: SimServer, orders_ws: Any) -> None:
    first, _ = await orders_ws(sim)
    second, _ = await orders_ws(sim)
    stranger, _ = await orders_ws(sim, sim.issue_token(sim.add_user().user_id))
    await first.send(place(1))
    ack = (await first.recv_until(of_type("n")))[-1]
    assert (await second.recv()) == ack
    # Another user's session sees nothing; its next frame is its own reply.
    await stranger.send({"rid": 9, "t": "o"})
    assert await stranger.recv() == {"rid": 9, "res": {"orders": []}}


async def test_cancel_replace_cancel_all_status(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, q=200, p="1.1283", po=True, cid=10075, tag="Nautilus"))
    oid = (await ws.recv_until(of_type("n")))[0]["res"]["oid"]
    await ws.send({"rid": 2, "t": "r", "oid": oid, "q": 100})
    frames = await ws.recv_until(of_type("r"))
    new = frames[0]["res"]["oid"]
    replaced = frames[-1]
    assert replaced["noid"] == new and replaced["ro"]["o"] == "REPLACED"
    assert replaced["no"]["cid"] == 10075 and replaced["no"]["tag"] == "Nautilus"
    await ws.send({"rid": 3, "t": "s", "oid": new})
    status = (await ws.recv_until(is_reply(3)))[-1]["res"]["status"]
    assert (status["order_id"], status["state"], status["remaining_quantity"]) == (
        new,
        "ACCEPTED",
        100,
    )
    await ws.send({"rid": 4, "t": "X", "symbol": "EURUSD-PERP"})
    frames = await ws.recv_until(of_type("c"))
    assert frames[0] == {"rid": 4, "res": {}}
    assert frames[-1]["o"]["oid"] == new and frames[-1]["o"]["o"] == "CANCELED"
    await ws.send({"rid": 5, "t": "x", "oid": new})
    assert (await ws.recv_until(is_reply(5)))[-1]["err"]["code"] == 404


async def test_cancel_on_disconnect(sim: SimServer, orders_ws: Any, eventually: Any) -> None:
    watcher, _ = await orders_ws(sim)
    dropping, _ = await orders_ws(sim, query="cancel_on_disconnect=true")
    await dropping.send(place(1))
    oid = (await dropping.recv_until(of_type("n")))[0]["res"]["oid"]
    await watcher.send(place(2, p="1.1299"))
    kept = (await watcher.recv_until(is_reply(2)))[-1]["res"]["oid"]
    await dropping.close()
    canceled = (await watcher.recv_until(lambda f: f.get("t") == "c"))[-1]
    assert canceled["o"]["oid"] == oid
    assert [o.venue_order_id for o in sim.engine.open_orders(sim.account_id)] == [kept]


async def test_bad_frames_never_break_the_gateway(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    junk = {
        "nonsense": None,
        "{}": None,
        "[]": None,
        '{"rid":7,"t":"zz"}': 7,
        '{"rid":8,"t":"p"}': 8,
        "\x00" * 10: None,
    }
    for text, rid in junk.items():
        await ws.send(text)
        reply = await ws.recv()
        assert reply["err"]["code"] == 400 and reply.get("rid") == rid
    await ws.send(b"\x01\x02")
    assert (await ws.recv())["err"] == {"code": 400, "msg": "binary frames are not supported"}
    await ws.send({"rid": 99, "t": "o"})
    assert await ws.recv() == {"rid": 99, "res": {"orders": []}}


async def test_heartbeats_and_keepalive(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]], orders_ws: Any
) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.05, keepalive_pu=True, pu_interval=0.05)
    )
    ws, _ = await orders_ws(sim)
    seen: set[str] = set()
    while seen != {"h", "pu"}:
        frame = await ws.recv(heartbeats=True)
        seen.add(frame["t"])
        if frame["t"] == "h":
            assert list(frame) == ["t", "ts", "tn"]
        else:
            assert frame == {"t": "pu"}


async def test_liquidity_helper_and_session_close(sim: SimServer, orders_ws: Any) -> None:
    ws, _ = await orders_ws(sim)
    await ws.send(place(1, q=300, p="1.1390", tif="DAY"))
    await ws.recv_until(of_type("n"))
    sim.add_liquidity("EURUSD-PERP", "S", "1.1390", 100)
    fill = (await ws.recv_until(of_type("p")))[-1]
    assert fill["xs"]["agg"] is False
    assert sim.session_close() == 1
    done = (await ws.recv_until(of_type("d")))[-1]
    assert (done["o"]["o"], done["o"]["xq"], done["o"]["rq"]) == ("DONE_FOR_DAY", 100, 0)
    with pytest.raises(ValueError, match="tick"):
        sim.add_liquidity("EURUSD-PERP", "S", "1.13905", 100)


async def test_makers_provide_a_book_to_trade_against(
    sim_with_makers: SimServer, orders_ws: Any
) -> None:
    bid, ask = sim_with_makers.engine.best_prices("EURUSD-PERP")
    assert bid is not None and ask is not None and bid < ask
    ws, _ = await orders_ws(sim_with_makers)
    await ws.send(place(1, q=100, p=str(ask + Decimal("0.0020")), tif="IOC"))
    frames = await ws.recv_until(lambda f: f.get("t") in ("f", "x", "j"))
    assert frames[-1]["t"] == "f"


# ---------------------------------------------------------------------------------------------
# The same shapes as the real venue (skipped without the captures)


async def test_shapes_match_captured_frames(
    sim: SimServer, orders_ws: Any, protocol_dir: Path
) -> None:
    ws, login = await orders_ws(sim)
    same_shape(login, captured(protocol_dir, "ws-orders-response-0.json"))
    await ws.send({"rid": 1, "t": "o"})
    assert await ws.recv() == captured(protocol_dir, "ws-orders-response-1.json")
    await ws.send({"rid": 2, "t": "x", "oid": "O-TEST0001"})
    assert await ws.recv() == captured(protocol_dir, "ws-orders-response-2.json")
    heartbeat = await ws.recv(heartbeats=True)
    while heartbeat.get("t") != "h":
        heartbeat = await ws.recv(heartbeats=True)
    same_shape(heartbeat, captured(protocol_dir, "ws-orders-h.json"))

    common = {"cid": 10075, "tag": "fixture"}
    await ws.send(place(3, q=200, p="1.1283", po=True, **common))
    ack = (await ws.recv_until(of_type("n")))[-1]
    same_shape(ack, captured(protocol_dir, "ws-orders-acknowledged.json"))
    await ws.send({"rid": 4, "t": "r", "oid": ack["o"]["oid"], "q": 100})
    replaced = (await ws.recv_until(of_type("r")))[-1]
    same_shape(replaced, captured(protocol_dir, "ws-orders-replaced.json"))
    await ws.send({"rid": 5, "t": "x", "oid": replaced["noid"]})
    canceled = (await ws.recv_until(of_type("c")))[-1]
    reference = captured(protocol_dir, "ws-orders-canceled.json")
    same_shape(canceled, reference)
    assert (canceled["xr"], canceled["txt"]) == (reference["xr"], reference["txt"])

    await ws.send(place(6, p="1.1283", tif="IOC", cid=10076, tag="fixture"))
    expired = (await ws.recv_until(of_type("x")))[-1]
    same_shape(expired, captured(protocol_dir, "ws-orders-expired.json"))
    assert (expired["o"]["xq"], expired["o"]["rq"]) == (0, 0)

    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 100)
    sim.add_liquidity("EURUSD-PERP", "B", "1.1383", 100)
    await ws.send(place(7, p="1.1393", po=True, cid=10077, tag="fixture"))
    rejected = (await ws.recv_until(of_type("j")))[-1]
    reference = captured(protocol_dir, "ws-orders-rejected.json")
    same_shape(rejected, reference)
    assert (rejected["r"], rejected["txt"]) == (reference["r"], reference["txt"])
    assert rejected["o"]["txt"] == reference["o"]["txt"]

    await ws.send(place(8, p="1.1408", tif="IOC", cid=10078, tag="fixture"))
    filled = (await ws.recv_until(of_type("f")))[-1]
    reference = captured(protocol_dir, "ws-orders-filled-b.json")
    same_shape(filled, reference)
    assert filled["xs"]["p"] == reference["xs"]["p"] and filled["xs"]["agg"] is True
    await ws.send(place(9, d="S", p="1.1363", tif="IOC", cid=10079, tag="fixture"))
    filled = (await ws.recv_until(of_type("f")))[-1]
    reference = captured(protocol_dir, "ws-orders-filled-s.json")
    same_shape(filled, reference)
    assert filled["xs"]["p"] == reference["xs"]["p"] and filled["xs"]["d"] == "S"
