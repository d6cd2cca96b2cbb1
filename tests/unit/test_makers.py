"""Market makers: seeded, quoting around a bounded random-walk mark."""

from __future__ import annotations

import random
from decimal import Decimal

from axorders.model import Side
from axorders.sim.engine import CancelAll, Engine, Place, SetMark
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.makers import MAKER_ACCOUNT, MakerConfig, Makers

T0 = 1_790_228_411_934_693_936


def makers(seed: int = 5, **config: object) -> Makers:
    instruments = default_instruments()
    return Makers(
        instruments,
        marks_for(instruments),
        random.Random(seed),
        MakerConfig(**config),  # type: ignore[arg-type]
    )


def test_same_seed_same_quotes() -> None:
    assert makers(5).step(T0) == makers(5).step(T0)
    assert makers(5).step(T0) != makers(6).step(T0)


def test_step_moves_the_mark_then_requotes() -> None:
    m = makers(levels=3, symbols=("EURUSD-PERP",))
    commands = m.step(T0)
    assert isinstance(commands[0], SetMark) and commands[0].symbol == "EURUSD-PERP"
    assert commands[1] == CancelAll(MAKER_ACCOUNT, "EURUSD-PERP")
    places = [c for c in commands if isinstance(c, Place)]
    assert len(places) == 6
    mark = commands[0].price
    bids = sorted((p.price for p in places if p.side is Side.BUY), reverse=True)
    asks = sorted(p.price for p in places if p.side is Side.SELL)
    assert bids[0] < mark < asks[0]
    assert all(p.quantity % 100 == 0 and p.quantity >= 100 for p in places)
    assert all(p.account_id == MAKER_ACCOUNT for p in places)
    assert all((p.price / Decimal("0.0001")) % 1 == 0 for p in places)


def test_mark_stays_within_its_drift_bound() -> None:
    m = makers(volatility_bps=500.0, max_drift_pct=2.0, symbols=("XAU-PERP",))
    start = m.marks()["XAU-PERP"]
    for i in range(200):
        m.step(T0 + i)
    mark = m.marks()["XAU-PERP"]
    assert abs(mark - start) <= start * Decimal("0.02") + Decimal("0.1")


def test_quotes_rest_in_an_engine_without_crossing() -> None:
    instruments = default_instruments()
    engine = Engine(instruments, marks_for(instruments), rng=random.Random(1))
    engine.add_account(MAKER_ACCOUNT, check_margin=False, keep_history=False)
    m = makers()
    for step in range(20):
        for command in m.step(T0 + step):
            reply = engine.apply(command, T0 + step)
            assert reply.error is None
        for inst in instruments:
            bid, ask = engine.best_prices(inst.symbol)
            assert bid is not None and ask is not None and bid < ask
            assert engine.mark(inst.symbol) == m.marks()[inst.symbol]
    # Makers keep no history: only their live quotes are remembered.
    assert engine.history(MAKER_ACCOUNT) == []
    assert len(engine.open_orders(MAKER_ACCOUNT)) == len(instruments) * 10
