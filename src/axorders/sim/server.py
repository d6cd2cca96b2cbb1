"""The simulator's gateway: REST and WebSockets on one port, on the venue's real paths.

Only the gateway does I/O: the aiohttp application, one writer task per socket, and the timers;
everything else is the pure engine, venue sessions, makers and REST API it drives::

    async with SimServer(SimConfig(makers=False)) as sim:
        token = sim.issue_token()
        ...  # connect any AX client to sim.orders_ws_url with "Authorization: Bearer <token>"

Paths: ``/orders/ws`` and ``/md/ws`` (WebSocket, bearer token in the upgrade, 401 before the
upgrade otherwise), REST under ``/api`` and ``/orders`` (see :mod:`axorders.sim.restapi`),
and the admin surface ``POST /sim/faults``, ``POST /sim/session-close``, ``GET /sim/stats``,
``POST /sim/flood``, ``POST /sim/users`` (see :mod:`axorders.sim.admin`). Every ``/sim/*``
request carries the header ``X-Sim-Token`` with
:attr:`SimServer.admin_token` (missing: 401, wrong: 403), and a POST body must be JSON with
the content type ``application/json`` (415 otherwise, 400 when it does not parse), so neither
a web page nor another local user can drive faults.

The hostile profile (``SimConfig(hostile=HostileConfig(...))``, see
:mod:`axorders.sim.faults`) takes the venue's liberties: fragmented messages, events before
replies, 409 before the ack, late accepts, fresh replaces, foreign ``cid`` ≥ 2^63, unknown
``s``/``X``, and duplicated, reordered or delayed events. Each socket's send queue is bounded
(``SimConfig.max_send_buffer``): a peer that does not read is closed with 1008.

This module assembles the gateway and runs it: the aiohttp application, the timers
(heartbeats, market makers, market-data publishing, token expiry), REST and the admin
surface. The sockets are elsewhere: :mod:`axorders.sim.orders_ws` (``/orders/ws``),
:mod:`axorders.sim.md_ws` (``/md/ws``) and :mod:`axorders.sim.sockets` (the send path shared
by both: direct writes, the send queue and writer task, where the outgoing-frame faults act).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from decimal import Decimal
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from axorders.model import Side
from axorders.sim.accounts import SimUser, Users
from axorders.sim.admin import ADMIN_TOKEN_HEADER, handle_admin, user_info
from axorders.sim.config import SimConfig
from axorders.sim.engine import Engine
from axorders.sim.faults import Faults
from axorders.sim.instruments import marks_for
from axorders.sim.liberties import VenueLiberties
from axorders.sim.makers import Makers
from axorders.sim.md_ws import MarketDataGateway
from axorders.sim.orders_ws import OrdersGateway
from axorders.sim.restapi import RestApi
from axorders.sim.sockets import Connection, Sender, unavailable
from axorders.sim.timers import Timers
from axorders.wire.rest import RestError, encode_rest
from axorders.wire.sim import SimInfo, SimStats

__all__ = ["ADMIN_TOKEN_HEADER", "LIQUIDITY_ACCOUNT", "SimConfig", "SimServer"]

LIQUIDITY_ACCOUNT: Final = "sim-liquidity"
"""The internal account of :meth:`SimServer.add_liquidity` (exempt from margin checks)."""

log = logging.getLogger("axorders.sim")

_NS: Final = 1_000_000_000
_SAMPLES: Final = 8192
_FLOOD_MAX: Final = 10_000_000


class _Timings:
    """The simulator's own processing time per request (the span before the socket writes)."""

    __slots__ = ("max", "requests", "samples", "total")

    def __init__(self) -> None:
        self.requests = 0
        self.total = 0
        self.max = 0
        self.samples: deque[int] = deque(maxlen=_SAMPLES)

    def record(self, elapsed: int) -> None:
        self.requests += 1
        self.total += elapsed
        self.max = max(self.max, elapsed)
        self.samples.append(elapsed)


class SimServer:
    """The AX simulator: matching engine plus gateway, usable as ``async with``.

    Args:
        config: the run's settings (defaults: makers on, ephemeral port on 127.0.0.1).
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config or SimConfig()
        self._clock = config.clock
        instruments = config.load_instruments()
        marks = marks_for(instruments, config.marks)
        self._rng = random.Random(config.seed)
        self.engine = Engine(
            instruments, marks, config=config.engine_config(), rng=random.Random(config.seed)
        )
        self.users = Users()
        self.faults = Faults(hostile=config.hostile)
        self.faults.attach(self)
        self.liberties = VenueLiberties(self.engine, self.faults.liberties)
        self.admin_token: str = config.admin_token or secrets.token_urlsafe(24)
        """The ``X-Sim-Token`` header value that ``/sim/*`` requires."""
        self.makers: Makers | None = None
        if config.makers:
            maker_cfg = config.maker
            self.engine.add_account(maker_cfg.account_id, check_margin=False, keep_history=False)
            self.makers = Makers(instruments, marks, random.Random(config.seed + 1), maker_cfg)
        self.engine.add_account(LIQUIDITY_ACCOUNT, check_margin=False)
        self.rest = RestApi(
            self.engine,
            self.users,
            default_token_ttl=config.token_ttl,
            max_token_ttl=config.max_token_ttl,
            fill_lag_ns=int(config.rest_fill_lag * _NS),
            auth_gate=lambda: not self.faults.take_auth_rejection(),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._timings = _Timings()
        self.sender = Sender(self.faults, config.max_send_buffer, self._spawn, self._forget)
        """The send path of every socket (:mod:`axorders.sim.sockets`)."""
        self.md = MarketDataGateway(
            self.engine,
            self.faults,
            self.users,
            self.sender,
            self._clock,
            depth=config.md_depth,
            ticker_interval_ns=int(config.ticker_interval * _NS),
            publish_interval=config.md_publish_interval,
        )
        """The ``/md/ws`` sockets (:mod:`axorders.sim.md_ws`)."""
        self.orders = OrdersGateway(
            self.engine,
            self.liberties,
            self.faults,
            self.users,
            self.sender,
            self._clock,
            self.md.after_change,
            self._timings.record,
            self._spawn,
        )
        """The ``/orders/ws`` sockets (:mod:`axorders.sim.orders_ws`)."""
        self._timers = Timers(
            config,
            self.engine,
            self.makers,
            self.liberties,
            self.users,
            self.faults,
            self.sender,
            self.orders,
            self.md,
            self._spawn,
        )
        self._default = self.add_user(
            config.user_id,
            username=config.username,
            password=config.password,
            api_key=config.api_key,
            api_secret=config.api_secret,
        )
        self._user_seq = itertools.count(2)
        if config.users < 0:
            raise ValueError("users must not be negative")
        self.extra_users: list[SimUser] = [self.add_user() for _ in range(config.users)]
        """The users made for ``SimConfig.users`` (``--users N``), in order."""
        self._runner: web.AppRunner | None = None
        self._host = config.host
        self._port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start the timers."""
        if self._runner is not None:
            return
        self.sender.loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/orders/ws", self.orders.handle)
        app.router.add_get("/md/ws", self.md.handle)
        app.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._host, self._port = str(address[0]), int(address[1])
        self._timers.start()
        log.info("AX simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every socket and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for task in list(self._tasks):
            task.cancel()
        for conn in self._sockets():
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"simulator stopping")
        await runner.cleanup()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and users --------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The listening port (known after :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``; REST lives under ``/api`` and ``/orders``."""
        return f"http://{self._host}:{self._port}"

    @property
    def orders_ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}/orders/ws"

    @property
    def md_ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}/md/ws"

    @property
    def user_id(self) -> str:
        """The default user's id."""
        return self._default.user_id

    @property
    def account_id(self) -> str:
        """The default user's account id."""
        return self._default.account_id

    @property
    def api_key(self) -> str:
        return self._default.api_key

    @property
    def api_secret(self) -> str:
        return self._default.api_secret

    def info(self) -> SimInfo:
        """Addresses, the default user's credentials and the extra users' (``--print-json``)."""
        return SimInfo(
            base_url=self.base_url,
            orders_ws_url=self.orders_ws_url,
            md_ws_url=self.md_ws_url,
            api_key=self.api_key,
            api_secret=self.api_secret,
            user_id=self.user_id,
            admin_token=self.admin_token,
            users=[user_info(user) for user in self.extra_users],
        )

    def add_user(
        self,
        user_id: str | None = None,
        *,
        account_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        balance: Decimal | None = None,
    ) -> SimUser:
        """Register a user with its own account; unspecified credentials are generated.

        Raises:
            ValueError: the id, account, API key or username is taken.
        """
        if user_id is None:
            user_id = f"sim-user-{next(self._user_seq)}"
            while self.users.get(user_id) is not None:
                user_id = f"sim-user-{next(self._user_seq)}"
        user = SimUser(
            user_id=user_id,
            account_id=account_id or user_id,
            username=username or user_id,
            password=password or secrets.token_urlsafe(12),
            api_key=api_key or f"key-{user_id}",
            api_secret=api_secret or secrets.token_urlsafe(24),
        )
        if self.engine.has_account(user.account_id):
            raise ValueError(f"account {user.account_id!r} exists")
        self.users.add(user)
        self.engine.add_account(user.account_id, user_id=user.user_id, balance=balance)
        return user

    def issue_token(self, user_id: str | None = None, ttl: float | None = None) -> str:
        """A bearer token for ``user_id`` (default user) valid ``ttl`` s (``token_ttl``)."""
        return self.users.issue_token(
            user_id or self._default.user_id,
            self._clock(),
            self.config.token_ttl if ttl is None else ttl,
        )

    # -- engine helpers for tests and scripts ---------------------------------------------------

    def add_liquidity(
        self,
        symbol: str,
        side: Side | str,
        price: Decimal | str,
        quantity: int,
        *,
        time_in_force: str = "GTC",
    ) -> str:
        """Place an order from the internal liquidity account; returns its venue order id.

        The account is exempt from margin checks and is not touched by the built-in makers.
        Its executions against user orders are sent to those users like any other.

        Raises:
            ValueError: the venue refused or rejected the order (the text says why).
        """
        now = self._clock()
        reply = self.engine.place(
            LIQUIDITY_ACCOUNT,
            symbol,
            Side.parse(side),
            quantity,
            Decimal(str(price)),
            now=now,
            time_in_force=time_in_force,
        )
        self.orders.deliver(reply.events, now)
        if reply.error is not None:
            raise ValueError(reply.error.message)
        assert reply.result is not None and reply.result.venue_order_id is not None
        status = self.engine.status(LIQUIDITY_ACCOUNT, venue_order_id=reply.result.venue_order_id)
        if status is not None and status.state == "REJECTED":
            raise ValueError(status.reject_message or "rejected")
        return reply.result.venue_order_id

    def clear_liquidity(self, symbol: str | None = None) -> int:
        """Cancel the liquidity account's open orders (of one symbol); returns how many."""
        now = self._clock()
        reply = self.engine.cancel_all(LIQUIDITY_ACCOUNT, now, symbol=symbol)
        self.orders.deliver(reply.events, now)
        return len(reply.events)

    def set_mark(self, symbol: str, price: Decimal | str) -> None:
        """Move the mark (and the price band) of ``symbol``. Raises KeyError when unknown."""
        self.engine.set_mark(symbol, Decimal(str(price)))

    def session_close(self) -> int:
        """End the trading session: every open DAY order gets ``d``. Returns how many."""
        now = self._clock()
        events = self.engine.session_close(now)
        self.orders.deliver(events, now)
        return len(events)

    def stats(self) -> SimStats:
        """Requests handled and the simulator's own processing time per request."""
        timings = self._timings
        samples = sorted(timings.samples)
        count = timings.requests

        def pct(p: float) -> int:
            return samples[min(len(samples) - 1, int(len(samples) * p))] if samples else 0

        return SimStats(
            orders_processed=self.engine.orders_processed,
            requests=count,
            processing_ns_total=timings.total,
            processing_ns_mean=timings.total / count if count else 0.0,
            processing_ns_p50=pct(0.50),
            processing_ns_p99=pct(0.99),
            processing_ns_max=timings.max,
            order_connections=sum(len(c) for c in self.orders.by_account.values()),
            md_connections=len(self.md.connections),
            liberties=self.faults.liberties.stats(),
            overflow_closes=self.sender.overflow_closes,
        )

    def flood(self, count: int, kind: str = "fill", user_id: str | None = None) -> int:
        """Send ``count`` synthetic order events to a user's orders sockets at once.

        A load generator for clients, not venue behaviour: ``kind="fill"`` sends partial fills
        (``p``, one contract each) round-robin over the user's open orders, with cumulative
        quantities that continue from one flood to the next and stop one short of each
        order's quantity. The engine is not touched (no position, balance or REST fill
        changes), so run it on orders nobody else trades against. Every frame is encoded
        before the first one is sent, and the frames are written straight to the socket in
        large chunks (the fault knobs do not apply). Returns how many frames each socket gets
        (0 with no socket).

        Raises:
            ValueError: unknown kind or user, a count out of range, no open orders, or not
                enough unfilled quantity for ``count`` fills.
        """
        if kind != "fill":
            raise ValueError(f"unknown flood kind {kind!r} (known: fill)")
        if not 0 <= count <= _FLOOD_MAX:
            raise ValueError(f"count must be between 0 and {_FLOOD_MAX}")
        user = self._default if user_id is None else self.users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id!r}")
        return self.orders.flood(user, count)

    def broadcast(self, frame: bytes, user_id: str | None = None) -> int:
        """Send one raw text frame to the orders sockets (of one user); returns how many.

        For tests of what a client does with a given frame, and of slow readers.
        """
        return self.orders.broadcast(frame, user_id)

    def connection_count(self, user_id: str | None = None) -> int:
        """Open ``/orders/ws`` sockets (of one user)."""
        return self.orders.connection_count(user_id)

    def md_connection_count(self) -> int:
        return len(self.md.connections)

    # -- FaultTarget ----------------------------------------------------------------------------

    def drop_connections(self, user_id: str | None, *, abort: bool) -> int:
        return self.orders.drop_connections(user_id, abort=abort)

    def arm_drop_after(self, frames: int, user_id: str | None) -> int:
        return self.orders.arm_drop_after(frames, user_id)

    def send_raw(self, kind: str, user_id: str | None) -> int:
        return self.orders.send_raw(kind, user_id)

    def stall_for(self, seconds: float) -> None:
        self.sender.stall(seconds, self._sockets())

    def expire_tokens(self, user_id: str | None, *, close: bool) -> int:
        count = self.users.expire_tokens(user_id)
        if close:
            self._timers.close_expired()
        return count

    # -- REST and admin -------------------------------------------------------------------------

    def monotonic(self) -> float:
        return self.sender.time()

    def begin_outage(self) -> int:
        conns = self._sockets()
        for conn in conns:
            self.sender.drop(conn, abort=True)
        return len(conns)

    async def _http(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            return await handle_admin(self, request)
        if self.faults.in_outage(self.sender.time()):
            return unavailable()
        body = await request.read()
        started = time.perf_counter_ns()
        now = self._clock()
        try:
            response = self.rest.handle(
                request.method,
                request.path,
                request.query,
                body,
                authorization=request.headers.get("Authorization"),
                now=now,
            )
        except Exception:
            log.exception("REST request failed")
            error = encode_rest(RestError(error="internal error", code=500))
            return web.Response(status=500, body=error, content_type="application/json")
        orders = self.orders
        with self.sender.holding():
            if response.events:
                orders.dispatch(None, orders.frames(response.events, now))
            self.md.after_change(now)
            # The timed span is the venue's processing: the socket writes come after it.
            self._timings.record(time.perf_counter_ns() - started)
        return web.Response(
            status=response.status, body=response.body, content_type="application/json"
        )

    # -- tasks and sockets ------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, conn: Connection) -> None:
        """Send no more events to an orders socket (closed for overflow)."""
        self.orders.discard(conn)

    def _sockets(self) -> list[Connection]:
        """Every open socket: orders, then market data."""
        return [*self.orders.connections(), *self.md.connections]
