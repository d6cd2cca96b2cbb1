"""The command line's names file: cid and venue order id -> the user's client order id."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from axorders.model import cid_for
from axorders.names import OrderNames, default_names_path, state_dir


def test_names_survive_the_process_and_answer_by_cid_and_venue_id(tmp_path: Path) -> None:
    path = tmp_path / "names.sqlite3"
    with OrderNames(path) as names:
        names.remember("my-1")
        names.remember("my-2", "O-2")
    with OrderNames(path) as again:  # a later process
        assert again.by_cid(cid_for("my-1")) == "my-1"
        assert again.by_venue_id("O-2") == "my-2"
        assert again.by_venue_id("O-unknown") is None
        assert again.name(f"CID-{cid_for('my-1')}") == "my-1"
        assert again.name(None, cid=cid_for("my-2")) == "my-2"
        assert again.name(None, venue_order_id="O-2") == "my-2"
        assert again.name("CID-12345") == "CID-12345"  # unknown: left as it is
        assert again.name("their-own-id") == "their-own-id"


def test_a_synthetic_id_is_never_remembered_as_a_name(tmp_path: Path) -> None:
    with OrderNames(tmp_path / "n.sqlite3") as names:
        names.remember("CID-42", "O-1")
        assert names.by_venue_id("O-1") is None


def test_the_file_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "names.sqlite3"
    with OrderNames(path, max_names=5) as names:
        for i in range(12):
            names.remember(f"id-{i}", f"O-{i}")
    with OrderNames(path, max_names=5) as pruned:
        assert pruned.by_cid(cid_for("id-11")) == "id-11"
        assert pruned.by_cid(cid_for("id-7")) == "id-7"
        assert pruned.by_cid(cid_for("id-6")) is None  # the oldest are forgotten
        assert pruned.by_venue_id("O-0") is None


def test_a_file_that_cannot_be_written_leaves_the_command_without_names(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    names = OrderNames(blocker / "names.sqlite3")
    assert not names.enabled
    names.remember("my-1")  # kept for this process only
    assert names.by_cid(cid_for("my-1")) == "my-1"
    names.close()
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    assert not OrderNames(damaged).enabled


def test_many_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "names.sqlite3"
    writer = (
        "import sys; from axorders.names import OrderNames\n"
        "n = OrderNames(__import__('pathlib').Path(sys.argv[1]))\n"
        "assert n.enabled\n"
        "[n.remember(f'{sys.argv[2]}-{i}', f'O-{sys.argv[2]}-{i}') for i in range(50)]\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", writer, str(path), f"p{k}"]) for k in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with OrderNames(path) as names:
        for k in range(4):
            for i in range(50):
                assert names.by_venue_id(f"O-p{k}-{i}") == f"p{k}-{i}"


def test_one_file_per_environment_and_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert state_dir() == Path("/srv/state/axorders")
    assert default_names_path("127.0.0.1:8080", "ACC-1") == Path(
        "/srv/state/axorders/names-127.0.0.1_8080-ACC-1.sqlite3"
    )
    assert default_names_path("sandbox", "../x") != default_names_path("production", "../x")
    assert "/" not in default_names_path("sandbox", "../x").name
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == Path.home() / ".local" / "state" / "axorders"
