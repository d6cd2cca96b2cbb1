"""A fill reaches the journal only after user code has been handed it.

After a crash the journal is the list of fills the trader has seen: the restarted client asks
the venue for every fill beyond it and delivers those. A fill journaled before its event was
handed over, with the process killed in between, would be lost for good: the journal already
counts it, so it is never asked for again.
"""

from __future__ import annotations

from collections.abc import Iterable

from client_helpers import MARK, SYMBOL, TICK, Recorder, client_for

from axorders import events as ev
from axorders.sim import SimServer
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore

BID = MARK - 10 * TICK


class WatchingStore(MemoryOrderStore):
    """Notes every trade id that reached the journal before user code had its event."""

    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen
        self.early: list[str] = []
        self.journaled: set[str] = set()

    def save(self, records: Iterable[OrderRecord]) -> None:
        records = list(records)
        for rec in records:
            for tid in rec.trade_ids:
                if tid not in self.journaled:
                    self.journaled.add(tid)
                    if tid not in self.seen:
                        self.early.append(tid)
        super().save(records)


async def test_fills_reach_the_journal_after_the_callback(sim: SimServer) -> None:
    rec = Recorder()
    seen: set[str] = set()

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.OrderFilled):
            seen.add(event.trade_id)
        rec(event)

    store = WatchingStore(seen)
    async with client_for(sim, store=store, on_event=on_event, event_queue=False) as client:
        await client.place_order("dl-1", SYMBOL, "BUY", 300, BID)
        sim.add_liquidity(SYMBOL, "SELL", BID, 100)
        await rec.wait(ev.OrderFilled, "dl-1")
        sim.add_liquidity(SYMBOL, "SELL", BID, 200)
        await rec.wait(ev.OrderFilled, "dl-1", count=2)
        order = client.order("dl-1")
        assert order is not None and order.filled_qty == 300
    assert len(store.journaled) == 2
    assert store.early == []
