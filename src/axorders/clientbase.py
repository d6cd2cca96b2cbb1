"""What the parts of :class:`~axorders.client.OrdersClient` share, declared once.

The client is one object assembled from a few parts, each in the module named for its concern:

* :mod:`axorders.client`: the connection's life once a socket is open (opened, lost, close)
  and the pump that moves the session's output;
* :mod:`axorders.reading`: the socket's callbacks: each message to the session, fragments put
  together, one pump after each socket read;
* :mod:`axorders.timers`: one tick for the request deadlines, the pings and the watchdog;
* :mod:`axorders.connecting`: opening the socket: the connect attempts, one at a time, and
  the reconnect loop;
* :mod:`axorders.stream`: the event stream, its fan-out to readers and backpressure;
* :mod:`axorders.journaling`: the journal, written before the frames that depend on it;
* :mod:`axorders.recovery`: fills recovered over REST and the REST fallbacks;
* :mod:`axorders.watching`: the market-data feed that drives the STOP_LIMIT triggers of
  :mod:`axorders.stops`;
* :mod:`axorders.ordering`: the ``submit_*`` commands and the order look-ups;
* :mod:`axorders.awaiting` and :mod:`axorders.waiters`: the awaitable order methods and the
  waiting they share.

:class:`ClientBase` only declares the state and the methods the parts use across those
modules, so that each part type-checks on its own; every value is set by
:meth:`OrdersClient.__init__ <axorders.client.OrdersClient>`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from axorders import events as ev
from axorders.model import RequestId

if TYPE_CHECKING:
    import picows

    from axorders.commands import Command
    from axorders.rest import RestClient
    from axorders.session import OrdersSession
    from axorders.state import OrderRecord
    from axorders.stops import StopTriggers
    from axorders.store import OrderStore
    from axorders.stream import _Reader, _Wakeup, _Watch
    from axorders.watching import MarketWatch

__all__ = ["ClientBase", "now_ns"]


def now_ns() -> int:
    """The time handed to the session: Unix nanoseconds."""
    return time.time_ns()


class ClientBase:
    """The client's shared state and cross-part methods (declarations only)."""

    # Settings.
    session: OrdersSession
    stops: StopTriggers
    store: OrderStore | None
    request_timeout: float
    max_queue: int
    low_water: int

    # The connection.
    _transport: picows.WSTransport | None
    _login: asyncio.Event
    _closed: bool
    _drops: int
    _last_rx: float
    _batch_now: int

    # The event stream (axorders.stream).
    _on_event: Callable[[ev.Event], None] | None
    _event_queue: bool
    _readers: list[_Reader]
    _backlog: collections.deque[ev.Event]
    _watches: dict[str, list[_Watch]]
    _pending: list[ev.Event]
    _flush_soon: bool
    _queue_ready: _Wakeup
    _dropped: int
    _drop_logged: bool
    _paused: bool
    _paused_at: int
    _special: dict[type[ev.Event], Callable[[Any], None]]

    # The journal (axorders.journaling).
    _unsaved: dict[str, OrderRecord]
    _journal_failures: int
    _journal_retry_at: float
    _journal_notes: Callable[[], list[str]] | None
    _journal_checked: bool
    _journal_error: str

    # Waiting for the venue (axorders.waiters).
    _waiters: dict[int, asyncio.Future[ev.RequestResolved]]
    _answers: dict[int, asyncio.Future[ev.Event]]
    _resolved: collections.OrderedDict[int, ev.RequestResolved]

    # REST and market data.
    _fills_task: asyncio.Task[None] | None
    _rest_task: asyncio.Task[None] | None
    _market: MarketWatch

    if TYPE_CHECKING:

        @property
        def rest(self) -> RestClient: ...

        def _pump(self) -> None: ...

        def _end_batch(self) -> None: ...

        def _send_frames(self, frames: list[bytes] | None = None) -> None: ...

        def _publish(self, events: list[ev.Event]) -> None: ...

        def _flush(self) -> None: ...

        def _journal_write(self, *, now: bool = False) -> bool: ...

        def _send(self, command: Command) -> RequestId | None: ...
