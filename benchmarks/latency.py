"""Submit→ack latency through :class:`~axorders.client.OrdersClient`, beside its floors.

Against a simulator in another process (``python -m axorders.sim --no-makers``):

* ``client_*``: sequential round trips ``submit_order()`` → ``OrderAccepted`` of resting limit
  orders away from the mark, timed when ``on_event`` sees the event, with a cancel-all
  between batches so the book stays small.
* ``raw_*``: the same round trips from a bare picows client that writes the place frame and
  waits for the ``n`` frame without decoding anything: what any client must pay on this
  simulator.
* ``echo_*`` (:mod:`benchmarks.echo`): round trips of a frame of the place frame's size to a
  trivial picows echo server in another process: the loopback and event-loop floor.
* ``sim_*``: the simulator's own processing time per request (``GET /sim/stats``).

``python -m benchmarks.latency [--count N]`` prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from decimal import Decimal
from typing import Any

import msgspec
import picows

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.model import Side, cid_for
from axorders.wire.orders import PlaceRequest, encode
from benchmarks import echo
from benchmarks.common import MARK, SYMBOL, SimProcess, admin, authenticate, summary_us

__all__ = ["client_latency", "measure", "place_frame", "raw_latency", "sim_stats"]

TICK = Decimal("0.0001")
QTY = 100
_run_ids = itertools.count(1)


def price_for(i: int) -> Decimal:
    """A resting buy price 50 to 69 ticks under the mark."""
    return (Decimal(str(MARK)) - TICK * (50 + i % 20)).quantize(TICK)


def place_frame(rid: int = 1_000, i: int = 0) -> bytes:
    """A place frame as the session writes it (with a ``cid``), for sizing and the raw client."""
    return encode(
        PlaceRequest(
            request_id=rid,
            symbol=SYMBOL,
            side=Side.BUY,
            quantity=QTY,
            price=price_for(i),
            time_in_force="GTC",
            post_only=False,
            cid=cid_for(f"bench-raw-{rid}"),
        )
    )


def sim_stats(base_url: str) -> dict[str, float]:
    """The simulator's processing time per request (µs) and its request count."""
    stats = admin(base_url, "GET", "/sim/stats")
    return {
        "sim_requests": float(stats["requests"]),
        "sim_processing_ns_total": float(stats["processing_ns_total"]),
        "sim_p50_us": stats["processing_ns_p50"] / 1000,
        "sim_p99_us": stats["processing_ns_p99"] / 1000,
    }


async def client_latency(
    info: dict[str, str], count: int, warmup: int, batch: int = 250, **options: Any
) -> dict[str, float]:
    """``submit_order`` → ``OrderAccepted`` round trips through an OrdersClient (µs)."""
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[None]] = {}

    acked: dict[str, int] = {}
    clock = time.perf_counter_ns

    def on_event(event: ev.Event) -> None:
        if type(event) is ev.OrderAccepted:
            fut = waiting.pop(event.client_order_id, None)
            if fut is not None:
                acked[event.client_order_id] = clock()  # when user code sees it
                fut.set_result(None)

    client = OrdersClient(
        info["base_url"],
        api_key=info["api_key"],
        api_secret=info["api_secret"],
        on_event=on_event,
        event_queue=False,
        heartbeat=30.0,
        **options,
    )
    run = next(_run_ids)
    samples: list[int] = []
    async with client:
        for i in range(warmup + count):
            if i and i % batch == 0:
                await client.cancel_all(SYMBOL)
            coid = f"lat-{run}-{i}"
            fut = waiting[coid] = loop.create_future()
            started = clock()
            await client.submit_order(coid, SYMBOL, Side.BUY, QTY, price_for(i))
            await fut
            if i >= warmup:
                samples.append(acked.pop(coid) - started)
            else:
                acked.pop(coid)
        await client.cancel_all(SYMBOL)
    return summary_us(samples, "client")


class _RawClient(picows.WSListener):
    """Wakes the waiter on the first frame of a given prefix; parses nothing."""

    def __init__(self) -> None:
        self.prefix = b""
        self.waiter: asyncio.Future[None] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done() or frame.msg_type is not picows.WSMsgType.TEXT:
            return
        if frame.get_payload_as_bytes().startswith(self.prefix):
            waiter.set_result(None)


async def raw_latency(
    info: dict[str, str], count: int, warmup: int, batch: int = 250
) -> dict[str, float]:
    """Place → ``n`` round trips from a bare picows client (µs)."""
    token = await asyncio.to_thread(authenticate, info)
    transport, client = await picows.ws_connect(
        _RawClient, info["orders_ws_url"], extra_headers={"Authorization": f"Bearer {token}"}
    )
    assert isinstance(client, _RawClient)
    loop = asyncio.get_running_loop()
    clock = time.perf_counter_ns
    text = picows.WSMsgType.TEXT
    samples: list[int] = []
    rid = 1_000_000 * next(_run_ids)

    async def round_trip(frame: bytes, prefix: bytes) -> int:
        client.prefix = prefix
        waiter = client.waiter = loop.create_future()
        started = clock()
        transport.send(text, frame)
        await waiter
        return clock() - started

    try:
        await asyncio.sleep(0.05)  # the login frame
        for i in range(warmup + count):
            rid += 1
            if i and i % batch == 0:
                await round_trip(msgspec.json.encode({"rid": rid, "t": "X"}), b'{"rid":%d' % rid)
                rid += 1
            elapsed = await round_trip(place_frame(rid, i), b'{"t":"n"')
            if i >= warmup:
                samples.append(elapsed)
        rid += 1
        await round_trip(msgspec.json.encode({"rid": rid, "t": "X"}), b'{"rid":%d' % rid)
    finally:
        transport.send_close(picows.WSCloseCode.OK)
        transport.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 2.0)
    return summary_us(samples, "raw")


def measure(sim: SimProcess, echo_url: str, count: int = 2000, warmup: int = 300) -> dict[str, Any]:
    """Every latency figure of section (b), from one simulator and one echo server."""
    info = sim.info
    before = sim_stats(sim.base_url)
    result: dict[str, float] = asyncio.run(client_latency(info, count, warmup))
    after = sim_stats(sim.base_url)
    handled = after["sim_requests"] - before["sim_requests"]
    spent = after["sim_processing_ns_total"] - before["sim_processing_ns_total"]
    result.update(
        sim_p50_us=after["sim_p50_us"],
        sim_p99_us=after["sim_p99_us"],
        sim_mean_us=spent / handled / 1000 if handled else 0.0,
    )
    result.update(asyncio.run(raw_latency(info, count, warmup)))
    result.update(echo.measure(echo_url, len(place_frame()), count, warmup))
    floor = result["echo_rtt_p50_us"] + result["sim_p50_us"]
    result["floor_p50_us"] = floor
    result["ratio_client_floor"] = result["client_p50_us"] / floor
    result["ratio_client_raw"] = result["client_p50_us"] / result["raw_p50_us"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    with SimProcess() as sim, echo.EchoProcess() as server:
        for name, value in measure(sim, server.url, args.count, args.warmup).items():
            print(f"{name:24s} {value:12,.2f}")


if __name__ == "__main__":
    main()
