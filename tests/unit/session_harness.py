"""A pure test harness: an :class:`OrdersSession` wired to the simulator's venue.

:class:`Link` carries frames between the session and a :class:`VenueSession` over one shared
:class:`Engine`, with an explicit clock (``link.now``, Unix ns) and no sockets or event loop.
Frames can be lost, duplicated or corrupted on their way, in either direction, by rules
(:meth:`Link.fault`); an incoming frame can also be held back behind the next one (``swap``),
and a request can be answered with an ``err`` and carried out all the same (``err_reply``).
With ``fresh_replaces`` the link rewrites the venue's frames as a venue whose replacement
orders start fresh would write them (``xq`` = 0, ``q`` = what is left).
A second account (``acct-2``) provides liquidity: its orders go straight
to the engine, and the events they cause for the session's account are delivered while the
link is up (and lost while it is down, as on a real venue).

The ``*_frame`` helpers build server frames the simulator never produces (``e`` events,
in-place amends, err replies without a rid...).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from axorders import events as ev
from axorders.session import OrdersSession
from axorders.sim.engine import Engine, EngineConfig
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.venue import Outbound, VenueSession
from axorders.wire.rest import FillInfo

T0 = 1_790_228_411_934_693_936
NS = 1_000_000_000
EUR = "EURUSD-PERP"
MARK = Decimal("1.1388")
TICK = Decimal("0.0001")
ACCOUNT = "acct-1"
USER = "user-1"
MAKER = "acct-2"
MAKER_USER = "user-2"


def make_engine(**config: Any) -> Engine:
    """An engine with the default instruments, the session's account and a maker account."""
    instruments = default_instruments()
    engine = Engine(
        instruments, marks_for(instruments), config=EngineConfig(**config), rng=random.Random(3)
    )
    engine.add_account(ACCOUNT, user_id=USER)
    engine.add_account(MAKER, user_id=MAKER_USER, check_margin=False)
    return engine


def make_session(engine: Engine | None = None, **kw: Any) -> OrdersSession:
    instruments = (engine or make_engine()).instruments
    kw.setdefault("request_timeout_ns", 5 * NS)
    return OrdersSession(
        account_id=ACCOUNT,
        trader_id="TRADER-1",
        strategy_id="S-1",
        instruments=instruments,
        **kw,
    )


def px(ticks_from_mark: int) -> Decimal:
    """The mark moved by a number of ticks."""
    return MARK + TICK * ticks_from_mark


Match = Callable[[dict[str, Any]], bool]


@dataclass
class Fault:
    """What to do to frames matching ``match`` (``"out"``: to the venue, ``"in"``: to us)."""

    direction: str
    action: str  # lose / duplicate / corrupt / swap (in) / err_reply (out)
    match: Match
    count: int = 1  # how many matching frames it applies to (-1: all)
    hits: int = 0


def _parse(frame: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(frame)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def is_event(tag: str) -> Match:
    return lambda obj: obj.get("t") == tag


def is_request(tag: str) -> Match:
    return lambda obj: obj.get("t") == tag and "rid" in obj


def is_reply(obj: dict[str, Any]) -> bool:
    return "rid" in obj and ("res" in obj or "err" in obj) and obj.get("rid") != 0


def any_frame(obj: dict[str, Any]) -> bool:
    return True


@dataclass
class Link:
    """An :class:`OrdersSession` connected to the simulator's venue, by hand."""

    engine: Engine = field(default_factory=make_engine)
    session: OrdersSession | None = None
    now: int = T0
    events: list[ev.Event] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)  # frames that reached the venue
    received: list[bytes] = field(default_factory=list)  # frames that reached the session
    faults: list[Fault] = field(default_factory=list)
    events_first: bool = False  # deliver a reply's events before the reply itself
    session_kw: dict[str, Any] = field(default_factory=dict)
    venue: VenueSession | None = None
    connections: int = 0
    fresh_replaces: bool = False
    _bases: dict[str, int] = field(default_factory=dict)  # venue id -> filled before it
    _held: list[bytes] = field(default_factory=list)  # frames held back by ``swap``

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = make_session(self.engine, **self.session_kw)

    @property
    def s(self) -> OrdersSession:
        assert self.session is not None
        return self.session

    # -- connection ------------------------------------------------------------------------

    def connect(self, *, login: bool = True) -> None:
        """Open a connection; the venue's login frame is delivered (unless ``login`` False)."""
        self.connections += 1
        self.s.connection_made(self.now)
        self.venue = VenueSession(
            self.engine, user_id=USER, account_id=ACCOUNT, connection_id=self.connections
        )
        frame = self.venue.connection_made(self.now)
        if login:
            self.deliver(self._freshen(frame))
        self.collect()

    def drop(self, reason: str = "connection lost") -> None:
        """The socket is gone: nothing queued on either side is delivered."""
        self.venue = None
        self._held.clear()
        self.s.connection_lost(self.now, reason)
        self.collect()

    def reconnect(self) -> None:
        self.drop()
        self.connect()
        self.pump()

    @property
    def up(self) -> bool:
        return self.venue is not None

    # -- frames ----------------------------------------------------------------------------

    def fault(self, direction: str, action: str, match: Match = any_frame, count: int = 1) -> Fault:
        """Lose, duplicate or corrupt the next ``count`` frames matching ``match``."""
        item = Fault(direction, action, match, count)
        self.faults.append(item)
        return item

    def _apply(self, direction: str, frame: bytes) -> list[bytes]:
        obj = _parse(frame)
        for item in self.faults:
            if item.direction != direction or item.count == 0 or item.action == "err_reply":
                continue
            if not item.match(obj):
                continue
            item.count -= 1
            item.hits += 1
            if item.action == "lose":
                return []
            if item.action == "duplicate":
                return [frame, frame]
            if item.action == "corrupt":
                return [frame[: len(frame) // 2]]
            if item.action == "swap":
                self._held.append(frame)
                return []
        return [frame]

    def _err_reply(self, frame: bytes) -> bool:
        """True when an ``err_reply`` rule takes this request: the venue carries it out, but
        its answer is an err 500."""
        obj = _parse(frame)
        for item in self.faults:
            if item.action == "err_reply" and item.count != 0 and item.match(obj):
                item.count -= 1
                item.hits += 1
                return True
        return False

    # -- a venue whose replacements start fresh -------------------------------------------------

    def _freshen(self, frame: bytes) -> bytes:
        if not self.fresh_replaces:
            return frame
        obj = _parse(frame)
        if not obj:
            return frame
        bases = self._bases
        if obj.get("t") == "r" and isinstance(obj.get("no"), dict):
            old, new = obj["ro"], obj["no"]
            # The engine carries the filled quantity on: all of it was filled before the new
            # order (the old one's own base included).
            bases[new["oid"]] = new["xq"]
            self._rebase(old)
            self._rebase(new)
            return dumps(obj)
        changed = False
        for key in ("o", "ro"):
            if isinstance(obj.get(key), dict):
                changed |= self._rebase(obj[key])
        res = obj.get("res")
        if isinstance(res, dict):
            for key in ("o", "orders"):
                if isinstance(res.get(key), list):
                    for order in res[key]:
                        changed |= self._rebase(order)
            status = res.get("status")
            if isinstance(status, dict) and status.get("order_id") in bases:
                status["filled_quantity"] -= bases[status["order_id"]]
                changed = True
        return dumps(obj) if changed else frame

    def _rebase(self, order: dict[str, Any]) -> bool:
        base = self._bases.get(order.get("oid", ""))
        if not base:
            return False
        order["xq"] -= base
        order["q"] -= base
        return True


    def deliver(self, frame: bytes | str) -> list[ev.Event]:
        """Hand one server frame to the session; returns the events it produced."""
        data = frame.encode() if isinstance(frame, str) else frame
        self.received.append(data)
        self.s.receive(data, self.now)
        return self.collect()

    def collect(self) -> list[ev.Event]:
        new = self.s.events_received()
        self.events.extend(new)
        return new

    def _to_session(self, outbound: Iterable[Outbound]) -> None:
        for item in outbound:
            if item.target is not None and item.target != ACCOUNT:
                continue
            held = self._held[:]
            for frame in self._apply("in", self._freshen(item.frame)):
                if self.venue is None:
                    return
                self.deliver(frame)
                if held:  # a frame held back comes after the one that overtook it
                    del self._held[: len(held)]
                    for late in held:
                        self.deliver(late)
                    held = []

    def pump(self, limit: int = 10_000) -> int:
        """Send the session's frames and deliver the answers until nothing moves."""
        moved = 0
        for _ in range(limit):
            frames = self.s.frames_to_send()
            if not frames:
                return moved
            for frame in frames:
                if self.venue is None:
                    break
                for out in self._apply("out", frame):
                    self.sent.append(out)
                    assert self.venue is not None
                    replies = self.venue.receive(out, self.now)
                    moved += 1
                    if replies and replies[0].target is None and self._err_reply(out):
                        rid = _parse(out).get("rid")
                        replies = [
                            Outbound(None, error_frame(rid, 500, "internal error")),
                            *replies[1:],
                        ]
                    if self.events_first and len(replies) > 1:
                        replies = [*replies[1:], replies[0]]
                    self._to_session(replies)
        raise AssertionError("the link never went quiet")

    def send(self, command: Any) -> int | None:
        """``session.send`` at the link's time (frames are not pumped)."""
        rid = self.s.send(command, self.now)
        self.collect()
        return rid

    def do(self, command: Any) -> int | None:
        """Send a command and pump until quiet."""
        rid = self.send(command)
        self.pump()
        return rid

    # -- time ------------------------------------------------------------------------------

    def advance(self, ns: int) -> None:
        """Move the clock and tick the session (then pump)."""
        self.now += ns
        self.s.tick(self.now)
        self.collect()
        if self.up:
            self.pump()

    def settle(self) -> None:
        """Tick through every pending deadline until the session has nothing left."""
        for _ in range(1000):
            deadline = self.s.next_deadline()
            if deadline is None:
                return
            self.now = max(self.now, deadline)
            self.s.tick(self.now)
            self.collect()
            if self.up:
                self.pump()
        raise AssertionError("deadlines never ran out")

    # -- the venue acting on its own --------------------------------------------------------

    def venue_events(self, outbound: list[tuple[str, Any]]) -> None:
        """Engine events (``(account, event)`` pairs): delivered if the link is up."""
        if self.up:
            from axorders.sim.venue import event_frames

            self._to_session(event_frames(outbound))

    def maker(self, side: str, quantity: int, price: Decimal, tif: str = "GTC") -> str | None:
        """The counterparty places an order; returns its venue id."""
        from axorders.model import Side

        reply = self.engine.place(
            MAKER, EUR, Side.parse(side), quantity, price, now=self.now, time_in_force=tif
        )
        self.venue_events(reply.events)
        self.pump() if self.up else None
        assert reply.result is not None
        return reply.result.venue_order_id

    def venue_cancel(self, venue_order_id: str) -> None:
        """The venue cancels one of our orders (as a REST cancel from elsewhere would)."""
        reply = self.engine.cancel(ACCOUNT, self.now, venue_order_id=venue_order_id)
        self.venue_events(reply.events)

    def session_close(self) -> None:
        self.venue_events(self.engine.session_close(self.now))

    def fills(self, venue_order_id: str | None = None) -> list[FillInfo]:
        """The session account's fills as REST ``/fills`` reports them."""
        return [
            f.info()
            for f in self.engine.fills(ACCOUNT)
            if venue_order_id is None or f.order_id == venue_order_id
        ]

    # -- inspection ------------------------------------------------------------------------

    def of(self, kind: type[Any], **match: Any) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())
        ]

    def resolutions(self, rid: int) -> list[ev.RequestResolved]:
        return self.of(ev.RequestResolved, request_id=rid)

    def clear(self) -> None:
        self.events.clear()


# ---------------------------------------------------------------------------------------------
# Hand-written server frames.


def body(
    oid: str,
    *,
    cid: int | None = None,
    qty: int = 100,
    price: str = "1.1388",
    xq: int = 0,
    status: str = "ACCEPTED",
    side: str = "B",
    tif: str = "GTC",
    ts: int = T0 // NS,
    tn: int = 0,
    symbol: str = EUR,
) -> dict[str, Any]:
    """A venue order object."""
    obj: dict[str, Any] = {
        "oid": oid,
        "u": USER,
        "s": symbol,
        "p": price,
        "q": qty,
        "xq": xq,
        "rq": qty - xq if status in ("ACCEPTED", "PARTIALLY_FILLED") else 0,
        "o": status,
        "d": side,
        "tif": tif,
        "ts": ts,
        "tn": tn,
    }
    if cid is not None:
        obj["cid"] = cid
    return obj


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def event_frame(
    tag: str, order: dict[str, Any], *, ts: int = 1_790_228_500, tn: int = 7, **extra: Any
) -> bytes:
    return dumps({"t": tag, "ts": ts, "tn": tn, "eid": "E-1", "o": order, **extra})


def fill_frame(
    tag: str,
    order: dict[str, Any],
    trade_id: str,
    qty: int,
    *,
    price: str = "1.1388",
    agg: bool = False,
    ts: int = 1_790_228_500,
    tn: int = 7,
) -> bytes:
    xs = {
        "tid": trade_id,
        "s": order["s"],
        "q": qty,
        "p": price,
        "d": order["d"],
        "agg": agg,
    }
    return dumps({"t": tag, "ts": ts, "tn": tn, "eid": "E-2", "o": order, "xs": xs})


def result_frame(rid: int, res: dict[str, Any], **extra: Any) -> bytes:
    return dumps({"rid": rid, "res": res, **extra})


def error_frame(rid: int | None, code: int, msg: str = "nope") -> bytes:
    obj: dict[str, Any] = {"err": {"code": code, "msg": msg}}
    if rid is not None:
        obj = {"rid": rid, **obj}
    return dumps(obj)


def login_frame(orders: list[dict[str, Any]] | None = None) -> bytes:
    return dumps({"rid": 0, "res": {"li": USER, "o": orders or None, "cod": False}})


def fill_info(
    trade_id: str,
    order_id: str,
    qty: int,
    *,
    price: str = "1.1388",
    ts: int = T0,
    taker: bool = False,
    fee: str = "0.01",
    side: str = "B",
) -> FillInfo:
    from axorders.model import Side
    from axorders.wire.rest import format_rfc3339_ns

    return FillInfo(
        trade_id=trade_id,
        order_id=order_id,
        account_id=ACCOUNT,
        timestamp=format_rfc3339_ns(ts),
        symbol=EUR,
        price=Decimal(price),
        quantity=qty,
        is_taker=taker,
        fee=Decimal(fee),
        side=Side.parse(side),
    )
