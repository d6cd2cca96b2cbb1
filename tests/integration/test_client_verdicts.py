"""Honest verdicts against the simulator: an ambiguous answer is no verdict, never taken back.

The hostile venue answers a place with ``err`` 500 and either carries it out anyway
(``late_accept``) or does not (``lost_500``): the same answer, and only the venue's word tells
them apart.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from client_helpers import SYMBOL, Recorder, client_for, wait_until
from test_journal import crash

from axorders import events as ev
from axorders.exceptions import OrderRejectedError, OrderStatusUnknownError
from axorders.model import OrderStatus
from axorders.sim import SimConfig, SimServer
from axorders.sim.faults import HostileConfig
from axorders.store import MemoryOrderStore

BID = Decimal("1.1380")
ASK = Decimal("1.1396")


async def hostile(factory: Any, *names: str) -> SimServer:
    config = SimConfig(
        makers=False,
        heartbeat_interval=0.2,
        hostile=HostileConfig.only(*names, rates=dict.fromkeys(names, 1.0)),
    )
    sim: SimServer = await factory(config)
    return sim


def no_verdict_taken_back(rec: Recorder, coid: str) -> None:
    assert not rec.of(ev.OrderStateCorrected, coid)
    assert len(rec.of(ev.OrderRejected, coid)) <= 1


async def test_a_500_the_venue_carried_out_is_accepted_never_rejected(sim_factory: Any) -> None:
    sim = await hostile(sim_factory, "late_accept")
    rec = Recorder()
    async with client_for(sim, rec) as client:
        result = await client.place_order("v-1", SYMBOL, "BUY", 100, BID)
        assert result.status is OrderStatus.ACCEPTED
        unknown = rec.of(ev.OrderStatusUnknown, "v-1")
        assert len(unknown) == 1 and unknown[0].code == 500
        assert unknown[0].reason == "VENUE_ERROR_500"
        assert rec.of(ev.OrderAccepted, "v-1")
        assert not rec.of(ev.OrderRejected, "v-1")
        no_verdict_taken_back(rec, "v-1")
        assert client.metrics().value("orders_status_unknown") == 1


async def test_a_500_that_filled_before_anyone_asked(sim_factory: Any) -> None:
    sim = await hostile(sim_factory, "late_accept")
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    rec = Recorder()
    async with client_for(sim, rec) as client:
        result = await client.place_order("v-2", SYMBOL, "BUY", 100, ASK)
        assert result.status is OrderStatus.FILLED
        assert len(rec.of(ev.OrderFilled, "v-2")) == 1
        assert not rec.of(ev.OrderRejected, "v-2")
        no_verdict_taken_back(rec, "v-2")


async def test_a_500_the_venue_never_carried_out_is_rejected_once_after_the_grace(
    sim_factory: Any,
) -> None:
    sim = await hostile(sim_factory, "lost_500")
    rec = Recorder()
    async with client_for(sim, rec, request_timeout=2.0) as client:
        with pytest.raises(OrderRejectedError) as info:
            await client.place_order("v-3", SYMBOL, "BUY", 100, BID, timeout=12.0)
        assert info.value.reason == "NOT_FOUND_AT_VENUE"
        [unknown] = rec.of(ev.OrderStatusUnknown, "v-3")
        [rejected] = rec.of(ev.OrderRejected, "v-3")
        assert rejected.ts_init - unknown.ts_init >= 5 * 10**9  # the grace period
        assert rec.events.index(unknown) < rec.events.index(rejected)
        no_verdict_taken_back(rec, "v-3")
        assert not sim.engine.history(sim.account_id)  # nothing was ever placed


async def test_no_word_within_the_timeout_raises_status_unknown_then_the_venue_ends_it(
    sim_factory: Any,
) -> None:
    sim = await hostile(sim_factory, "lost_500")
    rec = Recorder()
    async with client_for(sim, rec) as client:
        with pytest.raises(OrderStatusUnknownError) as info:
            await client.place_order("v-4", SYMBOL, "BUY", 100, BID, timeout=1.0)
        text = str(info.value)
        assert "may hold the order" in text and "do not place it again" in text
        assert info.value.client_order_id == "v-4" and info.value.code == 500
        assert not rec.of(ev.OrderRejected, "v-4")  # no verdict yet
        order = client.order("v-4")
        assert order is not None and order.status is OrderStatus.UNKNOWN
        await rec.wait(ev.OrderRejected, "v-4")  # the venue's word, later
        ended = client.order("v-4")
        assert ended is None or ended.is_terminal
        no_verdict_taken_back(rec, "v-4")


async def test_an_unknown_order_survives_a_restart_and_is_resolved(sim_factory: Any) -> None:
    sim = await hostile(sim_factory, "lost_500")
    journal = MemoryOrderStore()
    first = Recorder()
    client = client_for(sim, first, store=journal)
    await client.connect()
    rid = await client.submit_order("v-5", SYMBOL, "BUY", 100, BID)
    assert rid is not None
    await first.wait(ev.OrderStatusUnknown, "v-5")
    await crash(client)
    [record] = [r for r in journal.load() if r.client_order_id == "v-5"]
    assert record.status is OrderStatus.UNKNOWN
    sim.faults.hostile("lost_500", on=False)
    second = Recorder()
    async with client_for(sim, second, store=journal) as restarted:
        await wait_until(lambda: bool(second.of(ev.OrderRejected, "v-5")), timeout=15.0)
        rejected = second.of(ev.OrderRejected, "v-5")
        assert len(rejected) == 1 and rejected[0].reason == "NOT_FOUND_AT_VENUE"
        assert not second.of(ev.OrderAccepted, "v-5")
        order = restarted.order("v-5")
        assert order is None or order.status is OrderStatus.REJECTED
