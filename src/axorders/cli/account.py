"""The account queries: ``orders``, ``status`` and ``fills``."""

from __future__ import annotations

import argparse

import msgspec

from axorders.cli.exits import EXIT_OK, Failure
from axorders.cli.names import _Names
from axorders.cli.orders import _instrument, _ref
from axorders.cli.render import _print_table, _say, _show, print_fills
from axorders.cli.venue import _client, _connect, _timeout
from axorders.exceptions import OrderNotFoundError


async def _orders(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        orders = [names.snapshot(o) for o in await client.get_open_orders(_timeout(args))]
    finally:
        names.close()
        await client.close()
    if getattr(args, "json", False):
        _say(msgspec.json.encode({"orders": orders}).decode())
        return EXIT_OK
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
        if getattr(args, "json", False):
            account = next((f.account_id for f in fills if f.account_id), None)
            if account is not None:
                names.open(account)
            rows = [
                {**msgspec.structs.asdict(f), "client_order_id": names.of_venue_id(f.order_id)}
                for f in fills
            ]
            _say(msgspec.json.encode({"fills": rows}).decode())
            return EXIT_OK
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
