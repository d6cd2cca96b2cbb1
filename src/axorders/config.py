"""Where the venue is: the AX environments, or any explicit URL (pure)."""

from __future__ import annotations

import enum
import urllib.parse
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from axorders.exceptions import InsecureTransportError

__all__ = ["Endpoints", "Environment", "proxy_for", "proxy_secrets", "safe_proxy"]

PROXY_SCHEMES = frozenset({"http", "https", "socks4", "socks5"})

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


def proxy_for(url: str, proxy: str | None = None) -> str | None:
    """The proxy to reach ``url`` through, or None to go direct.

    ``proxy`` is a proxy URL (``http://[user:password@]host:port``; ``https``, ``socks4`` and
    ``socks5`` too for the WebSockets), ``""`` for none at all, or None for the environment:
    ``WSS_PROXY``/``HTTPS_PROXY`` for ``wss``/``https``, ``WS_PROXY``/``HTTP_PROXY`` for
    ``ws``/``http``, then ``ALL_PROXY`` (lower-case names too). Hosts that ``NO_PROXY``
    lists are always reached directly, an explicit ``proxy`` included.

    Raises:
        ValueError: a proxy URL without a host or with an unsupported scheme.
    """
    if proxy == "":
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if proxy is None:
        found = urllib.request.getproxies()
        secure = scheme in ("https", "wss")
        proxy = (
            found.get(scheme)
            or found.get("https" if secure else "http")
            or found.get("all")
            or None
        )
        if proxy is None:
            return None
    target = parts.netloc.rpartition("@")[2]
    if target and urllib.request.proxy_bypass(target):
        return None
    proxy_parts = urlsplit(proxy)
    if proxy_parts.scheme.lower() not in PROXY_SCHEMES or not proxy_parts.hostname:
        raise ValueError(
            f"unsupported proxy {safe_proxy(proxy)!r}: use http://host:port"
            " (https://, socks4:// and socks5:// also work for the WebSockets)"
        )
    return proxy


def safe_proxy(proxy: str | None) -> str:
    """``proxy`` fit for a log line: any user name and password replaced by ``***``."""
    if not proxy:
        return "none"
    parts = urlsplit(proxy)
    if "@" not in parts.netloc:
        return proxy
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def proxy_secrets(proxy: str | None) -> tuple[str, ...]:
    """The credentials inside a proxy URL (for redaction), as written and decoded."""
    if not proxy:
        return ()
    parts = urlsplit(proxy)
    found: list[str] = []
    for value in (parts.password,):
        if value:
            found.append(value)
            decoded = urllib.parse.unquote(value)
            if decoded != value:
                found.append(decoded)
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        found.insert(0, userinfo)
    return tuple(found)
