"""The ``axorders`` console script; the only module of the client that prints.

Credentials come from ``AX_API_KEY`` and ``AX_API_SECRET``, or from ``AX_TOKEN`` (or
``--token``). ``--env sandbox|production`` (or ``AX_ENV``) picks the venue; ``--url`` (or
``AX_URL``) points anywhere else, such as a simulator started with ``axorders sim``.

Exit status: 0 on success; 2 for bad input (URLs and client order ids included), reported in
one line on stderr that names the argument to fix, before anything is sent to the venue; 1 when
the venue says no or the network fails (one line in plain words, e.g. "connection refused");
130 after Ctrl-C (``watch`` ends with 0 on Ctrl-C or SIGTERM: stopping is how it ends).

Events print as one line each (:func:`axorders.format_event`): the event's name, then
``key=value`` pairs. Orders show the client order id the user chose, even when another
``axorders`` process placed them: the names are kept in a small file per environment and
account under ``$XDG_STATE_HOME/axorders/`` (see :mod:`axorders.names`; ``--names PATH`` picks
another file, ``--no-names`` uses none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import enum
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import msgspec

from axorders import events as ev
from axorders.events import format_event
from axorders.exceptions import (
    AuthenticationError,
    AxOrdersError,
    ConnectError,
    DuplicateOrderError,
    InsecureTransportError,
    InvalidOrderError,
    OrderNotFoundError,
    RequestTimeoutError,
    UnknownOrderError,
)
from axorders.model import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    Instrument,
    OrderType,
    Side,
    TimeInForce,
    check_client_order_id,
    to_decimal,
)
from axorders.names import OrderNames, default_names_path

if TYPE_CHECKING:
    from axorders.client import OrdersClient
    from axorders.wire.rest import FillInfo

__all__ = ["build_parser", "format_event", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT = 10.0


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2, nothing sent."""


class Failure(Exception):
    """The venue said no, or the order is not there: one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _add_venue_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--env",
        choices=["sandbox", "production"],
        default=None,
        help="the AX environment (default: AX_ENV, else sandbox)",
    )
    where.add_argument(
        "--url",
        help="any gateway base URL, e.g. a simulator's http://127.0.0.1:PORT (default: AX_URL)",
    )
    parser.add_argument(
        "--token", help="a bearer token (default: AX_TOKEN; or set AX_API_KEY and AX_API_SECRET)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=None,
        help=f"seconds to wait for the venue (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain ws:// to a non-loopback host"
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="an HTTP proxy (http://[user:password@]host:port) for REST and the WebSockets"
        " (default: HTTPS_PROXY, unless NO_PROXY names the host)",
    )
    parser.add_argument("--journal", type=Path, help="an order journal file (SQLite)")
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        "--names",
        type=Path,
        metavar="PATH",
        help="the file of your client order ids (default: one per environment and account"
        " under $XDG_STATE_HOME/axorders)",
    )
    names.add_argument(
        "--no-names",
        action="store_true",
        help="keep no names file: orders placed by other processes show as CID-<n>",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log connection details to stderr"
    )


def _add_order_ref(parser: argparse.ArgumentParser) -> None:
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--id", dest="client_order_id", help="the client order id")
    ref.add_argument("--venue-id", dest="venue_order_id", help="the venue order id (O-...)")


def build_parser() -> argparse.ArgumentParser:
    """The ``axorders`` argument parser (``sim`` is handed to the simulator's own parser)."""
    parser = _Parser(
        prog="axorders",
        description="Trade on AX from the command line, or run the local AX simulator.",
        epilog="Credentials: AX_API_KEY and AX_API_SECRET, or AX_TOKEN (or --token).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("sim", help="run the AX simulator (see `axorders sim --help`)", add_help=False)
    sub.add_parser(
        "demo",
        help="a scripted session against an embedded simulator",
        description="Start a simulator on a free loopback port and trade against it.",
    )

    place = sub.add_parser(
        "place",
        help="place an order",
        description="Place an order and print its events until it rests or ends.",
    )
    place.add_argument("symbol", help="e.g. EURUSD-PERP")
    place.add_argument("side", help="BUY or SELL")
    place.add_argument("quantity", help="whole number of contracts")
    place.add_argument("price", nargs="?", help="limit price (not for MARKET)")
    place.add_argument(
        "--type", dest="order_type", default="LIMIT", help="LIMIT (default), MARKET or STOP_LIMIT"
    )
    place.add_argument("--tif", default="GTC", help="GTC (default), IOC or DAY")
    place.add_argument("--post-only", action="store_true", help="never take liquidity")
    place.add_argument("--trigger", help="STOP_LIMIT trigger price")
    place.add_argument(
        "--id",
        dest="client_order_id",
        help=f"your client order id, 1 to {MAX_CLIENT_ORDER_ID_LENGTH} printable characters"
        " (default: a random one)",
    )
    place.add_argument("--tag", help="venue tag, up to 10 letters or digits")
    _add_venue_options(place)

    cancel = sub.add_parser("cancel", help="cancel one order")
    _add_order_ref(cancel)
    _add_venue_options(cancel)

    replace = sub.add_parser("replace", help="replace an order's price and/or quantity")
    _add_order_ref(replace)
    replace.add_argument("--price", help="the new limit price")
    replace.add_argument("--quantity", help="the new quantity, in contracts")
    _add_venue_options(replace)

    cancel_all = sub.add_parser("cancel-all", help="cancel every open order")
    cancel_all.add_argument("--symbol", help="only this instrument's orders")
    _add_venue_options(cancel_all)

    orders = sub.add_parser("orders", help="list open orders")
    _add_venue_options(orders)

    status = sub.add_parser("status", help="the venue's status of one order")
    _add_order_ref(status)
    _add_venue_options(status)

    fills = sub.add_parser("fills", help="fills of the last 7 days, with fees")
    fills.add_argument("--symbol", help="only this instrument's fills")
    _add_venue_options(fills)

    watch = sub.add_parser(
        "watch",
        help="print order events as they happen, until Ctrl-C",
        description="Print every event of the account, one line each, until Ctrl-C or SIGTERM"
        " (or --count order events). Every reconnect attempt and every resync is a line too.",
    )
    watch.add_argument(
        "--count",
        type=_count,
        help="stop after this many order events (with --timeout: fail if they do not come"
        " within that many seconds)",
    )
    _add_venue_options(watch)
    return parser


# ---------------------------------------------------------------------------------------------
# Input checks that need no network.


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


def _venue(args: argparse.Namespace) -> str:
    """``--url``, ``--env``, then ``AX_URL``, ``AX_ENV``; the sandbox by default."""
    if args.url:
        return str(args.url)
    if args.env:
        return str(args.env)
    return os.environ.get("AX_URL") or os.environ.get("AX_ENV") or "sandbox"


def _venue_flag(args: argparse.Namespace) -> str:
    """The flag (or variable) the venue came from, to name in a message."""
    if args.url:
        return "--url"
    if args.env:
        return "--env"
    if os.environ.get("AX_URL"):
        return "--url (or AX_URL)"
    return "--env (or AX_ENV)"


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


def _usage(exc: InvalidOrderError, flags: dict[str, str] | None = None) -> UsageError:
    """A local refusal as a usage error that names the argument that fixes it."""
    field = getattr(exc, "field", "")
    flag = (flags or {}).get(field, _FLAGS.get(field))
    text = str(exc)
    if flag and not text.startswith(flag):
        text = f"{flag}: {text.partition(': ')[2] or text}"
    return UsageError(text)


_FLAGS = {
    "client_order_id": "--id",
    "trigger_price": "--trigger",
    "time_in_force": "--tif",
    "order_type": "--type",
    "tag": "--tag",
    "post_only": "--post-only",
}


def _check_place(args: argparse.Namespace) -> None:
    try:
        Side.parse(args.side)
        otype = OrderType.parse(args.order_type)
        TimeInForce.parse(args.tif)
        _check_quantity(args.quantity)
        if args.price is not None:
            to_decimal(args.price, "price")
        if args.trigger is not None:
            to_decimal(args.trigger, "trigger_price")
        if args.client_order_id is not None:
            check_client_order_id(args.client_order_id)
    except InvalidOrderError as exc:
        raise _usage(exc) from None
    if otype is not OrderType.MARKET and args.price is None:
        raise UsageError(f"price: a {otype.value} order needs a price")
    if otype is OrderType.MARKET and args.price is not None:
        raise UsageError("price: a MARKET order takes no price (the venue's preview sets it)")
    if otype is OrderType.STOP_LIMIT and args.trigger is None:
        raise UsageError("--trigger: a STOP_LIMIT order needs a trigger price")
    if otype is not OrderType.STOP_LIMIT and args.trigger is not None:
        raise UsageError(f"--trigger: a {otype.value} order takes no trigger price")
    if args.tag is not None and not (
        args.tag.isascii() and args.tag.isalnum() and len(args.tag) <= 10
    ):
        raise UsageError("--tag: at most 10 ASCII letters or digits")


def _check_quantity(text: str) -> None:
    """A whole, positive number of contracts within the wire's range (any instrument)."""
    from axorders.model import MAX_QUANTITY

    quantity = to_decimal(text, "quantity")
    if quantity != quantity.to_integral_value():
        raise InvalidOrderError(
            "quantity", "FRACTIONAL_QUANTITY", f"{text} is not a whole number of contracts"
        )
    if quantity <= 0:
        raise InvalidOrderError(
            "quantity", "INVALID_QUANTITY", f"{text} must be a positive number of contracts"
        )
    if quantity > MAX_QUANTITY:
        raise InvalidOrderError(
            "quantity", "QUANTITY_TOO_LARGE", f"{text} is more than {MAX_QUANTITY} contracts"
        )


def _check_replace(args: argparse.Namespace) -> None:
    if args.price is None and args.quantity is None:
        raise UsageError("give --price and/or --quantity")
    try:
        if args.price is not None:
            to_decimal(args.price, "price")
        if args.quantity is not None:
            _check_quantity(args.quantity)
    except InvalidOrderError as exc:
        raise _usage(exc, {"price": "--price", "quantity": "--quantity"}) from None


def _check_ref(args: argparse.Namespace) -> None:
    coid = getattr(args, "client_order_id", None)
    if coid is not None and args.command != "place":
        try:
            check_client_order_id(coid)
        except InvalidOrderError as exc:
            raise _usage(exc) from None


def _check_against(instrument: Instrument, args: argparse.Namespace) -> None:
    try:
        instrument.check_quantity(args.quantity)
        if args.price is not None:
            instrument.check_price(args.price)
        if args.trigger is not None:
            instrument.check_price(args.trigger, "trigger_price")
    except InvalidOrderError as exc:
        raise _usage(exc) from None


# ---------------------------------------------------------------------------------------------
# Output.


def _text(value: Any) -> str:
    if isinstance(value, Side):
        return value.name
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _say(text: str) -> None:
    print(text, flush=True)


def make_console(wide: bool = False) -> Any:
    """A rich console without automatic highlighting, as wide as the terminal.

    Not writing to a terminal (a pipe, a file), ``wide`` tables get all the width they need,
    so that nothing wraps.
    """
    from rich.console import Console

    if wide and not sys.stdout.isatty():
        return Console(highlight=False, width=10_000, soft_wrap=True)
    return Console(highlight=False)


def _print_table(
    headers: list[str],
    rows: list[list[Any]],
    console: Any = None,
    *,
    shrink: Iterable[str] = (),
) -> None:
    """Print a table as wide as the terminal. When it is too narrow, only the ``shrink``
    columns are cut short (with an ellipsis); the others never wrap."""
    from rich import box
    from rich.table import Column, Table

    cut = set(shrink)
    cells = [["" if v is None else _text(v) for v in row] for row in rows]
    fitted = [
        max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]

    def build() -> Table:
        table = Table(
            *(
                Column(h, no_wrap=True, overflow="ellipsis", width=fitted[i])
                for i, h in enumerate(headers)
            ),
            box=box.SIMPLE_HEAD,
        )
        for row in cells:
            table.add_row(*row)
        return table

    console = console or make_console(wide=True)
    table = build()
    needed = console.measure(table, options=console.options.update_width(100_000)).maximum
    if console.width >= 10_000:
        console.width = needed  # not a terminal: print the table at its own width
    # Too wide for the terminal: cut the ``shrink`` columns (widest first), never the others.
    excess = needed - console.width
    while excess > 0:
        candidates = [i for i, h in enumerate(headers) if h in cut and fitted[i] > 10]
        if not candidates:
            break
        i = max(candidates, key=lambda k: fitted[k])
        fitted[i] -= 1
        excess -= 1
    table = build()
    console.print(table)


FILL_COLUMNS = [
    "time",
    "client order id",
    "venue order id",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "liquidity",
    "trade id",
]
"""The columns of a fills table, in ``axorders fills`` and in the demo."""


def fill_rows(fills: Iterable[FillInfo], name_of: Callable[[str | None], str | None]) -> list[
    list[Any]
]:
    """The rows of a fills table: one per fill, with its fee and the user's client order id."""
    return [
        [
            _when(f.timestamp),
            name_of(f.order_id),
            f.order_id,
            f.symbol,
            f.side,
            f.quantity,
            f.price,
            f.fee,
            "TAKER" if f.is_taker else "MAKER",
            f.trade_id,
        ]
        for f in fills
    ]


def _when(timestamp: str) -> str:
    """``2026-11-29T20:45:53.365Z`` as ``11-29 20:45:53`` (UTC, as the venue writes it)."""
    date, _, clock = timestamp.partition("T")
    return f"{date[5:]} {clock[:8]}" if clock else timestamp


def print_fills(
    fills: Iterable[FillInfo],
    name_of: Callable[[str | None], str | None],
    console: Any = None,
) -> None:
    """Print a fills table (the same in ``axorders fills`` and the demo)."""
    _print_table(
        FILL_COLUMNS,
        fill_rows(fills, name_of),
        console,
        shrink=("venue order id", "trade id"),
    )


# ---------------------------------------------------------------------------------------------
# Names: the user's client order ids, across processes.


class _Names:
    """The names file of this command, once the account is known (``--no-names``: none)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self.file: OrderNames | None = None

    def open(self, account_id: str) -> None:
        args = self._args
        if self.file is not None or getattr(args, "no_names", False):
            return
        path = args.names
        if path is None:
            venue = _venue(args)
            if venue.lower() not in ("sandbox", "production"):
                venue = urlsplit(venue).netloc.rpartition("@")[2] or venue
            path = default_names_path(venue.lower(), account_id or "default")
        self.file = OrderNames(path)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def remember(self, client_order_id: str | None, venue_order_id: str | None = None) -> None:
        if self.file is not None and client_order_id is not None:
            self.file.remember(client_order_id, venue_order_id)

    def of_venue_id(self, venue_order_id: str | None) -> str | None:
        return self.file.by_venue_id(venue_order_id) if self.file is not None else None

    def name(
        self,
        client_order_id: str | None,
        *,
        cid: int | None = None,
        venue_order_id: str | None = None,
    ) -> str | None:
        if self.file is None:
            return client_order_id
        return self.file.name(client_order_id, cid=cid, venue_order_id=venue_order_id)

    def snapshot(self, order: ev.OrderSnapshot) -> ev.OrderSnapshot:
        name = self.name(order.client_order_id, cid=order.cid, venue_order_id=order.venue_order_id)
        if name != order.client_order_id:
            order = msgspec.structs.replace(order, client_order_id=name)
        if name is not None:
            self.remember(name, order.venue_order_id)
        return order

    def event(self, event: ev.Event) -> ev.Event:
        """``event`` with the user's client order id in place of a ``CID-<n>`` one.

        Learns the venue order ids of named orders on the way.
        """
        if self.file is None:
            return event
        if isinstance(event, ev.ExternalOrderDiscovered):
            order = self.snapshot(event.order)
            return event if order is event.order else msgspec.structs.replace(event, order=order)
        coid = getattr(event, "client_order_id", None)
        oid = getattr(event, "venue_order_id", None)
        if coid is None and oid is None:
            return event
        name = self.name(coid, venue_order_id=oid)
        if name is not None and oid is not None and not name.startswith(("CID-", "EXT-")):
            self.remember(name, oid)
        if name != coid:
            event = msgspec.structs.replace(event, client_order_id=name)
        return event


def _show(names: _Names, event: ev.Event, omit: frozenset[str] = frozenset()) -> None:
    event = names.event(event)
    line = format_event(event)
    if omit:
        line = " ".join(
            part for part in line.split(" ") if part.partition("=")[0] not in omit
        )
    _say(line)


# ---------------------------------------------------------------------------------------------
# The client.


def _timeout(args: argparse.Namespace) -> float:
    return float(args.timeout) if args.timeout is not None else DEFAULT_TIMEOUT


def _client(args: argparse.Namespace) -> OrdersClient:
    from axorders.client import OrdersClient
    from axorders.store import SqliteOrderStore

    creds = _credentials(args)
    journal = getattr(args, "journal", None)
    proxy = getattr(args, "proxy", None)
    extra: dict[str, Any] = {"proxy": proxy} if proxy else {}
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


async def _instrument(client: OrdersClient, symbol: str) -> Instrument:
    """The venue's instrument ``symbol`` (loaded over REST; nothing is sent)."""
    await client.load_instruments()
    for name in (symbol, symbol.strip().upper()):
        with contextlib.suppress(InvalidOrderError):
            return client.instrument(name)
    raise UsageError(_unknown_symbol(symbol, client.session.instruments))


def _unknown_symbol(symbol: str, known_symbols: Iterable[str]) -> str:
    """The message for an unknown symbol: the nearest one when one is close, else the list."""
    known = sorted(known_symbols)
    wanted = symbol.strip().upper()
    close = [s for s in known if s.startswith(f"{wanted}-")]  # EURUSD -> EURUSD-PERP
    if len(close) != 1:
        close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.8)
    if close:
        return f"symbol: unknown instrument {symbol!r}; did you mean {close[0]}?"
    shown = ", ".join(known[:40]) + (f" and {len(known) - 40} more" if len(known) > 40 else "")
    return f"symbol: unknown instrument {symbol!r}; known: {shown or 'none'}"


def _ref(args: argparse.Namespace) -> str:
    if args.client_order_id is not None:
        return f"order {args.client_order_id!r}"
    return f"venue order {args.venue_order_id!r}"


def _not_open(args: argparse.Namespace) -> Failure:
    return Failure(
        f"no open {_ref(args)} on this account (it may have ended: see `axorders status`)"
    )


def _refused(what: str, result: ev.RequestResolved) -> Failure:
    outcome = result.outcome
    if outcome is ev.RequestOutcome.ERROR:
        return Failure(f"{what}: refused by the venue ({result.code}: {result.message})")
    if outcome is ev.RequestOutcome.TIMEOUT:
        return Failure(f"{what}: no answer from the venue")
    if outcome is ev.RequestOutcome.LOST:
        return Failure(f"{what}: the connection dropped before the venue answered")
    return Failure(f"{what}: {result.message or outcome.value.lower()}")


async def _follow(
    client: OrdersClient,
    names: _Names,
    timeout: float | None,
    *,
    rid: int | None,
    coid: str,
    done: Callable[[ev.Event], bool],
    what: str,
) -> int:
    """Print the events of order ``coid`` until ``done(event)``; returns the exit status.

    Raises:
        Failure: the request was refused, the order rejected, or nothing came in time.
    """
    try:
        async with asyncio.timeout(timeout):
            async for event in client.events():
                if isinstance(event, ev.RequestResolved):
                    if event.request_id == rid and not event.ok:
                        raise _refused(what, event)
                    continue
                if getattr(event, "client_order_id", None) != coid:
                    continue
                if isinstance(event, ev.OrderRejected):
                    by = "locally" if event.origin is ev.RejectOrigin.LOCAL else "by the venue"
                    raise Failure(f"{what}: rejected {by} ({event.reason}): {event.text}")
                if isinstance(event, ev.CancelRejected | ev.ReplaceRejected):
                    raise Failure(f"{what}: refused ({event.reason}): {event.text}")
                _show(names, event)
                if done(event):
                    return EXIT_OK
    except TimeoutError:
        raise Failure(f"{what}: no answer from the venue within {timeout:g} s") from None
    raise Failure(f"{what}: the client closed")


def _is_end(event: ev.Event) -> bool:
    """True for an event after which its order is over."""
    if isinstance(event, ev.OrderFilled):
        return event.is_final
    return isinstance(event, ev.OrderCanceled | ev.OrderExpired | ev.OrderRejected)


_Prices = tuple[Decimal | None, Decimal | None, Decimal | None]


def _market(client: OrdersClient, symbol: str) -> _Prices:
    """The last trade, best bid and best ask the session has seen for ``symbol``."""
    prices: _Prices | None = client.stops.prices(symbol)
    return prices if prices is not None else (None, None, None)


async def _show_market(client: OrdersClient, symbol: str, trigger: str) -> None:
    """While a stop waits: a line each time the market moves (at most one a second)."""
    shown: _Prices | None = None
    while True:
        prices = _market(client, symbol)
        if prices != shown and any(p is not None for p in prices):
            shown = prices
            last, bid, ask = (p if p is not None else "-" for p in prices)
            _say(f"waiting for the trigger {trigger}: last trade {last}, bid {bid}, ask {ask}")
        await asyncio.sleep(1.0)


async def _place(args: argparse.Namespace) -> int:
    otype = OrderType.parse(args.order_type)
    tif = TimeInForce.IOC if otype is OrderType.MARKET else TimeInForce.parse(args.tif)
    coid = args.client_order_id
    if coid is None:
        coid = f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    client = _client(args)
    names = _Names(args)
    try:
        instrument = await _instrument(client, args.symbol)
        _check_against(instrument, args)
        await _connect(client, names)
        names.remember(coid)  # before the order can show up anywhere else
        try:
            rid = await client.submit_order(
                coid,
                instrument.symbol,
                args.side,
                args.quantity,
                args.price,
                order_type=otype,
                time_in_force=tif,
                post_only=args.post_only,
                trigger_price=args.trigger,
                tag=args.tag,
            )
        except DuplicateOrderError:
            raise UsageError(
                f"--id: client order id {coid!r} is already used by an open order"
            ) from None
        except InvalidOrderError as exc:
            raise _usage(exc) from None

        def rests(event: ev.Event) -> bool:
            return isinstance(event, ev.OrderAccepted) or _is_end(event)

        if otype is OrderType.STOP_LIMIT:
            return await _wait_for_trigger(client, names, args, coid, instrument.symbol, rid)
        # An IOC order (MARKET included) is followed to its end, a resting one to its ack.
        return await _follow(
            client,
            names,
            _timeout(args),
            rid=rid,
            coid=coid,
            done=_is_end if tif is TimeInForce.IOC else rests,
            what=f"order {coid!r}",
        )
    finally:
        names.close()
        await client.close()


async def _wait_for_trigger(
    client: OrdersClient,
    names: _Names,
    args: argparse.Namespace,
    coid: str,
    symbol: str,
    rid: int | None,
) -> int:
    """Hold a STOP_LIMIT in this process until it triggers and ends; Ctrl-C withdraws it."""
    direction = "rises to" if Side.parse(args.side) is Side.BUY else "falls to"
    _say(
        f"armed {coid}: waiting for the trigger; held by this process (nothing is sent yet) and"
        f" sent as a {Side.parse(args.side).name} limit at {args.price} when the last trade"
        f" {direction} {args.trigger}; Ctrl-C withdraws it"
    )
    market = asyncio.create_task(_show_market(client, symbol, args.trigger))
    try:
        return await _follow(
            client, names, None, rid=rid, coid=coid, done=_is_end, what=f"order {coid!r}"
        )
    except asyncio.CancelledError:
        rec = client.order(coid)
        if rec is not None and rec.status.value == "ARMED":
            _say(f"withdrew the stop {coid}: it never triggered and nothing was sent to the venue")
        elif rec is not None and not rec.is_terminal:
            _say(
                f"stopped watching {coid}: it triggered and rests at the venue as"
                f" {rec.venue_order_id or 'a pending order'}; cancel it with"
                f" `axorders cancel --id {coid}`"
            )
        raise
    finally:
        market.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await market


async def _cancel(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        try:
            rid = await client.submit_cancel(args.client_order_id, args.venue_order_id)
        except UnknownOrderError:
            raise _not_open(args) from None
        coid = _coid_of(client, args)
        return await _follow(
            client,
            names,
            _timeout(args),
            rid=rid,
            coid=coid,
            done=_is_end,
            what=f"cancel of {_ref(args)}",
        )
    finally:
        names.close()
        await client.close()


def _coid_of(client: OrdersClient, args: argparse.Namespace) -> str:
    """The client order id the session tracks the referenced order under."""
    rec = None
    if args.client_order_id is not None:
        rec = client.order(args.client_order_id)
    if rec is None and args.venue_order_id is not None:
        rec = client.session.order_by_venue_id(args.venue_order_id)
    if rec is None:  # the session resolved it a moment ago
        raise _not_open(args)
    return rec.client_order_id


async def _replace(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        try:
            rid = await client.submit_replace(
                args.client_order_id,
                args.venue_order_id,
                price=args.price,
                quantity=args.quantity,
            )
        except UnknownOrderError:
            raise _not_open(args) from None
        except InvalidOrderError as exc:
            raise _usage(exc, {"price": "--price", "quantity": "--quantity"}) from None
        return await _follow(
            client,
            names,
            _timeout(args),
            rid=rid,
            coid=_coid_of(client, args),
            done=lambda event: isinstance(event, ev.OrderReplaced),
            what=f"replace of {_ref(args)}",
        )
    finally:
        names.close()
        await client.close()


async def _cancel_all(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    timeout = _timeout(args)
    try:
        if args.symbol is not None:
            args.symbol = (await _instrument(client, args.symbol)).symbol
        await _connect(client, names)
        live = {
            rec.client_order_id
            for rec in client.orders()
            if rec.status.is_open and args.symbol in (None, rec.symbol)
        }
        rid = await client.submit_cancel_all(args.symbol)
        canceled = 0
        resolved = False
        try:
            async with asyncio.timeout(timeout):
                async for event in client.events():
                    if isinstance(event, ev.RequestResolved) and event.request_id == rid:
                        if not event.ok:
                            raise _refused("cancel-all", event)
                        resolved = True
                    elif _is_end(event) and getattr(event, "client_order_id", None) in live:
                        _show(names, event)
                        live.discard(event.client_order_id)  # type: ignore[attr-defined]
                        canceled += isinstance(event, ev.OrderCanceled)
                    if resolved and not live:
                        break
        except TimeoutError:
            raise Failure(
                f"cancel-all: {len(live)} order(s) still open after {timeout:g} s"
            ) from None
        _say(f"canceled {canceled} order(s)")
        return EXIT_OK
    finally:
        names.close()
        await client.close()


async def _orders(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        orders = [names.snapshot(o) for o in await client.get_open_orders(_timeout(args))]
    finally:
        names.close()
        await client.close()
    if not orders:
        _say("no open orders")
        return EXIT_OK
    _print_table(
        ["client order id", "venue order id", "symbol", "side", "qty", "price", "filled", "state"],
        [
            [
                o.client_order_id,
                o.venue_order_id,
                o.symbol,
                o.side,
                o.quantity,
                o.price,
                o.filled_qty,
                o.status,
            ]
            for o in orders
        ],
    )
    return EXIT_OK


async def _status(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        try:
            answer = await client.order_status(
                args.client_order_id, args.venue_order_id, _timeout(args)
            )
        except OrderNotFoundError:
            raise Failure(f"{_ref(args)}: not found on this account") from None
        if args.client_order_id is not None:
            # The venue knows the order by the cid made from this id: show the id asked for.
            answer = msgspec.structs.replace(answer, client_order_id=args.client_order_id)
        _show(names, answer, omit=frozenset({"request_id"}))
        return EXIT_OK
    finally:
        names.close()
        await client.close()


async def _fills(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        symbol = args.symbol
        if symbol is not None:
            symbol = (await _instrument(client, symbol)).symbol
        fills = await client.rest.fills(symbol=symbol)
        if not fills:
            _say("no fills")
            return EXIT_OK
        account = next((f.account_id for f in fills if f.account_id), None)
        if account is None:
            account = (await client.rest.whoami()).accounts[0].id
        names.open(account)
        print_fills(fills, names.of_venue_id)
        return EXIT_OK
    finally:
        names.close()
        await client.close()


async def _watch(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    timeout = args.timeout if args.count is not None else None
    seen = 0
    handler = _AttemptLines()
    logging.getLogger("axorders.client").addHandler(handler)
    try:
        async with asyncio.timeout(timeout):
            await _connect(client, names)
            async for event in client.events():
                if isinstance(event, ev.RequestResolved):
                    continue
                if isinstance(event, ev.Reconnected):
                    handler.attempts = 0
                _show(names, event)
                if isinstance(event, ev.OrderEvent):
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        break
        return EXIT_OK
    except TimeoutError:
        raise Failure(
            f"watch: {seen} of {args.count} order event(s) within {timeout:g} s (--timeout)"
        ) from None
    finally:
        logging.getLogger("axorders.client").removeHandler(handler)
        names.close()
        await client.close()


class _AttemptLines(logging.Handler):
    """Prints one line per failed reconnect attempt of the client (``watch``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.attempts = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(("reconnect failed", "reconnect refused", "connect attempt")):
            return
        self.attempts += 1
        reason = _plain(message.partition(": ")[2] or message)
        with contextlib.suppress(Exception):
            _say(f"reconnect attempt {self.attempts} failed: {reason}")


_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "place": _place,
    "cancel": _cancel,
    "replace": _replace,
    "cancel-all": _cancel_all,
    "orders": _orders,
    "status": _status,
    "fills": _fills,
    "watch": _watch,
}


async def _run(args: argparse.Namespace) -> int:
    """Run one command; SIGINT and SIGTERM stop it cleanly (the client is closed)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopped: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not stopped:
            stopped.append(sig)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop, sig)
    try:
        return await _COMMANDS[args.command](args)
    except asyncio.CancelledError:
        if not stopped:
            raise
        task.uncancel()
        if args.command == "watch":
            return EXIT_OK
        return EXIT_INTERRUPTED if stopped[0] is signal.SIGINT else 128 + stopped[0].value
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def _error(text: str) -> None:
    line = " ".join(text.split())  # always one line
    print(f"axorders: error: {line}", file=sys.stderr, flush=True)


# Library words in a transport error, and what they mean to a user.
_JARGON = (
    ("ClientConnectorDNSError", "host name not found"),
    ("gaierror", "host name not found"),
    ("ClientConnectorCertificateError", "the TLS certificate could not be verified"),
    ("SSLCertVerificationError", "the TLS certificate could not be verified"),
    ("ClientConnectorSSLError", "the TLS handshake failed"),
    ("SSLError", "the TLS handshake failed"),
    ("ConnectionRefusedError", "connection refused"),
    ("ClientProxyConnectionError", "the proxy refused the connection"),
    ("ServerDisconnectedError", "the server closed the connection"),
    ("ClientConnectorError", "could not open a connection"),
    ("ClientOSError", "the connection failed"),
    ("ConnectionResetError", "connection reset"),
    ("TimeoutError", "timed out"),
    ("WSHandshakeError", "the WebSocket upgrade was refused"),
)


def _plain(text: str) -> str:
    """``text`` with library class names put in plain words."""
    for jargon, words in _JARGON:
        text = text.replace(jargon, words)
    return text


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``axorders`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sim":
        from axorders.sim.cli import main as sim_main

        return sim_main(args_list[1:], prog="axorders sim")
    args = build_parser().parse_args(args_list)
    if args.command == "demo":
        from axorders.demo import run_demo

        try:
            return run_demo()
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    logger = logging.getLogger("axorders")
    if args.verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logger.addHandler(logging.NullHandler())  # no stray warnings: errors are one line
        logger.propagate = False
    logging.getLogger("axorders.client").setLevel(logging.INFO)  # reconnect attempts (watch)
    try:
        if args.command == "place":
            _check_place(args)
        elif args.command == "replace":
            _check_replace(args)
        _check_ref(args)
        _check_venue(args)
        _check_proxy(args)
        _credentials(args)
        return asyncio.run(_run(args))
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        _error(str(exc))
        return EXIT_FAILED
    except AxOrdersError as exc:
        _error(_failure_text(args, exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `axorders watch | head`): stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
