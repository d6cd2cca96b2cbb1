"""The order journal with a live client: written before the frames, and a restart that picks
up where a killed process stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, fills, wait_until
from test_bench_smoke import SAMPLE_FIGURES

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.model import OrderStatus, cid_for
from axorders.sim import SimServer
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore, OrderStore, SqliteOrderStore

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK


class SpyStore:
    """A store that logs each save into a shared timeline."""

    def __init__(self, inner: OrderStore, timeline: list[tuple[str, Any]]) -> None:
        self.inner = inner
        self.timeline = timeline

    def load(self) -> list[OrderRecord]:
        return self.inner.load()

    def save(self, records: Iterable[OrderRecord]) -> None:
        records = list(records)
        self.inner.save(records)
        for rec in records:
            self.timeline.append(("save", (rec.client_order_id, rec.status)))

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.inner.set_meta(key, value)

    def close(self) -> None:
        self.inner.close()


async def test_the_record_is_journaled_before_its_place_frame_leaves(
    sim: SimServer, tmp_path: Path
) -> None:
    timeline: list[tuple[str, Any]] = []
    store = SpyStore(SqliteOrderStore(tmp_path / "journal.db"), timeline)
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        session = client.session
        take_frames = session.frames_to_send

        def frames_to_send() -> list[bytes]:
            frames = take_frames()
            timeline.extend(("frame", frame) for frame in frames)
            return frames

        session.frames_to_send = frames_to_send  # type: ignore[method-assign]
        for coid in ("j-1", "j-2"):
            await client.place_order(coid, SYMBOL, "BUY", 100, BID)
        cid = str(cid_for("j-1")).encode()
        first_frame = next(i for i, (k, v) in enumerate(timeline) if k == "frame" and cid in v)
        first_save = timeline.index(("save", ("j-1", OrderStatus.PENDING)))
        assert first_save < first_frame
        assert ("save", ("j-1", OrderStatus.ACCEPTED)) in timeline
        stored = {r.client_order_id: r for r in store.load()}
        assert stored["j-2"].status is OrderStatus.ACCEPTED
        assert stored["j-2"].venue_order_id == client.order("j-2").venue_order_id  # type: ignore[union-attr]


async def crash(client: OrdersClient) -> None:
    """Stop ``client`` the way a killed process stops: no close frame, no goodbye, nothing
    written after this point. Only its local resources are released."""
    client.connection.listener = None  # its socket callbacks now reach nothing
    client._closed = client.connection.closed = True
    for task in [client._ticker.task, *client.connection.tasks(), *client._recovery.tasks()]:
        if task is not None:
            task.cancel()
    transport = client.connection.transport
    if transport is not None:
        transport.underlying_transport.abort()
    if client._rest is not None:
        await client._rest.close()


async def place_book(client: OrdersClient) -> None:
    await client.place_order("r-fill", SYMBOL, "BUY", 300, BID)
    await client.place_order("r-full", SYMBOL, "SELL", 100, ASK)
    await client.place_order("r-day", SYMBOL, "BUY", 100, BID - TICK, time_in_force="DAY")
    await client.place_order("r-open", SYMBOL, "SELL", 100, ASK + 5 * TICK)


def happen_while_down(sim: SimServer) -> None:
    sim.add_liquidity(SYMBOL, "SELL", BID, 200)  # the rest of r-fill
    sim.add_liquidity(SYMBOL, "BUY", ASK, 100)  # all of r-full
    assert sim.session_close() == 1  # r-day


async def check_recovered(sim: SimServer, client: OrdersClient, rec: Recorder) -> None:
    await wait_until(lambda: client.order("r-fill") is not None)
    await wait_until(lambda: client.order("r-fill").filled_qty == 300)  # type: ignore[union-attr]
    await rec.wait(ev.OrderFilled, "r-full")
    await rec.wait(ev.OrderExpired, "r-day")
    await rec.wait(ev.Resynced)
    # The fill seen before the crash is not delivered again; the missed ones once each.
    assert [(f.last_qty, f.filled_qty) for f in fills(rec, "r-fill")] == [(200, 300)]
    assert fills(rec, "r-fill")[0].is_final and fills(rec, "r-fill")[0].fee is not None
    assert len(fills(rec, "r-full")) == 1
    assert all(n == 1 for n in Counter(f.trade_id for f in fills(rec)).values())
    assert rec.of(ev.ExternalOrderDiscovered) == []
    coids = {r.client_order_id for r in client.orders(include_ended=True)}
    assert {"r-fill", "r-full", "r-day", "r-open"} <= coids
    assert not any(c.startswith(("CID-", "EXT-")) for c in coids)
    expected = {
        "r-fill": OrderStatus.FILLED,
        "r-full": OrderStatus.FILLED,
        "r-day": OrderStatus.DONE_FOR_DAY,
        "r-open": OrderStatus.ACCEPTED,
    }
    for coid, status in expected.items():
        order = client.order(coid)
        assert order is not None and order.status is status, coid
        venue = sim.engine.status(sim.account_id, cid=cid_for(coid))
        assert venue is not None and OrderStatus.from_wire(venue.state) is status, coid
    # The recovered order is the client's own: it can be canceled by its client order id.
    assert (await client.cancel_order("r-open")).status is OrderStatus.CANCELED
    await rec.wait(ev.OrderCanceled, "r-open")
    assert len(sim.engine.history(sim.account_id)) == 4


async def test_restart_with_a_memory_journal(sim: SimServer) -> None:
    store = MemoryOrderStore()
    first = Recorder()
    client_a = client_for(sim, first, store=store)
    await client_a.connect()
    await place_book(client_a)
    sim.add_liquidity(SYMBOL, "SELL", BID, 100)  # part of r-fill, seen by A
    await first.wait(ev.OrderFilled, "r-fill")
    await crash(client_a)

    happen_while_down(sim)
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client_b:
        await check_recovered(sim, client_b, rec)


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from axorders import events as ev
    from axorders.client import OrdersClient
    from axorders.store import SqliteOrderStore

    async def main() -> None:
        url, token, path, bid, ask, tick = sys.argv[1:7]
        client = OrdersClient(url, token=token, store=SqliteOrderStore(path), heartbeat=1.0)
        await client.connect()
        from decimal import Decimal
        bid_, ask_, tick_ = Decimal(bid), Decimal(ask), Decimal(tick)
        await client.place_order("r-fill", "EURUSD-PERP", "BUY", 300, bid_)
        await client.place_order("r-full", "EURUSD-PERP", "SELL", 100, ask_)
        await client.place_order(
            "r-day", "EURUSD-PERP", "BUY", 100, bid_ - tick_, time_in_force="DAY"
        )
        await client.place_order("r-open", "EURUSD-PERP", "SELL", 100, ask_ + 5 * tick_)
        print("placed", flush=True)
        await client.next_event(lambda e: isinstance(e, ev.OrderFilled), timeout=10)
        print("filled", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_restart_after_sigkill_with_a_sqlite_journal(sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    env = dict(os.environ)
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        sim.base_url,
        sim.issue_token(),
        str(path),
        str(BID),
        str(ASK),
        str(TICK),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert (await child.stdout.readline()).strip() == b"placed"
            sim.add_liquidity(SYMBOL, "SELL", BID, 100)  # part of r-fill, seen by the child
            assert (await child.stdout.readline()).strip() == b"filled"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    happen_while_down(sim)
    rec = Recorder()
    store = SqliteOrderStore(path)
    assert store.journal_mode == "wal"
    async with client_for(sim, rec, store=store) as client:
        await check_recovered(sim, client, rec)


def test_the_journal_benchmark_runs_and_fills_its_rows() -> None:
    """``make bench``'s journal rows, from a tiny run (no timing is asserted)."""
    from benchmarks import bench_journal, run
    from benchmarks.common import SimProcess

    with SimProcess() as server:
        figures = bench_journal.measure(server, count=6, warmup=3)
    for mode in bench_journal.MODES:
        assert figures[f"journal_{mode}_n"] == 6
    assert figures["journal_process_ratio"] > 0 and figures["save_power_p50_us"] > 0
    lines = bench_journal.rows(figures)
    assert [line[0] for line in lines] == [
        "(b) submit→ack p50: journal (process) / no journal",
        "(b) submit→ack p50: journal (power) / no journal",
    ]
    assert all(isinstance(r, run.Row) for r in run.rows({**SAMPLE_FIGURES, "journal": figures}))


