"""OrdersClient against the simulator: every order type and time in force, end to end."""

from __future__ import annotations

from decimal import Decimal

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, fills, wait_until

from axorders import events as ev
from axorders.exceptions import (
    DuplicateOrderError,
    InvalidOrderError,
    OrderNotFoundError,
    OrderRejectedError,
)
from axorders.model import Instrument, LiquiditySide, OrderStatus, Side, TimeInForce
from axorders.sim import SimServer

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK


async def test_limit_gtc_partial_then_full_fill(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        placed = await client.place_order("gtc-1", SYMBOL, "BUY", 500, BID)
        assert placed.status is OrderStatus.ACCEPTED and placed.client_order_id == "gtc-1"
        assert placed.request_id is not None and placed.filled_qty == 0
        accepted = await rec.wait(ev.OrderAccepted, "gtc-1")
        assert placed.venue_order_id == accepted.venue_order_id
        assert accepted.price == BID and accepted.quantity == 500
        assert accepted.time_in_force is TimeInForce.GTC and accepted.venue_order_id

        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        first = await rec.wait(ev.OrderFilled, "gtc-1")
        assert (first.last_qty, first.filled_qty, first.leaves_qty) == (200, 200, 300)
        assert first.liquidity_side is LiquiditySide.MAKER and not first.is_final
        assert first.last_price == BID and first.side is Side.BUY
        assert first.account_id == sim.account_id and first.trader_id == "TRADER-001"

        sim.add_liquidity(SYMBOL, "SELL", BID - TICK, 300)
        last = await rec.wait(ev.OrderFilled, "gtc-1", count=2)
        assert (last.last_qty, last.filled_qty, last.leaves_qty) == (300, 500, 0)
        assert last.is_final and last.last_price == BID
        order = client.order("gtc-1")
        assert order is not None and order.status is OrderStatus.FILLED
        assert order.filled_qty == 500
        assert len(fills(rec, "gtc-1")) == 2


async def test_limit_ioc_fills_what_it_can_and_expires_the_rest(sim: SimServer) -> None:
    rec = Recorder()
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    async with client_for(sim, rec) as client:
        placed = await client.place_order("ioc-1", SYMBOL, "BUY", 300, ASK, time_in_force="IOC")
        assert placed.status is OrderStatus.EXPIRED and placed.filled_qty == 100
        expired = await rec.wait(ev.OrderExpired, "ioc-1")
        assert expired.filled_qty == 100 and not expired.done_for_day
        (fill,) = fills(rec, "ioc-1")
        assert fill.liquidity_side is LiquiditySide.TAKER and fill.last_qty == 100
        order = client.order("ioc-1")
        assert order is not None and order.status is OrderStatus.EXPIRED


async def test_limit_day_ends_at_session_close(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("day-1", SYMBOL, "SELL", 100, ASK, time_in_force="DAY")
        await rec.wait(ev.OrderAccepted, "day-1")
        assert sim.session_close() >= 1
        expired = await rec.wait(ev.OrderExpired, "day-1")
        assert expired.done_for_day and expired.filled_qty == 0
        order = client.order("day-1")
        assert order is not None and order.status is OrderStatus.DONE_FOR_DAY


async def test_replace_price_and_quantity(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("rep-1", SYMBOL, "BUY", 100, BID)
        accepted = await rec.wait(ev.OrderAccepted, "rep-1")
        result = await client.replace_order("rep-1", price=BID - TICK, quantity=200)
        assert (result.price, result.quantity) == (BID - TICK, 200) and result.is_open
        replaced = await rec.wait(ev.OrderReplaced, "rep-1")
        assert result.venue_order_id == replaced.venue_order_id
        assert replaced.old_venue_order_id == accepted.venue_order_id
        assert replaced.venue_order_id and replaced.venue_order_id != accepted.venue_order_id
        assert (replaced.price, replaced.quantity) == (BID - TICK, 200)
        order = client.order("rep-1")
        assert order is not None and order.venue_order_id == replaced.venue_order_id
        assert order.status.is_open and order.quantity == 200

        # By venue id, the new one; then a fill arrives under the same client order id.
        result = await client.replace_order(venue_order_id=replaced.venue_order_id, price=BID)
        assert result.client_order_id == "rep-1" and result.price == BID
        again = await rec.wait(ev.OrderReplaced, "rep-1", count=2)
        assert again.old_venue_order_id == replaced.venue_order_id and again.price == BID
        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        fill = await rec.wait(ev.OrderFilled, "rep-1")
        assert fill.is_final and fill.filled_qty == 200
        assert fill.venue_order_id == again.venue_order_id


async def test_cancel_by_client_id_and_by_venue_id(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("c-1", SYMBOL, "BUY", 100, BID)
        await client.place_order("c-2", SYMBOL, "BUY", 100, BID - TICK)
        second = await rec.wait(ev.OrderAccepted, "c-2")
        result = await client.cancel_order("c-1")
        assert result.status is OrderStatus.CANCELED and result.client_order_id == "c-1"
        await rec.wait(ev.OrderCanceled, "c-1")
        assert second.venue_order_id is not None
        result = await client.cancel_order(venue_order_id=second.venue_order_id)
        assert result.status is OrderStatus.CANCELED and result.client_order_id == "c-2"
        canceled = await rec.wait(ev.OrderCanceled, "c-2")
        assert canceled.venue_order_id == second.venue_order_id and canceled.filled_qty == 0
        assert sim.engine.open_orders(sim.account_id) == []
        # A cancel of an ended order does not reach a live one.
        assert client.orders() == []


async def test_cancel_right_after_submit_before_the_ack(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        place = await client.submit_order("fast-1", SYMBOL, "BUY", 100, BID)
        cancel = await client.submit_cancel("fast-1")
        assert place is not None
        assert (await client.wait_for(place)).ok
        assert (await client.wait_for(cancel)).ok
        await rec.wait(ev.OrderCanceled, "fast-1")


async def test_cancel_all_and_by_symbol(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("a-1", SYMBOL, "BUY", 100, BID)
        await client.place_order("a-2", SYMBOL, "SELL", 100, ASK)
        await client.place_order("a-3", "XAU-PERP", "BUY", 1, Decimal("3600.0"))
        canceled = await client.cancel_all(SYMBOL)
        assert [r.client_order_id for r in canceled] == ["a-1", "a-2"]
        assert {r.status for r in canceled} == {OrderStatus.CANCELED}
        await rec.wait(ev.OrderCanceled, "a-1")
        await rec.wait(ev.OrderCanceled, "a-2")
        open_orders = await client.get_open_orders()
        assert [o.client_order_id for o in open_orders] == ["a-3"]
        assert [r.client_order_id for r in await client.cancel_all()] == ["a-3"]
        await rec.wait(ev.OrderCanceled, "a-3")
        assert await client.get_open_orders() == []
        assert client.orders() == []


async def test_post_only_that_would_cross_is_rejected(sim: SimServer) -> None:
    rec = Recorder()
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    async with client_for(sim, rec) as client:
        await client.submit_order("po-1", SYMBOL, "BUY", 100, ASK, post_only=True)
        rejected = await rec.wait(ev.OrderRejected, "po-1")
        assert rejected.due_post_only
        assert rejected.origin is not ev.RejectOrigin.LOCAL
        order = client.order("po-1")
        assert order is None or order.status is OrderStatus.REJECTED
        assert fills(rec) == []


async def test_market_order_with_liquidity(sim: SimServer) -> None:
    rec = Recorder()
    sim.add_liquidity(SYMBOL, "SELL", ASK, 100)
    sim.add_liquidity(SYMBOL, "SELL", ASK + TICK, 100)
    async with client_for(sim, rec) as client:
        placed = await client.place_order("mkt-1", SYMBOL, "BUY", 200, order_type="MARKET")
        assert placed.status is OrderStatus.FILLED and placed.filled_qty == 200
        await wait_until(lambda: sum(f.last_qty for f in fills(rec, "mkt-1")) == 200)
        got = fills(rec, "mkt-1")
        assert [f.last_price for f in got] == [ASK, ASK + TICK]
        assert all(f.liquidity_side is LiquiditySide.TAKER for f in got)
        assert got[-1].is_final and got[-1].filled_qty == 200
        order = client.order("mkt-1")
        assert order is not None and order.time_in_force is TimeInForce.IOC
        assert order.price == ASK + TICK and order.status is OrderStatus.FILLED


async def test_market_order_without_liquidity_is_rejected_locally(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        before = len(sim.engine.history(sim.account_id))
        with pytest.raises(OrderRejectedError) as info:
            await client.place_order("mkt-2", SYMBOL, "SELL", 100, order_type="MARKET")
        assert info.value.reason == "NO_LIQUIDITY" and info.value.request_id is None
        rejected = await rec.wait(ev.OrderRejected, "mkt-2")
        assert rejected.origin is ev.RejectOrigin.LOCAL and rejected.reason == "NO_LIQUIDITY"
        assert len(sim.engine.history(sim.account_id)) == before
        # The id is free again.
        sim.add_liquidity(SYMBOL, "BUY", BID, 100)
        placed = await client.place_order("mkt-2", SYMBOL, "SELL", 100, order_type="MARKET")
        assert placed.status is OrderStatus.FILLED
        await rec.wait(ev.OrderFilled, "mkt-2")


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_stop_limit_triggers_from_market_data(sim: SimServer, side: Side) -> None:
    rec = Recorder()
    buy = side is Side.BUY
    trigger = MARK + 5 * TICK if buy else MARK - 5 * TICK
    limit = trigger + 3 * TICK if buy else trigger - 3 * TICK
    opposite = "SELL" if buy else "BUY"
    sim.add_liquidity(SYMBOL, opposite, trigger, 300)
    async with client_for(sim, rec) as client:
        rid = await client.submit_order(
            "stop-1", SYMBOL, side, 100, limit, order_type="STOP_LIMIT", trigger_price=trigger
        )
        assert rid is None
        order = client.order("stop-1")
        assert order is not None and order.status is OrderStatus.ARMED
        assert sim.engine.history(sim.account_id) == []
        # The feed's first book snapshot has arrived: the subscription is live.
        await wait_until(lambda: client.stops.prices(SYMBOL) is not None)
        assert client.order("stop-1").status is OrderStatus.ARMED  # type: ignore[union-attr]

        # Another account trades through the trigger.
        other = sim.add_user()
        async with client_for(sim, token=sim.issue_token(other.user_id)) as trader:
            await trader.place_order("lift", SYMBOL, side, 100, trigger, time_in_force="IOC")
        triggered = await rec.wait(ev.OrderTriggered, "stop-1")
        assert triggered.trigger_price == trigger and triggered.market_price == trigger
        assert (await client.wait_for(triggered.request_id)).ok
        fill = await rec.wait(ev.OrderFilled, "stop-1")
        assert fill.is_final and fill.last_price == trigger
        assert fill.liquidity_side is LiquiditySide.TAKER


async def test_stop_limit_canceled_while_armed(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.submit_order(
            "stop-2",
            SYMBOL,
            "BUY",
            100,
            MARK + 20 * TICK,
            order_type="STOP_LIMIT",
            trigger_price=MARK + 10 * TICK,
        )
        result = await client.cancel_order("stop-2")
        assert result.status is OrderStatus.CANCELED and result.venue_order_id is None
        await rec.wait(ev.OrderCanceled, "stop-2")
        assert sim.engine.history(sim.account_id) == []


async def test_open_orders_and_status(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("q-1", SYMBOL, "BUY", 100, BID)
        open_orders = await client.get_open_orders()
        assert len(open_orders) == 1
        snap = open_orders[0]
        assert snap.client_order_id == "q-1" and snap.price == BID and snap.quantity == 100
        assert snap.status is OrderStatus.ACCEPTED

        report = await client.order_status("q-1")
        assert isinstance(report, ev.OrderStatusReport)
        assert report.status is OrderStatus.ACCEPTED and report.remaining_qty == 100
        assert report.client_order_id == "q-1"
        by_venue = await client.order_status(venue_order_id=snap.venue_order_id)
        assert isinstance(by_venue, ev.OrderStatusReport)
        assert by_venue.venue_order_id == snap.venue_order_id

        with pytest.raises(OrderNotFoundError) as info:
            await client.order_status(venue_order_id="O-DOES-NOT-EXIST")
        assert info.value.code == 404


async def test_wait_for_a_request_already_resolved(sim: SimServer) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        rid = await client.submit_order("w-1", SYMBOL, "BUY", 100, BID)
        assert rid is not None
        await rec.wait(ev.RequestResolved, request_id=rid)
        resolved = await client.wait_for(rid)
        assert resolved.ok and resolved.request_id == rid


async def test_duplicate_client_order_id_is_refused(sim: SimServer) -> None:
    async with client_for(sim, Recorder()) as client:
        await client.place_order("dup-1", SYMBOL, "BUY", 100, BID)
        before = len(sim.engine.history(sim.account_id))
        with pytest.raises(DuplicateOrderError):
            await client.submit_order("dup-1", SYMBOL, "BUY", 100, BID)
        assert len(sim.engine.history(sim.account_id)) == before


async def test_register_external_order(sim: SimServer) -> None:
    rec = Recorder()
    oid = sim.add_liquidity(SYMBOL, "SELL", ASK, 100)  # not ours: just a venue id
    async with client_for(sim, rec) as client:
        # An order placed by another process of the same account, through the raw gateway.
        other = client_for(sim, token=sim.issue_token())
        async with other:
            await other.place_order("elsewhere", SYMBOL, "BUY", 100, BID)
            placed = other.order("elsewhere")
            assert placed is not None and placed.venue_order_id is not None
            venue_id = placed.venue_order_id
        discovered = rec.of(ev.ExternalOrderDiscovered)
        assert oid not in [d.order.venue_order_id for d in discovered]
        tracked = client.register_external_order("mine-now", venue_id, SYMBOL, "BUY", 100, BID)
        assert tracked.client_order_id == "mine-now" and tracked.external
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        fill = await rec.wait(ev.OrderFilled, "mine-now")
        assert fill.venue_order_id == venue_id and fill.is_final


async def test_load_and_cache_instruments(sim: SimServer) -> None:
    async with client_for(sim) as client:
        loaded = await client.load_instruments()
        assert SYMBOL in {i.symbol for i in loaded}
        assert client.instrument(SYMBOL).tick_size == TICK
        custom = Instrument(
            symbol="CUSTOM-PERP", tick_size=Decimal("0.5"), minimum_order_size=1, price_precision=1
        )
        client.cache_instrument(custom)
        assert client.instrument("CUSTOM-PERP") is custom


async def test_given_instruments_are_not_loaded_over_rest(sim: SimServer) -> None:
    inst = Instrument(symbol=SYMBOL, tick_size=TICK, minimum_order_size=100, price_precision=4)
    async with client_for(sim, instruments=[inst]) as client:
        assert set(client.session.instruments) == {SYMBOL}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"symbol": "NOPE-PERP"}, "symbol"),
        ({"price": MARK + TICK / 2}, "price"),
        ({"quantity": Decimal("100.5")}, "quantity"),
        ({"time_in_force": "GTD"}, "time_in_force"),
    ],
)
async def test_local_validation_raises_before_sending(
    sim: SimServer, kwargs: dict[str, object], field: str
) -> None:
    rec = Recorder()
    async with client_for(sim, rec) as client:
        frames_out = client.session.stats().frames_out
        args: dict[str, object] = {"symbol": SYMBOL, "quantity": 100, "price": BID}
        args.update(kwargs)
        extra = {"time_in_force": args.pop("time_in_force")} if "time_in_force" in args else {}
        with pytest.raises(InvalidOrderError) as info:
            await client.submit_order(
                "bad-1",
                str(args["symbol"]),
                "BUY",
                args["quantity"],  # type: ignore[arg-type]
                args["price"],  # type: ignore[arg-type]
                **extra,  # type: ignore[arg-type]
            )
        assert info.value.field == field
        assert sim.engine.history(sim.account_id) == []
        assert client.session.stats().frames_out == frames_out
        assert client.orders(include_ended=True) == []
