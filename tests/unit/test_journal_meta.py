"""Meta values written with the order records: the stores' one-transaction write, the journal
writer's staged values, and the positions journaled with the records of their fills."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from test_client_risk_part import SYMBOL, Harness

from axorders.client.journal import JournalWriter
from axorders.client.risk import BOOK_KEY
from axorders.exceptions import StoreError
from axorders.model import OrderStatus, OrderType, Side
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore, OrderStore, SqliteOrderStore


def record(coid: str, filled: int = 0, cid: int = 1) -> OrderRecord:
    return OrderRecord(
        client_order_id=coid, cid=cid, symbol=SYMBOL, side=Side.BUY, order_type=OrderType.LIMIT,
        quantity=500, price=Decimal("1.1"), account_id="A", trader_id="T", strategy_id="S",
        ts_init=1, status=OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED,
        filled_qty=filled,
    )  # fmt: skip


# -- the stores --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_records_and_meta_in_one_write(kind: str, tmp_path: Path) -> None:
    store: OrderStore = (
        MemoryOrderStore() if kind == "memory" else SqliteOrderStore(tmp_path / "j.db")
    )
    assert isinstance(store, OrderStore)
    store.save_with_meta([record("a"), record("b", cid=2)], {"k": "v1", "j": "x"})
    store.save_with_meta([], {"k": "v2"})  # values alone
    store.save_with_meta([record("a", filled=100)], {})  # records alone
    assert store.get_meta("k") == "v2" and store.get_meta("j") == "x"
    assert {r.client_order_id: r.filled_qty for r in store.load()} == {"a": 100, "b": 0}
    store.close()


def test_a_write_that_fails_stores_nothing(tmp_path: Path) -> None:
    sqlite = SqliteOrderStore(tmp_path / "j.db")
    with pytest.raises(StoreError):  # a record that cannot be written
        sqlite.save_with_meta([record("c", cid=-1)], {"k": "lost"})
    assert sqlite.get_meta("k") is None and sqlite.load() == []
    sqlite.close()
    memory = CountingStore()  # a memory store whose save fails: no value is set either
    memory.broken = True
    with pytest.raises(OSError, match="No space"):
        memory.save_with_meta([record("c")], {"k": "lost"})
    assert memory.get_meta("k") is None and memory.load() == []


def test_sqlite_writes_records_and_meta_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = SqliteOrderStore(path)
    traced: list[str] = []
    store._db.set_trace_callback(traced.append)
    store.save_with_meta([record("a"), record("b", cid=2)], {BOOK_KEY: "{}"})
    store._db.set_trace_callback(None)
    statements = [s.split()[0].upper() for s in traced]
    assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1
    assert statements.index("BEGIN") < statements.index("INSERT") < statements.index("COMMIT")
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = ?", (BOOK_KEY,)).fetchone() == (
            "{}",
        )


def test_sqlite_rolls_back_the_records_when_a_value_fails(tmp_path: Path) -> None:
    store = SqliteOrderStore(tmp_path / "j.db")
    store.save([record("a")])
    store._db.execute("CREATE TRIGGER no_meta BEFORE INSERT ON meta BEGIN"
                      " SELECT RAISE(ABORT, 'meta refused'); END")  # fmt: skip
    with pytest.raises(StoreError, match="meta refused"):
        store.save_with_meta([record("a", filled=100), record("b", cid=2)], {"k": "v"})
    assert {r.client_order_id: r.filled_qty for r in store.load()} == {"a": 0}
    store.close()


# -- the journal writer ------------------------------------------------------------------------


class CountingStore(MemoryOrderStore):
    """A memory store that logs every commit: ("save", coids) / ("both", coids, keys) /
    ("meta", key); ``broken`` makes every write fail."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[tuple[object, ...]] = []
        self.broken = False
        self._inside = False

    def save(self, records: Iterable[OrderRecord]) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        records = list(records)
        super().save(records)
        if not self._inside:
            self.commits.append(("save", [r.client_order_id for r in records]))

    def save_with_meta(self, records: Iterable[OrderRecord], meta: Mapping[str, str]) -> None:
        records = list(records)
        self._inside = True
        try:
            super().save_with_meta(records, meta)
        finally:
            self._inside = False
        self.commits.append(("both", [r.client_order_id for r in records], sorted(meta)))

    def set_meta(self, key: str, value: str) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        super().set_meta(key, value)
        self.commits.append(("meta", key))


def test_a_staged_value_goes_with_the_next_records_and_is_made_once() -> None:
    store = CountingStore()
    writer = JournalWriter(store, "process", lambda events: None)
    made: list[int] = []

    def value() -> str:
        made.append(1)
        return f"v{len(made)}"

    writer.stage("k", value)
    writer.stage("k", value)  # staged twice between two writes: made once
    assert writer.staged
    assert writer.write([record("a")])
    assert store.commits == [("both", ["a"], ["k"])] and store.get_meta("k") == "v1"
    assert not writer.staged and writer.commits == 1
    assert writer.write([record("a", filled=100)])  # nothing staged: the records alone
    assert store.commits[-1] == ("save", ["a"]) and writer.commits == 2
    writer.stage("k", value)
    assert writer.write([])  # no record: the value alone, in one commit
    assert store.commits[-1] == ("both", [], ["k"]) and store.get_meta("k") == "v2"
    assert writer.write([]) and len(store.commits) == 3  # nothing left: no commit
    assert made == [1, 1]


def test_a_failed_write_keeps_the_value_staged_and_retries_it_with_the_records() -> None:
    store = CountingStore()
    mono = [100.0]
    writer = JournalWriter(store, "process", lambda events: None, monotonic=lambda: mono[0])
    writer.stage("k", lambda: "book")
    store.broken = True
    assert not writer.write([record("a")])
    assert writer.staged and writer.pending == 1 and writer.failing
    store.broken = False
    assert not writer.write([])  # within the backoff: not tried
    mono[0] += 1.0
    assert writer.write([])
    assert store.commits == [("both", ["a"], ["k"])] and store.get_meta("k") == "book"
    assert not writer.staged and not writer.failing


class OldStore:
    """A store of the protocol before ``save_with_meta``."""

    def __init__(self) -> None:
        self.inner = MemoryOrderStore()
        self.calls: list[str] = []

    def load(self) -> list[OrderRecord]:
        return self.inner.load()

    def save(self, records: Iterable[OrderRecord]) -> None:
        self.calls.append("save")
        self.inner.save(records)

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.calls.append(f"meta {key}")
        self.inner.set_meta(key, value)

    def close(self) -> None:
        return


def test_a_store_without_the_one_transaction_write_gets_the_value_first() -> None:
    store = OldStore()
    writer = JournalWriter(store, "process", lambda events: None)  # type: ignore[arg-type]
    writer.stage("k", lambda: "v")
    assert writer.write([record("a")])
    assert store.calls == ["meta k", "save"] and store.get_meta("k") == "v"


# -- the positions, with the records of their fills --------------------------------------------


def test_a_fill_stages_the_book_and_the_pump_writes_it_with_the_records() -> None:
    store = CountingStore()
    journal = JournalWriter(store, "process", lambda events: None)
    h = Harness(journal=journal)
    h.fill("a", Side.BUY, 100, "1.1000", "t1")
    h.fill("a", Side.BUY, 200, "1.1000", "t2")  # two fills of one socket read
    assert store.commits == [] and store.get_meta(BOOK_KEY) is None
    assert journal.write([record("a", filled=300)])  # the pump's write
    assert store.commits == [("both", ["a"], [BOOK_KEY])]
    restored = Harness(journal=journal)
    assert restored.guard.positions()[SYMBOL].quantity == 300


def test_a_crash_after_a_failed_write_keeps_records_and_book_together() -> None:
    store = CountingStore()
    journal = JournalWriter(store, "process", lambda events: None)
    h = Harness(journal=journal)
    h.fill("a", Side.BUY, 100, "1.1000", "t1")
    assert journal.write([record("a", filled=100)])
    h.fill("a", Side.BUY, 200, "1.1000", "t2")
    store.broken = True
    assert not journal.write([record("a", filled=300)])  # neither is stored
    # A crash here: the next process restores the book of the last commit...
    after = Harness(journal=JournalWriter(store, "process", lambda events: None))
    assert after.guard.positions()[SYMBOL].quantity == 100
    assert {r.client_order_id: r.filled_qty for r in store.load()} == {"a": 100}
    # ...and the session re-delivers exactly the fill its records lack: applied once.
    after.fill("a", Side.BUY, 200, "1.1000", "t2")
    after.fill("a", Side.BUY, 100, "1.1000", "t1")  # (never re-delivered; refused anyway)
    assert after.guard.positions()[SYMBOL].quantity == 300


def test_the_book_of_a_failed_write_goes_with_the_retry() -> None:
    store = CountingStore()
    mono = [100.0]
    journal = JournalWriter(store, "process", lambda events: None, monotonic=lambda: mono[0])
    h = Harness(journal=journal)
    store.broken = True
    h.fill("a", Side.BUY, 100, "1.1000", "t1")
    assert not journal.write([record("a", filled=100)])
    h.fill("a", Side.BUY, 50, "1.1000", "t2")  # while failing: the ids stay in the book
    store.broken = False
    mono[0] += 1.0
    assert journal.write([record("a", filled=150)])
    assert store.commits == [("both", ["a"], [BOOK_KEY])]
    saved = store.get_meta(BOOK_KEY) or ""
    assert '"t1"' in saved and '"t2"' in saved and '"quantity":150' in saved
