"""The simulator's own admin surface (not part of the AX protocol).

``POST /sim/faults`` takes a :class:`FaultAction`, ``GET /sim/stats`` returns
:class:`SimStats`, ``POST /sim/users`` takes a :class:`UserRequest` and returns a
:class:`SimUserInfo`, and ``python -m axorders.sim --print-json`` prints one :class:`SimInfo`
line.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "AdminResult",
    "FaultAction",
    "SimInfo",
    "SimStats",
    "SimUserInfo",
    "UserRequest",
    "decode_fault_action",
    "decode_user_request",
    "encode_sim",
]


class FaultAction(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One fault to inject.

    ``action`` is one of ``drop``, ``drop_after``, ``delay``, ``stall``, ``stop_heartbeats``,
    ``resume_heartbeats``, ``reject_next_auth``, ``expire_tokens``, ``send_malformed``,
    ``send_unknown``, ``duplicate_events``, ``hostile``, ``outage``, ``outage_end``, ``clear``
    (see :mod:`axorders.sim.faults`). ``hostile`` takes ``liberty`` (a name or ``"all"``),
    ``on`` (default true) and an optional ``rate`` (0..1). ``outage`` takes ``seconds``
    (omitted or 0: until ``outage_end``).
    """

    action: str
    user_id: str | None = None
    frames: int | None = None
    seconds: float | None = None
    count: int | None = None
    abort: bool | None = None
    close: bool | None = None
    repeat: bool | None = None
    liberty: str | None = None
    on: bool | None = None
    rate: float | None = None


class AdminResult(msgspec.Struct, kw_only=True):
    """The answer of an admin action: how many things it touched."""

    count: int


class SimStats(msgspec.Struct, kw_only=True):
    """Counters and the simulator's own request-processing time (not network time)."""

    orders_processed: int
    requests: int
    processing_ns_total: int
    processing_ns_mean: float
    processing_ns_p50: int
    processing_ns_p99: int
    processing_ns_max: int
    order_connections: int
    md_connections: int
    liberties: dict[str, int] = msgspec.field(default_factory=dict)
    """Venue liberties taken, per kind (see :mod:`axorders.sim.faults`)."""
    overflow_closes: int = 0
    """Sockets closed (1008) because their send queue passed the bound."""


class SimUserInfo(msgspec.Struct, kw_only=True):
    """One simulated user: its ids and the credentials a client logs in with."""

    user_id: str
    account_id: str
    api_key: str
    api_secret: str
    username: str
    password: str


class UserRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /sim/users``: every field is optional (generated when missing)."""

    user_id: str | None = None
    account_id: str | None = None
    balance: str | None = None
    """The account's USD balance, a decimal string (default: the run's initial balance)."""


class SimInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where a running simulator listens and how to log in to it."""

    base_url: str
    orders_ws_url: str
    md_ws_url: str
    api_key: str
    api_secret: str
    user_id: str
    admin_token: str = ""
    """The ``X-Sim-Token`` that ``/sim/*`` requires."""
    users: list[SimUserInfo] = msgspec.field(default_factory=list)
    """The extra users (``--users N``), each with its own account and credentials (the key
    is left out when there are none)."""


_encoder: Final = msgspec.json.Encoder()
_fault_decoder: Final = msgspec.json.Decoder(FaultAction)
_user_decoder: Final = msgspec.json.Decoder(UserRequest)


def encode_sim(value: msgspec.Struct) -> bytes:
    return _encoder.encode(value)


def decode_fault_action(data: bytes | str) -> FaultAction:
    """Raises msgspec.DecodeError (including ValidationError) for a bad body."""
    return _fault_decoder.decode(data)


def decode_user_request(data: bytes | str) -> UserRequest:
    """Raises msgspec.DecodeError (including ValidationError) for a bad body."""
    return _user_decoder.decode(data)
