"""The client's order journal: records are committed before the frames that depend on them.

A command whose records cannot be written is withdrawn (nothing of it is sent, the caller gets
:class:`~axorders.exceptions.StoreError`); a change the venue drove has already happened, so
its records stay queued, the frames after it are held, and the write is retried with a
bounded backoff. ``JournalWarning`` events report a failing, recovered or damaged journal.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Final

from axorders import events as ev
from axorders.clientbase import ClientBase, now_ns
from axorders.commands import Command, PlaceOrder
from axorders.exceptions import InvalidStateError, StoreError
from axorders.model import RequestId
from axorders.state import OrderRecord
from axorders.store import Durability, OrderStore, SqliteOrderStore

__all__ = ["Journaling"]

log = logging.getLogger("axorders.client")

_JOURNAL_RETRY_S: Final = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Waits between retries of a failed journal write (the last one repeats)."""


class Journaling(ClientBase):
    """Journal writes, and commands sent only once what they changed is journaled."""

    def _init_journal(self, store: OrderStore | str | Path | None, durability: Durability) -> None:
        if isinstance(store, str | Path):
            store = SqliteOrderStore(store, durability=durability)
        self.store = store
        # Records changed but not yet journaled, and the streak of failed writes.
        self._unsaved = {}
        self._journal_failures = 0
        self._journal_retry_at = 0.0
        self._journal_notes = getattr(store, "take_warnings", None)
        self._journal_checked = False
        self._journal_error = ""

    def _send(self, command: Command) -> RequestId | None:
        """Queue ``command``'s frames through the session and send them once journaled.

        With a journal, the records the command changed (and any still queued from a failed
        write) are committed first, at once; a command that changed no record (a cancel, a
        query) is sent without waiting for them. When that commit fails the command is withdrawn:
        none of its frames is sent, its request resolves LOCAL, a place ends in a LOCAL
        :class:`~axorders.events.OrderRejected` (``JOURNAL_WRITE_FAILED``) and is forgotten,
        and the caller gets :class:`StoreError`. A purely local change (an armed stop canceled
        or amended) stands in memory and its record is retried with the others.
        """
        if self._closed:
            raise InvalidStateError("the client is closed")
        if self._batch_now:
            # Messages of a socket read wait for their pump: their events and records come
            # first, as if each had been pumped on arrival.
            self._end_batch()
        session = self.session
        if self.store is None:
            try:
                rid = session.send(command, now_ns())
            finally:
                self._pump()
            return rid
        mark = session.journal_mark()
        try:
            rid = session.send(command, now_ns())
        except BaseException:
            self._pump()
            raise
        own = session.take_changed()
        if not own:
            # Its frames depend on no new record (a cancel, a query): they leave now, even
            # ahead of frames still held for a failed write.
            if self._unsaved and self._login.is_set():
                self._send_frames(session.frames_since(mark))
            self._pump()
            return rid
        unsaved = self._unsaved
        for rec in own:
            unsaved[rec.client_order_id] = rec
        if self._journal_write(now=True):
            self._pump()
            return rid
        text = "the order journal could not be written; nothing was sent"
        place = command.client_order_id if isinstance(command, PlaceOrder) else None
        gone = session.withdraw(mark, now_ns(), text, place=str(place) if place else None)
        if gone is not None:
            self._unsaved.pop(gone.client_order_id, None)
        self._pump()
        raise StoreError(f"{text} (the journal says: {self._journal_error})")

    def _journal_write(self, *, now: bool = False) -> bool:
        """Commit the changed records; True when nothing is left unjournaled.

        Never raises. After a failure the write is tried again by the timer (every pump
        checks whether the backoff has passed) or at once by a command (``now``).
        """
        if not self._journal_checked:
            self._journal_checked = True
            self._journal_report()
        unsaved = self._unsaved
        changed = self.session.take_changed()
        if changed:
            if not unsaved and not self._journal_failures:
                return self._journal_commit(changed)
            for rec in changed:
                unsaved[rec.client_order_id] = rec
        if not unsaved:
            return True
        if self._journal_failures and not now and time.monotonic() < self._journal_retry_at:
            return False
        return self._journal_commit(list(unsaved.values()))

    def _journal_commit(self, records: list[OrderRecord]) -> bool:
        store = self.store
        assert store is not None
        try:
            store.save(records)
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(f"journal write: {exc!r}")
            unsaved = self._unsaved
            for rec in records:
                unsaved[rec.client_order_id] = rec
            self._journal_failed(error)
            return False
        self._unsaved.clear()
        if self._journal_failures:
            self._journal_failures = 0
            self._journal_event("WRITE_RECOVERED", "the journal is written again")
        self._journal_report()
        return True

    def _journal_failed(self, exc: StoreError) -> None:
        """Count a failed write; the first of a streak is reported as an event."""
        self._journal_error = str(exc)
        failures = self._journal_failures
        self._journal_failures = failures + 1
        delay = _JOURNAL_RETRY_S[min(failures, len(_JOURNAL_RETRY_S) - 1)]
        self._journal_retry_at = time.monotonic() + delay
        if failures == 0:
            log.warning("journal write failed: %s", exc)
            self._journal_event("WRITE_FAILED", str(exc))

    def _journal_report(self) -> None:
        """Publish what the store found wrong with the journal (damage, a lost log)."""
        notes = self._journal_notes
        if notes is None:
            return
        try:
            found = notes()
        except Exception as exc:
            found = [f"the journal could not be checked: {exc!r}"]
        for text in found:
            log.warning("%s", text)
            self._journal_event("DAMAGED", text)

    def _journal_event(self, kind: str, message: str) -> None:
        path = getattr(self.store, "path", "")
        self._publish(
            [
                ev.JournalWarning(
                    ts_init=now_ns(),
                    kind=kind,
                    path=str(path),
                    message=message,
                    pending=len(self._unsaved),
                )
            ]
        )
