"""The scripted ``axorders demo`` run: the real client against the embedded simulator.

It starts the simulator on a free loopback port, connects an :class:`OrdersClient` to it by
URL (with the simulator's API key and secret), and walks through a trading session: load
instruments, rest a limit order and replace it, send a market order, arm a stop-limit that
triggers, cancel, and survive a dropped connection while an order fills. It prints a live log
and ends with tables of orders and fills.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from axorders import events as ev
from axorders.cli.render import make_console, print_fills
from axorders.client import OrdersClient
from axorders.events import format_event
from axorders.sim import SimConfig, SimServer
from axorders.wire.rest import FillInfo

__all__ = ["run_demo"]

SYMBOL = "EURUSD-PERP"


_STYLES: dict[type[ev.Event], str] = {
    ev.OrderAccepted: "green",
    ev.OrderFilled: "bold green",
    ev.OrderReplaced: "cyan",
    ev.OrderCanceled: "yellow",
    ev.OrderExpired: "yellow",
    ev.OrderRejected: "red",
    ev.OrderTriggered: "magenta",
    ev.Disconnected: "red",
    ev.Reconnected: "green",
    ev.Resynced: "green",
    ev.RequestResolved: "red",
}


def _describe(event: ev.Event) -> str | None:
    """One log line for an event (its :func:`~axorders.format_event` line, the name coloured),
    or None for the quiet ones."""
    style = _STYLES.get(type(event))
    if style is None or (isinstance(event, ev.RequestResolved) and event.ok):
        return None
    name, _, fields = format_event(event).partition(" ")
    return f"[{style}]{name}[/] {escape(fields)}"


class _Demo:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.monotonic()

    def log(self, text: str) -> None:
        self.console.print(
            f"[dim]{time.monotonic() - self.t0:6.2f}s[/] {text}", highlight=False, soft_wrap=True
        )

    def on_event(self, event: ev.Event) -> None:
        line = _describe(event)
        if line is not None:
            self.log(line)

    async def wait(self, client: OrdersClient, predicate: object, what: str) -> None:
        deadline = time.monotonic() + 10
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo waited too long for {what}")
            await asyncio.sleep(0.02)

    async def run(self) -> int:
        config = SimConfig(port=0, makers=True, maker_interval=0.2, heartbeat_interval=1.0)
        async with SimServer(config) as sim:
            self.log(f"simulator listening on {sim.base_url}")
            client = OrdersClient(
                sim.base_url,
                api_key=sim.api_key,
                api_secret=sim.api_secret,
                heartbeat=1.0,
                event_queue=False,
                on_event=self.on_event,
            )
            async with client:
                await self.script(client, sim)
                fills = await client.rest.fills()  # as the venue reports them, with fees
            self.tables(client, fills)
        return 0

    async def script(self, client: OrdersClient, sim: SimServer) -> None:
        inst = client.instrument(SYMBOL)
        self.log(
            f"connected as account {client.session.account_id};"
            f" {len(client.session.instruments)} instruments loaded"
        )
        await self.wait(client, lambda: _book(sim, SYMBOL) is not None, "the makers' quotes")
        bid, ask = _book(sim, SYMBOL) or (Decimal(0), Decimal(0))
        self.log(f"{SYMBOL} market {bid} / {ask}")

        self.log("[bold]1. a resting limit order, then a replace[/]")
        low = inst.round_to_tick(bid * Decimal("0.995"), side_up=False)
        await client.place_order("demo-limit", SYMBOL, "BUY", 100, low)
        await client.replace_order("demo-limit", price=low - inst.tick_size * 5, quantity=200)
        await self.wait(client, lambda: _order_price(client, "demo-limit") != low, "the replace")

        self.log("[bold]2. a market order (an aggressive IOC limit priced by the venue)[/]")
        await client.place_order("demo-market", SYMBOL, "BUY", 100, order_type="MARKET")
        await self.wait(client, lambda: _ended(client, "demo-market"), "the market order")

        self.log("[bold]3. a stop-limit, held locally until the market crosses its trigger[/]")
        bid, ask = _book(sim, SYMBOL) or (bid, ask)
        trigger = bid + inst.tick_size  # at or below any ask: the next buy trade reaches it
        await client.submit_order(
            "demo-stop",
            SYMBOL,
            "BUY",
            100,
            trigger + inst.tick_size * 10,
            order_type="STOP_LIMIT",
            trigger_price=trigger,
        )
        self.log(f"stop armed: BUY 100 when the last trade reaches {trigger}")
        await asyncio.sleep(0.3)
        for attempt in range(1, 6):
            if client.order("demo-stop") is not None and not _armed(client, "demo-stop"):
                break
            self.log("a market buy lifts the offer")
            await client.place_order(
                f"demo-lift-{attempt}", SYMBOL, "BUY", 300, order_type="MARKET"
            )
            await asyncio.sleep(0.3)
        await self.wait(client, lambda: _ended(client, "demo-stop"), "the stop to trigger and fill")

        self.log("[bold]4. cancel[/]")
        await client.cancel_order("demo-limit")
        await self.wait(client, lambda: _ended(client, "demo-limit"), "the cancel")

        self.log("[bold]5. the connection drops while an order fills[/]")
        bid, ask = _book(sim, SYMBOL) or (bid, ask)
        rest_price = bid + inst.tick_size  # the best bid
        await client.place_order("demo-gap", SYMBOL, "BUY", 100, rest_price)
        sim.faults.drop()
        await self.wait(client, lambda: not client.is_active, "the drop")
        # A large seller sweeps every bid down to demo-gap's price, demo-gap included.
        sim.add_liquidity(SYMBOL, "SELL", rest_price, 100_000, time_in_force="IOC")
        self.log("a seller hit demo-gap while the client was away")
        await self.wait(client, lambda: _ended(client, "demo-gap"), "the resync")
        self.log("reconnected and resynced: demo-gap's fill was recovered from the venue")

    def tables(self, client: OrdersClient, fills: list[FillInfo]) -> None:
        orders = Table(title="orders")
        for column in ("client order id", "type", "side", "qty", "price", "filled", "state"):
            orders.add_column(column)
        names: dict[str, str] = {}
        for rec in sorted(client.orders(include_ended=True), key=lambda r: r.ts_init):
            for oid in (rec.venue_order_id, *rec.prior_venue_order_ids):
                if oid is not None:
                    names[oid] = rec.client_order_id
            orders.add_row(
                rec.client_order_id,
                rec.order_type.value,
                rec.side.name,
                str(rec.quantity),
                str(rec.price),
                str(rec.filled_qty),
                rec.status.value,
            )
        self.console.print(orders)
        # The fills as the venue reports them over REST, fees included: the same table as
        # `axorders fills`.
        self.console.print("fills", style="italic")
        print_fills(
            sorted(fills, key=lambda f: f.timestamp),
            lambda oid: names.get(oid) if oid is not None else None,
            self.console,
        )


def _book(sim: SimServer, symbol: str) -> tuple[Decimal, Decimal] | None:
    bid, ask = sim.engine.best_prices(symbol)
    if bid is None or ask is None:
        return None
    return bid, ask


def _order_price(client: OrdersClient, coid: str) -> Decimal | None:
    rec = client.order(coid)
    return rec.price if rec is not None else None


def _armed(client: OrdersClient, coid: str) -> bool:
    rec = client.order(coid)
    return rec is not None and rec.status.value == "ARMED"


def _ended(client: OrdersClient, coid: str) -> bool:
    rec = client.order(coid)
    return rec is not None and rec.is_terminal


def run_demo(console: Console | None = None) -> int:
    """Run the demo; returns the exit status."""
    demo = _Demo(console or make_console(wide=True))
    return asyncio.run(demo.run())
