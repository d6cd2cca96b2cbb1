"""What the recorder queues, and how it becomes JSON lines.

The event loop's thread queues records in the cheapest shape it can build (a tuple, never
encoded there); the writer, in the recording process or on the recorder's thread, turns
them into lines:

* ``(kind, ts, data)``: a frame (``in``, ``out``, ``md``), its bytes as received or sent;
* ``(EVENTS, origin, events)``: a batch of events (msgspec Structs, or mappings when the
  recording process does not know their class); each one's line is stamped with its
  ``ts_init``;
* ``(LINE, None, lines)``: lines already encoded (JSON, no last newline): how the rare
  records of the next shape reach the recording process;
* ``(kind, ts, payload, fields)``: any other record (:meth:`Recorder.record`).

:func:`encode_items` writes a batch of any of them as JSON Lines, msgspec encoding the
frequent shapes in C. The recording process takes a slice of a batch as one msgpack list of
the first three shapes (:func:`pack_slice`: one call of msgspec's encoder, frames' bytes
copied as they are) and :func:`encode_packed` decodes it, the events into their classes,
and writes the same lines: the trading process never escapes a frame's text into JSON nor
builds a line for anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Final, Union

import msgspec

from axorders.recording.format import (
    DEFAULT_PAYLOAD_FIELD,
    FRAME_KINDS,
    PAYLOAD_FIELDS,
    RESERVED,
    encode_bytes,
    fast_taggable,
    prepare,
    tagged_json,
)

__all__ = [
    "EVENTS",
    "LINE",
    "Item",
    "as_line",
    "encode_items",
    "encode_one",
    "encode_packed",
    "line_of",
    "pack_slice",
]

EVENTS: Final = 1
"""The first field of a batch of events."""
LINE: Final = 2
"""The first field of a line already encoded."""

Item = tuple[Any, ...]
"""A queued record, in one of the shapes of the module's docstring."""


class _FrameLine(msgspec.Struct, gc=False):
    """A frame's line (the common case: UTF-8 text, no extra field)."""

    ts: int
    kind: str
    data: str


class _EventLine(msgspec.Struct, gc=False, omit_defaults=True):
    """An event's line: the event is a tagged Struct (or its mapping), encoded with its tag."""

    ts: int
    kind: str
    event: Any
    origin: str | None = None


_SLICE: Final = 1024
"""Lines encoded in one call of the encoder."""


def _lines(items: Sequence[Item]) -> list[Any]:
    """The line objects of ``items``, in order."""
    out: list[Any] = []
    append = out.append
    for item in items:
        if len(item) == 4:
            append(line_of(*item))
            continue
        first, second, third = item
        if type(first) is str:  # a frame
            if type(third) is bytes:
                try:
                    append(_FrameLine(second, first, third.decode()))
                    continue
                except UnicodeDecodeError:
                    pass
            append(line_of(first, second, third, {}))
        elif first == EVENTS:
            for event in third:
                if isinstance(event, msgspec.Struct):
                    if not _tagged(type(event)):
                        append(line_of("event", event.ts_init, event, _origin(second)))  # type: ignore[attr-defined]
                        continue
                    ts = event.ts_init  # type: ignore[attr-defined]
                else:  # decoded from the recording process's batch: a mapping
                    ts = event.get("ts_init", 0) if isinstance(event, dict) else 0
                append(_EventLine(ts, "event", event, second))
        else:
            out.extend(map(msgspec.Raw, bytes(third).split(b"\n")))
    return out


def _origin(origin: str | None) -> dict[str, object]:
    return {} if origin is None else {"origin": origin}


def encode_items(encoder: msgspec.json.Encoder, items: Sequence[Item]) -> list[tuple[bytes, int]]:
    """``items`` as JSON lines, in pieces: ``(text, records)``, each of at most a slice of
    records (an event batch counts each of its events). An item that cannot be encoded
    becomes a line that says so (never its payload)."""
    pieces = []
    for start in range(0, len(items), _SLICE):
        part = items[start : start + _SLICE]
        try:
            lines = _lines(part)
            text = encoder.encode_lines(lines)
            count = len(lines)
        except Exception:
            chunks = [encode_one(encoder, item) for item in part]
            text = b"".join(line for chunk in chunks for line in chunk)
            count = sum(len(chunk) for chunk in chunks)
        pieces.append((text, count))
    return pieces


def encode_one(encoder: msgspec.json.Encoder, item: Item) -> list[bytes]:
    """The lines of one item, each ending in a newline, encoded one by one: a record that
    cannot be encoded is written as such (its kind, its time, the error's type)."""
    parts: list[Item]
    if len(item) == 4:
        parts = [item]
    elif type(item[0]) is str:
        parts = [(item[0], item[1], item[2], {})]
    elif item[0] == EVENTS:
        parts = [("event", getattr(e, "ts_init", 0), e, _origin(item[1])) for e in item[2]]
    else:
        parts = [item]
    out = []
    for part in parts:
        try:
            if len(part) == 3:
                out.append(bytes(part[2]) + b"\n")
            else:
                out.append(encoder.encode(line_of(*part)) + b"\n")
        except Exception as exc:
            # Never the payload in the file or a message: only what could not be encoded.
            kind, ts = (part[0], part[1]) if len(part) == 4 else ("?", 0)
            error = {
                "ts": ts if isinstance(ts, int) else 0,
                "kind": kind if isinstance(kind, str) else "?",
                "error": f"not recorded: {type(exc).__name__}",
            }
            out.append(encoder.encode(error) + b"\n")
    return out


def line_of(kind: str, ts: int, payload: object, fields: dict[str, object]) -> dict[str, Any]:
    """The line of any record, as a mapping for msgspec's JSON encoder."""
    obj: dict[str, Any]
    if kind in FRAME_KINDS:
        if type(payload) is bytes:
            try:
                data: object = payload.decode()
            except UnicodeDecodeError:
                data = encode_bytes(payload)
        elif type(payload) is str or payload is None:
            data = payload
        elif isinstance(payload, bytes | bytearray | memoryview):
            data = encode_bytes(payload)
        else:
            data = prepare(payload)
        obj = {"ts": ts, "kind": kind} if data is None else {"ts": ts, "kind": kind, "data": data}
    elif kind == "event":
        obj = {"ts": ts, "kind": kind}
        if payload is not None:
            # Its text (str(event)) is made when the recording is read. An event is encoded
            # by msgspec in one call (tagged_json), its JSON embedded as it is.
            obj["event"] = (
                msgspec.Raw(tagged_json(payload))
                if isinstance(payload, msgspec.Struct)
                else prepare(payload)
            )
    else:
        if kind == "header":  # the first line of a file only
            kind = "header?"
        obj = {"ts": ts, "kind": kind}
        if payload is not None:
            obj[PAYLOAD_FIELDS.get(kind, DEFAULT_PAYLOAD_FIELD)] = (
                msgspec.Raw(tagged_json(payload))
                if kind == "cmd" and fast_taggable(payload)
                else prepare(payload)
            )
    if fields:
        for key, value in fields.items():
            if key not in RESERVED and key not in obj:
                obj[key] = prepare(value)
    return obj


def pack_slice(
    encoder: msgspec.msgpack.Encoder, part: list[Item], buffer: bytearray, offset: int
) -> None:
    """Write a slice of a batch into ``buffer`` from ``offset`` on, as the recording process
    takes it (:func:`encode_packed`): one msgpack list of its items, in one call. Records of
    the general shape must have been made lines first (:func:`as_line`). An item msgpack
    cannot carry (a value of an unknown type) sends each item of the slice as its lines."""
    try:
        encoder.encode_into(part, buffer, offset)
    except Exception:
        json = msgspec.json.Encoder()
        encoder.encode_into([as_line(json, item) for item in part], buffer, offset)


def as_line(encoder: msgspec.json.Encoder, item: Item) -> Item:
    """``(LINE, None, lines)``: the item's line(s), encoded, without the last newline."""
    if len(item) == 4:
        try:
            return (LINE, None, encoder.encode(line_of(*item)))
        except Exception:
            pass
    return (LINE, None, b"".join(encode_one(encoder, item))[:-1])


@cache
def _tagged(kind: type) -> bool:
    """Whether ``kind`` is a tagged msgspec Struct (every event class is)."""
    return issubclass(kind, msgspec.Struct) and kind.__struct_config__.tag is not None


@cache
def _packed_decoder() -> msgspec.msgpack.Decoder[Any]:
    """A decoder of a packed slice whose events become instances of their classes (every
    event class of :mod:`axorders.events` is tagged with its name)."""
    from axorders import events as ev

    classes: list[type] = []
    stack: list[type] = [ev.Event]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    event: Any = Union.__getitem__(tuple(classes))
    item: Any = tuple[str | int, str | int | None, bytes | list[event]]
    return msgspec.msgpack.Decoder(list[item])


def encode_packed(
    encoder: msgspec.json.Encoder, data: bytes | memoryview
) -> list[tuple[bytes, int]]:
    """A slice packed by :func:`pack_slice` as JSON lines, in pieces like
    :func:`encode_items` (the same lines, byte for byte). An event of a class this process
    does not know is decoded as a mapping (its line is the same); a slice that cannot be
    read at all gives no line."""
    try:
        items = _packed_decoder().decode(data)
    except Exception:
        try:
            items = msgspec.msgpack.decode(data)
        except Exception:
            return []
    return encode_items(encoder, items)
