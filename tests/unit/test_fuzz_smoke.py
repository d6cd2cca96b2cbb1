"""Short runs of the fuzzers of ``make fuzz``: nothing escapes, every bad frame is counted."""

from __future__ import annotations

from benchmarks.fuzz import run_hypothesis, run_session
from benchmarks.fuzz_wire import run as run_wire


def test_wire_fuzz_smoke() -> None:
    counts = run_wire(2_000, seed=3)
    assert counts["unexpected"] == 0


def test_session_fuzz_smoke() -> None:
    counts = run_session(6_000, seed=3)
    assert counts["unexpected"] == 0
    assert counts["uncounted"] == 0
    assert counts["map_errors"] == 0
    assert counts["malformed"] > 0 and counts["unknown"] > 0 and counts["known"] > 0


def test_hypothesis_fuzz_smoke() -> None:
    counts = run_hypothesis(100)
    assert counts["unexpected"] == 0
    assert counts["uncounted"] == 0
