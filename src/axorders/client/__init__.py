"""The orders client: :class:`OrdersClient` and the parts it is built from.

Each part is an object that owns its state and offers the others a narrow interface; the
facade builds them, wires them with callbacks, runs the pump and holds the public methods::

    OrdersClient (core.py)        facade: settings, the public methods (arguments -> commands),
      |                           the pump (session output -> user code, journal, socket),
      |                           the journaled send of a command, close()
      |-- SessionGate (gate.py)   the one door into the session and its stop triggers: every
      |                           input (frames, commands, ticks, connects and drops, REST
      |                           answers, the journal's records, prices) passes here with its
      |                           `now`, to the recorder first when one is attached
      |-- Connection (connection.py)  the socket: one attempt at a time, the reconnect loop and
      |      |                        its backoff, reading (one batch per socket read), pings,
      |      |                        the watchdog, pausing reads, the drop count
      |      `-- Listener (listener.py)  picows' callbacks; the fragments of one message
      |-- EventHub (hub.py)       the readers of events(), the backlog, backpressure; the
      |                           client's own handlers and on_event, in order
      |-- Waiters (waiters.py)    futures of requests and queries, watches of orders, the
      |                           typed errors of a wait that ends without an answer
      |-- JournalWriter (journal.py)  the store, records not yet committed, the failure
      |                               streak and its retry backoff, JournalWarning events
      |-- RestRecovery (recovery.py)  the REST tasks: missed fills, status and cancel-all
      |                               fallbacks
      |-- MarketWatch (market.py)  the market-data feed (marketdata.py) of STOP_LIMIT triggers
      |                            (stops.py), and the prices seen while disconnected
      |-- Submitter (submitting.py)  places: MARKET priced from the venue's preview,
      |                              STOP_LIMIT armed and watched
      |-- AwaitingOrders (awaiting.py)  place/cancel/replace/cancel-all/queries that wait
      `-- Ticker (ticker.py)       one timer: deadlines, the pump, pings and the watchdog

One frame from the venue, e.g. a fill::

    picows -> Listener.on_ws_frame                      listener.py
      -> Connection.on_frame (time of the read, fragments)  connection.py
      -> SessionGate.receive(data, now)                 gate.py (recorded, if recording)
      -> OrdersSession.receive -> OrderFilled queued    axorders.session
    after the socket read: Connection.end_batch -> OrdersClient._on_read -> _pump:
      -> EventHub.publish(events)                       hub.py: handlers, on_event, watches
      -> JournalWriter.write(changed records)           journal.py
      -> Connection.send(frames), if journaled          connection.py
      -> EventHub.flush_now: every reader's queue       hub.py (one wake-up per reader)

A command goes the other way: ``place_order`` -> PlaceOrder -> Submitter -> the journaled send
(core.py) -> SessionGate.send -> the session's frame -> journal -> Connection.send.
"""

from axorders.client.core import OrdersClient
from axorders.client.hub import EventHub, EventStream

__all__ = ["EventHub", "EventStream", "OrdersClient"]
