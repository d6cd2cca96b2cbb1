"""The command line's names file: which client order id each ``cid`` and venue order id stands for.

The venue knows an order by its ``cid`` (a hash of the client order id, see
:func:`axorders.model.cid_for`) and its venue order id, never by the id the user chose. Each
``axorders`` command is its own process, so the command line writes the names it learns (the
user's id when it places an order, the venue order ids as the venue assigns them) to a small
SQLite file, and every later command reads them back to show the user's own ids.

The file lives under the user's state directory, one per environment and account::

    $XDG_STATE_HOME/axorders/names-<environment>-<account>.sqlite3   (~/.local/state by default)

It is opened in WAL mode with a busy timeout, so that several ``axorders`` processes (a
``watch`` in one terminal while ``place`` runs in another) read and write it at once. It is
bounded: beyond :data:`MAX_NAMES` names the oldest are forgotten when the file is opened.
Any trouble with the file (a read-only directory, a damaged file) leaves the command line
without names, never without its answer.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from pathlib import Path

from axorders.model import CID_MASK, cid_for

__all__ = ["MAX_NAMES", "OrderNames", "default_names_path", "state_dir"]

MAX_NAMES = 10_000
"""The most names one file keeps; the oldest beyond it are dropped when the file is opened."""

_LOG = logging.getLogger("axorders.names")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS names ("
    " cid INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL, seen INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS venue_ids ("
    " venue_order_id TEXT PRIMARY KEY, cid INTEGER NOT NULL, seen INTEGER NOT NULL)",
)


def state_dir() -> Path:
    """``$XDG_STATE_HOME/axorders``, or ``~/.local/state/axorders`` when it is not set."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "axorders"


def _part(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "default"


def default_names_path(environment: str, account_id: str) -> Path:
    """The names file of ``environment`` (``sandbox``, ``production`` or a gateway's
    ``host:port``) and ``account_id``."""
    return state_dir() / f"names-{_part(environment)}-{_part(account_id)}.sqlite3"


class OrderNames:
    """``cid`` → client order id and venue order id → client order id, in one SQLite file.

    Every method swallows database errors (logged at debug level): names are a convenience.
    """

    def __init__(self, path: Path, *, max_names: int = MAX_NAMES) -> None:
        self.path = path
        self._cache: dict[int, str] = {}
        self._written: set[tuple[int, str | None]] = set()  # already in the file, this process
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    db.execute(statement)
                self._prune(db, max_names)
            except sqlite3.Error:
                db.close()
                raise
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            _LOG.debug("names file %s not used: %s", path, exc)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    @staticmethod
    def _prune(db: sqlite3.Connection, max_names: int) -> None:
        (count,) = db.execute("SELECT COUNT(*) FROM names").fetchone()
        if count <= max_names:
            return
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "DELETE FROM names WHERE cid IN"
                " (SELECT cid FROM names ORDER BY seen DESC LIMIT -1 OFFSET ?)",
                (max_names,),
            )
            db.execute("DELETE FROM venue_ids WHERE cid NOT IN (SELECT cid FROM names)")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> OrderNames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remember(self, client_order_id: str, venue_order_id: str | None = None) -> None:
        """Record the user's ``client_order_id`` (and the venue order id it now has)."""
        if _synthetic(client_order_id) is not None:
            return  # "CID-<n>" is what names replace, not a name
        cid = cid_for(client_order_id)
        self._cache[cid] = client_order_id
        if self._db is None or (cid, venue_order_id) in self._written:
            return
        if len(self._written) >= MAX_NAMES or len(self._cache) >= MAX_NAMES:
            self._written.clear()  # a long `watch`: stay bounded
            self._cache.clear()
            self._cache[cid] = client_order_id
        now = time.time_ns()
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO names (cid, client_order_id, seen) VALUES (?, ?, ?)"
                    " ON CONFLICT (cid) DO UPDATE SET client_order_id = excluded.client_order_id,"
                    " seen = excluded.seen",
                    (cid, client_order_id, now),
                )
                if venue_order_id is not None:
                    self._db.execute(
                        "INSERT INTO venue_ids (venue_order_id, cid, seen) VALUES (?, ?, ?)"
                        " ON CONFLICT (venue_order_id) DO UPDATE SET cid = excluded.cid,"
                        " seen = excluded.seen",
                        (venue_order_id, cid, now),
                    )
            self._written.add((cid, venue_order_id))
        except sqlite3.Error as exc:
            _LOG.debug("names file %s: %s", self.path, exc)

    def by_cid(self, cid: int | None) -> str | None:
        """The client order id whose ``cid`` is ``cid``, if this file knows it."""
        if cid is None or not 0 <= cid <= CID_MASK:
            return None
        name = self._cache.get(cid)
        if name is not None or self._db is None:
            return name
        try:
            row = self._db.execute(
                "SELECT client_order_id FROM names WHERE cid = ?", (cid,)
            ).fetchone()
        except sqlite3.Error as exc:
            _LOG.debug("names file %s: %s", self.path, exc)
            return None
        if row is None or cid_for(row[0]) != cid:
            return None
        self._cache[cid] = row[0]
        return str(row[0])

    def by_venue_id(self, venue_order_id: str | None) -> str | None:
        """The client order id of the order the venue calls ``venue_order_id``, if known."""
        if venue_order_id is None or self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT cid FROM venue_ids WHERE venue_order_id = ?", (venue_order_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            _LOG.debug("names file %s: %s", self.path, exc)
            return None
        return None if row is None else self.by_cid(int(row[0]))

    def name(
        self,
        client_order_id: str | None,
        *,
        cid: int | None = None,
        venue_order_id: str | None = None,
    ) -> str | None:
        """The best name for an order: the user's id when known, else what the client had.

        ``client_order_id`` is what the session calls the order: the user's id, a synthetic
        ``CID-<cid>`` for an order another process placed, or None.
        """
        synthetic = _synthetic(client_order_id) if client_order_id is not None else None
        if client_order_id is not None and synthetic is None:
            return client_order_id
        return (
            self.by_cid(synthetic if synthetic is not None else cid)
            or self.by_venue_id(venue_order_id)
            or client_order_id
        )


def _synthetic(client_order_id: str) -> int | None:
    """``n`` of a session's synthetic ``CID-<n>`` id, else None."""
    if client_order_id.startswith("CID-") and client_order_id[4:].isdigit():
        return int(client_order_id[4:])
    return None
