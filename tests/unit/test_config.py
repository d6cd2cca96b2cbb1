"""Environments and the endpoints derived from one URL."""

from __future__ import annotations

import pytest

from axorders.config import Endpoints, Environment
from axorders.exceptions import InsecureTransportError


@pytest.mark.parametrize(
    ("env", "host"),
    [
        (Environment.SANDBOX, "gateway.sandbox.architect.exchange"),
        ("sandbox", "gateway.sandbox.architect.exchange"),
        (" Production ", "gateway.architect.exchange"),
        (Environment.PRODUCTION, "gateway.architect.exchange"),
    ],
)
def test_environment_urls(env: Environment | str, host: str) -> None:
    endpoints = Endpoints.for_environment(env)
    assert endpoints.base_url == f"https://{host}"
    assert endpoints.orders_ws_url == f"wss://{host}/orders/ws"
    assert endpoints.md_ws_url == f"wss://{host}/md/ws"


@pytest.mark.parametrize(
    ("env", "host"),
    [
        (Environment.SANDBOX, "gateway.sandbox.architect.exchange"),
        (Environment.PRODUCTION, "gateway.architect.exchange"),
    ],
)
def test_environment_properties(env: Environment, host: str) -> None:
    assert env.base_url == f"https://{host}"
    assert env.orders_ws_url == f"wss://{host}/orders/ws"
    assert env.md_ws_url == f"wss://{host}/md/ws"
    assert Endpoints.for_environment(env) == Endpoints(
        env.base_url, env.orders_ws_url, env.md_ws_url
    )


def test_unknown_environment() -> None:
    with pytest.raises(ValueError, match="unknown environment"):
        Environment.parse("staging")


@pytest.mark.parametrize(
    ("url", "base", "orders", "md"),
    [
        (
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080",
            "ws://127.0.0.1:8080/orders/ws",
            "ws://127.0.0.1:8080/md/ws",
        ),
        (
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080",
            "ws://127.0.0.1:8080/orders/ws",
            "ws://127.0.0.1:8080/md/ws",
        ),
        (
            "https://h.example",
            "https://h.example",
            "wss://h.example/orders/ws",
            "wss://h.example/md/ws",
        ),
        (
            "ws://localhost:9/",
            "http://localhost:9",
            "ws://localhost:9/orders/ws",
            "ws://localhost:9/md/ws",
        ),
        (
            "wss://h.example",
            "https://h.example",
            "wss://h.example/orders/ws",
            "wss://h.example/md/ws",
        ),
        (
            "wss://h.example/orders/ws",
            "https://h.example",
            "wss://h.example/orders/ws",
            "wss://h.example/md/ws",
        ),
        (
            "ws://127.0.0.1:5/orders/ws/",
            "http://127.0.0.1:5",
            "ws://127.0.0.1:5/orders/ws",
            "ws://127.0.0.1:5/md/ws",
        ),
        (
            "wss://h.example/md/ws",
            "https://h.example",
            "wss://h.example/orders/ws",
            "wss://h.example/md/ws",
        ),
        (
            "https://h.example/prefix",
            "https://h.example/prefix",
            "wss://h.example/prefix/orders/ws",
            "wss://h.example/prefix/md/ws",
        ),
        (
            "HTTPS://H.example:443",
            "https://H.example:443",
            "wss://H.example:443/orders/ws",
            "wss://H.example:443/md/ws",
        ),
    ],
)
def test_endpoints_from_url(url: str, base: str, orders: str, md: str) -> None:
    endpoints = Endpoints.from_url(url)
    assert (endpoints.base_url, endpoints.orders_ws_url, endpoints.md_ws_url) == (base, orders, md)


def test_query_and_fragment_are_dropped() -> None:
    endpoints = Endpoints.from_url("wss://h.example/orders/ws?cancel_on_disconnect=true#x")
    assert endpoints.orders_ws_url == "wss://h.example/orders/ws"


@pytest.mark.parametrize("url", ["ftp://h", "h.example", "https://", ""])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(InsecureTransportError):
        Endpoints.from_url(url)
