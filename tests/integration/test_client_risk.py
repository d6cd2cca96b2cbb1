"""Risk limits, the kill switch and positions, end to end against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, wait_until

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.exceptions import RiskLimitError
from axorders.model import OrderStatus
from axorders.risk import RateLimit, RiskLimits, SymbolLimits, TradingState
from axorders.sim import SimConfig, SimServer

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK

SimFactory = Callable[[SimConfig | None], Awaitable[SimServer]]


def venue_quantity(sim: SimServer, symbol: str = SYMBOL) -> int:
    for p in sim.engine.positions(sim.account_id):
        if p.symbol == symbol:
            return p.signed_quantity
    return 0


def venue_open(sim: SimServer) -> int:
    return len(sim.engine.open_orders(sim.account_id))


def assert_positions_match_venue(sim: SimServer, client: OrdersClient) -> None:
    venue = {p.symbol: p.signed_quantity for p in sim.engine.positions(sim.account_id)}
    mine = {s: p.quantity for s, p in client.positions().items()}
    for symbol in set(venue) | set(mine):
        assert mine.get(symbol, 0) == venue.get(symbol, 0), (symbol, mine, venue)


# -- limits ------------------------------------------------------------------------------------


async def test_each_order_limit_at_and_just_over(sim: SimServer) -> None:
    rec = Recorder()
    limits = RiskLimits(max_quantity=300, max_notional=Decimal("400"))
    async with client_for(sim, rec, risk=limits) as client:
        placed = len(sim.engine.history(sim.account_id))
        # At the quantity limit: passes; just over it: refused, nothing sent.
        await client.place_order("q-at", SYMBOL, "BUY", 300, BID)
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("q-over", SYMBOL, "BUY", 400, BID)
        assert err.value.limit == "max_quantity"
        assert "max_quantity" in str(err.value) and "300" in str(err.value)
        assert client.order("q-over") is None
        assert len(sim.engine.history(sim.account_id)) == placed + 1
        denied = await rec.wait(ev.OrderDenied)
        assert denied.client_order_id == "q-over" and denied.reason == "max_quantity"

        # Notional: 300 x 1.1300 = 339 is at the limit; 300 x 1.1301 = 339.03 is over it.
        client.set_risk_limits(RiskLimits(max_quantity=1000, max_notional=Decimal("339")))
        await client.place_order("n-at", SYMBOL, "BUY", 300, Decimal("1.1300"))
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("n-over", SYMBOL, "BUY", 300, Decimal("1.1301"))
        assert err.value.limit == "max_notional"
        # A replace is checked too.
        with pytest.raises(RiskLimitError):
            await client.replace_order("q-at", quantity=400)
        assert (await rec.wait(ev.OrderDenied, count=3)).kind is ev.RequestKind.REPLACE
        assert client.order("q-at").quantity == 300  # type: ignore[union-attr]


async def test_the_collar_uses_the_venue_preview_without_a_feed(sim: SimServer) -> None:
    ask = MARK + TICK
    sim.add_liquidity(SYMBOL, "SELL", ask, 1000)
    sim.add_liquidity(SYMBOL, "BUY", MARK - TICK, 1000)
    # 10 bps of 1.1389 is about 0.00114: 11 ticks below the ask pass, 12 do not.
    limits = RiskLimits(price_collar_bps=Decimal(10))
    async with client_for(sim, risk=limits) as client:
        await client.place_order("c-in", SYMBOL, "BUY", 100, ask - 11 * TICK)
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("c-out", SYMBOL, "BUY", 100, ask - 12 * TICK)
        assert err.value.limit == "price_collar_bps"


async def test_open_orders_and_position_count_resting_and_in_flight(sim: SimServer) -> None:
    limits = RiskLimits(
        max_open_orders=2,
        max_open_orders_total=2,
        max_position=500,
        per_symbol={"GBPUSD-PERP": SymbolLimits(max_open_orders=5)},
    )
    async with client_for(sim, risk=limits) as client:
        await client.place_order("o-1", SYMBOL, "BUY", 200, BID)
        await client.submit_order("o-2", SYMBOL, "BUY", 300, BID)  # in flight, not awaited
        with pytest.raises(RiskLimitError) as err:
            await client.submit_order("o-3", SYMBOL, "SELL", 100, ASK)
        assert err.value.limit == "max_open_orders"
        await client.cancel_order("o-1")
        # o-2 (300, maybe still in flight) + 200 more would be 500: at the limit.
        await client.submit_order("o-4", SYMBOL, "BUY", 200, BID)
        await client.cancel_order("o-4")
        with pytest.raises(RiskLimitError) as err:
            await client.submit_order("o-5", SYMBOL, "BUY", 300, BID)
        assert err.value.limit == "max_position"
        # The SELL side grows the other way: -300 is within 500.
        await client.place_order("o-6", SYMBOL, "SELL", 300, ASK)
        gbp = Decimal("1.3257")
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("g-1", "GBPUSD-PERP", "BUY", 100, gbp - 50 * TICK)
        assert err.value.limit == "max_open_orders_total"


async def test_submit_rate_refuses_a_burst_never_queues(sim: SimServer) -> None:
    rec = Recorder()
    limits = RiskLimits(submit_rate=RateLimit(1.0, 5), modify_rate=RateLimit(1.0, 1))
    async with client_for(sim, rec, risk=limits) as client:
        sent = 0
        refused = 0
        for i in range(8):
            try:
                await client.submit_order(f"r-{i}", SYMBOL, "BUY", 100, BID - i * TICK)
                sent += 1
            except RiskLimitError as exc:
                assert exc.limit == "submit_rate"
                refused += 1
        assert (sent, refused) == (5, 3)
        await wait_until(lambda: venue_open(sim) == 5)
        assert len(rec.of(ev.OrderDenied)) == 3
        await client.replace_order("r-0", price=BID - 20 * TICK)
        with pytest.raises(RiskLimitError) as err:
            await client.replace_order("r-1", price=BID - 21 * TICK)
        assert err.value.limit == "modify_rate"
        # Cancels are never limited.
        assert len(await client.cancel_all()) == 5


async def test_trading_states(sim: SimServer) -> None:
    sim.add_liquidity(SYMBOL, "SELL", ASK, 1000)
    async with client_for(sim) as client:
        await client.place_order("buy", SYMBOL, "BUY", 300, ASK, time_in_force="IOC")
        await wait_until(lambda: client.position(SYMBOL).quantity == 300)
        await client.place_order("rest", SYMBOL, "SELL", 100, ASK + 5 * TICK)

        client.set_trading_state("REDUCING", "end of day")
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("more", SYMBOL, "BUY", 100, BID)
        assert err.value.limit == "trading_state"
        # A SELL of 200 with 100 already working brings it to flat: passes; one more no.
        await client.place_order("less", SYMBOL, "SELL", 200, ASK + 5 * TICK)
        with pytest.raises(RiskLimitError):
            await client.place_order("past", SYMBOL, "SELL", 100, ASK + 5 * TICK)

        client.set_trading_state(TradingState.HALTED, "test")
        with pytest.raises(RiskLimitError) as err:
            await client.place_order("new", SYMBOL, "SELL", 100, ASK + 5 * TICK)
        assert "HALTED" in str(err.value) and "test" in str(err.value)
        with pytest.raises(RiskLimitError):
            await client.replace_order("rest", price=ASK + 6 * TICK)
        canceled = await client.cancel_order("rest")  # cancels still go
        assert canceled.status is OrderStatus.CANCELED
        client.resume()
        assert client.trading_state is TradingState.ACTIVE
        await client.place_order("again", SYMBOL, "BUY", 100, BID)


# -- the kill switch ---------------------------------------------------------------------------


async def test_halt_cancels_resting_in_flight_and_armed_orders(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("h-1", SYMBOL, "BUY", 100, BID)
        await client.place_order("h-2", SYMBOL, "SELL", 100, ASK)
        await client.place_order(
            "h-stop", SYMBOL, "BUY", 100, ASK + 20 * TICK, order_type="STOP_LIMIT",
            trigger_price=ASK + 15 * TICK,
        )
        await client.submit_order("h-flight", SYMBOL, "BUY", 100, BID - TICK)  # not awaited
        canceled = await client.halt("kill switch")
        assert {r.client_order_id for r in canceled} == {"h-1", "h-2", "h-stop", "h-flight"}
        assert all(r.status is OrderStatus.CANCELED for r in canceled)
        assert venue_open(sim) == 0
        assert client.trading_state is TradingState.HALTED
        with pytest.raises(RiskLimitError):
            await client.submit_order("after", SYMBOL, "BUY", 100, BID)
        client.resume()
        await client.place_order("after", SYMBOL, "BUY", 100, BID)


async def test_halt_while_disconnected_cancels_once_back_and_sends_nothing_new(
    sim: SimServer,
) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("d-1", SYMBOL, "BUY", 100, BID)
        await client.place_order(
            "d-stop", SYMBOL, "BUY", 100, ASK + 20 * TICK, order_type="STOP_LIMIT",
            trigger_price=ASK + 15 * TICK,
        )
        sim.faults.outage()
        await rec.wait(ev.Disconnected)
        halting = asyncio.create_task(client.halt("venue trouble", timeout=10.0))
        await wait_until(lambda: client.order("d-stop").status is OrderStatus.CANCELED)  # type: ignore[union-attr]
        assert client.trading_state is TradingState.HALTED
        placed = len(sim.engine.history(sim.account_id))
        with pytest.raises(RiskLimitError):
            await client.submit_order("d-new", SYMBOL, "BUY", 100, BID)
        assert not halting.done()
        assert venue_open(sim) == 1  # the venue still has d-1
        sim.faults.end_outage()
        canceled = await halting
        assert {r.client_order_id for r in canceled} == {"d-stop", "d-1"}
        assert venue_open(sim) == 0
        assert len(sim.engine.history(sim.account_id)) == placed


async def test_halted_survives_a_restart_with_a_journal(sim: SimServer, tmp_path: Path) -> None:
    journal = tmp_path / "orders.db"
    async with client_for(sim, store=journal) as client:
        await client.place_order("j-1", SYMBOL, "BUY", 100, BID)
        await client.halt("end of day")
    async with client_for(sim, store=journal) as client:
        assert client.trading_state is TradingState.HALTED
        with pytest.raises(RiskLimitError):
            await client.place_order("j-2", SYMBOL, "BUY", 100, BID)
        client.resume()
    async with client_for(sim, store=journal) as client:
        assert client.trading_state is TradingState.ACTIVE


# -- positions ---------------------------------------------------------------------------------


async def test_positions_follow_partial_fills_and_replaces(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("p-1", SYMBOL, "BUY", 500, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        await wait_until(lambda: client.position(SYMBOL).quantity == 200)
        await client.replace_order("p-1", price=BID + TICK)
        sim.add_liquidity(SYMBOL, "SELL", BID + TICK, 100)
        await wait_until(lambda: client.position(SYMBOL).quantity == 300)
        pos = client.position(SYMBOL)
        assert pos.avg_price == (BID * 200 + (BID + TICK) * 100) / 300
        changes = rec.of(ev.PositionChanged)
        assert [c.quantity for c in changes] == [200, 300]
        # Each PositionChanged follows its fill.
        kinds = [type(e) for e in rec.events if isinstance(e, ev.OrderFilled | ev.PositionChanged)]
        assert kinds == [ev.OrderFilled, ev.PositionChanged] * 2
        # Selling closes part of it at a profit.
        sim.add_liquidity(SYMBOL, "BUY", ASK, 100)
        await client.place_order("p-2", SYMBOL, "SELL", 100, ASK, time_in_force="IOC")
        await wait_until(lambda: client.position(SYMBOL).quantity == 200)
        assert client.position(SYMBOL).realized_pnl == (ASK - pos.avg_price) * 100
        assert_positions_match_venue(sim, client)
        assert await client.reconcile_positions() == []


async def test_positions_across_a_reconnect_with_fills_in_the_gap(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("g-1", SYMBOL, "BUY", 500, BID)
        sim.faults.drop()
        await rec.wait(ev.Disconnected)
        sim.add_liquidity(SYMBOL, "SELL", BID, 300)
        await rec.wait(ev.Resynced, count=2)
        await wait_until(lambda: client.position(SYMBOL).quantity == 300)
        await asyncio.sleep(0.5)  # the check against the venue after the resync
        assert rec.of(ev.PositionMismatch) == []
        assert_positions_match_venue(sim, client)


async def test_a_difference_with_the_venue_is_published_and_the_venue_adopted(
    sim: SimServer,
) -> None:
    rec = Recorder()
    sim.add_liquidity(SYMBOL, "SELL", ASK, 1000)
    async with client_for(sim, rec) as client:
        await client.place_order("v-1", SYMBOL, "BUY", 200, ASK, time_in_force="IOC")
        await wait_until(lambda: client.position(SYMBOL).quantity == 200)
        # A fill the venue never had (a local figure gone wrong).
        client.risk.book.apply_fill(SYMBOL, ev.Side.BUY, 100, ASK, None, "bogus", 0)
        found = await client.reconcile_positions()
        assert [(m.quantity, m.venue_quantity) for m in found] == [(300, 200)]
        assert (await rec.wait(ev.PositionMismatch)).venue_quantity == 200
        assert client.position(SYMBOL).quantity == 200


async def test_positions_survive_a_restart_exactly_once(sim: SimServer, tmp_path: Path) -> None:
    journal = tmp_path / "orders.db"
    sim.add_liquidity(SYMBOL, "SELL", ASK, 1000)
    async with client_for(sim, store=journal) as client:
        await client.place_order("s-1", SYMBOL, "BUY", 300, ASK, time_in_force="IOC")
        await client.place_order("s-2", SYMBOL, "BUY", 500, BID)
        await wait_until(lambda: client.position(SYMBOL).quantity == 300)
        fees_before = client.position(SYMBOL).fees
    # Filled while no process runs.
    sim.add_liquidity(SYMBOL, "SELL", BID, 200)
    rec = Recorder()
    async with client_for(sim, rec, store=journal) as client:
        assert client.position(SYMBOL).quantity >= 300  # restored before any fill
        await wait_until(lambda: client.position(SYMBOL).quantity == 500)
        await asyncio.sleep(0.5)
        assert client.position(SYMBOL).quantity == 500
        assert client.position(SYMBOL).fees >= fees_before
        assert rec.of(ev.PositionMismatch) == []
        assert_positions_match_venue(sim, client)
