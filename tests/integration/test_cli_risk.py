"""``axorders halt``, ``positions``, ``balances``, the ``--max-*`` flags and ``--json``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from test_cli import SYMBOL, ok, on_sim, refused

from axorders.sim import SimServer

BID = Decimal("1.1378")
ASK = Decimal("1.1398")


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


async def test_halt_cancels_every_open_order_and_says_which(sim: SimServer) -> None:
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", str(BID), "--id", "keep-1"))
    ok(await on_sim(sim, "place", SYMBOL, "SELL", "100", str(ASK), "--id", "keep-2"))
    run = ok(await on_sim(sim, "halt", "--reason", "test"))
    assert run.line("halted: canceled 2 order(s)")
    assert "keep-1" in run.out and "keep-2" in run.out
    assert sim.engine.open_orders(sim.account_id) == []
    run = ok(await on_sim(sim, "halt", "--json"))
    assert json.loads(run.out) == {"canceled": [], "state": "HALTED"}


async def test_halt_with_a_journal_leaves_it_halted(sim: SimServer, tmp_path: Path) -> None:
    journal = str(tmp_path / "j.db")
    ok(await on_sim(sim, "halt", "--journal", journal))
    run = await on_sim(
        sim, "place", SYMBOL, "BUY", "100", str(BID), "--journal", journal
    )
    refused(run, 2, "HALTED")


async def test_max_flags_refuse_before_anything_is_sent(sim: SimServer) -> None:
    placed = len(sim.engine.history(sim.account_id))
    run = await on_sim(sim, "place", SYMBOL, "BUY", "300", str(BID), "--max-quantity", "200")
    refused(run, 2, "max_quantity", "200", "300")
    assert len(sim.engine.history(sim.account_id)) == placed
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "200", str(BID), "--max-quantity", "200"))
    run = await on_sim(sim, "place", SYMBOL, "BUY", "100", str(BID), "--max-quantity", "x")
    refused(run, 2, "--max-quantity")


async def test_risk_file(sim: SimServer, tmp_path: Path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text('max_notional = "100"\n')
    run = await on_sim(sim, "place", SYMBOL, "BUY", "100", str(BID), "--risk", str(limits))
    refused(run, 2, "max_notional")


async def test_positions_balances_and_json(sim: SimServer) -> None:
    sim.add_liquidity(SYMBOL, "SELL", ASK, 1000)
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "300", str(ASK), "--tif", "IOC"))
    run = ok(await on_sim(sim, "positions"))
    assert SYMBOL in run.out and "300" in run.out
    held = json.loads(ok(await on_sim(sim, "positions", "--json")).out)["positions"]
    assert [(p["symbol"], p["quantity"]) for p in held] == [(SYMBOL, 300)]
    balances = json.loads(ok(await on_sim(sim, "balances", "--json")).out)["balances"]
    assert balances and "amount" in balances[0]
    fills = json.loads(ok(await on_sim(sim, "fills", "--json")).out)["fills"]
    assert sum(f["quantity"] for f in fills) == 300
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", str(BID), "--id", "j-1"))
    orders = json.loads(ok(await on_sim(sim, "orders", "--json")).out)["orders"]
    assert [o["client_order_id"] for o in orders] == ["j-1"]
