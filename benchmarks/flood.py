"""Events per second delivered to user code, from a flood sent by a simulator in another process.

The client rests ``orders`` buy orders far from the mark, then asks the simulator for a flood
(``POST /sim/flood {"count": N, "kind": "fill"}``): N partial fills of one contract,
round-robin over those orders, encoded before the first is sent and written as fast as the
simulator can. The rate counts ``OrderFilled`` events read by ``async for event in
client.events()``, from the first to the last (``client_events_per_s``), and from the request
to the last (``client_events_per_s_e2e``).

The reference (``raw_frames_per_s``) is a bare picows client reading the same flood from the
same simulator without decoding it: the rate the simulator and the socket can deliver.

The ceiling (``session_only_events_per_s``, printed by ``python -m benchmarks.flood``) is the
client's session alone, in this process, receiving fill frames shaped like the flood's over as
many orders, with no socket and no loop: what the client can reach at best once the socket and
the hand-over to user code cost nothing (``ratio_client_session``).

``python -m benchmarks.flood [--count N] [--profile]`` prints the figures; with ``--profile``
the client's flood runs under cProfile and the hottest functions are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import pstats
import time
from decimal import Decimal
from typing import Any

import msgspec
import picows

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.commands import PlaceOrder
from axorders.model import Side, cid_for
from axorders.session import OrdersSession
from axorders.sim.instruments import default_instruments
from axorders.wire import orders as w
from benchmarks.common import (
    FLOOD_ORDER_QTY,
    MARK,
    SYMBOL,
    SimProcess,
    admin_async,
    authenticate,
    cancel_all,
)

__all__ = ["client_flood", "measure", "raw_flood", "session_flood"]

TICK = Decimal("0.0001")
_run_ids = itertools.count(1)


async def _rest_orders(client: OrdersClient, orders: int) -> None:
    """Place ``orders`` resting buys and wait until every one is accepted."""
    run = next(_run_ids)
    mark = Decimal(str(MARK))
    for i in range(orders):
        price = (mark - TICK * (100 + i % 50)).quantize(TICK)
        await client.submit_order(f"flood-{run}-{i}", SYMBOL, Side.BUY, FLOOD_ORDER_QTY, price)
    accepted = 0
    async for event in client.events():
        if type(event) is ev.OrderAccepted:
            accepted += 1
            if accepted == orders:
                return


async def _drain(client: OrdersClient, base_url: str, count: int) -> tuple[float, float, float]:
    """Ask for a flood of ``count`` fills and read them; returns (requested, first, last)."""
    request = asyncio.ensure_future(
        admin_async(base_url, "POST", "/sim/flood", {"count": count, "kind": "fill"})
    )
    requested = time.perf_counter()
    first = last = 0.0
    seen = 0
    clock = time.perf_counter
    fill = ev.OrderFilled
    async for event in client.events():
        if type(event) is fill:
            seen += 1
            if seen == 1:
                first = clock()
            if seen == count:
                last = clock()
                break
    await request
    return requested, first, last


async def client_flood(
    info: dict[str, str],
    count: int,
    orders: int = 1000,
    warmup: int = 5000,
    profile: cProfile.Profile | None = None,
    **options: Any,
) -> dict[str, float]:
    """OrderFilled events per second read through ``client.events()``."""
    client = OrdersClient(
        info["base_url"],
        api_key=info["api_key"],
        api_secret=info["api_secret"],
        heartbeat=30.0,
        **options,
    )
    async with client:
        await _rest_orders(client, orders)
        if warmup:
            await _drain(client, info["base_url"], warmup)
        if profile is not None:
            profile.enable()
        try:
            requested, first, last = await _drain(client, info["base_url"], count)
        finally:
            if profile is not None:
                profile.disable()
    await asyncio.to_thread(cancel_all, info)
    return {
        "client_events_per_s": (count - 1) / (last - first),
        "client_events_per_s_e2e": count / (last - requested),
        "client_flood_events": float(count),
    }


class _Counter(picows.WSListener):
    def __init__(self) -> None:
        self.target = 0
        self.seen = 0
        self.first = 0.0
        self.done: asyncio.Future[float] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is not picows.WSMsgType.TEXT:
            return
        if frame.get_payload_as_bytes().startswith(b'{"t":"p"'):
            self.seen += 1
            if self.seen == 1:
                self.first = time.perf_counter()
            if self.seen == self.target and self.done is not None and not self.done.done():
                self.done.set_result(time.perf_counter())


async def raw_flood(info: dict[str, str], count: int, warmup: int = 5000) -> dict[str, float]:
    """Flood frames per second read by a bare picows client (needs resting orders)."""
    token = await asyncio.to_thread(authenticate, info)
    transport, counter = await picows.ws_connect(
        _Counter, info["orders_ws_url"], extra_headers={"Authorization": f"Bearer {token}"}
    )
    assert isinstance(counter, _Counter)
    loop = asyncio.get_running_loop()
    try:
        rate = 0.0
        for n in (warmup, count) if warmup else (count,):
            counter.target, counter.seen = n, 0
            counter.done = loop.create_future()
            await admin_async(info["base_url"], "POST", "/sim/flood", {"count": n, "kind": "fill"})
            last = await asyncio.wait_for(counter.done, 120.0)
            rate = (n - 1) / (last - counter.first)
    finally:
        transport.send_close(picows.WSCloseCode.OK)
        transport.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 2.0)
    return {"raw_frames_per_s": rate}


async def _raw_with_orders(info: dict[str, str], count: int, orders: int) -> dict[str, float]:
    """Rest orders through a client that then disconnects (its orders stay), flood a raw reader."""
    client = OrdersClient(
        info["base_url"], api_key=info["api_key"], api_secret=info["api_secret"], heartbeat=30.0
    )
    async with client:
        await _rest_orders(client, orders)
    try:
        return await raw_flood(info, count)
    finally:
        await asyncio.to_thread(cancel_all, info)


def session_flood(count: int, orders: int = 1000, rounds: int = 3) -> float:
    """Fill frames per second that an :class:`OrdersSession` alone receives (and turns into
    ``OrderFilled`` events), for frames shaped like the flood's; the best of ``rounds``."""
    best = 0.0
    for _ in range(rounds):
        session = OrdersSession(
            account_id="acct-1", trader_id="T", strategy_id="S", instruments=default_instruments()
        )
        now = time.time_ns()
        ts, tn = divmod(now, 10**9)
        session.connection_made(now)
        session.receive(b'{"rid":0,"res":{"li":"user-1","o":[]}}', now)
        price = (Decimal(str(MARK)) - TICK * 100).quantize(TICK)
        bodies = []
        for i in range(orders):
            coid = f"flood-{i}"
            place = PlaceOrder(coid, SYMBOL, Side.BUY, FLOOD_ORDER_QTY, price=price)
            rid = session.send(place, now)
            session.frames_to_send()
            oid = f"O-FLOOD-{i:012d}"
            session.receive(b'{"rid":%d,"res":{"oid":"%s"}}' % (rid, oid.encode()), now)
            body = w.OrderBody(
                venue_order_id=oid,
                user_id="user-1",
                symbol=SYMBOL,
                price=price,
                quantity=FLOOD_ORDER_QTY,
                filled_quantity=0,
                remaining_quantity=FLOOD_ORDER_QTY,
                status="ACCEPTED",
                side=Side.BUY,
                time_in_force="GTC",
                cid=cid_for(coid),
                post_only=False,
                ts=ts,
                tn=tn,
            )
            session.receive(
                w.encode(w.AcknowledgedMsg(ts=ts, tn=tn, event_id=f"E-A-{i}", order=body)), now
            )
            bodies.append(body)
        session.events_received()
        frames = []
        for n in range(count):
            body = bodies[n % orders]
            done = body.filled_quantity + 1
            body = bodies[n % orders] = msgspec.structs.replace(
                body,
                filled_quantity=done,
                remaining_quantity=FLOOD_ORDER_QTY - done,
                status="PARTIALLY_FILLED",
            )
            execution = w.Execution(
                trade_id=f"T-FLOOD-{n:012d}",
                account_id="acct-1",
                symbol=SYMBOL,
                quantity=1,
                price=price,
                side=Side.BUY,
            )
            frames.append(
                w.encode(
                    w.PartiallyFilledMsg(
                        ts=ts, tn=tn, event_id=f"E-FLOOD-{n:012d}", order=body, execution=execution
                    )
                )
            )
        receive = session.receive
        started = time.perf_counter()
        for frame in frames:
            receive(frame, now)
        got = sum(type(e) is ev.OrderFilled for e in session.events_received())
        elapsed = time.perf_counter() - started
        assert got == count, got
        best = max(best, count / elapsed)
    return best


def measure(
    sim: SimProcess, count: int = 200_000, orders: int = 1000, profile: bool = False
) -> dict[str, Any]:
    """Section (c): the client's rate, the raw reader's rate and their ratio."""
    prof = cProfile.Profile() if profile else None
    result: dict[str, Any] = asyncio.run(client_flood(sim.info, count, orders, profile=prof))
    result.update(asyncio.run(_raw_with_orders(sim.info, count, orders)))
    result["ratio_client_raw"] = result["client_events_per_s"] / result["raw_frames_per_s"]
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flood")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="cProfile the client's flood")
    args = parser.parse_args()
    with SimProcess() as sim:
        result = measure(sim, args.count, args.orders, args.profile)
    result["session_only_events_per_s"] = session_flood(args.count, args.orders)
    result["ratio_client_session"] = (
        result["client_events_per_s"] / result["session_only_events_per_s"]
    )
    profile = result.pop("profile", None)
    for name, value in result.items():
        print(f"{name:28s} {value:14,.2f}")
    if profile:
        print(profile)


if __name__ == "__main__":
    main()
