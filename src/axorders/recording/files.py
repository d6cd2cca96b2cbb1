"""The recording's files: JSON lines in, rotating zstd files out, and a disk that may fail.

:class:`RecordingFiles` is the writing half of the recorder, the same in the recording
process and on the recorder's own thread. It takes pieces of JSON lines, compresses them
(a zstd stream), writes them and flushes a whole block after each piece, so that a file cut
anywhere reads back to its last whole record. It starts a new file by size and by UTC day and
keeps the newest ``keep`` files. A write that fails drops its records (counted), warns once
per streak, and is tried again after a growing pause.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final

import msgspec
import zstandard

from axorders.recording.format import FILE_PATTERN, file_name, make_header

__all__ = ["FileSettings", "RecordingFiles"]

_DAY_NS: Final = 86_400 * 1_000_000_000
_CHUNK: Final = 1 << 20  # uncompressed bytes written between two size checks
_RETRY_FIRST: Final = 0.25  # seconds before the first retry after a failed write
_RETRY_MAX: Final = 5.0


class FileSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the files need to know (also sent to the recording process as it starts).

    ``settings`` and ``instruments`` are already encoded (JSON-able) and cleaned of secrets.
    """

    directory: str
    settings: dict[str, Any]
    instruments: list[Any]
    process: str
    version: str
    max_bytes: int
    rotate_daily: bool
    keep: int | None
    level: int


class RecordingFiles:
    """Writes pieces of JSON lines to the recording's files (see the module's docstring).

    ``warn(kind, message)`` hears ``WRITE_FAILED`` and ``WRITE_RECOVERED``, once per streak.
    ``clock`` is wall time in Unix ns: it names the files and rotates them by day.
    """

    def __init__(
        self,
        settings: FileSettings,
        warn: Callable[[str, str], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.directory = Path(settings.directory)
        self._warn = warn
        self._clock = clock
        self._cctx = zstandard.ZstdCompressor(level=settings.level)
        self._encoder = msgspec.json.Encoder()
        self.written = 0
        """Records written (headers not counted)."""
        self.failed = 0
        """Records lost to failed writes."""
        self.bytes = 0
        """Compressed bytes written, over all files."""
        self.files = 0
        """Files started."""
        self.path: Path | None = None
        """The file being written."""
        self._seq = 0
        self._fh: BinaryIO | None = None
        self._zw: Any = None  # zstandard's stream writer
        self._file_bytes = 0
        self._day_end = 0
        self._failing = False
        self._streak_dropped = 0
        self._retry_at = 0.0
        self._retry_delay = _RETRY_FIRST

    def write(self, pieces: list[tuple[bytes, int]]) -> None:
        """Write ``pieces`` (``(text, records)``); never raises."""
        total = sum(count for _, count in pieces)
        if self._failing and time.monotonic() < self._retry_at:
            self.failed += total
            self._streak_dropped += total
            return
        written = 0
        try:
            now = self._clock()
            if self._zw is not None and self.settings.rotate_daily and now >= self._day_end:
                self._end_file()
            index = 0
            while index < len(pieces):
                if self._zw is None:
                    self._open(now)
                zw = self._zw
                size = count = 0
                while index < len(pieces) and size < _CHUNK:  # about _CHUNK bytes per block
                    text, n = pieces[index]
                    zw.write(text)
                    size += len(text)
                    count += n
                    index += 1
                zw.flush(zstandard.FLUSH_BLOCK)
                self._flush_file()
                written += count
                self.written += count
                if self._file_bytes >= self.settings.max_bytes:
                    self._end_file()
        except Exception as exc:  # a disk failure, or a bug: never stop recording
            self._fail(exc, total - written)
            return
        if self._failing:
            self._failing = False
            self._retry_delay = _RETRY_FIRST
            self._warn(
                "WRITE_RECOVERED",
                f"the recording is written again ({self.path or self.directory});"
                f" records dropped while it could not be: {self._streak_dropped}",
            )
            self._streak_dropped = 0

    def close(self) -> None:
        """End the current file properly (never raises)."""
        try:
            self._end_file()
        except Exception as exc:
            self._fail(exc, 0)

    def _flush_file(self) -> None:
        fh = self._fh
        assert fh is not None
        fh.flush()
        position = fh.tell()
        self.bytes += position - self._file_bytes
        self._file_bytes = position

    def _open(self, now: int) -> None:
        settings = self.settings
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
            settings=settings.settings,
            instruments=settings.instruments,
            process=settings.process,
            seq=seq,
            version=settings.version,
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
        self.path = path
        self.files += 1
        self._file_bytes = fh.tell()
        self.bytes += self._file_bytes
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
        self.path = None
        self._file_bytes = 0

    def _abandon(self) -> None:
        """Let go of a file a write failed on (it reads back to its last whole record)."""
        fh = self._fh
        self._zw = None
        self._fh = None
        self.path = None
        self._file_bytes = 0
        if fh is not None:
            _quietly(fh.close)

    def _fail(self, exc: BaseException, count: int) -> None:
        self._abandon()
        self.failed += count
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
        keep = self.settings.keep
        if keep is None:
            return
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if FILE_PATTERN.match(entry.name) and entry.is_file(follow_symlinks=False)
            )
        except OSError:
            return
        for name in names[: max(0, len(names) - keep)]:
            if name != current.name:
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink(missing_ok=True)


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        action()
