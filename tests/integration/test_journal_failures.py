"""The journal when the disk says no: nothing leaves that is not written, the caller is told,
the client stays connected, and a damaged journal is reported.

Every case checks the simulator's own view: an order the caller was told failed never reached
the venue, and the client kept its one connection (no reconnect loop).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.exceptions import StoreError
from axorders.model import OrderStatus, OrderType, Side, cid_for
from axorders.sim import SimServer
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore, SqliteOrderStore

BID = MARK - 10 * TICK
ASK = MARK + 10 * TICK
SRC = Path(__file__).resolve().parents[2] / "src"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def venue_cids(sim: SimServer) -> set[int]:
    """The cid of every order the venue has seen from the default account, in any state."""
    return {o.cid for o in sim.engine.history(sim.account_id) if o.cid is not None}


def warnings(rec: Recorder, kind: str) -> list[ev.JournalWarning]:
    return [e for e in rec.of(ev.JournalWarning) if e.kind == kind]


async def assert_stayed_connected(sim: SimServer, client: OrdersClient, rec: Recorder) -> None:
    """One socket, never dropped: a reconnect loop would show within a few heartbeats."""
    await asyncio.sleep(0.3)
    assert client.is_active
    assert sim.connection_count() == 1
    assert rec.of(ev.Disconnected) == []
    assert rec.of(ev.Reconnected) == []


async def assert_refused_unsent(
    sim: SimServer, client: OrdersClient, rec: Recorder, coid: str
) -> None:
    """``coid`` was refused with StoreError: nothing of it reached the venue, it is forgotten."""
    with pytest.raises(StoreError):
        await client.submit_order(coid, SYMBOL, "BUY", 100, BID)
    await asyncio.sleep(0.2)  # a frame sent by mistake would have reached the venue by now
    assert cid_for(coid) not in venue_cids(sim)
    rejected = rec.of(ev.OrderRejected, coid)
    assert [(r.reason, r.origin) for r in rejected] == [
        ("JOURNAL_WRITE_FAILED", ev.RejectOrigin.LOCAL)
    ]
    resolved = [e for e in rec.of(ev.RequestResolved) if e.client_order_id == coid]
    assert [e.outcome for e in resolved] == [ev.RequestOutcome.LOCAL]
    assert client.order(coid) is None


# ---------------------------------------------------------------------------------------------
# A lock held by another process.

_HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('intruder', '1')")
    print("locked", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
    """
)

_TRY_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.2)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('intruder', '1')")
        db.execute("COMMIT")
        print("written")
    except sqlite3.Error as exc:
        print("refused:", exc)
    """
)


async def test_a_lock_held_by_another_process_fails_the_open_not_a_submit(
    sim: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    SqliteOrderStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(StoreError, match=str(path)):
            OrdersClient(sim.base_url, token=sim.issue_token(), store=path)
    finally:
        holder.communicate(b"\n", timeout=10)
    assert sim.connection_count() == 0
    assert venue_cids(sim) == set()


async def test_another_process_cannot_lock_an_owned_journal(sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        await client.place_order("lk-1", SYMBOL, "BUY", 100, BID)
        intruder = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _TRY_LOCK, str(path)],
            capture_output=True,
            env=child_env(),
            timeout=20,
        )
        assert intruder.stdout.decode().startswith("refused:"), intruder
        # The owner never waits on a lock: its next order is written and sent.
        await client.place_order("lk-2", SYMBOL, "BUY", 100, BID)
        assert {cid_for("lk-1"), cid_for("lk-2")} <= venue_cids(sim)
        await assert_stayed_connected(sim, client, rec)
    stored = {r.client_order_id for r in SqliteOrderStore(path).load()}
    assert {"lk-1", "lk-2"} <= stored


# ---------------------------------------------------------------------------------------------
# A cid at the top of the u64 range, from an order of the account placed elsewhere.


@pytest.mark.parametrize("cid", [2**63 + 5, 2**64 - 1])
async def test_a_cid_above_2_63_is_journaled_at_login(
    sim: SimServer, tmp_path: Path, cid: int
) -> None:
    reply = sim.engine.place(
        sim.account_id, SYMBOL, Side.BUY, 100, BID, now=time.time_ns(), cid=cid, origin=999_999
    )
    assert reply.ok
    path = tmp_path / "journal.db"
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        await rec.wait(ev.Resynced)
        found = [e.order.cid for e in rec.of(ev.ExternalOrderDiscovered)]
        assert found == [cid]
        assert rec.of(ev.JournalWarning) == []
        # The journal still works for the client's own orders.
        await client.place_order("big-1", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
        assert venue_cids(sim) == {cid, cid_for("big-1")}
    stored = {r.cid: r for r in SqliteOrderStore(path).load()}
    assert set(stored) == {cid, cid_for("big-1")}
    assert stored[cid].external and stored[cid].status is OrderStatus.ACCEPTED


async def test_a_cid_above_2_63_learned_while_connected(sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    cid = 2**64 - 1
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        await rec.wait(ev.Resynced)
        # Another process of the account places an order; this one is told of it.
        reply = sim.engine.place(
            sim.account_id, SYMBOL, Side.BUY, 50, BID, now=time.time_ns(), cid=cid, origin=7
        )
        assert reply.ok and reply.result is not None
        oid = reply.result.venue_order_id
        client.register_external_order(
            client_order_id="elsewhere",
            venue_order_id=oid,
            symbol=SYMBOL,
            side="BUY",
            quantity=50,
            price=BID,
            cid=cid,
        )
        client._pump()  # as a socket callback would: nothing may escape it
        await client.place_order("mine-1", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
        assert rec.of(ev.JournalWarning) == []
    assert venue_cids(sim) == {cid, cid_for("mine-1")}
    stored = {r.client_order_id: r for r in SqliteOrderStore(path).load()}
    assert stored["elsewhere"].cid == cid and stored["elsewhere"].external
    assert stored["mine-1"].status is OrderStatus.ACCEPTED


async def test_a_journal_failure_at_login_is_retried_without_reconnecting(
    sim: SimServer, tmp_path: Path
) -> None:
    cid = 2**63 + 5
    assert sim.engine.place(
        sim.account_id, SYMBOL, Side.BUY, 100, BID, now=time.time_ns(), cid=cid, origin=5
    ).ok
    store = SqliteOrderStore(tmp_path / "journal.db")
    store._db.execute("PRAGMA query_only = ON")  # every write now fails
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        warning = await rec.wait(ev.JournalWarning, kind="WRITE_FAILED")
        assert warning.pending >= 1 and str(store.path) in warning.path
        await assert_stayed_connected(sim, client, rec)
        assert len(warnings(rec, "WRITE_FAILED")) == 1  # once per streak
        # A place meanwhile is refused, and never reaches the venue.
        await assert_refused_unsent(sim, client, rec, "login-1")
        store._db.execute("PRAGMA query_only = OFF")
        await rec.wait(ev.JournalWarning, kind="WRITE_RECOVERED")
        assert [r.cid for r in store.load()] == [cid]
        await client.place_order("login-2", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
    assert venue_cids(sim) == {cid, cid_for("login-2")}


# ---------------------------------------------------------------------------------------------
# Two openers.

_OPEN = textwrap.dedent(
    """
    import sys
    from axorders.exceptions import StoreError
    from axorders.store import SqliteOrderStore
    try:
        SqliteOrderStore(sys.argv[1])
        print("opened")
    except StoreError as exc:
        print("refused:", exc)
    """
)


async def test_two_openers_the_second_process_is_refused(sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        await client.place_order("two-1", SYMBOL, "BUY", 100, BID)
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _OPEN, str(path)],
            capture_output=True,
            env=child_env(),
            timeout=20,
        )
        out = second.stdout.decode()
        assert out.startswith("refused:") and str(path) in out, (out, second.stderr)
        assert "another process" in out
        # The first keeps working.
        await client.place_order("two-2", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
        assert venue_cids(sim) == {cid_for("two-1"), cid_for("two-2")}
    rows = [r.client_order_id for r in SqliteOrderStore(path).load()]
    assert sorted(rows) == ["two-1", "two-2"]  # one row per order


async def test_two_openers_in_one_process(sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        with pytest.raises(StoreError, match="already open"):
            client_for(sim, store=path)
        await client.place_order("one-1", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)


# ---------------------------------------------------------------------------------------------
# A read-only file.


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_a_read_only_file_fails_the_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    SqliteOrderStore(path).close()
    path.chmod(0o444)
    try:
        with pytest.raises(StoreError, match=str(path)):
            SqliteOrderStore(path)
    finally:
        path.chmod(0o644)


async def test_a_read_only_journal_refuses_commands_and_holds_venue_frames(
    sim: SimServer, tmp_path: Path
) -> None:
    store = SqliteOrderStore(tmp_path / "journal.db")
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        await client.place_order("ro-1", SYMBOL, "SELL", 100, ASK)
        await client.place_order("ro-c", SYMBOL, "BUY", 100, BID)
        store._db.execute("PRAGMA query_only = ON")  # the file turned read-only
        await assert_refused_unsent(sim, client, rec, "ro-2")
        # A cancel depends on no new record: it still leaves, and the venue cancels.
        rid = await client.submit_cancel("ro-c")
        assert (await client.wait_for(rid)).ok
        await rec.wait(ev.OrderCanceled, "ro-c")
        # A fill from the venue is delivered; its record waits for the journal.
        sim.add_liquidity(SYMBOL, "BUY", ASK, 100)
        await rec.wait(ev.OrderFilled, "ro-1")
        assert len(warnings(rec, "WRITE_FAILED")) == 1
        await assert_refused_unsent(sim, client, rec, "ro-3")
        await assert_stayed_connected(sim, client, rec)
        store._db.execute("PRAGMA query_only = OFF")
        await rec.wait(ev.JournalWarning, kind="WRITE_RECOVERED")
        assert len(warnings(rec, "WRITE_FAILED")) == 1  # once per streak
        stored = {r.client_order_id: r for r in store.load()}
        assert stored["ro-1"].status is OrderStatus.FILLED
        assert stored["ro-c"].status is OrderStatus.CANCELED
        assert "ro-2" not in stored and "ro-3" not in stored
        await client.place_order("ro-4", SYMBOL, "BUY", 100, BID)
    assert venue_cids(sim) == {cid_for(c) for c in ("ro-1", "ro-c", "ro-4")}


# ---------------------------------------------------------------------------------------------
# A full disk.


def fill_up(store: SqliteOrderStore) -> None:
    """Cap the journal at its size, then write ended records until it is full."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(10_000):
        coid = f"filler-{i:05d}-" + "x" * 40
        filler = OrderRecord(
            client_order_id=coid,
            cid=cid_for(coid),
            symbol=SYMBOL,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=100,
            price=BID,
            account_id="A",
            trader_id="T",
            strategy_id="S",
            ts_init=1,
            status=OrderStatus.CANCELED,
        )
        try:
            store.save([filler])
        except StoreError as exc:
            assert "full" in str(exc)
            return
    raise AssertionError("the journal never filled up")


async def test_a_full_disk_refuses_the_place_and_nothing_is_sent(
    sim: SimServer, tmp_path: Path
) -> None:
    store = SqliteOrderStore(tmp_path / "journal.db")
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        await client.place_order("full-1", SYMBOL, "BUY", 100, BID)
        fill_up(store)
        await assert_refused_unsent(sim, client, rec, "full-2-" + "y" * 40)
        await assert_stayed_connected(sim, client, rec)
        assert warnings(rec, "WRITE_FAILED")
        store._db.execute("PRAGMA max_page_count = 1073741823")
        await client.place_order("full-3", SYMBOL, "BUY", 100, BID)
    assert venue_cids(sim) == {cid_for("full-1"), cid_for("full-3")}


# ---------------------------------------------------------------------------------------------
# A deleted WAL.


async def test_a_wal_deleted_while_open_is_reported_and_its_commits_kept(
    sim: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        await client.place_order("wal-1", SYMBOL, "BUY", 100, BID)
        os.remove(f"{path}-wal")
        await client.place_order("wal-2", SYMBOL, "BUY", 100, BID)
        warning = await rec.wait(ev.JournalWarning, kind="DAMAGED")
        assert "write-ahead log" in warning.message
        await client.place_order("wal-3", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
        assert Path(f"{path}-wal").exists()
    assert venue_cids(sim) == {cid_for(c) for c in ("wal-1", "wal-2", "wal-3")}
    stored = {r.client_order_id for r in SqliteOrderStore(path).load()}
    assert stored == {"wal-1", "wal-2", "wal-3"}


_LOSE_WAL = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from decimal import Decimal
    from axorders.client import OrdersClient

    async def main() -> None:
        url, token, path, bid = sys.argv[1:5]
        client = OrdersClient(url, token=token, store=path, heartbeat=1.0)
        await client.connect()
        await client.place_order("lost-1", "EURUSD-PERP", "BUY", 100, Decimal(bid))
        os.remove(path + "-wal")
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_a_wal_lost_in_a_crash_is_reported_at_the_next_open(
    sim: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOSE_WAL,
        sim.base_url,
        sim.issue_token(),
        str(path),
        str(BID),
        env=child_env(),
    )
    async with asyncio.timeout(20):
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    assert cid_for("lost-1") in venue_cids(sim)
    rec = Recorder()
    async with client_for(sim, rec, store=path) as client:
        warning = await rec.wait(ev.JournalWarning, kind="DAMAGED")
        assert "lost" in warning.message and str(path) in warning.message
        # The order the journal lost is still found at the venue (adopted by its cid).
        await rec.wait(ev.ExternalOrderDiscovered)
        await client.place_order("after-1", SYMBOL, "BUY", 100, BID)
        await assert_stayed_connected(sim, client, rec)
    assert venue_cids(sim) == {cid_for("lost-1"), cid_for("after-1")}


def test_a_lost_wal_open_check_works_without_a_client(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    code = textwrap.dedent(
        """
        import os, sys
        from decimal import Decimal
        from axorders.model import OrderStatus, OrderType, Side
        from axorders.state import OrderRecord
        from axorders.store import SqliteOrderStore
        store = SqliteOrderStore(sys.argv[1])
        store.save([OrderRecord(client_order_id="a", cid=1, symbol="S", side=Side.BUY,
            order_type=OrderType.LIMIT, quantity=1, price=Decimal(1), account_id="A",
            trader_id="T", strategy_id="S", ts_init=1, status=OrderStatus.ACCEPTED)])
        os.remove(sys.argv[1] + "-wal")
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=child_env())
    store = SqliteOrderStore(path)
    try:
        warnings = store.take_warnings()
        assert len(warnings) == 1 and "lost its last 1 record" in warnings[0], warnings
        assert store.load() == []
    finally:
        store.close()
    # Reported once: the next open starts from what is there.
    again = SqliteOrderStore(path)
    assert again.take_warnings() == []
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


# ---------------------------------------------------------------------------------------------
# Any store: a failure of another kind is a StoreError too, and never escapes a callback.


class FlakyStore(MemoryOrderStore):
    """A memory store whose writes raise ``OSError`` while ``broken``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def save(self, records: Iterable[OrderRecord]) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        super().save(records)


async def test_a_custom_store_failing_with_another_error(sim: SimServer) -> None:
    store = FlakyStore()
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        await client.place_order("fl-1", SYMBOL, "SELL", 100, ASK)
        store.broken = True
        await assert_refused_unsent(sim, client, rec, "fl-2")
        sim.add_liquidity(SYMBOL, "BUY", ASK, 100)  # a venue change while broken
        await rec.wait(ev.OrderFilled, "fl-1")
        await assert_stayed_connected(sim, client, rec)
        store.broken = False
        await rec.wait(ev.JournalWarning, kind="WRITE_RECOVERED")
        stored = {r.client_order_id: r for r in store.load()}
        assert stored["fl-1"].status is OrderStatus.FILLED and "fl-2" not in stored
    assert venue_cids(sim) == {cid_for("fl-1")}


async def test_an_armed_stop_whose_write_fails_is_withdrawn(sim: SimServer, tmp_path: Path) -> None:
    store = SqliteOrderStore(tmp_path / "journal.db")
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        store._db.execute("PRAGMA query_only = ON")
        with pytest.raises(StoreError):
            await client.submit_order(
                "stop-1",
                SYMBOL,
                "BUY",
                100,
                ASK + 5 * TICK,
                order_type="STOP_LIMIT",
                trigger_price=ASK,
            )
        assert client.order("stop-1") is None
        rejected = rec.of(ev.OrderRejected, "stop-1")
        assert [r.reason for r in rejected] == ["JOURNAL_WRITE_FAILED"]
        store._db.execute("PRAGMA query_only = OFF")
        await assert_stayed_connected(sim, client, rec)
        assert all(r.client_order_id != "stop-1" for r in store.load())
    assert venue_cids(sim) == set()
