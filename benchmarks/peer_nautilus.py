"""NautilusTrader's AX orders client through the same benchmarks as axorders.

Runs inside the separate virtualenv made by :mod:`benchmarks.peers` (``nautilus_trader`` and
Python 3.12 or newer; axorders is not installed there), against a simulator that
``benchmarks.peers`` started::

    .venv-peers/bin/python -m benchmarks.peer_nautilus --info '<the simulator JSON line>'

It prints one JSON line: ``client_p50_us`` / ``client_p99_us`` (submit → ``OrderAccepted``
seen by the callback, sequential round trips of resting buys, cancel-all over REST between
batches) and ``client_events_per_s`` (``OrderFilled`` objects handed to the callback during a
``POST /sim/flood`` of partial fills over resting orders, first to last).

With ``--reliability --orders N --seed K --drops D --outage S --out FILE`` it drives the flow
of :mod:`benchmarks.reliability` instead (the simulator must have a second user) and writes
what the callback reported to ``FILE`` (a :class:`~benchmarks.reliability.Recorder` as
JSON). The binding is used as it is: it reconnects by itself after a drop, but it neither
replays what happened meanwhile nor reconciles (that is the execution engine's job, which is
not run here); it has no replace, and it cannot cancel an order before the venue's
acknowledgment has given it the venue order id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from nautilus_trader.core import nautilus_pyo3 as nt
from nautilus_trader.test_kit.rust.instruments_pyo3 import TestInstrumentProviderPyo3

from benchmarks import reliability
from benchmarks.common import (
    FLOOD_ORDER_QTY,
    MARK,
    admin_async,
    authenticate,
    cancel_all,
    remember_sim,
    summary_us,
)
from benchmarks.reliability import Recorder, Step

TICK = 0.0001
TRADER = "TRADER-001"
STRATEGY = "S-001"


def _price(ticks_under_mark: int) -> Any:
    """A price on the simulator's 0.0001 grid, written with the instrument's 5 decimals."""
    return nt.Price.from_str(f"{round(MARK / TICK - ticks_under_mark) * TICK:.5f}")


class Peer:
    """One connected client and what its callback has seen."""

    def __init__(self, info: dict[str, str]) -> None:
        self.info = info
        self.instrument = TestInstrumentProviderPyo3.perpetual_contract_eurusd()
        self.client = nt.AxOrdersWebSocketClient(
            info["orders_ws_url"], nt.AccountId("AX-001"), nt.TraderId(TRADER)
        )
        self.client.cache_instrument(self.instrument)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.acks: dict[str, tuple[int, asyncio.Future[None]]] = {}
        self.accepted = 0
        self.fills = 0
        self.fill_target = 0
        self.first_fill = 0.0
        self.last_fill = 0.0
        self.fills_done: asyncio.Future[None] | None = None
        self.accepted_target = 0
        self.accepted_done: asyncio.Future[None] | None = None
        self.run = 0

    def callback(self, event: Any) -> None:
        name = type(event).__name__
        if name == "OrderAccepted":
            self.accepted += 1
            waiter = self.acks.pop(str(event.client_order_id), None)
            if waiter is not None:
                waiter[1].get_loop().call_soon_threadsafe(_done, waiter[1], time.perf_counter_ns())
            done = self.accepted_done
            if done is not None and self.accepted >= self.accepted_target:
                self.accepted_done = None
                done.get_loop().call_soon_threadsafe(_done, done, 0)
        elif name == "OrderFilled":
            self.fills += 1
            if self.fills == 1:
                self.first_fill = time.perf_counter()
            if self.fills == self.fill_target and self.fills_done is not None:
                self.last_fill = time.perf_counter()
                done = self.fills_done
                self.fills_done = None
                done.get_loop().call_soon_threadsafe(_done, done, 0)

    async def connect(self) -> None:
        self.loop = asyncio.get_running_loop()
        token = await asyncio.to_thread(authenticate, self.info)
        await self.client.connect(self.loop, self.callback, token)
        for _ in range(100):
            if self.client.is_active():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the NautilusTrader client did not connect")

    def submit(self, coid: str, ticks_under_mark: int, quantity: int) -> Any:
        return self.client.submit_order(
            nt.TraderId(TRADER),
            nt.StrategyId(STRATEGY),
            self.instrument.id,
            nt.ClientOrderId(coid),
            nt.OrderSide.BUY,
            nt.Quantity.from_int(quantity),
            nt.TimeInForce.GTC,
            _price(ticks_under_mark),
            False,
        )

    async def latency(self, count: int, warmup: int, batch: int = 250) -> dict[str, float]:
        assert self.loop is not None
        self.run += 1
        samples: list[int] = []
        for i in range(warmup + count):
            if i and i % batch == 0:
                await asyncio.to_thread(cancel_all, self.info)
            coid = f"LAT-{self.run}-{i}"
            fut: asyncio.Future[int] = self.loop.create_future()
            started = time.perf_counter_ns()
            self.acks[coid] = (started, fut)  # type: ignore[assignment]
            await self.submit(coid, 50 + i % 20, 100)
            acked = await asyncio.wait_for(fut, 10.0)
            if i >= warmup:
                samples.append(acked - started)
        await asyncio.to_thread(cancel_all, self.info)
        return summary_us(samples, "client")

    async def flood(self, count: int, orders: int, warmup: int = 5000) -> dict[str, float]:
        assert self.loop is not None
        self.run += 1
        self.accepted_target = self.accepted + orders
        self.accepted_done = self.loop.create_future()
        for i in range(orders):
            await self.submit(f"FLOOD-{self.run}-{i}", 100 + i % 50, FLOOD_ORDER_QTY)
        await asyncio.wait_for(self.accepted_done, 60.0)
        rate = e2e = 0.0
        for n in (warmup, count) if warmup else (count,):
            self.fills, self.fill_target = 0, n
            self.fills_done = self.loop.create_future()
            requested = time.perf_counter()
            await admin_async(self.info["base_url"], "POST", "/sim/flood", {"count": n})
            await asyncio.wait_for(self.fills_done, 300.0)
            rate = (n - 1) / (self.last_fill - self.first_fill)
            e2e = n / (self.last_fill - requested)
        await asyncio.to_thread(cancel_all, self.info)
        return {"client_events_per_s": rate, "client_events_per_s_e2e": e2e}


_KINDS = {
    "OrderAccepted": "accepted",
    "OrderFilled": "filled",
    "FillReport": "filled",
    "OrderCanceled": "canceled",
    "OrderExpired": "expired",
    "OrderRejected": "rejected",
    "OrderUpdated": "updated",
    "OrderStatusReport": "status",
    "OrderCancelRejected": "cancel_rejected",
}


class NautilusSide:
    """The reliability flow's client steps on the bare binding (see
    :class:`~benchmarks.reliability.ClientSide`): every event its callback hands over is
    recorded by client order id."""

    def __init__(self, info: dict[str, Any], recorder: Recorder) -> None:
        self.peer = Peer(info)
        self.recorder = recorder
        self.oids: dict[str, str] = {}
        self.peer.callback = self.callback  # type: ignore[method-assign]

    def callback(self, event: Any) -> None:
        name = type(event).__name__
        self.recorder.notes[f"events {name}"] += 1
        kind = _KINDS.get(name)
        if kind is None:
            return
        try:
            data = event.to_dict()
        except Exception:  # a report without to_dict: keep what the attributes say
            data = {k: getattr(event, k, None) for k in ("client_order_id", "venue_order_id")}
        coid = data.get("client_order_id")
        oid = data.get("venue_order_id")
        if coid and oid and coid not in self.oids:
            self.oids[str(coid)] = str(oid)
        fields: dict[str, Any] = {"oid": None if oid is None else str(oid)}
        if kind == "filled":
            fields.update(
                tid=str(data.get("trade_id")),
                qty=str(data.get("last_qty")),
                px=str(data.get("last_px")),
                side=str(data.get("order_side")),
            )
        elif kind == "status":
            fields["state"] = str(data.get("order_status", "")).upper()
        self.recorder.add(kind, None if coid is None else str(coid), **fields)

    def is_active(self) -> bool:
        return bool(self.peer.client.is_active())

    async def place(self, step: Step) -> None:
        peer = self.peer
        try:
            await peer.client.submit_order(
                nt.TraderId(TRADER),
                nt.StrategyId(STRATEGY),
                peer.instrument.id,
                nt.ClientOrderId(step.coid),
                nt.OrderSide.BUY if step.side == "B" else nt.OrderSide.SELL,
                nt.Quantity.from_int(step.qty),
                nt.TimeInForce.IOC if step.kind == "ioc" else nt.TimeInForce.GTC,
                nt.Price.from_str(f"{float(reliability.price_of(step.ticks)):.5f}"),
                False,
            )
        except Exception:
            self.recorder.notes["place raised"] += 1
            self.recorder.add("rejected", step.coid, reason="raised")

    async def cancel(self, step: Step) -> None:
        client = self.peer.client
        coid = nt.ClientOrderId(step.target)
        oid = self.oids.get(step.target)
        if oid is None:
            if step.fast:
                self.recorder.notes["cancels before the ack"] += 1
            try:  # the binding wants the venue order id, which comes with the ack
                await client.cancel_order(coid)
                return
            except Exception:
                self.recorder.notes["cancels refused without the venue order id"] += 1
            deadline = time.monotonic() + 1.0
            while oid is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
                oid = self.oids.get(step.target)
            if oid is None:
                self.recorder.notes["cancels never sent"] += 1
                return
            self.recorder.notes["cancels sent after waiting for the ack"] += 1
        try:
            await client.cancel_order(coid, nt.VenueOrderId(oid))
        except Exception:
            self.recorder.notes["cancel raised"] += 1

    async def replace(self, step: Step) -> None:
        del step
        self.recorder.notes["replaces not in the binding"] += 1


async def _reliability(args: argparse.Namespace) -> None:
    info = json.loads(args.info)
    remember_sim(info)
    plan = reliability.make_plan(args.seed, args.orders, args.drops, args.outage)
    recorder = Recorder()
    side = NautilusSide(info, recorder)
    await side.peer.connect()
    timings = await reliability.drive(plan, side, info, recorder, grace=args.grace)
    reliability.dump(
        args.out, {"recorder": recorder.to_json(), "timings": timings, "version": _version()}
    )


def _done(fut: asyncio.Future[int], value: int) -> None:
    if not fut.done():
        fut.set_result(value)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    info = json.loads(args.info)
    remember_sim(info)
    peer = Peer(info)
    await peer.connect()
    result: dict[str, Any] = {"nautilus_trader": _version()}
    result.update(await peer.latency(args.count, args.warmup))
    result.update(await peer.flood(args.flood, args.orders))
    await peer.client.close()
    return result


def _version() -> str:
    import nautilus_trader

    return str(nautilus_trader.__version__)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer_nautilus")
    parser.add_argument("--info", required=True, help="the simulator's --print-json line")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--flood", type=int, default=200_000)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--reliability", action="store_true", help="the reliability flow")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drops", type=int, default=4)
    parser.add_argument("--outage", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument("--out", help="--reliability: where the recorded events go")
    args = parser.parse_args()
    if args.reliability:
        if not args.out:
            parser.error("--reliability needs --out")
        asyncio.run(_reliability(args))
        sys.stdout.write(json.dumps({"out": args.out}) + "\n")
        sys.stdout.flush()
        os._exit(0)
    result = asyncio.run(_main(args))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # The binding's runtime may panic while the interpreter shuts down; the result is out.
    os._exit(0)


if __name__ == "__main__":
    main()
