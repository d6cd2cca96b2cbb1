"""Where the venue is: the AX environments, or any explicit URL (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from axorders.exceptions import InsecureTransportError

__all__ = ["Endpoints", "Environment"]

ORDERS_WS_PATH = "/orders/ws"
MD_WS_PATH = "/md/ws"


class Environment(enum.Enum):
    """The two AX environments; the value is the gateway's base URL."""

    SANDBOX = "https://gateway.sandbox.architect.exchange"
    PRODUCTION = "https://gateway.architect.exchange"

    @classmethod
    def parse(cls, value: Environment | str) -> Environment:
        if isinstance(value, Environment):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown environment {value!r}; use sandbox or production") from None

    @property
    def base_url(self) -> str:
        """The REST gateway (``/api`` and ``/orders`` hang off it)."""
        return self.value

    @property
    def orders_ws_url(self) -> str:
        """The orders WebSocket."""
        return Endpoints.from_url(self.value).orders_ws_url

    @property
    def md_ws_url(self) -> str:
        """The market-data WebSocket."""
        return Endpoints.from_url(self.value).md_ws_url


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The gateway's REST base (``/api`` and ``/orders`` hang off it) and its WebSockets."""

    base_url: str
    orders_ws_url: str
    md_ws_url: str

    @classmethod
    def for_environment(cls, env: Environment | str) -> Endpoints:
        return cls.from_url(Environment.parse(env).value)

    @classmethod
    def from_url(cls, url: str) -> Endpoints:
        """Derive every endpoint from one URL: a gateway base (``http(s)://host:port``), or
        its orders WebSocket (``ws(s)://host:port/orders/ws``)."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise InsecureTransportError(f"unsupported URL {url!r}: use https:// or wss://")
        path = parts.path.rstrip("/")
        for suffix in (ORDERS_WS_PATH, MD_WS_PATH):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
        secure = scheme in ("https", "wss")
        http = urlunsplit(("https" if secure else "http", parts.netloc, path, "", ""))
        ws = urlunsplit(("wss" if secure else "ws", parts.netloc, path, "", ""))
        return cls(base_url=http, orders_ws_url=ws + ORDERS_WS_PATH, md_ws_url=ws + MD_WS_PATH)
