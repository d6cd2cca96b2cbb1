"""Engine invariants under random order flow (hypothesis).

After every command: the book never rests crossed; no order is filled beyond its quantity;
quantities are conserved (``xq + rq = q`` while open, ``rq = 0`` once terminal, both sides of
a trade equal, an order's fills add up to its ``xq``); and executions follow price-time
priority, checked against an independent model of the resting orders.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from axorders.model import Side
from axorders.sim.engine import Engine, Reply
from axorders.sim.instruments import default_instruments, marks_for
from axorders.wire.orders import (
    FilledMsg,
    OrderBody,
    PartiallyFilledMsg,
    ReplacedMsg,
)

EUR = "EURUSD-PERP"
TICK = Decimal("0.0001")
MID = 11388  # ticks
ACCOUNTS = ("A", "B", "C")
OPEN = {"ACCEPTED", "PARTIALLY_FILLED"}

place_op = st.tuples(
    st.just("place"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 5).map(lambda n: n * 100),
    st.integers(-3, 3),  # ticks from the mid
    st.sampled_from(["GTC", "GTC", "IOC", "DAY"]),
    st.sampled_from([False, False, False, True]),  # post-only
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 1000))
replace_op = st.tuples(
    st.just("replace"), st.integers(0, 1000), st.integers(-3, 3), st.integers(1, 6)
)
cancel_all_op = st.tuples(st.just("cancel_all"), st.sampled_from(ACCOUNTS))
close_op = st.tuples(st.just("close"))
_BY_KIND = {
    "place": place_op,
    "cancel": cancel_op,
    "replace": replace_op,
    "cancel_all": cancel_all_op,
    "close": close_op,
}
# Mostly places, so that books fill up and orders cross.
op = st.sampled_from(
    ["place"] * 8 + ["cancel", "cancel", "replace", "replace", "cancel_all", "close"]
).flatmap(_BY_KIND.__getitem__)
ops = st.lists(op, min_size=10, max_size=60)


@dataclass
class Resting:
    oid: str
    account: str
    side: Side
    ticks: int
    remaining: int
    seq: int


@dataclass
class Model:
    """Resting orders in priority order, kept from what the engine reports."""

    resting: dict[str, Resting] = field(default_factory=dict)
    seq: int = 0

    def queue(self, side: Side) -> list[Resting]:
        orders = [r for r in self.resting.values() if r.side is side]
        if side is Side.BUY:
            return sorted(orders, key=lambda r: (-r.ticks, r.seq))
        return sorted(orders, key=lambda r: (r.ticks, r.seq))

    def expected_makers(self, account: str, side: Side, ticks: int, qty: int) -> list[str]:
        """Which resting orders an incoming order should trade with, in order (STP: the
        default cancel-incoming stops at the account's own order)."""
        makers = []
        for resting in self.queue(side.opposite):
            crosses = resting.ticks <= ticks if side is Side.BUY else resting.ticks >= ticks
            if qty <= 0 or not crosses:
                break
            if resting.account == account:
                break
            makers.append(resting.oid)
            qty -= min(qty, resting.remaining)
        return makers


def ticks_of(body: OrderBody) -> int:
    return int(body.price / TICK)


def check_body(body: OrderBody) -> None:
    assert 0 <= body.filled_quantity <= body.quantity
    if body.status in OPEN:
        assert body.filled_quantity + body.remaining_quantity == body.quantity
        assert body.remaining_quantity > 0
    else:
        assert body.remaining_quantity == 0
    if body.status == "FILLED":
        assert body.filled_quantity == body.quantity


def maker_fills(reply: Reply, taker: str) -> list[str]:
    return [
        event.order.venue_order_id
        for _, event in reply.events
        if isinstance(event, FilledMsg | PartiallyFilledMsg)
        and not event.execution.aggressor
        and event.execution.trade_id
        and event.order.venue_order_id != taker
    ]


@settings(max_examples=150, deadline=None)
@given(ops)
def test_engine_invariants(commands: list[tuple[object, ...]]) -> None:
    instruments = default_instruments()
    engine = Engine(instruments, marks_for(instruments), rng=random.Random(11))
    for account in ACCOUNTS:
        engine.add_account(account)
    model = Model()
    known: list[tuple[str, str]] = []  # (account, oid) of every order ever placed
    inherited: dict[str, int] = {}  # replacement oid -> filled quantity it carried over
    now = 1_790_228_411_000_000_000

    for command in commands:
        now += 1_000
        kind = command[0]
        reply: Reply
        expected: list[str] | None = None
        owner: str | None = None  # account of a new order id in the reply
        if kind == "place":
            _, account, side, qty, offset, tif, post_only = command
            assert isinstance(account, str) and isinstance(side, Side)
            assert isinstance(qty, int) and isinstance(offset, int) and isinstance(tif, str)
            ticks = MID + offset
            crosses = any(
                r.ticks <= ticks if side is Side.BUY else r.ticks >= ticks
                for r in model.resting.values()
                if r.side is side.opposite
            )
            expected = (
                [] if post_only and crosses else model.expected_makers(account, side, ticks, qty)
            )
            owner = account
            reply = engine.place(
                account,
                EUR,
                side,
                qty,
                TICK * ticks,
                now=now,
                time_in_force=tif,
                post_only=bool(post_only),
            )
        elif kind == "cancel":
            if not known:
                continue
            account, oid = known[int(command[1]) % len(known)]  # type: ignore[call-overload]
            reply = engine.cancel(account, now, venue_order_id=oid)
        elif kind == "replace":
            if not known:
                continue
            account, oid = known[int(command[1]) % len(known)]  # type: ignore[call-overload]
            owner = account
            old = model.resting.get(oid)
            new_ticks = MID + int(command[2])  # type: ignore[call-overload]
            new_qty = 100 * int(command[3])  # type: ignore[call-overload]
            if old is not None:
                carried = engine.status(account, venue_order_id=oid).filled_quantity  # type: ignore[union-attr]
                if new_qty > carried:
                    saved = model.resting.pop(oid)
                    expected = model.expected_makers(
                        account, old.side, new_ticks, new_qty - carried
                    )
                    model.resting[oid] = saved
            reply = engine.replace(account, oid, now, price=TICK * new_ticks, quantity=new_qty)
            if reply.error is not None:
                expected = None
        elif kind == "cancel_all":
            reply = engine.cancel_all(str(command[1]), now)
        else:
            engine.session_close(now)
            reply = Reply()

        # -- the command's own events
        new_oid = reply.result.venue_order_id if reply.result is not None else None
        for _, event in reply.events:
            for body in (
                (event.old_order, event.new_order)
                if isinstance(event, ReplacedMsg)
                else (getattr(event, "order", None),)
            ):
                if body is not None:
                    check_body(body)
            if isinstance(event, ReplacedMsg) and event.new_order is not None:
                inherited[event.new_order.venue_order_id] = event.new_order.filled_quantity
        if expected is not None and new_oid is not None:
            assert maker_fills(reply, new_oid) == expected
        if new_oid is not None and owner is not None:
            known.append((owner, new_oid))

        # -- the book is never crossed
        bid, ask = engine.best_prices(EUR)
        if bid is not None and ask is not None:
            assert bid < ask

        # -- every order, every account
        fills_by_order: dict[str, int] = defaultdict(int)
        trades: dict[str, list[tuple[Side, int, Decimal, bool]]] = defaultdict(list)
        for account in ACCOUNTS:
            for fill in engine.fills(account):
                fills_by_order[fill.order_id] += fill.quantity
                trades[fill.trade_id].append((fill.side, fill.quantity, fill.price, fill.is_taker))
            for body in engine.history(account):
                check_body(body)
                carried = inherited.get(body.venue_order_id, 0)
                assert fills_by_order.get(body.venue_order_id, 0) == (
                    body.filled_quantity - carried
                )
        for sides in trades.values():
            assert len(sides) == 2
            (side_a, qty_a, px_a, taker_a), (side_b, qty_b, px_b, taker_b) = sides
            assert side_a is side_b.opposite and qty_a == qty_b and px_a == px_b
            assert taker_a != taker_b

        # -- rebuild the model from what rests now (new resting orders join the queue last)
        resting_now = {o.venue_order_id: o for o in engine.resting(EUR)}
        for oid in list(model.resting):
            if oid not in resting_now:
                del model.resting[oid]
        for oid, body in resting_now.items():
            if oid in model.resting:
                model.resting[oid].remaining = body.remaining_quantity
            else:
                model.seq += 1
                account = body.account_id or ""
                model.resting[oid] = Resting(
                    oid, account, body.side, ticks_of(body), body.remaining_quantity, model.seq
                )
