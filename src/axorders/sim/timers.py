"""The gateway's periodic work: heartbeats, market makers, market data, token expiry.

Each timer is a task of the gateway (cancelled and awaited when it stops) that runs one
action every so many seconds; an action that fails is logged and the timer goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from axorders.sim.accounts import Users
from axorders.sim.config import SimConfig
from axorders.sim.engine import Engine, Events
from axorders.sim.faults import Faults
from axorders.sim.makers import Makers
from axorders.sim.md_ws import MarketDataGateway
from axorders.sim.orders_ws import OrdersGateway
from axorders.sim.sockets import Sender
from axorders.sim.venue import VenueLiberties, heartbeat_frame, keepalive_frame, md_heartbeat_frame

log = logging.getLogger("axorders.sim")


class Timers:
    """Starts the simulator's timers and holds what they do.

    Args:
        config: the intervals (``heartbeat_interval``, ``maker_interval``...).
        spawn: starts a task that the gateway cancels and awaits when it stops.
    """

    def __init__(
        self,
        config: SimConfig,
        engine: Engine,
        makers: Makers | None,
        liberties: VenueLiberties,
        users: Users,
        faults: Faults,
        sender: Sender,
        orders: OrdersGateway,
        md: MarketDataGateway,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self._config = config
        self._clock = config.clock
        self._engine = engine
        self._makers = makers
        self._liberties = liberties
        self._users = users
        self._faults = faults
        self._sender = sender
        self._orders = orders
        self._md = md
        self._spawn = spawn

    def start(self) -> None:
        """Start every timer (the makers quote once at once)."""
        cfg = self._config
        spawn, every = self._spawn, self._every
        spawn(every(cfg.heartbeat_interval, self._send_heartbeats))
        if cfg.keepalive_pu:
            spawn(every(cfg.pu_interval, self._send_keepalives))
        if self._makers is not None:
            self._step_makers()
            spawn(every(cfg.maker_interval, self._step_makers))
        md_every = cfg.md_publish_interval if cfg.md_publish_interval > 0 else cfg.ticker_interval
        spawn(every(md_every, self._md.publish))
        spawn(every(0.05, self._retire_foreign))
        if cfg.close_on_token_expiry:
            spawn(every(0.25, self.close_expired))

    @staticmethod
    async def _every(seconds: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                action()
            except Exception:
                log.exception("simulator timer failed")

    def _send_heartbeats(self) -> None:
        if self._faults.heartbeats_stopped:
            return
        now = self._clock()
        frame = heartbeat_frame(now)
        push = self._sender.push
        for conn in self._orders.connections():
            push(conn, frame)
        md_frame = md_heartbeat_frame(now)
        for conn in self._md.connections:
            push(conn, md_frame)

    def _send_keepalives(self) -> None:
        if self._faults.heartbeats_stopped:
            return
        frame = keepalive_frame()
        for conn in self._orders.connections():
            self._sender.push(conn, frame)

    def _step_makers(self) -> None:
        if self._makers is None:
            return
        now = self._clock()
        events: Events = []
        for command in self._makers.step(now):
            events.extend(self._engine.apply(command, now).events)
        self._orders.deliver(events, now)

    def _retire_foreign(self) -> None:
        """Cancel the orders that the account's "other sessions" placed (a liberty)."""
        now = self._clock()
        events = self._liberties.retire_foreign(now)
        if events:
            self._orders.deliver(events, now)

    def close_expired(self) -> None:
        """Close (1008) every socket whose token has expired."""
        now = self._clock()
        for conn in [*self._orders.connections(), *self._md.connections]:
            if self._users.user_for_token(conn.token, now) is None:
                self._sender.close(conn, 1008, b"token expired")
