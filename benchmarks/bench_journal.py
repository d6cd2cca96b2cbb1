"""The journal's cost per place: submit→ack p50 with a SQLite journal against without one.

Against one simulator in another process, three :class:`~axorders.client.OrdersClient` runs
take turns in short rounds (no journal, ``durability="process"``, ``durability="power"``), so
a slow moment of the machine hits all three alike; each ratio compares two p50s of the same
run. ``save_*`` figures time :meth:`~axorders.store.SqliteOrderStore.save` of one record
alone, the write each place waits for.

``python -m benchmarks.bench_journal [--count N]`` prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.model import OrderStatus, OrderType, Side, cid_for
from axorders.state import OrderRecord
from axorders.store import Durability, SqliteOrderStore
from benchmarks.common import MARK, SYMBOL, SimProcess, percentile, summary_us

__all__ = ["MODES", "measure", "rows", "save_cost"]

TICK = Decimal("0.0001")
MODES: tuple[str, ...] = ("none", "process", "power")
_runs = itertools.count(1)


def _price(i: int) -> Decimal:
    return (Decimal(str(MARK)) - TICK * (50 + i % 20)).quantize(TICK)


async def _round(
    info: dict[str, str], store: SqliteOrderStore | None, count: int, warmup: int
) -> list[int]:
    """``count`` submit→ack round trips (ns) of one client, after ``warmup`` unmeasured."""
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[int]] = {}
    clock = time.perf_counter_ns

    def on_event(event: ev.Event) -> None:
        if type(event) is ev.OrderAccepted:
            fut = waiting.pop(event.client_order_id, None)
            if fut is not None:
                fut.set_result(clock())

    client = OrdersClient(
        info["base_url"],
        api_key=info["api_key"],
        api_secret=info["api_secret"],
        on_event=on_event,
        event_queue=False,
        heartbeat=30.0,
        store=store,
    )
    run = next(_runs)
    samples: list[int] = []
    async with client:
        for i in range(warmup + count):
            coid = f"jr-{run}-{i}"
            fut = waiting[coid] = loop.create_future()
            started = clock()
            await client.submit_order(coid, SYMBOL, Side.BUY, 100, _price(i))
            acked = await fut
            if i >= warmup:
                samples.append(acked - started)
        await client.cancel_all(SYMBOL)
    return samples


async def _latencies(info: dict[str, str], count: int, warmup: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[int]] = {mode: [] for mode in MODES}
    per_round = max(1, count // rounds)
    warmup = max(1, warmup // rounds)
    with tempfile.TemporaryDirectory(prefix="axorders-bench-journal-") as tmp:
        for r in range(rounds):
            for mode in MODES:
                store = None
                if mode != "none":
                    durability: Durability = "power" if mode == "power" else "process"
                    store = SqliteOrderStore(
                        Path(tmp) / f"{mode}-{r}.db", durability=durability
                    )
                samples[mode].extend(await _round(info, store, per_round, warmup))
    out: dict[str, Any] = {}
    for mode in MODES:
        out.update(summary_us(samples[mode], f"journal_{mode}"))
    base = out["journal_none_p50_us"]
    for mode in MODES[1:]:
        out[f"journal_{mode}_ratio"] = out[f"journal_{mode}_p50_us"] / base
        out[f"journal_{mode}_cost_us"] = out[f"journal_{mode}_p50_us"] - base
    return out


def _record(i: int) -> OrderRecord:
    coid = f"save-{i}"
    return OrderRecord(
        client_order_id=coid,
        cid=cid_for(coid),
        symbol=SYMBOL,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=100,
        price=_price(i),
        account_id="ACC",
        trader_id="T",
        strategy_id="S",
        ts_init=time.time_ns(),
        status=OrderStatus.PENDING,
    )


def save_cost(count: int) -> dict[str, float]:
    """p50 of ``save([one record])`` (µs) in each durability mode, taking turns."""
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {"process": [], "power": []}
    with tempfile.TemporaryDirectory(prefix="axorders-bench-save-") as tmp:
        stores = {
            mode: SqliteOrderStore(Path(tmp) / f"{mode}.db", durability=mode)  # type: ignore[arg-type]
            for mode in samples
        }
        try:
            for i in range(count):
                for mode, store in stores.items():
                    rec = _record(i)
                    started = clock()
                    store.save([rec])
                    samples[mode].append((clock() - started) / 1000)
        finally:
            for store in stores.values():
                store.close()
    return {
        f"save_{mode}_p50_us": percentile(sorted(values), 0.5) for mode, values in samples.items()
    }


def measure(
    sim: SimProcess, count: int = 1500, warmup: int = 50, rounds: int = 3
) -> dict[str, Any]:
    """Every figure: round trips in the three modes, and the save alone."""
    result = asyncio.run(_latencies(sim.info, count, warmup, rounds))
    result.update(save_cost(max(50, count // 2)))
    return result


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, float, str]]:
    """(metric, ours, reference, ratio, target) lines for ``make bench``'s table."""

    def us(value: float) -> str:
        return f"{value:,.0f} µs"

    out = []
    base = figures["journal_none_p50_us"]
    for mode in MODES[1:]:
        p50 = figures[f"journal_{mode}_p50_us"]
        out.append(
            (
                f"(b) submit→ack p50: journal ({mode}) / no journal",
                us(p50),
                us(base),
                figures[f"journal_{mode}_ratio"],
                f"info: save {figures.get(f'save_{mode}_p50_us', 0.0):,.0f} µs",
            )
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_journal")
    parser.add_argument("--count", type=int, default=1500)
    args = parser.parse_args(argv)
    with SimProcess() as sim:
        figures = measure(sim, args.count)
    for key, value in figures.items():
        print(f"{key:28} {value:12,.2f}")


if __name__ == "__main__":
    main()
