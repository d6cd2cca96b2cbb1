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
    "positions",
    "balances",
    "halt",
    "replay",
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
    assert "--stats" in subs[SUBCOMMANDS.index("watch")].out
    assert "--check" in subs[SUBCOMMANDS.index("replay")].out
    assert "--record" in subs[SUBCOMMANDS.index("place")].out


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
        sim, "place", SYMBOL, "BUY", "100", "1.1400", "--tif", "IOC", f"--token={token}",
        env=taker_env,
    )  # fmt: skip
    filled = ok(lift).line("OrderFilled")
    assert "last_qty=100" in filled and "last_price=1.14" in filled
    assert "liquidity_side=TAKER" in filled and "is_final=True" in filled

    market = await on_sim(
        sim, "place", SYMBOL, "BUY", "100", "--type", "MARKET", f"--token={token}", env=taker_env
    )
    assert "last_price=1.14" in ok(market).line("OrderFilled")

    maker_fills, taker_fills = await asyncio.gather(
        on_sim(sim, "fills"),
        on_sim(sim, "fills", "--symbol", SYMBOL, f"--token={token}", env=taker_env),
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


# ---------------------------------------------------------------------------------------------
# The user's own client order ids, across processes (the names file).


async def test_other_processes_show_the_users_own_client_order_ids(
    sim: SimServer, state_home: Path
) -> None:
    taker = sim.add_user()
    token = sim.issue_token(taker.user_id)
    watch = await spawn("watch", "--url", sim.base_url, env=venue_env(sim))
    try:
        await read_until(watch, "Resynced")
        placed = ok(await on_sim(sim, "place", SYMBOL, "SELL", "300", "1.1400", "--id", "mine-1"))
        oid = field(placed.line("OrderAccepted"), "venue_order_id")
        ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400", "--id", "mine-2"))
        # The watch learned of mine-1 from another process: it shows the user's id.
        seen = await read_until(watch, "OrderAccepted client_order_id=mine-2")
        assert any(line.startswith("OrderAccepted client_order_id=mine-1 ") for line in seen)
        assert not any("CID-" in line for line in seen), seen

        listed = ok(await on_sim(sim, "orders"))
        assert "mine-1" in listed.out and "mine-2" in listed.out and "CID-" not in listed.out
        status = ok(await on_sim(sim, "status", "--venue-id", oid)).line("OrderStatusReport")
        assert "client_order_id=mine-1" in status

        lift = await on_sim(
            sim, "place", SYMBOL, "BUY", "100", "1.1400", "--tif", "IOC", f"--token={token}",
            env=clean_env(),
        )  # fmt: skip
        ok(lift)
        fills = ok(await on_sim(sim, "fills"))
        rows = [line for line in fills.out.splitlines() if oid in line]
        assert len(rows) == 1, fills.out
        row = rows[0]
        assert "mine-1" in row and "MAKER" in row and "0.0000" not in row

        bare = ok(await on_sim(sim, "orders", "--no-names"))
        assert "CID-" in bare.out and "mine-1" not in bare.out

        canceled = ok(await on_sim(sim, "cancel-all"))
        assert "client_order_id=mine-1" in canceled.out and "client_order_id=mine-2" in canceled.out
        assert "CID-" not in canceled.out
    finally:
        watch.send_signal(signal.SIGTERM)
        await finish(watch, timeout=10)
    files = sorted(p.name for p in (state_home / "axorders").glob("names-*.sqlite3"))
    assert len(files) == 2, files  # one per account: the user's and the taker's
    assert any("127.0.0.1" in name and sim.account_id in name for name in files), files


async def test_names_path_picks_the_file(sim: SimServer, tmp_path: Path) -> None:
    names = tmp_path / "elsewhere" / "names.sqlite3"
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400", "--id", "n-1", "--names",
                    str(names)))  # fmt: skip
    assert names.exists()
    default = ok(await on_sim(sim, "orders"))  # the default file never heard of n-1
    assert "CID-" in default.out
    chosen = ok(await on_sim(sim, "orders", "--names", str(names)))
    assert "n-1" in chosen.out and "CID-" not in chosen.out


async def test_many_processes_write_names_at_once(sim: SimServer) -> None:
    runs = await asyncio.gather(
        *(on_sim(sim, "place", SYMBOL, "BUY", "100", "1.04", "--id", f"par-{i}") for i in range(6))
    )
    for run in runs:
        ok(run)
    listed = ok(await on_sim(sim, "orders")).out
    assert all(f"par-{i}" in listed for i in range(6)) and "CID-" not in listed


# ---------------------------------------------------------------------------------------------
# Plain words, exit status 2 and the flag that fixes it.


async def test_local_mistakes_exit_2_and_name_the_flag(sim: SimServer) -> None:
    processed = sim.engine.orders_processed
    place = ("place", SYMBOL, "BUY")
    token = clean_env(AX_TOKEN="t")
    cases: list[tuple[tuple[str, ...], tuple[str, ...], dict[str, str] | None]] = [
        (("orders", "--url", "ftp://example.com"), ("--url", "ftp://"), token),
        (("orders", "--url", "http://10.1.2.3:8080"), ("--url", "--allow-insecure"), token),
        (("orders", "--url", "nonsense"), ("--url",), token),
        (("orders", "--url", "http://127.0.0.1:99999"), ("--url",), token),
        (("orders", "--proxy", "ftp://proxy:1"), ("--proxy",), token),
        ((*place, str(10**20), "1.05"), ("quantity", str(10**20)), None),
        ((*place, "100", "1.05", "--id", ""), ("--id", "non-empty"), None),
        ((*place, "100", "1.05", "--id", "x" * 100_000), ("--id", "at most 64"), None),
        ((*place, "100", "1.05", "--id", "two\nlines"), ("--id", "control character"), None),
        (("cancel", "--id", "bad\tid"), ("--id", "control character"), None),
        ((*place, "100", "1.05", "--trigger", "1.04"), ("--trigger",), None),
        (("replace", "--id", "keep", "--quantity", str(10**20)), ("--quantity",), None),
    ]
    runs = await asyncio.gather(
        *(axorders(*args, env=env or venue_env(sim)) if "--url" in args
          else on_sim(sim, *args, env=env) for args, _, env in cases)
    )  # fmt: skip
    for (args, words, _), run in zip(cases, runs, strict=True):
        assert run.code == 2, (args[:4], run)
        refused(run, 2, *words)
    assert sim.engine.orders_processed == processed


async def test_a_refused_connection_is_said_in_plain_words() -> None:
    run = await axorders(
        "orders", "--url", "http://127.0.0.1:1", "--timeout", "1", env=clean_env(AX_TOKEN="t")
    )
    line = refused(run, 1)
    assert line == (
        "axorders: error: could not connect to ws://127.0.0.1:1/orders/ws: connection refused"
        " — is the simulator running (axorders sim)?"
    )
    assert "Error" not in line.removeprefix("axorders: error:")


async def test_an_unknown_symbol_suggests_only_a_close_one(sim: SimServer) -> None:
    near, far = await asyncio.gather(
        on_sim(sim, "place", "EURUSD-PREP", "BUY", "100", "1.05"),
        on_sim(sim, "place", "ZZZ", "BUY", "100", "1.05"),
    )
    assert refused(near, 2).endswith("did you mean EURUSD-PERP?")
    line = refused(far, 2, "known:", "EURUSD-PERP", "XAU-PERP")
    assert "did you mean" not in line


async def test_status_shows_no_request_id(sim: SimServer) -> None:
    ok(await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.0400", "--id", "st-1"))
    line = ok(await on_sim(sim, "status", "--id", "st-1")).line("OrderStatusReport")
    assert "request_id" not in line and "client_order_id=st-1" in line


# ---------------------------------------------------------------------------------------------
# watch and the stop-limit wait.


async def test_watch_count_fails_after_its_timeout(sim: SimServer) -> None:
    run = await on_sim(sim, "watch", "--count", "1", "--timeout", "1")
    assert run.code == 1, run
    assert run.err_lines[-1] == (
        "axorders: error: watch: 0 of 1 order event(s) within 1 s (--timeout)"
    )


async def test_watch_prints_every_reconnect_attempt_and_resync(sim: SimServer) -> None:
    watch = await spawn("watch", "--url", sim.base_url, env=venue_env(sim))
    try:
        await read_until(watch, "Resynced")
        sim.faults.reject_next_auth(2)
        sim.faults.drop()
        lines = await read_until(watch, "Resynced")
    finally:
        watch.send_signal(signal.SIGTERM)
        run = await finish(watch, timeout=10)
    assert run.code == 0, run
    assert lines[0].startswith("Disconnected ")
    attempts = [line for line in lines if line.startswith("reconnect attempt ")]
    assert attempts and attempts[0].startswith("reconnect attempt 1 failed: "), lines
    assert any(line.startswith("Reconnected ") for line in lines)
    assert lines[-1].startswith("Resynced orders_checked=")


async def test_a_stop_limit_says_it_waits_shows_the_mark_and_is_withdrawn(
    sim: SimServer,
) -> None:
    processed = sim.engine.orders_processed
    args = ("place", SYMBOL, "BUY", "100", "1.2000", "--type", "STOP_LIMIT", "--trigger")
    stop = await spawn(*args, "1.1990", "--id", "stop-1", "--url", sim.base_url,
                       env=venue_env(sim))  # fmt: skip
    try:
        [armed] = await read_until(stop, "armed ")
        assert "waiting for the trigger" in armed and "nothing is sent" in armed
        processed = sim.engine.orders_processed
        # A trade between two other parties moves the last price below the trigger.
        sim.add_liquidity(SYMBOL, "SELL", "1.1300", 100)
        taker = sim.add_user()
        token = sim.issue_token(taker.user_id)
        lift = await on_sim(sim, "place", SYMBOL, "BUY", "100", "1.1300", "--tif", "IOC",
                            f"--token={token}", env=clean_env())  # fmt: skip
        ok(lift)
        [*_, mark] = await read_until(stop, "waiting for the trigger 1.1990: last trade 1.13")
        assert "bid" in mark and "ask" in mark
        stop.send_signal(signal.SIGINT)
        run = await finish(stop, timeout=10)
    finally:
        if stop.returncode is None:
            stop.kill()
            await stop.communicate()
    assert (run.code, run.err) == (130, ""), run
    assert run.out.strip().splitlines()[-1] == (
        "withdrew the stop stop-1: it never triggered and nothing was sent to the venue"
    )
    assert sim.engine.orders_processed == processed + 2  # the two other parties' orders only


async def test_proxy_flag_is_parsed_for_every_networked_command() -> None:
    from axorders.cli import build_parser

    parser = build_parser()
    proxy = "http://user:secret@127.0.0.1:3128"
    for argv in (
        ["place", SYMBOL, "BUY", "100", "1.05"],
        ["cancel", "--id", "x"],
        ["replace", "--id", "x", "--price", "1"],
        ["cancel-all"],
        ["orders"],
        ["status", "--id", "x"],
        ["fills"],
        ["watch"],
    ):
        assert parser.parse_args([*argv, "--proxy", proxy]).proxy == proxy
        assert parser.parse_args(argv).proxy is None


async def test_the_demo_has_no_automatic_highlighting() -> None:
    colour = clean_env(FORCE_COLOR="1", TERM="xterm-256color", COLUMNS="120")
    run = await axorders("demo", env=colour)
    assert run.code == 0, run
    assert "\x1b[1;36m" not in run.out  # rich's highlighting of numbers (bold cyan)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", run.out)
    assert "OrderAccepted client_order_id=demo-limit" in plain
    assert "client order id" in plain and "fee" in plain and "liquidity" in plain


async def test_python_dash_m_axorders_is_the_console_script() -> None:
    """``python -m axorders`` and ``python -m axorders.cli`` run the same ``main``."""
    env = clean_env(COLUMNS="100")
    package = await finish(
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "axorders",
            "--help",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    )
    cli = await axorders("--help", env=env)
    assert package.code == cli.code == 0, (package, cli)
    assert package.out == cli.out and "usage: axorders" in cli.out
    for command in SUBCOMMANDS:
        assert command in cli.out


def test_the_console_script_entry_point_is_main() -> None:
    import tomllib
    from importlib import import_module

    from axorders.cli import main

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    module, _, name = scripts["axorders"].partition(":")
    assert getattr(import_module(module), name) is main
