"""Risk limits from the command line (``--max-*`` flags, ``--risk FILE``) and ``halt``.

``place`` and ``replace`` take the limits of :class:`~axorders.risk.RiskLimits`: a file
(``--risk limits.toml``) and/or flags, the flags winning; an order that breaks one is refused
before anything is sent (exit status 2, the message names the limit, its value and the
order's). ``halt`` cancels every open order of the account and says what it canceled; with
``--journal`` the HALTED state is written in that journal, so a client started on it later
refuses new orders until it resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import msgspec

from axorders.cli.exits import EXIT_OK, UsageError

__all__ = ["add_halt_parser", "add_risk_options", "limits_from"]

_FLAGS: dict[str, tuple[str, str]] = {
    "max_quantity": ("--max-quantity", "the most contracts one order may have"),
    "max_notional": ("--max-notional", "the most one order may be worth (price x qty)"),
    "price_collar_bps": (
        "--price-collar-bps",
        "the furthest a price may be from the market's mid, in basis points",
    ),
    "max_open_orders": ("--max-open-orders", "the most open orders of the symbol"),
    "max_position": ("--max-position", "the largest absolute position of the symbol"),
}


def add_risk_options(parser: argparse.ArgumentParser) -> None:
    """``--risk FILE`` and the ``--max-*`` flags, on a command that places orders."""
    group = parser.add_argument_group("risk limits (refused before anything is sent)")
    group.add_argument("--risk", metavar="FILE", help="risk limits from a TOML or JSON file")
    for name, (flag, text) in _FLAGS.items():
        group.add_argument(flag, dest=name, metavar="N", help=text)


def limits_from(args: argparse.Namespace) -> Any:
    """The :class:`~axorders.risk.RiskLimits` the arguments give, or None for none.

    Raises:
        UsageError: a bad file or value, naming the flag.
    """
    from axorders.risk import RiskLimits

    path = getattr(args, "risk", None)
    given = {name: getattr(args, name, None) for name in _FLAGS}
    given = {name: value for name, value in given.items() if value is not None}
    if path is None and not given:
        return None
    try:
        limits = RiskLimits.from_file(path) if path is not None else RiskLimits()
    except ValueError as exc:
        raise UsageError(f"--risk: {exc}") from None
    if not given:
        return limits
    try:
        extra = RiskLimits.from_mapping(given)
    except ValueError as exc:
        name = str(exc).partition(":")[0]
        flag = _FLAGS.get(name, ("--risk", ""))[0]
        raise UsageError(f"{flag}: {str(exc).partition(': ')[2] or exc}") from None
    return dataclasses.replace(limits, **{name: getattr(extra, name) for name in given})


def add_halt_parser(subparsers: Any, venue_options: Any) -> None:
    halt = subparsers.add_parser(
        "halt",
        help="the kill switch: cancel every open order of the account",
        description="Cancel every open order of the account (whoever placed it) and wait"
        " until the venue confirms; print what was canceled. With --journal, the journal"
        " is left HALTED: a client started on it refuses new orders until it resumes.",
    )
    halt.add_argument("--reason", default="axorders halt", help="why (kept with the state)")
    halt.add_argument("--json", action="store_true", help="print JSON instead of lines")
    venue_options(halt)


async def halt(args: argparse.Namespace) -> int:
    """``axorders halt``: returns the exit status."""
    from axorders.cli.names import _Names
    from axorders.cli.render import _say
    from axorders.cli.venue import _client, _connect, _timeout

    client = _client(args)
    names = _Names(args)
    try:
        await _connect(client, names)
        canceled = await client.halt(args.reason, timeout=_timeout(args))
        rows = [
            {
                "client_order_id": names.of_venue_id(r.venue_order_id) or r.client_order_id,
                "venue_order_id": r.venue_order_id,
                "symbol": r.symbol,
                "side": r.side.name,
                "quantity": r.quantity,
                "price": r.price,
                "filled_qty": r.filled_qty,
            }
            for r in canceled
        ]
        if args.json:
            _say(msgspec.json.encode({"canceled": rows, "state": "HALTED"}).decode())
            return EXIT_OK
        for row in rows:
            _say(
                f"canceled {row['client_order_id']} {row['venue_order_id'] or '-'}"
                f" {row['symbol']} {row['side']} {row['quantity']} @ {row['price']}"
                f" (filled {row['filled_qty']})"
            )
        kept = " (the journal stays HALTED)" if getattr(args, "journal", None) else ""
        _say(f"halted: canceled {len(rows)} order(s){kept}")
        return EXIT_OK
    finally:
        names.close()
        await client.close()

