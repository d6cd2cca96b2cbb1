"""URL policy and secret redaction (pure)."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from axorders.exceptions import InsecureTransportError

__all__ = ["RedactingFilter", "Secret", "check_url", "is_loopback", "redact", "tls_context"]

_SECURE = frozenset({"wss", "https"})
_PLAIN = frozenset({"ws", "http"})
REDACTED = "***"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure: bool = False) -> str:
    """Return ``url`` if it may carry credentials, else raise.

    ``wss://`` and ``https://`` are always fine (certificates are verified). Plain ``ws://``
    and ``http://`` are allowed to loopback hosts only, unless ``allow_insecure``.

    Raises:
        InsecureTransportError: an unknown scheme, or plain text to a remote host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme in _SECURE and host:
        return url
    if scheme not in _PLAIN or not host:
        raise InsecureTransportError(f"unsupported URL {url!r}: use wss:// or https://")
    if not allow_insecure and not is_loopback(host):
        raise InsecureTransportError(
            f"refusing plain-text {scheme}:// to {host}: credentials would travel unencrypted;"
            " use wss:// or https://, or allow it explicitly"
        )
    return url


def tls_context(url: str, given: ssl.SSLContext | None = None) -> ssl.SSLContext | None:
    """The TLS settings to open ``url`` with.

    ``given`` when there is one; otherwise, for ``wss://`` and ``https://``, a default context
    that verifies the certificate chain and the host name. None for plain-text URLs.
    """
    if given is not None:
        return given
    if urlsplit(url).scheme.lower() in _SECURE:
        return ssl.create_default_context()
    return None


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class RedactingFilter(logging.Filter):
    """A logging filter that removes the current secrets from every record it passes."""

    def __init__(self, secrets: Callable[[], Iterable[str | None]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s for s in self._secrets() if s]
        if secrets:
            message = record.getMessage()
            cleaned = redact(message, *secrets)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        return True
