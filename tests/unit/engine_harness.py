"""Helpers shared by the engine's unit tests (test_engine*.py)."""

from __future__ import annotations

import random
from decimal import Decimal

from axorders.model import Side
from axorders.sim.engine import Engine, EngineConfig, Reply
from axorders.sim.instruments import default_instruments, marks_for
from axorders.wire.orders import ServerEvent

__all__ = ["EUR", "T0", "D", "events_of", "make_engine", "oid", "place"]

D = Decimal
T0 = 1_790_228_411_934_693_936
EUR = "EURUSD-PERP"


def make_engine(**config: object) -> Engine:
    instruments = default_instruments()
    engine = Engine(
        instruments,
        marks_for(instruments),
        config=EngineConfig(**config),  # type: ignore[arg-type]
        rng=random.Random(7),
    )
    for account in ("A", "B", "C"):
        engine.add_account(account, user_id=f"user-{account}")
    return engine


def events_of(reply: Reply, account: str | None = None) -> list[ServerEvent]:
    return [e for a, e in reply.events if account is None or a == account]


def place(
    engine: Engine,
    account: str,
    side: str,
    qty: int,
    price: str,
    *,
    now: int = T0,
    **kw: object,
) -> Reply:
    return engine.place(
        account,
        kw.pop("symbol", EUR),  # type: ignore[arg-type]
        Side.parse(side),
        qty,
        D(price),
        now=now,
        **kw,  # type: ignore[arg-type]
    )


def oid(reply: Reply) -> str:
    assert reply.result is not None and reply.result.venue_order_id is not None
    return reply.result.venue_order_id
