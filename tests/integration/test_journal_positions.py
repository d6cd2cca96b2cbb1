"""The positions journaled in the same commit as the order records of their fills, with a live
client: one commit per pump at most, and a restart that finds both as they were."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for, wait_until

from axorders import events as ev
from axorders.client.risk import BOOK_KEY
from axorders.sim import SimServer
from axorders.state import OrderRecord
from axorders.store import SqliteOrderStore

BID = MARK - 10 * TICK


class CommitLog:
    """A SQLite journal that logs its commits (and where each pump's write begins)."""

    def __init__(self, path: Path) -> None:
        self.inner = SqliteOrderStore(path)
        self.path = path
        self.timeline: list[tuple[Any, ...]] = []

    def load(self) -> list[OrderRecord]:
        return self.inner.load()

    def save(self, records: Iterable[OrderRecord]) -> None:
        records = list(records)
        self.inner.save(records)
        self.timeline.append(("commit", [r.client_order_id for r in records], []))

    def save_with_meta(self, records: Iterable[OrderRecord], meta: Mapping[str, str]) -> None:
        records = list(records)
        self.inner.save_with_meta(records, meta)
        self.timeline.append(("commit", [r.client_order_id for r in records], sorted(meta)))

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.inner.set_meta(key, value)
        self.timeline.append(("commit", [], [key]))

    def close(self) -> None:
        self.inner.close()


def saved_quantity(store: CommitLog) -> int:
    book = msgspec.json.decode(store.get_meta(BOOK_KEY) or "{}")
    return sum(p["quantity"] for p in book.get("positions", []) if p["symbol"] == SYMBOL)


async def test_each_fill_is_journaled_with_its_book_in_one_commit_per_pump(
    sim: SimServer, tmp_path: Path
) -> None:
    store = CommitLog(tmp_path / "orders.db")
    rec = Recorder()
    async with client_for(sim, rec, store=store) as client:
        take_changed = client.session.take_changed

        def pump_write() -> list[OrderRecord]:
            store.timeline.append(("write",))
            return take_changed()

        client.session.take_changed = pump_write  # type: ignore[method-assign]
        await client.place_order("jp-1", SYMBOL, "BUY", 600, BID)
        for n in range(1, 4):  # three fills, each its own socket read
            sim.add_liquidity(SYMBOL, "SELL", BID, 200)
            await wait_until(lambda n=n: client.position(SYMBOL).quantity == 200 * n)  # type: ignore[misc]
            await wait_until(lambda n=n: saved_quantity(store) == 200 * n)  # type: ignore[misc]
        timeline = list(store.timeline)
        # Never more than one commit per journal write (a pump's, or a command's own).
        per_write = [0]
        for entry in timeline:
            if entry[0] == "write":
                per_write.append(0)
            else:
                per_write[-1] += 1
        assert max(per_write) == 1
        # The book only ever goes with the records of the order its fills belong to.
        books = [e for e in timeline if e[0] == "commit" and BOOK_KEY in e[2]]
        assert len(books) == 3
        assert all(e[1] == ["jp-1"] for e in books)
        assert ("commit", [], [BOOK_KEY]) not in timeline
        stored = {r.client_order_id: r.filled_qty for r in store.load()}
        assert stored["jp-1"] == 600
    # A restart finds the book and the records as they were: nothing applied twice.
    again = CommitLog(tmp_path / "orders.db")
    rec2 = Recorder()
    async with client_for(sim, rec2, store=again) as client:
        assert client.position(SYMBOL).quantity == 600
        assert client.order("jp-1") is not None
        await client.reconcile_positions()
        assert client.position(SYMBOL).quantity == 600
        assert rec2.of(ev.PositionMismatch) == []
        assert rec2.of(ev.OrderFilled) == []  # the records knew every fill
