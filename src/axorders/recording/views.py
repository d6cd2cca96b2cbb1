"""Offline views of a recording: they need the recorded lines only, no session.

* :func:`timeline`: one line per event (as it printed when it happened), with connects, drops
  and process starts; verbose, the venue frames that led to each event under it.
* :func:`follow_order`: every frame, command and event concerning one order.
* :func:`states_at` (:func:`order_states`): every order's state at a moment.

Each reads the records once (``follow_order`` twice: pass it a
:class:`~axorders.recording.reader.Recording`, or it keeps the records in memory), in time
proportional to the recording's size.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from axorders.model import Side, cid_for
from axorders.recording.format import decode_value, default_registry
from axorders.recording.reader import Record

__all__ = [
    "OrderState",
    "follow_order",
    "format_ts",
    "order_states",
    "parse_time",
    "states_at",
    "timeline",
]

_NS: Final = 1_000_000_000
_MAX_HELD_FRAMES: Final = 1000  # verbose timeline: frames kept between two events
_ID_KEYS: Final = ("client_order_id", "venue_order_id", "old_venue_order_id")


def format_ts(ts: int) -> str:
    """A Unix ns time as UTC ISO-8601 with microseconds.

    >>> format_ts(1_700_000_000_123_456_789)
    '2023-11-14T22:13:20.123456Z'
    """
    seconds, ns = divmod(ts, _NS)
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ns // 1000:06d}Z"


def parse_time(text: str) -> int:
    """A time given on the command line, as Unix ns.

    ISO-8601 (``2025-06-01T12:00:00.5``, UTC when no zone is given; ``Z`` or an offset), or a
    Unix time: in seconds (``1748779200`` or ``1748779200.5``) or, with 16 digits or more, in
    nanoseconds.

    Raises:
        ValueError: none of these.
    """
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return int(value) if len(value) >= 16 else int(value) * _NS
    if re.fullmatch(r"\d+\.\d+", value):
        whole, frac = value.split(".")
        return int(whole) * _NS + int((frac + "0" * 9)[:9])
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give ISO-8601 (2025-06-01T12:00:00, UTC unless a zone"
            " is given) or Unix seconds or nanoseconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _data(fields: dict[str, Any]) -> str:
    data = fields.get("data")
    if isinstance(data, str):
        return _printable(data)
    if isinstance(data, dict) and data.get("type") == "bytes":
        return f"<{len(data.get('base64', '')) * 3 // 4} bytes, not UTF-8>"
    return _printable(str(data))


_REGISTRY: dict[str, type] = {}


def _event_text(fields: dict[str, Any]) -> str:
    """``str(event)`` of a recorded event (its ``text`` when the line has one)."""
    text = fields.get("text")
    if isinstance(text, str):
        return _printable(text)
    event = fields.get("event")
    if isinstance(event, dict):
        if not _REGISTRY:
            _REGISTRY.update(default_registry())
        try:
            return _printable(str(decode_value(event, _REGISTRY)))
        except Exception:  # a type this version does not know: its name
            return str(event.get("type", "event"))
    return "event"


def _describe(value: Any) -> str:
    """A tagged value (a command...) as ``Type key=value ...``."""
    if not isinstance(value, dict):
        return _printable(str(value))
    parts = [str(value.get("type", ""))] if "type" in value else []
    for key, item in value.items():
        if key == "type" or item is None or item == "" or item is False:
            continue
        parts.append(f"{key}={_printable(str(item))}")
    return " ".join(parts)


def _other(record: Record) -> str | None:
    """The short line of a record that is neither an event nor a frame (None: not shown)."""
    kind = record.kind
    fields = record.fields
    if kind == "connect":
        return "-- connected"
    if kind == "drop":
        reason = fields.get("reason")
        return f"-- connection dropped: {_printable(str(reason))}" if reason else "-- dropped"
    return None


def timeline(records: Iterable[Record], verbose: bool = False) -> Iterator[str]:
    """One line per recorded event (``str(event)`` as it was recorded), after its UTC time.

    Connects, drops and process starts are short lines (``--``). With ``verbose``, the venue
    frames (``in``) that came since the previous event are listed under each event, indented
    (at most the last 1000 of them, with the number left out).
    """
    process = None
    held: deque[Record] = deque(maxlen=_MAX_HELD_FRAMES)
    skipped = 0
    for record in records:
        kind = record.kind
        if kind == "event":
            yield f"{format_ts(record.ts)} {_event_text(record.fields)}"
            if verbose:
                if skipped:
                    yield f"    ... {skipped} earlier frames"
                for frame in held:
                    yield f"    < {format_ts(frame.ts)} {_data(frame.fields)}"
                held.clear()
                skipped = 0
        elif kind == "in":
            if verbose:
                if len(held) == _MAX_HELD_FRAMES:
                    skipped += 1
                held.append(record)
        elif kind == "header":
            fields = record.fields
            if fields.get("process") != process:
                process = fields.get("process")
                yield (
                    f"{format_ts(record.ts)} -- process {process} started"
                    f" (axorders {fields.get('axorders')}, {record.file})"
                )
        else:
            line = _other(record)
            if line is not None:
                yield f"{format_ts(record.ts)} {line}"


# ---------------------------------------------------------------------------------------------
# One order.


class _Ids:
    """Union-find over order ids (client ids, venue ids, ``cid:<n>``)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent
        root = key
        while parent.get(root, root) != root:
            root = parent[root]
        while key != root:  # path compression
            up = parent[key]
            parent[key] = root
            key = up
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb

    def members(self, key: str) -> set[str]:
        root = self.find(key)
        found = {key}
        for item in list(self.parent):
            if self.find(item) == root:
                found.add(item)
        return found


def _link(value: Any, ids: _Ids) -> None:
    """Learn which ids name the same order from a recorded event, command or record."""
    if isinstance(value, list):
        for item in value:
            _link(item, ids)
        return
    if not isinstance(value, dict):
        return
    coid = value.get("client_order_id")
    vid = value.get("venue_order_id")
    if isinstance(coid, str) and isinstance(vid, str):
        ids.union(coid, vid)
    anchor = coid if isinstance(coid, str) else vid if isinstance(vid, str) else None
    if anchor is not None:
        old = value.get("old_venue_order_id")
        if isinstance(old, str):
            ids.union(anchor, old)
        prior = value.get("prior_venue_order_ids")
        if isinstance(prior, list):
            for item in prior:
                if isinstance(item, str):
                    ids.union(anchor, item)
        cid = value.get("cid")
        if isinstance(cid, int) and not isinstance(cid, bool):
            ids.union(anchor, f"cid:{cid}")
    for item in value.values():
        if isinstance(item, dict | list):
            _link(item, ids)


def _mentions(value: Any, names: set[str], cids: set[int]) -> bool:
    if isinstance(value, str):
        return value in names
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cid" and isinstance(item, int | str):
                try:
                    if int(item) in cids:
                        return True
                except ValueError:
                    pass
            elif _mentions(item, names, cids):
                return True
        return False
    if isinstance(value, list):
        return any(_mentions(item, names, cids) for item in value)
    return False


def _frame_mentions(text: str, names: set[str], cids: set[int], needles: list[str]) -> bool:
    if not any(needle in text for needle in needles):
        return False
    try:
        obj = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return any(name in text for name in names)
    return _mentions(obj, names, cids)


def follow_order(records: Iterable[Record], order_id: str) -> Iterator[str]:
    """Every frame (``>`` out, ``<`` in), command and event concerning one order.

    ``order_id`` is a client order id or a venue order id. The ids that name the same order
    (its client order id, its venue ids across replaces, its ``cid``) are learned from the
    recorded events, commands and journal records in a first pass; frames match by a venue
    id (``oid``), the ``cid``, or the client order id anywhere in their values. Pass a
    :class:`~axorders.recording.reader.Recording` (read twice) or a list; an iterator is
    kept in memory.
    """
    if iter(records) is records:
        records = list(records)
    ids = _Ids()
    for record in records:
        kind = record.kind
        if kind == "event":
            _link(record.fields.get("event"), ids)
        elif kind in ("cmd", "restore"):
            _link(record.fields.get(_PAYLOAD[kind]), ids)
    names = {name for name in ids.members(order_id) if not name.startswith("cid:")}
    cids = {int(name[4:]) for name in ids.members(order_id) if name.startswith("cid:")}
    for name in names:
        if name.startswith("CID-") and name[4:].isdigit():
            cids.add(int(name[4:]))
        else:
            cids.add(cid_for(name))
    needles = sorted(names | {str(cid) for cid in cids})
    for record in records:
        kind = record.kind
        fields = record.fields
        if kind in ("in", "out"):
            data = fields.get("data")
            if isinstance(data, str) and _frame_mentions(data, names, cids, needles):
                arrow = ">" if kind == "out" else "<"
                yield f"{format_ts(record.ts)} {arrow} {_printable(data)}"
        elif kind == "event":
            if _mentions(fields.get("event"), names, cids):
                yield f"{format_ts(record.ts)} {_event_text(fields)}"
        elif kind == "cmd":
            command = fields.get("command")
            if _mentions(command, names, cids):
                yield f"{format_ts(record.ts)} cmd {_describe(command)}"
        elif kind == "header":
            yield f"{format_ts(record.ts)} -- file {record.file}"
        else:
            line = _other(record)
            if line is not None:
                yield f"{format_ts(record.ts)} {line}"


_PAYLOAD: Final = {"cmd": "command", "restore": "records"}


# ---------------------------------------------------------------------------------------------
# Every order's state at a moment.


@dataclass(slots=True)
class OrderState:
    """One order as the recorded events left it."""

    client_order_id: str
    venue_order_id: str | None = None
    symbol: str = ""
    side: str = ""
    quantity: int | None = None
    price: str | None = None
    filled: int = 0
    status: str = "PENDING"
    last_event: str = ""
    ts: int = 0  # time of the latest change


_END_STATUS: Final = {
    "OrderCanceled": "CANCELED",
    "OrderRejected": "REJECTED",
}


def _side(value: Any) -> str:
    try:
        return Side(value).name
    except ValueError:
        return str(value) if value is not None else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def order_states(records: Iterable[Record], at_ns: int) -> list[OrderState]:
    """Every order's state at ``at_ns``, folded from the records up to that time (commands,
    journal records restored at start-up, events), ordered by client order id."""
    orders: dict[str, OrderState] = {}
    by_venue: dict[str, str] = {}

    def get(coid: Any, vid: Any) -> OrderState | None:
        key = coid if isinstance(coid, str) else by_venue.get(vid) if isinstance(vid, str) else None
        if key is None:
            if not isinstance(vid, str):
                return None
            key = vid
        state = orders.get(key)
        if state is None:
            state = orders[key] = OrderState(client_order_id=key)
        if isinstance(vid, str):
            state.venue_order_id = vid
            by_venue[vid] = key
        return state

    def snapshot(order: dict[str, Any], name: str, ts: int) -> None:
        state = get(order.get("client_order_id"), order.get("venue_order_id"))
        if state is None:
            return
        _fill_common(state, order)
        filled = _int(order.get("filled_qty"))
        if filled is not None:
            state.filled = filled
        if isinstance(order.get("status"), str):
            state.status = order["status"]
        state.last_event = name
        state.ts = ts

    for record in records:
        if record.ts > at_ns:
            continue
        kind = record.kind
        fields = record.fields
        if kind == "restore":
            for item in fields.get("records") or ():
                if isinstance(item, dict):
                    snapshot(item, "restored", record.ts)
        elif kind == "cmd":
            command = fields.get("command")
            if isinstance(command, dict) and command.get("type") == "PlaceOrder":
                coid = command.get("client_order_id")
                if isinstance(coid, str) and coid not in orders:
                    state = get(coid, None)
                    assert state is not None
                    _fill_common(state, command)
                    state.status = (
                        "ARMED" if command.get("order_type") == "STOP_LIMIT" else ("PENDING")
                    )
                    state.last_event = "PlaceOrder"
                    state.ts = record.ts
        elif kind == "event":
            event = fields.get("event")
            if isinstance(event, dict):
                _fold(event, record.ts, get, snapshot)
    return [orders[key] for key in sorted(orders)]


def _fill_common(state: OrderState, obj: dict[str, Any]) -> None:
    if isinstance(obj.get("symbol"), str):
        state.symbol = obj["symbol"]
    if "side" in obj:
        state.side = _side(obj["side"])
    quantity = _int(obj.get("quantity"))
    if quantity is not None:
        state.quantity = quantity
    price = obj.get("price")
    if isinstance(price, str | int | float) and not isinstance(price, bool):
        state.price = str(price)


def _fold(event: dict[str, Any], ts: int, get: Any, snapshot: Any) -> None:
    name = event.get("type")
    if name in ("LoginSnapshot", "OpenOrdersReceived"):
        for order in event.get("orders") or ():
            if isinstance(order, dict) and isinstance(order.get("client_order_id"), str):
                snapshot(order, name, ts)
        return
    if name == "ExternalOrderDiscovered":
        order = event.get("order")
        if isinstance(order, dict):
            if not isinstance(order.get("client_order_id"), str):
                order = {**order, "client_order_id": order.get("venue_order_id")}
            snapshot(order, name, ts)
        return
    if "client_order_id" not in event and "venue_order_id" not in event:
        return
    if name in ("CancelRejected", "ReplaceRejected", "RequestResolved", "OrderTriggered"):
        # They name an order without changing what it is (a triggered stop is being sent).
        state = get(event.get("client_order_id"), event.get("venue_order_id"))
        if state is not None:
            if name == "OrderTriggered":
                state.status = "PENDING"
            if name != "RequestResolved":
                state.last_event = name
                state.ts = ts
        return
    state = get(event.get("client_order_id"), event.get("venue_order_id"))
    if state is None:
        return
    state.last_event = str(name)
    state.ts = ts
    if isinstance(event.get("symbol"), str):
        state.symbol = event["symbol"]
    filled = _int(event.get("filled_qty"))
    if name == "OrderAccepted":
        _fill_common(state, event)
        state.status = "PARTIALLY_FILLED" if state.filled else "ACCEPTED"
    elif name == "OrderFilled":
        if "side" in event:
            state.side = _side(event["side"])
        quantity = _int(event.get("quantity"))
        if quantity is not None:
            state.quantity = quantity
        if filled is not None:
            state.filled = filled
        state.status = "FILLED" if event.get("is_final") else "PARTIALLY_FILLED"
    elif name in _END_STATUS:
        state.status = _END_STATUS[name]
    elif name == "OrderExpired":
        state.status = "DONE_FOR_DAY" if event.get("done_for_day") else "EXPIRED"
    elif name == "OrderReplaced":
        _fill_common(state, event)
        if filled is not None:
            state.filled = filled
    elif name == "OrderStateCorrected":
        if isinstance(event.get("new_state"), str):
            state.status = event["new_state"]
    elif name == "OrderStatusReport" and isinstance(event.get("status"), str):
        state.status = event["status"]
    if filled is not None and name not in ("OrderFilled",):
        state.filled = filled


def states_at(records: Iterable[Record], at_ns: int) -> Iterator[str]:
    """Every order's state at ``at_ns`` (see :func:`order_states`), one line each after a
    title line."""
    states = order_states(records, at_ns)
    yield f"orders at {format_ts(at_ns)}: {len(states)}"
    for state in states:
        quantity = "?" if state.quantity is None else str(state.quantity)
        parts = [
            state.client_order_id,
            f"venue_id={state.venue_order_id or '-'}",
            f"symbol={state.symbol or '?'}",
            f"side={state.side or '?'}",
            f"quantity={quantity}",
            f"filled={state.filled}",
        ]
        if state.price is not None:
            parts.append(f"price={state.price}")
        parts.append(f"status={state.status}")
        parts.append(f"last={state.last_event} at {format_ts(state.ts)}")
        yield " ".join(_printable(part) for part in parts)
