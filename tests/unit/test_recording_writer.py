"""The recorder: round trips, rotation, retention, disk failures, the bounded buffer, secrets."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zstandard

from axorders import events as ev
from axorders.commands import CancelOrder, PlaceOrder
from axorders.model import LiquiditySide, OrderStatus, OrderType, Side
from axorders.recording import Recorder, decode_payload, read_records
from axorders.recording import files as files_module
from axorders.recording.format import FILE_PATTERN
from axorders.state import OrderRecord
from axorders.wire.rest import FillInfo

DAY = 86_400 * 1_000_000_000
T0 = 1_790_228_411_934_693_936  # 2026-09-24 (UTC)


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Warnings(list[tuple[str, str]]):
    def __call__(self, kind: str, message: str) -> None:
        self.append((kind, message))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self]


@pytest.fixture
def warnings() -> Warnings:
    return Warnings()


@pytest.fixture(params=["process", "thread"])
def make(
    tmp_path: Path, warnings: Warnings, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Recorder]]:
    """Recorders writing in the recording process, then on their own thread."""
    made: list[Recorder] = []

    def factory(directory: Path | None = None, **kw: Any) -> Recorder:
        kw.setdefault("writer", request.param)
        kw.setdefault("settings", {"env": "sandbox"})
        kw.setdefault("instruments", [{"symbol": "EURUSD-PERP"}])
        kw.setdefault("on_warning", warnings)
        kw.setdefault("flush_interval", 0.05)
        recorder = Recorder(directory or tmp_path / "rec", **kw)
        made.append(recorder)
        return recorder

    yield factory
    for recorder in made:
        recorder.close()


def files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if FILE_PATTERN.match(p.name))


def body(directory: Path) -> list[Any]:
    """The records of a folder, headers left out."""
    return [r for r in read_records(directory) if r.kind != "header"]


def noise(size: int, seed: int = 1) -> str:
    """Text that does not compress."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


def test_every_kind_round_trips(make: Callable[..., Recorder], tmp_path: Path) -> None:
    recorder = make()
    accepted = ev.Reconnected(ts_init=5, attempt=2)
    place = PlaceOrder("A-1", "EURUSD-PERP", Side.BUY, 100, price=Decimal("1.1"))
    fill = FillInfo(
        trade_id="T1",
        timestamp="2026-01-01T00:00:00Z",
        symbol="EURUSD-PERP",
        price=Decimal("1.1"),
        quantity=100,
        is_taker=True,
        side=Side.SELL,
    )
    journal = OrderRecord(
        client_order_id="A-0",
        cid=1,
        symbol="EURUSD-PERP",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=100,
        price=Decimal("1.2"),
        account_id="a",
        trader_id="t",
        strategy_id="s",
        ts_init=1,
        status=OrderStatus.ACCEPTED,
    )
    recorder.record("connect", 1)
    recorder.record("in", 2, b'{"t":"n","oid":"O-1"}')
    recorder.record("out", 3, '{"rid":1,"t":"p"}')
    recorder.record("md", 4, b"\xff\xfe")
    recorder.record("cmd", 5, place)
    recorder.record("event", 6, accepted)
    recorder.record("tick", 7)
    recorder.record("rest", 8, [fill], call="fills")
    recorder.record("restore", 9, [journal])
    recorder.record("drop", 10, "connection lost")
    recorder.record("snapshot", 11, {"x": Decimal("1.5")}, note=Side.BUY, kind="ignored")
    recorder.flush()
    records = body(tmp_path / "rec")
    assert [r.kind for r in records] == [
        "connect",
        "in",
        "out",
        "md",
        "cmd",
        "event",
        "tick",
        "rest",
        "restore",
        "drop",
        "snapshot",
    ]
    assert [r.ts for r in records] == list(range(1, 12))
    by = {r.kind: r for r in records}
    assert by["in"].fields["data"] == '{"t":"n","oid":"O-1"}'
    assert decode_payload(by["md"].fields) == b"\xff\xfe"
    assert decode_payload(by["cmd"].fields) == place
    assert "text" not in by["event"].fields  # made when read (str of the decoded event)
    assert decode_payload(by["event"].fields) == accepted
    assert str(decode_payload(by["event"].fields)) == "Reconnected attempt=2"
    assert by["rest"].fields["call"] == "fills"
    assert decode_payload(by["rest"].fields) == [fill]
    assert decode_payload(by["restore"].fields) == [journal]
    assert by["drop"].fields["reason"] == "connection lost"
    assert by["snapshot"].fields == {
        "ts": 11,
        "kind": "snapshot",
        "payload": {"x": "1.5"},
        "note": "B",
    }
    assert by["tick"].fields == {"ts": 7, "kind": "tick"}
    stats = recorder.stats()
    assert stats.written == 11 and stats.dropped == 0 and stats.files == 1
    assert stats.path is not None and Path(stats.path).exists()
    assert stats.bytes_written == Path(stats.path).stat().st_size


def test_header_of_each_file(make: Callable[..., Recorder], tmp_path: Path) -> None:
    recorder = make(max_bytes=1, settings={"env": "sandbox", "timeout": 5})
    for i in range(3):
        recorder.record("tick", i)
        recorder.flush()
    recorder.close()
    headers = [r for r in read_records(tmp_path / "rec") if r.kind == "header"]
    assert [h.fields["seq"] for h in headers] == [1, 2, 3]
    for header in headers:
        fields = header.fields
        assert fields["format"] == "axorders-recording" and fields["version"] == 1
        assert fields["axorders"] and fields["process"] == recorder.process
        assert fields["settings"] == {"env": "sandbox", "timeout": 5}
        assert fields["instruments"] == [{"symbol": "EURUSD-PERP"}]


def test_written_in_the_background_and_readable_while_open(
    make: Callable[..., Recorder], tmp_path: Path
) -> None:
    recorder = make(flush_interval=0.02)
    recorder.record("in", 1, "a")
    deadline = time.monotonic() + 5
    while recorder.stats().written < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The file is still open (its zstd frame not ended), as a killed process leaves it.
    assert [r.fields["data"] for r in body(tmp_path / "rec")] == ["a"]
    assert recorder.stats().path is not None


def test_rotation_by_size(make: Callable[..., Recorder], tmp_path: Path) -> None:
    recorder = make(max_bytes=4000, keep=None)
    for i in range(20):
        recorder.record("in", i, noise(1000, seed=i))
        recorder.flush()
    recorder.close()
    written = files(tmp_path / "rec")
    assert len(written) >= 4
    for path in written[:-1]:
        assert path.stat().st_size >= 4000
    assert [r.ts for r in body(tmp_path / "rec")] == list(range(20))
    stats = recorder.stats()
    assert stats.files == len(written) and stats.path is None
    assert stats.bytes_written == sum(p.stat().st_size for p in written)
    # Each closed file is a whole zstd frame: the standard tool reads it.
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(written[0].read_bytes())).read()
    assert text.startswith(b'{"kind":"header"') and text.endswith(b"\n")


def test_rotation_by_utc_day(make: Callable[..., Recorder], tmp_path: Path) -> None:
    day_end = (T0 // DAY + 1) * DAY
    clock = Clock(day_end - 1_000_000)
    recorder = make(clock=clock)
    recorder.record("tick", 1)
    recorder.flush()
    clock.now = day_end - 1
    recorder.record("tick", 2)
    recorder.flush()
    clock.now = day_end + 5_000_000_000
    recorder.record("tick", 3)
    recorder.flush()
    recorder.close()
    written = files(tmp_path / "rec")
    assert [p.name[9:17] for p in written] == ["20260924", "20260925"]
    assert written[1].name == "axorders-20260925T000005.000000Z-0002.jsonl.zst"
    records = list(read_records(tmp_path / "rec"))
    assert [(r.kind, r.ts) for r in records if r.kind != "header"] == [
        ("tick", 1),
        ("tick", 2),
        ("tick", 3),
    ]


def test_no_daily_rotation_when_off(make: Callable[..., Recorder], tmp_path: Path) -> None:
    clock = Clock(T0)
    recorder = make(clock=clock, rotate_daily=False)
    recorder.record("tick", 1)
    recorder.flush()
    clock.now += 3 * DAY
    recorder.record("tick", 2)
    recorder.flush()
    assert len(files(tmp_path / "rec")) == 1


def test_retention_keeps_the_newest_and_never_foreign_files(
    make: Callable[..., Recorder], tmp_path: Path
) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    foreign = [
        folder / "notes.txt",
        folder / "axorders-backup.jsonl.zst",
        folder / "other-20200101T000000.000000Z-0001.jsonl.zst",
    ]
    for path in foreign:
        path.write_text("keep me")
    (folder / "axorders-20200101T000000.000000Z-0001.jsonl.zst.d").mkdir()
    # An older recording of another process counts against ``keep`` too.
    old = folder / "axorders-20200101T000000.000000Z-0001.jsonl.zst"
    old.write_bytes(b"")
    clock = Clock(T0)
    recorder = make(folder, max_bytes=1, keep=3, clock=clock)
    for i in range(6):
        clock.now += 1_000_000
        recorder.record("tick", i)
        recorder.flush()
    recorder.close()
    kept = files(folder)
    assert len(kept) == 3
    assert not old.exists()
    assert all(path.read_text() == "keep me" for path in foreign)
    assert [r.ts for r in read_records(kept) if r.kind != "header"] == [3, 4, 5]


def test_unwritable_directory_drops_counts_and_warns_once(
    make: Callable[..., Recorder], tmp_path: Path, warnings: Warnings
) -> None:
    blocker = tmp_path / "rec"
    blocker.write_text("a file where the folder should be")
    recorder = make(blocker)
    for round_ in range(4):
        for i in range(5):
            recorder.record("tick", round_ * 5 + i)
        recorder.flush()
    assert recorder.dropped == 20
    assert recorder.stats().written == 0
    assert warnings.kinds() == ["WRITE_FAILED"]
    assert str(blocker) in warnings[0][1]
    # The folder can be made again: the next write after the backoff works.
    blocker.unlink()
    deadline = time.monotonic() + 10
    calls = 0
    while "WRITE_RECOVERED" not in warnings.kinds() and time.monotonic() < deadline:
        calls += 1
        recorder.record("tick", 100)
        recorder.flush()
        time.sleep(0.05)
    assert warnings.kinds() == ["WRITE_FAILED", "WRITE_RECOVERED"]
    assert [r.ts for r in body(blocker)][-1] == 100
    recorder.close()
    stats = recorder.stats()
    assert stats.written == len(body(blocker))
    assert stats.written + stats.dropped == 20 + calls


class FlakyFile(io.RawIOBase):
    """A file whose writes fail with ENOSPC while ``full`` is set."""

    full = False

    def __init__(self, real: Any) -> None:
        self.real = real

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if FlakyFile.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(self.real.write(data))

    def flush(self) -> None:
        if FlakyFile.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real.flush()

    def tell(self) -> int:
        return int(self.real.tell())

    def close(self) -> None:
        self.real.close()
        super().close()


def test_full_disk_drops_counts_warns_once_per_streak(
    make: Callable[..., Recorder],
    tmp_path: Path,
    warnings: Warnings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FlakyFile.full = False
    monkeypatch.setattr(
        files_module,
        "open",
        lambda *a, **k: FlakyFile(open(*a, **k)),  # noqa: SIM115
        raising=False,
    )
    recorder = make(writer="thread")  # the failing file is this interpreter's
    for i in range(10):
        recorder.record("in", i, f"frame {i}")
    recorder.flush()
    assert recorder.stats().written == 10
    FlakyFile.full = True
    for round_ in range(3):
        for i in range(5):
            recorder.record("in", 10 + round_ * 5 + i, "lost")
        recorder.flush()
    assert recorder.dropped == 15
    assert warnings.kinds() == ["WRITE_FAILED"]
    assert "No space left on device" in warnings[0][1]
    assert "lost" not in warnings[0][1]
    FlakyFile.full = False
    deadline = time.monotonic() + 10
    calls = 0
    while "WRITE_RECOVERED" not in warnings.kinds() and time.monotonic() < deadline:
        calls += 1
        recorder.record("in", 1000, "back")
        recorder.flush()
        time.sleep(0.05)
    assert warnings.kinds() == ["WRITE_FAILED", "WRITE_RECOVERED"]
    recovered = recorder.stats()
    # A second streak warns again, once.
    FlakyFile.full = True
    recorder.record("in", 2000, "lost again")
    recorder.flush()
    recorder.record("in", 2001, "lost again")
    recorder.flush()
    assert warnings.kinds() == ["WRITE_FAILED", "WRITE_RECOVERED", "WRITE_FAILED"]
    assert recorder.dropped == recovered.dropped + 2
    FlakyFile.full = False
    recorder.close()
    # Every file reads back (the abandoned ones to their last whole record).
    damage: list[str] = []
    records = [r for r in read_records(tmp_path / "rec", on_damage=damage.append)]
    data = [r.fields["data"] for r in records if r.kind == "in"]
    assert data[:10] == [f"frame {i}" for i in range(10)]
    assert "lost" not in data and "back" in data
    total = recorder.stats()
    assert total.written == len(data)
    assert total.written + total.dropped == 10 + 15 + calls + 2


def test_full_buffer_drops_newest_and_warns_once_per_streak(
    make: Callable[..., Recorder], tmp_path: Path, warnings: Warnings
) -> None:
    recorder = make(buffer=10, flush_interval=60)
    for i in range(25):
        recorder.record("tick", i)
    assert recorder.dropped == 15
    assert recorder.stats().pending == 10
    recorder.flush()
    assert warnings.kinds() == ["DROPPED"]
    assert "records dropped: 15" in warnings[0][1]
    # More drops before a quiet interval: the same streak, no new warning.
    for i in range(12):
        recorder.record("tick", 100 + i)
    recorder.flush()
    assert warnings.kinds() == ["DROPPED"]
    recorder.flush()  # an interval without drops ends the streak
    for i in range(11):
        recorder.record("tick", 200 + i)
    recorder.flush()
    recorder.flush()
    assert warnings.kinds() == ["DROPPED", "DROPPED"]
    assert "records dropped: 1" in warnings[1][1]
    assert recorder.dropped == 18
    assert [r.ts for r in body(tmp_path / "rec")] == [
        *range(10),
        *range(100, 110),
        *range(200, 210),
    ]


def test_close_is_idempotent_and_later_records_are_counted(
    make: Callable[..., Recorder], tmp_path: Path, warnings: Warnings
) -> None:
    recorder = make(flush_interval=60)
    recorder.record("tick", 1)
    recorder.close()
    recorder.close()
    recorder.flush()  # returns at once
    recorder.record("tick", 2)
    assert recorder.dropped == 1
    assert recorder.stats().written == 1
    assert [r.ts for r in body(tmp_path / "rec")] == [1]
    assert warnings == []


def test_unencodable_payload_never_raises(make: Callable[..., Recorder], tmp_path: Path) -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("secret-in-message")

    loop: list[Any] = []
    loop.append(loop)
    recorder = make()
    recorder.record("custom", 1, Hostile())
    recorder.record("custom", 2, loop)
    recorder.record("tick", 3)
    recorder.flush()
    records = body(tmp_path / "rec")
    assert [(r.ts, r.kind) for r in records] == [(1, "custom"), (2, "custom"), (3, "tick")]
    assert records[0].fields["error"] == "not recorded: RuntimeError"
    assert records[1].fields["error"] == "not recorded: RecursionError"
    assert recorder.dropped == 0


def test_a_raising_warning_handler_is_ignored(
    make: Callable[..., Recorder], tmp_path: Path
) -> None:
    def boom(kind: str, message: str) -> None:
        raise RuntimeError("handler failed")

    blocker = tmp_path / "file"
    blocker.write_text("x")
    recorder = make(blocker, on_warning=boom)
    recorder.record("tick", 1)
    recorder.flush()
    recorder.record("tick", 2)
    recorder.flush()
    assert recorder.dropped == 2


def test_no_secret_reaches_the_disk(make: Callable[..., Recorder], tmp_path: Path) -> None:
    settings = {
        "env": "production",
        "token": "tok-9f8e7d",
        "API_SECRET": "sec-1a2b3c",
        "api_key": "key-4d5e6f",
        "password": "pw-7g8h9i",
        "Authorization": "Bearer auth-0j1k2l",
        "proxy": "http://user:proxypass-3m4n@proxy.example:3128",
        "journal": {"path": "orders.db", "refresh_token": "ref-5o6p"},
    }
    recorder = make(settings=settings, max_bytes=1)
    recorder.record("tick", 1)
    recorder.flush()
    recorder.record("tick", 2)
    recorder.close()
    secrets = [b"tok-9f8e7d", b"sec-1a2b3c", b"key-4d5e6f", b"pw-7g8h9i", b"auth-0j1k2l"]
    secrets += [b"proxypass-3m4n", b"ref-5o6p"]
    for path in files(tmp_path / "rec"):
        raw = path.read_bytes()
        text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        assert b"production" in text and b"orders.db" in text
        for secret in secrets:
            assert secret not in raw and secret not in text
    assert settings["token"] == "tok-9f8e7d"  # the caller's settings are left alone


def test_bad_arguments() -> None:
    for kw in ({"max_bytes": 0}, {"keep": 0}, {"flush_interval": 0}, {"buffer": 0}):
        with pytest.raises(ValueError):
            Recorder(".", settings={}, instruments=[], **kw)


def test_record_with_the_hot_path_signature(make: Callable[..., Recorder], tmp_path: Path) -> None:
    recorder = make()
    record = recorder.record
    record("event", 1, ev.Reconnected(ts_init=1))
    record("cmd", 2, CancelOrder(client_order_id="A"))
    recorder.flush()
    assert recorder.stats().written == 2


def test_the_recording_process_ending_counts_what_it_lost(
    tmp_path: Path, warnings: Warnings
) -> None:
    """The recording process killed with records sent and not written: they are counted as
    dropped, one warning says so, and the recording goes on in this process."""
    recorder = Recorder(
        tmp_path / "rec",
        settings={},
        instruments=[],
        flush_interval=0.05,
        on_warning=warnings,
        writer="process",
    )
    try:
        for i in range(10):
            recorder.record("tick", i)
        recorder.flush()
        assert recorder.stats().written == 10
        link = recorder._link
        assert link is not None
        os.kill(link.proc.pid, signal.SIGSTOP)  # it reads nothing more
        for i in range(10, 20):
            recorder.record("tick", i)
        recorder.flush(timeout=0.5)  # sent, never written
        link.proc.kill()
        link.proc.wait(5)
        for i in range(20, 30):
            recorder.record("tick", i)
        recorder.flush()
        assert recorder._link is None
        assert recorder.stats().written == 20
        assert recorder.dropped == 10
        assert warnings.kinds() == ["DROPPED"]
        assert "recording process ended; records lost: 10" in warnings[0][1]
    finally:
        recorder.close()
    assert [r.ts for r in body(tmp_path / "rec") if r.kind == "tick"] == [
        *range(10),
        *range(20, 30),
    ]


def test_a_killed_trading_process_leaves_what_it_sent_written(tmp_path: Path) -> None:
    """The trading process killed with -9: the recording process writes everything it was
    sent and ends its file properly."""
    script = f"""
import os, signal, sys
from axorders.recording import Recorder
rec = Recorder({str(tmp_path / "rec")!r}, settings={{}}, instruments=[], flush_interval=0.05)
for i in range(1000):
    rec.record("tick", i)
rec.flush()
sys.stdout.write("flushed\\n"); sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert "flushed" in done.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ticks = [r.ts for r in body(tmp_path / "rec") if r.kind == "tick"]
        if len(ticks) == 1000:
            break
        time.sleep(0.05)
    assert ticks == list(range(1000))


def _lines_of(directory: Path) -> list[bytes]:
    """The raw lines of a folder's files, headers left out."""
    out: list[bytes] = []
    for path in files(directory):
        with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as reader:
            text = reader.read()
        out.extend(line for line in text.splitlines()[1:] if line)
    return out


def test_both_writers_write_the_same_lines(tmp_path: Path) -> None:
    """The recording process decodes each batch of events into their classes and encodes
    them as the thread does: the lines are the same, byte for byte."""
    snapshot = ev.OrderSnapshot(
        venue_order_id="O-1",
        client_order_id="A-1",
        cid=1,
        symbol="EURUSD-PERP",
        side=Side.BUY,
        price=Decimal("1.25"),
        quantity=10,
        filled_qty=0,
        remaining_qty=10,
        status=OrderStatus.ACCEPTED,
        time_in_force="GTC",
        post_only=False,
        tag=None,
        ts_event=3,
    )
    events: list[Any] = [
        ev.OrderFilled(
            7,
            "A-1",
            "O-1",
            "acct",
            "T",
            "S",
            "EURUSD-PERP",
            6,
            "T-1",
            Side.BUY,
            OrderType.LIMIT,
            1,
            Decimal("1.1288"),
            LiquiditySide.MAKER,
            1,
            9,
            10,
            False,
        ),
        ev.PositionChanged(
            8, "EURUSD-PERP", -3, Decimal("1.12881234"), Decimal("-0.5"), Decimal("0.0012"), "T-1"
        ),
        ev.LoginSnapshot(ts_init=9, login_id="u-1", orders=(snapshot,), cancel_on_disconnect=True),
        ev.Reconnected(ts_init=10, attempt=2),
    ]
    for writer in ("process", "thread"):
        recorder = Recorder(
            tmp_path / writer, settings={}, instruments=[], flush_interval=0.05, writer=writer
        )
        try:
            recorder.record_frame("in", 1, b'{"t":"n","oid":"O-1","p":"1.1288"}')
            recorder.record_frame("md", 2, b"\xff\xfe")
            recorder.record_events(events)
            recorder.record_events(events[:1], "client")
            recorder.record("cmd", 3, PlaceOrder("A-1", "EURUSD-PERP", Side.BUY, 10))
            recorder.record_event(11, events[3])  # another time than its own: a record
            recorder.record_frame("out", 4, b'{"rid":1}')
            recorder.flush()
            assert recorder.stats().written == 10
        finally:
            recorder.close()
    assert _lines_of(tmp_path / "process") == _lines_of(tmp_path / "thread")
    assert len(_lines_of(tmp_path / "process")) == 10


@pytest.mark.parametrize("executable", ["", "/nonexistent/python", "/bin/false"])
def test_no_recording_process_the_thread_writes_everything(
    tmp_path: Path, warnings: Warnings, monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    """No interpreter to run the recording process, one that cannot start, or one that ends
    at once: the thread writes, and nothing is lost (nothing was handed over before the
    process answered)."""
    monkeypatch.setattr(sys, "executable", executable)
    recorder = Recorder(
        tmp_path / "rec", settings={}, instruments=[], flush_interval=0.05, on_warning=warnings
    )
    try:
        for i in range(50):
            recorder.record("tick", i)
        recorder.flush()
        assert recorder.stats().written == 50
        assert recorder.dropped == 0
        assert recorder._link is None
    finally:
        recorder.close()
    assert [r.ts for r in body(tmp_path / "rec")] == list(range(50))
    assert "DROPPED" not in warnings.kinds()


def test_record_events_takes_any_iterable_and_never_raises(
    make: Callable[..., Recorder], tmp_path: Path
) -> None:
    recorder = make()
    recorder.record_events(ev.Reconnected(ts_init=i, attempt=i) for i in range(1, 4))
    recorder.record_events(42)  # type: ignore[arg-type]  # not iterable: counted
    recorder.flush()
    assert [r.ts for r in body(tmp_path / "rec")] == [1, 2, 3]
    assert recorder.dropped == 1


def test_a_failing_batch_is_counted_and_the_recorder_goes_on(
    make: Callable[..., Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = make()
    original = Recorder._hand_over
    calls = 0

    def once(self: Recorder, batch: list[Any], waiters: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        original(self, batch, waiters)

    recorder.flush()
    monkeypatch.setattr(Recorder, "_hand_over", once)
    for i in range(5):
        recorder.record("tick", i)
    recorder.flush(timeout=5)  # released though the batch failed
    assert recorder.dropped == 5
    recorder.record("tick", 9)
    recorder.flush(timeout=5)
    assert [r.ts for r in body(tmp_path / "rec")] == [9]


def test_a_recording_process_that_never_answers_is_given_up_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that starts but never answers (an interpreter stuck at start-up, say): the
    recorder's close gives it up and writes the records itself, quickly."""
    stuck = tmp_path / "stuck-python"
    stuck.write_text("#!/bin/sh\nexec sleep 60\n")
    stuck.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(stuck))
    recorder = Recorder(tmp_path / "rec", settings={}, instruments=[], flush_interval=0.05)
    for i in range(20):
        recorder.record("tick", i)
    started = time.monotonic()
    recorder.close(timeout=5)
    assert time.monotonic() - started < 4
    assert recorder.stats().written == 20
    assert recorder.dropped == 0
    assert [r.ts for r in body(tmp_path / "rec")] == list(range(20))


def test_a_trading_process_killed_while_the_recording_process_starts_loses_nothing(
    tmp_path: Path,
) -> None:
    """The recording process slow to start (a loaded machine), the trading process killed
    with -9 before it answered: what was sent waits in the pipe and is written once it runs."""
    slow = tmp_path / "slow-python"
    slow.write_text(f'#!/bin/sh\nsleep 1\nexec {sys.executable} "$@"\n')
    slow.chmod(0o755)
    script = f"""
import os, signal, sys, time
sys.executable = {str(slow)!r}
from axorders.recording import Recorder
rec = Recorder({str(tmp_path / "rec")!r}, settings={{}}, instruments=[], flush_interval=0.05)
for i in range(300):
    rec.record("tick", i)
time.sleep(0.3)  # sent, not answered
sys.stdout.write("sent\\\\n"); sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert "sent" in done.stdout
    deadline = time.monotonic() + 15
    ticks: list[int] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            ticks = [r.ts for r in body(tmp_path / "rec") if r.kind == "tick"]
        if len(ticks) == 300:
            break
        time.sleep(0.1)
    assert ticks == list(range(300))
