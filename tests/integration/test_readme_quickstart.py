"""The README's Python quick start, taken from README.md and run as a script.

It must run twice in a row against the same venue, stop by itself once the order is
acknowledged and canceled, and end without a traceback on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from axorders.sim import SimConfig, SimServer

README = Path(__file__).resolve().parents[2] / "README.md"
URL = "http://127.0.0.1:8080"

# Runs the script as ``python quickstart.py`` would. ``from axorders import OrdersClient`` is the
# README's import; where the package does not export the name yet, it is added here first.
RUNNER = """
import runpy, sys
import axorders
if not hasattr(axorders, "OrdersClient"):
    from axorders.client import OrdersClient
    axorders.OrdersClient = OrdersClient
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the quick start has no python block"
    return blocks[0]


@pytest.fixture
async def venue() -> SimServer:
    async with SimServer(SimConfig(host="127.0.0.1", port=0, makers=False)) as sim:
        yield sim


def script(tmp_path: Path, sim: SimServer) -> Path:
    code = quick_start()
    assert f'"{URL}"' in code and "from axorders import OrdersClient" in code
    assert f'api_key="{sim.api_key}"' in code and f'api_secret="{sim.api_secret}"' in code
    path = tmp_path / "quickstart.py"
    path.write_text(code.replace(URL, sim.base_url), encoding="utf-8")
    return path


async def start(path: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AX_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUNNER, str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def run(path: Path) -> tuple[int, str, str]:
    process = await start(path)
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_quick_start_runs_twice_and_stops_by_itself(
    venue: SimServer, tmp_path: Path
) -> None:
    path = script(tmp_path, venue)
    ids = []
    for _ in range(2):
        code, out, err = await run(path)
        assert (code, err) == (0, ""), (out, err)
        lines = out.splitlines()
        assert lines[0].startswith("connected; placing quickstart-"), out
        assert lines[1].startswith("acknowledged:") and lines[2].startswith("canceled:"), out
        ids.append(lines[0].rpartition(" ")[2])
    assert ids[0] != ids[1]
    for _ in range(250):  # both orders were canceled at the venue
        if not venue.engine.open_orders(venue.account_id):
            break
        await asyncio.sleep(0.02)
    assert venue.engine.open_orders(venue.account_id) == []


async def test_ctrl_c_ends_the_quick_start_without_a_traceback(
    venue: SimServer, tmp_path: Path
) -> None:
    path = script(tmp_path, venue)
    venue.faults.delay(3.0)  # the venue answers slowly: Ctrl-C comes while the place waits
    process = await start(path)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            first = (await process.stdout.readline()).decode()
        assert first.startswith("connected; placing"), first
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 130, (out, err)
    assert err.decode() == "", err.decode()
    assert out.decode().splitlines()[-1] == "interrupted: the client closed its connection"
