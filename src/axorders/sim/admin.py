"""The simulator's admin surface: ``/sim/*`` on the gateway's port.

``GET /sim/stats``, ``POST /sim/session-close``, ``POST /sim/faults`` and ``POST /sim/flood``.
Every request carries the header ``X-Sim-Token`` with
:attr:`~axorders.sim.server.SimServer.admin_token` (missing: 401, wrong: 403), and a POST
body must be JSON with the content type ``application/json`` (415 otherwise, 400 when it does
not parse), so neither a web page nor another local user can drive faults.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final

import msgspec
from aiohttp import web

from axorders.wire.rest import RestError, encode_rest
from axorders.wire.sim import AdminResult, decode_fault_action, encode_sim

if TYPE_CHECKING:
    from axorders.sim.server import SimServer

__all__ = ["ADMIN_TOKEN_HEADER", "FloodRequest", "handle_admin"]

ADMIN_TOKEN_HEADER: Final = "X-Sim-Token"
"""The header that carries :attr:`~axorders.sim.server.SimServer.admin_token` on every
``/sim/*`` request."""


class FloodRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /sim/flood`` (see :meth:`~axorders.sim.server.SimServer.flood`)."""

    count: int
    kind: str = "fill"
    user_id: str | None = None


async def handle_admin(sim: SimServer, request: web.Request) -> web.Response:
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
    return refuse(404, f"no such endpoint: {path}")
