"""Reading recordings back: order across files and processes, cut-off files, foreign files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard

from axorders.exceptions import RecordingError
from axorders.recording import Recorder, Recording, read_records
from axorders.recording.reader import read_header

T0 = 1_790_228_411_934_693_936


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def recorder(directory: Path, clock: Clock, **kw: Any) -> Recorder:
    return Recorder(directory, settings={}, instruments=[], clock=clock, flush_interval=60, **kw)


def compressed(*lines: Any) -> bytes:
    text = b"".join(
        (line if isinstance(line, bytes) else msgspec.json.encode(line)) + b"\n" for line in lines
    )
    return zstandard.ZstdCompressor().compress(text)


HEADER = {
    "kind": "header",
    "format": "axorders-recording",
    "version": 1,
    "axorders": "0.1.0",
    "ts": T0,
    "settings": {},
    "instruments": [],
    "process": "p",
    "seq": 1,
}


def test_files_of_several_processes_in_time_order(tmp_path: Path) -> None:
    first, second = Clock(T0), Clock(T0 + 10**10)
    a = recorder(tmp_path, first, max_bytes=1)
    b = recorder(tmp_path, second)
    a.record("tick", 1)
    a.flush()
    b.record("tick", 2)
    b.flush()
    first.now = T0 + 2 * 10**10
    a.record("tick", 3)
    a.flush()
    a.close()
    b.close()
    records = list(read_records(tmp_path))
    assert [(r.kind, r.ts if r.kind != "header" else None) for r in records] == [
        ("header", None),
        ("tick", 1),
        ("header", None),
        ("tick", 2),
        ("header", None),
        ("tick", 3),
    ]
    headers = [r for r in records if r.kind == "header"]
    assert [h.fields["process"] for h in headers] == [a.process, b.process, a.process]
    assert [h.fields["seq"] for h in headers] == [1, 1, 2]
    assert headers[0].ts == T0 and headers[0].line == 1
    # The same, given as files in any order; and a Recording reads them again and again.
    paths = sorted(tmp_path.iterdir(), reverse=True)
    assert list(read_records(paths)) == records
    recording = Recording([str(p) for p in paths])
    assert list(recording) == list(recording) == records
    assert records[1].file == str(paths[-1]) and records[1].line == 2


def full_recording(tmp_path: Path) -> tuple[Path, list[int]]:
    clock = Clock()
    rec = recorder(tmp_path, clock)
    expected = []
    for batch in range(8):
        for i in range(25):
            ts = batch * 100 + i
            rec.record("in", ts, f'{{"t":"n","oid":"O-{ts}","pad":"{"x" * (ts % 50)}"}}')
            expected.append(ts)
        rec.flush()
    rec.close()
    (path,) = tmp_path.iterdir()
    return path, expected


def test_a_file_cut_anywhere_reads_to_its_last_whole_record(tmp_path: Path) -> None:
    path, expected = full_recording(tmp_path / "rec")
    data = path.read_bytes()
    cut_path = tmp_path / "cut.jsonl.zst"
    first_readable = None
    previous = -1
    offsets = sorted({*range(0, len(data) + 1, max(1, len(data) // 97)), len(data) - 1})
    for offset in [*range(0, 64), *offsets]:
        cut_path.write_bytes(data[:offset])
        notes: list[str] = []
        try:
            got = [r.ts for r in read_records(cut_path, on_damage=notes.append) if r.kind == "in"]
        except RecordingError as exc:
            assert first_readable is None, f"cut at {offset}: {exc}"
            assert str(cut_path) in str(exc)
            assert "header" in str(exc)
            continue
        if offset == 0:
            assert got == [] and notes == [f"{cut_path}: empty file (skipped)"]
            continue
        if first_readable is None:
            first_readable = offset
        assert got == expected[: len(got)], offset
        if offset >= max(offsets[:-2]):
            assert len(got) >= len(expected) - 25
        if offset > 63:
            assert len(got) >= previous
            previous = len(got)
        assert all(str(cut_path) in note for note in notes)
    assert first_readable is not None and first_readable < len(data) // 4
    cut_path.write_bytes(data)
    notes = []
    assert [r.ts for r in read_records(cut_path, on_damage=notes.append) if r.kind == "in"] == (
        expected
    )
    assert notes == []


def test_a_cut_mid_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.zst"
    path.write_bytes(compressed(HEADER, {"ts": 1, "kind": "tick"}, b'{"ts": 2, "ki'))
    text = zstandard.ZstdDecompressor().decompress(path.read_bytes())
    path.write_bytes(zstandard.ZstdCompressor().compress(text[:-1]))  # no final line break
    notes: list[str] = []
    records = list(read_records(path, on_damage=notes.append))
    assert [r.kind for r in records] == ["header", "tick"]
    assert notes == [f"{path}: cut off inside line 3; read up to line 2"]


def test_damage_inside_the_compressed_stream(tmp_path: Path) -> None:
    path, expected = full_recording(tmp_path / "rec")
    data = bytearray(path.read_bytes())
    middle = len(data) * 9 // 10
    for i in range(middle, middle + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    notes: list[str] = []
    try:
        got = [r.ts for r in read_records(path, on_damage=notes.append) if r.kind == "in"]
    except RecordingError as exc:  # a damaged block may decode into a broken line
        assert str(path) in str(exc)
        return
    assert got == expected[: len(got)] and len(got) < len(expected)
    assert notes and str(path) in notes[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"kind":"header"}\n', "not a zstd-compressed recording"),
        (b"ab", "not a zstd-compressed recording"),
        (compressed(HEADER)[:6], "cut off or damaged before the end of its header"),
        (compressed(b"hello world"), "first line is not JSON"),
        (compressed({"ts": 1, "kind": "in"}), "no header line"),
        (compressed([1, 2]), "no header line"),
        (compressed({**HEADER, "format": "other-recording"}), "not an axorders recording"),
        (compressed({**HEADER, "version": 2}), "version 2 is newer"),
        (compressed({**HEADER, "version": "1"}), "malformed header"),
        (compressed({**HEADER, "ts": "now"}), "malformed header"),
        (compressed(HEADER, b"{not json"), "line 2 is not JSON"),
        (compressed(HEADER, [1]), "line 2 is not a JSON object"),
        (compressed(HEADER, {"ts": "1", "kind": "in"}), "line 2 has no integer ts"),
    ],
)
def test_foreign_or_malformed_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "odd.jsonl.zst"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message) as info:
        list(read_records(path))
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_a_bad_file_in_a_folder_is_named(tmp_path: Path) -> None:
    rec = recorder(tmp_path, Clock())
    rec.record("tick", 1)
    rec.close()
    (tmp_path / "zz.jsonl.zst").write_bytes(b"plain text")
    (tmp_path / "notes.txt").write_text("not read: not a *.jsonl.zst")
    with pytest.raises(RecordingError, match=r"zz\.jsonl\.zst"):
        list(read_records(tmp_path))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        list(read_records(tmp_path / "nope"))


def test_read_header(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(compressed(HEADER, {"ts": 1, "kind": "tick"}))
    assert read_header(path) == HEADER
    path.write_bytes(b"")
    assert read_header(path) is None
