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
    sim.faults.clear()                    # back to normal

From another process, ``POST /sim/faults`` with a :class:`~axorders.wire.sim.FaultAction`
body, e.g. ``{"action": "drop_after", "frames": 3}`` (:meth:`Faults.apply`).
"""

from __future__ import annotations

from typing import Final, Protocol

from axorders.wire.sim import FaultAction

__all__ = ["MALFORMED_FRAME", "FaultTarget", "Faults", "unknown_event_frame"]

MALFORMED_FRAME: Final = b'{"t":"n","ts":17902284'
"""A truncated event: not valid JSON."""


def unknown_event_frame(now: int) -> bytes:
    """An event with an unknown ``t``."""
    return b'{"t":"zz","ts":%d,"tn":%d}' % (now // 1_000_000_000, now % 1_000_000_000)


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


class Faults:
    """The fault knobs of one simulator.

    Attributes:
        heartbeats_stopped: no ``h`` (nor ``pu``) is sent while True.
        delay_seconds: extra latency of every outgoing frame.
        drop_after_frames: with ``drop_after_repeat``, every new orders socket closes after
            this many frames.
    """

    def __init__(self, target: FaultTarget | None = None) -> None:
        self._target = target
        self.heartbeats_stopped = False
        self.delay_seconds = 0.0
        self.drop_after_frames: int | None = None
        self.drop_after_repeat = False
        self.drop_after_user: str | None = None
        self._auth_rejections = 0
        self._duplicates = 0

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
        """Back to normal (open sockets armed with ``drop_after`` stay armed)."""
        self.heartbeats_stopped = False
        self.delay_seconds = 0.0
        self.drop_after_frames = None
        self.drop_after_repeat = False
        self.drop_after_user = None
        self._auth_rejections = 0
        self._duplicates = 0

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
        elif name == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault action {action.action!r}")
        return 0
