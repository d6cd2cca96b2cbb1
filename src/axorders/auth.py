"""Bearer tokens: a static token, or an API key and secret exchanged for a token.

Tokens and secrets never appear in a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import aiohttp

from axorders.config import proxy_for
from axorders.exceptions import AuthenticationError, ConnectError, RequestTimeoutError
from axorders.security import Secret
from axorders.wire.rest import AuthenticateRequest, AuthenticateResponse, decode_rest, encode_rest

__all__ = ["ApiKeyAuth", "StaticToken", "TokenProvider"]

log = logging.getLogger("axorders.auth")


def http_session(ssl_context: ssl.SSLContext | None = None) -> aiohttp.ClientSession:
    """A new aiohttp session; with ``ssl_context``, every ``https`` call uses it (otherwise
    aiohttp verifies certificates against the system's trust store)."""
    if ssl_context is None:
        return aiohttp.ClientSession()
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context))


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the current bearer token."""

    async def token(self) -> str:
        """A token valid now (fetched or refreshed when needed)."""
        ...

    def invalidate(self) -> None:
        """Forget the current token; the next :meth:`token` gets a fresh one if it can."""
        ...

    @property
    def expires_at(self) -> float | None:
        """When the current token expires (the provider's clock), or None if unknown."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this provider holds (for log redaction)."""
        ...


class StaticToken:
    """A token obtained elsewhere; it cannot be refreshed."""

    def __init__(self, token: str) -> None:
        if not token:
            raise AuthenticationError("empty token")
        self._token = Secret(token)

    async def token(self) -> str:
        return self._token.reveal()

    def invalidate(self) -> None:
        return

    @property
    def expires_at(self) -> float | None:
        """Unknown: the token came from elsewhere."""
        return None

    def secrets(self) -> tuple[str, ...]:
        return (self._token.reveal(),)

    def __repr__(self) -> str:
        return "StaticToken(***)"


class ApiKeyAuth:
    """Exchanges an API key and secret for a token at ``POST /api/authenticate``.

    The token is refreshed once only ``refresh_margin`` of its lifetime is left, so a reconnect
    always presents a valid one.

    Args:
        base_url: the gateway base (``https://gateway.sandbox.architect.exchange``).
        expiration_seconds: the lifetime to ask for.
        refresh_margin: fraction of the lifetime left at which to refresh (0 to 1).
        timeout: seconds for one authenticate call.
        clock: monotonic seconds (injectable for tests).
        ssl_context: TLS settings for ``https`` (default: verify against the system's store).
        proxy: a proxy URL, ``""`` for none, or None for ``HTTPS_PROXY``/``NO_PROXY``
            (:func:`~axorders.config.proxy_for`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        expiration_seconds: int = 86_400,
        refresh_margin: float = 0.1,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise AuthenticationError("an API key and an API secret are both required")
        if expiration_seconds <= 0 or not 0.0 <= refresh_margin < 1.0:
            raise ValueError("need expiration_seconds > 0 and 0 <= refresh_margin < 1")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._secret = Secret(api_secret)
        self.expiration_seconds = expiration_seconds
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._ssl = ssl_context
        self._proxy = proxy_for(self.base_url, proxy)
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._expires_at: float | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ApiKeyAuth(base_url={self.base_url!r}, api_key={self.api_key!r}, secret=***)"

    @property
    def expires_in(self) -> float | None:
        """Seconds until the planned refresh, or None before the first token."""
        return None if self._token is None else self._refresh_at - self._clock()

    @property
    def expires_at(self) -> float | None:
        """When the current token expires (``clock`` seconds), or None before the first one."""
        return self._expires_at

    def secrets(self) -> tuple[str, ...]:
        found = [self._secret.reveal()]
        if self._token is not None:
            found.append(self._token.reveal())
        return tuple(found)

    def invalidate(self) -> None:
        self._refresh_at = 0.0

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._authenticate()
            assert self._token is not None
            return self._token.reveal()

    async def _authenticate(self) -> None:
        if self._session is None:
            self._session = http_session(self._ssl)
        body = encode_rest(
            AuthenticateRequest(
                api_key=self.api_key,
                api_secret=self._secret.reveal(),
                expiration_seconds=self.expiration_seconds,
            )
        )
        url = f"{self.base_url}/api/authenticate"
        started = self._clock()  # the lifetime is counted from the request, to be safe
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                proxy=self._proxy,
            ) as response:
                data = await response.read()
                status = response.status
        except TimeoutError:
            raise RequestTimeoutError(f"authenticate at {url} timed out") from None
        except aiohttp.ClientError as exc:
            raise ConnectError(f"cannot reach {url}: {type(exc).__name__}") from None
        if status in (400, 401, 403):
            log.warning("authentication refused for API key %r (HTTP %d)", self.api_key, status)
            raise AuthenticationError(
                f"the venue refused the API key {self.api_key!r} (HTTP {status})"
            )
        if status >= 300:
            raise ConnectError(f"authenticate at {url} failed with HTTP {status}")
        token = decode_rest(data, AuthenticateResponse).token
        self._token = Secret(token)
        self._expires_at = started + self.expiration_seconds
        self._refresh_at = started + self.expiration_seconds * (1 - self.refresh_margin)
        self.refreshes += 1
        log.debug("authenticated with API key %r for %d s", self.api_key, self.expiration_seconds)

    async def close(self) -> None:
        """Close the HTTP session if this object opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
