"""A short chaos soak (``make soak`` runs the long one): a hostile venue, faults, a ``kill -9``.

``AXORDERS_SOAK_LIBERTIES`` chooses the venue liberties it takes: ``all``, ``none`` or names
separated by commas (see :data:`axorders.sim.faults.LIBERTIES`); without it,
:data:`DEFAULT_LIBERTIES`.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.soak import parse_liberties, run

DEFAULT_LIBERTIES = "events_first,cancel_409,duplicate,reorder,delay"
"""The liberties the client keeps every invariant under today. ``fragment``, ``late_accept``,
``fresh_replace``, ``foreign_cid`` and ``unknown_requests`` join once the client handles them
(reassembly of fragmented messages, late venue events after a local end, fresh replaces,
unsigned 64-bit cids, REST fallbacks for ``s`` and ``X``); then this becomes ``"all"``."""


def test_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    liberties = parse_liberties(os.environ.get("AXORDERS_SOAK_LIBERTIES", DEFAULT_LIBERTIES))
    result = run(400, seed=11, work=tmp_path, kill=True, fault_interval=0.3, liberties=liberties)
    assert result.killed
    assert result.orders == 400
    assert result.violations == []
    assert sum(result.faults.values()) > 0
    if liberties:
        assert sum(result.liberties.values()) > 0
