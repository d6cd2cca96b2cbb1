"""The account's holdings: ``positions`` and ``balances`` (REST), as tables or JSON.

Their arguments are in :mod:`axorders.cli.parser`; :func:`run` runs either command.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

import msgspec

from axorders.cli.exits import EXIT_OK
from axorders.cli.render import _print_table, _say, _when
from axorders.cli.venue import _client
from axorders.model import Instrument
from axorders.risk.positions import venue_position

__all__ = ["run"]

POSITION_COLUMNS = [
    "symbol",
    "qty",
    "avg price",
    "cost basis",
    "notional",
    "realized pnl",
    "updated",
]


async def run(args: argparse.Namespace) -> int:
    """Run ``positions`` or ``balances``; returns the exit status."""
    client = _client(args)
    try:
        if args.command == "balances":
            return _balances(await client.rest.balances(), args.json)
        held = await client.rest.positions()
        symbol = getattr(args, "symbol", None)
        if symbol is not None:
            wanted = symbol.strip().upper()
            held = [p for p in held if p.symbol.upper() == wanted]
        instruments: dict[str, Instrument] = {}
        if held:
            instruments = {i.symbol: i for i in await client.rest.instruments()}
        return _positions(held, instruments, args.json)
    finally:
        await client.close()


def _avg(position: Any, instrument: Instrument | None) -> Decimal | None:
    multiplier = instrument.multiplier if instrument is not None else Decimal(1)
    _, avg = venue_position(position.signed_quantity, position.signed_cost_basis, multiplier)
    if avg is None:
        return None
    # Two more decimals than the tick: an average may fall between ticks.
    places = (instrument.price_precision if instrument is not None else 6) + 2
    return avg.quantize(Decimal(1).scaleb(-places)).normalize()


def _plain(value: Decimal) -> str:
    """A venue figure (``"1.138800000000"``) without its trailing zeros."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def _positions(held: list[Any], instruments: dict[str, Instrument], as_json: bool) -> int:
    rows = [
        {
            "symbol": p.symbol,
            "quantity": p.signed_quantity,
            "avg_price": _avg(p, instruments.get(p.symbol)),
            "cost_basis": p.signed_cost_basis,
            "notional": p.signed_notional,
            "realized_pnl": p.realized_pnl,
            "timestamp": p.timestamp,
        }
        for p in sorted(held, key=lambda p: p.symbol)
    ]
    if as_json:
        _say(msgspec.json.encode({"positions": rows}).decode())
        return EXIT_OK
    if not rows:
        _say("no positions")
        return EXIT_OK
    _print_table(
        POSITION_COLUMNS,
        [
            [
                r["symbol"],
                r["quantity"],
                None if r["avg_price"] is None else _plain(r["avg_price"]),
                _plain(r["cost_basis"]),
                _plain(r["notional"]),
                _plain(r["realized_pnl"]),
                _when(r["timestamp"]),
            ]
            for r in rows
        ],
    )
    return EXIT_OK


def _balances(balances: list[Any], as_json: bool) -> int:
    rows = sorted(balances, key=lambda b: b.symbol)
    if as_json:
        _say(
            msgspec.json.encode(
                {"balances": [{"symbol": b.symbol, "amount": b.amount} for b in rows]}
            ).decode()
        )
        return EXIT_OK
    if not rows:
        _say("no balances")
        return EXIT_OK
    _print_table(["currency", "amount"], [[b.symbol, _plain(b.amount)] for b in rows])
    return EXIT_OK
