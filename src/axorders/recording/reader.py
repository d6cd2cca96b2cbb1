"""Reading a recording back: files, or folders of them, in time order.

A file cut off anywhere (mid-line, or inside the compressed stream, as a killed process leaves
it) reads back to its last whole record; the cut is reported to ``on_damage`` when one is
given. A file that is not a recording (not zstd, not JSON lines, no header, another format, a
newer version) raises :class:`~axorders.exceptions.RecordingError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

import msgspec
import zstandard

from axorders.exceptions import RecordingError
from axorders.recording.format import FORMAT_NAME, FORMAT_VERSION, SUFFIX

__all__ = ["DamageHandler", "Record", "Recording", "read_header", "read_records"]

DamageHandler = Callable[[str], None]
"""Hears one plain sentence per damaged file (cut off, or its tail unreadable)."""

PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]

_READ_SIZE: Final = 1 << 16
_MAGIC: Final = b"\x28\xb5\x2f\xfd"  # the start of a zstd frame


class Record(msgspec.Struct, frozen=True, gc=False):
    """One line of a recording.

    Attributes:
        ts: Unix ns (for a header: when its file was started).
        kind: ``header``, ``in``, ``out``, ``event``, ``cmd``...
        fields: the whole line as decoded JSON (``ts`` and ``kind`` included).
        file: the file it was read from.
        line: its line number in that file (1 for the header).
    """

    ts: int
    kind: str
    fields: dict[str, Any]
    file: str
    line: int


def _expand(paths: PathsLike) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.glob(f"*{SUFFIX}") if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise RecordingError(f"{path}: no such file or directory")
    return files


def _chunks(path: Path, fh: BinaryIO) -> Iterator[bytes]:
    """The decompressed text of a file, piece by piece; a damaged or cut tail ends it
    (damage is raised as :class:`_Damage` after the last good piece)."""
    dctx = zstandard.ZstdDecompressor()
    dobj = dctx.decompressobj()
    fed = False  # data went into ``dobj`` and its frame has not ended yet
    offset = 0  # compressed bytes read
    produced = 0  # text bytes yielded
    while True:
        try:
            raw = fh.read(_READ_SIZE)
        except OSError as exc:
            raise RecordingError(f"{path}: {exc.strerror or exc}") from None
        if not raw:
            break
        if offset == 0 and not (raw.startswith(_MAGIC) or _MAGIC.startswith(raw)):
            raise RecordingError(f"{path}: not a zstd-compressed recording")
        offset += len(raw)
        data = raw
        while data:
            try:
                out = dobj.decompress(data)
            except zstandard.ZstdError as exc:
                # Damage in this piece: decode it again, a byte at a time, to keep what comes
                # before the damage.
                yield from _salvage(dctx, fh, offset, produced)
                raise _Damage(f"unreadable ({exc})") from None
            if out:
                produced += len(out)
                yield out
            if dobj.eof:  # a frame ended; another may follow
                data = dobj.unused_data
                dobj = dctx.decompressobj()
                fed = False
            else:
                data = b""
                fed = True
    if fed:
        raise _Damage("not closed (cut off, or still being written)")


def _salvage(
    dctx: zstandard.ZstdDecompressor, fh: BinaryIO, end: int, produced: int
) -> Iterator[bytes]:
    """The text after the first ``produced`` bytes that the first ``end`` compressed bytes
    give, fed a byte at a time near the end, up to the first error."""
    fh.seek(0)
    data = fh.read(end)
    dobj = dctx.decompressobj(read_across_frames=True)
    start = max(0, end - _READ_SIZE)
    try:
        skip = len(dobj.decompress(data[:start])) if start else 0
    except zstandard.ZstdError:
        return
    for index in range(start, len(data)):
        try:
            out = dobj.decompress(data[index : index + 1])
        except zstandard.ZstdError:
            return
        if not out:
            continue
        if skip + len(out) > produced:
            yield out[max(0, produced - skip) :]
        skip += len(out)


class _Damage(Exception):
    pass


def _lines(path: Path, on_damage: DamageHandler | None) -> Iterator[tuple[int, bytes]]:
    """The whole lines of a file, numbered from 1; stops at a cut."""
    lineno = 0
    pieces: list[bytes] = []  # the line being assembled
    damage = ""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordingError(f"{path}: {exc.strerror or exc}") from None
    with fh:
        chunks = _chunks(path, fh)
        while True:
            try:
                chunk = next(chunks, b"")
            except _Damage as exc:
                damage = str(exc)
                break
            if not chunk:
                break
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    if start < len(chunk):
                        pieces.append(chunk[start:])
                    break
                if pieces:
                    pieces.append(chunk[start:end])
                    line = b"".join(pieces)
                    pieces = []
                else:
                    line = chunk[start:end]
                lineno += 1
                yield lineno, line
                start = end + 1
    if pieces:
        damage = f"cut off inside line {lineno + 1}" + (f", {damage}" if damage else "")
    if damage and on_damage is not None:
        on_damage(f"{path}: {damage}; read up to line {lineno}")


def _decode_header(path: Path, line: bytes) -> dict[str, Any]:
    try:
        header = msgspec.json.decode(line)
    except msgspec.DecodeError:
        raise RecordingError(f"{path}: not a recording (its first line is not JSON)") from None
    if not isinstance(header, dict) or header.get("kind") != "header":
        raise RecordingError(f"{path}: not a recording (no header line)")
    name = header.get("format")
    if name != FORMAT_NAME:
        raise RecordingError(f"{path}: not an axorders recording (format {name!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"{path}: malformed header (version {version!r})")
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"{path}: recording format version {version} is newer than this axorders reads"
            f" ({FORMAT_VERSION}); upgrade axorders"
        )
    ts = header.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise RecordingError(f"{path}: malformed header (ts {ts!r})")
    return header


def read_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The header of one recording file; None for an empty file (a recorder that was stopped
    before it wrote anything).

    Raises:
        RecordingError: not a recording, or cut off before the end of its header.
    """
    file = Path(path)
    for _, line in _lines(file, None):
        return _decode_header(file, line)
    try:
        empty = file.stat().st_size == 0
    except OSError as exc:
        raise RecordingError(f"{file}: {exc.strerror or exc}") from None
    if empty:
        return None
    raise RecordingError(f"{file}: cut off or damaged before the end of its header (beyond repair)")


def _records(path: Path, on_damage: DamageHandler | None) -> Iterator[Record]:
    name = str(path)
    lines = _lines(path, on_damage)
    for lineno, line in lines:
        if lineno == 1:
            header = _decode_header(path, line)
            yield Record(header["ts"], "header", header, name, 1)
            continue
        if not line.strip():
            continue
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError:
            raise RecordingError(f"{path}: line {lineno} is not JSON") from None
        if not isinstance(obj, dict):
            raise RecordingError(f"{path}: line {lineno} is not a JSON object")
        ts = obj.get("ts")
        kind = obj.get("kind")
        if not isinstance(ts, int) or isinstance(ts, bool) or not isinstance(kind, str):
            raise RecordingError(f"{path}: line {lineno} has no integer ts or no kind")
        yield Record(ts, kind, obj, name, lineno)


def read_records(paths: PathsLike, *, on_damage: DamageHandler | None = None) -> Iterator[Record]:
    """The records of one file, several, or a folder (every ``*.jsonl.zst`` in it), in time
    order: files by their header's time, then by their number in the process that wrote them.

    Each file starts with its header record (kind ``header``): a new ``process`` id in a
    header is a restart. Every header is checked before the first record is yielded.

    Args:
        paths: a file or folder, or several.
        on_damage: hears one plain sentence per file that is cut off or whose tail cannot
            be read (its whole records are yielded all the same), or that is empty.

    Raises:
        RecordingError: a path is missing, or a file is not a recording, is of a newer
            format version, holds a line that is not a JSON object, or is cut off before the
            end of its header.
    """
    files: list[tuple[int, int, str, Path]] = []
    for path in _expand(paths):
        header = read_header(path)
        if header is None:
            if on_damage is not None:
                on_damage(f"{path}: empty file (skipped)")
            continue
        seq = header.get("seq")
        files.append((header["ts"], seq if isinstance(seq, int) else 0, str(path), path))
    files.sort(key=lambda item: item[:3])
    for _, _, _, path in files:
        yield from _records(path, on_damage)


class Recording:
    """A recording that can be read more than once (each iteration reads the files again).

    >>> for record in Recording("recordings/"): ...  # doctest: +SKIP
    """

    def __init__(self, paths: PathsLike, *, on_damage: DamageHandler | None = None) -> None:
        self.paths: list[str | os.PathLike[str]] = (
            [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        )
        self.on_damage = on_damage

    def __iter__(self) -> Iterator[Record]:
        return read_records(self.paths, on_damage=self.on_damage)
