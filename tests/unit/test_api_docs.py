"""The API reference builds from the docstrings with pdoc (``make docs``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pdoc") is None, reason="pdoc is not installed (pip install -e .[dev])"
)


ROOT = Path(__file__).resolve().parents[2]


def api_modules() -> list[str]:
    """The modules ``make docs`` documents (the Makefile's API_MODULES)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("API_MODULES :=")]
    return line.partition(":=")[2].split()


def test_the_api_reference_builds(tmp_path: Path) -> None:
    src = str(ROOT / "src")
    modules = api_modules()
    assert {"axorders", "axorders.client", "axorders.events", "axorders.names"} <= set(modules)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pdoc", "-o", str(tmp_path), *modules],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for page in ["axorders.html", *(f"{m.replace('.', '/')}.html" for m in modules[1:])]:
        assert (tmp_path / page).is_file(), sorted(p.name for p in tmp_path.rglob("*.html"))
    events = (tmp_path / "axorders" / "events.html").read_text(encoding="utf-8")
    assert "format_event" in events
