"""Simulator throughput: the matching engine alone, and the gateway over one WebSocket.

``python -m benchmarks.bench_sim`` prints the figures; :func:`run` returns them.

* ``engine_ops_per_s``: engine commands per second on a seeded mix of resting places (50 %),
  cancels (30 %) and aggressive IOC orders that trade (20 %), 4 accounts, one symbol, every
  event and fill built as the gateway needs them; best of several rounds of 50 000 commands,
  each on a fresh engine (the round least disturbed by other work on the machine).
  ``engine_ops_per_s_median`` is the median round.
* ``gateway_orders_per_s``: places pipelined over one ``/orders/ws`` socket by a plain aiohttp
  client, until every response and acknowledgement is back (client and server share the
  process and the event loop, so this is a floor).
* ``gateway_processing_us``: the simulator's own processing time per request (decode, engine,
  encode, queueing), measured inside the server, mean.
* ``calibration_loop_ns``: nanoseconds per iteration of a bare ``total += i`` loop in this
  interpreter, to put the other figures in proportion when comparing machines.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
from decimal import Decimal

import aiohttp

from axorders.model import Side
from axorders.sim import SimConfig, SimServer
from axorders.sim.engine import Engine, EngineConfig
from axorders.sim.instruments import default_instruments, marks_for

__all__ = ["bench_engine", "bench_gateway", "main", "run"]

SYMBOL = "EURUSD-PERP"
TICK = Decimal("0.0001")
MID = 11388
START = 1_790_228_411_000_000_000


def _script(count: int, seed: int) -> list[tuple[str, str, Side, int, Decimal, float]]:
    """``(kind, account, side, quantity, price, pick)``; ``pick`` chooses the order to cancel."""
    rng = random.Random(seed)
    accounts = ["A", "B", "C", "D"]
    ops = []
    for _ in range(count):
        roll = rng.random()
        kind = "place" if roll < 0.5 else "cancel" if roll < 0.8 else "take"
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        if kind == "take":  # through the touch: trades
            ticks = MID + 3 if side is Side.BUY else MID - 3
        else:  # passive, around the mid
            ticks = MID - rng.randint(1, 20) if side is Side.BUY else MID + rng.randint(1, 20)
        qty = rng.randint(1, 5) * 100
        ops.append((kind, rng.choice(accounts), side, qty, TICK * ticks, rng.random()))
    return ops


def bench_engine(count: int = 50_000, rounds: int = 7, seed: int = 1) -> dict[str, float]:
    """Engine commands per second (best and median round) and the trades of one round."""
    ops = _script(count, seed)
    times: list[float] = []
    trades = 0
    for _ in range(rounds):
        instruments = default_instruments()
        engine = Engine(
            instruments,
            marks_for(instruments),
            config=EngineConfig(record_market_data=False),
            rng=random.Random(seed),
        )
        for account in ("A", "B", "C", "D"):
            engine.add_account(account, balance=Decimal(10**12))
        live: list[tuple[str, str]] = []
        place, cancel = engine.place, engine.cancel
        now = START
        gc.collect()  # the previous round's garbage is not this round's cost
        started = time.perf_counter()
        for kind, account, side, qty, price, pick in ops:
            now += 1_000
            if kind == "cancel" and live:
                owner, oid = live.pop(int(pick * len(live)))
                cancel(owner, now, venue_order_id=oid)
            elif kind == "take":
                place(account, SYMBOL, side, qty, price, now=now, time_in_force="IOC")
            else:
                result = place(account, SYMBOL, side, qty, price, now=now).result
                if result is not None and result.venue_order_id is not None:
                    live.append((account, result.venue_order_id))
        times.append(time.perf_counter() - started)
        trades = sum(len(engine.fills(a)) for a in ("A", "B", "C", "D")) // 2
    times.sort()
    return {
        "engine_ops_per_s": count / times[0],
        "engine_ops_per_s_median": count / times[len(times) // 2],
        "engine_trades_per_round": float(trades),
    }


async def _gateway(count: int) -> dict[str, float]:
    config = SimConfig(makers=False, heartbeat_interval=3600.0, check_margin=False)
    async with SimServer(config) as sim, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {sim.issue_token()}"}
        async with http.ws_connect(sim.orders_ws_url, headers=headers) as ws:
            await ws.receive()  # login
            frames = []
            for i in range(count):
                buy = i % 2 == 0
                ticks = MID - 1 - i % 50 if buy else MID + 1 + i % 50
                frames.append(
                    json.dumps(
                        {
                            "rid": i + 1,
                            "t": "p",
                            "s": SYMBOL,
                            "d": "B" if buy else "S",
                            "q": 100,
                            "p": str(TICK * ticks),
                            "tif": "GTC",
                            "po": False,
                        }
                    )
                )
            before = sim.stats()
            started = time.perf_counter()
            for frame in frames:
                await ws.send_str(frame)
            responses = acks = 0
            while responses < count or acks < count:
                data = (await ws.receive(timeout=60)).data
                if data.startswith('{"rid"'):
                    responses += 1
                elif data.startswith('{"t":"n"'):
                    acks += 1
            elapsed = time.perf_counter() - started
            after = sim.stats()
    handled = after.requests - before.requests
    processing = after.processing_ns_total - before.processing_ns_total
    return {
        "gateway_orders_per_s": count / elapsed,
        "gateway_processing_us": processing / handled / 1000 if handled else 0.0,
        "gateway_processing_p99_us": after.processing_ns_p99 / 1000,
    }


def bench_gateway(count: int = 5_000) -> dict[str, float]:
    """Orders per second through the gateway, and the simulator's own time per request."""
    return asyncio.run(_gateway(count))


def calibration(iterations: int = 2_000_000) -> dict[str, float]:
    """How fast this interpreter runs a trivial loop (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - started)
    return {"calibration_loop_ns": best / iterations * 1e9}


def run() -> dict[str, float]:
    """Every figure of this benchmark."""
    return {**calibration(), **bench_engine(), **bench_gateway()}


def main() -> None:
    for name, value in run().items():
        print(f"{name:28s} {value:14,.1f}")


if __name__ == "__main__":
    main()
