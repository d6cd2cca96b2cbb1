"""The journal writer: order records committed before the frames that depend on them.

:class:`JournalWriter` owns the store, the records changed but not yet committed, and the
streak of failed writes with its retry backoff. The client hands it the session's changed
records at every pump and sends frames only once :meth:`JournalWriter.write` says everything is
committed. A command whose records cannot be written is withdrawn by the client (nothing of it
is sent); a change the venue drove has already happened, so its records stay queued, the frames
after it are held, and the write is retried with a bounded backoff. ``JournalWarning`` events
report a failing, recovered or damaged journal.

Small values kept beside the records (the positions) are staged with :meth:`JournalWriter.stage`
and written in the same transaction as the next order records (a store without
``save_with_meta`` gets them just before the records, in a commit of their own), or alone by the
next write when it has no record: one commit per write at most. A staged value is computed when
it is written (a value staged many times between two writes is encoded once) and stays staged
until a write carrying it commits; a failed write retries it with the records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from axorders import events as ev
from axorders.exceptions import StoreError
from axorders.state import OrderRecord
from axorders.store import Durability, OrderStore, SqliteOrderStore

__all__ = ["JournalWriter"]

log = logging.getLogger("axorders.client")

_JOURNAL_RETRY_S: Final = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Waits between retries of a failed journal write (the last one repeats)."""


class JournalWriter:
    """Commits order records to a store, retrying failed writes (see the module's docstring).

    Args:
        store: the journal, or the path of a SQLite one to open.
        durability: for a path: ``"process"`` or ``"power"``.
        publish: where its ``JournalWarning`` events go.
        clock: Unix nanoseconds, for the events' ``ts_init``.
        monotonic: seconds, for the retry backoff.
    """

    def __init__(
        self,
        store: OrderStore | str | Path,
        durability: Durability,
        publish: Callable[[list[ev.Event]], None],
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(store, str | Path):
            store = SqliteOrderStore(store, durability=durability)
        self.store = store
        self._publish = publish
        self._clock = clock
        self._monotonic = monotonic
        self._unsaved: dict[str, OrderRecord] = {}
        # key -> what makes its value: written with the next commit
        self._staged: dict[str, Callable[[], str]] = {}
        self._failures = 0
        self._retry_at = 0.0
        self._notes: Callable[[], list[str]] | None = getattr(store, "take_warnings", None)
        self._checked = False
        self.error = ""  # the last failed write's error
        self.commits = 0
        self.write_failures = 0
        self.commit_seconds: Callable[[float], None] | None = None  # a latency observer

    @property
    def pending(self) -> int:
        """Records changed and not yet committed."""
        return len(self._unsaved)

    @property
    def failing(self) -> bool:
        return self._failures > 0

    @property
    def staged(self) -> bool:
        """Whether a staged value waits for a commit."""
        return bool(self._staged)

    def stage(self, key: str, value: Callable[[], str]) -> None:
        """Have the meta value ``key`` written as ``value()`` by the next write, in the
        transaction of its order records (see the module's docstring). O(1); ``value`` is
        called once per write attempt."""
        self._staged[key] = value

    def load(self) -> list[OrderRecord]:
        """What the journal holds (blocking: run it in a thread)."""
        return list(self.store.load())

    def write(self, changed: list[OrderRecord], *, now: bool = False) -> bool:
        """Commit ``changed`` (and whatever a failed write left); True when nothing is left
        uncommitted.

        Never raises. After a failure the write is tried again once the backoff has passed,
        or at once with ``now``.
        """
        if not self._checked:
            self._checked = True
            self._report()
        unsaved = self._unsaved
        if changed:
            if not unsaved and not self._failures:
                return self._commit(changed)
            for rec in changed:
                unsaved[rec.client_order_id] = rec
        if not unsaved and not self._staged:
            return True
        if self._failures and not now and self._monotonic() < self._retry_at:
            return False
        return self._commit(list(unsaved.values()))

    def forget(self, client_order_id: str) -> None:
        """A withdrawn order: its record is not to be written."""
        self._unsaved.pop(client_order_id, None)

    def close(self) -> None:
        """A last try for what a failed write left, then the store closes."""
        self.write([], now=True)
        self.store.close()

    def _commit(self, records: list[OrderRecord]) -> bool:
        started = self._monotonic()
        staged = self._staged
        try:
            if staged:
                self._save_with_meta(records, {key: value() for key, value in staged.items()})
            else:
                self.store.save(records)
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(f"journal write: {exc!r}")
            unsaved = self._unsaved
            for rec in records:
                unsaved[rec.client_order_id] = rec
            self._failed(error)
            return False
        self.commits += 1
        if self.commit_seconds is not None:
            self.commit_seconds(self._monotonic() - started)
        self._unsaved.clear()
        staged.clear()
        if self._failures:
            self._failures = 0
            self._event("WRITE_RECOVERED", "the journal is written again")
        self._report()
        return True

    def _save_with_meta(self, records: list[OrderRecord], meta: Mapping[str, str]) -> None:
        """Records and meta values in one transaction; a store without ``save_with_meta``
        gets the values first, then the records (two commits)."""
        both = getattr(self.store, "save_with_meta", None)
        if both is not None:
            both(records, meta)
            return
        store = self.store
        for key, value in meta.items():
            store.set_meta(key, value)
        self._staged.clear()  # written: a failure of the records below retries only those
        if records:
            store.save(records)

    def _failed(self, exc: StoreError) -> None:
        """Count a failed write; the first of a streak is reported as an event."""
        self.error = str(exc)
        self.write_failures += 1
        failures = self._failures
        self._failures = failures + 1
        delay = _JOURNAL_RETRY_S[min(failures, len(_JOURNAL_RETRY_S) - 1)]
        self._retry_at = self._monotonic() + delay
        if failures == 0:
            log.warning("journal write failed: %s", exc)
            self._event("WRITE_FAILED", str(exc))

    def _report(self) -> None:
        """Publish what the store found wrong with the journal (damage, a lost log)."""
        notes = self._notes
        if notes is None:
            return
        try:
            found = notes()
        except Exception as exc:
            found = [f"the journal could not be checked: {exc!r}"]
        for text in found:
            log.warning("%s", text)
            self._event("DAMAGED", text)

    def _event(self, kind: str, message: str) -> None:
        path = getattr(self.store, "path", "")
        self._publish(
            [
                ev.JournalWarning(
                    ts_init=self._clock(),
                    kind=kind,
                    path=str(path),
                    message=message,
                    pending=len(self._unsaved),
                )
            ]
        )
