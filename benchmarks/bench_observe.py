"""Section (f) of ``make bench``: what seeing the client costs trading.

Side by side in one run, alternating, on one simulator:

* the flight recorder on / off: submit→ack p50 (target ≤ 1.05×) and events per second to
  ``client.events()`` (target ≥ 0.9×);
* the client's metrics on / off: the same two figures (targets ≤ 1.03× and ≥ 0.97×).

Each configuration runs ``rounds`` times, interleaved, each round starting with another one,
and the median of its rounds is compared, so a burst of noise on the shared machine (or a
simulator slowing as its book grows) hits every side alike.

``python -m benchmarks.bench_observe [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import flood, latency
from benchmarks.common import SimProcess

__all__ = ["measure"]

CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "recording": {"record": None},  # the folder is made per run
    "no_metrics": {"metrics": False},
}


def _options(name: str, folder: Path) -> dict[str, Any]:
    options = dict(CONFIGS[name])
    if "record" in options:
        run = folder / f"rec-{len(list(folder.iterdir()))}"
        options["record"] = run
    return options


def measure(
    sim: SimProcess,
    latency_count: int = 600,
    latency_warmup: int = 100,
    flood_events: int = 60_000,
    flood_orders: int = 300,
    rounds: int = 6,
) -> dict[str, float]:
    """The medians of each configuration's rounds, and the ratios against ``plain``."""
    p50: dict[str, list[float]] = {name: [] for name in CONFIGS}
    rate: dict[str, list[float]] = {name: [] for name in CONFIGS}
    folder = Path(tempfile.mkdtemp(prefix="axorders-bench-rec-"))
    try:
        names = list(CONFIGS)
        for number in range(rounds):
            # Each round starts with another configuration: the simulator's book and history
            # grow from run to run, and no configuration may always come last.
            order = names[number % len(names) :] + names[: number % len(names)]
            for name in order:
                lat = asyncio.run(
                    latency.client_latency(
                        sim.info, latency_count, latency_warmup, **_options(name, folder)
                    )
                )
                p50[name].append(lat["client_p50_us"])
            for name in order:
                got = asyncio.run(
                    flood.client_flood(
                        sim.info,
                        flood_events,
                        flood_orders,
                        warmup=min(2_000, flood_events // 10),
                        **_options(name, folder),
                    )
                )
                rate[name].append(got["client_events_per_s"])
        size = sum(p.stat().st_size for p in folder.rglob("*.jsonl.zst"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out: dict[str, float] = {}
    for name in CONFIGS:
        out[f"{name}_p50_us"] = statistics.median(p50[name])
        out[f"{name}_events_per_s"] = statistics.median(rate[name])
    plain_p50, plain_rate = out["plain_p50_us"], out["plain_events_per_s"]
    out["recording_p50_ratio"] = out["recording_p50_us"] / plain_p50
    out["recording_rate_ratio"] = out["recording_events_per_s"] / plain_rate
    # The metrics' cost: plain (metrics on) against metrics off.
    out["metrics_p50_ratio"] = plain_p50 / out["no_metrics_p50_us"]
    out["metrics_rate_ratio"] = plain_rate / out["no_metrics_events_per_s"]
    out["recording_bytes"] = float(size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes: tuple[int, ...] = (200, 50, 20_000, 200, 3) if args.quick else (600, 100, 60_000, 300, 6)
    with SimProcess() as sim:
        figures = measure(sim, *sizes)
    for key, value in figures.items():
        print(f"{key:28} {value:,.3f}")


if __name__ == "__main__":
    main()
