"""The gateway's sockets: one WebSocket's state, and the send path of every socket.

:class:`Sender` writes outgoing frames to a socket's transport at once (those of one request,
or of one batch of events, together, see :meth:`Sender.holding`), so synchronous code (a test
calling :meth:`~axorders.sim.server.SimServer.add_liquidity`, a fault) can send. While a
delay, stall or drop-after fault applies, while anything is queued on the socket, or while
its transport's buffer is full, frames go through the socket's queue and writer task instead,
where those faults are implemented. Frames that the venue liberties hold back wait here too,
per socket, and a socket whose waiting bytes pass ``max_send_buffer`` is closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Final

from aiohttp import WSMsgType, web

from axorders.sim.accounts import SimUser, Users, token_from_header
from axorders.sim.faults import Faults, SessionGate, fragment_text_frame, text_frame
from axorders.sim.venue import BARRIER, MarketDataSession, VenueSession
from axorders.wire.rest import RestError, encode_rest

log = logging.getLogger("axorders.sim")

_CHUNK: Final = 1 << 16
"""About this many bytes per chunk of :func:`websocket_text_frames`."""
_DIRECT_BUFFER: Final = 1 << 16
"""Frames skip the writer task only while the socket's write buffer holds at most this."""
_HELD_MAX: Final = 256
"""At most this many frames of one socket are held back by liberties at a time."""
_OVERFLOW_ABORT: Final = 5.0
"""Seconds a socket closed for overflow may take to flush before it is aborted."""


def websocket_text_frames(
    payloads: list[bytes], cuts: Callable[[bytes], list[int] | None] | None = None
) -> list[bytes]:
    """Unmasked server text frames, joined into chunks of about ``_CHUNK`` bytes.

    ``cuts`` may return where to fragment a payload (None: one frame).
    """
    chunks: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    for payload in payloads:
        n = len(payload)
        points = cuts(payload) if cuts is not None else None
        if points:
            framed = fragment_text_frame(payload, points)
            parts.append(framed)
            size += len(framed)
            if size >= _CHUNK:
                chunks.append(b"".join(parts))
                parts.clear()
                size = 0
            continue
        if n < 126:
            header = bytes((0x81, n))
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 127, n)
        parts.append(header)
        parts.append(payload)
        size += len(header) + n
        if size >= _CHUNK:
            chunks.append(b"".join(parts))
            parts.clear()
            size = 0
    if parts:
        chunks.append(b"".join(parts))
    return chunks


def authenticate(
    request: web.Request, users: Users, faults: Faults, clock: Callable[[], int]
) -> tuple[SimUser, str] | None:
    """The user and token of a WebSocket upgrade's bearer token (None: refuse it)."""
    token = token_from_header(request.headers.get("Authorization"))
    if faults.take_auth_rejection():
        return None
    user = users.user_for_token(token, clock())
    if user is None or token is None:
        return None
    return user, token


def unauthorized() -> web.Response:
    """The 401 that refuses an upgrade (before it happens)."""
    body = encode_rest(RestError(error="missing, invalid or expired token", code=401))
    return web.Response(status=401, body=body, content_type="application/json")


def unavailable() -> web.Response:
    """The 503 of an outage (before any upgrade, and for REST)."""
    body = encode_rest(RestError(error="service unavailable", code=503))
    return web.Response(status=503, body=body, content_type="application/json")


class Connection:
    """One WebSocket: its outgoing queue and writer task."""

    __slots__ = (
        "budget",
        "closing",
        "gate",
        "held",
        "held_keys",
        "held_timer",
        "md",
        "queue",
        "queued_bytes",
        "token",
        "transport",
        "user",
        "venue",
        "wake",
        "writer",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        user: SimUser,
        token: str,
        transport: asyncio.Transport | None,
        gate: SessionGate | None = None,
    ) -> None:
        self.ws = ws
        self.gate = gate
        """This session's draws of the venue liberties (:meth:`Hostile.session`)."""
        self.user = user
        self.token = token
        self.transport = transport
        self.queue: deque[tuple[bytes, float]] = deque()
        self.queued_bytes = 0
        # Frames held back by liberties: (due, frame, keys), in sending order.
        self.held: list[tuple[float, bytes, tuple[str, ...]]] = []
        self.held_keys: Counter[str] = Counter()
        self.held_timer: asyncio.TimerHandle | None = None
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.budget: int | None = None  # frames left before a drop_after fault fires
        self.closing = False
        self.venue: VenueSession | None = None
        self.md: MarketDataSession | None = None


class Sender:
    """The send path of every socket of one gateway.

    Args:
        faults: the fault knobs (delay, drop-after, fragmentation by the liberties).
        max_send_buffer: bytes one socket may have waiting (queue plus transport buffer).
        spawn: starts a task that the gateway cancels and awaits when it stops.
        forget: called with a socket closed for overflow, to stop sending events to it.
    """

    def __init__(
        self,
        faults: Faults,
        max_send_buffer: int,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        forget: Callable[[Connection], None],
    ) -> None:
        self._faults = faults
        self._max_send_buffer = max_send_buffer
        self._spawn = spawn
        self._forget = forget
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stall_until = 0.0
        """Loop time until which nothing is written (the ``stall`` fault)."""
        self.overflow_closes = 0
        self._batch: dict[Connection, list[bytes]] | None = None  # see push

    def stall(self, seconds: float, conns: list[Connection]) -> None:
        """Hold every outgoing frame of ``conns`` for ``seconds``."""
        self.stall_until = max(self.stall_until, self.time() + seconds)
        for conn in conns:
            conn.wake.set()

    def push(
        self, conn: Connection, frame: bytes, hold: float = 0.0, keys: tuple[str, ...] = ()
    ) -> None:
        """Send ``frame`` on ``conn``: straight to the transport when :meth:`_direct` allows,
        through the queue and writer task otherwise.

        Inside :meth:`holding` (one request or one batch of events), direct frames are held
        per connection and written together at the end; once a connection has held frames,
        its later frames join them, so their order holds.

        ``hold`` and ``keys`` come from the liberties (:class:`~axorders.sim.venue.Outbound`):
        a frame with ``hold`` waits that long; a frame sharing a key with a waiting frame waits
        behind it; a :data:`~axorders.sim.venue.BARRIER` first lets every waiting frame go.
        """
        if conn.held and keys:
            if BARRIER in keys:
                self._flush_held(conn)
            elif any(key in conn.held_keys for key in keys):
                self._hold_frame(conn, frame, 0.0, keys)
                return
        if hold > 0 and len(conn.held) < _HELD_MAX and not conn.closing:
            self._hold_frame(conn, frame, hold, keys)
            return
        batch = self._batch
        if batch is not None:
            held = batch.get(conn)
            if held is not None:
                held.append(frame)
                return
            if self._direct(conn):
                batch[conn] = [frame]
                return
        elif self._direct(conn):
            self.write_now(conn, [frame])
            return
        if conn.closing:
            return
        delay = self._faults.delay_seconds
        due = self.time() + delay if delay else 0.0
        conn.queue.append((frame, due))
        conn.queued_bytes += len(frame)
        conn.wake.set()
        transport = conn.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        if conn.queued_bytes + buffered > self._max_send_buffer:
            self._overflow(conn)

    def _hold_frame(
        self, conn: Connection, frame: bytes, hold: float, keys: tuple[str, ...]
    ) -> None:
        due = self.time() + hold
        conn.held.append((due, frame, keys))
        conn.held_keys.update(keys)
        timer = conn.held_timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            loop = self.loop or asyncio.get_running_loop()
            conn.held_timer = loop.call_at(due, self._release_held, conn)

    def _release_held(self, conn: Connection) -> None:
        """Send the held frames that are due, each after every earlier frame of its orders."""
        conn.held_timer = None
        now = self.time()
        keep: list[tuple[float, bytes, tuple[str, ...]]] = []
        blocked: set[str] = set()
        ready: list[tuple[bytes, tuple[str, ...]]] = []
        for item in conn.held:
            due, frame, keys = item
            if due <= now and not any(key in blocked for key in keys):
                ready.append((frame, keys))
            else:
                keep.append(item)
                blocked.update(keys)
        conn.held = keep
        for _, keys in ready:
            conn.held_keys.subtract(keys)
        conn.held_keys = +conn.held_keys
        with self.holding():
            for frame, _ in ready:
                self.push(conn, frame)
        if keep:
            loop = self.loop or asyncio.get_running_loop()
            conn.held_timer = loop.call_at(min(d for d, _, _ in keep), self._release_held, conn)

    def _flush_held(self, conn: Connection) -> None:
        """Send every held frame now, in order."""
        held = conn.held
        self.forget_held(conn)
        with self.holding():
            for _, frame, _ in held:
                self.push(conn, frame)

    @staticmethod
    def forget_held(conn: Connection) -> None:
        if conn.held_timer is not None:
            conn.held_timer.cancel()
            conn.held_timer = None
        conn.held = []
        conn.held_keys.clear()

    def _overflow(self, conn: Connection) -> None:
        """The peer does not read: drop what waits, close with 1008, abort if it never
        drains."""
        if conn.closing:
            return
        conn.closing = True
        conn.queue.clear()
        conn.queued_bytes = 0
        self.forget_held(conn)
        self.overflow_closes += 1
        if conn.venue is not None:
            self._forget(conn)
        log.warning(
            "closing a socket whose send queue passed %d bytes", self._max_send_buffer
        )
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        transport.write(text_frame(struct.pack("!H", 1008) + b"send queue full", opcode=0x8))
        transport.close()
        loop = self.loop or asyncio.get_running_loop()
        loop.call_later(_OVERFLOW_ABORT, transport.abort)

    def _direct(self, conn: Connection) -> bool:
        """Whether a frame may bypass the writer task without changing what the peer sees.

        The queue must be empty: the writer pops a frame and hands it to aiohttp, which
        writes it to the transport before its first await (a flow-control drain), so every
        frame taken from the queue is already in the transport. No delay, stall or drop-after
        fault may apply (the writer implements those), the socket must not be closing, and the
        transport's buffer must be small (the writer then applies aiohttp's backpressure).
        """
        if conn.queue or conn.budget is not None or conn.closing:
            return False
        transport = conn.transport
        if transport is None or transport.is_closing() or conn.ws.closed:
            return False
        if self._faults.delay_seconds or transport.get_write_buffer_size() > _DIRECT_BUFFER:
            return False
        stall = self.stall_until
        return not stall or stall <= self.time()

    def _cutter(self, conn: Connection) -> Callable[[bytes], list[int] | None] | None:
        """Where to fragment each payload of ``conn`` (None: send them whole), drawn from
        the socket's own generator as they are written."""
        gate = conn.gate
        if gate is None or not self._faults.liberties.on["fragment"]:
            return None
        return lambda payload: gate.fragments(len(payload))

    def write_now(self, conn: Connection, frames: list[bytes]) -> None:
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        cuts = self._cutter(conn)
        for chunk in websocket_text_frames(frames, cuts):
            transport.write(chunk)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold direct frames until the block ends, then write each connection's together.

        Nested blocks join the outermost one.
        """
        if self._batch is not None:
            yield
            return
        batch: dict[Connection, list[bytes]] = {}
        self._batch = batch
        try:
            yield
        finally:
            self._batch = None
            for conn, frames in batch.items():
                self.write_now(conn, frames)

    def time(self) -> float:
        """The event loop's clock (the one the writer's delays and stalls use)."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        return loop.time()

    def start_writer(self, conn: Connection) -> None:
        conn.writer = asyncio.get_running_loop().create_task(self._write_loop(conn))

    @staticmethod
    async def stop_writer(conn: Connection) -> None:
        writer = conn.writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write_loop(self, conn: Connection) -> None:
        queue = conn.queue
        ws = conn.ws
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not queue:
                    conn.wake.clear()
                    await conn.wake.wait()
                    continue
                now = loop.time()
                if self.stall_until > now:
                    await asyncio.sleep(self.stall_until - now)
                    continue
                frame, due = queue[0]
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                queue.popleft()
                conn.queued_bytes -= len(frame)
                cutter = self._cutter(conn)
                cuts = cutter(frame) if cutter is not None else None
                transport = conn.transport
                if cuts and transport is not None and not transport.is_closing():
                    transport.write(fragment_text_frame(frame, cuts))
                    while transport.get_write_buffer_size() > _DIRECT_BUFFER:
                        if transport.is_closing():
                            return
                        await asyncio.sleep(0.002)
                else:
                    await ws.send_frame(frame, WSMsgType.TEXT)
                if conn.budget is not None:
                    conn.budget -= 1
                    if conn.budget <= 0:
                        self.drop(conn, abort=True)
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away
            log.debug("writer stopped: %r", exc)

    def drop(self, conn: Connection, *, abort: bool) -> None:
        conn.budget = None
        if abort and conn.transport is not None:
            conn.transport.abort()
        else:
            self.close(conn, 1011, b"connection dropped")

    def close(self, conn: Connection, code: int, message: bytes) -> None:
        if conn.closing:
            return
        conn.closing = True
        self._spawn(self._close_ws(conn, code, message))

    @staticmethod
    async def _close_ws(conn: Connection, code: int, message: bytes) -> None:
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code, message=message)

