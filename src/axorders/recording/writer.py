"""The recorder: writes what goes in and out of a session to rotating zstd JSON Lines files.

:meth:`Recorder.record` is called on the event loop's thread for every frame, command, tick and
event: it only appends a tuple to a bounded buffer (no lock, no encoding, no system call) and
never raises. One background thread wakes every ``flush_interval`` seconds, encodes what was
buffered (msgspec JSON), compresses it (a zstd stream) and writes it, then flushes the zstd
stream (a whole block) and the file: a process killed at any moment loses at most the last
interval, and a file cut anywhere reads back to its last whole record.

A disk that is full, slow or unwritable never reaches the caller: records are dropped and
counted (:attr:`Recorder.dropped`), and ``on_warning`` hears once per streak of failures.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final

import msgspec
import zstandard

from axorders.recording.format import (
    DEFAULT_PAYLOAD_FIELD,
    FILE_PATTERN,
    FRAME_KINDS,
    PAYLOAD_FIELDS,
    RESERVED,
    encode_bytes,
    encode_value,
    fast_taggable,
    file_name,
    make_header,
    prepare,
    scrub_settings,
    tagged_json,
)

__all__ = ["DEFAULT_MAX_BYTES", "Recorder", "RecorderStats", "WarningHandler"]


class _FrameLine(msgspec.Struct, gc=False):
    """A frame's line, encoded by msgspec in C (the common case: UTF-8 text, no extra field)."""

    ts: int
    kind: str
    data: str


class _EventLine(msgspec.Struct, gc=False, omit_defaults=True):
    """An event's line: the event is a tagged Struct, encoded by msgspec in C with its tag."""

    ts: int
    kind: str
    event: Any
    origin: str | None = None


_Item = tuple[str, int, object, dict[str, object]] | _FrameLine | _EventLine
"""A queued record: its parts, or its line already built (frames and events)."""


def _fast_line(item: tuple[str, int, object, dict[str, object]]) -> object | None:
    """The line of the records trading makes most of (frames and events), as a Struct that
    msgspec encodes without the interpreter's help; None for any other record. On a thread
    that shares the interpreter with trading, this is most of what recording costs."""
    kind, ts, payload, fields = item
    if kind == "event":
        if not isinstance(payload, msgspec.Struct) or type(payload).__struct_config__.tag is None:
            return None
        if not fields:
            return _EventLine(ts, kind, payload)
        if len(fields) == 1 and type(fields.get("origin")) is str:
            return _EventLine(ts, kind, payload, fields["origin"])  # type: ignore[arg-type]
        return None
    if type(payload) is bytes and not fields and kind in FRAME_KINDS:
        try:
            return _FrameLine(ts, kind, payload.decode())
        except UnicodeDecodeError:
            return None
    return None


log = logging.getLogger("axorders.recording")

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
WarningHandler = Callable[[str, str], None]
"""``on_warning(kind, message)``: kind is ``WRITE_FAILED``, ``WRITE_RECOVERED`` or ``DROPPED``."""

_DAY_NS: Final = 86_400 * 1_000_000_000
_CHUNK: Final = 1 << 20  # uncompressed bytes written between two size checks
_RETRY_FIRST: Final = 0.25  # seconds before the first retry after a failed write
_RETRY_MAX: Final = 5.0
_SLICE: Final = 1024  # records encoded between two offers of the GIL


class RecorderStats(msgspec.Struct, frozen=True, kw_only=True):
    """The recorder's counters.

    Attributes:
        written: records written (file headers not counted).
        dropped: records dropped: the buffer was full, the recorder was closed, or the disk
            failed.
        bytes_written: compressed bytes written, over all files.
        files: files started.
        path: the file being written (None when none is open).
        pending: records waiting in the buffer.
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
        buffer: the most records held in memory; beyond it new records are dropped (counted).
        on_warning: hears ``(kind, message)`` once per streak of failures. **It is called
            from the writer thread**: hand it over to the event loop with
            ``loop.call_soon_threadsafe`` (or make it otherwise thread-safe). Without it, the
            warnings are logged (logger ``axorders.recording``).
        clock: wall time in Unix ns; names the files, stamps the headers and rotates by day.
        level: the zstd compression level.

    Payloads must not change once recorded: they are encoded later, on the writer thread.
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
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if keep is not None and keep < 1:
            raise ValueError("keep must be at least 1 (or None to keep every file)")
        if not flush_interval > 0:
            raise ValueError("flush_interval must be greater than zero")
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        try:
            __version__ = importlib.metadata.version("axorders")
        except importlib.metadata.PackageNotFoundError:  # run from a source tree
            __version__ = "unknown"

        self.directory = Path(directory)
        self.process = secrets.token_hex(8)
        """A random id of this recorder, the same in all its files."""
        # Copied (and cleaned) now: the caller's dicts may change later.
        self._settings = scrub_settings(encode_value(dict(settings)))
        self._instruments = encode_value(list(instruments))
        self._version = __version__
        self._max_bytes = max_bytes
        self._rotate_daily = rotate_daily
        self._keep = keep
        self._interval = flush_interval
        self._on_warning = on_warning
        self._clock = clock
        self._cctx = zstandard.ZstdCompressor(level=level)
        self._encoder = msgspec.json.Encoder()

        # Shared with the recording thread: the buffer (a deque: append and popleft are
        # atomic), its bound, and the count of records refused (written by that thread only).
        self._queue: deque[_Item | threading.Event]
        self._queue = deque()
        self._limit = buffer
        self._buffer = buffer
        self._refused = 0

        # Written by the writer thread only.
        self._failed = 0  # records lost to disk failures
        self._written = 0
        self._bytes = 0
        self._files = 0
        self._seq = 0
        self._path: Path | None = None
        self._fh: BinaryIO | None = None
        self._zw: Any = None  # zstandard's stream writer
        self._file_bytes = 0
        self._day_end = 0
        self._failing = False
        self._streak_dropped = 0
        self._retry_at = 0.0
        self._retry_delay = _RETRY_FIRST
        self._refused_seen = 0
        self._refused_open: int | None = None
        self._overflowing = False

        self._wake = threading.Event()
        self._closing = False
        self._closed = False
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
        try:
            queue = self._queue
            if len(queue) < self._limit:
                queue.append((kind, ts, payload, fields))
            else:
                self._refused += 1
        except Exception:  # pragma: no cover - nothing here raises short of MemoryError
            self._refused += 1

    def record_frame(self, kind: str, ts: int, data: bytes, /) -> None:
        """:meth:`record` of a frame (``in``, ``out``, ``md``), its line built now: the
        writer thread then only encodes it (trading's most frequent records cost the
        interpreter least). O(1), never blocks or raises."""
        try:
            line: _Item = _FrameLine(ts, kind, data.decode())
        except Exception:  # not UTF-8 (or not bytes): the general path says how
            self.record(kind, ts, data)
            return
        queue = self._queue
        if len(queue) < self._limit:
            queue.append(line)
        else:
            self._refused += 1

    def record_event(self, ts: int, event: object, origin: str | None = None, /) -> None:
        """:meth:`record` of an event (a tagged Struct: every event of
        :mod:`axorders.events`), its line built now. O(1), never blocks or raises."""
        if not isinstance(event, msgspec.Struct) or type(event).__struct_config__.tag is None:
            if origin is None:
                self.record("event", ts, event)
            else:
                self.record("event", ts, event, origin=origin)
            return
        queue = self._queue
        if len(queue) < self._limit:
            queue.append(_EventLine(ts, "event", event, origin))
        else:
            self._refused += 1

    @property
    def dropped(self) -> int:
        """Records dropped so far (buffer full, recorder closed, or disk failures)."""
        return self._refused + self._failed

    def stats(self) -> RecorderStats:
        """The recorder's counters."""
        path = self._path
        return RecorderStats(
            written=self._written,
            dropped=self.dropped,
            bytes_written=self._bytes,
            files=self._files,
            path=None if path is None else str(path),
            pending=len(self._queue),
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything recorded so far is written (or dropped). For tests and for
        an orderly shutdown: this blocks."""
        if self._closing or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is buffered, close the file and stop the writer thread (waiting at most
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

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closing
            self._cycle()
            if closing:
                break
        self._cycle()  # anything appended while closing
        try:
            self._end_file()
        except Exception as exc:
            self._fail(exc, 0)

    def _cycle(self) -> None:
        queue = self._queue
        batch: list[_Item] = []
        waiters: list[threading.Event] = []
        for _ in range(len(queue)):
            item = queue.popleft()
            if isinstance(item, threading.Event):
                waiters.append(item)
            else:
                batch.append(item)
        self._check_overflow()
        if batch:
            self._write(batch)
        for waiter in waiters:
            waiter.set()

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

    def _write(self, batch: list[_Item]) -> None:
        if self._failing and time.monotonic() < self._retry_at:
            self._failed += len(batch)
            self._streak_dropped += len(batch)
            return
        written = 0
        try:
            data = self._encode(batch)
            now = self._clock()
            if self._zw is not None and self._rotate_daily and now >= self._day_end:
                self._end_file()
            index = 0
            while index < len(data):
                if self._zw is None:
                    self._open(now)
                zw = self._zw
                size = count = 0
                while index < len(data) and size < _CHUNK:  # about _CHUNK bytes per block
                    text, n = data[index]
                    zw.write(text)
                    size += len(text)
                    count += n
                    index += 1
                zw.flush(zstandard.FLUSH_BLOCK)
                self._flush_file()
                written += count
                self._written += count
                if self._file_bytes >= self._max_bytes:
                    self._end_file()
        except Exception as exc:  # a disk failure, or a bug: never stop recording
            self._fail(exc, len(batch) - written)
            return
        if self._failing:
            self._failing = False
            self._retry_delay = _RETRY_FIRST
            self._warn(
                "WRITE_RECOVERED",
                f"the recording is written again ({self._path or self.directory});"
                f" records dropped while it could not be: {self._streak_dropped}",
            )
            self._streak_dropped = 0

    def _flush_file(self) -> None:
        fh = self._fh
        assert fh is not None
        fh.flush()
        position = fh.tell()
        self._bytes += position - self._file_bytes
        self._file_bytes = position

    def _encode(self, batch: list[_Item]) -> list[tuple[bytes, int]]:
        """The batch as JSON lines, in pieces of at most ``_SLICE`` records: (text, count)."""
        line_of = self._line
        pieces = []
        for start in range(0, len(batch), _SLICE):
            if start:
                # Let the event loop's thread take the GIL if it waits for it: encoding a
                # large batch must not hold it for long.
                time.sleep(0)
            part = batch[start : start + _SLICE]
            try:
                text = self._encoder.encode_lines(
                    [
                        (_fast_line(item) or line_of(*item)) if type(item) is tuple else item
                        for item in part
                    ]
                )
            except Exception:
                text = b"".join(self._encode_one(item) for item in part)
            pieces.append((text, len(part)))
        return pieces

    def _encode_one(self, item: _Item) -> bytes:
        encode = self._encoder.encode
        if isinstance(item, _FrameLine):
            item = (item.kind, item.ts, item.data, {})
        elif isinstance(item, _EventLine):
            item = (
                item.kind,
                item.ts,
                item.event,
                {} if item.origin is None else {"origin": item.origin},
            )
        try:
            return encode(self._line(*item)) + b"\n"
        except Exception as exc:
            # Never the payload in the file or a message: only what could not be encoded.
            kind, ts = item[0], item[1]
            error = {
                "ts": ts if isinstance(ts, int) else 0,
                "kind": kind if isinstance(kind, str) else "?",
                "error": f"not recorded: {type(exc).__name__}",
            }
            return encode(error) + b"\n"

    @staticmethod
    def _line(kind: str, ts: int, payload: object, fields: dict[str, object]) -> dict[str, Any]:
        obj: dict[str, Any]
        if kind in FRAME_KINDS:
            if type(payload) is bytes:
                try:
                    data: object = payload.decode()
                except UnicodeDecodeError:
                    data = encode_bytes(payload)
            elif type(payload) is str or payload is None:
                data = payload
            elif isinstance(payload, bytes | bytearray | memoryview):
                data = encode_bytes(payload)
            else:
                data = prepare(payload)
            obj = (
                {"ts": ts, "kind": kind} if data is None else {"ts": ts, "kind": kind, "data": data}
            )
        elif kind == "event":
            obj = {"ts": ts, "kind": kind}
            if payload is not None:
                # Its text (str(event)) is made when the recording is read: 7 µs an event
                # here, on a thread that shares the interpreter with trading. An event is
                # encoded by msgspec in one call (tagged_json), its JSON embedded as it is.
                obj["event"] = (
                    msgspec.Raw(tagged_json(payload))
                    if isinstance(payload, msgspec.Struct)
                    else prepare(payload)
                )
        else:
            if kind == "header":  # the first line of a file only
                kind = "header?"
            obj = {"ts": ts, "kind": kind}
            if payload is not None:
                obj[PAYLOAD_FIELDS.get(kind, DEFAULT_PAYLOAD_FIELD)] = (
                    msgspec.Raw(tagged_json(payload))
                    if kind == "cmd" and fast_taggable(payload)
                    else prepare(payload)
                )
        if fields:
            for key, value in fields.items():
                if key not in RESERVED and key not in obj:
                    obj[key] = prepare(value)
        return obj

    def _open(self, now: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        seq = self._seq + 1
        ts = now
        while True:
            path = self.directory / file_name(ts, seq)
            try:
                fh = open(path, "xb")  # noqa: SIM115 - closed by _end_file / _abandon
            except FileExistsError:
                ts += 1000  # another recorder started in the same microsecond
                continue
            break
        header = make_header(
            ts=ts,
            settings=self._settings,
            instruments=self._instruments,
            process=self.process,
            seq=seq,
            version=self._version,
        )
        try:
            zw = self._cctx.stream_writer(fh, closefd=False)
            zw.write(self._encoder.encode(header) + b"\n")
            zw.flush(zstandard.FLUSH_BLOCK)
            fh.flush()
        except BaseException:
            # No half-written header is left behind: such a file could not be read.
            _quietly(fh.close)
            _quietly(lambda: path.unlink(missing_ok=True))
            raise
        self._seq = seq
        self._fh = fh
        self._zw = zw
        self._path = path
        self._files += 1
        self._file_bytes = fh.tell()
        self._bytes += self._file_bytes
        self._day_end = (ts // _DAY_NS + 1) * _DAY_NS
        self._retain(path)

    def _end_file(self) -> None:
        """Close the current file properly (the zstd frame is ended)."""
        if self._zw is None:
            return
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._flush_file()
        assert self._fh is not None
        self._fh.close()
        self._zw = None
        self._fh = None
        self._path = None
        self._file_bytes = 0

    def _abandon(self) -> None:
        """Let go of a file a write failed on (it reads back to its last whole record)."""
        fh = self._fh
        self._zw = None
        self._fh = None
        self._path = None
        self._file_bytes = 0
        if fh is not None:
            _quietly(fh.close)

    def _fail(self, exc: BaseException, count: int) -> None:
        self._abandon()
        self._failed += count
        self._streak_dropped += count
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, _RETRY_MAX)
        if self._failing:
            return
        self._failing = True
        if isinstance(exc, OSError):
            reason = exc.strerror or type(exc).__name__
        else:
            reason = f"unexpected {type(exc).__name__}"
        self._warn(
            "WRITE_FAILED",
            f"cannot write the recording in {self.directory}: {reason};"
            " records are dropped (and counted) until a write works again",
        )

    def _retain(self, current: Path) -> None:
        if self._keep is None:
            return
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if FILE_PATTERN.match(entry.name) and entry.is_file(follow_symlinks=False)
            )
        except OSError:
            return
        for name in names[: max(0, len(names) - self._keep)]:
            if name != current.name:
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink(missing_ok=True)

    def _warn(self, kind: str, message: str) -> None:
        handler = self._on_warning
        with contextlib.suppress(Exception):
            if handler is None:
                log.warning("recording %s: %s", kind, message)
            else:
                handler(kind, message)


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        action()
