"""The ``axorders`` console script; the only module of the client that prints.

Credentials come from ``AX_API_KEY`` and ``AX_API_SECRET``, or from ``AX_TOKEN`` (or
``--token``). ``--env sandbox|production`` (or ``AX_ENV``) picks the venue; ``--url`` (or
``AX_URL``) points anywhere else, such as a simulator started with ``axorders sim``.

Exit status: 0 on success; 2 for bad input, reported in one line on stderr before anything is
sent to the venue; 1 when the venue says no or the network fails (also one line on stderr);
130 after Ctrl-C (``watch`` ends with 0 on Ctrl-C or SIGTERM: stopping is how it ends).

Events print as one line each: the event's name, then ``key=value`` pairs.
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
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec

from axorders import events as ev
from axorders.exceptions import (
    AxOrdersError,
    DuplicateOrderError,
    InvalidOrderError,
    OrderNotFoundError,
    UnknownOrderError,
)
from axorders.model import Instrument, OrderType, Side, TimeInForce, to_decimal

if TYPE_CHECKING:
    from axorders.client import OrdersClient

__all__ = ["build_parser", "format_event", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
        "--timeout", type=_positive, default=10.0, help="seconds to wait for the venue (default 10)"
    )
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain ws:// to a non-loopback host"
    )
    parser.add_argument("--journal", type=Path, help="an order journal file (SQLite)")
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
    place.add_argument("--id", dest="client_order_id", help="client order id (default: random)")
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
        description="Print every event of the account, one line each, until Ctrl-C or SIGTERM.",
    )
    watch.add_argument("--count", type=_count, help="stop after this many order events")
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
    """``--url``, ``--env``, then ``AX_URL``, ``AX_ENV``; the sandbox by default."""
    if args.url:
        return str(args.url)
    if args.env:
        return str(args.env)
    return os.environ.get("AX_URL") or os.environ.get("AX_ENV") or "sandbox"


def _usage(exc: InvalidOrderError) -> UsageError:
    return UsageError(str(exc))


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
    except InvalidOrderError as exc:
        raise _usage(exc) from None
    if otype is not OrderType.MARKET and args.price is None:
        raise UsageError(f"price: a {otype.value} order needs a price")
    if otype is OrderType.MARKET and args.price is not None:
        raise UsageError("price: a MARKET order takes no price (the venue's preview sets it)")
    if otype is OrderType.STOP_LIMIT and args.trigger is None:
        raise UsageError("trigger_price: a STOP_LIMIT order needs --trigger")
    if otype is not OrderType.STOP_LIMIT and args.trigger is not None:
        raise UsageError(f"trigger_price: a {otype.value} order takes no --trigger")
    if args.tag is not None and not (
        args.tag.isascii() and args.tag.isalnum() and len(args.tag) <= 10
    ):
        raise UsageError("tag: at most 10 ASCII letters or digits")


def _check_quantity(text: str) -> None:
    quantity = to_decimal(text, "quantity")
    if quantity != quantity.to_integral_value():
        raise InvalidOrderError(
            "quantity", "FRACTIONAL_QUANTITY", f"{text} is not a whole number of contracts"
        )
    if quantity <= 0:
        raise InvalidOrderError(
            "quantity", "INVALID_QUANTITY", f"{text} must be a positive number of contracts"
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
    return str(value)


def _pairs(struct: msgspec.Struct, skip: frozenset[str]) -> list[str]:
    fields = []
    for key in struct.__struct_fields__:
        if key in skip:
            continue
        value = getattr(struct, key)
        if value is None or value == "":
            continue
        fields.append(f"{key}={_text(value)}")
    return fields


_QUIET = frozenset({"ts_init", "ts_event", "account_id", "trader_id", "strategy_id"})


def format_event(event: ev.Event) -> str:
    """One stable line for an event: its name, then ``key=value`` pairs."""
    name = type(event).__name__
    if isinstance(event, ev.LoginSnapshot):
        fields = [f"login_id={event.login_id}", f"open_orders={len(event.orders)}"]
    elif isinstance(event, ev.OpenOrdersReceived):
        fields = [f"request_id={event.request_id}", f"open_orders={len(event.orders)}"]
    elif isinstance(event, ev.ExternalOrderDiscovered):
        fields = _pairs(event.order, _QUIET | {"cid"})
    else:
        fields = _pairs(event, _QUIET)
    return " ".join([name, *fields])


def _say(text: str) -> None:
    print(text, flush=True)


def _print_table(headers: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*("" if v is None else _text(v) for v in row))
    Console(width=160).print(table)


# ---------------------------------------------------------------------------------------------
# The client.


def _client(args: argparse.Namespace) -> OrdersClient:
    from axorders.client import OrdersClient
    from axorders.store import SqliteOrderStore

    creds = _credentials(args)
    journal = getattr(args, "journal", None)
    try:
        return OrdersClient(
            _venue(args),
            request_timeout=args.timeout,
            connect_timeout=args.timeout,
            connect_attempts=3,
            allow_insecure=args.allow_insecure,
            store=SqliteOrderStore(journal) if journal else None,
            token=creds.get("token"),
            api_key=creds.get("api_key"),
            api_secret=creds.get("api_secret"),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def _instrument(client: OrdersClient, symbol: str) -> Instrument:
    """The venue's instrument ``symbol`` (loaded over REST; nothing is sent)."""
    await client.load_instruments()
    for name in (symbol, symbol.strip().upper()):
        with contextlib.suppress(InvalidOrderError):
            return client.instrument(name)
    known = sorted(client.session.instruments)
    close = difflib.get_close_matches(symbol.upper(), known, n=1)
    hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known[:12])}"
    raise UsageError(f"symbol: unknown instrument {symbol!r}{hint}")


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
                _say(format_event(event))
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


async def _place(args: argparse.Namespace) -> int:
    otype = OrderType.parse(args.order_type)
    tif = TimeInForce.IOC if otype is OrderType.MARKET else TimeInForce.parse(args.tif)
    coid = args.client_order_id or f"cli-{uuid.uuid4().hex[:16]}"
    client = _client(args)
    try:
        instrument = await _instrument(client, args.symbol)
        _check_against(instrument, args)
        await client.connect()
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
            raise UsageError(f"client order id {coid!r} is already used by an open order") from None
        except InvalidOrderError as exc:
            raise _usage(exc) from None

        def rests(event: ev.Event) -> bool:
            return isinstance(event, ev.OrderAccepted) or _is_end(event)

        if otype is OrderType.STOP_LIMIT:
            _say(
                f"armed {coid}: held by this process and sent when the market reaches"
                f" {args.trigger}; Ctrl-C cancels it"
            )
            return await _follow(
                client, None, rid=rid, coid=coid, done=_is_end, what=f"order {coid!r}"
            )
        # An IOC order (MARKET included) is followed to its end, a resting one to its ack.
        return await _follow(
            client,
            args.timeout,
            rid=rid,
            coid=coid,
            done=_is_end if tif is TimeInForce.IOC else rests,
            what=f"order {coid!r}",
        )
    finally:
        await client.close()


async def _cancel(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        await client.connect()
        try:
            rid = await client.submit_cancel(args.client_order_id, args.venue_order_id)
        except UnknownOrderError:
            raise _not_open(args) from None
        coid = _coid_of(client, args)
        return await _follow(
            client,
            args.timeout,
            rid=rid,
            coid=coid,
            done=_is_end,
            what=f"cancel of {_ref(args)}",
        )
    finally:
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
    try:
        await client.connect()
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
            raise _usage(exc) from None
        return await _follow(
            client,
            args.timeout,
            rid=rid,
            coid=_coid_of(client, args),
            done=lambda event: isinstance(event, ev.OrderReplaced),
            what=f"replace of {_ref(args)}",
        )
    finally:
        await client.close()


async def _cancel_all(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        if args.symbol is not None:
            args.symbol = (await _instrument(client, args.symbol)).symbol
        await client.connect()
        live = {
            rec.client_order_id
            for rec in client.orders()
            if rec.status.is_open and args.symbol in (None, rec.symbol)
        }
        rid = await client.submit_cancel_all(args.symbol)
        canceled = 0
        resolved = False
        try:
            async with asyncio.timeout(args.timeout):
                async for event in client.events():
                    if isinstance(event, ev.RequestResolved) and event.request_id == rid:
                        if not event.ok:
                            raise _refused("cancel-all", event)
                        resolved = True
                    elif _is_end(event) and getattr(event, "client_order_id", None) in live:
                        _say(format_event(event))
                        live.discard(event.client_order_id)  # type: ignore[attr-defined]
                        canceled += isinstance(event, ev.OrderCanceled)
                    if resolved and not live:
                        break
        except TimeoutError:
            raise Failure(
                f"cancel-all: {len(live)} order(s) still open after {args.timeout:g} s"
            ) from None
        _say(f"canceled {canceled} order(s)")
        return EXIT_OK
    finally:
        await client.close()


async def _orders(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        await client.connect()
        orders = await client.get_open_orders(args.timeout)
    finally:
        await client.close()
    if not orders:
        _say("no open orders")
        return EXIT_OK
    _print_table(
        ["venue order id", "client order id", "symbol", "side", "qty", "price", "filled", "state"],
        [
            [
                o.venue_order_id,
                o.client_order_id,
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
    try:
        await client.connect()
        try:
            answer = await client.order_status(
                args.client_order_id, args.venue_order_id, args.timeout
            )
        except OrderNotFoundError:
            raise Failure(f"{_ref(args)}: not found on this account") from None
    finally:
        await client.close()
    if args.client_order_id is not None:
        # The venue knows the order by the cid made from this id: show the id asked for.
        answer = msgspec.structs.replace(answer, client_order_id=args.client_order_id)
    _say(format_event(answer))
    return EXIT_OK


async def _fills(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        symbol = args.symbol
        if symbol is not None:
            symbol = (await _instrument(client, symbol)).symbol
        fills = await client.rest.fills(symbol=symbol)
    finally:
        await client.close()
    if not fills:
        _say("no fills")
        return EXIT_OK
    _print_table(
        ["time", "trade id", "order id", "symbol", "side", "qty", "price", "fee", "taker"],
        [
            [
                f.timestamp,
                f.trade_id,
                f.order_id,
                f.symbol,
                f.side,
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
    client = _client(args)
    try:
        await client.connect()
        seen = 0
        async for event in client.events():
            if isinstance(event, ev.RequestResolved):
                continue
            _say(format_event(event))
            if isinstance(event, ev.OrderEvent):
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
        return EXIT_OK
    finally:
        await client.close()


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``axorders`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sim":
        from axorders.sim.cli import main as sim_main

        return sim_main(args_list[1:], prog="axorders sim")
    args = build_parser().parse_args(args_list)
    if args.command == "demo":
        from axorders.demo import run_demo

        return run_demo()
    logger = logging.getLogger("axorders")
    if args.verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logger.addHandler(logging.NullHandler())  # no stray warnings: errors are one line
        logger.propagate = False
    try:
        if args.command == "place":
            _check_place(args)
        elif args.command == "replace":
            _check_replace(args)
        _credentials(args)
        return asyncio.run(_run(args))
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        _error(str(exc))
        return EXIT_FAILED
    except AxOrdersError as exc:
        _error(f"{type(exc).__name__}: {exc}")
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
