"""``make bench-peers``: axorders beside NautilusTrader's AX orders client, same simulator.

NautilusTrader's binding (``nautilus_pyo3.AxOrdersWebSocketClient``) needs Python 3.12 or
newer and ``nautilus_trader==1.231.0``, so it runs in its own virtualenv, ``.venv-peers``
(made on first use with the first Python ≥ 3.12 found: ``$AXORDERS_PEER_PYTHON``,
``python3.13``/``python3.12`` on ``PATH``, or a pyenv version). One simulator process serves
both clients in turn, each through the same sequence: submit→ack round trips
(:mod:`benchmarks.latency`), then a flood of partial fills (:mod:`benchmarks.flood`).
When the peer cannot be installed or fails, the reason is printed and axorders' figures are
shown alone.

The reliability half (:mod:`benchmarks.reliability`) runs one seeded order flow through each
client, each against its own fresh simulator with the hostile profile (``--hostile
--hostile-seed K``, the same seed for both), connection drops and an outage at the same steps,
and a second user trading against the flow's orders; then it compares what each client
reported with the venue's orders and fills: fills lost, delivered twice or wrong, final states
never learned or wrong, verdicts taken back.

``python -m benchmarks.peers [--quick] [--reliability-only] [--orders N --seed K --drops D
--outage S]``; not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import flood, latency, reliability, reliability_ax
from benchmarks.common import REPO, SimProcess, admin

__all__ = [
    "ensure_peer_venv",
    "find_python",
    "main",
    "reliability_sim_args",
    "reliability_table",
    "run_ours_reliability",
    "run_peer",
    "run_peer_reliability",
]

PEER_VENV = REPO / ".venv-peers"
PEER_PACKAGE = "nautilus_trader==1.231.0"


def _version_ok(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python() -> str | None:
    """A Python 3.12+ interpreter to build the peer virtualenv with, or None."""
    candidates: list[str] = []
    if os.environ.get("AXORDERS_PEER_PYTHON"):
        candidates.append(os.environ["AXORDERS_PEER_PYTHON"])
    if sys.version_info >= (3, 12):
        candidates.append(sys.executable)
    for name in ("python3.13", "python3.12"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for pattern in ("3.12.*", "3.13.*"):
        candidates.extend(sorted(glob.glob(str(pyenv / pattern / "bin" / "python")), reverse=True))
    for python in candidates:
        if _version_ok(python):
            return python
    return None


def ensure_peer_venv(log: Any = print) -> tuple[str | None, str]:
    """``(python of .venv-peers, "")``, installing it when needed, or ``(None, why not)``."""
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import nautilus_trader; print(nautilus_trader.__version__)"]
    if python.exists():
        done = subprocess.run(check, check=False, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == PEER_PACKAGE.split("==")[1]:
            return str(python), ""
    base = find_python()
    if base is None:
        return None, "no Python 3.12 or newer found (set AXORDERS_PEER_PYTHON)"
    log(f"creating {PEER_VENV.name} with {PEER_PACKAGE} (once)")
    steps = [
        [base, "-m", "venv", str(PEER_VENV)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", PEER_PACKAGE],
    ]
    for step in steps:
        done = subprocess.run(step, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"{' '.join(step[-2:])} failed: {' / '.join(tail)}"
    done = subprocess.run(check, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"nautilus_trader does not import: {done.stderr.strip()[-300:]}"
    return str(python), ""


def run_peer(
    python: str, info: dict[str, str], count: int, warmup: int, events: int, orders: int
) -> tuple[dict[str, Any] | None, str]:
    """Run :mod:`benchmarks.peer_nautilus` in the peer virtualenv; ``(figures, error)``."""
    command = [
        python,
        "-m",
        "benchmarks.peer_nautilus",
        "--info",
        json.dumps(info),
        "--count",
        str(count),
        "--warmup",
        str(warmup),
        "--flood",
        str(events),
        "--orders",
        str(orders),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(REPO)
    try:
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, cwd=REPO, env=env, timeout=600
        )
    except subprocess.TimeoutExpired:
        return None, "the NautilusTrader run took more than 10 minutes"
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line), ""
    tail = " / ".join(done.stderr.strip().splitlines()[-3:])
    return None, f"the NautilusTrader run failed (exit {done.returncode}): {tail}"


def reliability_sim_args(seed: int) -> list[str]:
    """The simulator of each reliability run: hostile, seeded, with a second user."""
    seed_text = str(seed)
    return ["--hostile", "--hostile-seed", seed_text, "--seed", seed_text, "--users", "1",
            "--heartbeat", "1"]  # fmt: skip


def _truth(info: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, int]]:
    orders, fills = reliability.venue_truth(info)
    stats = admin(info["base_url"], "GET", "/sim/stats")
    return orders, fills, dict(stats.get("liberties", {}))


def run_ours_reliability(
    orders: int, seed: int, drops: int, outage: float, grace: float = 2.0
) -> dict[str, Any]:
    """axorders through the reliability flow on a fresh simulator: its score and notes."""
    plan = reliability.make_plan(seed, orders, drops, outage)
    with SimProcess(extra=reliability_sim_args(seed)) as sim:
        recorder, timings = asyncio.run(reliability_ax.run(sim.info, plan, grace=grace))
        venue_orders, fills, liberties = _truth(sim.info)
    coid_of = reliability_ax.coid_map(plan, venue_orders)
    result = reliability.score(plan, recorder, venue_orders, fills, coid_of)
    return {"score": result, "notes": recorder.notes, "timings": timings, "liberties": liberties}


def run_peer_reliability(
    python: str, orders: int, seed: int, drops: int, outage: float, grace: float = 2.0
) -> tuple[dict[str, Any] | None, str]:
    """NautilusTrader through the same flow on its own fresh simulator; ``(result, error)``."""
    plan = reliability.make_plan(seed, orders, drops, outage)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryDirectory(prefix="axorders-peers-") as tmp:
        out = Path(tmp) / "nautilus.json"
        with SimProcess(extra=reliability_sim_args(seed)) as sim:
            command = [
                python, "-m", "benchmarks.peer_nautilus", "--info", json.dumps(sim.info),
                "--reliability", "--orders", str(orders), "--seed", str(seed),
                "--drops", str(drops), "--outage", str(outage), "--grace", str(grace),
                "--out", str(out),
            ]  # fmt: skip
            try:
                done = subprocess.run(
                    command, check=False, capture_output=True, text=True, cwd=REPO, env=env,
                    timeout=900,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return None, "the NautilusTrader reliability run took more than 15 minutes"
            if not out.exists():
                tail = " / ".join(done.stderr.strip().splitlines()[-3:])
                return None, f"the NautilusTrader run failed (exit {done.returncode}): {tail}"
            venue_orders, fills, liberties = _truth(sim.info)
        data = json.loads(out.read_text())
    recorder = reliability.Recorder.from_json(data["recorder"])
    coid_of = reliability.match_by_signature(plan, venue_orders, recorder)
    result = reliability.score(plan, recorder, venue_orders, fills, coid_of)
    return {
        "score": result,
        "notes": recorder.notes,
        "timings": data["timings"],
        "liberties": liberties,
        "version": data.get("version", "?"),
    }, ""


def _cell(value: int, total: int | None = None) -> str:
    text = f"{value:,}"
    if total:
        text += f" ({100 * value / total:.1f} %)"
    return f"[green]{text}[/]" if value == 0 else f"[red]{text}[/]"


def reliability_table(
    ours: dict[str, Any], theirs: dict[str, Any] | None, args: str, why: str = ""
) -> Table:
    """The side-by-side table of the reliability half."""
    version = theirs.get("version", "?") if theirs else "n/a"
    table = Table(title=f"reliability on a hostile venue ({args})")
    for name in ("metric", "axorders", f"NautilusTrader {version}"):
        table.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    a: reliability.Score = ours["score"]
    b: reliability.Score | None = theirs["score"] if theirs else None
    na = f"n/a ({why})" if why else "n/a"

    def row(label: str, mine: str, other: str | None) -> None:
        table.add_row(label, mine, na if other is None else other)

    row("orders in the flow", f"{a.orders:,}", f"{b.orders:,}" if b else None)
    row("... taken by the venue", f"{a.placed:,}", f"{b.placed:,}" if b else None)
    row("venue fills of the account", f"{a.venue_fills:,}", f"{b.venue_fills:,}" if b else None)
    for label, key in (
        ("fills lost", "fills_lost"),
        ("fills delivered twice", "fills_twice"),
        ("fills wrong (qty/price/side/order)", "fills_wrong"),
    ):
        row(label, _cell(getattr(a, key), a.venue_fills),
            _cell(getattr(b, key), b.venue_fills) if b else None)  # fmt: skip
    for label, key in (
        ("final state never learned", "state_unknown"),
        ("final state wrong", "state_wrong"),
        ("verdicts taken back", "taken_back"),
    ):
        row(label, _cell(getattr(a, key), a.orders),
            _cell(getattr(b, key), b.orders) if b else None)  # fmt: skip
    mine_notes: Counter[str] = ours["notes"]
    other_notes: Counter[str] = theirs["notes"] if theirs else Counter()
    row(
        "replaces",
        f"{mine_notes['replaces sent']} sent",
        "n/a: not in the binding" if theirs else None,
    )
    early = other_notes["cancels before the ack"]
    row(
        "cancels right behind the place",
        f"{mine_notes['cancels before the ack']} sent at once",
        f"n/a before the ack: {early} waited for it" if theirs else None,
    )
    row(
        "after a drop or the outage",
        f"{mine_notes['reconnects']} reconnects, {mine_notes['resyncs']} resyncs",
        "reconnects, no resync" if theirs else None,
    )
    row(
        "venue liberties taken",
        f"{sum(ours['liberties'].values()):,}",
        f"{sum(theirs['liberties'].values()):,}" if theirs else None,
    )
    row(
        "seconds (flow)",
        f"{ours['timings']['flow_seconds']:.1f}",
        f"{theirs['timings']['flow_seconds']:.1f}" if theirs else None,
    )
    return table


def reliability_half(
    python: str | None, why: str, orders: int, seed: int, drops: int, outage: float, err: Console
) -> None:
    """Run both reliability runs and print the table (and a few examples of each kind)."""
    err.print(f"[dim]reliability: axorders ({orders} orders, seed {seed})[/]")
    ours = run_ours_reliability(orders, seed, drops, outage)
    theirs: dict[str, Any] | None = None
    if python is not None:
        err.print("[dim]reliability: NautilusTrader[/]")
        theirs, why = run_peer_reliability(python, orders, seed, drops, outage)
        if theirs is None:
            err.print(f"[yellow]NautilusTrader skipped: {why}[/]")
    args = f"--orders {orders} --seed {seed} --drops {drops} --outage {outage:g}"
    console = Console(width=max(Console().width, 120))
    console.print(reliability_table(ours, theirs, args, "" if theirs else why))
    for name, result in (("axorders", ours), ("NautilusTrader", theirs)):
        if result is None:
            continue
        for kind, texts in result["score"].examples.items():
            console.print(f"[dim]{name}, {kind}: {'; '.join(texts)}[/]")
        notes = ", ".join(f"{k} {v}" for k, v in sorted(result["notes"].items()))
        console.print(f"[dim]{name}: {notes}[/]")


async def _ours(info: dict[str, str], count: int, warmup: int, events: int, orders: int) -> Any:
    result = await latency.client_latency(info, count, warmup)
    result.update(await flood.client_flood(info, events, orders))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--reliability-only", action="store_true", help="only the reliability half")
    parser.add_argument("--orders", type=int, help="reliability: orders in the flow")
    parser.add_argument("--seed", type=int, default=7, help="reliability: seed of flow and venue")
    parser.add_argument("--drops", type=int, help="reliability: connection drops")
    parser.add_argument("--outage", type=float, default=2.0, help="reliability: outage, s")
    args = parser.parse_args(argv)
    count, warmup, events, orders = (
        (300, 50, 30_000, 300) if args.quick else (2000, 300, 200_000, 1000)
    )
    flow = args.orders or (300 if args.quick else 2000)
    drops = args.drops if args.drops is not None else (3 if args.quick else 8)
    if flow < 1 or drops < 0 or args.outage < 0:
        parser.error("--orders must be positive, --drops and --outage not negative")
    err = Console(stderr=True)
    python, why = ensure_peer_venv(lambda s: err.print(f"[dim]{s}[/]"))
    if python is None:
        err.print(f"[yellow]NautilusTrader skipped: {why}[/]")
    if not args.reliability_only:
        _speed_half(python, count, warmup, events, orders, err)
    reliability_half(python, why, flow, args.seed, drops, args.outage, err)


def _speed_half(
    python: str | None, count: int, warmup: int, events: int, orders: int, err: Console
) -> None:
    with SimProcess() as sim:
        err.print("[dim]axorders[/]")
        ours = asyncio.run(_ours(sim.info, count, warmup, events, orders))
        theirs: dict[str, Any] | None = None
        if python is not None:
            err.print("[dim]NautilusTrader[/]")
            theirs, why = run_peer(python, sim.info, count, warmup, events, orders)
            if theirs is None:
                err.print(f"[yellow]NautilusTrader skipped: {why}[/]")
    version = theirs.get("nautilus_trader", "?") if theirs else "n/a"
    table = Table(title="axorders vs NautilusTrader AX orders client (same simulator, same run)")
    for name in ("metric", "axorders", f"NautilusTrader {version}", "ratio", "target", "ok"):
        table.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    specs = (
        ("submit→ack p50", "client_p50_us", False),
        ("submit→ack p99", "client_p99_us", False),
        ("events/s to user code", "client_events_per_s", True),
    )
    for label, key, higher in specs:
        mine = float(ours[key])
        fmt = (lambda v: f"{v / 1000:,.0f}k/s") if higher else (lambda v: f"{v:,.0f} µs")
        if theirs is None:
            table.add_row(label, fmt(mine), "n/a", "—", "axorders ahead", "—")
            continue
        other = float(theirs[key])
        # ratio > 1 means axorders is ahead (faster, or more events per second)
        ratio = mine / other if higher else other / mine
        ok = "[green]yes[/]" if ratio > 1 else "[red]no[/]"
        table.add_row(label, fmt(mine), fmt(other), f"{ratio:.2f}×", "axorders ahead", ok)
    Console(width=max(Console().width, 110)).print(table)


if __name__ == "__main__":
    main()
