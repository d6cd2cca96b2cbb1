"""The simulator's admin surface: ``/sim/*`` on the gateway's port.

``GET /sim/stats``, ``POST /sim/session-close``, ``POST /sim/faults``, ``POST /sim/flood`` and
``POST /sim/users``. Every request carries the header ``X-Sim-Token`` with
:attr:`AdminTarget.admin_token` (missing: 401, wrong: 403), and a POST body must be JSON with
the content type ``application/json`` (415 otherwise, 400 when it does not parse), so neither
a web page nor another local user can drive faults.

The surface serves any :class:`AdminTarget` (the gateway,
:class:`~axorders.sim.server.SimServer`, is one); it imports nothing of the gateway.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import Final, Protocol

import msgspec
from aiohttp import web

from axorders.sim.accounts import SimUser
from axorders.sim.faults import Faults
from axorders.wire.rest import RestError, encode_rest
from axorders.wire.sim import (
    AdminResult,
    SimStats,
    SimUserInfo,
    decode_fault_action,
    decode_user_request,
    encode_sim,
)

__all__ = ["ADMIN_TOKEN_HEADER", "AdminTarget", "FloodRequest", "handle_admin", "user_info"]

ADMIN_TOKEN_HEADER: Final = "X-Sim-Token"
"""The header that carries :attr:`~axorders.sim.server.SimServer.admin_token` on every
``/sim/*`` request."""


_ID_MAX: Final = 128


class AdminTarget(Protocol):
    """What the admin surface drives: the simulator it belongs to."""

    @property
    def admin_token(self) -> str:
        """The ``X-Sim-Token`` value every ``/sim/*`` request must carry."""
        ...

    @property
    def faults(self) -> Faults: ...

    def stats(self) -> SimStats: ...

    def session_close(self) -> int: ...

    def flood(self, count: int, kind: str = "fill", user_id: str | None = None) -> int: ...

    def add_user(
        self,
        user_id: str | None = None,
        *,
        account_id: str | None = None,
        balance: Decimal | None = None,
    ) -> SimUser: ...


def user_info(user: SimUser) -> SimUserInfo:
    """A user's ids and credentials, as ``POST /sim/users`` and ``--print-json`` give them."""
    return SimUserInfo(
        user_id=user.user_id,
        account_id=user.account_id,
        api_key=user.api_key,
        api_secret=user.api_secret,
        username=user.username,
        password=user.password,
    )


class FloodRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /sim/flood`` (see :meth:`~axorders.sim.server.SimServer.flood`)."""

    count: int
    kind: str = "fill"
    user_id: str | None = None


async def handle_admin(sim: AdminTarget, request: web.Request) -> web.Response:
    """Answer one ``/sim/*`` request for ``sim``."""

    def reply(status: int, value: msgspec.Struct) -> web.Response:
        body = encode_sim(value) if status == 200 else encode_rest(value)
        return web.Response(status=status, body=body, content_type="application/json")

    def refuse(status: int, text: str) -> web.Response:
        return reply(status, RestError(error=text, code=status))

    given = request.headers.get(ADMIN_TOKEN_HEADER)
    if not given:
        return refuse(401, f"{ADMIN_TOKEN_HEADER} is required")
    if not secrets.compare_digest(given.encode(), sim.admin_token.encode()):
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
        return reply(200, sim.stats())
    if path == "/sim/session-close" and method == "POST":
        return reply(200, AdminResult(count=sim.session_close()))
    if path == "/sim/faults" and method == "POST":
        try:
            action = decode_fault_action(raw)
            count = sim.faults.apply(action)
        except (msgspec.DecodeError, ValueError) as exc:
            return refuse(400, str(exc))
        return reply(200, AdminResult(count=count))
    if path == "/sim/flood" and method == "POST":
        try:
            flood = msgspec.json.decode(raw, type=FloodRequest)
            count = sim.flood(flood.count, flood.kind, flood.user_id)
        except (msgspec.DecodeError, ValueError) as exc:
            return refuse(400, str(exc))
        return reply(200, AdminResult(count=count))
    if path == "/sim/users" and method == "POST":
        try:
            asked = decode_user_request(raw)
            for given in (asked.user_id, asked.account_id):
                if given is not None and not 0 < len(given) <= _ID_MAX:
                    raise ValueError(f"an id must have 1 to {_ID_MAX} characters")
            balance = None if asked.balance is None else Decimal(asked.balance)
            if balance is not None and not balance.is_finite():
                raise ValueError(f"bad balance {asked.balance!r}")
            user = sim.add_user(asked.user_id, account_id=asked.account_id, balance=balance)
        except InvalidOperation:
            return refuse(400, f"bad balance {asked.balance!r}")
        except (msgspec.DecodeError, ValueError) as exc:
            return refuse(400, str(exc))
        return reply(200, user_info(user))
    return refuse(404, f"no such endpoint: {path}")
