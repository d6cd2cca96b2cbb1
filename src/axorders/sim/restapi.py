"""The simulator's REST API (SPEC §11, §14.8), sans I/O.

:meth:`RestApi.handle` takes the method, path, query, body and ``Authorization`` header of one
request plus ``now`` and returns a :class:`RestResponse`: the status, the JSON body and the
order events the request caused (the server fans them out to the user's WebSocket sessions,
so REST order entry produces the same events as the WebSocket).

Paths are accepted with hyphens or underscores (``open-orders`` / ``open_orders``), with or
without a trailing slash. Errors are ``{"error": "...", "code": n}``
(:class:`~axorders.wire.rest.RestError`) with a 4xx status; a missing, unknown or expired
token gets 401. A user only ever sees and touches its own account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, NamedTuple, TypeVar

from axorders.exceptions import RemoteProtocolError
from axorders.sim.accounts import SimUser, Users, token_from_header
from axorders.sim.engine import Engine, Events, Reply
from axorders.sim.instruments import instruments_response
from axorders.wire.orders import OrderBody
from axorders.wire.rest import (
    AccountInfo,
    AuthenticateRequest,
    AuthenticateResponse,
    CancelAllBody,
    CancelOrderBody,
    CancelOrderResponse,
    FillsPage,
    FillsQuery,
    InstrumentInfo,
    InstrumentQuery,
    OpenOrdersPage,
    OpenOrdersQuery,
    OrderIdResponse,
    OrdersHistoryPage,
    OrdersQuery,
    OrderStatusQuery,
    OrderStatusResponse,
    PlaceOrderBody,
    PositionsResponse,
    PreviewRequest,
    ReplaceOrderBody,
    RestError,
    RiskSnapshotResponse,
    WhoAmI,
    decode_query,
    decode_rest,
    encode_rest,
)

__all__ = ["RestApi", "RestResponse"]

_NS: Final = 1_000_000_000
_MAX_FILLS_SPAN_NS: Final = 7 * 24 * 3600 * _NS
_DEFAULT_LIMIT: Final = 100
_MAX_LIMIT: Final = 1000
T = TypeVar("T")


class RestResponse(NamedTuple):
    status: int
    body: bytes
    events: Events


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> RestResponse:
    return RestResponse(status, encode_rest(RestError(error=message, code=status)), [])


def _ok(value: object, events: Events | None = None) -> RestResponse:
    return RestResponse(200, encode_rest(value), events or [])


Handler = Callable[[SimUser, Mapping[str, str], bytes, int], RestResponse]


class RestApi:
    """REST endpoints over an :class:`Engine` and a :class:`Users` registry.

    Args:
        engine: the shared matching engine.
        users: users and tokens.
        default_token_ttl: seconds, when ``expiration_seconds`` is not given.
        max_token_ttl: the longest token lifetime granted (seconds).
        fill_lag_ns: a fill shows up in ``/api/fills`` this long after its execution.
        maker_fee / taker_fee: reported by ``/api/whoami``.
        auth_gate: called before every authentication; False refuses it with 401 (the
            ``reject_next_auth`` fault).
    """

    def __init__(
        self,
        engine: Engine,
        users: Users,
        *,
        default_token_ttl: float = 3600.0,
        max_token_ttl: float = 7 * 86400.0,
        fill_lag_ns: int = 0,
        auth_gate: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.users = users
        self.default_token_ttl = default_token_ttl
        self.max_token_ttl = max_token_ttl
        self.fill_lag_ns = fill_lag_ns
        self._auth_gate = auth_gate or (lambda: True)
        self._instruments_body = encode_rest(instruments_response(engine.instruments))
        self._public: dict[tuple[str, str], Callable[[Mapping[str, str], bytes, int], RestResponse]]
        self._public = {
            ("POST", "/api/authenticate"): self._authenticate,
            ("GET", "/api/instruments"): self._instruments,
            ("GET", "/api/instrument"): self._instrument,
        }
        self._private: dict[tuple[str, str], Handler] = {
            ("GET", "/api/whoami"): self._whoami,
            ("GET", "/api/balances"): self._balances,
            ("GET", "/api/positions"): self._positions,
            ("GET", "/api/risk-snapshot"): self._risk,
            ("GET", "/api/fills"): self._fills,
            ("POST", "/api/preview-aggressive-limit-order"): self._preview,
            ("GET", "/orders/open-orders"): self._open_orders,
            ("GET", "/orders/orders"): self._history,
            ("GET", "/orders/order-status"): self._order_status,
            ("POST", "/orders/place-order"): self._place,
            ("POST", "/orders/cancel-order"): self._cancel,
            ("POST", "/orders/replace-order"): self._replace,
            ("POST", "/orders/cancel-all-orders"): self._cancel_all,
            ("POST", "/orders/initial-margin-requirement"): self._initial_margin,
        }
        self._paths = {path for _, path in (*self._public, *self._private)}

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        authorization: str | None,
        now: int,
    ) -> RestResponse:
        """Serve one request. Never raises for anything a client can send."""
        route = path.rstrip("/").replace("_", "-") or "/"
        key = (method.upper(), route)
        try:
            public = self._public.get(key)
            if public is not None:
                return public(query, body, now)
            handler = self._private.get(key)
            if handler is None:
                if route in self._paths:
                    return _error(405, f"method {method} not allowed on {route}")
                return _error(404, f"no such endpoint: {route}")
            user = self.users.user_for_token(token_from_header(authorization), now)
            if user is None:
                return _error(401, "missing, invalid or expired token")
            return handler(user, query, body, now)
        except _HttpError as exc:
            return _error(exc.status, exc.message)
        except RemoteProtocolError as exc:
            return _error(400, str(exc))

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _body(body: bytes, type_: type[T]) -> T:
        return decode_rest(body or b"{}", type_)

    @staticmethod
    def _limit(value: int | None) -> int:
        if value is None:
            return _DEFAULT_LIMIT
        if value < 1 or value > _MAX_LIMIT:
            raise _HttpError(400, f"limit must be between 1 and {_MAX_LIMIT}")
        return value

    @staticmethod
    def _own_account(user: SimUser, account_id: str | None) -> None:
        if account_id is not None and account_id != user.account_id:
            raise _HttpError(403, f"no access to account {account_id}")

    @staticmethod
    def _reply(reply: Reply, value: Callable[[Reply], object]) -> RestResponse:
        if reply.error is not None:
            return RestResponse(
                reply.error.code,
                encode_rest(RestError(error=reply.error.message or "", code=reply.error.code)),
                reply.events,
            )
        return _ok(value(reply), reply.events)

    # -- public ---------------------------------------------------------------------------------

    def _authenticate(self, query: Mapping[str, str], body: bytes, now: int) -> RestResponse:
        del query
        request = self._body(body, AuthenticateRequest)
        by_key = request.api_key is not None or request.api_secret is not None
        by_password = request.username is not None or request.password is not None
        if by_key == by_password:
            return _error(400, "give api_key and api_secret, or username and password")
        ttl = request.expiration_seconds
        if ttl <= 0:
            return _error(400, "expiration_seconds must be positive")
        if not self._auth_gate():
            return _error(401, "authentication refused")
        if by_key:
            user = self.users.check_api_key(request.api_key or "", request.api_secret or "")
        else:
            user = self.users.check_password(request.username or "", request.password or "")
        if user is None:
            return _error(401, "invalid credentials")
        token = self.users.issue_token(user.user_id, now, min(float(ttl), self.max_token_ttl))
        return _ok(AuthenticateResponse(token=token))

    def _instruments(self, query: Mapping[str, str], body: bytes, now: int) -> RestResponse:
        del query, body, now
        return RestResponse(200, self._instruments_body, [])

    def _instrument(self, query: Mapping[str, str], body: bytes, now: int) -> RestResponse:
        del body, now
        if "symbol" not in query:
            return _error(400, "symbol is required")
        symbol = decode_query(query, InstrumentQuery).symbol
        instrument = self.engine.instrument(symbol)
        if instrument is None:
            return _error(404, f"Symbol {symbol} is not available")
        return _ok(InstrumentInfo.from_instrument(instrument))

    # -- account --------------------------------------------------------------------------------

    def _whoami(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query, body, now
        config = self.engine.config
        return _ok(
            WhoAmI(
                id=user.user_id,
                username=user.username,
                accounts=[
                    AccountInfo(
                        id=user.account_id,
                        name=user.username,
                        maker_fee=config.maker_fee,
                        taker_fee=config.taker_fee,
                    )
                ],
            )
        )

    def _balances(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query, body, now
        return _ok(self.engine.balances(user.account_id))

    def _positions(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query, body, now
        return _ok(PositionsResponse(positions=self.engine.positions(user.account_id)))

    def _risk(self, user: SimUser, query: Mapping[str, str], body: bytes, now: int) -> RestResponse:
        del query, body
        snapshot = self.engine.risk_snapshot(user.account_id, now)
        return _ok(RiskSnapshotResponse(risk_snapshot=snapshot))

    def _fills(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del body
        params = decode_query(query, FillsQuery)
        self._own_account(user, params.account_id)
        start, end = params.start_timestamp_ns, params.end_timestamp_ns
        if start is None or end is None:
            return _error(400, "start_timestamp_ns and end_timestamp_ns are required")
        if end < start:
            return _error(400, "end_timestamp_ns is before start_timestamp_ns")
        if end - start > _MAX_FILLS_SPAN_NS:
            return _error(400, "the time span may not exceed 7 days")
        limit = self._limit(params.limit)
        newest_first = (params.sort_ts or "desc").lower() != "asc"
        visible_before = now - self.fill_lag_ns
        fills = [
            fill
            for fill in self.engine.fills(user.account_id)
            if start <= fill.ts <= end
            and fill.ts <= visible_before
            and (params.symbol is None or fill.symbol == params.symbol)
        ]
        fills.sort(key=lambda f: (f.ts, f.trade_id), reverse=newest_first)
        total = len(fills)
        if params.cursor is not None:
            position = self._cursor(params.cursor)
            fills = [
                f
                for f in fills
                if (
                    (f.ts, f.trade_id) < position if newest_first else (f.ts, f.trade_id) > position
                )
            ]
        page = fills[:limit]
        next_cursor = f"{page[-1].ts}:{page[-1].trade_id}" if len(fills) > limit and page else None
        return _ok(
            FillsPage(
                fills=[fill.info() for fill in page],
                limit=limit,
                total_count=total,
                next_cursor=next_cursor,
            )
        )

    def _preview(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del user, query, now
        request = self._body(body, PreviewRequest)
        if request.quantity <= 0:
            return _error(400, "quantity must be positive")
        preview = self.engine.preview(request.symbol, request.side, request.quantity)
        if preview is None:
            return _error(404, f"Symbol {request.symbol} is not available")
        return _ok(preview)

    # -- orders ---------------------------------------------------------------------------------

    def _open_orders(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del body, now
        params = decode_query(query, OpenOrdersQuery)
        self._own_account(user, params.account_id)
        limit = self._limit(params.limit)
        if params.offset < 0:
            return _error(400, "offset must not be negative")
        orders = self.engine.open_orders(user.account_id)
        if (params.sort_ts or "asc").lower() == "desc":
            orders.reverse()
        page = orders[params.offset : params.offset + limit]
        return _ok(
            OpenOrdersPage(orders=page, total_count=len(orders), limit=limit, offset=params.offset)
        )

    @staticmethod
    def _cursor(text: str) -> tuple[int, str]:
        ts, sep, ident = text.partition(":")
        if not sep or not ts.isdigit() or not ident:
            raise _HttpError(400, f"bad cursor {text!r}")
        return int(ts), ident

    def _history(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del body, now
        params = decode_query(query, OrdersQuery)
        self._own_account(user, params.account_id)
        limit = self._limit(params.limit)
        states = (
            {s.strip().upper() for s in params.order_states.split(",") if s.strip()}
            if params.order_states
            else None
        )
        ids: set[str] | None = None
        if params.order_id is not None or params.order_ids is not None:
            ids = {params.order_id} if params.order_id else set()
            ids.update(i.strip() for i in (params.order_ids or "").split(",") if i.strip())

        def when(order: OrderBody) -> int:
            return order.ts * _NS + order.tn

        orders = [
            o
            for o in self.engine.history(user.account_id)
            if (params.symbol is None or o.symbol == params.symbol)
            and (states is None or o.status in states)
            and (ids is None or o.venue_order_id in ids)
            and (params.start_timestamp_ns is None or when(o) >= params.start_timestamp_ns)
            and (params.end_timestamp_ns is None or when(o) <= params.end_timestamp_ns)
        ]
        if params.cursor is not None:
            position = self._cursor(params.cursor)
            orders = [o for o in orders if (when(o), o.venue_order_id) < position]
        if params.offset < 0:
            return _error(400, "offset must not be negative")
        orders = orders[params.offset :]
        page = orders[:limit]
        next_cursor = (
            f"{when(page[-1])}:{page[-1].venue_order_id}" if len(orders) > limit and page else None
        )
        return _ok(OrdersHistoryPage(orders=page, next_cursor=next_cursor, limit=limit))

    def _order_status(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del body, now
        params = decode_query(query, OrderStatusQuery)
        if params.order_id is not None or params.client_order_id is not None:
            return _error(400, "use oid or cid (order_id and client_order_id were renamed)")
        if params.venue_order_id is None and params.cid is None:
            return _error(400, "oid or cid is required")
        status = self.engine.status(
            user.account_id, venue_order_id=params.venue_order_id, cid=params.cid
        )
        if status is None:
            return _error(404, "no matching orders")
        return _ok(OrderStatusResponse(status=status))

    def _place(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query
        request = self._body(body, PlaceOrderBody)
        reply = self.engine.place(
            user.account_id,
            request.symbol,
            request.side,
            request.quantity,
            request.price,
            now=now,
            time_in_force=request.time_in_force,
            post_only=request.post_only,
            cid=request.cid,
            tag=request.tag,
            reprice=request.reprice,
        )
        return self._reply(reply, _order_id)

    def _cancel(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query
        request = self._body(body, CancelOrderBody)
        if request.venue_order_id is None and request.cid is None:
            return _error(400, "oid, or cid (with an optional aid), is required")
        if request.account_id is not None and request.account_id != user.account_id:
            reply = self.engine.refuse_cancel(
                user.account_id, now, venue_order_id=request.venue_order_id, cid=request.cid
            )
            return self._reply(reply, lambda r: CancelOrderResponse(cancel_received=True))
        reply = self.engine.cancel(
            user.account_id, now, venue_order_id=request.venue_order_id, cid=request.cid
        )
        return self._reply(reply, lambda r: CancelOrderResponse(cancel_received=True))

    def _replace(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query
        request = self._body(body, ReplaceOrderBody)
        reply = self.engine.replace(
            user.account_id,
            request.venue_order_id,
            now,
            price=request.price,
            quantity=request.quantity,
            time_in_force=request.time_in_force,
            post_only=request.post_only,
        )
        return self._reply(reply, _order_id)

    def _cancel_all(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query
        request = self._body(body, CancelAllBody)
        self._own_account(user, request.account_id)
        reply = self.engine.cancel_all(user.account_id, now, symbol=request.symbol)
        return self._reply(reply, lambda r: {})

    def _initial_margin(
        self, user: SimUser, query: Mapping[str, str], body: bytes, now: int
    ) -> RestResponse:
        del query, now
        request = self._body(body, PlaceOrderBody)
        if request.quantity <= 0:
            return _error(400, "quantity must be positive")
        margin = self.engine.initial_margin(
            user.account_id, request.symbol, request.side, request.quantity, request.price
        )
        if margin is None:
            return _error(404, f"Symbol {request.symbol} is not available")
        return _ok(margin)


def _order_id(reply: Reply) -> OrderIdResponse:
    assert reply.result is not None and reply.result.venue_order_id is not None
    return OrderIdResponse(venue_order_id=reply.result.venue_order_id)
