"""REST over loopback: every endpoint, auth, isolation between users, shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from axorders.sim import SimConfig, SimServer

Json = Any
NOW_WINDOW = {"start_timestamp_ns": "0", "end_timestamp_ns": str(7 * 86400 * 10**9)}


class Rest:
    def __init__(self, http: aiohttp.ClientSession, sim: SimServer, token: str | None) -> None:
        self.http, self.sim, self.token = http, sim, token

    async def __call__(
        self, method: str, path: str, body: Json = None, **params: Any
    ) -> tuple[int, Json]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(
            method,
            self.sim.base_url + path,
            json=body,
            params={k: str(v) for k, v in params.items()},
            headers=headers,
        ) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()


@pytest.fixture
def rest(http: aiohttp.ClientSession, sim: SimServer) -> Rest:
    return Rest(http, sim, sim.issue_token())


def order(**fields: Any) -> Json:
    return {"s": "EURUSD-PERP", "d": "B", "q": 100, "p": "1.1300", "tif": "GTC", "po": False,
            **fields}  # fmt: skip


def window_now() -> dict[str, str]:
    import time

    now = time.time_ns()
    return {"start_timestamp_ns": str(now - 3600 * 10**9), "end_timestamp_ns": str(now + 10**9)}


async def test_authenticate_and_whoami(http: aiohttp.ClientSession, sim: SimServer) -> None:
    anonymous = Rest(http, sim, None)
    status, body = await anonymous(
        "POST", "/api/authenticate", {"api_key": sim.api_key, "api_secret": sim.api_secret}
    )
    assert status == 200 and list(body) == ["token"]
    rest = Rest(http, sim, body["token"])
    status, who = await rest("GET", "/api/whoami")
    assert status == 200 and who["id"] == sim.user_id
    assert who["accounts"][0]["taker_fee"] == "0.0002"
    status, body = await anonymous(
        "POST", "/api/authenticate", {"username": "trader", "password": "sim-password"}
    )
    assert status == 200
    status, body = await anonymous(
        "POST", "/api/authenticate", {"api_key": sim.api_key, "api_secret": "wrong"}
    )
    assert (status, body["code"]) == (401, 401)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/whoami"),
        ("GET", "/api/balances"),
        ("GET", "/api/positions"),
        ("GET", "/api/risk-snapshot"),
        ("GET", "/api/fills"),
        ("POST", "/api/preview-aggressive-limit-order"),
        ("GET", "/orders/open-orders"),
        ("GET", "/orders/orders"),
        ("GET", "/orders/order-status"),
        ("POST", "/orders/place-order"),
        ("POST", "/orders/cancel-order"),
        ("POST", "/orders/replace-order"),
        ("POST", "/orders/cancel-all-orders"),
        ("POST", "/orders/initial-margin-requirement"),
        ("GET", "/orders/open_orders"),
    ],
)
async def test_token_required(
    http: aiohttp.ClientSession, sim: SimServer, method: str, path: str
) -> None:
    for token in (None, "not-a-token"):
        status, body = await Rest(http, sim, token)(method, path, {})
        assert status == 401 and body == {"error": "missing, invalid or expired token", "code": 401}


async def test_public_instruments(http: aiohttp.ClientSession, sim: SimServer) -> None:
    anonymous = Rest(http, sim, None)
    status, body = await anonymous("GET", "/api/instruments")
    assert status == 200
    assert {i["symbol"] for i in body["instruments"]} >= {"EURUSD-PERP", "XAU-PERP"}
    status, body = await anonymous("GET", "/api/instrument", symbol="EURUSD-PERP")
    assert status == 200 and body["tick_size"] == "0.0001" and body["minimum_order_size"] == "100"
    assert (await anonymous("GET", "/api/instrument", symbol="NOPE"))[0] == 404


async def test_order_lifecycle_over_rest_reaches_the_websocket(
    sim: SimServer, rest: Rest, orders_ws: Any
) -> None:
    ws, _ = await orders_ws(sim)
    status, body = await rest("POST", "/orders/place-order", order(cid=5, tag="rest"))
    assert status == 200 and list(body) == ["oid"]
    oid = body["oid"]
    ack = await ws.recv()
    assert ack["t"] == "n" and ack["o"]["oid"] == oid
    status, body = await rest("POST", "/orders/replace_order", {"oid": oid, "p": "1.1301"})
    assert status == 200
    new = body["oid"]
    assert (await ws.recv())["t"] == "r"
    status, body = await rest("GET", "/orders/order-status", oid=new)
    assert status == 200
    assert body == {
        "status": {
            "symbol": "EURUSD-PERP",
            "order_id": new,
            "clord_id": 5,
            "state": "ACCEPTED",
            "filled_quantity": 0,
            "remaining_quantity": 100,
        }
    }
    status, body = await rest("GET", "/orders/open-orders")
    assert (status, body["total_count"], body["limit"], body["offset"]) == (200, 1, 100, 0)
    assert body["orders"][0]["oid"] == new
    assert await rest("POST", "/orders/cancel-order", {"oid": new}) == (200, {"cxl_rx": True})
    assert (await ws.recv())["t"] == "c"
    assert (await rest("POST", "/orders/cancel-order", {"oid": new}))[0] == 404
    await rest("POST", "/orders/place-order", order())
    assert (await ws.recv())["t"] == "n"
    assert await rest("POST", "/orders/cancel-all-orders", {}) == (200, {})
    assert (await ws.recv())["t"] == "c"
    status, history = await rest("GET", "/orders/orders", limit=2)
    assert status == 200 and len(history["orders"]) == 2 and "next_cursor" in history
    status, rest_page = await rest("GET", "/orders/orders", cursor=history["next_cursor"])
    assert [o["o"] for o in history["orders"] + rest_page["orders"]] == [
        "CANCELED",
        "CANCELED",
        "REPLACED",
    ]


async def test_fills_positions_balances(sim: SimServer, rest: Rest) -> None:
    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 100)
    status, _ = await rest("POST", "/orders/place-order", order(p="1.1408", tif="IOC"))
    assert status == 200
    status, body = await rest("GET", "/api/fills", **window_now())
    assert status == 200
    [fill] = body["fills"]
    assert (fill["price"], fill["fee"], fill["is_taker"]) == ("1.1388", "0.022776", True)
    assert (await rest("GET", "/api/fills"))[0] == 400
    status, body = await rest("GET", "/api/positions")
    assert body["positions"][0]["signed_quantity"] == 100
    status, body = await rest("GET", "/api/balances")
    assert body["balances"][0]["amount"] == "999999.977224"
    status, body = await rest("GET", "/api/risk-snapshot")
    assert status == 200 and "EURUSD-PERP" in body["risk_snapshot"]["per_symbol"]


async def test_rest_fill_lag(
    sim_factory: Callable[[SimConfig | None], Awaitable[SimServer]],
    http: aiohttp.ClientSession,
) -> None:
    sim = await sim_factory(SimConfig(makers=False, rest_fill_lag=0.3))
    rest = Rest(http, sim, sim.issue_token())
    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 100)
    await rest("POST", "/orders/place-order", order(p="1.1388", tif="IOC"))
    status, body = await rest("GET", "/api/fills", **window_now())
    assert status == 200 and body["fills"] == []  # the WS fill was immediate; REST lags
    async with asyncio.timeout(5):
        while not body["fills"]:
            await asyncio.sleep(0.05)
            status, body = await rest("GET", "/api/fills", **window_now())
    assert body["fills"][0]["fee"] == "0.022776"


async def test_preview_and_initial_margin(sim: SimServer, rest: Rest) -> None:
    body = {"symbol": "EURUSD-PERP", "quantity": 100, "side": "B"}
    status, preview = await rest("POST", "/api/preview-aggressive-limit-order", body)
    assert status == 200 and preview["limit_price"] is None
    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 100)
    status, preview = await rest("POST", "/api/preview-aggressive-limit-order", body)
    assert preview == {
        "limit_price": "1.1388",
        "vwap": "1.1388",
        "filled_quantity": 100,
        "remaining_quantity": 0,
    }
    status, margin = await rest("POST", "/orders/initial-margin-requirement", order(p="1.1383"))
    assert (status, margin) == (200, {"im_pct": "6.0", "im": "6.8298000", "pos": 0, "mult": "1"})


async def test_bad_requests_get_json_errors(sim: SimServer, rest: Rest) -> None:
    for method, path, body, params in [
        ("POST", "/orders/place-order", {"s": "EURUSD-PERP"}, {}),
        ("POST", "/orders/place-order", order(tif="FOK"), {}),
        ("GET", "/orders/open-orders", None, {"limit": "abc"}),
        ("GET", "/orders/order-status", None, {"order_id": "O-1"}),
        ("GET", "/orders/orders", None, {"cursor": "nope"}),
    ]:
        status, reply = await rest(method, path, body, **params)
        assert status == 400 and reply["code"] == 400 and reply["error"], (path, reply)
    status, reply = await rest("GET", "/orders/nowhere")
    assert (status, reply["code"]) == (404, 404)


async def test_one_user_never_sees_another(
    sim: SimServer, http: aiohttp.ClientSession, orders_ws: Any
) -> None:
    alice = Rest(http, sim, sim.issue_token())
    bob_user = sim.add_user()
    bob = Rest(http, sim, sim.issue_token(bob_user.user_id))
    bob_ws, _ = await orders_ws(sim, sim.issue_token(bob_user.user_id))
    _, placed = await alice("POST", "/orders/place-order", order(cid=1))
    oid = placed["oid"]
    assert (await bob("GET", "/orders/open-orders"))[1]["orders"] == []
    assert (await bob("GET", "/orders/orders"))[1]["orders"] == []
    assert (await bob("GET", "/orders/order-status", oid=oid))[0] == 404
    assert (await bob("GET", "/orders/order-status", cid=1))[0] == 404
    assert (await bob("POST", "/orders/cancel-order", {"oid": oid}))[0] == 404
    assert (await bob("POST", "/orders/replace-order", {"oid": oid, "q": 200}))[0] == 404
    assert await bob("POST", "/orders/cancel-all-orders", {}) == (200, {})
    assert (await bob("GET", "/orders/open-orders", account_id=sim.account_id))[0] == 403
    await bob_ws.send({"rid": 1, "t": "x", "oid": oid})
    assert (await bob_ws.recv())["err"]["code"] == 404
    await bob_ws.send({"rid": 2, "t": "s", "oid": oid})
    assert (await bob_ws.recv())["err"]["code"] == 404
    assert (await alice("GET", "/orders/open-orders"))[1]["orders"][0]["oid"] == oid


async def test_rest_shapes_match_captures(sim: SimServer, rest: Rest, protocol_dir: Path) -> None:
    def ref(name: str) -> Json:
        return json.loads((protocol_dir / "captured" / name).read_text())

    def keys(value: Json) -> list[str]:
        return list(value)

    sim.add_liquidity("EURUSD-PERP", "S", "1.1388", 100)
    await rest("POST", "/orders/place-order", order(p="1.1408", tif="IOC"))
    _, who = await rest("GET", "/api/whoami")
    assert set(keys(who)) <= set(ref("whoami.json"))
    assert set(who["accounts"][0]) <= set(ref("whoami.json")["accounts"][0])
    _, balances = await rest("GET", "/api/balances")
    assert keys(balances) == keys(ref("balances.json"))
    assert keys(balances["balances"][0]) == keys(ref("balances.json")["balances"][0])
    _, positions = await rest("GET", "/api/positions")
    assert keys(positions["positions"][0]) == keys(ref("positions-long.json")["positions"][0])
    _, fills = await rest("GET", "/api/fills", **window_now())
    assert keys(fills["fills"][0]) == keys(ref("fills-live.json")["fills"][0])
    assert set(keys(fills)) <= set(ref("fills.json")) | {"next_cursor"}
    _, preview = await rest(
        "POST", "/api/preview-aggressive-limit-order",
        {"symbol": "EURUSD-PERP", "quantity": 100, "side": "B"},
    )  # fmt: skip
    assert keys(preview) == keys(ref("preview.json"))
    _, margin = await rest("POST", "/orders/initial-margin-requirement", order())
    assert keys(margin) == keys(ref("initial-margin.json"))
    _, risk = await rest("GET", "/api/risk-snapshot")
    reference = ref("risk.json")["risk_snapshot"]
    assert keys(risk["risk_snapshot"]) == keys(reference)
    assert keys(risk["risk_snapshot"]["per_symbol"]["EURUSD-PERP"]) == keys(
        reference["per_symbol"]["EURUSD-PERP"]
    )
    _, placed = await rest("POST", "/orders/place-order", order(cid=3))
    _, status = await rest("GET", "/orders/order-status", oid=placed["oid"])
    assert keys(status["status"]) == keys(ref("order-status-filled.json")["status"])
    _, open_orders = await rest("GET", "/orders/open-orders")
    assert keys(open_orders) == keys(ref("open-orders.json"))
    _, history = await rest("GET", "/orders/orders", limit=1)
    assert keys(history) == keys(ref("orders.json"))
    instrument = ref("instruments.json")["instruments"][0]
    _, ours = await rest("GET", "/api/instrument", symbol="EURUSD-PERP")
    assert set(ours) <= set(instrument) | {"state"}  # documented; absent from the capture
