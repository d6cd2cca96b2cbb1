"""The ``axorders`` argument parser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from axorders.cli.exits import DEFAULT_TIMEOUT, EXIT_USAGE
from axorders.cli.replay import add_parser as add_replay_parser
from axorders.cli.risk import add_halt_parser, add_risk_options
from axorders.model import MAX_CLIENT_ORDER_ID_LENGTH


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
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="record the session in DIR (replay it with `axorders replay DIR`;"
        " default: AXORDERS_RECORD)",
    )
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
    add_risk_options(place)
    _add_venue_options(place)

    cancel = sub.add_parser("cancel", help="cancel one order")
    _add_order_ref(cancel)
    _add_venue_options(cancel)

    replace = sub.add_parser("replace", help="replace an order's price and/or quantity")
    _add_order_ref(replace)
    replace.add_argument("--price", help="the new limit price")
    replace.add_argument("--quantity", help="the new quantity, in contracts")
    add_risk_options(replace)
    _add_venue_options(replace)

    cancel_all = sub.add_parser("cancel-all", help="cancel every open order")
    cancel_all.add_argument("--symbol", help="only this instrument's orders")
    _add_venue_options(cancel_all)

    orders = sub.add_parser("orders", help="list open orders")
    orders.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_venue_options(orders)

    status = sub.add_parser("status", help="the venue's status of one order")
    _add_order_ref(status)
    _add_venue_options(status)

    fills = sub.add_parser("fills", help="fills of the last 7 days, with fees")
    fills.add_argument("--symbol", help="only this instrument's fills")
    fills.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_venue_options(fills)

    positions = sub.add_parser(
        "positions",
        help="the account's positions",
        description="The venue's positions of the account: signed quantity, average entry"
        " price, cost basis, notional and realized pnl.",
    )
    positions.add_argument("--symbol", help="only this instrument's position")
    positions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_venue_options(positions)
    balances = sub.add_parser("balances", help="the account's balances")
    balances.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_venue_options(balances)

    add_halt_parser(sub, _add_venue_options)

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
    watch.add_argument(
        "--stats",
        type=_positive,
        nargs="?",
        const=5.0,
        default=None,
        metavar="SECONDS",
        help="also print one health line (connection, open orders, fills, latency) every"
        " SECONDS (default 5)",
    )
    _add_venue_options(watch)

    add_replay_parser(sub)
    return parser
