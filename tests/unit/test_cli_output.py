"""The command line's tables and messages, without a venue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rich.console import Console

from axorders import cli
from axorders.model import Side
from axorders.wire.rest import FillInfo


def _fill(i: int) -> FillInfo:
    return FillInfo(
        trade_id=f"T-01M8MGZZ9V7SS1G1SEHGTVZ6{i:02d}",
        order_id=f"O-01M8MGZZ9V7SS1G1SEHGTVZ6{i:02d}",
        account_id="ACC-1",
        timestamp="2026-11-29T20:47:23.123456Z",
        symbol="EURUSD-PERP",
        price=Decimal("1.1391"),
        quantity=300,
        is_taker=i % 2 == 0,
        fee=Decimal("0.068346"),
        side=Side.BUY,
    )


@pytest.mark.parametrize("columns", [120, 160])
def test_the_fills_table_fits_the_terminal(columns: int) -> None:
    console = Console(width=columns, record=True, force_terminal=True, highlight=False)
    fills = [_fill(i) for i in range(4)]
    cli.print_fills(fills, lambda oid: "my-order-7" if oid == fills[1].order_id else None, console)
    lines = console.export_text().splitlines()
    assert all(len(line) <= columns for line in lines)
    rows = [line for line in lines if "EURUSD-PERP" in line]
    assert len(rows) == 4  # one line per fill: nothing wraps
    assert "my-order-7" in rows[1] and "0.068346" in rows[1]
    assert "TAKER" in rows[0] and "MAKER" in rows[1]
    header = lines[1]
    for column in ("time", "client order id", "symbol", "side", "qty", "price", "fee"):
        assert column in header


def test_the_fills_table_is_the_same_in_the_demo() -> None:
    from axorders.cli import demo

    assert demo.print_fills is cli.print_fills
    assert cli.FILL_COLUMNS[:2] == ["time", "client order id"] and "fee" in cli.FILL_COLUMNS


def test_a_pipe_gets_the_whole_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    console = cli.make_console(wide=True)
    assert console.width >= 10_000 and not console.options.highlight


def test_a_terminal_gets_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    console = cli.make_console(wide=True)
    assert console.width == 120


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("EURUSD", "did you mean EURUSD-PERP?"),
        ("eurusd-prep", "did you mean EURUSD-PERP?"),
        ("XAU-PREP", "did you mean XAU-PERP?"),
        ("FOO-PERP", "known: EURUSD-PERP, GBPUSD-PERP, XAU-PERP"),
        ("BTC", "known: EURUSD-PERP, GBPUSD-PERP, XAU-PERP"),
    ],
)
def test_an_unknown_symbol_suggests_only_a_close_one(typed: str, hint: str) -> None:
    text = cli._unknown_symbol(typed, ["XAU-PERP", "EURUSD-PERP", "GBPUSD-PERP"])
    assert text == f"symbol: unknown instrument {typed!r}; {hint}"


def test_jargon_becomes_plain_words() -> None:
    assert cli._plain("GET /api/instruments: ClientConnectorDNSError") == (
        "GET /api/instruments: host name not found"
    )
    assert "Error" not in cli._plain("ClientConnectorError ConnectionRefusedError")


def test_a_proxy_password_is_never_shown() -> None:
    assert cli._redacted("http://me:s3cret@proxy:3128") == "http://me:***@proxy:3128"
    assert cli._redacted("http://proxy:3128") == "http://proxy:3128"
