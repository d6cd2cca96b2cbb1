"""Engine, the accounts: margin, fees, positions, balances, risk (no sockets)."""

from __future__ import annotations

import pytest
from engine_harness import EUR, T0, D, events_of, make_engine, place

from axorders.model import Side
from axorders.sim.engine import Engine, MarginFailure
from axorders.wire.orders import RejectedMsg


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def test_margin_failure_is_an_err_400_by_default(engine: Engine) -> None:
    engine.add_account("POOR", balance=D("10"))
    reply = place(engine, "POOR", "B", 1000, "1.1300")
    assert reply.result is None and reply.events == []
    assert reply.error is not None and reply.error.code == 400
    assert reply.error.message == (
        "initial margin required for order (67.80) is greater than available initial margin (10.00)"
    )
    assert engine.history("POOR") == []


def test_margin_failure_can_be_a_reject() -> None:
    engine = make_engine(margin_failure=MarginFailure.REJECT)
    engine.add_account("POOR", balance=D("0"))
    reply = place(engine, "POOR", "B", 1000, "1.1300")
    [event] = events_of(reply)
    assert isinstance(event, RejectedMsg) and event.reject_reason == "INSUFFICIENT_MARGIN"
    assert event.text is not None and "available initial margin (0.00)" in event.text


def test_open_orders_use_margin_and_closing_orders_need_none(engine: Engine) -> None:
    engine.add_account("SMALL", balance=D("100"))
    # 1000 × 1.13 × 6 % = 67.80 fits once, not twice.
    assert place(engine, "SMALL", "B", 1000, "1.1300").error is None
    assert place(engine, "SMALL", "B", 1000, "1.1300").error is not None
    engine.cancel_all("SMALL", T0)
    # Buy 1000 against liquidity, then selling it back needs no margin.
    place(engine, "B", "S", 1000, "1.1300")
    place(engine, "SMALL", "B", 1000, "1.1300", time_in_force="IOC")
    assert engine.positions("SMALL")[0].signed_quantity == 1000
    place(engine, "B", "B", 1000, "1.1290")
    assert place(engine, "SMALL", "S", 1000, "1.1290", time_in_force="IOC").error is None


def test_fees_positions_and_realized_pnl(engine: Engine) -> None:
    start = engine.balance("A")
    place(engine, "B", "S", 100, "1.1388")
    place(engine, "A", "B", 100, "1.1408", time_in_force="IOC")
    [fill] = engine.fills("A")
    info = fill.info()
    assert (info.is_taker, info.fee, info.realized_pnl) == (True, D("0.022776"), None)
    assert info.timestamp == "2026-09-24T05:40:11.934693936Z"
    maker_info = engine.fills("B")[0].info()
    assert (maker_info.is_taker, maker_info.fee) == (False, D(0))
    [position] = engine.positions("A")
    assert (position.signed_quantity, position.signed_cost_basis) == (100, D("113.88"))
    place(engine, "B", "B", 100, "1.1384")
    place(engine, "A", "S", 100, "1.1363", time_in_force="IOC")
    closing = engine.fills("A")[-1].info()
    assert closing.realized_pnl == D("-0.04")
    assert closing.fee == D("0.022768")
    [position] = engine.positions("A")
    assert (position.signed_quantity, position.signed_cost_basis) == (0, D(0))
    assert position.realized_pnl == D("-0.04")
    assert engine.balance("A") == start - D("0.022776") - D("0.022768") - D("0.04")


def test_position_flip(engine: Engine) -> None:
    place(engine, "B", "S", 100, "1.1300")
    place(engine, "A", "B", 100, "1.1300")
    place(engine, "B", "B", 300, "1.1310")
    place(engine, "A", "S", 300, "1.1310")
    [position] = engine.positions("A")
    assert position.signed_quantity == -200
    assert position.signed_cost_basis == D("-226.2")
    assert position.realized_pnl == D("0.1")


def test_risk_snapshot_and_balances(engine: Engine) -> None:
    place(engine, "A", "B", 1000, "1.1300")
    snapshot = engine.risk_snapshot("A", T0)
    assert snapshot.initial_margin_required_for_open_orders == D("67.8")
    assert snapshot.initial_margin_available == D(1_000_000) - D("67.8")
    assert snapshot.timestamp_ns == "2026-09-24T05:40:11Z"
    assert engine.balances("A").balances[0].amount == D(1_000_000)


def test_initial_margin_requirement(engine: Engine) -> None:
    margin = engine.initial_margin("A", EUR, Side.BUY, 100, D("1.1383"))
    assert margin is not None
    assert (margin.im_pct, margin.im, margin.pos, margin.mult) == (
        D("6.0"),
        D("6.8298000"),
        0,
        D(1),
    )
