"""A short chaos soak (``make soak`` runs the long one): a hostile venue, faults, a ``kill -9``.

``AXORDERS_SOAK_LIBERTIES`` chooses the venue liberties it takes: ``all``, ``none`` or names
separated by commas (see :data:`axorders.sim.faults.LIBERTIES`); without it,
:data:`DEFAULT_LIBERTIES`.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.soak import parse_liberties, run

from axorders.replay import check

DEFAULT_LIBERTIES = "all"
"""Every liberty of the simulator's hostile profile."""


def test_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    liberties = parse_liberties(os.environ.get("AXORDERS_SOAK_LIBERTIES", DEFAULT_LIBERTIES))
    result = run(
        400,
        seed=11,
        work=tmp_path,
        kill=True,
        fault_interval=0.3,
        liberties=liberties,
        max_seconds=900,  # a liveness bound: the run fails rather than hangs
    )
    assert result.killed
    assert result.orders == 400
    assert result.violations == [], "\n".join(result.violations)
    assert sum(result.faults.values()) > 0
    if liberties:
        assert sum(result.liberties.values()) > 0
    # The processes' recordings replay exactly, across the reconnects and the kill -9 (the
    # killed one's may be cut anywhere: it may even have lost everything to the kill).
    replayed = check(result.recording)
    assert replayed.ok, replayed.describe()
    assert replayed.processes >= 1 and replayed.inputs > 0
