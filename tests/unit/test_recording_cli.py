"""``axorders replay``: run() with the namespaces its own parser builds."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from test_recording_views import Session

from axorders.cli import replay
from axorders.recording.views import format_ts


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="axorders")
    sub = parser.add_subparsers(dest="command")
    replay.add_parser(sub)
    return parser.parse_args(["replay", *argv])


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("rec"))


def test_timeline(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.run(parse(str(session.folder))) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "OrderAccepted client_order_id=A-1" in out and "\n    < " not in out
    assert replay.run(parse(str(session.folder), "-v")) == 0
    assert "\n    < " in capsys.readouterr().out


def test_order_and_at(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.run(parse(str(session.folder), "--order", "A-1")) == 0
    out = capsys.readouterr().out
    assert "cmd PlaceOrder client_order_id=A-1" in out and "B-1" not in out
    assert replay.run(parse(str(session.folder), "--at", str(session.end))) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"orders at {format_ts(session.end)}: 3\n")
    assert replay.run(parse(str(session.folder), "--at", format_ts(session.end)[:-1])) == 0
    assert capsys.readouterr().out.startswith("orders at")


def test_bad_time_is_a_usage_error(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.run(parse(str(session.folder), "--at", "soon")) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("axorders replay: --at: 'soon' is not a time")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "content", [b"not zstd at all", b"\x28\xb5\x2f\xfd", b""], ids=["foreign", "cut", "empty"]
)
def test_unreadable_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "x.jsonl.zst"
    path.write_bytes(content)
    status = replay.run(parse(str(path)))
    out, err = capsys.readouterr()
    if content:
        assert status == 2
        assert err.startswith(f"axorders replay: {path}: ") and err.count("\n") == 1
        assert "Traceback" not in err
    else:  # an empty file is skipped, with a note
        assert status == 0 and out == ""
        assert err == f"axorders replay: note: {path}: empty file (skipped)\n"


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.run(parse(str(tmp_path / "none"))) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_a_cut_file_reads_with_a_note(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = sorted(session.folder.iterdir())[0]
    data = first.read_bytes()
    cut = tmp_path / first.name
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert replay.run(parse(str(cut), "--order", "A-1")) == 0
    out, err = capsys.readouterr()
    assert "PlaceOrder" in out
    assert err.startswith(f"axorders replay: note: {cut}: ") and err.count("\n") == 1


def test_check_without_the_replay_module(
    session: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "axorders.replay", None)  # import fails
    assert replay.run(parse(str(session.folder), "--check")) == 2
    err = capsys.readouterr().err
    assert err == "axorders replay: --check is not available in this version of axorders\n"


def test_check_with_a_replay_module(
    session: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    class Result:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def lines(self) -> list[str]:
            return [f"records: {len(seen)}", "ok" if self.ok else "differs"]

    def check(records: Any) -> Result:
        seen.extend(records)
        return Result(ok=len(seen) > 0)

    module = types.ModuleType("axorders.replay")
    module.check = check  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "axorders.replay", module)
    assert replay.run(parse(str(session.folder), "--check")) == 0
    assert capsys.readouterr().out == f"records: {len(seen)}\nok\n"
    assert seen[0].kind == "header"


def test_options_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse("x", "--order", "A", "--at", "1")
