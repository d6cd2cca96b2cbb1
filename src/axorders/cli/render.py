"""Output: event lines, tables (the fills table is shared with the demo), error lines.

The only module of the client that prints; every line goes through here.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from axorders import events as ev
from axorders.events import format_event
from axorders.model import Side

if TYPE_CHECKING:
    from axorders.cli.names import _Names
    from axorders.wire.rest import FillInfo


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


def fill_rows(
    fills: Iterable[FillInfo], name_of: Callable[[str | None], str | None]
) -> list[list[Any]]:
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


def _show(names: _Names, event: ev.Event, omit: frozenset[str] = frozenset()) -> None:
    event = names.event(event)
    line = format_event(event)
    if omit:
        line = " ".join(part for part in line.split(" ") if part.partition("=")[0] not in omit)
    _say(line)


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
