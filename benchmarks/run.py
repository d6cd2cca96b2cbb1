"""``make bench``: one run, one table of side-by-side ratios.

The machines these run on are shared and noisy, so every ratio compares two figures measured
in the same run, one right after the other; absolute numbers are printed for context only.

Sections:

(a) session decode+dispatch against a bare msgspec decode (``benchmarks.bench_session``), beside
    the stateless ceiling (decode, one lookup, one event per frame);
(b) submit→ack latency through ``OrdersClient`` against a simulator in another process,
    beside a bare picows client on the same simulator, the picows echo floor and the
    simulator's own processing time (:mod:`benchmarks.latency`);
(c) events per second delivered to ``async for event in client.events()`` from a flood sent
    by the simulator, beside a bare picows reader of the same flood (:mod:`benchmarks.flood`)
    and msgspec decoding the same kind of fill frame alone;
(d) import time of ``axorders`` and ``axorders.client`` in fresh interpreters (against
    ``import msgspec``), and memory per tracked order in an ``OrdersSession``;
(e) a flood of malformed frames;
(f) the flight recorder on / off and the client's metrics on / off: submit→ack p50 and
    events per second, alternating rounds on one simulator (:mod:`benchmarks.bench_observe`).

``python -m benchmarks.run`` (about two minutes), ``--quick`` (under 30 s, smoke use),
``--json FILE`` also writes every figure, ``--profile`` prints cProfile's view of the flood.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from axorders.model import Side
from axorders.wire import orders as w
from benchmarks import bench_journal, bench_observe, echo, flood, latency
from benchmarks.common import SimProcess

__all__ = ["Row", "Sizes", "import_times", "memory_per_order", "render", "rows", "run_all"]


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each section does."""

    session_orders: int
    latency_count: int
    latency_warmup: int
    flood_events: int
    flood_orders: int
    memory_orders: int
    import_runs: int

    @classmethod
    def default(cls) -> Sizes:
        return cls(20_000, 2_000, 300, 200_000, 1_000, 100_000, 7)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(2_000, 300, 50, 30_000, 300, 10_000, 3)

    @classmethod
    def tiny(cls) -> Sizes:
        """For the smoke test: everything runs, nothing is measured."""
        return cls(200, 20, 5, 500, 20, 200, 1)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. ``ok`` is None when there is no target."""

    metric: str
    ours: str
    reference: str
    ratio: float | None
    target: str
    ok: bool | None


# ---------------------------------------------------------------------------------------------
# (a) session decode+dispatch


def session_figures(n_orders: int) -> dict[str, float] | None:
    """Section (a) from ``benchmarks.bench_session``, or None when that module is missing.

    Its throughput part alone when it has one (``bench_throughput``), else its ``run``.
    """
    try:
        module = importlib.import_module("benchmarks.bench_session")
    except ImportError:
        return None
    runner: Callable[[int], dict[str, float]] = getattr(module, "bench_throughput", module.run)
    return dict(runner(n_orders))


def _pick(figures: dict[str, float], *names: str) -> float | None:
    """The first of ``names`` present in ``figures``."""
    for name in names:
        if name in figures:
            return float(figures[name])
    return None


# ---------------------------------------------------------------------------------------------
# (c) the decoding ceiling


def fill_decode_rate(count: int = 200_000) -> float:
    """Fill frames per second that msgspec alone decodes into the wire structs, for a frame
    shaped like the flood's (a ``p`` event with its order and execution): no client can
    deliver fill events faster than this on this machine."""
    price = Decimal("1.1288")
    frame = w.encode(
        w.PartiallyFilledMsg(
            ts=1_790_228_411,
            tn=934_693_936,
            event_id="E-FLOOD-000000000001",
            order=w.OrderBody(
                venue_order_id="O-01KB5Q7ZQ4M5ZJ3X9W8V7T6S5R",
                user_id="user-1",
                symbol="EURUSD-PERP",
                price=price,
                quantity=100_000,
                filled_quantity=12,
                remaining_quantity=99_988,
                status="PARTIALLY_FILLED",
                side=Side.BUY,
                time_in_force="GTC",
                cid=7_460_230_644_993_562_876,
                post_only=False,
                ts=1_790_228_411,
                tn=934_693_936,
            ),
            execution=w.Execution(
                trade_id="T-FLOOD-000000000001",
                account_id="acct-1",
                symbol="EURUSD-PERP",
                quantity=1,
                price=price,
                side=Side.BUY,
            ),
        )
    )
    decode = msgspec.json.Decoder(w.ServerEvent).decode
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(count):
            decode(frame)
        best = max(best, count / (time.perf_counter() - started))
    return best


# ---------------------------------------------------------------------------------------------
# (d) import time and memory


def _import_once(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip())


def import_times(runs: int) -> dict[str, float]:
    """Best-of-``runs`` import time (ms) of each module, each in a fresh interpreter.

    The modules take turns, so a slow moment of the machine hits all of them alike.
    """
    modules = {
        "import_msgspec_ms": "msgspec",
        "import_deps_ms": "msgspec, picows, aiohttp",
        "import_axorders_ms": "axorders",
        "import_client_ms": "axorders.client",
    }
    best = dict.fromkeys(modules, math.inf)
    for _ in range(runs):
        for key, module in modules.items():
            best[key] = min(best[key], _import_once(module) * 1000)
    return best


def memory_per_order(count: int) -> dict[str, float]:
    """Bytes held per live, accepted order in an ``OrdersSession`` (tracemalloc).

    Orders are placed through ``send()`` and answered with hand-built venue frames (the
    place reply and the ``n`` event), so only the session's own memory is traced.
    """
    from axorders.commands import PlaceOrder
    from axorders.model import Side
    from axorders.session import OrdersSession
    from axorders.sim.instruments import default_instruments
    from axorders.wire import orders as w

    instruments = default_instruments()
    price = Decimal("1.1288")
    now = time.time_ns()
    ts, tn = divmod(now, 10**9)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        session = OrdersSession(
            account_id="ACC-1",
            trader_id="TRADER-1",
            strategy_id="S-1",
            instruments=instruments,
            request_timeout_ns=3600 * 10**9,
        )
        session.connection_made(now)
        session.receive(
            w.encode_login(w.LoginResult(login_id="U-1", orders=None, cancel_on_disconnect=False)),
            now,
        )
        session.frames_to_send()
        session.events_received()
        for i in range(count):
            coid = f"mem-{i:07d}"
            rid = session.send(PlaceOrder(coid, "EURUSD-PERP", Side.BUY, 100, price=price), now)
            assert rid is not None
            session.frames_to_send()
            oid = f"O-01MEM{i:020d}"
            session.receive(w.encode_result(rid, w.ResultBody(venue_order_id=oid)), now)
            body = w.OrderBody(
                venue_order_id=oid,
                user_id="U-1",
                account_id="ACC-1",
                symbol="EURUSD-PERP",
                price=price,
                quantity=100,
                filled_quantity=0,
                remaining_quantity=100,
                status="ACCEPTED",
                side=Side.BUY,
                time_in_force="GTC",
                cid=session.order(coid).cid,  # type: ignore[union-attr]
                ts=ts,
                tn=tn,
            )
            session.receive(w.encode(w.AcknowledgedMsg(ts=ts, tn=tn, order=body)), now)
            session.events_received()
            session.take_changed()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        live = len(session.orders())
    finally:
        tracemalloc.stop()
    return {"memory_bytes_per_order": held / count, "memory_live_orders": float(live)}


# ---------------------------------------------------------------------------------------------
# The run


def run_all(
    sizes: Sizes, *, profile: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every section once; returns every figure (the table is built from these)."""
    figures: dict[str, Any] = {}
    log("(a) session decode+dispatch")
    try:
        figures["session"] = session_figures(sizes.session_orders)
    except Exception as exc:  # another module: report it, keep the rest of the run
        log(f"benchmarks.bench_session failed: {exc!r}")
        figures["session"] = None
    log("(b) submit→ack latency")
    with SimProcess() as sim, echo.EchoProcess() as server:
        figures["latency"] = latency.measure(
            sim, server.url, sizes.latency_count, sizes.latency_warmup
        )
        figures["journal"] = bench_journal.measure(sim, sizes.latency_count, sizes.latency_warmup)
        from benchmarks import bench_risk

        figures["risk"] = bench_risk.measure(sim, sizes.latency_count, sizes.latency_warmup)
    log("(c) event flood")
    with SimProcess() as sim:
        figures["flood"] = flood.measure(
            sim, sizes.flood_events, sizes.flood_orders, profile=profile
        )
    figures["flood"]["decode_only_fills_per_s"] = fill_decode_rate()
    log("(d) import time and memory")
    figures["imports"] = import_times(sizes.import_runs)
    figures["memory"] = memory_per_order(sizes.memory_orders)
    log("(e) malformed-frame flood")
    from benchmarks import bench_malformed

    figures["malformed"] = bench_malformed.run((10_000, 100_000), client=False)
    log("(f) recording and metrics on / off")
    with SimProcess() as sim:
        figures["observe"] = bench_observe.measure(
            sim,
            max(1, sizes.latency_count // 3),
            max(1, sizes.latency_warmup // 3),
            max(100, sizes.flood_events // 4),
            sizes.flood_orders,
            rounds=6 if sizes.latency_count >= 300 else 1,
        )
    return figures


def _us(value: float) -> str:
    return f"{value:,.0f} µs"


def _rate(value: float) -> str:
    return f"{value / 1000:,.0f}k/s"


def rows(figures: dict[str, Any]) -> list[Row]:
    """The table's rows from :func:`run_all`'s figures."""
    out: list[Row] = []
    session = figures.get("session")
    name = "(a) session decode+dispatch / msgspec decode"
    if session is None:
        out.append(Row(name, "n/a", "n/a", None, "≥ 0.5×", None))
    else:
        ours = _pick(session, "session_frames_per_s", "session_per_s")
        ref = _pick(session, "decode_structs_frames_per_s", "msgspec_per_s", "raw_per_s")
        value = _pick(session, "session_vs_decode", "ratio")
        if value is None and ours is not None and ref:
            value = ours / ref
        out.append(
            Row(
                name,
                "n/a" if ours is None else _rate(ours),
                "n/a" if ref is None else _rate(ref),
                value,
                "≥ 0.5×",
                None if value is None else value >= 0.5,
            )
        )
        ceiling = _pick(session, "ceiling_frames_per_s")
        if ceiling is not None and ref:
            out.append(
                Row(
                    "(a) stateless ceiling (decode + lookup + event) / msgspec decode",
                    _rate(ceiling),
                    _rate(ref),
                    ceiling / ref,
                    "info",
                    None,
                )
            )
    lat = figures["latency"]
    floor = lat["floor_p50_us"]
    out.append(
        Row(
            "(b) submit→ack p50: client / (echo + sim)",
            _us(lat["client_p50_us"]),
            f"{_us(lat['echo_rtt_p50_us'])} + {_us(lat['sim_p50_us'])}",
            lat["ratio_client_floor"],
            "≤ 1.5×",
            lat["ratio_client_floor"] <= 1.5,
        )
    )
    p99_floor = lat["echo_rtt_p99_us"] + lat["sim_p99_us"]
    out.append(
        Row(
            "(b) submit→ack p99: client / (echo + sim)",
            _us(lat["client_p99_us"]),
            f"{_us(lat['echo_rtt_p99_us'])} + {_us(lat['sim_p99_us'])}",
            lat["client_p99_us"] / p99_floor,
            "info",
            None,
        )
    )
    out.append(
        Row(
            "(b) submit→ack p50: client / bare picows",
            _us(lat["client_p50_us"]),
            _us(lat["raw_p50_us"]),
            lat["ratio_client_raw"],
            "info",
            None,
        )
    )
    out.append(
        Row(
            "(b) bare picows on the sim / (echo + sim)",
            _us(lat["raw_p50_us"]),
            _us(floor),
            lat["raw_p50_us"] / floor,
            "info",
            None,
        )
    )
    if "journal" in figures:
        out.extend(Row(*line, None) for line in bench_journal.rows(figures["journal"]))
    if "risk" in figures:
        from benchmarks import bench_risk

        out.extend(
            Row(*line, line[3] <= 1.03) for line in bench_risk.rows(figures["risk"])
        )
    fl = figures["flood"]
    out.append(
        Row(
            "(c) events/s to user code / bare picows",
            _rate(fl["client_events_per_s"]),
            _rate(fl["raw_frames_per_s"]),
            fl["ratio_client_raw"],
            "≥ 200k/s",
            fl["client_events_per_s"] >= 200_000,
        )
    )
    if "decode_only_fills_per_s" in fl:
        out.append(
            Row(
                "(c) events/s to user code / msgspec decode of the fill frames alone",
                _rate(fl["client_events_per_s"]),
                _rate(fl["decode_only_fills_per_s"]),
                fl["client_events_per_s"] / fl["decode_only_fills_per_s"],
                "info",
                None,
            )
        )
    imp = figures["imports"]
    for key, name in (("import_axorders_ms", "axorders"), ("import_client_ms", "axorders.client")):
        out.append(
            Row(
                f"(d) import {name} / import msgspec",
                f"{imp[key]:,.0f} ms",
                f"{imp['import_msgspec_ms']:,.1f} ms",
                imp[key] / imp["import_msgspec_ms"],
                "info",
                None,
            )
        )
    out.append(
        Row(
            "(d) import axorders.client / its dependencies",
            f"{imp['import_client_ms']:,.0f} ms",
            f"{imp['import_deps_ms']:,.0f} ms",
            imp["import_client_ms"] / imp["import_deps_ms"],
            "info",
            None,
        )
    )
    mem = figures["memory"]
    out.append(
        Row(
            f"(d) memory per live order ({mem['memory_live_orders']:,.0f} orders)",
            f"{mem['memory_bytes_per_order']:,.0f} B",
            "",
            None,
            "≤ 1 KiB",
            mem["memory_bytes_per_order"] <= 1024,
        )
    )
    bad = figures.get("malformed")
    if bad is not None:
        small, large = bad["session"][10_000], bad["session"][100_000]
        out.append(
            Row(
                "(e) 100k malformed frames: longest stretch; µs/frame 100k / 10k",
                f"{bad['longest_ms']:,.1f} ms",
                f"{large['us_per_frame']:,.1f} / {small['us_per_frame']:,.1f} µs",
                large["us_per_frame"] / small["us_per_frame"],
                "< 50 ms",
                bool(bad["within_target"]),
            )
        )
    seen = figures.get("observe")
    if seen is not None:
        for what, ours, ref, ratio, target, ok in (
            (
                "(f) submit→ack p50, recording on / off",
                _us(seen["recording_p50_us"]),
                _us(seen["plain_p50_us"]),
                seen["recording_p50_ratio"],
                "≤ 1.05×",
                seen["recording_p50_ratio"] <= 1.05,
            ),
            (
                "(f) events/s to events(), recording on / off",
                _rate(seen["recording_events_per_s"]),
                _rate(seen["plain_events_per_s"]),
                seen["recording_rate_ratio"],
                "≥ 0.9×",
                seen["recording_rate_ratio"] >= 0.9,
            ),
            (
                "(f) submit→ack p50, metrics on / off",
                _us(seen["plain_p50_us"]),
                _us(seen["no_metrics_p50_us"]),
                seen["metrics_p50_ratio"],
                "≤ 1.03×",
                seen["metrics_p50_ratio"] <= 1.03,
            ),
            (
                "(f) events/s to events(), metrics on / off",
                _rate(seen["plain_events_per_s"]),
                _rate(seen["no_metrics_events_per_s"]),
                seen["metrics_rate_ratio"],
                "≥ 0.97×",
                seen["metrics_rate_ratio"] >= 0.97,
            ),
        ):
            out.append(Row(what, ours, ref, ratio, target, ok))
    return out


def render(table_rows: list[Row], title: str, console: Console | None = None) -> None:
    table = Table(title=title)
    for name, justify in (
        ("metric", "left"),
        ("axorders", "right"),
        ("reference", "right"),
        ("ratio", "right"),
        ("target", "center"),
        ("ok", "center"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in table_rows:
        ok = "—" if row.ok is None else ("[green]yes[/]" if row.ok else "[red]no[/]")
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        table.add_row(row.metric, row.ours, row.reference, ratio, row.target, ok)
    if console is None:
        console = Console()
        if not console.is_terminal or console.width < 140:
            console = Console(width=140)  # the metric names need the room
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--quick", action="store_true", help="small sizes, under 30 s")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--profile", action="store_true", help="cProfile the client's flood")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.default()
    console = Console(stderr=True)
    started = time.perf_counter()
    figures = run_all(sizes, profile=args.profile, log=lambda s: console.print(f"[dim]{s}[/]"))
    elapsed = time.perf_counter() - started
    profile = figures["flood"].pop("profile", None)
    title = f"axorders benchmarks ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s)"
    render(rows(figures), title)
    if profile:
        print(profile)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
