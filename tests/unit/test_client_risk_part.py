"""The client's risk part alone (RiskGuard, WorkingOrders), with fakes of its neighbours."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from axorders import events as ev
from axorders.client.hub import EventHub, merge_handlers
from axorders.client.journal import JournalWriter
from axorders.client.risk import BOOK_KEY, STATE_KEY, RiskGuard, WorkingOrders
from axorders.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from axorders.exceptions import RiskLimitError
from axorders.model import Instrument, OrderStatus, OrderType, RequestId, Side
from axorders.results import OrderResult
from axorders.risk import RateLimit, RiskLimits, TradingState
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore
from axorders.wire.rest import Position as VenuePosition

SYMBOL = "EURUSD-PERP"
INST = Instrument(
    symbol=SYMBOL, tick_size=Decimal("0.0001"), minimum_order_size=100, price_precision=4
)
S = 1_000_000_000


class FakeSession:
    """The session's read side: orders and instruments."""

    def __init__(self) -> None:
        self.records: dict[str, OrderRecord] = {}
        self.instruments = {SYMBOL: INST}
        self.missing_fills = False

    def instrument(self, symbol: str) -> Instrument:
        from axorders.exceptions import UnknownInstrumentError

        if symbol not in self.instruments:
            raise UnknownInstrumentError(symbol)
        return self.instruments[symbol]

    def order(self, coid: str) -> OrderRecord | None:
        return self.records.get(coid)

    def order_by_venue_id(self, oid: str) -> OrderRecord | None:
        return next((r for r in self.records.values() if r.venue_order_id == oid), None)

    def orders(self) -> list[OrderRecord]:
        return [r for r in self.records.values() if not r.is_terminal]

    def add(
        self, coid: str, side: Side, quantity: int, status: OrderStatus = OrderStatus.ACCEPTED,
        price: str = "1.1000", filled: int = 0,
    ) -> OrderRecord:
        rec = OrderRecord(
            client_order_id=coid, cid=len(self.records) + 1, symbol=SYMBOL, side=side,
            order_type=OrderType.LIMIT, quantity=quantity, price=Decimal(price),
            account_id="A", trader_id="T", strategy_id="S", ts_init=0, status=status,
            filled_qty=filled,
        )
        self.records[coid] = rec
        return rec


class Harness:
    def __init__(self, limits: RiskLimits | None = None, *, journal: JournalWriter | None = None,
                 prices: tuple[Decimal | None, Decimal | None, Decimal | None] | None = None,
                 session: FakeSession | None = None) -> None:
        self.session = session or FakeSession()
        self.published: list[ev.Event] = []
        self.sent: list[Command] = []
        self.now = 10 * S
        self.prices = prices
        self.ready = asyncio.Event()
        self.venue: list[list[VenuePosition]] = [[]]
        self.sweeps = 0
        self.sweep_error: Exception | None = None
        self.guard = RiskGuard(
            self.session,  # type: ignore[arg-type]
            prices=lambda symbol: self.prices,
            publish=self.published.extend,
            send=self.send,
            cancel_all=self.cancel_all,
            ready=self.ready,
            preview=self.preview,
            venue_positions=self.venue_positions,
            journal=journal,
            limits=limits,
            clock=lambda: self.now,
        )

    def send(self, command: Command) -> RequestId | None:
        self.sent.append(command)
        if isinstance(command, CancelOrder):
            rec = self.session.records[command.client_order_id or ""]
            rec.status = OrderStatus.CANCELED
        return RequestId(len(self.sent))

    async def cancel_all(self, timeout: float | None) -> list[OrderResult]:
        self.sweeps += 1
        if self.sweep_error is not None:
            raise self.sweep_error
        out = []
        for rec in self.session.orders():
            rec.status = OrderStatus.CANCELED
            out.append(OrderResult.from_record(rec))
        return out

    async def preview(self, symbol: str, side: Side, quantity: int) -> Decimal | None:
        return Decimal("1.1000")

    async def venue_positions(self) -> list[VenuePosition]:
        return self.venue.pop(0) if len(self.venue) > 1 else self.venue[0]

    def place(self, coid: str, side: str, qty: int, price: str = "1.1000", **kw: Any) -> None:
        self.guard.check(PlaceOrder(client_order_id=coid, symbol=SYMBOL, side=side,
                                    quantity=qty, price=price, **kw))

    def fill(self, coid: str, side: Side, qty: int, price: str, trade: str,
             fee: str | None = None) -> None:
        self.guard.on_fill(
            ev.OrderFilled(
                ts_init=self.now, client_order_id=coid, venue_order_id="O", account_id="A",
                trader_id="T", strategy_id="S", symbol=SYMBOL, ts_event=self.now,
                trade_id=trade, side=side, order_type=OrderType.LIMIT, last_qty=qty,
                last_price=Decimal(price), liquidity_side=ev.LiquiditySide.MAKER,
                filled_qty=qty, leaves_qty=0, quantity=qty, is_final=True,
                fee=None if fee is None else Decimal(fee),
            )
        )


def venue(quantity: int, price: str = "1.1000") -> VenuePosition:
    return VenuePosition(
        account_id="A", symbol=SYMBOL, signed_quantity=quantity,
        signed_cost_basis=Decimal(price) * quantity, signed_notional=Decimal(0),
        timestamp="", realized_pnl=Decimal(0),
    )


# -- checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("qty", "ok"), [(400, True), (500, True), (600, False)])
def test_max_quantity_at_under_and_over(qty: int, ok: bool) -> None:
    h = Harness(RiskLimits(max_quantity=500))
    if ok:
        h.place("a", "BUY", qty)
        assert h.published == []
        return
    with pytest.raises(RiskLimitError) as err:
        h.place("a", "BUY", qty)
    assert str(err.value).startswith("max_quantity for EURUSD-PERP: 500")
    [denied] = h.published
    assert isinstance(denied, ev.OrderDenied) and denied.quantity == 600


@pytest.mark.parametrize(("price", "ok"), [("1.1000", True), ("1.1011", True), ("1.1012", False)])
def test_the_collar_against_the_feed_mid(price: str, ok: bool) -> None:
    # Mid 1.1000; 10 bps = 0.0011.
    h = Harness(RiskLimits(price_collar_bps=Decimal(10)),
                prices=(None, Decimal("1.0999"), Decimal("1.1001")))
    if ok:
        h.place("a", "BUY", 100, price)
    else:
        with pytest.raises(RiskLimitError, match="price_collar_bps"):
            h.place("a", "BUY", 100, price)


async def test_the_collar_reference_is_the_preview_without_a_feed_and_expires() -> None:
    h = Harness(RiskLimits(price_collar_bps=Decimal(10)))
    command = PlaceOrder(client_order_id="a", symbol=SYMBOL, side="BUY", quantity=100,
                         price="1.2000")
    h.guard.check(command)  # no reference at all: the collar is skipped
    assert h.guard.needs_reference(SYMBOL)
    await h.guard.prepare(command)
    assert h.guard.reference(SYMBOL, h.now) == Decimal("1.1000")
    with pytest.raises(RiskLimitError):
        h.guard.check(command)
    h.now += 2 * S  # older than reference_ttl
    assert h.guard.reference(SYMBOL, h.now) is None


def test_working_orders_count_in_flight_resting_and_follow_events() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_position=500, max_open_orders=3), session=session)
    session.add("a", Side.BUY, 300)
    h.place("b", "BUY", 200)  # 300 + 200 = 500: at the limit
    session.add("b", Side.BUY, 200, OrderStatus.PENDING)
    with pytest.raises(RiskLimitError, match="max_position"):
        h.place("c", "BUY", 100)
    h.place("c", "SELL", 500)  # the other side
    session.records["a"].status = OrderStatus.CANCELED
    h.guard.handlers()[ev.OrderCanceled](_canceled("a"))
    exposure = h.guard.working.exposure(SYMBOL, 0)
    assert (exposure.open_orders, exposure.buy_working) == (1, 200)
    h.place("d", "BUY", 300)


def _canceled(coid: str) -> ev.OrderCanceled:
    return ev.OrderCanceled(
        ts_init=0, client_order_id=coid, venue_order_id=None, account_id="A", trader_id="T",
        strategy_id="S", symbol=SYMBOL, ts_event=0, reason="", text="", filled_qty=0,
    )


def test_a_replace_waiting_for_the_venue_counts_its_larger_quantity() -> None:
    session = FakeSession()
    w = WorkingOrders(session)  # type: ignore[arg-type]
    rec = session.add("a", Side.BUY, 100)
    assert w.exposure(SYMBOL, 0).buy_working == 100
    w.asked("a", 400)
    assert w.exposure(SYMBOL, 0).buy_working == 400
    rec.quantity = 400
    w.answered("a")
    assert w.exposure(SYMBOL, 0).buy_working == 400
    rec.status = OrderStatus.FILLED
    w.refresh("a")
    assert w.exposure(SYMBOL, 0).open_orders == 0


def test_rates_refuse_a_burst_and_refill() -> None:
    h = Harness(RiskLimits(submit_rate=RateLimit(2.0, 3)))
    for i in range(3):
        h.place(f"a{i}", "BUY", 100)
    with pytest.raises(RiskLimitError, match="submit_rate"):
        h.place("a3", "BUY", 100)
    h.now += S // 2  # one token back
    h.place("a4", "BUY", 100)
    with pytest.raises(RiskLimitError):
        h.place("a5", "BUY", 100)


def test_states_without_limits_and_cancels_never_checked() -> None:
    h = Harness()
    h.place("a", "BUY", 100)  # no limits, ACTIVE: nothing checked
    h.guard.set_state("HALTED", "why")
    with pytest.raises(RiskLimitError, match="HALTED"):
        h.place("b", "BUY", 100)
    h.session.add("c", Side.BUY, 100)
    with pytest.raises(RiskLimitError):
        h.guard.check(ReplaceOrder("c", None, "1.1001", None))
    h.guard.check(CancelOrder("c"))
    h.guard.set_state("REDUCING")
    h.fill("x", Side.BUY, 300, "1.1", "t1")
    h.place("d", "SELL", 200)
    with pytest.raises(RiskLimitError, match="REDUCING"):
        h.place("e", "BUY", 100)
    with pytest.raises(ValueError, match="trading state"):
        h.guard.set_state("PAUSED")


def test_bad_input_is_left_to_the_session() -> None:
    h = Harness(RiskLimits(max_quantity=1))
    h.place("a", "BUY", "50")  # type: ignore[arg-type]  # under the minimum: left to the session
    h.guard.check(PlaceOrder(client_order_id="b", symbol="NOPE", side="BUY", quantity=1,
                             price="1"))
    assert h.published == []


# -- positions and the journal -----------------------------------------------------------------


async def test_fills_move_positions_once_and_changes_follow() -> None:
    h = Harness()
    h.fill("a", Side.BUY, 200, "1.1000", "t1")
    h.fill("a", Side.BUY, 200, "1.1000", "t1")  # the same fill again
    h.fill("b", Side.SELL, 100, "1.1010", "t2", fee="0.01")
    assert h.published == []  # after the batch
    await asyncio.sleep(0)
    changes = [e for e in h.published if isinstance(e, ev.PositionChanged)]
    assert [c.quantity for c in changes] == [200, 100]
    pos = h.guard.positions()[SYMBOL]
    assert pos.realized_pnl == Decimal("0.1000") and pos.fees == Decimal("0.01")


def test_positions_and_state_are_journaled_and_restored() -> None:
    store = MemoryOrderStore()
    journal = JournalWriter(store, "process", lambda events: None)
    h = Harness(journal=journal)
    h.fill("a", Side.BUY, 200, "1.1000", "t1")
    assert store.get_meta(BOOK_KEY) is None  # staged: the pump's next write carries it
    journal.write([])  # the pump's write
    h.guard.set_state(TradingState.REDUCING, "late")
    assert store.get_meta(BOOK_KEY) and store.get_meta(STATE_KEY)
    again = Harness(journal=journal)
    assert again.guard.state is TradingState.REDUCING and again.guard.reason == "late"
    assert again.guard.positions()[SYMBOL].quantity == 200
    # A fill the records had not covered at the crash comes again: refused by its trade id.
    again.fill("a", Side.BUY, 200, "1.1000", "t1")
    assert again.guard.positions()[SYMBOL].quantity == 200
    # Once the records are committed, the ids they cover leave the journaled window.
    journal.commits += 1
    again.fill("a", Side.BUY, 100, "1.1000", "t2")
    journal.write([])
    assert '"t1"' not in (store.get_meta(BOOK_KEY) or "")
    assert '"t2"' in (store.get_meta(BOOK_KEY) or "")


def test_an_unreadable_state_starts_halted() -> None:
    store = MemoryOrderStore()
    store.set_meta(STATE_KEY, "{not json")
    h = Harness(journal=JournalWriter(store, "process", lambda events: None))
    assert h.guard.state is TradingState.HALTED


async def test_reconcile_adopts_only_a_difference_seen_twice() -> None:
    h = Harness()
    h.fill("a", Side.BUY, 200, "1.1000", "t1")
    h.venue = [[venue(200)]]
    assert await h.guard.reconcile() == []
    h.venue = [[venue(300)], [venue(300)]]
    found = await h.guard.reconcile()
    assert [(m.quantity, m.venue_quantity) for m in found] == [(200, 300)]
    assert h.guard.positions()[SYMBOL].quantity == 300
    assert any(isinstance(e, ev.PositionMismatch) for e in h.published)


# -- the halt sweep ----------------------------------------------------------------------------


async def test_halt_cancels_armed_at_once_and_the_rest_when_ready() -> None:
    h = Harness()
    h.session.add("stop", Side.BUY, 100, OrderStatus.ARMED)
    h.session.add("rest", Side.BUY, 100)
    halting = asyncio.create_task(h.guard.halt("x", None))
    await asyncio.sleep(0.01)
    assert h.session.records["stop"].status is OrderStatus.CANCELED
    assert h.sweeps == 0 and not halting.done()
    h.ready.set()
    h.guard.on_resynced(ev.Resynced(ts_init=0, orders_checked=0, changed=0, external=0,
                                    fills_recovered=0, requests_resolved=0))
    done = await asyncio.wait_for(halting, 1.0)
    assert {r.client_order_id for r in done} == {"stop", "rest"}
    assert h.guard.state is TradingState.HALTED


async def test_a_halt_sweep_cut_by_a_drop_is_owed_until_the_next_resync() -> None:
    from axorders.exceptions import ConnectionLostError

    h = Harness()
    h.ready.set()
    h.sweep_error = ConnectionLostError("gone", reached_venue=None)
    with pytest.raises(Exception, match="did not confirm"):
        await h.guard.halt("x", 0.1)
    h.sweep_error = None
    h.guard.on_resynced(ev.Resynced(ts_init=0, orders_checked=0, changed=0, external=0,
                                    fills_recovered=0, requests_resolved=0))
    await asyncio.sleep(0.01)
    assert h.sweeps == 2


def test_merged_handlers_call_both_in_order() -> None:
    seen: list[str] = []
    merged = merge_handlers(
        {ev.Reconnected: lambda e: seen.append("a")},
        {ev.Reconnected: lambda e: seen.append("b"), ev.Resynced: lambda e: seen.append("c")},
    )
    hub = EventHub(max_queue=10, handlers=merged)
    hub.add_handlers({ev.Reconnected: lambda e: seen.append("d")})
    hub.publish([ev.Reconnected(ts_init=0)])
    assert seen == ["a", "b", "d"]


def test_a_passed_order_and_the_orders_of_events_count_before_the_next_read() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_position=300, max_open_orders=2), session=session)
    w = h.guard.working
    h.place("a", "BUY", 100)
    assert list(w.stale) == ["a"]  # looked at once the session holds it
    session.add("a", Side.BUY, 100, OrderStatus.PENDING)
    h.guard.handlers()[ev.OrderAccepted](_canceled("a"))  # named again: once is enough
    assert list(w.stale) == ["a"]
    h.place("b", "BUY", 100)  # a (100) + b (100)
    session.add("b", Side.BUY, 100, OrderStatus.PENDING)
    with pytest.raises(RiskLimitError, match="max_open_orders"):  # b counted by this check
        h.place("c", "BUY", 100)
    assert w.counts(SYMBOL)[:3] == [2, 200, 0]  # type: ignore[index]
    session.records["a"].status = OrderStatus.CANCELED
    h.guard.handlers()[ev.OrderCanceled](_canceled("a"))
    assert w.stale  # nothing is looked at before a read...
    assert w.counts(SYMBOL)[:3] == [1, 100, 0]  # type: ignore[index]  # ...which settles
    assert not w.stale
    h.place("c", "BUY", 200)  # 100 + 200: at the position limit
    session.add("c", Side.BUY, 200, OrderStatus.PENDING)
    assert w.counts(SYMBOL)[:3] == [2, 300, 0]  # type: ignore[index]


def test_events_of_many_orders_without_a_read_are_looked_at_in_bounded_batches() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_open_orders=10_000), session=session)
    w = h.guard.working
    h.place("first", "BUY", 100)  # a read: the counts are kept from now on
    canceled = h.guard.handlers()[ev.OrderCanceled]
    for i in range(5000):
        session.add(f"o{i}", Side.BUY, 100)
        canceled(_canceled(f"o{i}"))
        assert len(w.stale) < 1024
    assert w.counts(SYMBOL)[0] == 5000  # type: ignore[index]


def test_positions_reach_the_checks_through_the_working_rows() -> None:
    session = FakeSession()
    h = Harness(RiskLimits(max_position=500), session=session)
    w = h.guard.working
    h.fill("x", Side.BUY, 300, "1.1000", "t1")
    h.place("a", "BUY", 200)  # 300 + 200: at the limit
    session.add("a", Side.BUY, 200, OrderStatus.PENDING)
    with pytest.raises(RiskLimitError, match="max_position"):
        h.place("b", "BUY", 1)
    assert w.counts(SYMBOL) == [1, 200, 0, 300]
    h.fill("x", Side.SELL, 300, "1.1000", "t2")  # flat again
    assert w.position(SYMBOL) == 0 and w.counts(SYMBOL) == [1, 200, 0, 0]
    h.place("b", "BUY", 300)
    w.set_positions({SYMBOL: -100})
    assert w.counts(SYMBOL)[3] == -100  # type: ignore[index]
    w.invalidate()  # a recount keeps the positions
    assert w.counts(SYMBOL)[3] == -100  # type: ignore[index]
