"""Simulated users, their credentials and bearer tokens.

A user has one trading account (``account_id``, the ``aid`` of its orders), an API key and
secret, and a username and password. Tokens are opaque strings with an expiry time; time comes
in as ``now`` (Unix ns). Nothing here reads a clock.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["SimUser", "Users", "token_from_header"]

_NS = 1_000_000_000


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer X`` or a bare ``X``."""
    if value is None:
        return None
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text or None


@dataclass(frozen=True, slots=True)
class SimUser:
    """A simulated user and its credentials."""

    user_id: str
    account_id: str
    username: str
    password: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never show secrets
        return (
            f"SimUser(user_id={self.user_id!r}, account_id={self.account_id!r},"
            f" username={self.username!r}, api_key={self.api_key!r})"
        )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Users:
    """The user registry and token store.

    Args:
        token_factory: makes a new opaque token (default: 32 random URL-safe bytes).
    """

    def __init__(self, token_factory: Callable[[], str] | None = None) -> None:
        self._token_factory = token_factory or (lambda: secrets.token_urlsafe(32))
        self._users: dict[str, SimUser] = {}
        self._by_account: dict[str, SimUser] = {}
        self._tokens: dict[str, tuple[str, int]] = {}  # token -> (user id, expiry ns)

    def add(self, user: SimUser) -> SimUser:
        """Register ``user``.

        Raises:
            ValueError: the user id, account id, API key or username is taken.
        """
        for other in self._users.values():
            if user.user_id == other.user_id:
                raise ValueError(f"user {user.user_id!r} exists")
            if user.account_id == other.account_id:
                raise ValueError(f"account {user.account_id!r} belongs to another user")
            if user.api_key == other.api_key:
                raise ValueError("API key already in use")
            if user.username == other.username:
                raise ValueError(f"username {user.username!r} already in use")
        self._users[user.user_id] = user
        self._by_account[user.account_id] = user
        return user

    def __iter__(self) -> Iterator[SimUser]:
        return iter(list(self._users.values()))

    def __len__(self) -> int:
        return len(self._users)

    def get(self, user_id: str) -> SimUser | None:
        return self._users.get(user_id)

    def by_account(self, account_id: str) -> SimUser | None:
        return self._by_account.get(account_id)

    def check_api_key(self, api_key: str, api_secret: str) -> SimUser | None:
        """The user with this key and secret, or None."""
        for user in self._users.values():
            if _same(api_key, user.api_key) and _same(api_secret, user.api_secret):
                return user
        return None

    def check_password(self, username: str, password: str) -> SimUser | None:
        """The user with this username and password, or None."""
        for user in self._users.values():
            if _same(username, user.username) and _same(password, user.password):
                return user
        return None

    def issue_token(self, user_id: str, now: int, ttl_seconds: float) -> str:
        """A new token for ``user_id`` valid for ``ttl_seconds`` from ``now``.

        Raises:
            KeyError: unknown user.
        """
        if user_id not in self._users:
            raise KeyError(user_id)
        self._prune(now)
        token = self._token_factory()
        self._tokens[token] = (user_id, now + int(ttl_seconds * _NS))
        return token

    def user_for_token(self, token: str | None, now: int) -> SimUser | None:
        """The user of a valid (known, unexpired) token, else None."""
        if token is None:
            return None
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= now:
            return None
        return self._users.get(entry[0])

    def expires_at(self, token: str) -> int | None:
        """Expiry time (Unix ns) of a token, None when unknown."""
        entry = self._tokens.get(token)
        return entry[1] if entry is not None else None

    def expire_tokens(self, user_id: str | None = None) -> int:
        """Expire every token (of one user, or of all); returns how many."""
        count = 0
        for token, (owner, _) in list(self._tokens.items()):
            if user_id is None or owner == user_id:
                self._tokens[token] = (owner, 0)
                count += 1
        return count

    def _prune(self, now: int) -> None:
        # Expired tokens are kept for an hour so that expiry can still be told apart from
        # garbage, then forgotten.
        if len(self._tokens) < 1024:
            return
        horizon = now - 3600 * _NS
        for token, (_, expiry) in list(self._tokens.items()):
            if expiry < horizon:
                del self._tokens[token]
