"""The cost of the pre-trade risk checks: submit→ack p50 with the limits on / off.

Two clients of one simulator, one with every limit on (generous values, so that every check
runs and passes; the collar has a reference price) and one with none, place orders in turn,
so that both see the same venue and the same machine at the same moments. Neither gets a
systematic advantage: each trades its own account (neither sees the other's orders), the
one that goes first alternates from one order to the next, and the two swap roles (the
limits move from one client to the other) every ``SEGMENT`` orders, once the open orders of
both are canceled.

    python -m benchmarks.bench_risk [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from decimal import Decimal
from typing import Any

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.model import Side
from axorders.risk import RateLimit, RiskLimits
from benchmarks.common import MARK, SYMBOL, SimProcess, admin_async, summary_us

__all__ = ["LIMITS", "SEGMENT", "measure", "rows"]

TICK = Decimal("0.0001")
QTY = 100
SEGMENT = 200
"""Orders per client between two cancel-alls; the clients swap roles at each."""

LIMITS = RiskLimits(
    max_quantity=1_000_000,
    max_notional=Decimal("1000000000"),
    price_collar_bps=Decimal(5_000),
    max_open_orders=10_000,
    max_open_orders_total=10_000,
    max_position=100_000_000,
    submit_rate=RateLimit(1e9, 1_000_000),
    modify_rate=RateLimit(1e9, 1_000_000),
)

_runs = itertools.count()


async def _second_user(info: dict[str, str]) -> dict[str, str]:
    """Credentials of a second account: the simulator's first extra user, else a new one."""
    users: Any = info.get("users")
    if users:
        return dict(users[0])
    made: dict[str, str] = await admin_async(info["base_url"], "POST", "/sim/users", {})
    return made


async def _latencies(info: dict[str, str], count: int, warmup: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    clock = time.perf_counter_ns
    waiting: dict[str, asyncio.Future[int]] = {}

    def on_event(event: ev.Event) -> None:
        if type(event) is ev.OrderAccepted:
            fut = waiting.pop(event.client_order_id, None)
            if fut is not None:
                fut.set_result(clock())

    def client(user: dict[str, str]) -> OrdersClient:
        return OrdersClient(
            info["base_url"],
            api_key=user["api_key"],
            api_secret=user["api_secret"],
            on_event=on_event,
            event_queue=False,
            heartbeat=30.0,
        )

    run = next(_runs)
    samples: dict[str, list[int]] = {"on": [], "off": []}
    other = await _second_user(info)
    async with client(info) as first, client(other) as second:
        pair = (first, second)
        for c in pair:
            # The collar's reference: as if the market-data feed had given a mid.
            c.risk._previews[SYMBOL] = (Decimal(str(MARK)), 2**62)
        limited = first
        limited.set_risk_limits(LIMITS)
        for i in range(warmup + count):
            if i and i % SEGMENT == 0:
                for c in pair:
                    await c.cancel_all(SYMBOL)
                # Swap the roles: the limits go to the other client.
                limited.set_risk_limits(None)
                limited = second if limited is first else first
                limited.set_risk_limits(LIMITS)
            for c in pair if i % 2 else pair[::-1]:
                name = "on" if c is limited else "off"
                coid = f"risk-{run}-{name}-{i}"
                fut = waiting[coid] = loop.create_future()
                price = Decimal(str(MARK)) - (10 + i % 50) * TICK
                started = clock()
                await c.submit_order(coid, SYMBOL, Side.BUY, QTY, price)
                acked = await fut
                if i >= warmup:
                    samples[name].append(acked - started)
        for c in pair:
            await c.cancel_all(SYMBOL)
    result = summary_us(samples["on"], "risk_on")
    result.update(summary_us(samples["off"], "risk_off"))
    result["risk_ratio"] = result["risk_on_p50_us"] / result["risk_off_p50_us"]
    return result


def measure(sim: SimProcess, count: int = 1000, warmup: int = 100) -> dict[str, Any]:
    return asyncio.run(_latencies(sim.info, count, warmup))


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, float, str]]:
    """(metric, ours, reference, ratio, target) lines for ``make bench``'s table."""
    return [
        (
            "(b) submit→ack p50: risk limits on / off",
            f"{figures['risk_on_p50_us']:,.0f} µs",
            f"{figures['risk_off_p50_us']:,.0f} µs",
            figures["risk_ratio"],
            "≤ 1.03×",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    with SimProcess() as sim:
        figures = measure(sim, args.count, args.warmup)
    for name, value in sorted(figures.items()):
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
