"""OrdersSession: the sans-I/O heart of axorders.

Commands go in (:meth:`OrdersSession.send`), frames come out (:meth:`frames_to_send`); frames
go in (:meth:`receive`), typed events come out (:meth:`events_received`). The session never
awaits, sleeps, reads a clock or touches a socket: every call takes ``now`` (Unix ns).

The parts::

    OrdersSession (core.py)  facade: output queues, connection lifecycle, journal marks and
      |                      withdraw, restore, tick; builds and joins the parts below
      |-- OrderRegistry (registry.py)  object: order records; client order id <-> cid <->
      |                                venue ids; the bounded recent set; armed stops;
      |                                verdicts and replace bases kept with their order
      |-- RequestBook (requests.py)    object: rid -> request, deadline heap, 409 retries,
      |                                frames deferred until a venue id, replaces in flight
      |-- Commands (commands.py)       command -> validation -> record + request -> frame;
      |                                external orders; armed stops and trigger_stop()
      |-- EventHandlers (handlers.py)  receive(): decode, then ONE table type -> handler;
      |                                the handlers of the venue's order events
      |-- ReplyHandlers (replies.py)   res / err: a reply ends its request
      |-- OrderTracking (tracking.py)  which record a frame names: adopt, revive, follow
      |-- Resync (resync.py)           login diff, paced status queries, the venue's word
      |-- Recovery (recovery.py)       fills recovered over REST, ends held for them,
      |                                REST fallbacks of `s` and `X`
      `-- SessionBase (base.py)        declares the state, one object per part; the effects
                                       on an order (end, retire, learn its venue id,
                                       resolve a request)

The registry and the request book are objects that own their maps; the other parts are the
facade's behaviour, grouped by concern (methods of the one session class), each over its own
state object, defined in ``parts.py`` and held by the session as one attribute:

=====================  =================  ==================================================
attribute              class (parts.py)   owns
=====================  =================  ==================================================
``session.resync``     ResyncTracker      the resync in flight (a :class:`ResyncState`:
                                          its queries, counts), the requests in flight at
                                          the last drop (resync.py)
``session.pacer``      StatusPacer        the session's own status queries: in flight (one
                                          per order), waiting, queued (resync.py)
``session.recovery``   FillRecovery       fills known missing (``wanted``), ends waiting
                                          for them (``held_ends``) (recovery.py)
``session.fallbacks``  RestFallbacks      the request kinds done over REST, the queries
                                          waiting for it, ``via_rest`` (recovery.py)
``session.counters``   SessionCounters    the counters ``stats()`` reports (every part)
=====================  =================  ==================================================

``parts.py`` imports no behaviour part, so no import circle runs through ``base.py``. The
facade keeps direct references to the registry's and the book's dicts (never replaced), so
the hot path pays no extra hop there.

One frame, e.g. a fill::

    receive(bytes, now)                               handlers.py
      -> wire.decode_server_frame(bytes)              wire/orders.py  (msgspec)
      -> _handlers[type(msg)](msg, now)               the one dispatch table
      -> _on_fill: _orders[_by_oid[oid]]              registry's maps (inline, fast path)
           else _order_for -> find / adopt / revive   tracking.py
      -> record updated, journal mark (_changed)      base.py
      -> OrderFilled appended to _events              -> events_received() -> caller
      -> order complete: _finish -> registry.retire   recent set; its requests forgotten
      -> fills missing: _want_fills                   recovery.py -> fills_wanted()

A command takes the other direction: ``send(cmd, now)`` -> commands.py (validate, track the
record, ``requests.new`` for a rid and deadline) -> ``wire.encode`` -> ``frames_to_send()``.

STOP_LIMIT triggers are not session state: the session keeps armed orders
(:meth:`OrdersSession.armed_stops`) and sends one when told (:meth:`OrdersSession.trigger_stop`);
:class:`axorders.client.stops.StopTriggers` decides when from market data.

See ``docs/ARCHITECTURE.md`` for the contract, the resync and the journal seam.
"""

from axorders.session.core import OrdersSession
from axorders.session.values import (
    CANCEL_RETRY_NS,
    FILL_WINDOW_MARGIN_NS,
    MAX_CANCEL_RETRIES,
    MAX_REQUEST_ID,
    NS,
    UNKNOWN_GRACE_NS,
    UNSUPPORTED_CODES,
    FillsWanted,
    RestCancelAll,
    RestStatusQuery,
    SessionStats,
)

__all__ = [
    "CANCEL_RETRY_NS",
    "FILL_WINDOW_MARGIN_NS",
    "MAX_CANCEL_RETRIES",
    "MAX_REQUEST_ID",
    "NS",
    "UNKNOWN_GRACE_NS",
    "UNSUPPORTED_CODES",
    "FillsWanted",
    "OrdersSession",
    "RestCancelAll",
    "RestStatusQuery",
    "SessionStats",
]
