"""Where to connect and with what: credentials, the venue URL or environment, the
proxy, the client itself, and connection failures in plain words.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from axorders.cli.exits import DEFAULT_TIMEOUT, UsageError
from axorders.cli.options import _venue, _venue_flag
from axorders.cli.render import _plain
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    InsecureTransportError,
    RequestTimeoutError,
)

if TYPE_CHECKING:
    from axorders.cli.names import _Names
    from axorders.client import OrdersClient


def _credentials(args: argparse.Namespace) -> dict[str, str]:
    token = args.token or os.environ.get("AX_TOKEN")
    key = os.environ.get("AX_API_KEY")
    secret = os.environ.get("AX_API_SECRET")
    if token:
        return {"token": token}
    if key and secret:
        return {"api_key": key, "api_secret": secret}
    if key or secret:
        raise UsageError("set both AX_API_KEY and AX_API_SECRET (or AX_TOKEN, or --token)")
    raise UsageError("no credentials: set AX_API_KEY and AX_API_SECRET, or AX_TOKEN, or --token")


_SCHEMES = ("http", "https", "ws", "wss")


def _check_venue(args: argparse.Namespace) -> None:
    """The venue URL can be used: a known environment, or an http(s)/ws(s) URL with a host."""
    from axorders.security import check_url

    venue = _venue(args)
    if venue.lower() in ("sandbox", "production"):
        return
    flag = _venue_flag(args)
    if "://" not in venue:
        raise UsageError(
            f"{flag}: {venue!r} is neither sandbox nor production nor a URL"
            " (e.g. http://127.0.0.1:8080 or wss://gateway.example)"
        )
    parts = urlsplit(venue)
    if parts.scheme.lower() not in _SCHEMES:
        raise UsageError(
            f"{flag}: unsupported scheme {parts.scheme + '://'!r} in {venue!r};"
            " use https:// or wss:// (http:// or ws:// for a local simulator)"
        )
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{flag}: {venue!r} is not a valid URL ({exc})") from None
    if not host:
        raise UsageError(f"{flag}: {venue!r} names no host")
    try:
        check_url(venue, allow_insecure=args.allow_insecure)
    except InsecureTransportError:
        raise UsageError(
            f"{flag}: refusing plain-text {parts.scheme}:// to {host}: the credentials would"
            " travel unencrypted; use https:// or wss://, or pass --allow-insecure"
        ) from None


def _check_proxy(args: argparse.Namespace) -> None:
    proxy = getattr(args, "proxy", None)
    if proxy is None:
        return
    parts = urlsplit(proxy)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"--proxy: {_redacted(proxy)!r} has a bad port number") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--proxy: {_redacted(proxy)!r} is not an HTTP proxy URL"
            " (http://[user:password@]host:port)"
        )


def _redacted(url: str) -> str:
    """``url`` without the password of its user part."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _timeout(args: argparse.Namespace) -> float:
    return float(args.timeout) if args.timeout is not None else DEFAULT_TIMEOUT


def _client(args: argparse.Namespace) -> OrdersClient:
    from axorders.client import OrdersClient
    from axorders.store import SqliteOrderStore

    creds = _credentials(args)
    journal = getattr(args, "journal", None)
    proxy = getattr(args, "proxy", None)
    extra: dict[str, Any] = {"proxy": proxy} if proxy else {}
    record = getattr(args, "record", None)
    if record is not None:
        extra["record"] = record
    try:
        return OrdersClient(
            _venue(args),
            request_timeout=_timeout(args),
            connect_timeout=_timeout(args),
            connect_attempts=3,
            allow_insecure=args.allow_insecure,
            store=SqliteOrderStore(journal) if journal else None,
            token=creds.get("token"),
            api_key=creds.get("api_key"),
            api_secret=creds.get("api_secret"),
            **extra,
        )
    except TypeError:
        if proxy:
            raise UsageError("--proxy: this version of axorders cannot use a proxy") from None
        raise
    except InsecureTransportError as exc:
        raise UsageError(f"{_venue_flag(args)}: {exc} (or pass --allow-insecure)") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def _connect(client: OrdersClient, names: _Names) -> None:
    await client.connect()
    names.open(client.session.account_id)


def _probe(host: str, port: int) -> str | None:
    """Why a TCP connection to ``host:port`` fails, in plain words (None: it does not)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=2.0):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"host name {host!r} not found"
    except TimeoutError:
        return f"no answer from {host}:{port} (timed out)"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def _connect_failure(args: argparse.Namespace, exc: ConnectError) -> str:
    """A connection failure in plain words, naming the URL and what to check."""
    from axorders.config import Endpoints
    from axorders.security import is_loopback

    venue = _venue(args)
    try:
        endpoints = (
            Endpoints.for_environment(venue)
            if venue.lower() in ("sandbox", "production")
            else Endpoints.from_url(venue)
        )
    except (AxOrdersError, ValueError):
        return _plain(str(exc))
    url = endpoints.orders_ws_url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    proxy = getattr(args, "proxy", None)
    reason = None if proxy else _probe(host, port)
    if reason is None:
        detail = str(exc).rpartition(": ")[2] or str(exc)
        reason = _plain(detail)
    if proxy:
        hint = "is the proxy reachable (--proxy)?"
    elif is_loopback(host):
        hint = "is the simulator running (axorders sim)?"
    else:
        hint = f"check {_venue_flag(args)} and the network"
    return f"could not connect to {url}: {reason} — {hint}"


def _failure_text(args: argparse.Namespace, exc: AxOrdersError) -> str:
    if isinstance(exc, ConnectError):
        return _connect_failure(args, exc)
    if isinstance(exc, AuthenticationError):
        return (
            f"the venue refused the credentials ({_plain(str(exc))}); check AX_API_KEY and"
            " AX_API_SECRET, or AX_TOKEN / --token"
        )
    if isinstance(exc, RequestTimeoutError):
        return f"no answer from the venue within {_timeout(args):g} s (--timeout)"
    return _plain(str(exc))
