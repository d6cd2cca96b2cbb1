"""The flight recorder end to end: record a hostile run, replay it, find a tampered frame."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard
from client_helpers import SYMBOL, Recorder, client_for, wait_until

from axorders import events as ev
from axorders.cli import main as cli_main
from axorders.recording import read_records
from axorders.replay import check, inputs, outputs
from axorders.sim import SimConfig, SimServer
from axorders.sim.faults import HostileConfig

SRC = Path(__file__).resolve().parents[2] / "src"
BID = Decimal("1.1380")
ASK = Decimal("1.1396")


def _bytes(folder: Path) -> tuple[bytes, bytes]:
    """Every recording file's raw bytes, and the same decompressed."""
    raw = b""
    text = b""
    for path in sorted(folder.glob("*.jsonl.zst")):
        data = path.read_bytes()
        raw += data
        with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as r:
            text += r.read()
    return raw, text


async def _trade(client: Any, sim: SimServer, prefix: str, rounds: int = 6) -> None:
    """Resting orders, fills against a second account, cancels and replaces."""
    for i in range(rounds):
        await client.place_order(f"{prefix}-b{i}", SYMBOL, "BUY", 100, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        price = ASK + i * Decimal("0.0001")
        placed = await client.place_order(f"{prefix}-s{i}", SYMBOL, "SELL", 200, price)
        if i % 2:
            await client.cancel_order(placed.client_order_id)
        else:
            await client.replace_order(placed.client_order_id, quantity=300)


async def test_a_hostile_run_with_a_reconnect_replays_with_no_divergence(
    sim_factory: Any, tmp_path: Path
) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.2, hostile=HostileConfig(seed=7))
    )
    folder = tmp_path / "rec"
    rec = Recorder()
    async with client_for(sim, rec, record=folder) as client:
        await _trade(client, sim, "a")
        sim.faults.drop()
        await rec.wait(ev.Resynced, count=2)
        await _trade(client, sim, "b")
        await wait_until(lambda: not client.session.pending_request_ids())
        venue_frames = client.session.stats().frames_in
    records = list(read_records(folder))
    kinds = [r.kind for r in records]
    assert kinds[0] == "header" and kinds[-1] == "close"
    # Every frame the session received is in the recording, as received.
    assert kinds.count("in") == venue_frames
    assert {"cmd", "out", "event", "connect", "drop"} <= set(kinds)
    result = check(folder)
    assert result.ok, result.describe()
    assert result.inputs == sum(1 for _ in inputs(folder))
    assert result.describe().startswith(f"replay: {result.inputs} inputs, 0 divergences")
    assert any(step.kind == "event" for step in outputs(folder))
    # The command line says the same, and exits 0.
    assert cli_main(["replay", str(folder), "--check"]) == 0


async def test_no_secret_is_ever_written(sim: SimServer, tmp_path: Path) -> None:
    token = sim.issue_token()
    folder = tmp_path / "rec"
    async with client_for(sim, Recorder(), token=token, record=folder) as client:
        await client.place_order("s-1", SYMBOL, "BUY", 100, BID)
    raw, text = _bytes(folder)
    assert text  # something was recorded
    for secret in (token, f"Bearer {token}"):
        assert secret.encode() not in raw
        assert secret.encode() not in text
    assert b"Authorization" not in text


async def test_api_key_credentials_are_not_recorded(sim: SimServer, tmp_path: Path) -> None:
    key, secret = sim.api_key, sim.api_secret
    folder = tmp_path / "rec"
    async with client_for(sim, Recorder(), api_key=key, api_secret=secret, record=folder) as c:
        await c.place_order("k-1", SYMBOL, "BUY", 100, BID)
        token = await c._tokens.token()
    raw, text = _bytes(folder)
    for value in (secret, token):
        assert value.encode() not in raw and value.encode() not in text


async def test_a_tampered_fill_is_the_first_divergence(sim: SimServer, tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    rec = Recorder()
    async with client_for(sim, rec, record=folder) as client:
        await client.place_order("t-1", SYMBOL, "BUY", 300, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await rec.wait(ev.OrderFilled, "t-1")
    assert check(folder).ok
    # Change the quantity of the recorded fill frame, as a damaged or doctored file would.
    (path,) = sorted(folder.glob("*.jsonl.zst"))
    lines = _lines(path)
    changed = False
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj["kind"] != "in":
            continue
        frame = json.loads(obj["data"])
        if frame.get("t") in ("p", "f") and _bump(frame):
            obj["data"] = json.dumps(frame, separators=(",", ":"))
            lines[i] = json.dumps(obj)
            changed = True
            break
    assert changed, "no fill frame in the recording"
    path.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
    result = check(folder)
    assert not result.ok
    first = result.divergences[0]
    assert first.input is not None and first.input.kind == "in"
    assert cli_main(["replay", str(folder), "--check"]) == 1


def _lines(path: Path) -> list[str]:
    with zstandard.ZstdDecompressor().stream_reader(
        path.read_bytes(), read_across_frames=True
    ) as r:
        return [line for line in r.read().decode().splitlines() if line]


def _bump(frame: dict[str, Any]) -> bool:
    """Change the quantity of the frame's execution (the fill)."""
    execution = frame.get("xs")
    if isinstance(execution, dict) and isinstance(execution.get("q"), int):
        execution["q"] -= 1
        return True
    return False


_WORKER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from decimal import Decimal
    from axorders import OrdersClient

    async def main(url, token, journal, record):
        client = OrdersClient(url, token=token, store=journal, record=record,
                              heartbeat=1.0, request_timeout=3.0, connect_timeout=2.0)
        await client.connect()
        for i in range(4):
            await client.place_order(f"k-{i}", "EURUSD-PERP", "BUY", 100, Decimal("1.1380"))
        await client.submit_order("k-last", "EURUSD-PERP", "BUY", 100, Decimal("1.1379"))
        await asyncio.sleep(0.6)  # a few flushes of the recorder
        print("ready", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_a_recording_across_a_kill_and_a_restart_replays(
    sim_factory: Any, tmp_path: Path
) -> None:
    sim = await sim_factory(
        SimConfig(makers=False, heartbeat_interval=0.2, hostile=HostileConfig(seed=3))
    )
    folder = tmp_path / "rec"
    journal = tmp_path / "journal.db"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("AXORDERS_RECORD", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WORKER,
        sim.base_url,
        sim.issue_token(),
        str(journal),
        str(folder),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    sim.add_liquidity(SYMBOL, "SELL", BID, 200)  # fills while nobody is connected
    rec = Recorder()
    async with client_for(sim, rec, store=journal, record=folder) as client:
        await wait_until(lambda: len(rec.of(ev.OrderFilled)) >= 2)
        await wait_until(lambda: not client.session.pending_request_ids())
    headers = [r for r in read_records(folder) if r.kind == "header"]
    assert len({h.fields["process"] for h in headers}) == 2
    result = check(folder)
    assert result.ok, result.describe()
    assert result.processes == 2


def test_a_foreign_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.jsonl.zst"
    bad.write_bytes(msgspec.json.encode({"not": "a recording"}))
    assert cli_main(["replay", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


async def test_metrics_count_what_the_client_did_and_prometheus_reads_them(sim: SimServer) -> None:
    import urllib.request

    from axorders.metrics import serve

    rec = Recorder()
    async with client_for(sim, rec) as client:
        await client.place_order("m-1", SYMBOL, "BUY", 300, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await rec.wait(ev.OrderFilled, "m-1")
        await client.cancel_order("m-1")
        with pytest.raises(Exception):  # noqa: B017 - any refusal: it is counted either way
            await client.place_order("m-2", SYMBOL, "BUY", 100, Decimal("9999"))
        sim.faults.drop()
        await rec.wait(ev.Resynced, count=2)
        snap = client.metrics()
        assert snap.value("orders_submitted") == 2
        assert snap.value("orders_accepted") == 1
        assert snap.value("fills") == 1
        assert snap.value("cancels") == 1
        assert snap.value("reconnects") == 1
        assert snap.value("resyncs") == 2
        assert snap.value("connected") == 1
        assert snap.value("open_orders") == 0
        place = snap.histogram("request_seconds", "place")
        assert place is not None and place.count == 2
        server = await asyncio.to_thread(serve, client, 0)
        try:
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(server.url, timeout=5).read().decode()
            )
        finally:
            await server.aclose()
    for name in (
        "axorders_orders_submitted_total 2.0",
        "axorders_fills_total 1.0",
        "axorders_reconnects_total 1.0",
        "axorders_connected 1.0",
        'axorders_request_seconds_bucket{kind="place"',
    ):
        assert name in body, name


async def test_an_unwritable_recording_never_stops_trading(sim: SimServer, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the recording's folder should be")
    rec = Recorder()
    async with client_for(sim, rec, record=blocked) as client:
        for i in range(5):
            placed = await client.place_order(f"u-{i}", SYMBOL, "BUY", 100, BID)
            assert placed.venue_order_id is not None
        await wait_until(lambda: bool(rec.of(ev.RecorderWarning)))
        warnings = rec.of(ev.RecorderWarning)
        assert [w.kind for w in warnings] == ["WRITE_FAILED"]  # once per streak
        await wait_until(lambda: (client.metrics().value("dropped", "recorder") or 0) > 0)


async def test_a_stop_triggered_across_a_gap_replays_from_the_recorded_prices(
    sim: SimServer, tmp_path: Path
) -> None:
    tick = Decimal("0.0001")
    trigger = Decimal("1.1388") + 5 * tick
    sim.add_liquidity(SYMBOL, "SELL", trigger, 300)
    folder = tmp_path / "rec"
    rec = Recorder()
    async with client_for(sim, rec, record=folder) as client:
        await client.submit_order(
            "rs-1",
            SYMBOL,
            "BUY",
            100,
            trigger + 3 * tick,
            order_type="STOP_LIMIT",
            trigger_price=trigger,
        )
        await wait_until(lambda: client.stops.prices(SYMBOL) is not None)
        sim.faults.drop()  # the orders socket only: market data keeps flowing
        await rec.wait(ev.Disconnected)
        other = sim.add_user()
        async with client_for(sim, token=sim.issue_token(other.user_id)) as trader:
            await trader.place_order("lift", SYMBOL, "BUY", 100, trigger, time_in_force="IOC")
        await rec.wait(ev.OrderTriggered, "rs-1")
        await rec.wait(ev.OrderFilled, "rs-1")
    kinds = [r.kind for r in read_records(folder)]
    assert "md" in kinds and "price" in kinds and "check_stop" in kinds
    result = check(folder)
    assert result.ok, result.describe()
