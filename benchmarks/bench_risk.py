"""The cost of the pre-trade risk checks: submit→ack p50 with the limits on / off.

Two clients of one simulator, one with every limit on (generous values, so that every check
runs and passes; the collar has a reference price) and one with none, place orders in turn,
so that both see the same venue and the same machine at the same moments.

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
from benchmarks.common import MARK, SYMBOL, SimProcess, summary_us

__all__ = ["LIMITS", "measure", "rows"]

TICK = Decimal("0.0001")
QTY = 100

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


async def _latencies(info: dict[str, str], count: int, warmup: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    clock = time.perf_counter_ns
    waiting: dict[str, asyncio.Future[int]] = {}

    def on_event(event: ev.Event) -> None:
        if type(event) is ev.OrderAccepted:
            fut = waiting.pop(event.client_order_id, None)
            if fut is not None:
                fut.set_result(clock())

    def client(limits: RiskLimits | None) -> OrdersClient:
        return OrdersClient(
            info["base_url"],
            api_key=info["api_key"],
            api_secret=info["api_secret"],
            on_event=on_event,
            event_queue=False,
            heartbeat=30.0,
            risk=limits,
        )

    run = next(_runs)
    samples: dict[str, list[int]] = {"on": [], "off": []}
    async with client(LIMITS) as on, client(None) as off:
        # The collar's reference: as if the market-data feed had given a mid.
        on.risk._previews[SYMBOL] = (Decimal(str(MARK)), 2**62)
        for i in range(warmup + count):
            for name, c in (("on", on), ("off", off)) if i % 2 else (("off", off), ("on", on)):
                if i and i % 200 == 0:
                    await c.cancel_all(SYMBOL)
                coid = f"risk-{run}-{name}-{i}"
                fut = waiting[coid] = loop.create_future()
                price = Decimal(str(MARK)) - (10 + i % 50) * TICK
                started = clock()
                await c.submit_order(coid, SYMBOL, Side.BUY, QTY, price)
                acked = await fut
                if i >= warmup:
                    samples[name].append(acked - started)
        await on.cancel_all(SYMBOL)
        await off.cancel_all(SYMBOL)
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
