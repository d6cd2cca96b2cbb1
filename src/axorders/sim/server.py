"""The simulator's gateway: REST and WebSockets on one port, on the venue's real paths.

Only this module does I/O. It owns the aiohttp application, one writer task per socket, and
the timers (heartbeats, market makers, market-data publishing, token expiry); everything else
is the pure engine, venue sessions, makers and REST API it drives::

    async with SimServer(SimConfig(makers=False)) as sim:
        token = sim.issue_token()
        ...  # connect any AX client to sim.orders_ws_url with "Authorization: Bearer <token>"

Paths: ``/orders/ws`` and ``/md/ws`` (WebSocket, bearer token in the upgrade, 401 before the
upgrade otherwise), REST under ``/api`` and ``/orders`` (see :mod:`axorders.sim.restapi`),
and the admin surface ``POST /sim/faults``, ``POST /sim/session-close``, ``GET /sim/stats``,
``POST /sim/flood``. Every ``/sim/*`` request carries the header ``X-Sim-Token`` with
:attr:`SimServer.admin_token` (missing: 401, wrong: 403), and a POST body must be JSON with
the content type ``application/json`` (415 otherwise, 400 when it does not parse), so neither
a web page nor another local user can drive faults.

The hostile profile (``SimConfig(hostile=HostileConfig(...))``, see
:mod:`axorders.sim.faults`) takes the venue's liberties: fragmented messages, events before
replies, 409 before the ack, late accepts, fresh replaces, foreign ``cid`` ≥ 2^63, unknown
``s``/``X``, and duplicated, reordered or delayed events. Each socket's send queue is bounded
(``SimConfig.max_send_buffer``): a peer that does not read is closed with 1008.

Outgoing frames are written to their socket's transport at once (those of one request, or of
one batch of events, together), so synchronous code (a test calling
:meth:`SimServer.add_liquidity`, a fault) can send. While a delay, stall or drop-after fault
applies, while anything is queued on the socket, or while its transport's buffer is full,
they go through the socket's queue and writer task instead, where those faults are
implemented (see :meth:`SimServer._push`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import msgspec
from aiohttp import WSMsgType, web

from axorders.model import Instrument, Side
from axorders.sim.accounts import SimUser, Users, token_from_header
from axorders.sim.engine import (
    CancelReject,
    Engine,
    EngineConfig,
    Events,
    MarginFailure,
    StpMode,
)
from axorders.sim.faults import (
    MALFORMED_FRAME,
    Faults,
    HostileConfig,
    fragment_text_frame,
    text_frame,
    unknown_event_frame,
)
from axorders.sim.instruments import default_instruments, load_instruments, marks_for
from axorders.sim.makers import MakerConfig, Makers
from axorders.sim.restapi import RestApi
from axorders.sim.venue import (
    BARRIER,
    MarketDataPublisher,
    MarketDataSession,
    Outbound,
    VenueLiberties,
    VenueSession,
    event_frames,
    heartbeat_frame,
    keepalive_frame,
    md_heartbeat_frame,
)
from axorders.wire.orders import Execution, PartiallyFilledMsg, encode, encode_error
from axorders.wire.rest import RestError, encode_rest
from axorders.wire.sim import AdminResult, SimInfo, SimStats, decode_fault_action, encode_sim

__all__ = ["ADMIN_TOKEN_HEADER", "LIQUIDITY_ACCOUNT", "SimConfig", "SimServer"]

ADMIN_TOKEN_HEADER: Final = "X-Sim-Token"
"""The header that carries :attr:`SimServer.admin_token` on every ``/sim/*`` request."""

LIQUIDITY_ACCOUNT: Final = "sim-liquidity"
"""The internal account of :meth:`SimServer.add_liquidity` (exempt from margin checks)."""

log = logging.getLogger("axorders.sim")

_NS: Final = 1_000_000_000
_SAMPLES: Final = 8192
_FLOOD_MAX: Final = 10_000_000
_FLOOD_CHUNK: Final = 1 << 16
_FLOOD_BUFFER: Final = 1 << 20
_DIRECT_BUFFER: Final = 1 << 16
"""Frames skip the writer task only while the socket's write buffer holds at most this."""
_HELD_MAX: Final = 256
"""At most this many frames of one socket are held back by liberties at a time."""
_OVERFLOW_ABORT: Final = 5.0
"""Seconds a socket closed for overflow may take to flush before it is aborted."""


def _websocket_text_frames(
    payloads: list[bytes], cuts: Callable[[bytes], list[int] | None] | None = None
) -> list[bytes]:
    """Unmasked server text frames, joined into chunks of about ``_FLOOD_CHUNK`` bytes.

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
            if size >= _FLOOD_CHUNK:
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
        if size >= _FLOOD_CHUNK:
            chunks.append(b"".join(parts))
            parts.clear()
            size = 0
    if parts:
        chunks.append(b"".join(parts))
    return chunks


class FloodRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /sim/flood`` (see :meth:`SimServer.flood`)."""

    count: int
    kind: str = "fill"
    user_id: str | None = None


@dataclass(slots=True)
class SimConfig:
    """Everything a simulator run can be told.

    Attributes:
        host / port: where to listen; port 0 picks a free port.
        seed: seeds ids, makers and everything random (same seed, same run).
        makers: run the built-in market makers.
        maker_interval: seconds between maker re-quotes.
        maker: maker parameters (levels, spread, volatility...).
        heartbeat_interval: seconds between ``h`` heartbeats (orders and market data).
        keepalive_pu: also send the undocumented ``{"t":"pu"}`` every ``pu_interval`` s.
        maker_fee / taker_fee: fee rates (fee = price × quantity × rate).
        initial_balance: USD balance of every new account.
        token_ttl: default token lifetime (s) for :meth:`SimServer.issue_token` and for
            ``/api/authenticate`` without ``expiration_seconds``.
        max_token_ttl: the longest lifetime ``/api/authenticate`` grants.
        close_on_token_expiry: close (1008) a socket once its token has expired.
        rest_fill_lag: seconds before a fill appears in ``/api/fills`` (WS fills are at once).
        md_publish_interval: 0 publishes market data after every change; otherwise every
            that many seconds.
        md_depth: levels per side in L2 frames.
        ticker_interval: at most one ticker per symbol this often (s).
        margin_failure / cancel_reject / stp / ack_aggressive / check_margin: venue rules, see
            :class:`~axorders.sim.engine.EngineConfig`.
        instruments: the contracts (default: :func:`~axorders.sim.instruments.default_instruments`).
        instruments_file: or a file in the REST ``{"instruments": [...]}`` shape.
        marks: starting marks overriding the defaults.
        user_id / username / password / api_key / api_secret: the default user.
        clock: Unix-nanosecond clock (tests may inject one).
        hostile: the venue liberties to take (None: none, until ``/sim/faults`` switches
            some on); see :class:`~axorders.sim.faults.HostileConfig`.
        admin_token: the ``X-Sim-Token`` of ``/sim/*`` (None: a random one, see
            :attr:`SimServer.admin_token`).
        max_send_buffer: bytes one socket may have waiting to be sent (its queue plus its
            transport's buffer); past it the socket is closed with 1008.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    makers: bool = True
    maker_interval: float = 1.0
    maker: MakerConfig = field(default_factory=MakerConfig)
    heartbeat_interval: float = 5.0
    keepalive_pu: bool = False
    pu_interval: float = 2.0
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal("0.0002")
    initial_balance: Decimal = Decimal(1_000_000)
    token_ttl: float = 3600.0
    max_token_ttl: float = 7 * 86400.0
    close_on_token_expiry: bool = False
    rest_fill_lag: float = 0.0
    md_publish_interval: float = 0.0
    md_depth: int = 20
    ticker_interval: float = 1.0
    margin_failure: MarginFailure = MarginFailure.ERROR
    cancel_reject: CancelReject = CancelReject.ERROR
    stp: StpMode = StpMode.CANCEL_INCOMING
    ack_aggressive: bool = True
    check_margin: bool = True
    instruments: Sequence[Instrument] | None = None
    instruments_file: str | Path | None = None
    marks: Mapping[str, Decimal] | None = None
    user_id: str = "sim-user-1"
    username: str = "trader"
    password: str = "sim-password"
    api_key: str = "sim-api-key"
    api_secret: str = "sim-api-secret"
    clock: Callable[[], int] = time.time_ns
    hostile: HostileConfig | None = None
    admin_token: str | None = None
    max_send_buffer: int = 8 << 20

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            initial_balance=self.initial_balance,
            stp=self.stp,
            margin_failure=self.margin_failure,
            cancel_reject=self.cancel_reject,
            check_margin=self.check_margin,
            ack_aggressive=self.ack_aggressive,
            record_market_data=False,  # switched on while market-data sockets are open
        )

    def load_instruments(self) -> list[Instrument]:
        if self.instruments is not None:
            return list(self.instruments)
        if self.instruments_file is not None:
            return load_instruments(self.instruments_file)
        return default_instruments()


class _Connection:
    """One WebSocket: its outgoing queue and writer task."""

    __slots__ = (
        "budget",
        "closing",
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
    ) -> None:
        self.ws = ws
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
        self._overflow_closes = 0
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
        self._publisher = MarketDataPublisher(
            self.engine, depth=config.md_depth, ticker_interval_ns=int(config.ticker_interval * _NS)
        )
        self._default = self.add_user(
            config.user_id,
            username=config.username,
            password=config.password,
            api_key=config.api_key,
            api_secret=config.api_secret,
        )
        self._user_seq = itertools.count(2)
        self._conn_ids = itertools.count(1)
        self._orders: dict[str, set[_Connection]] = {}  # by account id
        self._md: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._host = config.host
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stall_until = 0.0
        self._batch: dict[_Connection, list[bytes]] | None = None  # see _push
        self._requests = 0
        self._processing_total = 0
        self._processing_max = 0
        self._samples: deque[int] = deque(maxlen=_SAMPLES)
        self._flood_seq = itertools.count(1)
        self._flood_filled: dict[str, int] = {}  # synthetic filled quantity by venue order id

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start the timers."""
        if self._runner is not None:
            return
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/orders/ws", self._orders_ws)
        app.router.add_get("/md/ws", self._md_ws)
        app.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._host, self._port = str(address[0]), int(address[1])
        cfg = self.config
        self._spawn(self._every(cfg.heartbeat_interval, self._send_heartbeats))
        if cfg.keepalive_pu:
            self._spawn(self._every(cfg.pu_interval, self._send_keepalives))
        if self.makers is not None:
            self._step_makers()
            self._spawn(self._every(cfg.maker_interval, self._step_makers))
        md_every = cfg.md_publish_interval if cfg.md_publish_interval > 0 else cfg.ticker_interval
        self._spawn(self._every(md_every, self._publish_market_data))
        self._spawn(self._every(0.05, self._retire_foreign))
        if cfg.close_on_token_expiry:
            self._spawn(self._every(0.25, self._close_expired))
        log.info("AX simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every socket and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for task in list(self._tasks):
            task.cancel()
        for conn in [*self._all_orders(), *self._md]:
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
        """Addresses and the default user's credentials (the CLI's ``--print-json`` line)."""
        return SimInfo(
            base_url=self.base_url,
            orders_ws_url=self.orders_ws_url,
            md_ws_url=self.md_ws_url,
            api_key=self.api_key,
            api_secret=self.api_secret,
            user_id=self.user_id,
            admin_token=self.admin_token,
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
        self._deliver(reply.events, now)
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
        self._deliver(reply.events, now)
        return len(reply.events)

    def set_mark(self, symbol: str, price: Decimal | str) -> None:
        """Move the mark (and the price band) of ``symbol``. Raises KeyError when unknown."""
        self.engine.set_mark(symbol, Decimal(str(price)))

    def session_close(self) -> int:
        """End the trading session: every open DAY order gets ``d``. Returns how many."""
        now = self._clock()
        events = self.engine.session_close(now)
        self._deliver(events, now)
        return len(events)

    def stats(self) -> SimStats:
        """Requests handled and the simulator's own processing time per request."""
        samples = sorted(self._samples)
        count = self._requests

        def pct(p: float) -> int:
            return samples[min(len(samples) - 1, int(len(samples) * p))] if samples else 0

        return SimStats(
            orders_processed=self.engine.orders_processed,
            requests=count,
            processing_ns_total=self._processing_total,
            processing_ns_mean=self._processing_total / count if count else 0.0,
            processing_ns_p50=pct(0.50),
            processing_ns_p99=pct(0.99),
            processing_ns_max=self._processing_max,
            order_connections=sum(len(c) for c in self._orders.values()),
            md_connections=len(self._md),
            liberties=self.faults.liberties.stats(),
            overflow_closes=self._overflow_closes,
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
        conns = self._orders.get(user.account_id, set())
        if not conns:
            return 0
        chunks = _websocket_text_frames(frames)
        for conn in conns:
            self._spawn(self._flood_write(conn, chunks))
        return count

    @staticmethod
    async def _flood_write(conn: _Connection, chunks: list[bytes]) -> None:
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
        conns = self._select(user_id)
        for conn in conns:
            self._push(conn, frame)
        return len(conns)

    def connection_count(self, user_id: str | None = None) -> int:
        """Open ``/orders/ws`` sockets (of one user)."""
        return sum(1 for c in self._all_orders() if user_id is None or c.user.user_id == user_id)

    def md_connection_count(self) -> int:
        return len(self._md)

    # -- FaultTarget ----------------------------------------------------------------------------

    def drop_connections(self, user_id: str | None, *, abort: bool) -> int:
        conns = self._select(user_id)
        for conn in conns:
            self._drop(conn, abort=abort)
        return len(conns)

    def arm_drop_after(self, frames: int, user_id: str | None) -> int:
        conns = self._select(user_id)
        for conn in conns:
            if frames == 0:
                self._drop(conn, abort=True)
            else:
                conn.budget = frames
        return len(conns)

    def send_raw(self, kind: str, user_id: str | None) -> int:
        frame = MALFORMED_FRAME if kind == "malformed" else unknown_event_frame(self._clock())
        conns = self._select(user_id)
        for conn in conns:
            self._push(conn, frame)
        return len(conns)

    def stall_for(self, seconds: float) -> None:
        self._stall_until = max(self._stall_until, self._time() + seconds)
        for conn in [*self._all_orders(), *self._md]:
            conn.wake.set()

    def expire_tokens(self, user_id: str | None, *, close: bool) -> int:
        count = self.users.expire_tokens(user_id)
        if close:
            self._close_expired()
        return count

    # -- WebSockets -----------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> tuple[SimUser, str] | None:
        token = token_from_header(request.headers.get("Authorization"))
        if self.faults.take_auth_rejection():
            return None
        user = self.users.user_for_token(token, self._clock())
        if user is None or token is None:
            return None
        return user, token

    @staticmethod
    def _unauthorized() -> web.Response:
        body = encode_rest(RestError(error="missing, invalid or expired token", code=401))
        return web.Response(status=401, body=body, content_type="application/json")

    async def _orders_ws(self, request: web.Request) -> web.StreamResponse:
        auth = self._authenticate(request)
        if auth is None:
            return self._unauthorized()
        user, token = auth
        flag = request.query.get("cancel_on_disconnect", "false").strip().lower()
        ws = web.WebSocketResponse(
            autoping=True, compress=False, decode_text=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        conn = _Connection(ws, user, token, request.transport)
        venue = conn.venue = VenueSession(
            self.engine,
            user_id=user.user_id,
            account_id=user.account_id,
            connection_id=next(self._conn_ids),
            cancel_on_disconnect=flag in ("true", "1", "yes"),
            liberties=self.liberties,
        )
        conn.budget = self.faults.drop_after_for(user.user_id)
        self._orders.setdefault(user.account_id, set()).add(conn)
        self._start_writer(conn)
        self._push(conn, venue.connection_made(self._clock()))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_orders_frame(conn, venue, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._push(conn, encode_error(None, 400, "binary frames are not supported"))
        finally:
            conns = self._orders.get(user.account_id)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._orders[user.account_id]
            await self._stop_writer(conn)
            self._forget_held(conn)
            now = self._clock()
            self._dispatch(conn, venue.connection_lost(now))
            self._after_change(now)
        return ws

    def _on_orders_frame(self, conn: _Connection, venue: VenueSession, data: bytes) -> None:
        started = time.perf_counter_ns()
        now = self._clock()
        with self._holding():
            try:
                outbound = venue.receive(data, now)
            except Exception:  # a bug must not take the gateway down
                log.exception("orders request failed")
                outbound = [Outbound(None, encode_error(None, 500, "internal error"))]
            self._dispatch(conn, outbound)
            self._after_change(now)
            # The timed span is the venue's processing: the socket writes come after it.
            self._record(time.perf_counter_ns() - started)

    async def _md_ws(self, request: web.Request) -> web.StreamResponse:
        auth = self._authenticate(request)
        if auth is None:
            return self._unauthorized()
        user, token = auth
        ws = web.WebSocketResponse(
            autoping=True, compress=False, decode_text=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        conn = _Connection(ws, user, token, request.transport)
        session = conn.md = MarketDataSession(self.engine, depth=self.config.md_depth)
        if not self._md:
            self.engine.record_market_data = True
            self._publisher.reset()
        self._md.add(conn)
        self._start_writer(conn)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    now = self._clock()
                    with self._holding():
                        self._publish_market_data()  # pending changes first, then the snapshot
                        try:
                            frames = session.receive(msg.data, now)
                        except Exception:
                            log.exception("market-data request failed")
                            frames = []
                        for frame in frames:
                            self._push(conn, frame)
        finally:
            self._forget_held(conn)
            self._md.discard(conn)
            if not self._md:
                self.engine.record_market_data = False
            await self._stop_writer(conn)
        return ws

    # -- sending --------------------------------------------------------------------------------

    def _push(
        self, conn: _Connection, frame: bytes, hold: float = 0.0, keys: tuple[str, ...] = ()
    ) -> None:
        """Send ``frame`` on ``conn``: straight to the transport when :meth:`_direct` allows,
        through the queue and writer task otherwise.

        Inside :meth:`_holding` (one request or one batch of events), direct frames are held
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
            self._write_now(conn, [frame])
            return
        if conn.closing:
            return
        delay = self.faults.delay_seconds
        due = self._time() + delay if delay else 0.0
        conn.queue.append((frame, due))
        conn.queued_bytes += len(frame)
        conn.wake.set()
        transport = conn.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        if conn.queued_bytes + buffered > self.config.max_send_buffer:
            self._overflow(conn)

    def _hold_frame(
        self, conn: _Connection, frame: bytes, hold: float, keys: tuple[str, ...]
    ) -> None:
        due = self._time() + hold
        conn.held.append((due, frame, keys))
        conn.held_keys.update(keys)
        timer = conn.held_timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            loop = self._loop or asyncio.get_running_loop()
            conn.held_timer = loop.call_at(due, self._release_held, conn)

    def _release_held(self, conn: _Connection) -> None:
        """Send the held frames that are due, each after every earlier frame of its orders."""
        conn.held_timer = None
        now = self._time()
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
        with self._holding():
            for frame, _ in ready:
                self._push(conn, frame)
        if keep:
            loop = self._loop or asyncio.get_running_loop()
            conn.held_timer = loop.call_at(min(d for d, _, _ in keep), self._release_held, conn)

    def _flush_held(self, conn: _Connection) -> None:
        """Send every held frame now, in order."""
        held = conn.held
        self._forget_held(conn)
        with self._holding():
            for _, frame, _ in held:
                self._push(conn, frame)

    @staticmethod
    def _forget_held(conn: _Connection) -> None:
        if conn.held_timer is not None:
            conn.held_timer.cancel()
            conn.held_timer = None
        conn.held = []
        conn.held_keys.clear()

    def _overflow(self, conn: _Connection) -> None:
        """The peer does not read: drop what waits, close with 1008, abort if it never
        drains."""
        if conn.closing:
            return
        conn.closing = True
        conn.queue.clear()
        conn.queued_bytes = 0
        self._forget_held(conn)
        self._overflow_closes += 1
        conns = self._orders.get(conn.user.account_id)
        if conns is not None and conn.venue is not None:
            conns.discard(conn)
            if not conns:
                del self._orders[conn.user.account_id]
        log.warning(
            "closing a socket whose send queue passed %d bytes", self.config.max_send_buffer
        )
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        transport.write(text_frame(struct.pack("!H", 1008) + b"send queue full", opcode=0x8))
        transport.close()
        loop = self._loop or asyncio.get_running_loop()
        loop.call_later(_OVERFLOW_ABORT, transport.abort)

    def _direct(self, conn: _Connection) -> bool:
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
        if self.faults.delay_seconds or transport.get_write_buffer_size() > _DIRECT_BUFFER:
            return False
        stall = self._stall_until
        return not stall or stall <= self._time()

    def _cuts(self, payload: bytes) -> list[int] | None:
        """Where to fragment ``payload`` (None: send it whole), drawn by the liberties."""
        gate = self.faults.liberties
        if gate.active and len(payload) > 1 and gate.take("fragment"):
            return gate.cuts(len(payload))
        return None

    def _write_now(self, conn: _Connection, frames: list[bytes]) -> None:
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        cuts = self._cuts if self.faults.liberties.on["fragment"] else None
        for chunk in _websocket_text_frames(frames, cuts):
            transport.write(chunk)

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        """Hold direct frames until the block ends, then write each connection's together.

        Nested blocks join the outermost one.
        """
        if self._batch is not None:
            yield
            return
        batch: dict[_Connection, list[bytes]] = {}
        self._batch = batch
        try:
            yield
        finally:
            self._batch = None
            for conn, frames in batch.items():
                self._write_now(conn, frames)

    def _time(self) -> float:
        """The event loop's clock (the one the writer's delays and stalls use)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    def _dispatch(self, conn: _Connection | None, outbound: list[Outbound]) -> None:
        """Send a venue session's output: responses to ``conn``, events to accounts."""
        faults = self.faults
        gate = faults.liberties
        for item in outbound:
            target, frame, hold, keys = item.target, item.frame, item.hold, item.keys
            if target is None:
                if conn is not None:
                    self._push(conn, frame, hold, keys)
                continue
            twice = faults.take_duplicate() or (gate.active and gate.take("duplicate"))
            for other in self._orders.get(target, ()):
                self._push(other, frame, hold, keys)
                if twice:
                    self._push(other, frame, hold, keys)

    def _frames(self, events: Events, now: int) -> list[Outbound]:
        """Engine events as frames, through the liberties when any applies."""
        liberties = self.liberties
        return event_frames(events, liberties if liberties.engaged else None, now)

    def _deliver(self, events: Events, now: int) -> None:
        with self._holding():
            self._dispatch(None, self._frames(events, now))
            self._after_change(now)

    def _start_writer(self, conn: _Connection) -> None:
        conn.writer = asyncio.get_running_loop().create_task(self._write_loop(conn))

    @staticmethod
    async def _stop_writer(conn: _Connection) -> None:
        writer = conn.writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write_loop(self, conn: _Connection) -> None:
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
                if self._stall_until > now:
                    await asyncio.sleep(self._stall_until - now)
                    continue
                frame, due = queue[0]
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                queue.popleft()
                conn.queued_bytes -= len(frame)
                cuts = self._cuts(frame) if self.faults.liberties.on["fragment"] else None
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
                        self._drop(conn, abort=True)
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away
            log.debug("writer stopped: %r", exc)

    def _drop(self, conn: _Connection, *, abort: bool) -> None:
        conn.budget = None
        if abort and conn.transport is not None:
            conn.transport.abort()
        else:
            self._close(conn, 1011, b"connection dropped")

    def _close(self, conn: _Connection, code: int, message: bytes) -> None:
        if conn.closing:
            return
        conn.closing = True
        task = asyncio.get_running_loop().create_task(self._close_ws(conn, code, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _close_ws(conn: _Connection, code: int, message: bytes) -> None:
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code, message=message)

    def _select(self, user_id: str | None) -> list[_Connection]:
        return [c for c in self._all_orders() if user_id is None or c.user.user_id == user_id]

    def _all_orders(self) -> list[_Connection]:
        return [c for conns in self._orders.values() for c in conns]

    # -- REST and admin -------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            return await self._admin(request)
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
        with self._holding():
            if response.events:
                self._dispatch(None, self._frames(response.events, now))
            self._after_change(now)
            # The timed span is the venue's processing: the socket writes come after it.
            self._record(time.perf_counter_ns() - started)
        return web.Response(
            status=response.status, body=response.body, content_type="application/json"
        )

    async def _admin(self, request: web.Request) -> web.Response:
        def reply(status: int, value: msgspec.Struct) -> web.Response:
            body = encode_sim(value) if status == 200 else encode_rest(value)
            return web.Response(status=status, body=body, content_type="application/json")

        def refuse(status: int, text: str) -> web.Response:
            return reply(status, RestError(error=text, code=status))

        given = request.headers.get(ADMIN_TOKEN_HEADER)
        if not given:
            return refuse(401, f"{ADMIN_TOKEN_HEADER} is required")
        if not secrets.compare_digest(given.encode(), self.admin_token.encode()):
            return refuse(403, f"wrong {ADMIN_TOKEN_HEADER}")
        path = request.path.rstrip("/").replace("_", "-")
        method = request.method
        if method == "POST":
            if request.content_type != "application/json":
                return refuse(415, "the body must be JSON (Content-Type: application/json)")
            raw = await request.read()
            try:
                body = msgspec.json.decode(raw or b"{}")
            except msgspec.DecodeError as exc:
                return refuse(400, f"the body is not JSON: {exc}")
            if not isinstance(body, dict):
                return refuse(400, "the body must be a JSON object")
            raw = raw or b"{}"
        if path == "/sim/stats" and method == "GET":
            return reply(200, self.stats())
        if path == "/sim/session-close" and method == "POST":
            return reply(200, AdminResult(count=self.session_close()))
        if path == "/sim/faults" and method == "POST":
            try:
                action = decode_fault_action(raw)
                count = self.faults.apply(action)
            except (msgspec.DecodeError, ValueError) as exc:
                return refuse(400, str(exc))
            return reply(200, AdminResult(count=count))
        if path == "/sim/flood" and method == "POST":
            try:
                flood = msgspec.json.decode(raw, type=FloodRequest)
                count = self.flood(flood.count, flood.kind, flood.user_id)
            except (msgspec.DecodeError, ValueError) as exc:
                return refuse(400, str(exc))
            return reply(200, AdminResult(count=count))
        return refuse(404, f"no such endpoint: {path}")

    # -- timers ---------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _every(seconds: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                action()
            except Exception:
                log.exception("simulator timer failed")

    def _send_heartbeats(self) -> None:
        if self.faults.heartbeats_stopped:
            return
        now = self._clock()
        frame = heartbeat_frame(now)
        for conn in self._all_orders():
            self._push(conn, frame)
        md_frame = md_heartbeat_frame(now)
        for conn in self._md:
            self._push(conn, md_frame)

    def _send_keepalives(self) -> None:
        if self.faults.heartbeats_stopped:
            return
        frame = keepalive_frame()
        for conn in self._all_orders():
            self._push(conn, frame)

    def _step_makers(self) -> None:
        if self.makers is None:
            return
        now = self._clock()
        events: Events = []
        for command in self.makers.step(now):
            events.extend(self.engine.apply(command, now).events)
        self._deliver(events, now)

    def _retire_foreign(self) -> None:
        """Cancel the orders that the account's "other sessions" placed (a liberty)."""
        now = self._clock()
        events = self.liberties.retire_foreign(now)
        if events:
            self._deliver(events, now)

    def _after_change(self, now: int) -> None:
        if self._md and self.config.md_publish_interval <= 0:
            self._publish_market_data(now)

    def _publish_market_data(self, now: int | None = None) -> None:
        if not self._md:
            return
        now = self._clock() if now is None else now
        wanted = {symbol for conn in self._md if conn.md for symbol in conn.md.subscriptions}
        updates = self._publisher.collect(now, wanted)
        if not updates:
            return
        for conn in self._md:
            assert conn.md is not None
            for symbol, update in updates.items():
                subscription = conn.md.subscriptions.get(symbol)
                if subscription is not None:
                    for frame in update.frames_for(subscription):
                        self._push(conn, frame)

    def _close_expired(self) -> None:
        now = self._clock()
        for conn in [*self._all_orders(), *self._md]:
            if self.users.user_for_token(conn.token, now) is None:
                self._close(conn, 1008, b"token expired")

    def _record(self, elapsed: int) -> None:
        self._requests += 1
        self._processing_total += elapsed
        self._processing_max = max(self._processing_max, elapsed)
        self._samples.append(elapsed)
