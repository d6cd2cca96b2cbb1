"""Tiny runs of ``make bench``'s modules, so they keep working (no timing is asserted)."""

from __future__ import annotations

import io
from typing import Any

from benchmarks import echo, flood, latency, run
from benchmarks.common import SimProcess, percentile, summary_us
from rich.console import Console


def test_percentiles() -> None:
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0
    summary = summary_us([1000, 2000, 3000], "x")
    assert summary["x_p50_us"] == 2.0 and summary["x_n"] == 3.0


def test_latency_and_flood_against_a_simulator_process() -> None:
    with SimProcess() as sim, echo.EchoProcess() as server:
        lat = latency.measure(sim, server.url, count=5, warmup=2)
        fl = flood.measure(sim, count=300, orders=5)
    for key in ("client_p50_us", "raw_p50_us", "echo_rtt_p50_us", "sim_p50_us"):
        assert lat[key] > 0
    assert lat["client_n"] == 5 and lat["echo_message_bytes"] == len(latency.place_frame())
    assert fl["client_events_per_s"] > 0 and fl["raw_frames_per_s"] > 0


def test_memory_and_imports() -> None:
    mem = run.memory_per_order(50)
    assert mem["memory_live_orders"] == 50 and mem["memory_bytes_per_order"] > 0
    imports = run.import_times(1)
    assert imports["import_client_ms"] > 0


SAMPLE_FIGURES: dict[str, Any] = {
    "session": None,
    "latency": {
        "client_p50_us": 300.0,
        "client_p99_us": 400.0,
        "raw_p50_us": 200.0,
        "echo_rtt_p50_us": 50.0,
        "echo_rtt_p99_us": 80.0,
        "sim_p50_us": 40.0,
        "sim_p99_us": 90.0,
        "floor_p50_us": 90.0,
        "ratio_client_floor": 300 / 90,
        "ratio_client_raw": 1.5,
    },
    "flood": {
        "client_events_per_s": 100_000.0,
        "raw_frames_per_s": 800_000.0,
        "ratio_client_raw": 0.125,
    },
    "imports": {
        "import_msgspec_ms": 5.0,
        "import_deps_ms": 200.0,
        "import_axorders_ms": 40.0,
        "import_client_ms": 250.0,
    },
    "memory": {"memory_bytes_per_order": 700.0, "memory_live_orders": 10.0},
}
"""Made-up figures of every section but the session's, for the table's tests."""


def test_table_renders_without_the_session_benchmark() -> None:
    figures = SAMPLE_FIGURES
    rows = run.rows(figures)
    assert rows[0].ours == "n/a" and rows[0].ok is None
    out = io.StringIO()
    run.render(rows, "smoke", Console(file=out, width=160))
    assert "n/a" in out.getvalue() and "events/s" in out.getvalue()
