"""The order journal: what the client must remember across a crash.

The client writes every changed :class:`~axorders.state.OrderRecord` before a frame that
depends on it leaves (a place is journaled before the venue can see it), and reloads them on
start, so that a restarted process re-correlates its venue orders by ``cid`` and delivers each
missed fill exactly once.

Two stores share the :class:`OrderStore` protocol: :class:`SqliteOrderStore` (one file, WAL
mode, owned by one process) and :class:`MemoryOrderStore` (tests). Every storage failure is a
:class:`~axorders.exceptions.StoreError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, Literal, Protocol, runtime_checkable

import msgspec

from axorders.exceptions import StoreError
from axorders.model import OrderStatus, OrderType, Side, TimeInForce
from axorders.state import OrderRecord

__all__ = ["Durability", "MemoryOrderStore", "OrderStore", "SqliteOrderStore"]

Durability = Literal["process", "power"]
"""``process``: a commit survives a crash of the process (WAL, ``synchronous=NORMAL``);
``power``: it also survives a power loss or an OS crash (``synchronous=FULL``)."""


@runtime_checkable
class OrderStore(Protocol):
    """Where order records live between runs."""

    def load(self) -> list[OrderRecord]:
        """Every stored record, oldest first."""
        ...

    def save(self, records: Iterable[OrderRecord]) -> None:
        """Insert or update ``records`` durably, in one transaction."""
        ...

    def save_with_meta(self, records: Iterable[OrderRecord], meta: Mapping[str, str]) -> None:
        """Insert or update ``records`` and set the small values ``meta`` (key -> value)
        durably, all in one transaction: after a crash, all of it is stored or none."""
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
    verdict: str | None = None  # rows written before it existed decode as None
    unknown_since: int = 0  # likewise 0
    unknown_reason: str | None = None
    carried_qty: int = 0


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
            rec.verdict,
            rec.unknown_since,
            rec.unknown_reason,
            rec.carried_qty,
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
        verdict=row.verdict,
        unknown_since=row.unknown_since,
        unknown_reason=row.unknown_reason,
        carried_qty=row.carried_qty,
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

    def save_with_meta(self, records: Iterable[OrderRecord], meta: Mapping[str, str]) -> None:
        """The records through :meth:`save` (a failure there sets no value), then ``meta``."""
        values = dict(meta)
        self.save(records)
        self._meta.update(values)

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def close(self) -> None:
        return

    def take_warnings(self) -> list[str]:
        """Nothing to report: the memory store cannot be damaged."""
        return []


_U64: Final = 1 << 64
_I64: Final = 1 << 63
_SYNCHRONOUS: Final = {"process": "NORMAL", "power": "FULL"}
_LOCK_SIZE: Final = 96
_UPSERT: Final = (
    "INSERT OR REPLACE INTO orders (client_order_id, cid, venue_order_id, terminal, seq, data)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SET_META: Final = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


def to_signed(cid: int) -> int:
    """A u64 ``cid`` as the signed 64-bit integer SQLite stores (two's complement)."""
    if not 0 <= cid < _U64:
        raise ValueError(f"cid {cid} is outside the unsigned 64-bit range")
    return cid - _U64 if cid >= _I64 else cid


def from_signed(value: int) -> int:
    """The inverse of :func:`to_signed`."""
    return value + _U64 if value < 0 else value


class SqliteOrderStore:
    """A SQLite journal in WAL mode, owned by one process.

    Ownership: at open the store takes an OS lock on a side file (``<path>.lock``) and SQLite's
    exclusive locking mode with a first write, so no other process can read or write the
    journal while it is open and no write of the owner can ever wait for a lock. A second
    opener, in this process or another, gets a :class:`StoreError` naming the file at once.

    Damage: every written record gets the next number of a sequence that never goes back; the
    side file also keeps the last number written (after every commit, without a sync) and
    whether the journal was closed. On open, a journal whose sequence stops short of the side
    file's (a lost or deleted write-ahead log, a file replaced by an older copy), a missing
    database file, or a failed ``quick_check`` is reported by :meth:`take_warnings`; so is a
    write-ahead log deleted while the journal is open (found after the next commit, whose
    records are then checkpointed into the main file).

    Args:
        path: the database file (created with its directory when missing).
        keep_ended: ended orders kept beyond this many are deleted, oldest first, at open.
        durability: ``"process"`` (the default: ``synchronous=NORMAL``, a commit survives a
            crash of the process) or ``"power"`` (``synchronous=FULL``: it also survives a
            power loss, at the price of a sync per commit).
        synchronous: SQLite's ``synchronous`` pragma, overriding ``durability``.
        busy_timeout: seconds SQLite may wait for a lock at open (an owned journal never
            waits afterwards).

    Raises:
        StoreError: the file cannot be opened, is in use by another opener, or is not
            writable.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        keep_ended: int = 100_000,
        durability: Durability = "process",
        synchronous: str | None = None,
        busy_timeout: float = 0.05,
    ) -> None:
        if synchronous is None:
            if durability not in _SYNCHRONOUS:
                raise ValueError(f"durability must be 'process' or 'power', not {durability!r}")
            synchronous = _SYNCHRONOUS[durability]
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.path = Path(path)
        self.durability = durability
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._warnings: list[str] = []
        self._closed = False
        self._seq = 0
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._wal_path = self.path.with_name(self.path.name + "-wal")
        self._lock_fd = self._take_ownership()
        try:
            previous = self._read_lock_file()
            existed = self.path.exists() and self.path.stat().st_size > 0
            wal_existed = self._wal_path.exists()
            self._db = self._connect()
            self._check_on_open(previous, existed, wal_existed)
            try:
                row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the order journal {self.path}: {exc}") from exc
            self._seq = max(self._seq, int(row[0]))
            self._prune(keep_ended)
            self._write_lock_file("open")
        except BaseException:
            with contextlib.suppress(Exception):
                self._db.close()
            os.close(self._lock_fd)
            raise

    # -----------------------------------------------------------------------------------------
    # Opening.

    def _take_ownership(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the order journal {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = 0
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(os.pread(fd, _LOCK_SIZE, 0).split()[0])
            os.close(fd)
            who = (
                "already open in this process"
                if pid == os.getpid()
                else f"in use by another process (pid {pid})"
                if pid
                else "in use by another process"
            )
            raise StoreError(
                f"the order journal {self.path} is {who}: one process per journal"
            ) from None
        return fd

    def _read_lock_file(self) -> tuple[str, int] | None:
        """The previous owner's (state, last sequence number), or None for a new side file."""
        try:
            fields = os.pread(self._lock_fd, _LOCK_SIZE, 0).split()
            return fields[1].decode(), int(fields[2])
        except (OSError, ValueError, IndexError):
            return None

    def _write_lock_file(self, state: str) -> None:
        line = f"{os.getpid()} {state} {self._seq}\n".encode().ljust(_LOCK_SIZE)
        os.pwrite(self._lock_fd, line, 0)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout,
            )
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            # Exclusive before WAL: the WAL index lives in this process's memory (no -shm
            # file) and the lock taken by the first write below is held until close.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise StoreError(
                    f"the order journal {self.path} cannot use WAL mode (journal_mode={mode}):"
                    " is it read-only?"
                )
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS orders ("
                " client_order_id TEXT PRIMARY KEY,"
                " cid INTEGER NOT NULL,"
                " venue_order_id TEXT,"
                " terminal INTEGER NOT NULL,"
                " seq INTEGER NOT NULL,"
                " data BLOB NOT NULL)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('owner', ?)", (str(os.getpid()),)
            )
            db.execute("COMMIT")
            return db
        except sqlite3.Error as exc:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            text = str(exc)
            if "locked" in text or "busy" in text:
                text += " (another process holds a lock on it)"
            raise StoreError(f"cannot open the order journal {self.path}: {text}") from exc
        except BaseException:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            raise

    def _check_on_open(
        self, previous: tuple[str, int] | None, existed: bool, wal_existed: bool
    ) -> None:
        db = self._db
        try:
            top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()[0]
            kept = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
            self._seq = max(int(top), int(kept[0]) if kept is not None else 0)
            check = db.execute("PRAGMA quick_check").fetchone()
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise StoreError(f"cannot read the order journal {self.path}: {exc}") from exc
        if check is None or str(check[0]) != "ok":
            self._warnings.append(
                f"the order journal {self.path} is damaged: quick_check says {check!r}"
            )
        if previous is None:
            return
        state, counted = previous
        if counted > 0 and not existed:
            self._warnings.append(
                f"the order journal {self.path} is missing: it had {counted} record writes and is"
                " now empty; orders it held are unknown to this process"
            )
        elif self._seq < counted:
            lost = counted - self._seq
            why = (
                "its write-ahead log was lost"
                if state == "open" and not wal_existed
                else "it was replaced by an older copy or lost its write-ahead log"
            )
            self._warnings.append(
                f"the order journal {self.path} lost its last {lost} record writes ({why});"
                " orders placed in them are unknown to this process"
            )

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    @property
    def last_seq(self) -> int:
        """The number of the last record written (the sequence never goes back)."""
        return self._seq

    def take_warnings(self) -> list[str]:
        """What was found wrong with the journal since the last call (damage, a lost log)."""
        found, self._warnings = self._warnings, []
        return found

    def _prune(self, keep_ended: int) -> None:
        try:
            self._db.execute(
                "DELETE FROM orders WHERE terminal = 1 AND client_order_id NOT IN ("
                " SELECT client_order_id FROM orders WHERE terminal = 1"
                " ORDER BY seq DESC LIMIT ?)",
                (keep_ended,),
            )
            # The sequence's high-water mark outlives the rows pruned here.
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)", (str(self._seq),)
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prune the order journal {self.path}: {exc}") from exc

    # -----------------------------------------------------------------------------------------
    # Reading and writing.

    def load(self) -> list[OrderRecord]:
        try:
            with self._lock:
                rows = self._db.execute("SELECT data FROM orders ORDER BY seq").fetchall()
            return [decode_record(row[0]) for row in rows]
        except (sqlite3.Error, msgspec.DecodeError, ValueError) as exc:
            raise StoreError(f"cannot read the order journal {self.path}: {exc}") from exc

    def save(self, records: Iterable[OrderRecord]) -> None:
        """Write ``records`` in one transaction, or nothing (:class:`StoreError`)."""
        self._write(records, None)

    def save_with_meta(self, records: Iterable[OrderRecord], meta: Mapping[str, str]) -> None:
        """Write ``records`` and the values ``meta`` in one transaction, or nothing
        (:class:`StoreError`)."""
        self._write(records, meta)

    def _write(self, records: Iterable[OrderRecord], meta: Mapping[str, str] | None) -> None:
        try:
            rows = [
                (
                    rec.client_order_id,
                    to_signed(rec.cid),
                    rec.venue_order_id,
                    int(rec.status.is_terminal),
                    0,
                    encode_record(rec),
                )
                for rec in records
            ]
        except (ValueError, TypeError, OverflowError, msgspec.EncodeError) as exc:
            raise StoreError(f"cannot encode a record for the journal {self.path}: {exc}") from exc
        values = [(str(key), str(value)) for key, value in meta.items()] if meta else []
        if not rows and not values:
            return
        with self._lock:
            if self._closed:
                raise StoreError(f"the order journal {self.path} is closed")
            seq = self._seq
            numbered = []
            for row in rows:
                seq += 1
                numbered.append((*row[:4], seq, row[5]))
            db = self._db
            try:
                if len(numbered) == 1 and not values:
                    db.execute(_UPSERT, numbered[0])  # one statement: its own transaction
                else:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        if numbered:
                            db.executemany(_UPSERT, numbered)
                        if values:
                            db.executemany(_SET_META, values)
                        db.execute("COMMIT")
                    except BaseException:
                        if db.in_transaction:
                            with contextlib.suppress(sqlite3.Error):
                                db.execute("ROLLBACK")
                        raise
            except (sqlite3.Error, OverflowError) as exc:
                raise StoreError(f"cannot write the order journal {self.path}: {exc}") from exc
            self._seq = seq
            self._after_commit()

    def _after_commit(self) -> None:
        with contextlib.suppress(OSError):
            self._write_lock_file("open")
        if self._wal_path.exists():
            return
        # The write-ahead log was deleted under us: what was just committed lives only in the
        # unlinked file. Copy it into the main file, then open a fresh log.
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = self._connect()
        except (sqlite3.Error, StoreError) as exc:
            raise StoreError(
                f"the write-ahead log of the order journal {self.path} was deleted and the"
                f" journal could not be reopened: {exc}"
            ) from exc
        self._warnings.append(
            f"the write-ahead log of the order journal {self.path} was deleted while open;"
            " its commits were checkpointed into the main file and a new log was started"
        )

    def get_meta(self, key: str) -> str | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the order journal {self.path}: {exc}") from exc
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        try:
            with self._lock:
                self._db.execute(_SET_META, (key, value))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the order journal {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the journal and release it to the next opener (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.close()
                with contextlib.suppress(OSError):
                    self._write_lock_file("closed")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot close the order journal {self.path}: {exc}") from exc
            finally:
                os.close(self._lock_fd)
