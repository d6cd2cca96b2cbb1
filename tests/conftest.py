"""Shared test helpers.

``shared_dir`` points at the venue reference material kept beside the repository
(``../shared``). It is absent on a user's machine: tests that need it skip cleanly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AXORDERS_SHARED", REPO.parent / "shared"))
PROTOCOL = SHARED / "ax-protocol"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_files(pattern: str) -> list[Path]:
    """Files under ``../shared/ax-protocol`` matching ``pattern`` (empty when absent)."""
    if not PROTOCOL.is_dir():
        return []
    return sorted(PROTOCOL.glob(pattern))


@pytest.fixture
def protocol_dir() -> Path:
    """``../shared/ax-protocol``; skips the test when it is not there."""
    if not PROTOCOL.is_dir():
        pytest.skip("../shared/ax-protocol is not present")
    return PROTOCOL
