"""The reliability half of ``make bench-peers``: one seeded order flow, a hostile venue, a score.

Standard library only: :mod:`benchmarks.peer_nautilus` imports this module inside the peer
virtualenv, where axorders is not installed. What lives here is what both runs share:

* :func:`make_plan`: the order flow, drawn from ``random.Random(seed)``: resting limits near
  the touch, IOCs (most of them marketable), cancels (some right behind their place, before
  the venue can have acknowledged it), replaces, and the faults (connection drops, one outage)
  at fixed steps. Client order ids are ``R-<n>``.
* :class:`Counterparty`: the simulator's second user, over plain REST. It quotes the side
  the flow's IOCs trade against and sells into (buys from) the flow's resting orders.
* :func:`drive`: runs a plan step by step through a :class:`ClientSide` (the one thing that
  differs between the runs), with the counterparty's trades and the faults in between.
* :func:`venue_truth` and :func:`score`: after the run, the venue's orders and fills of the
  account against what the client reported.

The flow trades one side per block of orders (buys, then sells...), so that neither account
ever meets its own orders (the simulator's self-trade prevention would cancel them): in a
buying block the counterparty quotes an ask one tick over the mark (the flow's marketable
IOC buys take it) and sells into the flow's bids three to seven ticks under the mark.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Final, Protocol

from benchmarks.common import MARK, SYMBOL, admin

__all__ = [
    "BLOCK",
    "TICK",
    "ClientSide",
    "Counterparty",
    "Recorder",
    "Score",
    "Step",
    "drive",
    "make_plan",
    "match_by_signature",
    "price_of",
    "score",
    "venue_truth",
]

TICK: Final = Decimal("0.0001")
"""EURUSD-PERP's tick on the simulator."""
LOT: Final = 100
"""Its minimum quantity."""
BLOCK: Final = 40
"""Orders per one-sided block of the flow."""
QUOTE_QTY: Final = 100_000_000
"""The counterparty's quote: never used up."""
_MARK: Final = Decimal(str(MARK))
FOREIGN_CID: Final = 1 << 63
"""Orders with a ``cid`` at or over this are the hostile venue's "other sessions"."""

TERMINAL: Final = frozenset({"FILLED", "DONE", "REJECTED"})
"""The terminal classes of an order's state (``DONE``: canceled or expired)."""


def price_of(ticks: int) -> str:
    """The price ``ticks`` ticks over the mark (under it when negative), as a string."""
    return str(_MARK + TICK * ticks)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the flow.

    ``kind`` is one of:

    * ``place``: a GTC limit ``coid`` (``side`` ``B``/``S``, ``ticks`` from the mark, ``qty``);
    * ``ioc``: the same as an IOC;
    * ``cancel``: cancel ``target``; ``fast`` when it follows its place at once (before the
      venue can have acknowledged it);
    * ``replace``: move ``target`` to ``ticks`` (one tick further from the touch);
    * ``take``: the counterparty sends an IOC of ``qty`` at ``ticks`` on ``side``;
    * ``quote``: the counterparty cancels what it rests and quotes ``side`` at ``ticks``;
    * ``drop``: every orders socket of the flow's user is cut;
    * ``outage``: the venue is down for ``seconds``;
    * ``pause``: sleep ``seconds``.
    """

    kind: str
    coid: str = ""
    side: str = ""
    ticks: int = 0
    qty: int = 0
    target: str = ""
    fast: bool = False
    seconds: float = 0.0


def make_plan(seed: int, orders: int, drops: int = 4, outage: float = 2.0) -> list[Step]:
    """The flow of ``orders`` orders for ``seed``: the same list in every process.

    ``drops`` connection drops come at evenly spaced orders, each followed at once by a
    counterparty trade (fills made while the client is away); one outage of ``outage``
    seconds (0: none) comes at 60 % of the flow.
    """
    if orders < 1 or drops < 0 or outage < 0:
        raise ValueError("orders must be positive, drops and outage not negative")
    rng = random.Random(seed)
    steps: list[Step] = []
    drop_at = {round(orders * (k + 1) / (drops + 1)) for k in range(drops)}
    outage_at = round(orders * 0.6) if outage > 0 else -1
    live: list[str] = []
    side = "B"
    for n in range(orders):
        if n % BLOCK == 0:
            side = "B" if (n // BLOCK) % 2 == 0 else "S"
            away = 1 if side == "B" else -1  # ticks toward the other side of the book
            steps.append(Step("quote", side="S" if side == "B" else "B", ticks=away, qty=QUOTE_QTY))
        away = 1 if side == "B" else -1
        coid = f"R-{n}"
        qty = LOT * rng.randint(1, 20)
        roll = rng.random()
        if roll < 0.25:
            # an IOC: mostly marketable (it takes the counterparty's quote), else it ends unfilled
            ticks = 2 * away if rng.random() < 0.75 else -2 * away
            steps.append(Step("ioc", coid, side, ticks, qty))
        else:
            ticks = -away * rng.randint(3, 7)
            steps.append(Step("place", coid, side, ticks, qty))
            if roll < 0.37:
                steps.append(Step("cancel", target=coid, fast=True))
            else:
                live.append(coid)
        if live and rng.random() < 0.12:
            steps.append(Step("cancel", target=live.pop(rng.randrange(len(live)))))
        if live and rng.random() < 0.06:
            target = live[rng.randrange(len(live))]
            number = int(target[2:])
            # the block the target was placed in gives its side; one tick further away
            old_side = "B" if (number // BLOCK) % 2 == 0 else "S"
            steps.append(
                Step("replace", target=target, side=old_side, ticks=-8 if old_side == "B" else 8)
            )
        if rng.random() < 0.2 or n in drop_at:
            if n in drop_at:
                steps.append(Step("drop"))
            # the counterparty trades into the flow's resting orders of this block's side
            steps.append(
                Step(
                    "take",
                    side="S" if side == "B" else "B",
                    ticks=-8 * away,
                    qty=LOT * rng.randint(1, 40),
                )
            )
        if n == outage_at:
            steps.append(Step("outage", seconds=outage))
        if rng.random() < 0.05:
            steps.append(Step("pause", seconds=rng.uniform(0.005, 0.03)))
    return steps


def plan_orders(plan: Iterable[Step]) -> dict[str, Step]:
    """The flow's orders by client order id: their ``place`` or ``ioc`` step."""
    return {s.coid: s for s in plan if s.kind in ("place", "ioc")}


# ---------------------------------------------------------------------------------------------
# The counterparty and the faults


class Counterparty:
    """The simulator's second user over REST (blocking: call it in a worker thread)."""

    def __init__(self, info: dict[str, Any]) -> None:
        users = info.get("users") or []
        if not users:
            raise ValueError("the simulator has no second user (start it with --users 1)")
        self.base_url: str = info["base_url"]
        self.user = users[0]
        self.token = ""
        self.trades = 0
        self.refused = 0

    def _call(self, path: str, body: Any) -> Any:
        """One REST call, retried while the venue is down (503) for up to 20 s."""
        deadline = time.monotonic() + 20.0
        while True:
            try:
                if not self.token:
                    auth = {"api_key": self.user["api_key"], "api_secret": self.user["api_secret"]}
                    self.token = admin(self.base_url, "POST", "/api/authenticate", auth)["token"]
                return admin(self.base_url, "POST", path, body, token=self.token)
            except urllib.error.HTTPError as exc:
                if exc.code not in (401, 503) or time.monotonic() > deadline:
                    self.refused += 1
                    return None
                if exc.code == 401:
                    self.token = ""
                time.sleep(0.05)
            except OSError:
                if time.monotonic() > deadline:
                    self.refused += 1
                    return None
                time.sleep(0.05)

    def quote(self, side: str, ticks: int, qty: int) -> None:
        self._call("/orders/cancel-all-orders", {"symbol": SYMBOL})
        self._place(side, ticks, qty, "GTC")

    def take(self, side: str, ticks: int, qty: int) -> None:
        if self._place(side, ticks, qty, "IOC") is not None:
            self.trades += 1

    def _place(self, side: str, ticks: int, qty: int, tif: str) -> Any:
        body = {"s": SYMBOL, "d": side, "q": qty, "p": price_of(ticks), "tif": tif, "po": False}
        return self._call("/orders/place-order", body)


def fault(info: dict[str, Any], action: dict[str, Any]) -> None:
    """One ``POST /sim/faults`` (blocking)."""
    admin(info["base_url"], "POST", "/sim/faults", action)


# ---------------------------------------------------------------------------------------------
# Driving a client through the flow


class ClientSide(Protocol):
    """What :func:`drive` needs of a client: the steps it carries out on the venue."""

    def is_active(self) -> bool: ...

    async def place(self, step: Step) -> None:
        """Send the order of a ``place`` or ``ioc`` step."""
        ...

    async def cancel(self, step: Step) -> None: ...

    async def replace(self, step: Step) -> None: ...


@dataclass
class Recorder:
    """What a client reported, in order: one dict per order event (see :func:`score`).

    Keys: ``k`` (accepted, filled, canceled, expired, rejected, replaced, corrected,
    unknown...), ``coid``, and where they apply ``oid``, ``tid``, ``qty``, ``px``, ``side``,
    ``state`` (the new state of a ``corrected``). ``sent`` holds each order's send time (Unix
    ns) and ``notes`` counts what the client could not do.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, coid: str | None, **fields: Any) -> None:
        self.events.append({"k": kind, "coid": coid, **fields})

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "sent": self.sent, "notes": dict(self.notes)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recorder:
        return cls(list(data["events"]), dict(data["sent"]), Counter(data.get("notes", {})))


async def _until_active(client: ClientSide, recorder: Recorder, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    waited = False
    while not client.is_active():
        waited = True
        if time.monotonic() > deadline:
            recorder.notes["sent while not connected"] += 1
            return
        await asyncio.sleep(0.01)
    if waited:
        recorder.notes["waits for the connection"] += 1


async def drive(
    plan: Sequence[Step],
    client: ClientSide,
    info: dict[str, Any],
    recorder: Recorder,
    *,
    pace: float = 0.001,
    settle: Callable[[], Awaitable[None]] | None = None,
    grace: float = 2.0,
) -> dict[str, Any]:
    """Run ``plan`` through ``client`` against the simulator ``info``; returns timings.

    The counterparty's steps and the faults run in worker threads and are awaited, so every
    run sees them at the same points of the flow. Client steps wait (up to 15 s) while the
    client is not connected, as a strategy would. At the end ``settle`` (if given) waits until
    the client has nothing pending, then ``grace`` seconds pass before the venue is read.
    """
    counterparty = Counterparty(info)
    started = time.monotonic()
    faults = Counter[str]()
    for index, step in enumerate(plan):
        kind = step.kind
        if kind in ("place", "ioc", "cancel", "replace"):
            await _until_active(client, recorder)
            if kind == "cancel":
                await client.cancel(step)
            elif kind == "replace":
                await client.replace(step)
            else:
                recorder.sent[step.coid] = time.time_ns()
                await client.place(step)
        elif kind == "take":
            await asyncio.to_thread(counterparty.take, step.side, step.ticks, step.qty)
        elif kind == "quote":
            await asyncio.to_thread(counterparty.quote, step.side, step.ticks, step.qty)
        elif kind == "drop":
            faults["drop"] += 1
            await asyncio.to_thread(fault, info, {"action": "drop"})
        elif kind == "outage":
            faults["outage"] += 1
            await asyncio.to_thread(fault, info, {"action": "outage", "seconds": step.seconds})
        elif kind == "pause":
            await asyncio.sleep(step.seconds)
        if pace and index % 4 == 3:
            await asyncio.sleep(pace)
    flow_seconds = time.monotonic() - started
    if settle is not None:
        await settle()
    await asyncio.sleep(grace)
    return {
        "flow_seconds": flow_seconds,
        "seconds": time.monotonic() - started,
        "faults": dict(faults),
        "counterparty_trades": counterparty.trades,
        "counterparty_refused": counterparty.refused,
    }


# ---------------------------------------------------------------------------------------------
# The venue's truth and the score


def _pages(base_url: str, path: str, token: str, key: str, query: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    while True:
        params = dict(query, limit="1000")
        if cursor:
            params["cursor"] = cursor
        text = "&".join(f"{k}={v}" for k, v in params.items())
        page = admin(base_url, "GET", f"{path}?{text}", token=token)
        items = page.get(key) or []
        out.extend(items)
        cursor = page.get("next_cursor")
        if not cursor or not items:
            return out


def venue_truth(info: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every order (``GET /orders/orders``, wire keys) and fill (``GET /api/fills``) of the
    simulator's default user."""
    base_url = info["base_url"]
    body = {"api_key": info["api_key"], "api_secret": info["api_secret"]}
    token = admin(base_url, "POST", "/api/authenticate", body)["token"]
    orders = _pages(base_url, "/orders/orders", token, "orders", {})
    now = time.time_ns()
    span = {"start_timestamp_ns": str(now - 6 * 86400 * 10**9), "end_timestamp_ns": str(now)}
    fills = _pages(base_url, "/api/fills", token, "fills", span)
    return orders, fills


def _when(order: dict[str, Any]) -> int:
    return int(order["ts"]) * 1_000_000_000 + int(order.get("tn") or 0)


def _side(value: Any) -> str:
    text = str(value).upper()
    return "B" if text in ("B", "BUY") else "S" if text in ("S", "SELL") else text


def _venue_class(status: str) -> str:
    status = status.upper()
    if status in ("CANCELED", "EXPIRED", "REPLACED"):
        return "DONE"
    if status in ("FILLED", "REJECTED"):
        return status
    return "OPEN"


def match_by_signature(
    plan: Sequence[Step], orders: Sequence[dict[str, Any]], recorder: Recorder
) -> dict[str, str]:
    """Venue order id → client order id for a client whose ``cid`` cannot be computed.

    First the venue order ids the client itself reported with a client order id; then each
    other venue order of the flow's shape (side, price, quantity, time in force), oldest
    first, goes to the latest order of that shape sent before the venue took it and not yet
    matched.
    """
    mapping: dict[str, str] = {}
    for event in recorder.events:
        oid, coid = event.get("oid"), event.get("coid")
        if oid and coid and oid not in mapping:
            mapping[oid] = coid
    taken = set(mapping.values())
    shapes: dict[tuple[str, Decimal, int, str], list[tuple[int, str]]] = {}
    for step in plan:
        if step.kind in ("place", "ioc") and step.coid not in taken and step.coid in recorder.sent:
            tif = "IOC" if step.kind == "ioc" else "GTC"
            shape = (step.side, Decimal(price_of(step.ticks)), step.qty, tif)
            shapes.setdefault(shape, []).append((recorder.sent[step.coid], step.coid))
    for order in sorted(orders, key=_when):
        if order["oid"] in mapping or int(order.get("cid") or 0) >= FOREIGN_CID:
            continue
        shape = (_side(order["d"]), Decimal(order["p"]), int(order["q"]), str(order["tif"]))
        candidates = shapes.get(shape)
        if not candidates:
            continue
        when = _when(order)
        best = None
        for position, (sent, _) in enumerate(candidates):
            if sent <= when + 1_000_000:
                best = position
        if best is not None:
            mapping[order["oid"]] = candidates.pop(best)[1]
    return mapping


@dataclass
class Score:
    """One client's figures (see :func:`score`); ``examples`` names a few of each kind."""

    orders: int = 0
    placed: int = 0
    venue_fills: int = 0
    reported_fills: int = 0
    fills_lost: int = 0
    fills_twice: int = 0
    fills_wrong: int = 0
    state_unknown: int = 0
    state_wrong: int = 0
    taken_back: int = 0
    open_at_end: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, text: str) -> None:
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < 5:
            bucket.append(text)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _client_view(events: Sequence[dict[str, Any]], quantity: int) -> tuple[str, bool, list[str]]:
    """An order's last reported state class (``NONE``, ``OPEN``, ``FILLED``, ``DONE``,
    ``REJECTED``, ``UNKNOWN``), whether a terminal verdict was taken back, and why."""
    state = "NONE"
    filled = 0
    tids: set[str] = set()
    back = False
    corrected = False  # the events that follow a correction restate the order: no new verdicts
    why: list[str] = []
    for event in events:
        kind = event["k"]
        if kind == "filled":
            tid = str(event.get("tid"))
            if tid in tids:
                continue  # a duplicate: counted with the fills
            tids.add(tid)
            filled += int(Decimal(str(event.get("qty") or 0)))
            new = "FILLED" if filled >= quantity else "OPEN"
        elif kind in ("accepted", "replaced", "updated"):
            new = "OPEN"
        elif kind in ("canceled", "expired"):
            new = "DONE"
        elif kind == "rejected":
            new = "REJECTED"
        elif kind in ("corrected", "status"):
            new = _venue_class(str(event.get("state") or "OPEN"))
            if kind == "corrected":
                if state in TERMINAL:
                    back = True
                    why.append(f"{state}→{new} (corrected)")
                corrected = True
                state = new
                continue
        elif kind == "unknown":
            new = "UNKNOWN"
        else:
            continue
        if corrected:
            if new in TERMINAL or state not in TERMINAL:
                state = new
            continue
        if state in TERMINAL and new != state:
            back = True
            why.append(f"{state}→{kind}")
        state = new
    return state, back, why


def score(
    plan: Sequence[Step],
    recorder: Recorder,
    orders: Sequence[dict[str, Any]],
    fills: Sequence[dict[str, Any]],
    coid_of: dict[str, str],
) -> Score:
    """One client's figures against the venue's truth.

    ``coid_of`` maps venue order ids to the flow's client order ids. Fills: *lost* are venue
    trade ids of the account the client never reported; *twice* those it reported more than
    once; *wrong* those it reported with another quantity, price, side or order than the
    venue's (or that the venue does not have). Orders: the venue's final state of each order
    of the flow (open, filled, canceled or expired, rejected; an order the venue never took
    should be reported rejected) against the last state the client reported: *never learned*
    when the client reported nothing or still has it open (or unknown) while the venue ended
    it, *wrong* when it reported another terminal state, or a terminal one for an order the
    venue still has open. *Taken back*: orders the client reported terminal and later
    otherwise.
    """
    result = Score()
    wanted = plan_orders(plan)
    result.orders = len(wanted)
    by_coid: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        coid = coid_of.get(order["oid"])
        if coid is not None and coid in wanted:
            by_coid.setdefault(coid, []).append(order)
    result.placed = len(by_coid)

    # Fills.
    venue: dict[str, dict[str, Any]] = {str(f["trade_id"]): f for f in fills}
    result.venue_fills = len(venue)
    reported: dict[str, list[dict[str, Any]]] = {}
    for event in recorder.events:
        if event["k"] == "filled":
            reported.setdefault(str(event.get("tid")), []).append(event)
    result.reported_fills = sum(len(v) for v in reported.values())
    for tid, fill in venue.items():
        if tid not in reported:
            result.fills_lost += 1
            result.note("fills lost", f"{tid} of {coid_of.get(str(fill.get('order_id')), '?')}")
    for tid, seen in reported.items():
        if len(seen) > 1:
            result.fills_twice += 1
            result.note("fills twice", f"{tid} of {seen[0].get('coid')} ×{len(seen)}")
        fill = venue.get(tid)
        first = seen[0]
        if fill is None:
            result.fills_wrong += 1
            result.note("fills wrong", f"{tid} of {first.get('coid')}: not a venue fill")
            continue
        expected_coid = coid_of.get(str(fill.get("order_id")))
        bad = []
        if Decimal(str(first.get("qty"))) != Decimal(str(fill["quantity"])):
            bad.append(f"qty {first.get('qty')} ≠ {fill['quantity']}")
        if Decimal(str(first.get("px"))) != Decimal(str(fill["price"])):
            bad.append(f"price {first.get('px')} ≠ {fill['price']}")
        if first.get("side") is not None and _side(first["side"]) != _side(fill["side"]):
            bad.append(f"side {first.get('side')} ≠ {fill['side']}")
        if expected_coid is not None and first.get("coid") != expected_coid:
            bad.append(f"order {first.get('coid')} ≠ {expected_coid}")
        if bad:
            result.fills_wrong += 1
            result.note("fills wrong", f"{tid}: {', '.join(bad)}")

    # Final states and verdicts.
    events_of: dict[str, list[dict[str, Any]]] = {}
    for event in recorder.events:
        coid = event.get("coid")
        if coid in wanted:
            events_of.setdefault(coid, []).append(event)
    for coid, step in wanted.items():
        history = sorted(by_coid.get(coid, []), key=_when, reverse=True)
        current = [o for o in history if o.get("r") != "ORIGINAL_ORDER_TERMINATED"]
        if current:
            truth = _venue_class(str(current[0]["o"]))
        elif history:
            truth = _venue_class(str(history[0]["o"]))
        else:
            truth = "REJECTED"  # the venue never took it
        if truth == "OPEN":
            result.open_at_end += 1
        mine, back, why = _client_view(events_of.get(coid, []), step.qty)
        if back:
            result.taken_back += 1
            result.note("taken back", f"{coid}: {', '.join(why)}")
        if mine == truth:
            continue
        if mine in ("NONE", "UNKNOWN") or (mine == "OPEN" and truth in TERMINAL):
            result.state_unknown += 1
            result.note("never learned", f"{coid}: venue {truth}, client {mine}")
        else:
            result.state_wrong += 1
            result.note("wrong state", f"{coid}: venue {truth}, client {mine}")
    return result


def dump(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
