"""``axorders positions`` and ``axorders balances``: tables and JSON from the REST answers."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

import pytest

from axorders.cli import positions as cli
from axorders.cli.parser import build_parser
from axorders.model import Instrument
from axorders.wire.rest import Balance, Position


class _Rest:
    async def positions(self) -> list[Position]:
        return [
            Position(
                account_id="A",
                symbol="XAU-PERP",
                signed_quantity=-3,
                signed_cost_basis=Decimal("-60030.000000000000"),
                signed_notional=Decimal("-60000.000000000000"),
                timestamp="2026-11-29T20:45:53.365Z",
                realized_pnl=Decimal("12.500000000000"),
            ),
            Position(
                account_id="A",
                symbol="EURUSD-PERP",
                signed_quantity=300,
                signed_cost_basis=Decimal("341.640000000000"),
                signed_notional=Decimal("341.700000000000"),
                timestamp="2026-11-29T20:45:50.000Z",
                realized_pnl=Decimal("0E-12"),
            ),
        ]

    async def balances(self) -> list[Balance]:
        return [Balance(account_id="A", symbol="USD", amount=Decimal("100000.250000000000"))]

    async def instruments(self) -> list[Instrument]:
        return [
            Instrument("EURUSD-PERP", Decimal("0.0001"), 100, 4),
            Instrument("XAU-PERP", Decimal("0.1"), 1, 1, multiplier=Decimal(10)),
        ]


class _Client:
    def __init__(self) -> None:
        self.rest = _Rest()
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def _args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> _Client:
    fake = _Client()
    monkeypatch.setattr(cli, "_client", lambda args: fake)
    monkeypatch.setenv("COLUMNS", "200")
    return fake


async def test_positions_as_a_table(client: _Client, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli.run(_args(["positions"])) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0][:2] == ["symbol", "qty"]
    eur = next(line for line in lines if line[0] == "EURUSD-PERP")
    assert eur[1:7] == ["300", "1.1388", "341.64", "341.7", "0", "11-29"]
    xau = next(line for line in lines if line[0] == "XAU-PERP")
    assert xau[1:6] == ["-3", "2001", "-60030", "-60000", "12.5"]
    assert client.closed


async def test_positions_as_json(client: _Client, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli.run(_args(["positions", "--json", "--symbol", "xau-perp"])) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    [xau] = data["positions"]
    assert xau["symbol"] == "XAU-PERP" and xau["quantity"] == -3
    assert Decimal(xau["avg_price"]) == Decimal(2001)


async def test_balances(client: _Client, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli.run(_args(["balances"])) == 0
    out = capsys.readouterr().out
    assert ["USD", "100000.25"] in [line.split() for line in out.splitlines()]
    assert await cli.run(_args(["balances", "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"balances": [{"symbol": "USD", "amount": "100000.250000000000"}]}
