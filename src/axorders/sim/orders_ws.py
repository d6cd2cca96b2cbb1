"""The gateway's ``/orders/ws``: the orders WebSocket of each user, and what goes out on it.

:class:`OrdersGateway` upgrades a request that carries a valid bearer token (401 before the
upgrade otherwise), gives the socket its own :class:`~axorders.sim.venue.VenueSession`, hands
every text frame to it and sends what it answers: replies to the socket that asked, events to
every orders socket of the account. It also sends what the faults and the admin surface ask
for: raw frames, drops, drop-after budgets and floods of synthetic fills.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final

import msgspec
from aiohttp import WSMsgType, web

from axorders.sim import sockets
from axorders.sim.accounts import SimUser, Users
from axorders.sim.engine import Engine, Events
from axorders.sim.faults import MALFORMED_FRAME, Faults, unknown_event_frame
from axorders.sim.sockets import Connection, Sender, authenticate, unauthorized, unavailable
from axorders.sim.venue import (
    LibertyGate,
    Outbound,
    VenueLiberties,
    VenueSession,
    event_frames,
)
from axorders.wire.orders import Execution, PartiallyFilledMsg, encode, encode_error

log = logging.getLogger("axorders.sim")

_NS: Final = 1_000_000_000
_FLOOD_BUFFER: Final = 1 << 20


def _arrival(conn: Connection) -> int:
    return conn.venue.connection_id if conn.venue is not None else 0


class OrdersGateway:
    """Every ``/orders/ws`` socket, by account.

    Args:
        engine / liberties / faults / users: the simulator's parts it drives.
        sender: the send path of every socket.
        clock: Unix-nanosecond clock.
        after_change: called with ``now`` after anything the engine did (market data).
        record: called with the nanoseconds the venue took to process one request.
        spawn: starts a task that the gateway cancels and awaits when it stops.
    """

    def __init__(
        self,
        engine: Engine,
        liberties: VenueLiberties,
        faults: Faults,
        users: Users,
        sender: Sender,
        clock: Callable[[], int],
        after_change: Callable[[int], None],
        record: Callable[[int], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.engine = engine
        self.liberties = liberties
        self.faults = faults
        self._users = users
        self._sender = sender
        self._clock = clock
        self._after_change = after_change
        self._record = record
        self._spawn = spawn
        self.by_account: dict[str, set[Connection]] = {}
        liberties.connected = self.by_account.__contains__
        self._conn_ids = itertools.count(1)
        self._flood_seq = itertools.count(1)
        self._flood_filled: dict[str, int] = {}  # synthetic filled quantity by venue order id

    # -- the socket -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.faults.in_outage(self._sender.time()):
            return unavailable()
        auth = authenticate(request, self._users, self.faults, self._clock)
        if auth is None:
            return unauthorized()
        user, token = auth
        flag = request.query.get("cancel_on_disconnect", "false").strip().lower()
        ws = web.WebSocketResponse(
            autoping=True, compress=False, decode_text=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        arrival = next(self._conn_ids)
        gate = self.faults.liberties.session(arrival)
        conn = Connection(ws, user, token, request.transport, gate)
        venue = conn.venue = VenueSession(
            self.engine,
            user_id=user.user_id,
            account_id=user.account_id,
            connection_id=arrival,
            cancel_on_disconnect=flag in ("true", "1", "yes"),
            liberties=self.liberties,
            gate=gate,
        )
        conn.budget = self.faults.drop_after_for(user.user_id)
        self.by_account.setdefault(user.account_id, set()).add(conn)
        self._sender.start_writer(conn)
        self._sender.push(conn, venue.connection_made(self._clock()))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_frame(conn, venue, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    frame = encode_error(None, 400, "binary frames are not supported")
                    self._sender.push(conn, frame)
        finally:
            self.discard(conn)
            await self._sender.stop_writer(conn)
            self._sender.forget_held(conn)
            now = self._clock()
            self.dispatch(conn, venue.connection_lost(now))
            self._after_change(now)
        return ws

    def _on_frame(self, conn: Connection, venue: VenueSession, data: bytes) -> None:
        started = time.perf_counter_ns()
        now = self._clock()
        with self._sender.holding():
            try:
                outbound = venue.receive(data, now)
            except Exception:  # a bug must not take the gateway down
                log.exception("orders request failed")
                outbound = [Outbound(None, encode_error(None, 500, "internal error"))]
            self.dispatch(conn, outbound)
            self._after_change(now)
            # The timed span is the venue's processing: the socket writes come after it.
            self._record(time.perf_counter_ns() - started)

    def flood(self, user: SimUser, count: int) -> int:
        """Send ``count`` synthetic fills to ``user``'s orders sockets at once.

        A load generator for clients, not venue behaviour: partial fills (``p``, one contract
        each) are sent round-robin over the user's open orders, with cumulative
        quantities that continue from one flood to the next and stop one short of each
        order's quantity. The engine is not touched (no position, balance or REST fill
        changes), so run it on orders nobody else trades against. Every frame is encoded
        before the first one is sent, and the frames are written straight to the socket in
        large chunks (the fault knobs do not apply). Returns how many frames each socket gets
        (0 with no socket).

        Raises:
            ValueError: no open orders, or not enough unfilled quantity for ``count`` fills.
        """
        orders = self.engine.open_orders(user.account_id)
        filled = self._flood_filled
        room = sum(
            max(0, o.quantity - 1 - filled.get(o.venue_order_id, o.filled_quantity)) for o in orders
        )
        if count and room < count:
            raise ValueError(
                f"{len(orders)} open orders have room for {room} one-contract fills, not {count}"
            )
        now = self._clock()
        ts, tn = divmod(now, _NS)
        seq = self._flood_seq
        frames: list[bytes] = []
        while len(frames) < count:
            for order in orders:
                oid = order.venue_order_id
                done = filled.get(oid, order.filled_quantity)
                if done >= order.quantity - 1:
                    continue
                done += 1
                filled[oid] = done
                n = next(seq)
                body = msgspec.structs.replace(
                    order,
                    filled_quantity=done,
                    remaining_quantity=order.quantity - done,
                    status="PARTIALLY_FILLED",
                )
                execution = Execution(
                    trade_id=f"T-FLOOD-{n:012d}",
                    account_id=user.account_id,
                    symbol=order.symbol,
                    quantity=1,
                    price=order.price,
                    side=order.side,
                )
                message = PartiallyFilledMsg(
                    ts=ts, tn=tn, event_id=f"E-FLOOD-{n:012d}", order=body, execution=execution
                )
                frames.append(encode(message))
                if len(frames) == count:
                    break
        conns = self.by_account.get(user.account_id, set())
        if not conns:
            return 0
        chunks = sockets.websocket_text_frames(frames)
        for conn in conns:
            self._spawn(self._flood_write(conn, chunks))
        return count

    @staticmethod
    async def _flood_write(conn: Connection, chunks: list[bytes]) -> None:
        """Write pre-framed flood chunks straight to the socket, bypassing the writer's queue
        and its faults (frames already queued go first; later ones may come in between)."""
        while conn.queue:
            await asyncio.sleep(0.001)
        transport = conn.transport
        for chunk in chunks:
            if transport is None or transport.is_closing() or conn.closing:
                return
            transport.write(chunk)
            while transport.get_write_buffer_size() > _FLOOD_BUFFER:
                await asyncio.sleep(0.0005)
                if transport.is_closing():
                    return

    def broadcast(self, frame: bytes, user_id: str | None = None) -> int:
        """Send one raw text frame to the orders sockets (of one user); returns how many.

        For tests of what a client does with a given frame, and of slow readers.
        """
        conns = self.select(user_id)
        for conn in conns:
            self._sender.push(conn, frame)
        return len(conns)

    def connection_count(self, user_id: str | None = None) -> int:
        """Open ``/orders/ws`` sockets (of one user)."""
        return sum(1 for c in self.connections() if user_id is None or c.user.user_id == user_id)

    # -- what faults and the admin surface send -------------------------------------------------

    def drop_connections(self, user_id: str | None, *, abort: bool) -> int:
        conns = self.select(user_id)
        for conn in conns:
            self._sender.drop(conn, abort=abort)
        return len(conns)

    def arm_drop_after(self, frames: int, user_id: str | None) -> int:
        conns = self.select(user_id)
        for conn in conns:
            if frames == 0:
                self._sender.drop(conn, abort=True)
            else:
                conn.budget = frames
        return len(conns)

    def send_raw(self, kind: str, user_id: str | None) -> int:
        frame = MALFORMED_FRAME if kind == "malformed" else unknown_event_frame(self._clock())
        conns = self.select(user_id)
        for conn in conns:
            self._sender.push(conn, frame)
        return len(conns)

    # -- sending -------------------------------------------------------------------------------

    def dispatch(self, conn: Connection | None, outbound: list[Outbound]) -> None:
        """Send a venue session's output: responses to ``conn``, events to accounts.

        The ``duplicate`` liberty is drawn per receiving socket, from the generator of the
        session whose request this answers (``conn``), or the venue's for events no session
        asked for, so that a session's draws follow its own requests only.
        """
        faults = self.faults
        gate: LibertyGate | None = None
        if faults.liberties.active:
            gate = conn.gate if conn is not None and conn.gate is not None else faults.liberties
        push = self._sender.push
        for item in outbound:
            target, frame, hold, keys = item.target, item.frame, item.hold, item.keys
            if target is None:
                if conn is not None:
                    push(conn, frame, hold, keys)
                continue
            receivers: Iterable[Connection] | None = self.by_account.get(target)
            if not receivers:
                continue  # nobody receives it: no fault or liberty is spent on it
            twice = faults.take_duplicate()
            if gate is not None and len(self.by_account[target]) > 1:
                receivers = sorted(receivers, key=_arrival)  # the draws in a fixed order
            for other in receivers:
                push(other, frame, hold, keys)
                if twice or (gate is not None and gate.take("duplicate")):
                    push(other, frame, hold, keys)

    def frames(self, events: Events, now: int) -> list[Outbound]:
        """Engine events as frames, through the liberties when any applies."""
        liberties = self.liberties
        return event_frames(events, liberties if liberties.engaged else None, now)

    def deliver(self, events: Events, now: int) -> None:
        """Send engine events that no request asked for (makers, liquidity, session close)."""
        with self._sender.holding():
            self.dispatch(None, self.frames(events, now))
            self._after_change(now)

    def discard(self, conn: Connection) -> None:
        """Send no more events to ``conn``."""
        conns = self.by_account.get(conn.user.account_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.by_account[conn.user.account_id]

    def select(self, user_id: str | None) -> list[Connection]:
        return [c for c in self.connections() if user_id is None or c.user.user_id == user_id]

    def connections(self) -> list[Connection]:
        return [c for conns in self.by_account.values() for c in conns]

