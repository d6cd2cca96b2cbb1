"""URL policy, TLS defaults and secret redaction."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import aiohttp
import pytest

from axorders.auth import ApiKeyAuth, http_session
from axorders.client import OrdersClient
from axorders.exceptions import InsecureTransportError
from axorders.security import (
    RedactingFilter,
    Secret,
    check_url,
    is_loopback,
    redact,
    tls_context,
)


@pytest.mark.parametrize(
    "url",
    [
        "wss://gateway.architect.exchange/orders/ws",
        "https://gateway.sandbox.architect.exchange",
        "WSS://EXAMPLE.COM/x",
        "ws://127.0.0.1:8080/orders/ws",
        "http://127.5.6.7",
        "http://localhost:80",
        "ws://api.localhost",
        "http://[::1]:9000",
    ],
)
def test_allowed_urls(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ws://example.com/orders/ws",
        "http://192.168.1.10:8080",
        "http://[2001:db8::1]/",
        "http://localhost.example.com",
    ],
)
def test_plain_text_to_remote_hosts_needs_an_explicit_allowance(url: str) -> None:
    with pytest.raises(InsecureTransportError, match="plain-text"):
        check_url(url)
    assert check_url(url, allow_insecure=True) == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "example.com", "wss://", "http://", "file:///etc/passwd", ""]
)
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(InsecureTransportError):
        check_url(url, allow_insecure=True)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("url", ["wss://h/orders/ws", "https://h", "WSS://H/x"])
def test_tls_urls_get_a_verifying_context_by_default(url: str) -> None:
    context = tls_context(url)
    assert context is not None
    assert context.check_hostname is True
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_a_given_context_is_used_as_is() -> None:
    given = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert tls_context("wss://h/orders/ws", given) is given


@pytest.mark.parametrize("url", ["ws://127.0.0.1/orders/ws", "http://localhost"])
def test_plain_urls_get_no_context(url: str) -> None:
    assert tls_context(url) is None


async def test_http_sessions_use_a_given_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    real = aiohttp.TCPConnector

    def recording(*args: Any, **kwargs: Any) -> aiohttp.TCPConnector:
        seen.append(kwargs.get("ssl"))
        return real(*args, **kwargs)

    monkeypatch.setattr(aiohttp, "TCPConnector", recording)
    context = ssl.create_default_context()
    session = http_session(context)
    await session.close()
    assert seen == [context]
    session = http_session()  # aiohttp's own default: verify against the system's store
    await session.close()
    assert seen == [context]


def test_the_clients_tls_context_reaches_its_rest_calls() -> None:
    context = ssl.create_default_context()
    client = OrdersClient(
        "https://gateway.example.com", api_key="key", api_secret="secret", ssl_context=context
    )
    assert client.rest._ssl is context
    tokens = client._tokens
    assert isinstance(tokens, ApiKeyAuth) and tokens._ssl is context


def test_redact() -> None:
    assert redact("token abc and abc", "abc") == "token *** and ***"
    assert redact("nothing here", None, "", "zzz") == "nothing here"
    assert redact("a-secret b-secret", "a-secret", "b-secret") == "*** ***"


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert secret.reveal() == "hunter2"
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert "hunter2" not in text
    assert secret == Secret("hunter2") and secret != Secret("other")
    assert secret != "hunter2"
    assert len({secret, Secret("hunter2")}) == 1


def test_redacting_filter_cleans_messages_and_arguments() -> None:
    current = ["tok-1"]
    filt = RedactingFilter(lambda: current)
    args = ("tok-1", 5)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s with %s", args, None)
    assert filt.filter(record)
    assert record.getMessage() == "sent *** with 5"

    current[:] = ["tok-2", None, ""]  # the secrets are read at each record
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Bearer tok-2", None, None)
    assert filt.filter(record)
    assert record.getMessage() == "Bearer ***"

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d", (3,), None)
    assert filt.filter(record)
    assert record.getMessage() == "n=3" and record.args == (3,)


def test_redacting_filter_on_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("axorders.test.redact")
    filt = RedactingFilter(lambda: ["s3cr3t"])
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="axorders.test.redact"):
            logger.info("auth with %s", "s3cr3t")
    finally:
        logger.removeFilter(filt)
    assert "s3cr3t" not in caplog.text and "***" in caplog.text
