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
    with sqlite3.connect(path) as db:
        db.execute("UPDATE orders SET data = ?", (b"[1,2",))
    with pytest.raises(StoreError):
        store.load()
    store.close()
