"""Chaos soak: thousands of orders through a hostile venue, faults and a ``kill -9``.

``python -m benchmarks.soak`` (``make soak``) runs the full soak; ``--orders`` and ``--seed``
change its size and its luck, ``--liberties`` which of the simulator's venue liberties it
takes (default: all; ``none`` for a kind venue). The simulator runs in one subprocess with
its hostile profile, the trading client in another (so it can be killed with SIGKILL mid-run
and restarted on the same journal), and this process injects faults through the simulator's
admin API (those that end the connection at least ``--cut-gap`` seconds apart, so that the
client's backoff can count a connection stable) and checks, at the end:

* for every order, the fills the client reported add up to the venue's filled quantity, and
  every venue fill (trade id) was delivered to user code, exactly once by each process; a fill
  handed over just before the kill -9 and not journaled yet is delivered once more by the
  restarted process (at least once across a crash), and counted;
* no order was placed twice;
* the client's state equals the venue's after a quiet resync (liberties and faults off, one
  reconnect), and its journal agrees;
* the last worker settles (every order ended, every request answered): the faults go on for
  its first 15 s and then stop, the venue's liberties go on, and it must settle within 60 s;
* no request was left unresolved, and no socket is open after ``close()`` (the simulator's
  own count of sessions);
* no exception escaped in the client, and it reported no more malformed frames than were
  injected;
* no terminal state published and later taken back: once user code was told an order ended
  (rejected, canceled, expired, filled), no later event of that order says otherwise, in the
  same process or after the restart.

The worker records its sessions (``WORK/recording``, see docs/RECORDING.md); on a violation the
last lines give the recording's path and an ``axorders replay --order ID PATH`` line for each
order in question. Its last lines count the liberties the venue took, per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from axorders.sim.faults import LIBERTIES

CUTS = ("drop", "heartbeat_loss", "expire_tokens")  # the faults that end the connection
CUT_GAP = 6.0  # seconds at least between two of them by default (see --cut-gap)
STORM_SECONDS = 15.0  # faults go on this long while the last worker settles
SETTLE_SECONDS = 60.0  # then it must settle within this long
SYMBOLS = ("EURUSD-PERP", "GBPUSD-PERP", "XAU-PERP", "US500-PERP")
FAULTS = (
    "drop",
    "stall",
    "heartbeat_loss",
    "duplicate_events",
    "expire_tokens",
    "send_malformed",
    "send_unknown",
)


# ---------------------------------------------------------------------------------------------
# The worker: a trading process with a journal. It logs what user code saw, one JSON line each.


class _Log:
    """Append-only JSON lines, written straight to the file (they survive a SIGKILL)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record: Any) -> None:
        os.write(self._fd, (json.dumps(record, default=str) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


async def _worker(args: argparse.Namespace) -> int:
    import logging

    from axorders import events as ev
    from axorders.client import OrdersClient
    from axorders.exceptions import AxOrdersError, InvalidStateError
    from axorders.model import Side
    from axorders.store import SqliteOrderStore

    logging.basicConfig(level=logging.ERROR)  # reconnects are expected here
    log = _Log(Path(args.log))
    rng = random.Random(args.seed)

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.OrderFilled):
            log.write(k="fill", coid=event.client_order_id, tid=event.trade_id, qty=event.last_qty)
        elif isinstance(event, ev.RequestResolved):
            log.write(k="res", rid=event.request_id, outcome=event.outcome.value)
        elif isinstance(event, ev.Reconnected):
            log.write(k="reconnected")
        elif isinstance(event, ev.OrderRejected) and event.reason == "LOST_IN_TRANSIT":
            log.write(k="lost", coid=event.client_order_id)
        if isinstance(event, ev.OrderEvent):
            # Every order event's name: a verdict published and later taken back shows here.
            filled = event if isinstance(event, ev.OrderFilled) else None
            log.write(
                k="oe",
                coid=event.client_order_id,
                e=type(event).__name__,
                final=filled is not None and filled.is_final,
                tid=None if filled is None else filled.trade_id,
            )
        elif isinstance(event, ev.MalformedMessage):
            log.write(k="malformed")
        elif isinstance(event, ev.UnknownMessage):
            log.write(k="unknown", reason=event.reason)
        elif isinstance(event, ev.PositionMismatch):
            log.write(
                k="position_mismatch",
                symbol=event.symbol,
                ours=event.quantity,
                venue=event.venue_quantity,
            )

    client = OrdersClient(
        args.url,
        api_key=args.key,
        api_secret=args.secret,
        heartbeat=0.5,
        watchdog=4.0,
        request_timeout=5.0,
        store=SqliteOrderStore(args.journal),
        record=Path(args.journal).parent / "recording",
        event_queue=False,
        on_event=on_event,
    )
    log.write(k="start", pid=os.getpid())
    await _until(client.connect, log)
    quotes: dict[str, tuple[Decimal, Decimal]] = {}

    async def refresh_quotes() -> None:
        for symbol in SYMBOLS:
            inst = client.instrument(symbol)
            qty = inst.minimum_order_size
            ask = await client.rest.preview_aggressive_limit_order(symbol, Side.BUY, qty)
            bid = await client.rest.preview_aggressive_limit_order(symbol, Side.SELL, qty)
            if ask is not None and bid is not None:
                quotes[symbol] = (bid, ask)

    async def until_active() -> None:
        while not client.is_active:
            await asyncio.sleep(0.05)

    async def send(action: str, coro_factory: Any) -> None:
        while True:
            await until_active()
            try:
                rid = await coro_factory()
            except InvalidStateError:
                await asyncio.sleep(0.05)  # dropped between the check and the send
                continue
            if rid is not None:
                log.write(k="req", rid=rid, action=action)
            return

    live: list[str] = []
    for index in range(args.start, args.start + args.count):
        if (index - args.start) % 200 == 0 or not quotes:
            await until_active()
            with contextlib.suppress(AxOrdersError):
                await refresh_quotes()
        symbol = rng.choice(SYMBOLS)
        if symbol not in quotes:
            continue
        inst = client.instrument(symbol)
        bid, ask = quotes[symbol]
        side = rng.choice(("BUY", "SELL"))
        ticks = inst.tick_size * rng.randint(1, 5)
        qty = inst.minimum_order_size * rng.randint(1, 3)
        roll = rng.random()
        if roll < 0.05:  # large at the touch: the best level fills part of it, the rest rests
            price, tif = (ask, "GTC") if side == "BUY" else (bid, "GTC")
            qty = inst.minimum_order_size * 30
        elif roll < 0.45:  # marketable
            price, tif = (ask + ticks, "IOC") if side == "BUY" else (bid - ticks, "IOC")
            if rng.random() < 0.5:
                tif = "GTC"
        else:  # resting near the touch: the makers' moves fill some of them
            price = bid - ticks if side == "BUY" else ask + ticks
            tif = "GTC"
        coid = f"soak-{index}"
        log.write(k="submit", coid=coid)
        await send(
            "place",
            lambda coid=coid, symbol=symbol, side=side, qty=qty, price=price, tif=tif: (
                client.submit_order(coid, symbol, side, qty, price, time_in_force=tif)
            ),
        )
        if tif == "GTC":
            live.append(coid)
            if rng.random() < 0.05:  # a cancel hard on the heels of the place
                await _cancel_soon(client, coid, send)
        if live and rng.random() < 0.15:
            target = live.pop(_pick(client, live, rng))
            rec = client.order(target)
            if rec is not None and not rec.is_terminal and rec.venue_order_id is not None:
                if rng.random() < 0.5:
                    await send("cancel", lambda t=target: client.submit_cancel(t))
                elif rec.status.value in ("ACCEPTED", "PARTIALLY_FILLED") and rec.price:
                    tick = client.instrument(rec.symbol).tick_size
                    step = tick if rec.side is Side.SELL else -tick
                    new_price = client.instrument(rec.symbol).round_to_tick(
                        rec.price + step, side_up=False
                    )
                    log.write(k="replace", coid=target, status=rec.status.value)
                    await send(
                        "replace",
                        lambda t=target, p=new_price: client.submit_replace(t, price=p),
                    )
        if (index - args.start) % 20 == 19:
            while len(client.session.pending_request_ids()) > 20:
                await asyncio.sleep(0.005)
        if args.pace:
            await asyncio.sleep(args.pace)
    if args.finish:
        await _finish(client, send, log, Path(args.quiet))
        await _quiet_resync(client, args, log)
    await client.close()
    log.write(k="closed")
    log.write(k="after_close", sockets=await _open_sockets(args))
    log.write(k="end")
    log.close()
    return 0


def _pick(client: Any, live: list[str], rng: random.Random) -> int:
    """The index of the order to cancel or replace: a partly filled one among the latest
    when there is one (their replaces are the interesting ones), else any."""
    start = max(0, len(live) - 50)
    for index in range(len(live) - 1, start - 1, -1):
        rec = client.order(live[index])
        if rec is not None and rec.status.value == "PARTIALLY_FILLED":
            return index
    return rng.randrange(len(live))


async def _cancel_soon(client: Any, coid: str, send: Any) -> None:
    """Cancel ``coid`` as soon as the venue has named it (before its ``n``, at times)."""
    for _ in range(100):
        rec = client.order(coid)
        if rec is None or rec.is_terminal:
            return
        if rec.venue_order_id is not None:
            await send("cancel", lambda: client.submit_cancel(coid))
            return
        await asyncio.sleep(0.002)


async def _until(connect: Any, log: _Log) -> None:
    """Connect, retrying while the venue refuses (a fault may be active at the start)."""
    from axorders.exceptions import AxOrdersError

    for _ in range(20):
        try:
            await connect()
            return
        except AxOrdersError as exc:
            log.write(k="connect_failed", error=repr(exc))
            await asyncio.sleep(0.5)
    await connect()


async def _admin(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import aiohttp

    headers = {"X-Sim-Token": args.admin_token}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, args.url + path, json=body, headers=headers) as response,
    ):
        return await response.json()


async def _open_sockets(args: argparse.Namespace) -> int:
    """The simulator's count of open sockets, once it has seen the closes (2 s at most)."""
    deadline = time.monotonic() + 2.0
    while True:
        stats = await _admin(args, "GET", "/sim/stats")
        count = int(stats["order_connections"]) + int(stats["md_connections"])
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


async def _quiet_resync(client: Any, args: argparse.Namespace, log: _Log) -> None:
    """Liberties and faults off, one reconnect (a resync from the venue's snapshot), then the
    client's view of every order."""
    Path(args.quiet).touch()  # the conductor stops injecting faults
    await _admin(args, "POST", "/sim/faults", {"action": "clear"})
    await _admin(args, "POST", "/sim/faults", {"action": "drop"})
    deadline = time.monotonic() + 30
    await asyncio.sleep(0.2)
    while time.monotonic() < deadline:
        if (
            client.is_active
            and not client.session.is_resyncing
            and not client.session.pending_request_ids()
        ):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    for record in client.orders(include_ended=True):
        log.write(
            k="final",
            coid=record.client_order_id,
            status=record.status.value,
            filled=record.filled_qty,
        )
    log.write(k="quiet", ok=time.monotonic() < deadline)


def _calm(quiet: Path) -> Path:
    """The marker that stops the fault storm (the venue's liberties go on)."""
    return quiet.with_name("calm")


async def _finish(client: Any, send: Any, log: _Log, quiet: Path) -> None:
    """Cancel what rests, then wait until every order and request has settled.

    The faults go on for the first ``STORM_SECONDS`` of the wait. A client whose every
    connection is cut within a second may not finish a resync under them, so the storm then
    stops (the venue's liberties go on) and the client must settle within ``SETTLE_SECONDS``
    of that: liveness is judged on a venue that keeps to the protocol, not during a storm.
    """
    await send("cancel_all", client.submit_cancel_all)
    storm_end = time.monotonic() + STORM_SECONDS
    deadline = storm_end + SETTLE_SECONDS
    calm = False
    while time.monotonic() < deadline:
        if not calm and time.monotonic() >= storm_end:
            _calm(quiet).touch()
            calm = True
        settled = (
            client.is_active
            and not client.session.is_resyncing
            and not client.session.pending_request_ids()
            and not client.session.missing_fills
            and not [r for r in client.orders() if not r.is_terminal]
        )
        if settled:
            break
        live = [r for r in client.orders() if not r.is_terminal and r.venue_order_id]
        if client.is_active and live and not client.session.pending_request_ids():
            await send("cancel_all", client.submit_cancel_all)
        await asyncio.sleep(0.2)
    ok = time.monotonic() < deadline
    log.write(k="settled", ok=ok, calm=calm, **({} if ok else _unsettled(client)))
    # The positions as the client's fills made them (the venue's word is not asked here).
    log.write(k="positions", held={s: p.quantity for s, p in client.positions().items()})


def _unsettled(client: Any) -> dict[str, Any]:
    """What kept the client from settling, for the report."""
    session = client.session
    return {
        "active": client.is_active,
        "resyncing": session.is_resyncing,
        "pending": len(session.pending_request_ids()),
        "missing_fills": bool(session.missing_fills),
        "live": [
            f"{r.client_order_id}:{r.status.value}:{r.venue_order_id}"
            for r in client.orders()
            if not r.is_terminal
        ][:10],
    }


# ---------------------------------------------------------------------------------------------
# The conductor.


@dataclass
class SoakResult:
    orders: int = 0
    fills: int = 0
    drops_survived: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    killed: bool = False
    cut_by_kill: int = 0
    seconds: float = 0.0
    liberties: dict[str, int] = field(default_factory=dict)
    taken: tuple[str, ...] = ()
    malformed_seen: int = 0
    unknown_seen: int = 0
    redelivered: int = 0  # fills delivered again by the process after the kill
    settled_in_storm: bool = False  # the last worker settled while the faults went on
    violations: list[str] = field(default_factory=list)
    taken_back: int = 0  # terminal states published and later contradicted
    in_question: list[str] = field(default_factory=list)  # client order ids of violations
    recording: str = ""


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by the kill
            records.append(json.loads(line))
    return records


def _start_sim(
    seed: int, liberties: Sequence[str]
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    hostile = ["--hostile", "--liberties", ",".join(liberties)] if liberties else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "axorders.sim",
            "--port",
            "0",
            "--print-json",
            "--seed",
            str(seed),
            "--maker-interval",
            "0.05",
            "--heartbeat",
            "0.5",
            *hostile,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def _start_worker(
    info: dict[str, str],
    work: Path,
    start: int,
    count: int,
    seed: int,
    *,
    finish: bool,
    pace: float,
) -> subprocess.Popen[bytes]:
    # The worker's log output is kept: an exception that escaped into it is a violation.
    with (work / "worker.err").open("ab") as errors:
        return _popen_worker(info, work, start, count, seed, finish, pace, errors)


def _popen_worker(
    info: dict[str, str],
    work: Path,
    start: int,
    count: int,
    seed: int,
    finish: bool,
    pace: float,
    errors: Any,
) -> subprocess.Popen[bytes]:
    # Values go as --flag=value: a random token may begin with "-".
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.soak",
            "--worker",
            f"--url={info['base_url']}",
            f"--key={info['api_key']}",
            f"--secret={info['api_secret']}",
            "--journal",
            str(work / "journal.sqlite"),
            "--log",
            str(work / "events.jsonl"),
            "--start",
            str(start),
            "--count",
            str(count),
            "--seed",
            str(seed),
            "--pace",
            str(pace),
            f"--admin-token={info['admin_token']}",
            "--quiet",
            str(work / "quiet"),
            *(["--finish"] if finish else []),
        ],
        stderr=errors,
    )


async def _inject_faults(
    info: dict[str, str],
    quiet: Path,
    stop: asyncio.Event,
    rng: random.Random,
    result: SoakResult,
    interval: float,
    cut_gap: float,
) -> None:
    import aiohttp

    base_url = info["base_url"]
    headers = {"X-Sim-Token": info["admin_token"]}
    async with aiohttp.ClientSession() as http:

        async def fault(**action: Any) -> None:
            try:
                async with http.post(
                    f"{base_url}/sim/faults", json=action, headers=headers
                ) as response:
                    await response.read()
            except aiohttp.ClientError:
                pass

        last_cut = -math.inf
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), rng.uniform(interval * 0.5, interval * 1.5))
                return
            except TimeoutError:
                pass
            if quiet.exists() or _calm(quiet).exists():
                continue
            kind = rng.choice(FAULTS)
            if kind in CUTS:
                # A connection cut sooner than the client's backoff counts it stable would
                # keep it waiting out its longest delay, not trading: the soak is about orders.
                if time.monotonic() - last_cut < cut_gap:
                    kind = rng.choice([k for k in FAULTS if k not in CUTS])
                else:
                    last_cut = time.monotonic()
            result.faults[kind] += 1
            if kind == "drop":
                await fault(action="drop")
            elif kind == "stall":
                await fault(action="stall", seconds=0.3)
            elif kind == "heartbeat_loss":
                await fault(action="stop_heartbeats")
                await fault(action="stall", seconds=3.0)
                await fault(action="resume_heartbeats")
            elif kind == "duplicate_events":
                await fault(action="duplicate_events", count=5)
            elif kind == "expire_tokens":
                await fault(action="expire_tokens", close=True)
            else:
                await fault(action=kind)


def _venue_orders(base_url: str, key: str, secret: str) -> tuple[list[Any], list[Any]]:
    """Every order and every fill of the account, read over REST."""
    from axorders.auth import ApiKeyAuth
    from axorders.rest import RestClient
    from axorders.wire.rest import OrdersHistoryPage

    async def fetch() -> tuple[list[Any], list[Any]]:
        auth = ApiKeyAuth(base_url, key, secret)
        rest = RestClient(base_url, auth)
        try:
            fills = await rest.fills()
            orders: list[Any] = []
            cursor: str | None = None
            while True:
                params = {"limit": "500"}
                if cursor:
                    params["cursor"] = cursor
                page = await rest._call("GET", "/orders/orders", OrdersHistoryPage, params=params)
                orders.extend(page.orders)
                if not page.next_cursor or not page.orders:
                    break
                cursor = page.next_cursor
            return orders, fills
        finally:
            await rest.close()
            await auth.close()

    return asyncio.run(fetch())


_TERMINAL: Final = frozenset({"OrderRejected", "OrderCanceled", "OrderExpired"})
_TAKE_BACK: Final = frozenset(
    {
        "OrderAccepted",
        "OrderFilled",
        "OrderReplaced",
        "OrderStateCorrected",
        "OrderStatusUnknown",
        "OrderRejected",
        "OrderCanceled",
        "OrderExpired",
    }
)
"""After an end, none of these may follow for the same order (a second end is one more
verdict too: the first was not the venue's last word)."""


def _in_question(violations: list[str], submitted: set[str]) -> list[str]:
    """The client order ids the violations name (first word of each), in order, once."""
    found: list[str] = []
    for line in violations:
        coid = line.split(":", 1)[0]
        if coid in submitted and coid not in found:
            found.append(coid)
    return found


def _venue_positions(base_url: str, key: str, secret: str) -> dict[str, int]:
    """The account's signed position per symbol, read over REST."""
    from axorders.auth import ApiKeyAuth
    from axorders.rest import RestClient

    async def fetch() -> dict[str, int]:
        auth = ApiKeyAuth(base_url, key, secret)
        rest = RestClient(base_url, auth)
        try:
            return {p.symbol: p.signed_quantity for p in await rest.positions()}
        finally:
            await rest.close()
            await auth.close()

    return asyncio.run(fetch())


def _check_positions(log: list[dict[str, Any]], venue: dict[str, int], v: list[str]) -> None:
    """Every symbol's position, as the last process's fills made it, equals the venue's."""
    final = [r for r in log if r["k"] == "positions"]
    if not final:
        v.append("positions: the worker never reported its positions")
        return
    held: dict[str, int] = final[-1]["held"]
    for symbol in sorted(set(held) | set(venue)):
        if held.get(symbol, 0) != venue.get(symbol, 0):
            v.append(
                f"position of {symbol}: client {held.get(symbol, 0)}, venue {venue.get(symbol, 0)}"
            )


def _check(work: Path, info: dict[str, str], result: SoakResult) -> None:
    from axorders.model import cid_for
    from axorders.store import SqliteOrderStore

    log = _read_log(work / "events.jsonl")
    _check_positions(
        log,
        _venue_positions(info["base_url"], info["api_key"], info["api_secret"]),
        result.violations,
    )
    venue_orders, venue_fills = _venue_orders(info["base_url"], info["api_key"], info["api_secret"])
    store = SqliteOrderStore(work / "journal.sqlite")
    records = {r.client_order_id: r for r in store.load()}
    store.close()
    v = result.violations

    # Orders placed, and placed at most once.
    by_cid: dict[int, list[Any]] = {}
    for order in venue_orders:
        if order.cid is not None:
            by_cid.setdefault(order.cid, []).append(order)
    submitted = {r["coid"] for r in log if r["k"] == "submit"}
    replaces = Counter(r["coid"] for r in log if r["k"] == "replace")
    result.orders = len(submitted)
    for coid in submitted:
        orders = by_cid.get(cid_for(coid), [])
        if len(orders) > 1 + replaces[coid]:
            v.append(f"{coid}: {len(orders)} venue orders for one place")

    # Final states equal the venue's.
    for coid in submitted:
        rec = records.get(coid)
        orders = sorted(by_cid.get(cid_for(coid), []), key=lambda o: (o.ts, o.tn), reverse=True)
        current = [o for o in orders if o.reject_reason != "ORIGINAL_ORDER_TERMINATED"]
        if rec is None:
            if current:
                v.append(f"{coid}: on the venue ({current[0].status}) but not in the journal")
            continue
        if not current:
            if not (rec.status.value == "REJECTED" and rec.venue_order_id is None):
                v.append(f"{coid}: journal says {rec.status.value}, the venue never saw it")
            continue
        venue = current[0]
        if venue.status != rec.status.value or venue.filled_quantity != rec.filled_qty:
            v.append(
                f"{coid}: client {rec.status.value} filled {rec.filled_qty},"
                f" venue {venue.status} filled {venue.filled_quantity}"
            )

    # Every fill delivered: exactly once by a process. A fill handed to user code just before
    # the kill -9, and not yet journaled then, is delivered again by the restarted process (at
    # least once across a crash: the journal counts only fills user code was given); those
    # are counted, not violations.
    fills_log: list[dict[str, Any]] = []
    runs_of: dict[str, list[int]] = {}
    process = -1
    for record in log:
        if record["k"] == "start":
            process += 1
        elif record["k"] == "fill":
            if record["tid"] not in runs_of:
                fills_log.append(record)
            runs_of.setdefault(record["tid"], []).append(process)
    result.fills = len(venue_fills)
    for fill in venue_fills:
        per_run = Counter(runs_of.pop(fill.trade_id, []))
        if not per_run:
            v.append(f"fill {fill.trade_id} of {fill.order_id} never delivered")
        elif max(per_run.values()) > 1:
            v.append(
                f"fill {fill.trade_id} of {fill.order_id} delivered"
                f" {max(per_run.values())} times by one process"
            )
        elif len(per_run) > 1:
            result.redelivered += 1
    for tid, seen in runs_of.items():
        v.append(f"fill {tid} delivered {len(seen)} times but the venue has no such fill")
    cid_of_order = {o.venue_order_id: o.cid for o in venue_orders}
    venue_filled: Counter[int] = Counter()
    for fill in venue_fills:
        cid = cid_of_order.get(fill.order_id)
        if cid is not None:
            venue_filled[cid] += fill.quantity
    reported: Counter[str] = Counter()
    for record in fills_log:
        if record.get("coid") is not None:
            reported[record["coid"]] += int(record["qty"])
    for coid in submitted:
        want = venue_filled.get(cid_for(coid), 0)
        if reported[coid] != want:
            v.append(f"{coid}: the client reported fills of {reported[coid]}, the venue {want}")

    # The client's view after a quiet resync equals the venue's.
    finals = {r["coid"]: r for r in log if r["k"] == "final"}
    if not any(r["k"] == "quiet" and r["ok"] for r in log):
        v.append("the quiet resync never settled")
    for coid in submitted:
        orders = sorted(by_cid.get(cid_for(coid), []), key=lambda o: (o.ts, o.tn), reverse=True)
        current = [o for o in orders if o.reject_reason != "ORIGINAL_ORDER_TERMINATED"]
        final = finals.get(coid)
        if not current or final is None:
            continue  # compared with the journal above
        venue = current[0]
        if venue.status != final["status"] or venue.filled_quantity != final["filled"]:
            v.append(
                f"{coid}: after the quiet resync the client says {final['status']} filled"
                f" {final['filled']}, the venue {venue.status} filled {venue.filled_quantity}"
            )

    # No terminal state published and later taken back: once user code was told an order
    # ended (rejected, canceled, expired, filled), no later event of that process says
    # otherwise. A process restarted after the kill -9 may tell an end again, and deliver a
    # fill again (at least once across a crash: the journal counts what user code was given),
    # but never another end.
    ended: dict[str, tuple[str, int]] = {}
    delivered: set[str] = set()
    process = -1
    for record in log:
        if record["k"] == "start":
            process += 1
            continue
        if record["k"] != "oe":
            continue
        coid, name = record["coid"], record["e"]
        end = name if name in _TERMINAL or (name == "OrderFilled" and record.get("final")) else None
        if coid in ended and name in _TAKE_BACK:
            first, when = ended[coid]
            again = when < process and (
                end == first or (name == "OrderFilled" and record.get("tid") in delivered)
            )
            if not again:
                result.taken_back += 1
                v.append(f"{coid}: {first} published, then {name}")
                del ended[coid]
        elif end is not None:
            ended[coid] = (end, process)
        if record.get("tid") is not None:
            delivered.add(record["tid"])

    # No exception escaped into the client's log.
    err_path = work / "worker.err"
    err_text = err_path.read_text(errors="replace") if err_path.exists() else ""
    tracebacks = err_text.count("Traceback (most recent call last)")
    if tracebacks:
        last = [line for line in err_text.splitlines() if line and not line[0].isspace()]
        v.append(f"{tracebacks} exceptions escaped in the client, e.g. {last[-1][:160]!r}")

    # No socket open after close().
    for record in log:
        if record["k"] == "after_close" and record["sockets"]:
            v.append(f"{record['sockets']} sockets still open on the venue after close()")

    # No request left unresolved (requests cut by the kill die with their process).
    runs: list[list[dict[str, Any]]] = []
    for record in log:
        if record["k"] == "start":
            runs.append([])
        if runs:
            runs[-1].append(record)
    for number, run in enumerate(runs):
        asked = {r["rid"] for r in run if r["k"] == "req"}
        resolved = {r["rid"] for r in run if r["k"] == "res"}
        open_ = asked - resolved
        if number < len(runs) - 1:
            result.cut_by_kill += len(open_)
        elif open_:
            v.append(f"{len(open_)} requests never resolved: {sorted(open_)[:10]}")
    settles = [r for r in log if r["k"] == "settled"]
    result.settled_in_storm = any(r["ok"] and not r.get("calm") for r in settles)
    if not any(r["ok"] for r in settles):
        why = {k: val for k, val in settles[-1].items() if k not in ("k", "ok")} if settles else {}
        v.append("the last worker never settled" + (f": {why}" if why else ""))
    result.drops_survived = sum(1 for r in log if r["k"] == "reconnected")
    result.malformed_seen = sum(1 for r in log if r["k"] == "malformed")
    result.unknown_seen = sum(1 for r in log if r["k"] == "unknown")
    # Each injected malformed frame reaches the one orders socket at most once; any more that
    # the client reported were valid messages it could not read (e.g. fragmented ones).
    injected = result.faults["send_malformed"]
    if result.malformed_seen > injected:
        v.append(
            f"the client reported {result.malformed_seen} malformed frames,"
            f" only {injected} were injected"
        )

    result.in_question = _in_question(v, submitted)

async def _liberties_taken(info: dict[str, str]) -> dict[str, int]:
    import aiohttp

    headers = {"X-Sim-Token": info["admin_token"]}
    async with (
        aiohttp.ClientSession() as http,
        http.get(info["base_url"] + "/sim/stats", headers=headers) as response,
    ):
        stats = await response.json()
    return dict(stats.get("liberties", {}))


async def _conduct(
    orders: int,
    seed: int,
    work: Path,
    *,
    kill: bool,
    fault_interval: float,
    pace: float,
    liberties: Sequence[str],
    max_seconds: float | None = None,
    cut_gap: float = CUT_GAP,
) -> SoakResult:
    result = SoakResult(taken=tuple(liberties))
    rng = random.Random(seed)
    t0 = time.monotonic()
    sim, info = _start_sim(seed, liberties)
    stop = asyncio.Event()
    injector = asyncio.create_task(
        _inject_faults(info, work / "quiet", stop, rng, result, fault_interval, cut_gap)
    )
    limiter = (
        asyncio.create_task(_limit(max_seconds, stop, result)) if max_seconds else None
    )
    try:
        first = orders // 2 if kill else orders
        worker = _start_worker(info, work, 0, first, seed, finish=not kill, pace=pace)
        if kill:
            target = max(1, first // 2)
            submits = 0
            offset = 0
            log_path = work / "events.jsonl"
            while worker.poll() is None:
                if log_path.exists():
                    with log_path.open("rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read()
                    complete = chunk.rfind(b"\n") + 1
                    offset += complete
                    submits += chunk[:complete].count(b'"k": "submit"')
                if submits >= target:
                    worker.send_signal(signal.SIGKILL)
                    result.killed = True
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(worker.wait)
            done = sum(1 for r in _read_log(work / "events.jsonl") if r["k"] == "submit")
            worker = _start_worker(
                info, work, done, orders - done, seed + 1, finish=True, pace=pace
            )
        await asyncio.to_thread(worker.wait)
        stop.set()
        await injector
        # Let the venue finish what it is doing before it is read.
        await asyncio.sleep(0.5)
        if worker.returncode != 0:
            result.violations.append(f"the worker exited with status {worker.returncode}")
        result.liberties = await _liberties_taken(info)
        await asyncio.to_thread(_check, work, info, result)
        result.recording = str(work / "recording")
    finally:
        stop.set()
        if not injector.done():
            injector.cancel()
        if limiter is not None and not limiter.done():
            limiter.cancel()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
        if sim.stdout is not None:
            sim.stdout.close()
    result.seconds = time.monotonic() - t0
    return result


async def _limit(seconds: float, stop: asyncio.Event, result: SoakResult) -> None:
    """A soak that has not finished after ``seconds`` is a violation (the client made too little
    progress under the faults); the faults stop then, so that the run still ends and is checked."""
    await asyncio.sleep(seconds)
    if not stop.is_set():
        result.violations.append(
            f"the soak did not finish within {seconds:g} s; faults stopped then"
        )
        stop.set()


def parse_liberties(text: str | None) -> tuple[str, ...]:
    """``all`` (or None), ``none`` (or empty), or comma-separated liberty names.

    Raises:
        ValueError: an unknown name.
    """
    if text is None or text.strip() == "all":
        return LIBERTIES
    names = tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in LIBERTIES]
    if unknown:
        raise ValueError(f"unknown liberty {unknown[0]!r} (known: {', '.join(LIBERTIES)})")
    return names


def run(
    orders: int = 10_000,
    seed: int = 7,
    work: Path | None = None,
    *,
    kill: bool = True,
    fault_interval: float = 1.0,
    pace: float = 0.0,
    liberties: Sequence[str] = LIBERTIES,
    max_seconds: float | None = None,
    cut_gap: float = CUT_GAP,
) -> SoakResult:
    """Run one soak and return its result (``violations`` empty when every invariant holds).

    ``liberties`` are the venue liberties the simulator takes (empty: a kind venue). With
    ``max_seconds``, a run still going after that long is a violation, and its faults stop.
    Faults that end the connection come at least ``cut_gap`` seconds apart.
    """
    import tempfile

    def conduct(path: Path) -> SoakResult:
        return asyncio.run(
            _conduct(
                orders,
                seed,
                path,
                kill=kill,
                fault_interval=fault_interval,
                pace=pace,
                liberties=tuple(liberties),
                max_seconds=max_seconds,
                cut_gap=cut_gap,
            )
        )

    if work is None:
        with tempfile.TemporaryDirectory(prefix="axorders-soak-") as tmp:
            return conduct(Path(tmp))
    work.mkdir(parents=True, exist_ok=True)
    return conduct(work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--fault-interval", type=float, default=0.25, help="mean seconds")
    parser.add_argument(
        "--cut-gap",
        type=float,
        default=CUT_GAP,
        help="seconds at least between two faults that end the connection (drop, heartbeat"
        " loss, token expiry); 0 lets them come as often as the others",
    )
    parser.add_argument("--pace", type=float, default=0.002, help="seconds between orders")
    parser.add_argument("--work", type=Path, help="keep the journal and logs here")
    parser.add_argument(
        "--max-seconds", type=float, help="a run still going after this long is a violation"
    )
    parser.add_argument(
        "--liberties",
        default="all",
        help="venue liberties to take: all (default), none, or names separated by commas "
        f"({', '.join(LIBERTIES)})",
    )
    worker = parser.add_argument_group("worker (internal)")
    worker.add_argument("--worker", action="store_true")
    worker.add_argument("--url")
    worker.add_argument("--key")
    worker.add_argument("--secret")
    worker.add_argument("--journal")
    worker.add_argument("--log")
    worker.add_argument("--start", type=int, default=0)
    worker.add_argument("--count", type=int, default=0)
    worker.add_argument("--finish", action="store_true")
    worker.add_argument("--admin-token")
    worker.add_argument("--quiet")
    args = parser.parse_args(argv)
    if args.worker:
        return asyncio.run(_worker(args))
    try:
        liberties = parse_liberties(args.liberties)
    except ValueError as exc:
        parser.error(str(exc))
    result = run(
        args.orders,
        args.seed,
        args.work,
        kill=not args.no_kill,
        fault_interval=args.fault_interval,
        cut_gap=args.cut_gap,
        pace=args.pace,
        liberties=liberties,
        max_seconds=args.max_seconds,
    )
    print(f"orders placed        {result.orders}")
    print(f"venue fills          {result.fills}")
    print(f"drops survived       {result.drops_survived}")
    print(
        f"client saw           {result.malformed_seen} malformed and {result.unknown_seen}"
        " unknown frames (injected ones included)"
    )
    print(
        f"faults injected      {sum(result.faults.values())} {dict(sorted(result.faults.items()))}"
    )
    print(
        f"client killed (-9)   {'yes' if result.killed else 'no'}"
        f" ({result.cut_by_kill} requests died with it,"
        f" {result.redelivered} fills delivered again after it)"
    )
    print(
        "settled              "
        + ("under the faults" if result.settled_in_storm else "after the faults stopped")
    )
    print(f"seconds              {result.seconds:.1f}")
    print(f"verdicts taken back  {result.taken_back}")
    print(f"violations           {len(result.violations)}")
    for line in result.violations[:50]:
        print(f"  {line}")
    if result.violations and result.recording:
        print(f"recording            {result.recording}")
        for coid in result.in_question[:20]:
            print(f"  axorders replay --order {coid} {result.recording}")
    print(f"liberties on         {', '.join(result.taken) or 'none'}")
    print(f"liberties taken      {sum(result.liberties.values())}")
    for kind in LIBERTIES:
        print(f"  {kind:<18} {result.liberties.get(kind, 0)}")
    return 0 if not result.violations else 1


if __name__ == "__main__":
    raise SystemExit(main())
