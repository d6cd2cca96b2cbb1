"""Floods of bad frames: the work per frame stays flat and the loop is never blocked for long.

``python -m benchmarks.bench_malformed`` prints the figures; :func:`run` returns them.

* **Session** (sans-I/O): an :class:`OrdersSession` with 1 000 resting orders on the simulator's
  venue (:class:`~axorders.sim.venue.VenueSession`) is fed 10 000, 30 000 and 100 000 bad frames
  in turn: JSON cut short, unknown types, fills of its own orders with a price or a ``cid`` out
  of range, replies to no request, and not objects at all. What the session sends back (resyncs,
  status queries) is answered by the venue after every ``rtt_frames`` frames, as a network round
  trip would. The figures: the time per frame for each size (flat when the work is linear in the
  count) and the longest single step (one frame in, or one batch of answers handled).
* **Client** (loopback): an :class:`OrdersClient` connected to an in-process simulator over
  127.0.0.1, with 200 resting orders, while the simulator writes the same kinds of bad frames
  (``sim.faults.send_malformed`` / ``send_unknown``). A watcher task measures the event loop's
  longest stall. The figure is the longest stall and the time per frame.

The target is a longest stretch under 50 ms at every size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from decimal import Decimal
from typing import Any

from axorders.commands import PlaceOrder
from axorders.model import Side, cid_for
from axorders.session import OrdersSession
from axorders.sim.engine import Engine, EngineConfig
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.venue import VenueSession

__all__ = ["bad_frames", "main", "run", "run_client", "run_session"]

SYMBOL = "EURUSD-PERP"
ACCOUNT = "acct-1"
USER = "user-1"
START = 1_790_228_411_000_000_000
TICK = Decimal("0.0001")
SIZES = (10_000, 30_000, 100_000)
TARGET_MS = 50.0
TS = START // 10**9


def bad_frames(oids: list[str], cids: list[int], count: int) -> list[bytes]:
    """``count`` bad frames of every kind, naming the given orders round-robin."""
    frames: list[bytes] = []
    n = len(oids)
    for i in range(count):
        kind = i % 6
        oid, cid = oids[i % n], cids[i % n]
        order = {
            "oid": oid, "u": USER, "s": SYMBOL, "p": "1.1000", "q": 100, "xq": 1, "rq": 99,
            "o": "PARTIALLY_FILLED", "d": "B", "tif": "GTC", "cid": cid, "ts": 1_790_228_411,
        }  # fmt: skip
        xs = {"tid": f"T-{i}", "s": SYMBOL, "q": 1, "p": "1.1000", "d": "B", "agg": False}
        if kind == 0:
            frames.append(b'{"t":"p","ts":1790228411,"o":{"oid":')  # cut short
        elif kind == 1:
            frames.append(json.dumps({"t": "zz", "n": i}).encode())  # unknown type
        elif kind == 2:
            xs["p"] = "1e400"
            frames.append(json.dumps({"t": "p", "ts": TS, "o": order, "xs": xs}).encode())
        elif kind == 3:
            order["cid"] = 2**64 + i
            frames.append(json.dumps({"t": "p", "ts": TS, "o": order, "xs": xs}).encode())
        elif kind == 4:
            frames.append(json.dumps({"rid": 2_000_000_000 + i, "res": {}}).encode())
        else:
            frames.append(b"[1,2,3]")
    return frames


def _resting_session(n_orders: int) -> tuple[OrdersSession, VenueSession, list[str], list[int]]:
    instruments = default_instruments()
    marks = marks_for(instruments)
    engine = Engine(instruments, marks, config=EngineConfig(), rng=random.Random(7))
    engine.add_account(ACCOUNT, user_id=USER, check_margin=False)
    session = OrdersSession(
        account_id=ACCOUNT,
        trader_id="T-1",
        instruments=instruments,
        request_timeout_ns=3600 * 10**9,
    )
    venue = VenueSession(engine, user_id=USER, account_id=ACCOUNT, connection_id=1)
    now = START
    session.connection_made(now)
    session.receive(venue.connection_made(now), now)
    mark = marks_for(instruments)[SYMBOL]
    for i in range(n_orders):
        price = mark - TICK * (10 + i % 50)
        session.send(PlaceOrder(f"rest-{i}", SYMBOL, Side.BUY, 100, price=price), now)
    _answer(session, venue, session.frames_to_send(), now)
    session.events_received()
    oids, cids = [], []
    for rec in session.orders():
        assert rec.venue_order_id is not None
        oids.append(rec.venue_order_id)
        cids.append(cid_for(rec.client_order_id))
    return session, venue, oids, cids


def _answer(session: OrdersSession, venue: VenueSession, frames: list[bytes], now: int) -> None:
    """The venue answers ``frames``; its replies and events go back to the session."""
    for frame in frames:
        for item in venue.receive(frame, now):
            if item.target is None or item.target == ACCOUNT:
                session.receive(item.frame, now)


def run_session(count: int, *, n_orders: int = 1000, rtt_frames: int = 200) -> dict[str, float]:
    """Feed ``count`` bad frames to a session with ``n_orders`` resting orders."""
    session, venue, oids, cids = _resting_session(n_orders)
    frames = bad_frames(oids, cids, count)
    now = START + 10**9
    outbox: list[bytes] = []
    longest = 0.0
    gc.collect()
    clock = time.perf_counter
    started = clock()
    for i, frame in enumerate(frames, 1):
        t0 = clock()
        session.receive(frame, now)
        outbox.extend(session.frames_to_send())
        session.events_received()
        step = clock() - t0
        if i % rtt_frames == 0 and outbox:
            t0 = clock()
            sent, outbox = outbox, []
            _answer(session, venue, sent, now)
            outbox.extend(session.frames_to_send())
            session.events_received()
            step = max(step, clock() - t0)
        longest = max(longest, step)
        now += 1000
    # Drain: the answers still owed.
    while outbox:
        t0 = clock()
        sent, outbox = outbox, []
        _answer(session, venue, sent, now)
        outbox.extend(session.frames_to_send())
        session.events_received()
        longest = max(longest, clock() - t0)
    elapsed = clock() - started
    stats = session.stats()
    return {
        "frames": float(count),
        "us_per_frame": elapsed / count * 1e6,
        "longest_ms": longest * 1e3,
        "resyncs": float(stats.resyncs),
        "frames_out": float(stats.frames_out),
        "pending_after": float(stats.pending_requests),
        "live_orders_after": float(stats.live_orders),
    }


async def _client_flood(count: int, n_orders: int, batch: int) -> dict[str, float]:
    from axorders.client import OrdersClient
    from axorders.sim import SimConfig, SimServer

    async with SimServer(SimConfig(makers=False, heartbeat_interval=1.0)) as sim:
        client = OrdersClient(
            sim.base_url, token=sim.issue_token(), heartbeat=5.0, event_queue=False
        )
        async with client:
            mark = Decimal("1.1388")
            for i in range(n_orders):
                price = mark - TICK * (10 + i % 50)
                await client.submit_order(f"c-{i}", SYMBOL, "BUY", 100, price)
            for _ in range(500):
                stats = client.session.stats()
                if stats.live_orders == n_orders and not stats.pending_requests:
                    break
                await asyncio.sleep(0.01)
            stalls: list[float] = []
            done = asyncio.Event()

            async def watch() -> None:
                loop = asyncio.get_running_loop()
                while not done.is_set():
                    t0 = loop.time()
                    await asyncio.sleep(0.001)
                    stalls.append(loop.time() - t0 - 0.001)

            watcher = asyncio.create_task(watch())
            before = client.session.stats().frames_in
            started = time.perf_counter()
            faults = sim.faults
            sent = 0
            while sent < count:
                for _ in range(min(batch, count - sent)):
                    if sent % 2:
                        faults.send_malformed(None)
                    else:
                        faults.send_unknown(None)
                    sent += 1
                await asyncio.sleep(0)
            for _ in range(6000):
                if client.session.stats().frames_in - before >= count:
                    break
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            done.set()
            await watcher
            received = client.session.stats().frames_in - before
    return {
        "frames": float(count),
        "received": float(received),
        "us_per_frame": elapsed / max(1, received) * 1e6,
        "longest_ms": max(stalls, default=0.0) * 1e3,
    }


def run_client(count: int, *, n_orders: int = 200, batch: int = 20) -> dict[str, float]:
    """Bad frames from an in-process simulator to a connected client over loopback."""
    return asyncio.run(_client_flood(count, n_orders, batch))


def run(sizes: tuple[int, ...] = SIZES, *, client: bool = True) -> dict[str, Any]:
    """Every figure of this module, in one run."""
    result: dict[str, Any] = {"session": {}, "client": {}}
    for size in sizes:
        result["session"][size] = run_session(size)
    if client:
        for size in sizes:
            result["client"][size] = run_client(size)
    longest = [r["longest_ms"] for part in ("session", "client") for r in result[part].values()]
    result["longest_ms"] = max(longest)
    result["within_target"] = result["longest_ms"] < TARGET_MS
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-client", action="store_true", help="the session part only")
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes), client=not args.no_client)
    for part in ("session", "client"):
        for size, figures in result[part].items():
            print(
                f"{part:<8} {size:>8,} bad frames  {figures['us_per_frame']:>8.2f} us/frame"
                f"   longest {figures['longest_ms']:>7.2f} ms"
                + (
                    f"   resyncs {figures['resyncs']:,.0f}, frames out {figures['frames_out']:,.0f}"
                    if part == "session"
                    else f"   received {figures['received']:,.0f}"
                )
            )
    verdict = "within" if result["within_target"] else "OVER"
    longest = result["longest_ms"]
    print(f"longest stretch {longest:.2f} ms ({verdict} the {TARGET_MS:.0f} ms target)")


if __name__ == "__main__":
    main()
