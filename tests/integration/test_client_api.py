"""The Python API's one convention, row by row of the table in docs/API.md.

Awaitable order methods return the venue's answer (an :class:`OrderResult`, a list of them, an
``OrderStatusReport`` or ``OrderSnapshot`` list) or raise a typed error; ``submit_*`` methods
return a request id at once. Also: ``import axorders`` stays light, a program that never
reads ``events()`` never stalls, and every ``events()`` reader gets every event.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, wait_until

import axorders
from axorders import (
    CancelRejectedError,
    ConnectionLostError,
    DuplicateOrderError,
    InvalidOrderError,
    InvalidStateError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderResult,
    OrdersClient,
    OrderStatus,
    OrderStatusUnknownError,
    ReplaceRejectedError,
    RequestTimeoutError,
    SimConfig,
    SimServer,
    UnknownInstrumentError,
    UnknownOrderError,
)
from axorders import events as ev

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK
SRC = Path(axorders.__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The package's entry points.


def test_import_axorders_is_light_and_every_public_name_resolves() -> None:
    code = (
        "import sys, axorders\n"
        "heavy = [m for m in ('picows', 'aiohttp', 'axorders.client', 'axorders.sim')"
        " if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "from axorders import OrdersClient, SimServer, SimConfig, OrderResult\n"
        "assert OrdersClient.__module__ == 'axorders.client.core'\n"
        "assert 'picows' in sys.modules\n"
        "missing = [n for n in axorders.__all__ if getattr(axorders, n, None) is None]\n"
        "assert missing == [], missing\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_main_names_are_exported() -> None:
    for name in (
        "OrdersClient",
        "OrderResult",
        "SimServer",
        "SimConfig",
        "Instrument",
        "Side",
        "PlaceOrder",
        "OrderAccepted",
        "OrderRejectedError",
        "CancelRejectedError",
        "OrderNotFoundError",
        "RequestTimeoutError",
        "ConnectionLostError",
    ):
        assert name in axorders.__all__
    assert issubclass(UnknownOrderError, OrderNotFoundError)
    with pytest.raises(AttributeError):
        _ = axorders.NoSuchName  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# place_order.


async def test_place_order_returns_the_order_as_the_venue_has_it(sim: SimServer) -> None:
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    async with client_for(sim, Recorder()) as client:
        resting = await client.place_order("p-rest", SYMBOL, "BUY", 200, BID)
        assert isinstance(resting, OrderResult)
        assert resting.status is OrderStatus.ACCEPTED and resting.is_open
        assert resting.client_order_id == "p-rest" and resting.venue_order_id
        assert (resting.quantity, resting.filled_qty, resting.leaves_qty) == (200, 0, 200)
        assert resting.price == BID and resting.request_id is not None

        filled = await client.place_order("p-take", SYMBOL, "BUY", 100, ASK)
        assert filled.status is OrderStatus.FILLED and filled.filled_qty == 100
        assert filled.is_terminal and filled.leaves_qty == 0

        ioc = await client.place_order("p-ioc", SYMBOL, "SELL", 100, ASK, time_in_force="IOC")
        assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == 0


async def test_place_order_of_a_stop_limit_returns_it_armed(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        armed = await client.place_order(
            "p-stop",
            SYMBOL,
            "BUY",
            100,
            MARK + 20 * TICK,
            order_type="STOP_LIMIT",
            trigger_price=MARK + 10 * TICK,
        )
        assert armed.status is OrderStatus.ARMED and armed.venue_order_id is None
        assert armed.trigger_price == MARK + 10 * TICK and armed.request_id is None
        assert sim.engine.history(sim.account_id) == []
        canceled = await client.cancel_order("p-stop")
        assert canceled.status is OrderStatus.CANCELED


async def test_place_order_market_without_liquidity_raises_no_liquidity(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        with pytest.raises(OrderRejectedError) as info:
            await client.place_order("p-mkt", SYMBOL, "BUY", 100, order_type="MARKET")
        assert info.value.reason == "NO_LIQUIDITY" and info.value.client_order_id == "p-mkt"
        assert sim.engine.history(sim.account_id) == []


async def test_a_venue_refusal_raises_order_rejected_with_reason_and_code(
    sim: SimServer,
) -> None:
    poor = sim.add_user(balance=Decimal("1"))
    rec = Recorder()
    async with client_for(sim, rec, token=sim.issue_token(poor.user_id)) as client:
        with pytest.raises(OrderRejectedError) as info:
            await client.place_order("p-margin", SYMBOL, "BUY", 10_000, BID)
        assert info.value.code == 400 and info.value.reason == "VENUE_ERROR_400"
        assert "margin" in info.value.text
        # The refusal is also an event, as before.
        assert rec.of(ev.OrderRejected, "p-margin")
        order = client.order("p-margin")
        assert order is not None and order.status is OrderStatus.REJECTED


async def test_a_post_only_that_would_cross_raises_order_rejected(sim: SimServer) -> None:
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    async with client_for(sim, Recorder()) as client:
        with pytest.raises(OrderRejectedError) as info:
            await client.place_order("p-po", SYMBOL, "BUY", 100, ASK, post_only=True)
        assert info.value.reason == "POST_ONLY_WOULD_CROSS"
        assert info.value.venue_order_id is not None and info.value.request_id is not None


async def test_place_order_local_errors_stay_local(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        with pytest.raises(InvalidOrderError) as bad:
            await client.place_order("p-bad", SYMBOL, "BUY", 50, BID)
        assert bad.value.field == "quantity"
        await client.place_order("p-dup", SYMBOL, "BUY", 100, BID)
        with pytest.raises(DuplicateOrderError):
            await client.place_order("p-dup", SYMBOL, "BUY", 100, BID)


async def test_place_order_without_an_answer_raises_request_timeout(sim: SimServer) -> None:
    async with client_for(sim, Recorder(), request_timeout=0.3, watchdog=0) as client:
        sim.faults.stall(3.0)
        with pytest.raises(RequestTimeoutError) as info:
            await client.place_order("p-slow", SYMBOL, "BUY", 100, BID)
        assert info.value.request_id is not None


async def test_a_place_across_a_drop_is_no_verdict_the_status_is_unknown(
    sim: SimServer,
) -> None:
    # A drop before the answer is ambiguous: the venue may hold the order. Not a reject, not
    # "lost": the caller is told the status is unknown and not to place it again.
    rec = Recorder()
    async with client_for(sim, rec, request_timeout=0.4) as client:
        sim.faults.stall(3.0)
        task = asyncio.create_task(client.place_order("p-drop", SYMBOL, "BUY", 100, BID))
        await asyncio.sleep(0.05)
        sim.faults.drop()
        with pytest.raises(OrderStatusUnknownError) as info:
            await task
        assert info.value.reason == "CONNECTION_LOST"
        assert "do not place it again" in str(info.value)
        assert not rec.of(ev.OrderRejected, "p-drop")


async def test_a_request_the_venue_never_got_raises_connection_lost_not_reached(
    sim: SimServer,
) -> None:
    async with client_for(sim, Recorder(), request_timeout=5.0) as client:
        sim.faults.stall(2.0)  # the venue's own answer comes too late to matter
        task = asyncio.create_task(client.place_order("p-lost", SYMBOL, "BUY", 100, BID))
        await wait_until(lambda: bool(client.session.pending_request_ids()))
        (rid,) = client.session.pending_request_ids()
        # What the session publishes when a resync finds no trace of a place.
        client.hub.publish(
            [
                ev.RequestResolved(
                    ts_init=0,
                    request_id=rid,
                    kind=ev.RequestKind.PLACE,
                    outcome=ev.RequestOutcome.LOST,
                    client_order_id="p-lost",
                )
            ]
        )
        with pytest.raises(ConnectionLostError) as info:
            await task
        assert info.value.reached_venue is False and info.value.request_id == rid


async def test_close_ends_a_waiting_call(sim: SimServer) -> None:
    client = client_for(sim, Recorder())
    await client.connect()
    sim.faults.stall(3.0)
    task = asyncio.create_task(client.place_order("p-close", SYMBOL, "BUY", 100, BID))
    await wait_until(lambda: bool(client.session.pending_request_ids()))
    await client.close(timeout=1.0)
    with pytest.raises(InvalidStateError):
        async with asyncio.timeout(2.0):
            await task


# ---------------------------------------------------------------------------------------------
# cancel_order, replace_order, cancel_all.


async def test_cancel_order_returns_the_canceled_order_and_complains_the_second_time(
    sim: SimServer,
) -> None:
    async with client_for(sim, Recorder()) as client:
        placed = await client.place_order("c-1", SYMBOL, "BUY", 100, BID)
        canceled = await client.cancel_order("c-1")
        assert canceled.status is OrderStatus.CANCELED and canceled.leaves_qty == 0
        assert canceled.venue_order_id == placed.venue_order_id
        with pytest.raises(OrderNotFoundError) as again:
            await client.cancel_order("c-1")
        assert again.value.reason == "ORDER_ALREADY_ENDED" and again.value.status == "CANCELED"
        with pytest.raises(OrderNotFoundError):
            await client.cancel_order("never-placed")
        with pytest.raises(OrderNotFoundError):
            await client.cancel_order(venue_order_id="O-UNKNOWN")


async def test_cancel_order_the_venue_does_not_know_raises_not_found(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        oid = sim.add_liquidity(SYMBOL, "SELL", ASK, 100)  # another account's order
        client.register_external_order("theirs", oid, SYMBOL, "SELL", 100, ASK)
        with pytest.raises(OrderNotFoundError) as info:
            await client.cancel_order("theirs")
        assert info.value.code == 404 and info.value.request_id is not None


async def test_cancel_refused_for_another_reason_raises_cancel_rejected(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        await client.place_order("c-2", SYMBOL, "BUY", 100, BID)
        sim.faults.stall(2.0)  # the venue's own answer comes too late to matter
        task = asyncio.create_task(client.cancel_order("c-2"))
        await wait_until(lambda: client._waiters.watching)
        rid = max(client.session.pending_request_ids())
        client.hub.publish(
            [
                ev.CancelRejected(
                    ts_init=0,
                    client_order_id="c-2",
                    venue_order_id=None,
                    reason="TOO_LATE_TO_CANCEL",
                    text="too late",
                    code=400,
                    request_id=rid,
                    ts_event=0,
                ),
                ev.RequestResolved(
                    ts_init=0,
                    request_id=rid,
                    kind=ev.RequestKind.CANCEL,
                    outcome=ev.RequestOutcome.ERROR,
                    client_order_id="c-2",
                    code=400,
                    message="too late",
                ),
            ]
        )
        with pytest.raises(CancelRejectedError) as info:
            await task
        assert not isinstance(info.value, OrderNotFoundError)
        assert info.value.reason == "TOO_LATE_TO_CANCEL" and info.value.code == 400


async def test_replace_order_returns_the_new_order_or_raises(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        placed = await client.place_order("r-1", SYMBOL, "BUY", 100, BID)
        replaced = await client.replace_order("r-1", price=BID - TICK, quantity=200)
        assert (replaced.price, replaced.quantity) == (BID - TICK, 200)
        assert replaced.status is OrderStatus.ACCEPTED
        assert replaced.venue_order_id not in (None, placed.venue_order_id)
        with pytest.raises(ReplaceRejectedError) as info:
            await client.replace_order("r-1", price=(MARK * Decimal("0.8")).quantize(TICK))
        assert info.value.code == 400
        order = client.order("r-1")
        assert order is not None and order.price == BID - TICK and order.status.is_open
        await client.cancel_order("r-1")
        with pytest.raises(OrderNotFoundError):
            await client.replace_order("r-1", price=BID)


async def test_cancel_all_returns_the_orders_it_canceled(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        assert await client.cancel_all() == []
        await client.place_order("a-1", SYMBOL, "BUY", 100, BID)
        await client.place_order("a-2", SYMBOL, "SELL", 100, ASK)
        await client.place_order("a-3", "XAU-PERP", "BUY", 1, Decimal("3600.0"))
        by_symbol = await client.cancel_all(SYMBOL)
        assert [r.client_order_id for r in by_symbol] == ["a-1", "a-2"]
        assert all(r.status is OrderStatus.CANCELED for r in by_symbol)
        rest = await client.cancel_all()
        assert [r.client_order_id for r in rest] == ["a-3"]
        assert await client.get_open_orders() == []


# ---------------------------------------------------------------------------------------------
# Queries and the fire-and-forget forms.


async def test_queries_return_the_venues_reports(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        await client.place_order("q-1", SYMBOL, "BUY", 100, BID)
        (snapshot,) = await client.get_open_orders()
        assert isinstance(snapshot, ev.OrderSnapshot) and snapshot.client_order_id == "q-1"
        report = await client.order_status("q-1")
        assert isinstance(report, ev.OrderStatusReport)
        assert report.status is OrderStatus.ACCEPTED
        with pytest.raises(OrderNotFoundError) as info:
            await client.order_status(venue_order_id="O-NOT-THERE")
        assert info.value.code == 404


async def test_submit_methods_return_request_ids_at_once(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        place = await client.submit_order("s-1", SYMBOL, "BUY", 100, BID)
        assert isinstance(place, int)
        assert (await client.wait_for(place)).ok
        replace = await client.submit_replace("s-1", price=BID - TICK)
        assert isinstance(replace, int) and (await client.wait_for(replace)).ok
        await rec.wait(ev.OrderReplaced, "s-1")
        cancel = await client.submit_cancel("s-1")
        assert isinstance(cancel, int) and (await client.wait_for(cancel)).ok
        cancel_all = await client.submit_cancel_all()
        assert isinstance(cancel_all, int) and (await client.wait_for(cancel_all)).ok
        assert len({place, replace, cancel, cancel_all}) == 4
        await rec.wait(ev.OrderCanceled, "s-1")


async def test_submit_methods_refuse_locally_before_sending(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        before = len(sim.engine.history(sim.account_id))
        with pytest.raises(UnknownOrderError):
            await client.submit_cancel("nobody")
        with pytest.raises(UnknownOrderError):
            await client.submit_replace("nobody", price=BID)
        with pytest.raises(UnknownInstrumentError):
            await client.submit_cancel_all("NOPE-PERP")
        with pytest.raises(UnknownInstrumentError):
            await client.cancel_all("NOPE-PERP")
        await client.place_order("s-2", SYMBOL, "BUY", 100, BID)
        with pytest.raises(InvalidOrderError):
            await client.submit_replace("s-2")  # nothing to replace
        with pytest.raises(InvalidOrderError):
            await client.replace_order("s-2", price=BID + TICK / 2)
        assert len(sim.engine.history(sim.account_id)) == before + 1


async def test_next_event_times_out_with_request_timeout(sim: SimServer) -> None:
    async with client_for(sim) as client:
        first = await client.next_event(timeout=2)
        assert isinstance(first, ev.LoginSnapshot)
        with pytest.raises(RequestTimeoutError):
            await client.next_event(lambda e: isinstance(e, ev.OrderFilled), timeout=0.2)


# ---------------------------------------------------------------------------------------------
# events(): no stall without a reader, fan-out with several.


async def test_a_program_that_only_awaits_never_stalls(
    sim_factory: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start = sim_factory  # the simulator without makers
    sim = await start(SimConfig(makers=False, heartbeat_interval=0.2))  # type: ignore[operator]
    orders = 10_000
    caplog.set_level(logging.WARNING, logger="axorders.client")
    async with OrdersClient(
        sim.base_url, token=sim.issue_token(), request_timeout=5.0, heartbeat=1.0
    ) as client:
        assert client.max_queue == 10_000  # the default
        for i in range(orders):
            price = BID - TICK * (i % 200)
            placed = await client.place_order(f"only-{i}", SYMBOL, "BUY", 100, price)
            assert placed.status is OrderStatus.ACCEPTED
        assert not client.hub.paused
        canceled = await client.cancel_all()
        assert len(canceled) == orders
        assert client.events_dropped > 0
        assert client.is_active and not client.hub.paused
    warnings = [r for r in caplog.records if "nobody reads events()" in r.getMessage()]
    assert len(warnings) == 1


async def test_two_readers_each_see_every_event(sim: SimServer) -> None:
    seen = Recorder()
    async with client_for(sim, on_event=seen) as client:
        got: dict[str, list[ev.Event]] = {"a": [], "b": []}

        async def read(name: str) -> None:
            async for event in client.events():
                got[name].append(event)
                if isinstance(event, ev.OrderCanceled) and event.client_order_id == "two-9":
                    return

        readers = [asyncio.create_task(read("a")), asyncio.create_task(read("b"))]
        await asyncio.sleep(0)
        for i in range(10):
            await client.place_order(f"two-{i}", SYMBOL, "BUY", 100, BID - i * TICK)
        for i in range(10):
            await client.cancel_order(f"two-{i}")
        async with asyncio.timeout(5.0):
            await asyncio.gather(*readers)
        # The first reader also took over what was kept before anyone read (the login...);
        # from then on both saw every event, in order.
        assert isinstance(got["a"][0], ev.LoginSnapshot)
        assert got["b"] and got["a"][-len(got["b"]) :] == got["b"]
        assert got["a"] == seen.events[: len(got["a"])]
        for events in got.values():
            assert sum(isinstance(e, ev.OrderAccepted) for e in events) == 10
            assert sum(isinstance(e, ev.OrderCanceled) for e in events) == 10
            assert sum(isinstance(e, ev.RequestResolved) for e in events) == 20


async def test_a_reader_that_stops_leaves_the_rest_to_the_next(sim: SimServer) -> None:
    async with client_for(sim) as client:
        for i in range(3):
            await client.place_order(f"next-{i}", SYMBOL, "BUY", 100, BID - i * TICK)
        accepted: list[str] = []
        async for event in client.events():
            if isinstance(event, ev.OrderAccepted):
                accepted.append(event.client_order_id)
                break
        # The rest was kept: the next reader (next_event here) gets it.
        second = await client.next_event(lambda e: isinstance(e, ev.OrderAccepted), timeout=2)
        third = await client.next_event(lambda e: isinstance(e, ev.OrderAccepted), timeout=2)
        assert isinstance(second, ev.OrderAccepted) and isinstance(third, ev.OrderAccepted)
        assert [*accepted, second.client_order_id, third.client_order_id] == [
            "next-0",
            "next-1",
            "next-2",
        ]
        assert client.hub.reader_count == 0
