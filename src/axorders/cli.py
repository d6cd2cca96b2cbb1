"""The ``axorders`` console script; the only module of the client that prints.

Credentials come from ``AX_API_KEY`` and ``AX_API_SECRET``, or from ``AX_TOKEN`` (or
``--token``). ``--env sandbox|production`` picks the venue; ``--url`` points anywhere else,
such as a simulator started with ``axorders sim``. Bad input ends with one line on stderr and
exit status 2, before anything is sent; venue and network failures exit with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from axorders import events as ev
from axorders.exceptions import AxOrdersError, InvalidOrderError
from axorders.model import Instrument, OrderType, Side, TimeInForce, to_decimal

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2."""


def _add_venue_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--env",
        choices=["sandbox", "production"],
        default=None,
        help="the AX environment (default: sandbox, or AX_ENV)",
    )
    where.add_argument(
        "--url", help="any gateway base URL, e.g. a simulator's http://127.0.0.1:PORT"
    )
    parser.add_argument(
        "--token", help="a bearer token (default: AX_TOKEN; or use AX_API_KEY and AX_API_SECRET)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain ws:// to a non-loopback host"
    )
    parser.add_argument("--journal", type=Path, help="an order journal file (SQLite)")


def _add_order_ref(parser: argparse.ArgumentParser) -> None:
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--id", dest="client_order_id", help="the client order id")
    ref.add_argument("--venue-id", dest="venue_order_id", help="the venue order id (O-...)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axorders",
        description="Trade on AX from the command line, or run the local AX simulator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("sim", help="run the AX simulator (see `axorders sim --help`)", add_help=False)
    sub.add_parser("demo", help="a scripted session against the embedded simulator")

    place = sub.add_parser("place", help="place an order")
    place.add_argument("symbol", help="e.g. EURUSD-PERP")
    place.add_argument("side", help="BUY or SELL")
    place.add_argument("quantity", help="whole number of contracts")
    place.add_argument("price", nargs="?", help="limit price (not for MARKET)")
    place.add_argument(
        "--type", dest="order_type", default="LIMIT", help="LIMIT (default), MARKET or STOP_LIMIT"
    )
    place.add_argument("--tif", default="GTC", help="GTC (default), IOC or DAY")
    place.add_argument("--post-only", action="store_true")
    place.add_argument("--trigger", help="STOP_LIMIT trigger price")
    place.add_argument("--id", dest="client_order_id", help="client order id (default: random)")
    place.add_argument("--tag", help="venue tag, up to 10 letters or digits")
    _add_venue_options(place)

    cancel = sub.add_parser("cancel", help="cancel one order")
    _add_order_ref(cancel)
    _add_venue_options(cancel)

    replace = sub.add_parser("replace", help="replace an order's price and/or quantity")
    _add_order_ref(replace)
    replace.add_argument("--price")
    replace.add_argument("--quantity")
    _add_venue_options(replace)

    cancel_all = sub.add_parser("cancel-all", help="cancel every open order")
    cancel_all.add_argument("--symbol")
    _add_venue_options(cancel_all)

    orders = sub.add_parser("orders", help="list open orders")
    _add_venue_options(orders)

    status = sub.add_parser("status", help="the venue's status of one order")
    _add_order_ref(status)
    _add_venue_options(status)

    fills = sub.add_parser("fills", help="recent fills, with fees")
    fills.add_argument("--symbol")
    _add_venue_options(fills)

    watch = sub.add_parser("watch", help="print every order event until Ctrl-C")
    watch.add_argument("--count", type=int, help="stop after this many order events")
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
        raise UsageError("set both AX_API_KEY and AX_API_SECRET (or AX_TOKEN)")
    raise UsageError("no credentials: set AX_API_KEY and AX_API_SECRET, or AX_TOKEN, or --token")


def _venue(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    return str(args.env or os.environ.get("AX_ENV") or "sandbox")


def _check_place(args: argparse.Namespace) -> None:
    try:
        Side.parse(args.side)
        otype = OrderType.parse(args.order_type)
        TimeInForce.parse(args.tif)
        quantity = to_decimal(args.quantity, "quantity")
        if quantity != quantity.to_integral_value() or quantity <= 0:
            raise InvalidOrderError(
                "quantity",
                "FRACTIONAL_QUANTITY",
                f"{args.quantity} is not a whole number of contracts",
            )
        if args.price is not None:
            to_decimal(args.price, "price")
        if args.trigger is not None:
            to_decimal(args.trigger, "trigger_price")
    except InvalidOrderError as exc:
        raise UsageError(str(exc)) from None
    if otype is not OrderType.MARKET and args.price is None:
        raise UsageError(f"price: a {otype.value} order needs a price")
    if otype is OrderType.MARKET and args.price is not None:
        raise UsageError("price: a MARKET order takes no price (the venue's preview sets it)")


def _check_against(instrument: Instrument, args: argparse.Namespace) -> None:
    try:
        instrument.check_quantity(args.quantity)
        if args.price is not None:
            instrument.check_price(args.price)
        if getattr(args, "trigger", None) is not None:
            instrument.check_price(args.trigger, "trigger_price")
    except InvalidOrderError as exc:
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Commands.


def _line(event: ev.Event) -> str:
    """A compact, stable one-line form of an event."""
    name = type(event).__name__
    fields = []
    for key in event.__struct_fields__:
        if key in ("ts_init", "account_id", "trader_id", "strategy_id"):
            continue
        value = getattr(event, key)
        if value is None or value == "":
            continue
        if hasattr(value, "value"):
            value = value.value
        fields.append(f"{key}={value}")
    return f"{name} " + " ".join(fields)


async def _with_client(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]]) -> int:
    from axorders.client import OrdersClient
    from axorders.store import SqliteOrderStore

    creds = _credentials(args)
    store = SqliteOrderStore(args.journal) if args.journal else None
    client = OrdersClient(
        _venue(args),
        request_timeout=args.timeout,
        allow_insecure=args.allow_insecure,
        store=store,
        heartbeat=max(1.0, min(30.0, args.timeout)),
        token=creds.get("token"),
        api_key=creds.get("api_key"),
        api_secret=creds.get("api_secret"),
    )
    try:
        await client.connect()
        return await body(client)
    finally:
        await client.close()


async def _place(args: argparse.Namespace) -> int:
    _check_place(args)
    coid = args.client_order_id or f"cli-{uuid.uuid4().hex[:16]}"

    async def body(client: Any) -> int:
        try:
            instrument = client.instrument(args.symbol)
        except InvalidOrderError as exc:
            raise UsageError(str(exc)) from None
        _check_against(instrument, args)
        otype = OrderType.parse(args.order_type)
        rid = await client.submit_order(
            coid,
            args.symbol,
            args.side,
            args.quantity,
            args.price,
            order_type=otype,
            time_in_force=args.tif,
            post_only=args.post_only,
            trigger_price=args.trigger,
            tag=args.tag,
        )
        if otype is OrderType.STOP_LIMIT:
            print(f"armed {coid}: this process holds the stop; it is sent when triggered")
            return await _follow(client, coid, args.timeout, until_terminal=True)
        del rid  # the request's outcome shows in the order's events
        return await _follow(client, coid, args.timeout)

    return await _with_client(args, body)


async def _follow(client: Any, coid: str, timeout: float, *, until_terminal: bool = False) -> int:
    """Print the order's events until it rests, ends, or ``timeout`` passes."""
    status = EXIT_OK
    with contextlib.suppress(asyncio.TimeoutError):
        async with asyncio.timeout(timeout):
            async for event in client.events():
                if getattr(event, "client_order_id", None) != coid:
                    continue
                print(_line(event))
                if isinstance(event, ev.RequestResolved) and not event.ok:
                    status = EXIT_FAILED
                if isinstance(event, ev.OrderRejected):
                    return EXIT_FAILED
                rec = client.order(coid)
                if rec is not None and rec.is_terminal:
                    return status
                if not until_terminal and isinstance(event, ev.OrderAccepted):
                    return status
    return status


async def _cancel(args: argparse.Namespace) -> int:
    async def body(client: Any) -> int:
        rid = await client.cancel_order(args.client_order_id, args.venue_order_id)
        result = await client.wait_for(rid, args.timeout)
        print(_line(result))
        return EXIT_OK if result.ok else EXIT_FAILED

    return await _with_client(args, body)


async def _replace(args: argparse.Namespace) -> int:
    if args.price is None and args.quantity is None:
        raise UsageError("give --price and/or --quantity")

    async def body(client: Any) -> int:
        rid = await client.replace_order(
            args.client_order_id, args.venue_order_id, price=args.price, quantity=args.quantity
        )
        result = await client.wait_for(rid, args.timeout)
        print(_line(result))
        return EXIT_OK if result.ok else EXIT_FAILED

    return await _with_client(args, body)


async def _cancel_all(args: argparse.Namespace) -> int:
    async def body(client: Any) -> int:
        result = await client.wait_for(await client.cancel_all(args.symbol), args.timeout)
        print(_line(result))
        return EXIT_OK if result.ok else EXIT_FAILED

    return await _with_client(args, body)


async def _orders(args: argparse.Namespace) -> int:
    async def body(client: Any) -> int:
        orders = await client.get_open_orders(args.timeout)
        _print_table(
            ["venue order id", "symbol", "side", "qty", "price", "filled", "state"],
            [
                [
                    o.venue_order_id,
                    o.symbol,
                    o.side.name,
                    o.quantity,
                    o.price,
                    o.filled_qty,
                    o.status.value,
                ]
                for o in orders
            ],
        )
        return EXIT_OK

    return await _with_client(args, body)


async def _status(args: argparse.Namespace) -> int:
    async def body(client: Any) -> int:
        answer = await client.order_status(args.client_order_id, args.venue_order_id, args.timeout)
        print(_line(answer))
        return EXIT_OK if isinstance(answer, ev.OrderStatusReport) else EXIT_FAILED

    return await _with_client(args, body)


async def _fills(args: argparse.Namespace) -> int:
    from axorders.client import OrdersClient

    creds = _credentials(args)
    client = OrdersClient(
        _venue(args),
        request_timeout=args.timeout,
        allow_insecure=args.allow_insecure,
        token=creds.get("token"),
        api_key=creds.get("api_key"),
        api_secret=creds.get("api_secret"),
    )
    try:
        fills = await client.rest.fills(symbol=args.symbol)
    finally:
        await client.close()
    _print_table(
        ["time", "trade id", "order id", "symbol", "side", "qty", "price", "fee", "taker"],
        [
            [
                f.timestamp,
                f.trade_id,
                f.order_id,
                f.symbol,
                f.side.name,
                f.quantity,
                f.price,
                f.fee,
                f.is_taker,
            ]
            for f in fills
        ],
    )
    return EXIT_OK


async def _watch(args: argparse.Namespace) -> int:
    async def body(client: Any) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        seen = 0

        async def tail() -> None:
            nonlocal seen
            async for event in client.events():
                if isinstance(event, ev.RequestResolved):
                    continue
                print(_line(event), flush=True)
                if isinstance(event, ev.OrderEvent):
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        stop.set()
                        return

        task = asyncio.create_task(tail())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return EXIT_OK

    return await _with_client(args, body)


def _print_table(headers: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=160).print(table)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``axorders`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sim":
        from axorders.sim.cli import main as sim_main

        return sim_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "demo":
        from axorders.demo import run_demo

        return run_demo()
    try:
        if args.command == "place":
            _check_place(args)  # before any network use
        _credentials(args)
        return asyncio.run(_COMMANDS[args.command](args))
    except UsageError as exc:
        print(f"axorders: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AxOrdersError as exc:
        print(f"axorders: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
