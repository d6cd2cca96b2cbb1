"""The order journal: record encoding, SQLite (WAL) and in-memory stores, pruning."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from axorders.exceptions import StoreError
from axorders.model import OrderStatus, OrderType, Side, TimeInForce, cid_for
from axorders.state import OrderRecord
from axorders.store import (
    MemoryOrderStore,
    OrderStore,
    SqliteOrderStore,
    decode_record,
    encode_record,
    from_signed,
    to_signed,
)


def record(
    coid: str = "o-1", status: OrderStatus = OrderStatus.ACCEPTED, **kw: object
) -> OrderRecord:
    fields: dict[str, object] = {
        "client_order_id": coid,
        "cid": cid_for(coid),
        "symbol": "EURUSD-PERP",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": 300,
        "price": Decimal("1.0850"),
        "account_id": "ACC",
        "trader_id": "T",
        "strategy_id": "S",
        "ts_init": 1_700_000_000_000_000_001,
        "status": status,
    }
    fields.update(kw)
    return OrderRecord(**fields)  # type: ignore[arg-type]


FULL = record(
    "full",
    OrderStatus.PARTIALLY_FILLED,
    order_type=OrderType.STOP_LIMIT,
    side=Side.SELL,
    trigger_price=Decimal("1.0800"),
    time_in_force=TimeInForce.DAY,
    post_only=True,
    tag="tag-1",
    venue_order_id="O-2",
    prior_venue_order_ids=["O-1"],
    filled_qty=100,
    trade_ids=["T-1", "T-2"],
    last_fill_ns=1_700_000_000_123_456_789,
    ts_last=1_700_000_000_999_999_999,
    external=True,
)


@pytest.mark.parametrize(
    "rec",
    [
        record(),
        FULL,
        record("mkt", OrderStatus.PENDING, order_type=OrderType.MARKET, price=None),
        record("ünïcode-id", OrderStatus.ARMED, price=Decimal("1E+2")),
    ],
    ids=["plain", "full", "unpriced", "unicode"],
)
def test_encode_decode_round_trip(rec: OrderRecord) -> None:
    data = encode_record(rec)
    assert isinstance(data, bytes)
    back = decode_record(data)
    assert back == rec
    assert decode_record(data.decode()) == rec
    assert back.prior_venue_order_ids is not rec.prior_venue_order_ids


def test_decimal_precision_is_kept() -> None:
    rec = record(price=Decimal("1.08500"))
    back = decode_record(encode_record(rec))
    assert back.price is not None and str(back.price) == "1.08500"


def stores(tmp_path: Path) -> list[OrderStore]:
    return [MemoryOrderStore(), SqliteOrderStore(tmp_path / "journal.db")]


def test_both_stores_round_trip_and_update(tmp_path: Path) -> None:
    for store in stores(tmp_path):
        assert isinstance(store, OrderStore)
        assert store.load() == []
        store.save([record("a"), FULL])
        store.save([])
        updated = record("a", OrderStatus.FILLED, filled_qty=300, trade_ids=["T-9"])
        store.save([updated])
        loaded = sorted(store.load(), key=lambda r: r.client_order_id)
        assert loaded == [updated, FULL]
        assert store.get_meta("k") is None
        store.set_meta("k", "v1")
        store.set_meta("k", "v2")
        assert store.get_meta("k") == "v2"
        store.close()


def test_memory_store_copies_records() -> None:
    store = MemoryOrderStore()
    rec = record()
    store.save([rec])
    rec.filled_qty = 99
    assert store.load()[0].filled_qty == 0
    assert store.saves == 1


def test_sqlite_store_uses_wal_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "journal.db"
    store = SqliteOrderStore(path)
    assert store.journal_mode == "wal"
    store.save([record("a"), record("b")])
    store.set_meta("last_fill_ns", "123")
    store.close()
    again = SqliteOrderStore(path)
    assert [r.client_order_id for r in again.load()] == ["a", "b"]
    assert again.get_meta("last_fill_ns") == "123"
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_store_prunes_the_oldest_ended_orders_at_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record(f"done-{i}", OrderStatus.FILLED) for i in range(5)])
    store.save([record("live", OrderStatus.ACCEPTED)])
    store.save([record("done-0", OrderStatus.CANCELED)])  # changed last: the newest ended
    store.close()
    pruned = SqliteOrderStore(path, keep_ended=2)
    kept = [r.client_order_id for r in pruned.load()]
    assert kept == ["done-4", "live", "done-0"]
    pruned.close()
    # Live orders are never pruned.
    none_kept = SqliteOrderStore(path, keep_ended=0)
    assert [r.client_order_id for r in none_kept.load()] == ["live"]
    none_kept.close()


def test_sqlite_store_refuses_a_bad_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteOrderStore(tmp_path / "j.db", synchronous="SOMETIMES")


def test_sqlite_store_reports_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SqliteOrderStore(path)


def test_sqlite_store_reports_a_damaged_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record()])
    # The owner holds the file exclusively: damage it through the store's own connection.
    store._db.execute("UPDATE orders SET data = ?", (b"[1,2",))
    with pytest.raises(StoreError):
        store.load()
    store.close()


@pytest.mark.parametrize("cid", [0, 2**63 - 1, 2**63, 2**63 + 5, 2**64 - 1])
def test_the_whole_u64_cid_range_round_trips(tmp_path: Path, cid: int) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record("big", cid=cid)])
    store.close()
    again = SqliteOrderStore(path)
    assert [r.cid for r in again.load()] == [cid]
    # The indexed column holds the same number, as a signed 64-bit integer.
    column = again._db.execute("SELECT cid FROM orders").fetchone()[0]
    assert from_signed(column) == cid and to_signed(cid) == column
    again.close()


@pytest.mark.parametrize("cid", [-1, 2**64])
def test_a_cid_outside_u64_is_a_store_error(tmp_path: Path, cid: int) -> None:
    store = SqliteOrderStore(tmp_path / "journal.db")
    with pytest.raises(StoreError):
        store.save([record("bad", cid=cid), record("good")])
    assert store.load() == []  # nothing of the batch was written
    store.close()


@pytest.mark.parametrize(("durability", "level"), [("process", 1), ("power", 2)])
def test_durability_sets_synchronous(tmp_path: Path, durability: str, level: int) -> None:
    store = SqliteOrderStore(tmp_path / "journal.db", durability=durability)  # type: ignore[arg-type]
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == level
    assert store.journal_mode == "wal"
    store.close()
    with pytest.raises(ValueError):
        SqliteOrderStore(tmp_path / "other.db", durability="sometimes")  # type: ignore[arg-type]


def test_the_owner_holds_the_journal_exclusively(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record("a")])
    with pytest.raises(StoreError, match=str(path)):
        SqliteOrderStore(path)
    with sqlite3.connect(path, timeout=0.05) as db, pytest.raises(sqlite3.OperationalError):
        db.execute("SELECT COUNT(*) FROM orders").fetchone()
    assert not Path(f"{path}-shm").exists()  # the WAL index lives in the owner's memory
    store.save([record("b")])  # the owner is not disturbed
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.save([record("c")])
    again = SqliteOrderStore(path)  # released at close
    assert [r.client_order_id for r in again.load()] == ["a", "b"]
    assert again.take_warnings() == []
    assert again.last_seq == 2
    again.close()


def test_a_replaced_older_copy_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record("a")])
    store.close()
    old = path.read_bytes()
    store = SqliteOrderStore(path)
    store.save([record("b")])
    store.close()
    path.write_bytes(old)
    again = SqliteOrderStore(path)
    warnings = again.take_warnings()
    assert len(warnings) == 1 and "older copy" in warnings[0], warnings
    again.close()


def test_a_deleted_journal_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SqliteOrderStore(path)
    store.save([record("a")])
    store.close()
    path.unlink()
    again = SqliteOrderStore(path)
    warnings = again.take_warnings()
    assert len(warnings) == 1 and "missing" in warnings[0], warnings
    again.close()


def test_memory_store_has_no_warnings() -> None:
    assert MemoryOrderStore().take_warnings() == []


# ---------------------------------------------------------------------------------------------
# The session's side: a command whose records cannot be journaled is withdrawn unsent.


def test_the_session_withdraws_a_place_and_keeps_older_frames() -> None:
    from session_harness import EUR, Link, px

    from axorders import events as ev
    from axorders.commands import CancelOrder, PlaceOrder

    link = Link(session_kw={"track_changes": True})
    link.connect()
    link.do(PlaceOrder("old", EUR, "BUY", 100, price=px(-20)))
    link.s.take_changed()
    cancel_rid = link.s.send(CancelOrder("old"), link.now)  # queued, not yet sent
    mark = link.s.journal_mark()
    rid = link.s.send(PlaceOrder("new", EUR, "BUY", 100, price=px(-21)), link.now)
    assert [r.client_order_id for r in link.s.take_changed()] == ["new"]
    gone = link.s.withdraw(mark, link.now, "journal write failed", place="new")
    assert gone is not None and gone.client_order_id == "new"
    assert link.s.order("new") is None
    events = link.s.events_received()
    rejected = [e for e in events if isinstance(e, ev.OrderRejected)]
    assert [(e.client_order_id, e.reason, e.origin) for e in rejected] == [
        ("new", "JOURNAL_WRITE_FAILED", ev.RejectOrigin.LOCAL)
    ]
    resolved = [e for e in events if isinstance(e, ev.RequestResolved)]
    assert [(e.request_id, e.outcome) for e in resolved] == [(rid, ev.RequestOutcome.LOCAL)]
    # Only the cancel queued before the mark is left, and the same cid may be placed again.
    frames = link.s.frames_to_send()
    assert len(frames) == 1 and str(cancel_rid).encode() in frames[0]
    assert link.s.send(PlaceOrder("new", EUR, "BUY", 100, price=px(-21)), link.now)


def test_frames_since_a_mark_leave_the_older_ones_queued() -> None:
    from session_harness import EUR, Link, px

    from axorders.commands import PlaceOrder

    link = Link()
    link.connect()
    link.s.send(PlaceOrder("a", EUR, "BUY", 100, price=px(-20)), link.now)
    mark = link.s.journal_mark()
    link.s.send(PlaceOrder("b", EUR, "BUY", 100, price=px(-21)), link.now)
    taken = link.s.frames_since(mark)
    assert len(taken) == 1 and str(cid_for("b")).encode() in taken[0]
    left = link.s.frames_to_send()
    assert len(left) == 1 and str(cid_for("a")).encode() in left[0]
