"""The gateway's ``/md/ws``: the market-data WebSocket, and publishing to it.

:class:`MarketDataGateway` upgrades a request that carries a valid bearer token (401 before
the upgrade otherwise), answers each socket's subscriptions through its own
:class:`~axorders.sim.venue.MarketDataSession`, and publishes the book's changes to the
subscribed sockets: after every change, or on a timer (``SimConfig.md_publish_interval``).
The engine records market data only while a market-data socket is open.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

from axorders.sim.accounts import Users
from axorders.sim.engine import Engine
from axorders.sim.faults import Faults
from axorders.sim.mdsession import MarketDataPublisher, MarketDataSession
from axorders.sim.sockets import Connection, Sender, authenticate, unauthorized, unavailable

log = logging.getLogger("axorders.sim")


class MarketDataGateway:
    """Every ``/md/ws`` socket.

    Args:
        engine / faults / users: the simulator's parts it uses.
        sender: the send path of every socket.
        clock: Unix-nanosecond clock.
        depth: levels per side in L2 frames.
        ticker_interval_ns: at most one ticker per symbol this often.
        publish_interval: 0 publishes after every change (:meth:`after_change`); otherwise
            the gateway's timer calls :meth:`publish`.
    """

    def __init__(
        self,
        engine: Engine,
        faults: Faults,
        users: Users,
        sender: Sender,
        clock: Callable[[], int],
        *,
        depth: int,
        ticker_interval_ns: int,
        publish_interval: float,
    ) -> None:
        self.engine = engine
        self._faults = faults
        self._users = users
        self._sender = sender
        self._clock = clock
        self._depth = depth
        self._publish_interval = publish_interval
        self._publisher = MarketDataPublisher(
            engine, depth=depth, ticker_interval_ns=ticker_interval_ns
        )
        self.connections: set[Connection] = set()
        self._arrivals = itertools.count(1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._faults.in_outage(self._sender.time()):
            return unavailable()
        auth = authenticate(request, self._users, self._faults, self._clock)
        if auth is None:
            return unauthorized()
        user, token = auth
        ws = web.WebSocketResponse(
            autoping=True, compress=False, decode_text=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        arrival = next(self._arrivals)
        conn = Connection(
            ws, user, token, request.transport, self._faults.liberties.session(f"md:{arrival}")
        )
        session = conn.md = MarketDataSession(self.engine, depth=self._depth)
        if not self.connections:
            self.engine.record_market_data = True
            self._publisher.reset()
        self.connections.add(conn)
        self._sender.start_writer(conn)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    now = self._clock()
                    with self._sender.holding():
                        self.publish()  # pending changes first, then the snapshot
                        try:
                            frames = session.receive(msg.data, now)
                        except Exception:
                            log.exception("market-data request failed")
                            frames = []
                        for frame in frames:
                            self._sender.push(conn, frame)
        finally:
            self._sender.forget_held(conn)
            self.connections.discard(conn)
            if not self.connections:
                self.engine.record_market_data = False
            await self._sender.stop_writer(conn)
        return ws

    def after_change(self, now: int) -> None:
        """Publish what changed at ``now`` when publishing follows every change."""
        if self.connections and self._publish_interval <= 0:
            self.publish(now)

    def publish(self, now: int | None = None) -> None:
        """Send what changed since the last publication to the sockets subscribed to it."""
        if not self.connections:
            return
        now = self._clock() if now is None else now
        conns = self.connections
        wanted = {symbol for conn in conns if conn.md for symbol in conn.md.subscriptions}
        updates = self._publisher.collect(now, wanted)
        if not updates:
            return
        for conn in self.connections:
            assert conn.md is not None
            for symbol, update in updates.items():
                subscription = conn.md.subscriptions.get(symbol)
                if subscription is not None:
                    for frame in update.frames_for(subscription):
                        self._sender.push(conn, frame)
