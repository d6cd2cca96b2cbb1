"""The order commands: ``place``, ``cancel``, ``replace`` and ``cancel-all``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from axorders import events as ev
from axorders.cli.checks import _check_against, _usage
from axorders.cli.exits import EXIT_OK, Failure, UsageError
from axorders.cli.names import _Names
from axorders.cli.render import _say, _show
from axorders.cli.risk import limits_from
from axorders.cli.venue import _client, _connect, _timeout
from axorders.exceptions import DuplicateOrderError, InvalidOrderError, UnknownOrderError
from axorders.model import Instrument, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from axorders.client import OrdersClient


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


async def _use_limits(client: OrdersClient, limits: object) -> None:
    """Apply the command line's risk limits; a position limit needs the venue's positions
    first."""
    if limits is None:
        return
    client.set_risk_limits(limits)  # type: ignore[arg-type]
    await client.reconcile_positions()


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
        limits = limits_from(args)
        await _connect(client, names)
        await _use_limits(client, limits)
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
    limits = limits_from(args)
    try:
        await _connect(client, names)
        await _use_limits(client, limits)
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
