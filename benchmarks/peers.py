"""``make bench-peers``: axorders beside NautilusTrader's AX orders client, same simulator.

NautilusTrader's binding (``nautilus_pyo3.AxOrdersWebSocketClient``) needs Python 3.12 or
newer and ``nautilus_trader==1.231.0``, so it runs in its own virtualenv, ``.venv-peers``
(made on first use with the first Python ≥ 3.12 found: ``$AXORDERS_PEER_PYTHON``,
``python3.13``/``python3.12`` on ``PATH``, or a pyenv version). One simulator process serves
both clients in turn, each through the same sequence: submit→ack round trips
(:mod:`benchmarks.latency`), then a flood of partial fills (:mod:`benchmarks.flood`).
When the peer cannot be installed or fails, the reason is printed and axorders' figures are
shown alone.

``python -m benchmarks.peers [--quick]``; not part of CI.
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
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import flood, latency
from benchmarks.common import REPO, SimProcess

__all__ = ["ensure_peer_venv", "find_python", "main", "run_peer"]

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


async def _ours(info: dict[str, str], count: int, warmup: int, events: int, orders: int) -> Any:
    result = await latency.client_latency(info, count, warmup)
    result.update(await flood.client_flood(info, events, orders))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    count, warmup, events, orders = (
        (300, 50, 30_000, 300) if args.quick else (2000, 300, 200_000, 1000)
    )
    err = Console(stderr=True)
    python, why = ensure_peer_venv(lambda s: err.print(f"[dim]{s}[/]"))
    if python is None:
        err.print(f"[yellow]NautilusTrader skipped: {why}[/]")
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
