"""The order journal: what the client must remember across a crash.

The client writes every changed :class:`~axorders.state.OrderRecord` before a frame that
depends on it leaves (a place is journaled before the venue can see it), and reloads them on
start, so that a restarted process re-correlates its venue orders by ``cid`` and delivers each
missed fill exactly once.

Two stores share the :class:`OrderStore` protocol: :class:`SqliteOrderStore` (one file, WAL
mode) and :class:`MemoryOrderStore` (tests).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import msgspec

from axorders.exceptions import StoreError
from axorders.model import OrderStatus, OrderType, Side, TimeInForce
from axorders.state import OrderRecord

__all__ = ["MemoryOrderStore", "OrderStore", "SqliteOrderStore"]


@runtime_checkable
class OrderStore(Protocol):
    """Where order records live between runs."""

    def load(self) -> list[OrderRecord]:
        """Every stored record, oldest first."""
        ...

    def save(self, records: Iterable[OrderRecord]) -> None:
        """Insert or update ``records`` durably, in one transaction."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A small value kept beside the records (e.g. the last fill time)."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


class _Row(msgspec.Struct, array_like=True, gc=False):
    """The stored form of a record (a compact JSON array)."""

    client_order_id: str
    cid: int
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    price: str | None
    trigger_price: str | None
    time_in_force: TimeInForce
    post_only: bool
    tag: str | None
    account_id: str
    trader_id: str
    strategy_id: str
    ts_init: int
    status: OrderStatus
    venue_order_id: str | None
    prior_venue_order_ids: list[str]
    filled_qty: int
    trade_ids: list[str]
    last_fill_ns: int
    ts_last: int
    external: bool


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Row)


def encode_record(rec: OrderRecord) -> bytes:
    """A record as a compact JSON array."""
    return _encoder.encode(
        _Row(
            rec.client_order_id,
            rec.cid,
            rec.symbol,
            rec.side,
            rec.order_type,
            rec.quantity,
            None if rec.price is None else str(rec.price),
            None if rec.trigger_price is None else str(rec.trigger_price),
            rec.time_in_force,
            rec.post_only,
            rec.tag,
            rec.account_id,
            rec.trader_id,
            rec.strategy_id,
            rec.ts_init,
            rec.status,
            rec.venue_order_id,
            list(rec.prior_venue_order_ids),
            rec.filled_qty,
            list(rec.trade_ids),
            rec.last_fill_ns,
            rec.ts_last,
            rec.external,
        )
    )


def decode_record(data: bytes | str) -> OrderRecord:
    """The inverse of :func:`encode_record`."""
    from decimal import Decimal

    row = _decoder.decode(data)
    return OrderRecord(
        client_order_id=row.client_order_id,
        cid=row.cid,
        symbol=row.symbol,
        side=row.side,
        order_type=row.order_type,
        quantity=row.quantity,
        price=None if row.price is None else Decimal(row.price),
        trigger_price=None if row.trigger_price is None else Decimal(row.trigger_price),
        time_in_force=row.time_in_force,
        post_only=row.post_only,
        tag=row.tag,
        account_id=row.account_id,
        trader_id=row.trader_id,
        strategy_id=row.strategy_id,
        ts_init=row.ts_init,
        status=row.status,
        venue_order_id=row.venue_order_id,
        prior_venue_order_ids=row.prior_venue_order_ids,
        filled_qty=row.filled_qty,
        trade_ids=row.trade_ids,
        last_fill_ns=row.last_fill_ns,
        ts_last=row.ts_last,
        external=row.external,
    )


class MemoryOrderStore:
    """An in-process store: records survive a client object, not the process.

    Records are copied on the way in, as a real store would serialise them.
    """

    def __init__(self) -> None:
        self._rows: dict[str, bytes] = {}
        self._meta: dict[str, str] = {}
        self.saves = 0

    def load(self) -> list[OrderRecord]:
        return [decode_record(row) for row in self._rows.values()]

    def save(self, records: Iterable[OrderRecord]) -> None:
        for rec in records:
            self._rows[rec.client_order_id] = encode_record(rec)
            self.saves += 1

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def close(self) -> None:
        return


class SqliteOrderStore:
    """A SQLite journal in WAL mode; a committed save survives a crash of the process.

    Args:
        path: the database file (created with its directory when missing).
        keep_ended: ended orders kept beyond this many are deleted, oldest first, at open.
        synchronous: SQLite's ``synchronous`` pragma; ``NORMAL`` is durable against a crash
            of the process in WAL mode, ``FULL`` also against a power loss.
    """

    def __init__(
        self, path: str | Path, *, keep_ended: int = 100_000, synchronous: str = "NORMAL"
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS orders ("
                " client_order_id TEXT PRIMARY KEY,"
                " cid INTEGER NOT NULL,"
                " venue_order_id TEXT,"
                " terminal INTEGER NOT NULL,"
                " seq INTEGER NOT NULL,"
                " data BLOB NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()
            self._seq = int(row[0])
            self._prune(keep_ended)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the order journal {self.path}: {exc}") from exc

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def _prune(self, keep_ended: int) -> None:
        self._db.execute(
            "DELETE FROM orders WHERE terminal = 1 AND client_order_id NOT IN ("
            " SELECT client_order_id FROM orders WHERE terminal = 1 ORDER BY seq DESC LIMIT ?)",
            (keep_ended,),
        )

    def load(self) -> list[OrderRecord]:
        try:
            with self._lock:
                rows = self._db.execute("SELECT data FROM orders ORDER BY seq").fetchall()
            return [decode_record(row[0]) for row in rows]
        except (sqlite3.Error, msgspec.DecodeError) as exc:
            raise StoreError(f"cannot read the order journal {self.path}: {exc}") from exc

    def save(self, records: Iterable[OrderRecord]) -> None:
        rows = []
        for rec in records:
            self._seq += 1
            rows.append(
                (
                    rec.client_order_id,
                    rec.cid,
                    rec.venue_order_id,
                    int(rec.status.is_terminal),
                    self._seq,
                    encode_record(rec),
                )
            )
        if not rows:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO orders"
                        " (client_order_id, cid, venue_order_id, terminal, seq, data)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the order journal {self.path}: {exc}") from exc

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the order journal {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
