"""The simulator's REST API, called without a socket."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest

from axorders.model import Side
from axorders.sim.accounts import SimUser, Users
from axorders.sim.engine import Engine
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.restapi import RestApi

T0 = 1_790_228_411_934_693_936
S = 1_000_000_000
EUR = "EURUSD-PERP"


class Api:
    """A RestApi with two users and a helper to call it."""

    def __init__(self, fill_lag_ns: int = 0) -> None:
        instruments = default_instruments()
        self.engine = Engine(instruments, marks_for(instruments), rng=random.Random(1))
        self.users = Users()
        self.rejections = 0
        for n in (1, 2):
            user = SimUser(
                user_id=f"u{n}",
                account_id=f"a{n}",
                username=f"name{n}",
                password=f"pw{n}",
                api_key=f"key{n}",
                api_secret=f"secret{n}",
            )
            self.users.add(user)
            self.engine.add_account(user.account_id, user_id=user.user_id)
        self.engine.add_account("lp", check_margin=False)

        def gate() -> bool:
            if self.rejections:
                self.rejections -= 1
                return False
            return True

        self.api = RestApi(self.engine, self.users, fill_lag_ns=fill_lag_ns, auth_gate=gate)
        self.tokens = {n: self.users.issue_token(f"u{n}", T0, 3600) for n in (1, 2)}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: int | None = 1,
        now: int = T0,
        **query: Any,
    ) -> tuple[int, Any]:
        if isinstance(body, bytes):
            raw = body
        else:
            raw = json.dumps(body).encode() if body is not None else b""
        response = self.api.handle(
            method,
            path,
            {k: str(v) for k, v in query.items()},
            raw,
            authorization=f"Bearer {self.tokens[user]}" if user is not None else None,
            now=now,
        )
        return response.status, json.loads(response.body)


@pytest.fixture
def api() -> Api:
    return Api()


def place(api: Api, **fields: Any) -> str:
    body = {"s": EUR, "d": "B", "q": 100, "p": "1.1300", "tif": "GTC", "po": False, **fields}
    status, reply = api.call("POST", "/orders/place-order", body, user=fields.pop("user", 1))
    assert status == 200, reply
    return str(reply["oid"])


def test_authenticate(api: Api) -> None:
    status, body = api.call(
        "POST", "/api/authenticate", {"api_key": "key1", "api_secret": "secret1"}, user=None
    )
    assert status == 200 and list(body) == ["token"]
    assert api.users.user_for_token(body["token"], T0) == api.users.get("u1")
    status, body = api.call(
        "POST",
        "/api/authenticate",
        {"username": "name2", "password": "pw2", "expiration_seconds": 60},
        user=None,
    )
    assert status == 200
    assert api.users.user_for_token(body["token"], T0 + 61 * S) is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"api_key": "key1", "api_secret": "wrong"}, 401),
        ({"username": "name1", "password": "wrong"}, 401),
        ({}, 400),
        ({"api_key": "key1", "api_secret": "secret1", "username": "name1"}, 400),
        ({"api_key": "key1", "api_secret": "secret1", "expiration_seconds": 0}, 400),
        ("not an object", 400),
    ],
)
def test_authenticate_failures(api: Api, body: Any, status: int) -> None:
    got, reply = api.call("POST", "/api/authenticate", body, user=None)
    assert got == status
    assert reply["code"] == status and reply["error"]


def test_authentication_can_be_refused_once(api: Api) -> None:
    api.rejections = 1
    creds = {"api_key": "key1", "api_secret": "secret1"}
    assert api.call("POST", "/api/authenticate", creds, user=None)[0] == 401
    assert api.call("POST", "/api/authenticate", creds, user=None)[0] == 200


def test_token_required(api: Api) -> None:
    assert api.call("GET", "/api/whoami", user=None) == (
        401,
        {"error": "missing, invalid or expired token", "code": 401},
    )
    assert api.call("GET", "/api/whoami", now=T0 + 3601 * S)[0] == 401
    # Public endpoints need no token.
    assert api.call("GET", "/api/instruments", user=None)[0] == 200
    assert api.call("GET", "/api/instrument", user=None, symbol=EUR)[0] == 200


def test_paths_and_methods(api: Api) -> None:
    assert api.call("GET", "/orders/open_orders")[0] == 200
    assert api.call("GET", "/orders/open-orders/")[0] == 200
    assert api.call("POST", "/orders/open-orders")[0] == 405
    assert api.call("GET", "/orders/nothing-here")[0] == 404
    assert api.call("GET", "/")[0] == 404


def test_whoami(api: Api) -> None:
    status, body = api.call("GET", "/api/whoami", user=2)
    assert status == 200
    assert body["id"] == "u2" and body["username"] == "name2"
    [account] = body["accounts"]
    assert (account["id"], account["maker_fee"], account["taker_fee"]) == ("a2", "0", "0.0002")


def test_instruments(api: Api) -> None:
    status, body = api.call("GET", "/api/instruments")
    assert status == 200 and len(body["instruments"]) == len(default_instruments())
    status, body = api.call("GET", "/api/instrument", symbol="XAU-PERP")
    assert status == 200 and body["symbol"] == "XAU-PERP" and body["tick_size"] == "0.1"
    assert api.call("GET", "/api/instrument", symbol="NOPE")[0] == 404
    assert api.call("GET", "/api/instrument")[0] == 400


def test_order_entry_and_queries(api: Api) -> None:
    oid = place(api, cid=11, tag="x")
    response = api.api.handle(
        "POST",
        "/orders/cancel-order",
        {},
        json.dumps({"oid": oid}).encode(),
        authorization=api.tokens[1],  # bare token
        now=T0,
    )
    assert response.status == 200 and json.loads(response.body) == {"cxl_rx": True}
    [(account, event)] = response.events
    assert account == "a1" and event.order.status == "CANCELED"  # type: ignore[union-attr]
    assert api.call("POST", "/orders/cancel-order", {"oid": oid}) == (
        404,
        {"error": "no matching orders", "code": 404},
    )
    live = place(api, cid=12)
    status, body = api.call("POST", "/orders/replace-order", {"oid": live, "p": "1.1301"})
    assert status == 200 and body["oid"] != live
    new = body["oid"]
    status, body = api.call("GET", "/orders/order-status", oid=new)
    assert status == 200 and body["status"]["state"] == "ACCEPTED"
    assert body["status"]["clord_id"] == 12
    assert api.call("GET", "/orders/order-status", cid=12)[1]["status"]["order_id"] == new
    assert api.call("GET", "/orders/order-status", order_id=new)[0] == 400
    assert api.call("GET", "/orders/order-status")[0] == 400
    assert api.call("GET", "/orders/order-status", oid="O-NOPE")[0] == 404
    assert api.call("POST", "/orders/cancel-order", {"cid": 12, "aid": "a2"})[0] == 404
    assert api.call("POST", "/orders/cancel-order", {"cid": 12, "aid": "a1"})[0] == 200
    assert api.call("POST", "/orders/cancel-order", {})[0] == 400
    place(api)
    place(api, s="XAU-PERP", q=1, p="3600.0")
    status, body = api.call("POST", "/orders/cancel-all-orders", {"symbol": EUR})
    assert (status, body) == (200, {})
    status, body = api.call("GET", "/orders/open-orders")
    assert [o["s"] for o in body["orders"]] == ["XAU-PERP"]


def test_place_errors(api: Api) -> None:
    status, body = api.call(
        "POST", "/orders/place-order", {"s": EUR, "d": "B", "q": 100, "p": "1.13", "tif": "FOK"}
    )
    assert status == 400 and "time in force" in body["error"]
    assert api.call("POST", "/orders/place-order", {"s": EUR})[0] == 400
    assert api.call("POST", "/orders/place-order", b"{")[0] == 400
    # A venue rejection still answers with an oid (the reject arrives as a j event).
    status, body = api.call(
        "POST", "/orders/place-order", {"s": EUR, "d": "B", "q": 100, "p": "1.0000"}
    )
    assert status == 200 and body["oid"].startswith("O-")


def test_open_orders_paging(api: Api) -> None:
    oids = [place(api, p=f"1.13{i:02d}") for i in range(5)]
    status, body = api.call("GET", "/orders/open-orders", limit=2, offset=1)
    assert status == 200
    assert (body["total_count"], body["limit"], body["offset"]) == (5, 2, 1)
    assert [o["oid"] for o in body["orders"]] == oids[1:3]
    _, body = api.call("GET", "/orders/open-orders", sort_ts="desc", limit=1)
    assert [o["oid"] for o in body["orders"]] == oids[-1:]
    assert api.call("GET", "/orders/open-orders", limit=0)[0] == 400
    assert api.call("GET", "/orders/open-orders", limit="abc")[0] == 400
    assert api.call("GET", "/orders/open-orders", offset=-1)[0] == 400
    assert api.call("GET", "/orders/open-orders", account_id="a2")[0] == 403


def test_history_cursor(api: Api) -> None:
    oids = []
    for i in range(5):
        status, reply = api.call(
            "POST",
            "/orders/place-order",
            {"s": EUR, "d": "B", "q": 100, "p": "1.1300"},
            now=T0 + i,
        )
        oids.append(reply["oid"])
    status, body = api.call("GET", "/orders/orders", limit=2)
    assert status == 200
    assert [o["oid"] for o in body["orders"]] == [oids[4], oids[3]]
    assert body["next_cursor"] == f"{T0 + 3}:{oids[3]}"
    _, body = api.call("GET", "/orders/orders", limit=2, cursor=body["next_cursor"])
    assert [o["oid"] for o in body["orders"]] == [oids[2], oids[1]]
    _, body = api.call("GET", "/orders/orders", limit=2, cursor=body["next_cursor"])
    assert [o["oid"] for o in body["orders"]] == [oids[0]]
    assert "next_cursor" not in body
    _, body = api.call("GET", "/orders/orders", order_states="REJECTED")
    assert body["orders"] == []
    _, body = api.call("GET", "/orders/orders", order_id=oids[2])
    assert [o["oid"] for o in body["orders"]] == [oids[2]]
    _, body = api.call("GET", "/orders/orders", start_timestamp_ns=T0 + 3)
    assert len(body["orders"]) == 2
    assert api.call("GET", "/orders/orders", cursor="bad")[0] == 400


def trade(api: Api, now: int) -> None:
    api.engine.place("lp", EUR, Side.SELL, 100, Decimal("1.1388"), now=now)
    api.call(
        "POST",
        "/orders/place-order",
        {"s": EUR, "d": "B", "q": 100, "p": "1.1408", "tif": "IOC"},
        now=now,
    )


def test_fills_with_fees_and_lag() -> None:
    api = Api(fill_lag_ns=2 * S)
    trade(api, T0)
    window = {"start_timestamp_ns": T0 - S, "end_timestamp_ns": T0 + S}
    status, body = api.call("GET", "/api/fills", now=T0 + S, **window)
    assert status == 200 and body["fills"] == []
    _, body = api.call("GET", "/api/fills", now=T0 + 2 * S, **window)
    [fill] = body["fills"]
    assert fill["fee"] == "0.022776" and fill["is_taker"] is True
    assert fill["price"] == "1.1388" and fill["quantity"] == 100 and fill["side"] == "B"
    assert fill["trade_id"].startswith("T-") and fill["order_id"].startswith("O-")
    assert fill["timestamp"] == "2026-09-24T05:40:11.934693936Z"


def test_fills_paging_and_validation(api: Api) -> None:
    for i in range(3):
        trade(api, T0 + i)
    window = {"start_timestamp_ns": T0, "end_timestamp_ns": T0 + S, "now": T0 + S}
    _, body = api.call("GET", "/api/fills", limit=2, **window)
    assert len(body["fills"]) == 2 and body["total_count"] == 3
    assert body["fills"][0]["timestamp"] > body["fills"][1]["timestamp"]  # newest first
    _, rest = api.call("GET", "/api/fills", limit=2, cursor=body["next_cursor"], **window)
    assert len(rest["fills"]) == 1 and "next_cursor" not in rest
    ids = [f["trade_id"] for f in body["fills"] + rest["fills"]]
    assert len(set(ids)) == 3
    assert api.call("GET", "/api/fills")[0] == 400
    assert api.call("GET", "/api/fills", start_timestamp_ns=T0 + S, end_timestamp_ns=T0)[0] == 400
    assert (
        api.call("GET", "/api/fills", start_timestamp_ns=0, end_timestamp_ns=8 * 86400 * S)[0]
        == 400
    )
    assert api.call("GET", "/api/fills", user=2, **window)[1]["fills"] == []


def test_account_endpoints(api: Api) -> None:
    trade(api, T0)
    _, balances = api.call("GET", "/api/balances")
    assert balances["balances"][0]["account_id"] == "a1"
    assert Decimal(balances["balances"][0]["amount"]) == Decimal(1_000_000) - Decimal("0.022776")
    _, positions = api.call("GET", "/api/positions")
    [position] = positions["positions"]
    assert (position["symbol"], position["signed_quantity"]) == (EUR, 100)
    assert list(position) == [
        "account_id", "symbol", "signed_quantity", "signed_cost_basis", "signed_notional",
        "timestamp", "realized_pnl",
    ]  # fmt: skip
    status, risk = api.call("GET", "/api/risk-snapshot")
    assert status == 200 and risk["risk_snapshot"]["account_id"] == "a1"
    assert EUR in risk["risk_snapshot"]["per_symbol"]
    assert api.call("GET", "/api/positions", user=2)[1] == {"positions": []}


def test_preview_and_initial_margin(api: Api) -> None:
    body = {"symbol": EUR, "quantity": 100, "side": "B"}
    assert api.call("POST", "/api/preview-aggressive-limit-order", body)[1] == {
        "limit_price": None,
        "vwap": None,
        "filled_quantity": 0,
        "remaining_quantity": 100,
    }
    api.engine.place("lp", EUR, Side.SELL, 100, Decimal("1.1388"), now=T0)
    assert api.call("POST", "/api/preview-aggressive-limit-order", body)[1] == {
        "limit_price": "1.1388",
        "vwap": "1.1388",
        "filled_quantity": 100,
        "remaining_quantity": 0,
    }
    assert api.call("POST", "/api/preview_aggressive_limit_order", {**body, "symbol": "X"})[0] == (
        404
    )
    assert api.call("POST", "/api/preview-aggressive-limit-order", {**body, "quantity": 0})[0] == (
        400
    )
    status, margin = api.call(
        "POST", "/orders/initial-margin-requirement", {"s": EUR, "d": "B", "q": 100, "p": "1.1383"}
    )
    assert status == 200
    assert margin == {"im_pct": "6.0", "im": "6.8298000", "pos": 0, "mult": "1"}


def test_users_are_isolated(api: Api) -> None:
    oid = place(api, cid=99)
    assert api.call("GET", "/orders/open-orders", user=2)[1]["orders"] == []
    assert api.call("GET", "/orders/orders", user=2)[1]["orders"] == []
    assert api.call("GET", "/orders/order-status", user=2, oid=oid)[0] == 404
    assert api.call("GET", "/orders/order-status", user=2, cid=99)[0] == 404
    assert api.call("POST", "/orders/cancel-order", {"oid": oid}, user=2)[0] == 404
    assert api.call("POST", "/orders/replace-order", {"oid": oid, "q": 200}, user=2)[0] == 404
    assert api.call("POST", "/orders/cancel-all-orders", {}, user=2) == (200, {})
    assert api.call("POST", "/orders/cancel-all-orders", {"account_id": "a1"}, user=2)[0] == 403
    assert [o["oid"] for o in api.call("GET", "/orders/open-orders")[1]["orders"]] == [oid]


def test_a_self_trade_cancel_says_why_in_rest_as_in_its_event(api: Api) -> None:
    """Self-trade prevention (cancel-incoming): the ``c`` event's ``txt`` is in REST too."""
    resting = place(api, d="S", q=100, p="1.1300", cid=1)
    response = api.api.handle(
        "POST",
        "/orders/place-order",
        {},
        json.dumps({"s": EUR, "d": "B", "q": 100, "p": "1.1300", "tif": "GTC", "cid": 2}).encode(),
        authorization=f"Bearer {api.tokens[1]}",
        now=T0,
    )
    assert response.status == 200
    incoming = json.loads(response.body)["oid"]
    [canceled] = [e for _, e in response.events if e.order.status == "CANCELED"]  # type: ignore[attr-defined]
    why = "order canceled by self-trade prevention"
    assert canceled.text == why  # type: ignore[attr-defined]
    status, body = api.call("GET", "/orders/orders", order_id=incoming)
    assert status == 200
    [order] = body["orders"]
    assert (order["o"], order["txt"]) == ("CANCELED", why)
    status, body = api.call("GET", "/orders/order-status", oid=incoming)
    assert body["status"]["state"] == "CANCELED"
    assert body["status"]["reject_message"] == why
    # The resting order is untouched, and a user's own cancel carries no reason.
    status, body = api.call("GET", "/orders/order-status", oid=resting)
    assert body["status"]["state"] == "ACCEPTED" and "reject_message" not in body["status"]
    api.call("POST", "/orders/cancel-order", {"oid": resting})
    status, body = api.call("GET", "/orders/orders", order_id=resting)
    assert "txt" not in body["orders"][0]
    assert "reject_message" not in api.call("GET", "/orders/order-status", oid=resting)[1]["status"]
