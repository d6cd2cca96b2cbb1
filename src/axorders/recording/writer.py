"""The recorder: writes what goes in and out of a session to rotating zstd JSON Lines files.

Its methods are called on the event loop's thread for every frame, command, tick and batch
of events: they only append a tuple to a bounded buffer (no lock, no encoding, no system
call) and never raise. One background thread wakes every ``flush_interval`` seconds and
hands what was buffered to the writer:

* by default, the recording process (:mod:`axorders.recording.process`): the thread packs
  the batch in one msgpack call and writes it to that process, which encodes the JSON,
  compresses and writes the files, so that all of that costs trading's interpreter nothing;
* on the thread itself (``writer="thread"``, or when the process cannot be started or ends):
  the same encoding and files (:mod:`axorders.recording.files`), in this interpreter.

Either way each batch is flushed as a whole zstd block: a process killed at any moment loses
at most the last interval (the recording process writes everything it was sent even when
the trading process is killed), and a file cut anywhere reads back to its last whole record.

A disk that is full, slow or unwritable never reaches the caller: records are dropped and
counted (:attr:`Recorder.dropped`), and ``on_warning`` hears once per streak of failures.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from axorders.recording.files import FileSettings, RecordingFiles
from axorders.recording.format import encode_value, scrub_settings
from axorders.recording.lines import (
    EVENTS,
    Item,
    as_line,
    encode_items,
    pack_slice,
)
from axorders.recording.process import Status, message_head, read_message

__all__ = ["DEFAULT_MAX_BYTES", "Recorder", "RecorderStats", "WarningHandler"]

log = logging.getLogger("axorders.recording")

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
WarningHandler = Callable[[str, str], None]
"""``on_warning(kind, message)``: kind is ``WRITE_FAILED``, ``WRITE_RECOVERED`` or ``DROPPED``."""

_HEAD: Final = 5  # a message's length (4 bytes) and its kind (1)
_PIPE_SIZE: Final = 1 << 20
_SLICE: Final = 1024  # items packed in one msgpack call (the GIL is offered between two)
_CLOSE_WAIT: Final = 1.0  # seconds a closing recorder waits for a process still starting
_START_WAIT: Final = 10.0  # seconds the recording process has to answer, and to end at close


class RecorderStats(msgspec.Struct, frozen=True, kw_only=True):
    """The recorder's counters.

    Attributes:
        written: records written (file headers not counted).
        dropped: records dropped: the buffer was full, the recorder was closed, or the disk
            failed.
        bytes_written: compressed bytes written, over all files.
        files: files started.
        path: the file being written (None when none is open).
        pending: what waits in the buffer: frames, batches of events and other records.
    """

    written: int
    dropped: int
    bytes_written: int
    files: int
    path: str | None
    pending: int


class Recorder:
    """Records a session's inputs and outputs to ``directory``.

    Args:
        directory: the folder of the recording (created when missing).
        settings: the client's settings, JSON-able; written in every file's header. Keys that
            may hold a credential (token, secret, password, authorization...) are dropped.
        instruments: the instruments, JSON-able (or Structs/dataclasses); in every header.
        max_bytes: start a new file once this many compressed bytes went into one.
        rotate_daily: also start a new file when the UTC day changes.
        keep: how many recording files of ``directory`` to keep (the newest, by name);
            None keeps all. Files whose names are not a recorder's are never touched.
        flush_interval: seconds between two writes (and flushes) of the buffer.
        buffer: the most records held in memory (a batch of events counts as one); beyond
            it new records are dropped (counted).
        on_warning: hears ``(kind, message)`` once per streak of failures. **It is called
            from one of the recorder's threads**: hand it over to the event loop with
            ``loop.call_soon_threadsafe`` (or make it otherwise thread-safe). Without it, the
            warnings are logged (logger ``axorders.recording``).
        clock: wall time in Unix ns; names the files, stamps the headers and rotates by day.
            Another clock than the system's keeps the writing in this process.
        level: the zstd compression level.
        writer: ``"process"`` (the default) encodes and writes in the recording process;
            ``"thread"`` on the recorder's thread, in this interpreter.

    Payloads must not change once recorded: they are encoded later, by the writer.
    Events, commands and frames are immutable; pass a copy of anything mutable (the journal's
    :class:`~axorders.state.OrderRecord` objects, say), or its :func:`encode_value`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        settings: Mapping[str, Any],
        instruments: list[Any],
        max_bytes: int = DEFAULT_MAX_BYTES,
        rotate_daily: bool = True,
        keep: int | None = 20,
        flush_interval: float = 0.2,
        buffer: int = 100_000,
        on_warning: WarningHandler | None = None,
        clock: Callable[[], int] = time.time_ns,
        level: int = 3,
        writer: Literal["process", "thread"] = "process",
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if keep is not None and keep < 1:
            raise ValueError("keep must be at least 1 (or None to keep every file)")
        if not flush_interval > 0:
            raise ValueError("flush_interval must be greater than zero")
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        if writer not in ("process", "thread"):
            raise ValueError('writer must be "process" or "thread"')
        try:
            version = importlib.metadata.version("axorders")
        except importlib.metadata.PackageNotFoundError:  # run from a source tree
            version = "unknown"

        self.directory = Path(directory)
        self.process = secrets.token_hex(8)
        """A random id of this recorder, the same in all its files."""
        # Copied (and cleaned) now: the caller's dicts may change later.
        self._files_settings = FileSettings(
            directory=str(self.directory),
            settings=scrub_settings(encode_value(dict(settings))),
            instruments=encode_value(list(instruments)),
            process=self.process,
            version=version,
            max_bytes=max_bytes,
            rotate_daily=rotate_daily,
            keep=keep,
            level=level,
        )
        self._interval = flush_interval
        self._on_warning = on_warning
        self._clock = clock
        self._encoder = msgspec.json.Encoder()

        # Shared with the recorder's thread: the buffer (a deque: append and popleft are
        # atomic), its bound, the flushes asked for, and a count of the records of the
        # general shape (written by the caller's thread only; the recorder's thread counts
        # those it made lines of, and looks for them only when the counts differ).
        self._queue: deque[Item] = deque()
        self._flushes: deque[threading.Event] = deque()
        self._limit = buffer
        self._buffer = buffer
        self._refused = 0
        self._others = 0
        self._others_lined = 0

        self._files: RecordingFiles | None = None  # writing on this process's thread
        self._link: _ProcessLink | None = None  # writing in the recording process
        self._lost = 0  # records the recording process was sent but never wrote
        # What an ended recording process had written, once the thread took over.
        self._link_written = 0
        self._link_bytes = 0
        self._link_files = 0
        self._refused_seen = 0
        self._refused_open: int | None = None
        self._overflowing = False

        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        if writer == "process" and clock is time.time_ns and sys.executable:
            self._link = _ProcessLink.start(self._files_settings, self._warn)
        if self._link is None:
            self._files = RecordingFiles(self._files_settings, self._warn, clock)
        self._thread = threading.Thread(target=self._run, name="axorders-recorder", daemon=True)
        self._thread.start()

    # -- the caller's side -----------------------------------------------------------------

    def record(self, kind: str, ts: int, payload: object = None, /, **fields: object) -> None:
        """Record one thing that went in or out of the session; O(1), never blocks or raises.

        ``kind``: ``"in"``, ``"out"`` or ``"md"`` (``payload``: the frame, text or bytes),
        ``"cmd"`` (a command), ``"event"`` (an event), ``"drop"`` (the reason), ``"rest"``
        (the answer; name the call with ``call=``), ``"restore"`` (journal records),
        ``"tick"``, ``"connect"``, or any other kind (``payload`` is then written as
        ``"payload"``). ``ts``: Unix ns. ``fields``: more fields of the line, encoded likewise.
        """
        queue = self._queue
        if len(queue) < self._limit:
            self._others += 1
            queue.append((kind, ts, payload, fields))
        else:
            self._refused += 1

    def record_frame(self, kind: str, ts: int, data: bytes, /) -> None:
        """:meth:`record` of a frame (``in``, ``out``, ``md``) in its cheapest form: trading's
        most frequent record. O(1), never blocks or raises."""
        queue = self._queue
        if len(queue) < self._limit:
            queue.append((kind, ts, data))
        else:
            self._refused += 1

    def record_events(self, events: Iterable[Any], origin: str | None = None, /) -> None:
        """:meth:`record` of a batch of events (each stamped with its ``ts_init``), in one
        append; ``origin`` is written with each (``"client"``: made by the client, not its
        session). The batch must not change afterwards. O(1), never blocks or raises."""
        queue = self._queue
        try:
            if type(events) is not list and type(events) is not tuple:
                events = tuple(events)  # an iterator, say: taken now
            if len(queue) < self._limit:
                queue.append((EVENTS, origin, events))
            else:
                self._refused += len(events)
        except Exception:  # not iterable: counted, never raised
            self._refused += 1

    def record_event(self, ts: int, event: object, origin: str | None = None, /) -> None:
        """:meth:`record` of one event. O(1), never blocks or raises."""
        if getattr(event, "ts_init", None) == ts:
            self.record_events((event,), origin)
        elif origin is None:
            self.record("event", ts, event)
        else:
            self.record("event", ts, event, origin=origin)

    @property
    def dropped(self) -> int:
        """Records dropped so far (buffer full, recorder closed, or disk failures)."""
        link = self._link
        failed = self._lost + (link.status.failed if link is not None else 0)
        files = self._files
        if files is not None:
            failed += files.failed
        return self._refused + failed

    def stats(self) -> RecorderStats:
        """The recorder's counters."""
        link = self._link
        files = self._files
        written = self._link_written + (files.written if files is not None else 0)
        size = self._link_bytes + (files.bytes if files is not None else 0)
        count = self._link_files + (files.files if files is not None else 0)
        if link is not None:
            status = link.status
            written += status.written
            size += status.bytes
            count += status.files
            path = status.path
        else:
            path = None if files is None or files.path is None else str(files.path)
        return RecorderStats(
            written=written,
            dropped=self.dropped,
            bytes_written=size,
            files=count,
            path=path,
            pending=len(self._queue),
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything recorded so far is written (or dropped). For tests and for
        an orderly shutdown: this blocks."""
        if self._closing or not self._thread.is_alive():
            return
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is buffered, close the file and stop the writer (waiting at most
        ``timeout`` seconds). Records given after this are dropped (counted). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._refused_open = self._refused  # drops after this are the closed recorder's
        self._limit = 0
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the recorder's thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closing
            self._cycle()
            if closing:
                break
        self._cycle()  # anything appended while closing
        link = self._link
        if link is not None:
            # One that has not answered (still starting, or stuck) is given a second, then
            # not waited for: the thread writes what it was sent.
            if link.answered or link.wait_answer(_CLOSE_WAIT):
                link.close(_START_WAIT)
            self._link_ended(link)
        if self._files is not None:
            self._files.close()

    def _cycle(self) -> None:
        flushes = self._flushes
        waiters = [flushes.popleft() for _ in range(len(flushes))]
        # Taken after the flushes: everything recorded before a flush was asked is here.
        queue = self._queue
        popleft = queue.popleft
        batch = [popleft() for _ in range(len(queue))]
        try:
            self._hand_over(batch, waiters)
        except Exception:  # a bug: the batch is counted as lost, the recorder goes on
            log.exception("recording: a batch could not be written")
            self._lost += sum(_records(item) for item in batch)
            for waiter in waiters:
                waiter.set()

    def _hand_over(self, batch: list[Item], waiters: list[threading.Event]) -> None:
        """Send ``batch`` to the recording process, or write it here; ``waiters`` are set
        once it is written (or lost)."""
        self._check_overflow()
        link = self._link
        if link is not None and self._others != self._others_lined:
            # Read after the batch was taken: counts every record of the general shape in it.
            batch = self._lined(batch)
        if link is not None and not link.send_batch(batch, waiters, lambda: self._closing):
            self._link_ended(link)
            link = None
        if link is None:
            if batch:
                assert self._files is not None
                self._files.write(encode_items(self._encoder, batch))
            for waiter in waiters:
                waiter.set()

    def _lined(self, batch: list[Item]) -> list[Item]:
        """The batch with each record of the general shape as its line (as the recording
        process takes them)."""
        encoder = self._encoder
        out: list[Item] = []
        for item in batch:
            if len(item) == 4:
                self._others_lined += 1
                out.append(as_line(encoder, item))
            else:
                out.append(item)
        return out

    def _link_ended(self, link: _ProcessLink) -> None:
        """The recording process ended: what it wrote is kept in the counters, what it was
        sent and did not write is lost (counted), and the writing goes on in this thread."""
        if self._link is not link:
            return
        link.release()
        status = link.status
        if self._files is None:
            self._files = RecordingFiles(self._files_settings, self._warn, self._clock)
        if not link.answered:  # it wrote nothing: what it was sent is written here
            taken, waiting = link.take_back()
            if taken:
                self._files.write(encode_items(self._encoder, taken))
            for waiter in waiting:
                waiter.set()
        lost = link.lost()
        self._lost += lost + status.failed
        self._link_written += status.written
        self._link_bytes += status.bytes
        self._link_files += status.files
        self._link = None
        if self._closing:
            return
        if lost:
            self._warn(
                "DROPPED",
                f"the recording process ended; records lost: {lost};"
                " the recording goes on in this process",
            )
        else:
            log.warning("the recording process ended: the recording goes on in this process")

    def _check_overflow(self) -> None:
        refused = self._refused
        if self._refused_open is not None:  # closed: only the drops of a full buffer count
            refused = min(refused, self._refused_open)
        if refused == self._refused_seen:
            self._overflowing = False
            return
        if not self._overflowing:
            self._overflowing = True
            self._warn(
                "DROPPED",
                f"the recording buffer was full ({self._buffer} records);"
                f" records dropped: {refused - self._refused_seen}",
            )
        self._refused_seen = refused

    def _warn(self, kind: str, message: str) -> None:
        handler = self._on_warning
        with contextlib.suppress(Exception):
            if handler is None:
                log.warning("recording %s: %s", kind, message)
            else:
                handler(kind, message)


def _pipe_size(proc: subprocess.Popen[bytes]) -> int:
    """The capacity of the pipe to ``proc`` (64 KiB when the system does not say)."""
    size = 1 << 16
    if hasattr(fcntl, "F_GETPIPE_SZ") and proc.stdin is not None:
        with contextlib.suppress(OSError, ValueError):
            size = fcntl.fcntl(proc.stdin.fileno(), fcntl.F_GETPIPE_SZ)
    return size


def _records(item: Item) -> int:
    """How many records an item holds."""
    return len(item[2]) if item[0] == EVENTS else 1


class _ProcessLink:
    """The recorder's side of the recording process: sends batches, reads its status."""

    def __init__(self, proc: subprocess.Popen[bytes], warn: Callable[[str, str], None]) -> None:
        self.proc = proc
        self._warn = warn
        self._encoder = msgspec.msgpack.Encoder()
        self._out = bytearray(_HEAD)
        self.status = Status(0, 0, 0, 0, None, 0, 0, [])
        self.unsent = 0  # records of a batch cut short by the process's end
        self._answered = False
        self._started = time.monotonic()
        self._unanswered_bytes = 0
        self._pipe_size = _pipe_size(proc)
        # The slices sent that the process has not said it wrote (by number): what it
        # would lose if it ended now.
        self._inflight: deque[tuple[int, list[Item]]] = deque()
        self._batches = 0
        self._flushes = 0
        self._waiting: dict[int, list[threading.Event]] = {}
        self._lock = threading.Lock()  # between the sending thread and the status reader
        self._alive = True
        self._ready = threading.Event()  # the process answered (or ended)
        self._reader = threading.Thread(
            target=self._read, name="axorders-recorder-status", daemon=True
        )
        self._reader.start()

    @classmethod
    def start(cls, settings: FileSettings, warn: Callable[[str, str], None]) -> _ProcessLink | None:
        """Start the recording process; None when it cannot be (the thread writes then)."""
        root = str(Path(__file__).resolve().parents[2])  # where axorders is imported from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "axorders.recording.process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("recording process not started (%s): recording in this process", exc)
            return None
        if hasattr(fcntl, "F_SETPIPE_SZ") and proc.stdin is not None:
            # Room in the pipe for a whole slice: the thread hands it over and goes on.
            with contextlib.suppress(OSError):
                fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        link = cls(proc, warn)
        if not link._send(msgspec.msgpack.encode(settings)):
            link.close(0.0)
            return None
        return link

    def send_batch(
        self,
        batch: list[Item],
        waiters: list[threading.Event],
        closing: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Send a batch (and, after it, a flush for ``waiters``); False when the process is
        gone (nothing of the batch, nor the waiters, was handed over).

        Slices go at once, even while the process is still starting: the pipe holds them, so
        that a trading process killed early loses nothing. Until the process has answered,
        only what the pipe can hold is sent (a process that never starts would block the
        write); more waits for its answer. One that has not answered within
        ``_START_WAIT``, or by the time the recorder closes (``closing()``), is given up: the
        thread writes instead, the slices it was sent included (it wrote none)."""
        if not self._alive:
            return False
        buffer = self._out
        for start in range(0, len(batch), _SLICE):
            part = batch[start : start + _SLICE]
            # Written after room for the message's head, into a buffer kept from one slice
            # to the next (no new memory to fault in for each).
            pack_slice(self._encoder, part, buffer, _HEAD)
            buffer[:_HEAD] = message_head(len(buffer) - _HEAD + 1, b"b")
            if not self.answered and not self._room_before_answer(len(buffer), closing):
                return self._not_sent(start)
            self._batches += 1
            self._inflight.append((self._batches, part))
            if not self._send_raw(buffer):
                self._inflight.pop()
                if start and self.answered:
                    # What went before was handed over: the rest is lost (counted).
                    self.unsent += sum(_records(item) for item in batch[start:])
                    for waiter in waiters:
                        waiter.set()
                    return True
                return self._not_sent(start)
        if waiters:
            with self._lock:
                self._flushes += 1
                number = self._flushes
                self._waiting[number] = waiters
            # A process gone now has the batch (or lost it, counted): the waiters are
            # released as it ends.
            self._send(b"f" + self._encoder.encode(number))
        return True

    def _not_sent(self, start: int) -> bool:
        """False, for a batch of which nothing was handed over: the slices of it already
        sent (to a process that never answered, so never written) are taken back."""
        for _ in range(start // _SLICE):
            self._inflight.pop()
        return False

    def _room_before_answer(self, size: int, closing: Callable[[], bool]) -> bool:
        """Whether ``size`` more bytes may be sent to a process that has not answered yet:
        at once if the pipe holds them, else once it answers; False when it is given up."""
        if self._unanswered_bytes + size <= self._pipe_size // 2:
            self._unanswered_bytes += size
            return True
        deadline = self._started + _START_WAIT
        while not self._ready.wait(0.05):
            if closing() or time.monotonic() > deadline:
                log.warning("the recording process did not start: recording in this process")
                self.release()
                return False
        return self._alive

    def wait_answer(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) for the process's first answer; whether it came."""
        self._ready.wait(timeout)
        return self._answered

    @property
    def answered(self) -> bool:
        """The process has reported at least once (it runs and reads)."""
        return self._answered

    def close(self, timeout: float) -> None:
        """Ask the process to end its file and stop; wait for it (at most ``timeout``)."""
        self._send(b"c")
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._reader.join(1.0)
        self._ended()

    def release(self) -> None:
        """Let go of an ended process: its pipe, and the process itself (reaped)."""
        self._ended()
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(1.0)
        self._reader.join(1.0)

    def lost(self) -> int:
        """Records sent that the (ended) process never wrote, nor counted as failed."""
        return self.unsent + sum(_records(item) for _, part in self._inflight for item in part)

    def take_back(self) -> tuple[list[Item], list[threading.Event]]:
        """What a process that never answered was sent (it wrote none of it), in order, and
        the flushes waiting for it: for the thread to write, then set."""
        items = [item for _, part in self._inflight for item in part]
        self._inflight.clear()
        with self._lock:
            waiting = [w for ws in self._waiting.values() for w in ws]
            self._waiting.clear()
        return items, waiting

    def _send(self, body: bytes) -> bool:
        return self._send_raw(message_head(len(body), b"") + body)

    def _send_raw(self, message: bytes | bytearray) -> bool:
        stdin = self.proc.stdin
        try:
            assert stdin is not None
            stdin.write(message)
            stdin.flush()
        except (OSError, ValueError, AssertionError):
            self._ended()
            with contextlib.suppress(Exception):
                self.proc.stdin.close()  # type: ignore[union-attr]
            return False
        return True

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        decoder = msgspec.msgpack.Decoder(Status)
        while True:
            try:
                body = read_message(stdout)
                if body is None:
                    break
                status = decoder.decode(body)
            except Exception:
                break
            self.status = status
            self._answered = True
            self._ready.set()
            inflight = self._inflight
            while inflight and inflight[0][0] <= status.batches:
                inflight.popleft()
            for kind, message in status.warnings:
                self._warn(kind, message)
            released: list[threading.Event] = []
            with self._lock:
                for number in [n for n in self._waiting if n <= status.ack]:
                    released.extend(self._waiting.pop(number))
            for waiter in released:
                waiter.set()
            if status.done:
                break
        self._ended()
        with contextlib.suppress(Exception):
            stdout.close()

    def _ended(self) -> None:
        self._alive = False
        self._ready.set()
        if not self._answered:
            return  # what it was sent is written by the thread, which then sets the waiters
        with self._lock:
            waiting = [w for ws in self._waiting.values() for w in ws]
            self._waiting.clear()
        for waiter in waiting:
            waiter.set()
