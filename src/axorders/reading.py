"""The orders socket's callbacks: how a message from the venue reaches the session.

picows calls :class:`_Listener` on the event loop for every frame. A whole text message goes
straight to :meth:`OrdersSession.receive <axorders.session.OrdersSession.receive>`; fragments
are put together first (RFC 6455 §5.4). Every message of one socket read is received with
the same time and pumped once, after the read (:meth:`SocketReader._end_batch`): one journal
write, one hand-over to the readers and one wake-up each, whatever the read held. No exception
leaves a callback.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Final

import picows

from axorders.clientbase import ClientBase
from axorders.clientbase import now_ns as _now
from axorders.fragments import FragmentError, Reassembler

__all__ = ["SocketReader"]

log = logging.getLogger("axorders.client")

_TEXT: Final = picows.WSMsgType.TEXT
_BINARY: Final = picows.WSMsgType.BINARY
_CONTINUATION: Final = picows.WSMsgType.CONTINUATION
_CLOSE: Final = picows.WSMsgType.CLOSE


class _Listener(picows.WSListener):
    """Hands frames to the client; no logic of its own, and no exception leaves it (a bug is
    logged, not turned into a dropped socket)."""

    def __init__(self, client: SocketReader) -> None:
        self._client = client
        self.transport: picows.WSTransport | None = None
        self.assembler = Reassembler(client.max_message_size)
        self.assembling = False  # between the first and the last fragment of a message

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        try:
            self._client._on_connected(self, transport)
        except Exception:
            log.exception("connection handling failed")

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        try:
            self._client._on_frame(self, frame)
        except Exception:
            log.exception("frame handling failed")

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        try:
            self._client._on_disconnected(self)
        except Exception:
            log.exception("disconnect handling failed")


class SocketReader(ClientBase):
    """The client's part that reads the orders socket (see the module's docstring)."""

    max_message_size: int
    _listener: _Listener | None
    _gaps: collections.deque[float]

    if TYPE_CHECKING:

        def _on_connected(self, listener: _Listener, transport: picows.WSTransport) -> None: ...

        def _on_disconnected(self, listener: _Listener) -> None: ...

    def _on_frame(self, listener: _Listener, frame: picows.WSFrame) -> None:
        if listener is not self._listener:
            return
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY or kind is _CONTINUATION:
            now = self._batch_now or self._start_batch()
            if frame.fin and kind is not _CONTINUATION and not listener.assembling:
                data = frame.get_payload_as_bytes()  # one frame: the common case
            else:
                message = self._reassemble(listener, kind, frame)
                if message is None:
                    return
                data = message
            self.session.receive(data, now)
        elif kind is _CLOSE and self._transport is not None:
            self._transport.disconnect()

    def _start_batch(self) -> int:
        """The first message of a socket read: picows hands over every message of a read
        before the loop runs anything else, so the others join it, received at the same time,
        and one pump after the read (:meth:`_end_batch`) moves the session's output on."""
        # Only the venue's own messages feed the watchdog: a pong proves the socket, not that
        # the venue is still sending (its heartbeats come every few seconds). The messages of
        # one read arrived together: the gap before the read is theirs.
        mono = time.monotonic()
        self._gaps.append(mono - self._last_rx)
        self._last_rx = mono
        now = self._batch_now = _now()
        asyncio.get_running_loop().call_soon(self._end_batch)
        return now

    def _reassemble(
        self, listener: _Listener, kind: picows.WSMsgType, frame: picows.WSFrame
    ) -> bytes | None:
        """Feed a fragment (RFC 6455 §5.4); the whole message once its last one came. A
        message that breaks the rules closes the socket."""
        assembler = listener.assembler
        try:
            message = assembler.feed(
                kind, kind is _CONTINUATION, frame.fin, frame.get_payload_as_bytes()
            )
        except FragmentError as exc:
            listener.assembling = assembler.active
            log.warning("%s; closing the connection (%d)", exc, exc.close_code)
            transport = self._transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.send_close(picows.WSCloseCode(exc.close_code))
                transport.disconnect()
            return None
        listener.assembling = assembler.active
        return message

    def _end_batch(self) -> None:
        """After a socket read: one pump for all its messages, and one hand-over of their
        events to the readers (one wake-up each). Nothing escapes it."""
        self._batch_now = 0
        self._flush_soon = True  # the readers get this batch below, not in a later turn
        try:
            self._pump()
        except Exception:
            log.exception("frame handling failed")
        try:
            self._flush()
        except Exception:
            self._flush_soon = False
            log.exception("event hand-over failed")
