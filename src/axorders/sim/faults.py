"""Fault injection for the simulator, scriptable in-process or over ``POST /sim/faults``.

:class:`Faults` holds the knobs; the server reads them while it sends frames and calls back
through :class:`FaultTarget` for the faults that act at once (drops, injected frames, closing
sockets whose token expired). In-process::

    sim.faults.drop()                     # abort every orders socket now
    sim.faults.drop(user_id="u2")         # ... of one user
    sim.faults.drop_after(3)              # each open orders socket closes after 3 more frames
    sim.faults.drop_after(3, repeat=True) # ... and every new one too
    sim.faults.delay(0.2)                 # every outgoing frame leaves 0.2 s late (0 = off)
    sim.faults.stall(1.0)                 # nothing leaves for 1 s, then everything does
    sim.faults.stop_heartbeats(); sim.faults.resume_heartbeats()
    sim.faults.reject_next_auth(2)        # the next 2 logins (REST or WS upgrade) get 401
    sim.faults.expire_tokens()            # every token expires; their sockets close (1008)
    sim.faults.send_malformed()           # a broken JSON frame to every orders socket
    sim.faults.send_unknown()             # {"t":"zz",...}: an unknown event type
    sim.faults.duplicate_events(2)        # the next 2 events are sent twice
    sim.faults.hostile("fragment", rate=0.5)  # take one venue liberty (see below)
    sim.faults.hostile("all", on=False)   # take none
    sim.faults.outage(5.0)                # the venue is down for 5 s (0: until ended)
    sim.faults.end_outage()               # ... and up again (the liberties stay as they are)
    sim.faults.clear()                    # back to normal (liberties and outage too)

From another process, ``POST /sim/faults`` with a :class:`~axorders.wire.sim.FaultAction`
body, e.g. ``{"action": "drop_after", "frames": 3}`` (:meth:`Faults.apply`).

Outages
-------
``{"action": "outage", "seconds": S}`` takes the venue down: every WebSocket (orders and
market data) is aborted at once, and until the outage ends every WebSocket upgrade and every
REST request (``/sim/*`` excepted) is answered HTTP 503. It ends by itself after ``S``
seconds, or, with ``seconds`` omitted or 0, at ``{"action": "outage_end"}`` (which may also
end a timed one early, and does nothing when no outage is on). Neither touches the liberties
or any other fault; ``clear`` ends an outage too. The engine keeps running meanwhile (the
makers trade, DAY orders close), and cancel-on-disconnect applies to the dropped sockets.

Venue liberties
---------------
The hostile profile (:class:`HostileConfig`, ``axorders sim --hostile``) makes the simulator
take liberties that the protocol (SPEC, RFC 6455) allows but that a kind venue never takes.
Each one has a switch and a rate (the chance that it is taken where it can be). Each client
session (socket) draws from its own generators, derived from the seed and the session's order
of arrival (:meth:`Hostile.session`), so the same seed and the same client traffic give the
same liberties, whatever the makers and the other sessions do. A liberty is taken, and
counted in :attr:`Hostile.counts` (``GET /sim/stats`` → ``liberties``), only where it
changes what a connected session receives: the events of accounts without a connected
session (the makers') take none. The kinds (:data:`LIBERTIES`):

``fragment``
    an outgoing WebSocket message (orders and market data) is split at random points into a
    first frame with FIN = 0 and CONTINUATION frames (RFC 6455 §5.4).
``events_first``
    the events of a place or replace are sent before its reply, and the reply comes late.
``cancel_409``
    the ``n`` of a new order is held back for a moment; a cancel of that order arriving
    meanwhile is answered ``err`` 409 "order not yet acknowledged by exchange; retry shortly"
    and has no effect (counted per 409).
``late_accept``
    a place is answered ``err`` 500 "internal error" and carried out anyway: its events follow.
``lost_500``
    a place is answered ``err`` 500 "internal error" and not carried out: the venue holds no
    such order (the same answer as ``late_accept``: only asking the venue tells them apart).
``fresh_replace``
    the new order of a replace after a partial fill starts fresh (``xq`` = 0, ``q`` = what is
    left) on the orders WebSocket, in its events, snapshots and status replies (REST keeps the
    carried quantities).
``foreign_cid``
    another session of the account places an order with a ``cid`` ≥ 2^63 (the wire ``cid`` is
    unsigned 64-bit) next to a place of this one; it rests post-only and is canceled soon.
``unknown_requests``
    the WS status (``s``) and cancel-all (``X``) requests are answered as by a venue that does
    not know them: ``{"rid":N,"err":{"code":400,"msg":"unknown request type"}}``.
``duplicate`` / ``reorder`` / ``delay``
    an event is sent twice; held back a little so that later events of other orders overtake
    it; held back longer. An order's own events always keep their order, and snapshot replies
    (open orders, status) wait for every held event.

Over HTTP: ``{"action": "hostile", "liberty": "fragment", "on": true, "rate": 0.5}``
(``liberty`` ``"all"`` switches every kind; ``rate`` is optional).
"""

from __future__ import annotations

import math
import random
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from axorders.wire.sim import FaultAction

__all__ = [
    "DEFAULT_RATES",
    "LIBERTIES",
    "MALFORMED_FRAME",
    "FaultTarget",
    "Faults",
    "Hostile",
    "HostileConfig",
    "SessionGate",
    "fragment_text_frame",
    "text_frame",
    "unknown_event_frame",
]

LIBERTIES: Final = (
    "fragment",
    "events_first",
    "cancel_409",
    "late_accept",
    "lost_500",
    "fresh_replace",
    "foreign_cid",
    "unknown_requests",
    "duplicate",
    "reorder",
    "delay",
)
"""Every liberty the hostile profile can take (see the module notes)."""

DEFAULT_RATES: Final[Mapping[str, float]] = {
    "fragment": 0.2,
    "events_first": 0.1,
    "cancel_409": 0.3,
    "late_accept": 0.03,
    "lost_500": 0.02,
    "fresh_replace": 0.5,
    "foreign_cid": 0.05,
    "unknown_requests": 1.0,
    "duplicate": 0.03,
    "reorder": 0.05,
    "delay": 0.02,
}
"""The chance that each liberty is taken where it can be, unless configured otherwise."""

MALFORMED_FRAME: Final = b'{"t":"n","ts":17902284'
"""A truncated event: not valid JSON."""


def unknown_event_frame(now: int) -> bytes:
    """An event with an unknown ``t``."""
    return b'{"t":"zz","ts":%d,"tn":%d}' % (now // 1_000_000_000, now % 1_000_000_000)


def text_frame(payload: bytes, *, opcode: int = 0x1, fin: bool = True) -> bytes:
    """One unmasked server frame: ``FIN << 7 | opcode``, the 7/16/64-bit length, the payload."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def fragment_text_frame(payload: bytes, cuts: Iterable[int]) -> bytes:
    """``payload`` as one fragmented text message (RFC 6455 §5.4), cut at ``cuts``.

    The first frame is TEXT with FIN = 0, the others CONTINUATION, the last with FIN = 1. Cuts
    outside ``1 .. len(payload) - 1`` and repeated cuts are ignored; without a usable cut the
    message is one ordinary frame.
    """
    points = sorted({c for c in cuts if 0 < c < len(payload)})
    if not points:
        return text_frame(payload)
    bounds = [0, *points, len(payload)]
    parts = []
    for index in range(len(bounds) - 1):
        piece = payload[bounds[index] : bounds[index + 1]]
        last = index == len(bounds) - 2
        parts.append(text_frame(piece, opcode=0x1 if index == 0 else 0x0, fin=last))
    return b"".join(parts)


@dataclass(slots=True)
class HostileConfig:
    """The hostile profile: a switch and a rate per liberty, and a seed.

    Attributes:
        on: liberty → switched on (missing: on). Unknown names raise ValueError.
        rates: liberty → chance (0..1) of taking it where it can be (missing:
            :data:`DEFAULT_RATES`).
        seed: seeds the draws (same seed, same liberties for the same traffic).
        hold: the range (s) of the holds: a late reply, a delayed event, a held ``n``.
    """

    on: Mapping[str, bool] = field(default_factory=dict)
    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 1
    hold: tuple[float, float] = (0.02, 0.2)

    def __post_init__(self) -> None:
        for name in (*self.on, *self.rates):
            if name not in LIBERTIES:
                raise ValueError(f"unknown liberty {name!r} (known: {', '.join(LIBERTIES)})")
        for name, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"the rate of {name} must be between 0 and 1")
        low, high = self.hold
        if not 0.0 <= low <= high:
            raise ValueError("hold must be (low, high) with 0 <= low <= high")

    @classmethod
    def only(
        cls, *names: str, seed: int = 1, rates: Mapping[str, float] | None = None
    ) -> HostileConfig:
        """Only the named liberties on (``"all"`` for every one)."""
        wanted = set(LIBERTIES) if "all" in names else set(names)
        unknown = wanted - set(LIBERTIES)
        if unknown:
            raise ValueError(f"unknown liberty {sorted(unknown)[0]!r}")
        return cls(on={n: n in wanted for n in LIBERTIES}, rates=dict(rates or {}), seed=seed)

    def is_on(self, name: str) -> bool:
        return self.on.get(name, True)

    def rate(self, name: str) -> float:
        return self.rates.get(name, DEFAULT_RATES[name])


class Hostile:
    """The liberties' live switches, rates, counters and seeded draws (one per simulator).

    Without a config every liberty is off (at its default rate); :meth:`set` switches them.

    Each client session (socket) draws from its own generators, :meth:`session`, seeded with
    the seed and the session's order of arrival, so that what one session sees depends on the
    seed and on that session's traffic only: not on the makers, other sessions or timers.
    The draws of this object itself (:meth:`take`...) are the venue's, for events no session
    asked for (REST requests, the retirement of other sessions' orders) that reach a
    connected session. The counters are shared: a liberty is counted when it is taken, and
    it is taken only where it changes what a connected session receives.
    """

    def __init__(self, config: HostileConfig | None = None) -> None:
        cfg = config or HostileConfig(on=dict.fromkeys(LIBERTIES, False))
        self.on: dict[str, bool] = {n: cfg.is_on(n) for n in LIBERTIES}
        self.rates: dict[str, float] = {n: cfg.rate(n) for n in LIBERTIES}
        self.hold_range = cfg.hold
        self.seed = cfg.seed
        self.rng = random.Random(cfg.seed)
        self.wire_rng = random.Random(f"{cfg.seed}:venue:wire")
        self.counts: Counter[str] = Counter()
        self.active = any(self.on.values())
        """Whether any liberty is on."""

    def session(self, arrival: int | str) -> SessionGate:
        """The draws of one client session: ``arrival`` is its order of arrival (1, 2, ...
        for orders sockets; the gateway names market-data sockets ``"md:1"``...)."""
        return SessionGate(self, arrival)

    def set(self, liberty: str, *, on: bool = True, rate: float | None = None) -> None:
        """Switch one liberty (``"all"``: every one), optionally with a new rate.

        Raises:
            ValueError: unknown liberty or a rate outside 0..1.
        """
        names = LIBERTIES if liberty == "all" else (liberty,)
        if liberty != "all" and liberty not in LIBERTIES:
            raise ValueError(f"unknown liberty {liberty!r} (known: all, {', '.join(LIBERTIES)})")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        for name in names:
            self.on[name] = on
            if rate is not None:
                self.rates[name] = rate
        self.active = any(self.on.values())

    def clear(self) -> None:
        """Every liberty off (the counters stay)."""
        for name in LIBERTIES:
            self.on[name] = False
        self.active = False

    def take(self, liberty: str, *, count: bool = True) -> bool:
        """Whether to take ``liberty`` this time (counted unless ``count`` is False)."""
        return _take(self, self.rng, liberty, count)

    def count(self, liberty: str, n: int = 1) -> None:
        self.counts[liberty] += n

    def hold(self, scale: float = 1.0) -> float:
        """A hold in seconds, drawn from the configured range (times ``scale``)."""
        low, high = self.hold_range
        return self.rng.uniform(low, high) * scale

    def cuts(self, size: int) -> list[int]:
        """One to three random cut points inside a payload of ``size`` bytes."""
        return _cuts(self.wire_rng, size)

    def random_cid(self) -> int:
        """A ``cid`` in the upper half of the unsigned 64-bit range (≥ 2^63)."""
        return (1 << 63) + self.rng.randrange(1 << 63)

    def stats(self) -> dict[str, int]:
        """Liberties taken, per kind (every kind listed)."""
        return {name: self.counts[name] for name in LIBERTIES}


def _take(hostile: Hostile, rng: random.Random, liberty: str, count: bool) -> bool:
    if not hostile.on[liberty]:
        return False
    rate = hostile.rates[liberty]
    if rate < 1.0 and rng.random() >= rate:
        return False
    if count:
        hostile.counts[liberty] += 1
    return True


def _cuts(rng: random.Random, size: int) -> list[int]:
    if size < 2:
        return []
    return [rng.randrange(1, size) for _ in range(rng.randint(1, 3))]


class SessionGate:
    """The draws of one client session (:meth:`Hostile.session`).

    Two generators, both derived from the seed and the session's order of arrival: one for
    what the venue decides while it serves the session's requests (late accepts, replies
    after events, holds, reorders and duplicates of the events they cause...), one for how
    the session's frames are cut on the wire (``fragment``), drawn as they are written. The
    switches, rates and counters are the :class:`Hostile`'s.
    """

    __slots__ = ("arrival", "hostile", "rng", "wire_rng")

    def __init__(self, hostile: Hostile, arrival: int | str) -> None:
        self.hostile = hostile
        self.arrival = arrival
        self.rng = random.Random(f"{hostile.seed}:{arrival}")
        self.wire_rng = random.Random(f"{hostile.seed}:{arrival}:wire")

    @property
    def on(self) -> dict[str, bool]:
        return self.hostile.on

    @property
    def active(self) -> bool:
        return self.hostile.active

    def take(self, liberty: str, *, count: bool = True) -> bool:
        """Whether to take ``liberty`` this time (counted unless ``count`` is False)."""
        return _take(self.hostile, self.rng, liberty, count)

    def count(self, liberty: str, n: int = 1) -> None:
        self.hostile.counts[liberty] += n

    def hold(self, scale: float = 1.0) -> float:
        low, high = self.hostile.hold_range
        return self.rng.uniform(low, high) * scale

    def fragments(self, size: int) -> list[int] | None:
        """Where to fragment a message of ``size`` bytes (None: whole), drawn and counted."""
        hostile = self.hostile
        if hostile.on["fragment"] and size > 1 and _take(hostile, self.wire_rng, "fragment", True):
            return _cuts(self.wire_rng, size)
        return None

    def random_cid(self) -> int:
        return (1 << 63) + self.rng.randrange(1 << 63)


class FaultTarget(Protocol):
    """What the server does for the faults that act at once."""

    def drop_connections(self, user_id: str | None, *, abort: bool) -> int:
        """Close orders sockets now; returns how many."""
        ...

    def arm_drop_after(self, frames: int, user_id: str | None) -> int:
        """Make open orders sockets close after ``frames`` more frames; returns how many."""
        ...

    def send_raw(self, kind: str, user_id: str | None) -> int:
        """Send a ``malformed`` or ``unknown`` frame to orders sockets; returns how many."""
        ...

    def stall_for(self, seconds: float) -> None:
        """Hold every outgoing frame for ``seconds``."""
        ...

    def expire_tokens(self, user_id: str | None, *, close: bool) -> int:
        """Expire tokens and (``close``) close the sockets that used them; returns tokens."""
        ...

    def monotonic(self) -> float:
        """The clock that outages are timed with (seconds)."""
        ...

    def begin_outage(self) -> int:
        """Abort every socket (orders and market data); returns how many."""
        ...


class Faults:
    """The fault knobs of one simulator.

    Attributes:
        heartbeats_stopped: no ``h`` (nor ``pu``) is sent while True.
        delay_seconds: extra latency of every outgoing frame.
        drop_after_frames: with ``drop_after_repeat``, every new orders socket closes after
            this many frames.
    """

    def __init__(
        self, target: FaultTarget | None = None, hostile: HostileConfig | None = None
    ) -> None:
        self._target = target
        self.liberties = Hostile(hostile)
        self.heartbeats_stopped = False
        self.delay_seconds = 0.0
        self.drop_after_frames: int | None = None
        self.drop_after_repeat = False
        self.drop_after_user: str | None = None
        self._auth_rejections = 0
        self._duplicates = 0
        self.outage_until: float | None = None
        """While set, the venue is down until this :meth:`FaultTarget.monotonic` time
        (``math.inf``: until :meth:`end_outage`)."""

    def attach(self, target: FaultTarget) -> None:
        self._target = target

    def _require(self) -> FaultTarget:
        if self._target is None:
            raise RuntimeError("faults are not attached to a running simulator")
        return self._target

    # -- immediate ------------------------------------------------------------------------------

    def drop(self, user_id: str | None = None, *, abort: bool = True) -> int:
        """Drop orders sockets now (all, or one user's): ``abort`` resets the TCP connection,
        otherwise they are closed with code 1011. Returns how many."""
        return self._require().drop_connections(user_id, abort=abort)

    def drop_after(self, frames: int, user_id: str | None = None, *, repeat: bool = False) -> int:
        """Close orders sockets after ``frames`` more outgoing frames.

        Applies to the open sockets; with ``repeat`` also to every later one.
        """
        if frames < 0:
            raise ValueError("frames must not be negative")
        self.drop_after_repeat = repeat
        self.drop_after_frames = frames if repeat else None
        self.drop_after_user = user_id if repeat else None
        return self._require().arm_drop_after(frames, user_id)

    def stall(self, seconds: float) -> None:
        """Hold every outgoing frame (orders and market data) for ``seconds``."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._require().stall_for(seconds)

    def send_malformed(self, user_id: str | None = None) -> int:
        """Send :data:`MALFORMED_FRAME` to orders sockets; returns how many."""
        return self._require().send_raw("malformed", user_id)

    def send_unknown(self, user_id: str | None = None) -> int:
        """Send an event with an unknown ``t`` to orders sockets; returns how many."""
        return self._require().send_raw("unknown", user_id)

    def expire_tokens(self, user_id: str | None = None, *, close: bool = True) -> int:
        """Expire every token (of one user); with ``close`` their sockets close with 1008."""
        return self._require().expire_tokens(user_id, close=close)

    def hostile(self, liberty: str = "all", *, on: bool = True, rate: float | None = None) -> None:
        """Switch one venue liberty (``"all"``: every one) on or off, optionally with a rate.

        Raises:
            ValueError: unknown liberty or a rate outside 0..1.
        """
        self.liberties.set(liberty, on=on, rate=rate)

    def outage(self, seconds: float | None = None) -> int:
        """Take the venue down for ``seconds`` (None or 0: until :meth:`end_outage`).

        Every socket is aborted now; until the outage ends, upgrades and REST get 503.
        Returns how many sockets were aborted. A new outage replaces a running one.

        Raises:
            ValueError: negative or not finite ``seconds``.
        """
        if seconds is not None and not 0 <= seconds < math.inf:
            raise ValueError("seconds must be a finite number, 0 or more")
        target = self._require()
        start = target.monotonic()
        self.outage_until = start + seconds if seconds else math.inf
        return target.begin_outage()

    def end_outage(self) -> int:
        """End the outage, if one is on (1), else nothing (0). Liberties are left alone."""
        ended = self.outage_until is not None
        self.outage_until = None
        return int(ended)

    def in_outage(self, now: float) -> bool:
        """Whether the venue is down at ``now`` (:meth:`FaultTarget.monotonic` time)."""
        until = self.outage_until
        if until is None:
            return False
        if now >= until:
            self.outage_until = None
            return False
        return True

    # -- lasting --------------------------------------------------------------------------------

    def delay(self, seconds: float) -> None:
        """Every outgoing frame leaves ``seconds`` after it was produced (0 turns it off)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self.delay_seconds = seconds

    def stop_heartbeats(self) -> None:
        self.heartbeats_stopped = True

    def resume_heartbeats(self) -> None:
        self.heartbeats_stopped = False

    def reject_next_auth(self, count: int = 1) -> None:
        """Refuse the next ``count`` authentications (REST or WebSocket upgrade) with 401."""
        if count < 0:
            raise ValueError("count must not be negative")
        self._auth_rejections = count

    def duplicate_events(self, count: int = 1) -> None:
        """Send each of the next ``count`` events twice."""
        if count < 0:
            raise ValueError("count must not be negative")
        self._duplicates = count

    def clear(self) -> None:
        """Back to normal, outage ended (open sockets armed with ``drop_after`` stay armed)."""
        self.heartbeats_stopped = False
        self.delay_seconds = 0.0
        self.drop_after_frames = None
        self.drop_after_repeat = False
        self.drop_after_user = None
        self._auth_rejections = 0
        self._duplicates = 0
        self.outage_until = None
        self.liberties.clear()

    # -- read by the server ---------------------------------------------------------------------

    def take_auth_rejection(self) -> bool:
        """True (and one less pending) when this authentication must be refused."""
        if self._auth_rejections > 0:
            self._auth_rejections -= 1
            return True
        return False

    def take_duplicate(self) -> bool:
        """True (and one less pending) when this event must be sent twice."""
        if self._duplicates > 0:
            self._duplicates -= 1
            return True
        return False

    def drop_after_for(self, user_id: str) -> int | None:
        """The frame budget of a new orders socket of ``user_id`` (None: unlimited)."""
        if not self.drop_after_repeat:
            return None
        if self.drop_after_user is not None and self.drop_after_user != user_id:
            return None
        return self.drop_after_frames

    # -- scripting ------------------------------------------------------------------------------

    def apply(self, action: FaultAction) -> int:
        """Run one :class:`~axorders.wire.sim.FaultAction`; returns a count where one applies.

        Raises:
            ValueError: unknown action or missing parameter.
        """
        name = action.action.replace("-", "_").lower()
        user = action.user_id
        if name == "drop":
            return self.drop(user, abort=action.abort is not False)
        if name == "drop_after":
            if action.frames is None:
                raise ValueError("drop_after needs frames")
            return self.drop_after(action.frames, user, repeat=bool(action.repeat))
        if name == "delay":
            self.delay(action.seconds or 0.0)
        elif name == "stall":
            self.stall(action.seconds or 0.0)
        elif name == "stop_heartbeats":
            self.stop_heartbeats()
        elif name == "resume_heartbeats":
            self.resume_heartbeats()
        elif name == "reject_next_auth":
            self.reject_next_auth(1 if action.count is None else action.count)
        elif name == "expire_tokens":
            return self.expire_tokens(user, close=action.close is not False)
        elif name == "send_malformed":
            return self.send_malformed(user)
        elif name == "send_unknown":
            return self.send_unknown(user)
        elif name == "duplicate_events":
            self.duplicate_events(1 if action.count is None else action.count)
        elif name == "hostile":
            self.hostile(action.liberty or "all", on=action.on is not False, rate=action.rate)
        elif name == "outage":
            return self.outage(action.seconds)
        elif name == "outage_end":
            return self.end_outage()
        elif name == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault action {action.action!r}")
        return 0
