"""Helpers shared by the benchmarks: a simulator in another process, its admin calls, and
percentiles.

Standard library only: ``benchmarks.peer_nautilus`` imports this module inside a separate
virtualenv where axorders itself is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

__all__ = [
    "FLOOD_ORDER_QTY",
    "MARK",
    "REPO",
    "SYMBOL",
    "SimProcess",
    "admin",
    "admin_async",
    "authenticate",
    "cancel_all",
    "percentile",
    "remember_sim",
    "summary_us",
]

REPO: Final = Path(__file__).resolve().parent.parent
SYMBOL: Final = "EURUSD-PERP"
MARK: Final = 1.1388
"""The simulator's starting mark of EURUSD-PERP; tick 0.0001, minimum quantity 100."""
FLOOD_ORDER_QTY: Final = 100_000
"""Quantity of the resting orders that floods fill one contract at a time."""


_ADMIN_TOKENS: dict[str, str] = {}
"""The ``X-Sim-Token`` of each simulator this process knows, by base URL."""


def remember_sim(info: dict[str, str]) -> None:
    """Note a simulator's admin token (its ``--print-json`` line) for :func:`admin`."""
    token = info.get("admin_token")
    if token:
        _ADMIN_TOKENS[info["base_url"]] = token


class SimProcess:
    """``python -m axorders.sim --no-makers --port 0 --print-json`` as a child process.

    ``info`` is the JSON line it prints (``base_url``, ``orders_ws_url``, ``api_key``...).
    Use as a context manager; the process gets SIGTERM (then SIGKILL) on exit.
    """

    def __init__(
        self, python: str | None = None, extra: Sequence[str] = (), timeout: float = 20.0
    ) -> None:
        self.python = python or sys.executable
        self.args = [
            self.python,
            "-m",
            "axorders.sim",
            "--no-makers",
            "--port",
            "0",
            "--print-json",
            "--heartbeat",
            "3600",
            "--balance",
            "1000000000000",
            *extra,
        ]
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        env = dict(os.environ)
        src = str(REPO / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the simulator did not start")
        self.info = json.loads(line)
        remember_sim(self.info)
        return self.info

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.info["base_url"]

    @property
    def orders_ws_url(self) -> str:
        return self.info["orders_ws_url"]


def admin(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 60.0,
    token: str | None = None,
) -> Any:
    """One JSON call to the simulator (``/sim/...``, or ``/api/...`` with a ``token``); returns
    the decoded body. ``/sim/...`` calls carry the admin token of a simulator passed to
    :func:`remember_sim` (``SimProcess`` does it).

    Raises:
        urllib.error.HTTPError: a status other than 2xx.
    """
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    admin_token = _ADMIN_TOKENS.get(base_url)
    if admin_token is not None and path.startswith("/sim/"):
        headers["X-Sim-Token"] = admin_token
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


async def admin_async(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """:func:`admin` in a worker thread, so the event loop keeps reading its sockets."""
    return await asyncio.to_thread(admin, base_url, method, path, body)


def authenticate(info: dict[str, str]) -> str:
    """A bearer token for the simulator's default user (``POST /api/authenticate``)."""
    body = {"api_key": info["api_key"], "api_secret": info["api_secret"]}
    token: str = admin(info["base_url"], "POST", "/api/authenticate", body)["token"]
    return token


def cancel_all(info: dict[str, str], symbol: str | None = None) -> int:
    """Cancel the default user's open orders over REST; returns what the venue reports."""
    body = {} if symbol is None else {"symbol": symbol}
    admin(info["base_url"], "POST", "/orders/cancel-all-orders", body, token=authenticate(info))
    return 0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p * (len(sorted_values) - 1))))
    return float(sorted_values[index])


def summary_us(samples_ns: Sequence[int], prefix: str) -> dict[str, float]:
    """``{prefix}_p50_us``, ``_p99_us``, ``_mean_us`` and ``_n`` of nanosecond samples."""
    values = sorted(samples_ns)
    mean = sum(values) / len(values) if values else float("nan")
    return {
        f"{prefix}_p50_us": percentile(values, 0.50) / 1000,
        f"{prefix}_p99_us": percentile(values, 0.99) / 1000,
        f"{prefix}_mean_us": mean / 1000,
        f"{prefix}_n": float(len(values)),
    }


def now_s() -> float:
    return time.perf_counter()
