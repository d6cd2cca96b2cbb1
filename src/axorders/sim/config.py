"""The simulator's settings: :class:`SimConfig` (also in :mod:`axorders.sim.server`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from axorders.model import Instrument
from axorders.sim.engine import CancelReject, EngineConfig, MarginFailure, StpMode
from axorders.sim.faults import HostileConfig
from axorders.sim.instruments import default_instruments, load_instruments
from axorders.sim.makers import MakerConfig

__all__ = ["SimConfig"]


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
        users: how many extra users to create at start, each with its own account and
            generated credentials (:attr:`SimServer.extra_users`).
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
    users: int = 0
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
