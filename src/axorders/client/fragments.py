"""Reassembly of fragmented WebSocket messages (RFC 6455 §5.4), pure.

A venue may split one message into a TEXT or BINARY frame with FIN = 0 followed by
CONTINUATION frames, the last with FIN = 1; control frames (ping, pong, close) may come in
between and are not given here. :class:`Reassembler` joins the pieces, bounded by
``max_size`` bytes in all.
"""

from __future__ import annotations

from typing import Final

from axorders.exceptions import RemoteProtocolError

__all__ = [
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_PROTOCOL_ERROR",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FragmentError",
    "Reassembler",
]

DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_MESSAGE_TOO_BIG: Final = 1009


class FragmentError(RemoteProtocolError):
    """The peer broke the fragmentation rules; ``close_code`` is the code to close with."""

    def __init__(self, message: str, close_code: int) -> None:
        super().__init__(message)
        self.close_code = close_code


class Reassembler:
    """Joins a fragmented message; one per connection.

    >>> r = Reassembler(max_size=100)
    >>> r.feed("TEXT", False, False, b'{"t":'), r.feed(None, True, True, b'"h"}')
    (None, b'{"t":"h"}')
    >>> r.kind
    'TEXT'
    """

    __slots__ = ("_parts", "_size", "kind", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self.kind: object = None
        """The type of the first frame of the message being (or last) assembled."""
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def active(self) -> bool:
        """True between a first fragment and its last."""
        return bool(self._parts)

    def feed(self, kind: object, continuation: bool, fin: bool, payload: bytes) -> bytes | None:
        """One data frame; returns the whole message once its last frame came, else None.

        ``kind`` is the frame's type (kept in :attr:`kind` for the first frame),
        ``continuation`` whether it is a CONTINUATION frame.

        Raises:
            FragmentError: a CONTINUATION without a first frame, a new message inside an
                unfinished one (close 1002), or more than ``max_size`` bytes (close 1009).
        """
        size = len(payload)
        if not continuation:
            if self._parts:
                self.clear()
                raise FragmentError(
                    "a new message began before the fragmented one ended", CLOSE_PROTOCOL_ERROR
                )
            if size > self.max_size:
                raise FragmentError(
                    f"a message of more than {self.max_size} bytes", CLOSE_MESSAGE_TOO_BIG
                )
            self.kind = kind
            if fin:
                return payload
            self._parts.append(payload)
            self._size = size
            return None
        if not self._parts:
            raise FragmentError("a continuation frame without a message", CLOSE_PROTOCOL_ERROR)
        self._size += size
        if self._size > self.max_size:
            self.clear()
            raise FragmentError(
                f"a fragmented message of more than {self.max_size} bytes", CLOSE_MESSAGE_TOO_BIG
            )
        self._parts.append(payload)
        if not fin:
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return message

    def clear(self) -> None:
        """Forget a partial message (the connection is gone)."""
        self._parts.clear()
        self._size = 0
