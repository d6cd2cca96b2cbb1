"""A short chaos soak (``make soak`` runs the long one): faults, a ``kill -9``, invariants."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import run


def test_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    result = run(400, seed=11, work=tmp_path, kill=True, fault_interval=0.3)
    assert result.killed
    assert result.orders == 400
    assert result.violations == []
    assert sum(result.faults.values()) > 0
