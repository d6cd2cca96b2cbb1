"""The ``axorders`` command line, run as a user runs it: a subprocess against a simulator.

Most tests start the simulator in-process (the ``sim`` fixture: no makers) so that they can
add a second user and read the venue's order count; every ``axorders`` command runs as a
separate process through ``asyncio.create_subprocess_exec``. One test also starts the
simulator itself with ``axorders sim``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from axorders.sim import SimServer

AXORDERS = (sys.executable, "-m", "axorders.cli")
SYMBOL = "EURUSD-PERP"
RUN_TIMEOUT = 30.0
SUBCOMMANDS = (
    "sim",
    "demo",
    "place",
    "cancel",
    "replace",
    "cancel-all",
    "orders",
    "status",
    "fills",
    "watch",
)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every ``axorders`` process of a test keeps its names file in a fresh state directory."""
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def line(self, prefix: str) -> str:
        """The first stdout line starting with ``prefix``."""
        for line in self.out.splitlines():
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting with {prefix!r} in {self.out!r}")


def field(line: str, key: str) -> str:
    found = re.search(rf"\b{key}=(\S+)", line)
    assert found is not None, f"no {key}= in {line!r}"
    return found.group(1)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without AX_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AX_")}
    env.update(extra)
    return env


def venue_env(sim: SimServer) -> dict[str, str]:
    return clean_env(AX_API_KEY=sim.api_key, AX_API_SECRET=sim.api_secret)


async def spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *AXORDERS,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else clean_env(),
    )


async def finish(process: asyncio.subprocess.Process, timeout: float = RUN_TIMEOUT) -> Run:
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def axorders(*args: str, env: dict[str, str] | None = None) -> Run:
    return await finish(await spawn(*args, env=env))


async def on_sim(sim: SimServer, *args: str, env: dict[str, str] | None = None) -> Run:
    """``axorders ARGS --url SIM`` with the simulator's default user (or ``env``)."""
    return await axorders(*args, "--url", sim.base_url, env=env or venue_env(sim))


async def read_until(process: asyncio.subprocess.Process, prefix: str) -> list[str]:
    """Stdout lines of a running process up to the first one starting with ``prefix``."""
    assert process.stdout is not None
    lines = []
    async with asyncio.timeout(RUN_TIMEOUT):
        while True:
            raw = await process.stdout.readline()
            assert raw, f"the process ended before {prefix!r}: {lines}"
            lines.append(raw.decode().rstrip("\n"))
            if lines[-1].startswith(prefix):
                return lines


def ok(run: Run) -> Run:
    assert run.code == 0, run
    assert run.err == "", run
    return run


def refused(run: Run, code: int, *words: str) -> str:
    """Exactly one stderr line with ``words``, exit status ``code``, nothing on stdout."""
    assert run.code == code, run
    assert run.out == "", run
    assert len(run.err_lines) == 1, run
    line = run.err_lines[0]
    assert line.startswith("axorders"), line
    for word in words:
        assert word in line, (word, line)
    return line


# ---------------------------------------------------------------------------------------------


async def test_help_works_for_every_command() -> None:
    runs = await asyncio.gather(
        axorders("--help"), *(axorders(name, "--help") for name in SUBCOMMANDS)
    )
    top, *subs = runs
    ok(top)
    for name in SUBCOMMANDS:
        assert name in top.out
    for name, run in zip(SUBCOMMANDS, subs, strict=True):
        ok(run)
        assert run.out.startswith(f"usage: axorders {name} "), (name, run.out)
    assert "--print-json" in subs[0].out  # the simulator's own options
    assert "--venue-id" in subs[SUBCOMMANDS.index("cancel")].out
    assert "--count" in subs[SUBCOMMANDS.index("watch")].out


async def test_console_script_is_installed() -> None:
    script = shutil.which("axorders", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the axorders console script is not installed beside this interpreter")
    process = await asyncio.create_subprocess_exec(
        script, "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    run = ok(await finish(process))
    assert run.out.startswith("usage: axorders")


async def test_place_status_replace_cancel_by_client_order_id(sim: SimServer) -> None:
    placed = ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0500", "--id", "t-1"))
    accepted = placed.line("OrderAccepted")
    assert "client_order_id=t-1" in accepted and "side=BUY" in accepted
    first_oid = field(accepted, "venue_order_id")
    assert [o.venue_order_id for o in sim.engine.open_orders(sim.account_id)] == [first_oid]

    listed = ok(await axorders("orders", env={**venue_env(sim), "AX_URL": sim.base_url}))
    assert first_oid in listed.out and "ACCEPTED" in listed.out

    # Each command is a new process: the order is known to it by the cid made from "t-1".
    status = ok(await on_sim(sim, "status", "--id", "t-1")).line("OrderStatusReport")
    assert "client_order_id=t-1" in status and "status=ACCEPTED" in status

    replaced = ok(await on_sim(sim, "replace", "--id", "t-1", "--price", "1.0490"))
    line = replaced.line("OrderReplaced")
    second_oid = field(line, "venue_order_id")
    assert field(line, "old_venue_order_id") == first_oid and field(line, "price") == "1.049"
    [resting] = sim.engine.open_orders(sim.account_id)
    assert (resting.venue_order_id, str(resting.price)) == (second_oid, "1.049")

    canceled = ok(await on_sim(sim, "cancel", "--id", "t-1")).line("OrderCanceled")
    assert field(canceled, "venue_order_id") == second_oid
    assert sim.engine.open_orders(sim.account_id) == []

    again = await on_sim(sim, "cancel", "--id", "t-1")
    refused(again, 1, "no open order 't-1'")
    after = ok(await on_sim(sim, "status", "--venue-id", second_oid)).line("OrderStatusReport")
    assert "status=CANCELED" in after
    assert ok(await on_sim(sim, "orders")).out.strip() == "no open orders"


async def test_cancel_and_status_by_venue_id_then_cancel_all(sim: SimServer) -> None:
    placed = await asyncio.gather(
        on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400"),
        on_sim(sim, "place", SYMBOL, "SELL", "200", "1.2000", "--tif", "DAY"),
        on_sim(sim, "place", "GBPUSD-PERP", "BUY", "100", "1.3000", "--post-only"),
    )
    oids = [field(ok(run).line("OrderAccepted"), "venue_order_id") for run in placed]
    assert len(sim.engine.open_orders(sim.account_id)) == 3

    status = ok(await on_sim(sim, "status", "--venue-id", oids[0])).line("OrderStatusReport")
    assert "status=ACCEPTED" in status and "remaining_qty=100" in status
    canceled = ok(await on_sim(sim, "cancel", "--venue-id", oids[0]))
    assert field(canceled.line("OrderCanceled"), "venue_order_id") == oids[0]

    by_symbol = ok(await on_sim(sim, "cancel-all", "--symbol", SYMBOL.lower()))
    assert oids[1] in by_symbol.out and by_symbol.out.rstrip().endswith("canceled 1 order(s)")
    assert [o.venue_order_id for o in sim.engine.open_orders(sim.account_id)] == [oids[2]]

    everything = ok(await on_sim(sim, "cancel-all"))
    assert everything.out.rstrip().endswith("canceled 1 order(s)")
    assert sim.engine.open_orders(sim.account_id) == []
    nothing = ok(await on_sim(sim, "cancel-all"))
    assert nothing.out.strip() == "canceled 0 order(s)"


async def test_unknown_orders_fail_in_one_line(sim: SimServer) -> None:
    runs = await asyncio.gather(
        on_sim(sim, "cancel", "--id", "never-placed"),
        on_sim(sim, "cancel", "--venue-id", "O-NOPE"),
        on_sim(sim, "replace", "--id", "never-placed", "--price", "1.05"),
        on_sim(sim, "status", "--id", "never-placed"),
        on_sim(sim, "status", "--venue-id", "O-NOPE"),
    )
    refused(runs[0], 1, "no open order 'never-placed'")
    refused(runs[1], 1, "no open venue order 'O-NOPE'")
    refused(runs[2], 1, "no open order 'never-placed'")
    refused(runs[3], 1, "'never-placed'", "not found")
    refused(runs[4], 1, "'O-NOPE'", "not found")


async def test_fills_after_a_trade_with_a_second_user(sim: SimServer) -> None:
    taker = sim.add_user()
    token = sim.issue_token(taker.user_id)
    taker_env = clean_env()  # the taker authenticates with --token alone

    maker = ok(await on_sim(sim, "place", SYMBOL, "SELL", "300", "1.1400", "--id", "mk-1"))
    maker_oid = field(maker.line("OrderAccepted"), "venue_order_id")

    lift = await on_sim(
        sim, "place", SYMBOL, "BUY", "100", "1.1400", "--tif", "IOC", "--token", token,
        env=taker_env,
    )  # fmt: skip
    filled = ok(lift).line("OrderFilled")
    assert "last_qty=100" in filled and "last_price=1.14" in filled
    assert "liquidity_side=TAKER" in filled and "is_final=True" in filled

    market = await on_sim(
        sim, "place", SYMBOL, "BUY", "100", "--type", "MARKET", "--token", token, env=taker_env
    )
    assert "last_price=1.14" in ok(market).line("OrderFilled")

    maker_fills, taker_fills = await asyncio.gather(
        on_sim(sim, "fills"),
        on_sim(sim, "fills", "--symbol", SYMBOL, "--token", token, env=taker_env),
    )
    assert ok(maker_fills).out.count(maker_oid) == 2  # two trades against the resting order
    assert maker_fills.out.count("MAKER") == 2  # not the taker
    assert ok(taker_fills).out.count("TAKER") == 2
    assert taker_fills.out.count("0.0228") == 2  # the taker fee: 0.0002 of 100 x 1.14
    status = ok(await on_sim(sim, "status", "--id", "mk-1")).line("OrderStatusReport")
    assert "status=PARTIALLY_FILLED" in status and "filled_qty=200" in status


async def test_watch_sees_another_process_and_stops_after_count(sim: SimServer) -> None:
    watch = await spawn("watch", "--count", "2", "--url", sim.base_url, env=venue_env(sim))
    try:
        await read_until(watch, "Resynced")
        ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400", "--id", "w-1"))
        ok(await on_sim(sim, "cancel", "--id", "w-1"))
        run = ok(await finish(watch))
    finally:
        if watch.returncode is None:
            watch.kill()
            await watch.communicate()
    accepted = run.line("OrderAccepted")
    assert "symbol=EURUSD-PERP" in accepted and "side=BUY" in accepted
    assert field(run.line("OrderCanceled"), "venue_order_id") == field(accepted, "venue_order_id")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_watch_exits_cleanly_on_a_signal(sim: SimServer, sig: signal.Signals) -> None:
    watch = await spawn("watch", "--url", sim.base_url, env=venue_env(sim))
    try:
        lines = await read_until(watch, "Resynced")
        assert lines[0].startswith("LoginSnapshot login_id=")
        assert sim.connection_count() == 1
        watch.send_signal(sig)
        run = await finish(watch, timeout=10)
    finally:
        if watch.returncode is None:
            watch.kill()
            await watch.communicate()
    assert (run.code, run.err) == (0, "")
    for _ in range(100):  # the socket was closed by the client, not left to time out
        if sim.connection_count() == 0:
            break
        await asyncio.sleep(0.02)
    assert sim.connection_count() == 0


async def test_bad_input_is_one_line_and_nothing_is_sent(sim: SimServer) -> None:
    kept = ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400", "--id", "keep"))
    kept_oid = field(kept.line("OrderAccepted"), "venue_order_id")
    processed = sim.engine.orders_processed
    place = ("place", SYMBOL)
    cases: list[tuple[tuple[str, ...], str, dict[str, str] | None]] = [
        (("place", "FOO-PERP", "BUY", "100", "1.05"), "unknown instrument 'FOO-PERP'", None),
        ((*place, "BUY", "100", "1.05001"), "tick size", None),
        ((*place, "BUY", "100.5", "1.05"), "whole number", None),
        ((*place, "BUY", "10", "1.05"), "minimum", None),
        ((*place, "BYE", "100", "1.05"), "side", None),
        ((*place, "BUY", "100", "1.05", "--tif", "GTD"), "GTD", None),
        ((*place, "BUY", "100", "1.05", "--type", "MARKET"), "MARKET order takes no price", None),
        ((*place, "BUY", "100"), "needs a price", None),
        ((*place, "BUY", "100", "abc"), "not a number", None),
        ((*place, "BUY"), "required", None),
        ((*place, "BUY", "100", "1.05", "--id", "keep"), "already used", None),
        (("replace", "--id", "keep", "--price", "1.04005"), "tick size", None),
        (("replace", "--id", "keep"), "--price", None),
        (("watch", "--count", "0"), "at least 1", None),
        ((*place, "BUY", "100", "1.05"), "AX_API_KEY", clean_env()),
        (("orders",), "AX_API_KEY", clean_env()),
        (("fills",), "AX_API_SECRET", clean_env(AX_API_KEY="only-the-key")),
    ]
    runs = await asyncio.gather(*(on_sim(sim, *args, env=env) for args, _, env in cases))
    for (args, words, _), run in zip(cases, runs, strict=True):
        assert run.code == 2, (args, run)
        refused(run, 2, words)
    assert sim.engine.orders_processed == processed
    [resting] = sim.engine.open_orders(sim.account_id)
    assert (resting.venue_order_id, str(resting.price)) == (kept_oid, "1.04")


async def test_stop_limit_is_held_locally_until_interrupted(sim: SimServer) -> None:
    processed = sim.engine.orders_processed
    args = ("place", SYMBOL, "BUY", "100", "1.2000", "--type", "STOP_LIMIT", "--trigger")
    stop = await spawn(*args, "1.1990", "--url", sim.base_url, env=venue_env(sim))
    try:
        [armed] = await read_until(stop, "armed ")
        assert "1.1990" in armed
        stop.send_signal(signal.SIGINT)
        run = await finish(stop, timeout=10)
    finally:
        if stop.returncode is None:
            stop.kill()
            await stop.communicate()
    assert (run.code, run.err) == (130, "")
    assert sim.engine.orders_processed == processed  # never triggered, never sent


async def test_an_unreachable_venue_fails_in_one_line() -> None:
    run = await axorders(
        "orders", "--url", "http://127.0.0.1:9", "--timeout", "1",
        env=clean_env(AX_TOKEN="t"),
    )  # fmt: skip
    refused(run, 1, "127.0.0.1:9")


async def test_demo_runs() -> None:
    run = await axorders("demo")
    assert run.code == 0, run
    assert "resynced" in run.out


async def test_sim_subcommand_serves_the_cli() -> None:
    sim = await spawn("sim", "--port", "0", "--print-json", "--no-makers")
    try:
        assert sim.stdout is not None
        async with asyncio.timeout(RUN_TIMEOUT):
            info = json.loads(await sim.stdout.readline())
        env = clean_env(AX_API_KEY=info["api_key"], AX_API_SECRET=info["api_secret"])
        url = info["base_url"]
        placed = await axorders("place", SYMBOL, "SELL", "100", "1.2000", "--url", url, env=env)
        oid = field(ok(placed).line("OrderAccepted"), "venue_order_id")
        assert oid in ok(await axorders("orders", "--url", url, env=env)).out
        sim.send_signal(signal.SIGTERM)
        assert (await finish(sim, timeout=10)).code == 0
    finally:
        if sim.returncode is None:
            sim.kill()
            await sim.communicate()
