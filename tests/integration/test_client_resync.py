"""Resync after a dropped connection: what happened in the gap reaches the caller once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from client_helpers import (
    MARK,
    SYMBOL,
    TICK,
    Recorder,
    client_for,
    fills,
    venue_status,
    wait_until,
)

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.exceptions import ConnectionLostError
from axorders.model import OrderStatus, cid_for
from axorders.sim import SimConfig, SimServer

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK

SimFactory = Callable[[SimConfig | None], Awaitable[SimServer]]


def assert_matches_venue(sim: SimServer, client: OrdersClient, *coids: str) -> None:
    for coid in coids:
        assert client.order(coid) is not None, coid
        local = client.order(coid)
        assert local is not None
        assert local.status is venue_status(sim, client, coid), coid
        status = sim.engine.status(client.session.account_id, cid=local.cid)
        assert status is not None
        assert local.filled_qty == status.filled_quantity, coid


def assert_fills_once(rec: Recorder) -> None:
    counts = Counter(f.trade_id for f in fills(rec))
    assert all(n == 1 for n in counts.values()), counts


@pytest.mark.parametrize("fill_lag", [0.0, 0.5])
async def test_fills_and_ends_during_the_gap_are_recovered_once(
    sim_factory: SimFactory, fill_lag: float
) -> None:
    sim = await sim_factory(SimConfig(makers=False, heartbeat_interval=0.2, rest_fill_lag=fill_lag))
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("gap-fill", SYMBOL, "BUY", 500, BID)
        await client.place_order("gap-day", SYMBOL, "SELL", 100, ASK, time_in_force="DAY")
        await client.place_order("gap-cancel", SYMBOL, "BUY", 100, BID - 5 * TICK)
        await client.place_order("gap-quiet", SYMBOL, "SELL", 100, ASK + 5 * TICK)
        await rec.wait(ev.OrderAccepted, "gap-quiet")
        placed = len(sim.engine.history(sim.account_id))
        cancel_oid = client.order("gap-cancel").venue_order_id  # type: ignore[union-attr]
        assert cancel_oid is not None

        sim.faults.drop()
        await rec.wait(ev.Disconnected)
        assert not client.is_active

        # While the client is away: a partial fill from liquidity, the rest from another
        # account, the DAY order ends, and another process of the account cancels an order.
        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        other = sim.add_user()
        async with client_for(sim, token=sim.issue_token(other.user_id)) as seller:
            await seller.place_order("hit", SYMBOL, "SELL", 300, BID, time_in_force="IOC")
        assert sim.session_close() == 1
        async with client_for(sim, token=sim.issue_token()) as sibling:
            canceled = await sibling.cancel_order(venue_order_id=cancel_oid)
            assert canceled.status is OrderStatus.CANCELED

        await rec.wait(ev.Reconnected)
        await rec.wait(ev.Resynced, count=2)
        await wait_until(lambda: client.order("gap-fill").filled_qty == 500)  # type: ignore[union-attr]
        await rec.wait(ev.OrderExpired, "gap-day")
        await rec.wait(ev.OrderCanceled, "gap-cancel")

        got = fills(rec, "gap-fill")
        assert [f.last_qty for f in got] == [200, 300]
        assert [f.filled_qty for f in got] == [200, 500]
        assert got[-1].is_final and got[-1].leaves_qty == 0
        assert all(f.fee is not None for f in got)
        venue_trades = {f.trade_id for f in sim.engine.fills(sim.account_id)}
        assert {f.trade_id for f in got} <= venue_trades
        assert_fills_once(rec)
        assert client.is_active
        # No place was sent again.
        assert len(sim.engine.history(sim.account_id)) == placed
        assert_matches_venue(sim, client, "gap-fill", "gap-day", "gap-cancel", "gap-quiet")

        # Nothing is delivered twice by a later resync either.
        sim.faults.drop()
        await rec.wait(ev.Resynced, count=3)
        assert_fills_once(rec)
        assert len(rec.of(ev.OrderExpired, "gap-day")) == 1
        assert len(rec.of(ev.OrderCanceled, "gap-cancel")) == 1


async def test_requests_in_flight_at_the_drop_all_resolve(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec, request_timeout=4.0) as client:
        await client.place_order("live-1", SYMBOL, "BUY", 100, BID)
        await client.place_order("live-2", SYMBOL, "BUY", 100, BID - TICK)
        await client.place_order("live-3", SYMBOL, "BUY", 100, BID - 2 * TICK)
        before = len(sim.engine.history(sim.account_id))

        # The venue processes these but its answers never leave before the drop.
        sim.faults.stall(1.0)
        place = await client.submit_order("flight-1", SYMBOL, "SELL", 100, ASK)
        cancel = await client.submit_cancel("live-1")
        replace = await client.submit_replace("live-2", price=BID - 3 * TICK)
        status_task = asyncio.create_task(client.order_status("live-3"))
        open_task = asyncio.create_task(client.get_open_orders())
        assert place is not None
        await wait_until(
            lambda: (
                sim.engine.status(sim.account_id, cid=cid_for("flight-1")) is not None
                and venue_status(sim, client, "live-1") is OrderStatus.CANCELED
            )
        )
        await asyncio.sleep(0.05)
        sim.faults.drop()
        await rec.wait(ev.Disconnected)

        outcomes = {}
        for rid in (place, cancel, replace):
            outcomes[rid] = (await client.wait_for(rid, timeout=8.0)).outcome
        # In flight at the drop: no verdict (UNKNOWN) until the venue's word, or OK.
        answered = (ev.RequestOutcome.OK, ev.RequestOutcome.UNKNOWN)
        assert outcomes[place] in answered
        assert outcomes[cancel] in answered
        assert outcomes[replace] is not ev.RequestOutcome.TIMEOUT
        for task in (status_task, open_task):
            async with asyncio.timeout(8.0):
                await asyncio.gather(task, return_exceptions=True)
            assert task.done()
        # A query whose answer was lost says so: ConnectionLostError.
        if status_task.exception() is not None:
            assert isinstance(status_task.exception(), ConnectionLostError)
        else:
            assert status_task.result().status is OrderStatus.ACCEPTED
        if open_task.exception() is not None:
            assert isinstance(open_task.exception(), ConnectionLostError)

        await rec.wait(ev.Resynced, count=2)
        await rec.wait(ev.OrderCanceled, "live-1")
        await rec.wait(ev.OrderAccepted, "flight-1")
        assert not rec.of(ev.OrderRejected, "flight-1")
        assert not rec.of(ev.OrderStateCorrected)
        assert len(sim.engine.history(sim.account_id)) == before + 1 + (
            1 if outcomes[replace] is ev.RequestOutcome.OK else 0
        )
        assert_matches_venue(sim, client, "live-1", "live-2", "live-3", "flight-1")
        # Every request got exactly one outcome.
        resolved = Counter(r.request_id for r in rec.of(ev.RequestResolved))
        assert all(n == 1 for n in resolved.values()), resolved


async def test_order_filled_while_its_place_was_in_flight(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        sim.faults.stall(1.0)
        place = await client.submit_order("flight-fill", SYMBOL, "BUY", 100, BID)
        assert place is not None
        await wait_until(
            lambda: sim.engine.status(sim.account_id, cid=cid_for("flight-fill")) is not None
        )
        sim.faults.drop()
        await rec.wait(ev.Disconnected)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)

        outcome = (await client.wait_for(place, timeout=8.0)).outcome
        assert outcome in (ev.RequestOutcome.OK, ev.RequestOutcome.UNKNOWN)
        fill = await rec.wait(ev.OrderFilled, "flight-fill")
        assert not rec.of(ev.OrderRejected, "flight-fill")
        assert fill.is_final and fill.fee is not None
        await rec.wait(ev.Resynced, count=2)
        assert_fills_once(rec)
        assert len(sim.engine.history(sim.account_id)) == 1
        assert_matches_venue(sim, client, "flight-fill")


async def test_a_stop_whose_trigger_is_crossed_during_the_gap_fires_after_reconnect(
    sim: SimServer,
) -> None:
    rec = Recorder()
    trigger = MARK + 5 * TICK
    sim.add_liquidity(SYMBOL, "SELL", trigger, 300)
    async with client_for(sim, rec) as client:
        await client.submit_order(
            "gap-stop",
            SYMBOL,
            "BUY",
            100,
            trigger + 3 * TICK,
            order_type="STOP_LIMIT",
            trigger_price=trigger,
        )
        await wait_until(lambda: client.stops.prices(SYMBOL) is not None)
        sim.faults.drop()  # the orders socket only: market data keeps flowing
        await rec.wait(ev.Disconnected)
        other = sim.add_user()
        async with client_for(sim, token=sim.issue_token(other.user_id)) as trader:
            await trader.place_order("lift", SYMBOL, "BUY", 100, trigger, time_in_force="IOC")
        assert not client.is_active  # the trade happened in the gap
        await rec.wait(ev.Resynced, count=2)
        triggered = await rec.wait(ev.OrderTriggered, "gap-stop")
        assert triggered.market_price == trigger
        fill = await rec.wait(ev.OrderFilled, "gap-stop")
        assert fill.is_final


async def test_cancel_on_disconnect(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec, cancel_on_disconnect=True) as client:
        await client.place_order("cod-1", SYMBOL, "BUY", 100, BID)
        sim.faults.drop()
        await rec.wait(ev.Resynced, count=2)
        await rec.wait(ev.OrderCanceled, "cod-1")
        assert venue_status(sim, client, "cod-1") is OrderStatus.CANCELED
        assert_matches_venue(sim, client, "cod-1")


async def test_disconnect_then_connect_again(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("dc-1", SYMBOL, "BUY", 100, BID)
        await client.disconnect()
        assert not client.is_active and not client.is_closed
        await asyncio.sleep(0.6)  # longer than the first reconnect delay: none happens
        assert rec.of(ev.Reconnected) == []
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await client.connect()
        assert client.is_active
        fill = await rec.wait(ev.OrderFilled, "dc-1")
        assert fill.is_final and fill.fee is not None
        assert_fills_once(rec)
