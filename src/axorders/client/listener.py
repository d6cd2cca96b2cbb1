"""The orders socket's callbacks: picows calls :class:`Listener` on the event loop.

The listener has no logic of its own: it hands the socket's opening, each frame and its end to
its :class:`~axorders.client.connection.Connection`, and no exception leaves it (a bug is
logged, not turned into a dropped socket). It keeps the one piece of per-socket state the
frames need: the fragments of a message being put together (RFC 6455 §5.4).
"""

from __future__ import annotations

import logging
from typing import Protocol

import picows

from axorders.client.fragments import Reassembler

__all__ = ["Listener", "SocketOwner"]

log = logging.getLogger("axorders.client")


class SocketOwner(Protocol):
    """What a listener reports to (the connection)."""

    def on_connected(self, listener: Listener, transport: picows.WSTransport) -> None: ...

    def on_frame(self, listener: Listener, frame: picows.WSFrame) -> None: ...

    def on_disconnected(self, listener: Listener) -> None: ...


class Listener(picows.WSListener):
    """One socket's callbacks (see the module's docstring)."""

    def __init__(self, owner: SocketOwner, max_message_size: int) -> None:
        self._owner = owner
        self.transport: picows.WSTransport | None = None
        self.assembler = Reassembler(max_message_size)
        self.assembling = False  # between the first and the last fragment of a message

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        try:
            self._owner.on_connected(self, transport)
        except Exception:
            log.exception("connection handling failed")

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        try:
            self._owner.on_frame(self, frame)
        except Exception:
            log.exception("frame handling failed")

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        try:
            self._owner.on_disconnected(self)
        except Exception:
            log.exception("disconnect handling failed")

    def reset(self) -> None:
        """The socket closed: a message half put together is dropped."""
        self.assembler.clear()
        self.assembling = False
