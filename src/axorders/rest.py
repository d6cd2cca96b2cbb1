"""A typed REST client for the AX gateway (aiohttp), for what an orders client needs."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import aiohttp
import msgspec

from axorders.auth import TokenProvider, http_session
from axorders.config import proxy_for
from axorders.exceptions import (
    AuthenticationError,
    ConnectError,
    RequestRejectedError,
    RequestTimeoutError,
)
from axorders.model import Instrument, Side
from axorders.wire.orders import OrderBody, StatusBody
from axorders.wire.rest import (
    Balance,
    BalancesResponse,
    FillInfo,
    FillsPage,
    InstrumentInfo,
    InstrumentsResponse,
    OpenOrdersPage,
    OrderStatusResponse,
    Position,
    PositionsResponse,
    PreviewRequest,
    PreviewResponse,
    WhoAmI,
    decode_rest,
    encode_rest,
)

__all__ = ["RestClient"]

log = logging.getLogger("axorders.rest")

T = TypeVar("T")
NS: Final = 1_000_000_000
MAX_FILLS_SPAN_NS: Final = 7 * 86_400 * NS
"""The venue refuses a fills window longer than 7 days."""


class _ErrorBody(msgspec.Struct):
    error: Any = None
    message: Any = None
    msg: Any = None
    code: Any = None


def _rejection(status: int, data: bytes) -> RequestRejectedError:
    """The error for a non-2xx answer; the venue's error body format is not documented, so
    ``{"error": ...}``, ``{"message": ...}``, ``{"msg": ...}`` and ``{"error": {"message",
    "code"}}`` are all read."""
    raw = data[:200].decode("utf-8", "replace")
    try:
        body = msgspec.json.decode(data, type=_ErrorBody)
    except msgspec.DecodeError:
        return RequestRejectedError(status, raw)
    code = body.code
    text: str | None = None
    for value in (body.error, body.message, body.msg):
        if isinstance(value, str):
            text = value
            break
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            text = str(value["message"])
            code = value.get("code", code)
            break
    number = code if isinstance(code, int) and not isinstance(code, bool) else None
    return RequestRejectedError(status, text if text is not None else raw, code=number)


class RestClient:
    """REST calls with a bearer token; a 401 refreshes the token and retries once.

    Raises (from every call):
        AuthenticationError: the credentials are refused.
        RequestRejectedError: another error status.
        RequestTimeoutError / ConnectError: the gateway did not answer.
        RemoteProtocolError: an answer of the wrong shape.

    ``proxy`` is a proxy URL, ``""`` for none, or None for ``HTTPS_PROXY``/``NO_PROXY``
    (:func:`~axorders.config.proxy_for`).
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self.timeout = timeout
        self._ssl = ssl_context
        self._proxy = proxy_for(self.base_url, proxy)
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"RestClient(base_url={self.base_url!r})"

    async def close(self) -> None:
        """Close the HTTP session if this object opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        type_: type[T],
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        auth: bool = True,
    ) -> T:
        if self._session is None:
            self._session = http_session(self._ssl)
        url = self.base_url + path
        for attempt in (1, 2):
            headers = {"Accept": "application/json"}
            if auth:
                headers["Authorization"] = f"Bearer {await self._tokens.token()}"
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=encode_rest(body) if body is not None else None,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                    proxy=self._proxy,
                ) as response:
                    status = response.status
                    data = await response.read()
            except TimeoutError:
                raise RequestTimeoutError(
                    f"{method} {path}: no answer in {self.timeout} s"
                ) from None
            except aiohttp.ClientError as exc:
                raise ConnectError(f"{method} {path}: {type(exc).__name__}") from None
            log.debug("%s %s -> HTTP %d (%d bytes)", method, path, status, len(data))
            if status == 401 and auth and attempt == 1:
                log.info("%s %s: token refused; retrying with a fresh one", method, path)
                self._tokens.invalidate()
                continue
            if status in (401, 403):
                raise AuthenticationError(f"{method} {path}: refused (HTTP {status})")
            if status >= 300:
                raise _rejection(status, data)
            return decode_rest(data, type_)
        raise AssertionError("unreachable")

    async def instruments(self) -> list[Instrument]:
        """Every tradable instrument (delisted ones and ``TEST`` symbols left out)."""
        found = await self._call("GET", "/api/instruments", InstrumentsResponse, auth=False)
        return [
            info.to_instrument()
            for info in found.instruments
            if not info.symbol.startswith("TEST") and (info.state or "OPEN") != "DELISTED"
        ]

    async def instrument(self, symbol: str) -> Instrument:
        """One instrument (``RequestRejectedError`` with status 404 when it is unknown)."""
        info = await self._call(
            "GET", "/api/instrument", InstrumentInfo, params={"symbol": symbol}, auth=False
        )
        return info.to_instrument()

    async def whoami(self) -> WhoAmI:
        """The user and its accounts (fee rates included)."""
        return await self._call("GET", "/api/whoami", WhoAmI)

    async def open_orders(self, page_size: int = 100) -> list[OrderBody]:
        """Every open order, following the pages."""
        orders: list[OrderBody] = []
        offset = 0
        while True:
            page = await self._call(
                "GET",
                "/orders/open-orders",
                OpenOrdersPage,
                params={"limit": str(page_size), "offset": str(offset)},
            )
            orders.extend(page.orders)
            offset += len(page.orders)
            if not page.orders or offset >= page.total_count:
                return orders

    async def order_status(
        self, venue_order_id: str | None = None, cid: int | None = None
    ) -> StatusBody:
        """The state of one order, by venue order id or by ``cid`` (exactly one of them).

        An order the venue does not know is a ``RequestRejectedError`` with status 404.
        """
        if (venue_order_id is None) == (cid is None):
            raise ValueError("give exactly one of venue_order_id and cid")
        params = {"oid": venue_order_id} if venue_order_id is not None else {"cid": str(cid)}
        found = await self._call("GET", "/orders/order-status", OrderStatusResponse, params=params)
        return found.status

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order of the account, or only those of ``symbol``; the orders'
        cancel events come over the orders WebSocket."""
        from axorders.wire.rest import CancelAllBody

        body = CancelAllBody(symbol=symbol)
        await self._call("POST", "/orders/cancel-all-orders", dict[str, Any], body=body)

    async def fills(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        symbol: str | None = None,
        now_ns: int | None = None,
        page_size: int = 500,
    ) -> list[FillInfo]:
        """Fills in ``[start_ns, end_ns]`` (default: the last 7 days), oldest first.

        Windows longer than the venue's 7 days are fetched in slices; the cursor is followed
        until the last page.
        """
        end = end_ns if end_ns is not None else (now_ns or time.time_ns()) + NS
        start = start_ns if start_ns is not None else end - MAX_FILLS_SPAN_NS + NS
        fills: list[FillInfo] = []
        while start <= end:
            stop = min(end, start + MAX_FILLS_SPAN_NS - NS)
            fills.extend(await self._fills_window(start, stop, symbol, page_size))
            start = stop + 1
        return fills

    async def _fills_window(
        self, start: int, end: int, symbol: str | None, page_size: int
    ) -> list[FillInfo]:
        found: list[FillInfo] = []
        cursor: str | None = None
        while True:
            params = {
                "start_timestamp_ns": str(start),
                "end_timestamp_ns": str(end),
                "sort_ts": "asc",
                "limit": str(page_size),
            }
            if symbol is not None:
                params["symbol"] = symbol
            if cursor is not None:
                params["cursor"] = cursor
            page = await self._call("GET", "/api/fills", FillsPage, params=params)
            found.extend(page.fills)
            if not page.next_cursor or not page.fills or page.next_cursor == cursor:
                return found
            cursor = page.next_cursor

    async def preview_aggressive_limit_order(
        self, symbol: str, side: Side, quantity: int
    ) -> Decimal | None:
        """The worst price needed to fill ``quantity`` now (null on the wire when the other
        side of the book is empty: None)."""
        found = await self._call(
            "POST",
            "/api/preview-aggressive-limit-order",
            PreviewResponse,
            body=PreviewRequest(symbol=symbol, quantity=quantity, side=side),
        )
        return found.limit_price

    async def balances(self) -> list[Balance]:
        """The account's balances."""
        return (await self._call("GET", "/api/balances", BalancesResponse)).balances

    async def positions(self) -> list[Position]:
        """The account's positions."""
        return (await self._call("GET", "/api/positions", PositionsResponse)).positions
