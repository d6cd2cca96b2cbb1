"""The recording file format: names, the header, the line kinds and the tagged encoding.

A recording is a folder of files named ``axorders-YYYYMMDDTHHMMSS.ffffffZ-NNNN.jsonl.zst``
(the UTC time the file was started, then its number in the process that wrote it), so that
names sort in time order. Each file is zstd-compressed JSON Lines: the first line is a header
(:func:`make_header`), every other line one record ``{"ts": <Unix ns>, "kind": ..., ...}``.
See ``docs/RECORDING.md`` for the whole format.

Values are written with a *tagged encoding* (:func:`encode_value`): a msgspec Struct or a
dataclass becomes ``{"type": <class name>, <field>: <value>...}``, an Enum its value, a Decimal
a string, bytes their UTF-8 text (or ``{"type": "bytes", "base64": ...}`` when they are not
UTF-8), tuples and lists lists. :func:`decode_value` turns such a value back into instances of
the classes of a registry (:func:`default_registry`).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any, Final

import msgspec

from axorders.exceptions import RecordingError

__all__ = [
    "FILE_PATTERN",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PAYLOAD_FIELDS",
    "SUFFIX",
    "decode_payload",
    "decode_value",
    "default_registry",
    "encode_value",
    "file_name",
    "is_secret_key",
    "make_header",
    "scrub_settings",
]

FORMAT_NAME: Final = "axorders-recording"
FORMAT_VERSION: Final = 1
SUFFIX: Final = ".jsonl.zst"
PREFIX: Final = "axorders-"
FILE_PATTERN: Final = re.compile(r"^axorders-\d{8}T\d{6}\.\d{6}Z-\d{4,}\.jsonl\.zst$")
"""The names of the files a recorder writes (retention never touches any other file)."""

PAYLOAD_FIELDS: Final[Mapping[str, str]] = {
    "in": "data",
    "out": "data",
    "md": "data",
    "cmd": "command",
    "event": "event",
    "drop": "reason",
    "rest": "args",
    "restore": "records",
}
"""The field a record's payload is written under, by kind (``payload`` for any other kind)."""

DEFAULT_PAYLOAD_FIELD: Final = "payload"
FRAME_KINDS: Final = frozenset({"in", "out", "md"})
RESERVED: Final = frozenset({"ts", "kind"})

_BYTES_TAG: Final = "bytes"

# ---------------------------------------------------------------------------------------------
# File names and the header.


def file_name(ts_ns: int, seq: int) -> str:
    """The name of a recording file started at ``ts_ns`` (Unix ns, UTC) with number ``seq``.

    >>> file_name(1_700_000_000_123_456_789, 3)
    'axorders-20231114T221320.123456Z-0003.jsonl.zst'
    """
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{PREFIX}{when:%Y%m%dT%H%M%S}.{ns // 1000:06d}Z-{seq:04d}{SUFFIX}"


_SECRET_KEY: Final = re.compile(
    r"token|secret|passw|authori[sz]|api_?key|credential|cookie|totp|private", re.IGNORECASE
)
_URL_USERINFO: Final = re.compile(r"(?<=//)[^/@\s]+@")


def is_secret_key(key: object) -> bool:
    """True for a settings key that may hold a credential (token, secret, password,
    authorization, API key...), compared case-insensitively."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def scrub_settings(value: Any) -> Any:
    """``value`` without the keys that may hold credentials, at any depth; the user and
    password of a URL (``http://user:password@host``) are replaced by ``***``."""
    if isinstance(value, Mapping):
        return {str(k): scrub_settings(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, list | tuple):
        return [scrub_settings(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return _URL_USERINFO.sub("***@", value)
    return value


def make_header(
    *,
    ts: int,
    settings: Mapping[str, Any],
    instruments: list[Any],
    process: str,
    seq: int,
    version: str,
) -> dict[str, Any]:
    """The first line of a recording file (credentials are removed from ``settings``)."""
    return {
        "kind": "header",
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "axorders": version,
        "ts": ts,
        "settings": scrub_settings(encode_value(dict(settings))),
        "instruments": encode_value(list(instruments)),
        "process": process,
        "seq": seq,
    }


# ---------------------------------------------------------------------------------------------
# Tagged encoding.


@cache
def _struct_fields(cls: type) -> tuple[str, ...]:
    return tuple(cls.__struct_fields__)  # type: ignore[attr-defined]


@cache
def _dataclass_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_"))


def encode_bytes(data: bytes | bytearray | memoryview) -> str | dict[str, str]:
    """Bytes as their UTF-8 text, or ``{"type": "bytes", "base64": ...}`` if not UTF-8."""
    raw = bytes(data)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"type": _BYTES_TAG, "base64": base64.b64encode(raw).decode("ascii")}


def encode_value(value: Any) -> Any:
    """The JSON-able tagged encoding of ``value`` (see the module's docstring).

    A value of any other type is written as its ``str()``.
    """
    return msgspec.to_builtins(prepare(value))


# What msgspec writes itself exactly as the tagged encoding wants: these pass through
# :func:`prepare` untouched (enum classes with str or int values join on first sight).
_PASS: set[type] = {str, int, float, bool, type(None), Decimal}
_PREPARERS: dict[type, Callable[[Any], Any]] = {}


_ENCODE: Final = msgspec.json.Encoder().encode


def tagged_json(value: Any) -> bytes:
    """A msgspec Struct or a dataclass as tagged JSON, encoded in one call of msgspec's
    encoder (its own fields untagged: they are rebuilt from the class's annotations). The
    recorder writes events and commands so: a tenth of the interpreter's time of
    :func:`prepare`, on a thread that shares the interpreter with trading."""
    body = _ENCODE(value)
    if body.startswith(b'{"type":'):  # a tagged Struct (every event): its tag is there
        return body
    name = type(value).__name__.encode()
    if body == b"{}":
        return b'{"type":"' + name + b'"}'
    return b'{"type":"' + name + b'",' + body[1:]


def fast_taggable(value: Any) -> bool:
    """Whether :func:`tagged_json` encodes ``value`` (a Struct or a dataclass instance)."""
    kind = type(value)
    return issubclass(kind, msgspec.Struct) or (
        dataclasses.is_dataclass(kind) and not isinstance(value, type)
    )


def prepare(value: Any) -> Any:
    """:func:`encode_value` for msgspec's JSON encoder: the same, except that Decimals and
    enum members are left for the encoder to write (as strings, as their values). The
    recorder's writer thread uses it: a type's encoding is looked up once, then cached."""
    kind = type(value)
    if kind in _PASS:
        return value
    preparer = _PREPARERS.get(kind)
    if preparer is None:
        preparer = _preparer(kind)
        if preparer is None:
            _PASS.add(kind)
            return value
        _PREPARERS[kind] = preparer
    return preparer(value)


def _preparer(kind: type) -> Callable[[Any], Any] | None:
    """How to prepare values of ``kind``; None: they pass through."""
    if issubclass(kind, enum.Enum):
        if all(type(m.value) in (str, int) for m in kind):
            return None
        return lambda v: prepare(v.value)
    if issubclass(kind, msgspec.Struct):
        return _object_preparer(kind.__name__, _struct_fields(kind))
    if dataclasses.is_dataclass(kind):
        return _object_preparer(kind.__name__, _dataclass_fields(kind))
    if issubclass(kind, list | tuple | set | frozenset):
        return lambda v: [prepare(x) for x in v]
    if issubclass(kind, Mapping):
        return lambda v: {_key(k): prepare(x) for k, x in v.items()}
    if issubclass(kind, bytes | bytearray | memoryview):
        return encode_bytes
    if issubclass(kind, str | int | float):  # subclasses of the plain types
        return lambda v: _PLAIN_OF[next(t for t in _PLAIN_OF if isinstance(v, t))](v)
    return str


_PLAIN_OF: dict[type, Callable[[Any], Any]] = {bool: bool, int: int, float: float, str: str}


def _object_preparer(name: str, fields: tuple[str, ...]) -> Callable[[Any], Any]:
    passing = _PASS

    def prepare_object(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": name}
        for field in fields:
            item = getattr(value, field)
            out[field] = item if type(item) in passing else prepare(item)
        return out

    return prepare_object


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    return key if isinstance(key, str) else str(key)


# ---------------------------------------------------------------------------------------------
# Decoding.


def default_registry() -> dict[str, type]:
    """The classes a recording of the orders client names, by class name.

    Every event of :mod:`axorders.events` (and :class:`~axorders.events.OrderSnapshot`), every
    command of :mod:`axorders.commands`, :class:`~axorders.state.OrderRecord`, the msgspec
    types of :mod:`axorders.wire.rest` (``FillInfo``...), the REST values of
    :mod:`axorders.session.values`, the status body of :mod:`axorders.wire.orders` and
    :class:`~axorders.model.Instrument`.
    """
    from axorders import commands, events, model, state
    from axorders.session import values
    from axorders.wire import orders as wire_orders
    from axorders.wire import rest

    registry: dict[str, type] = {}

    def add(cls: type) -> None:
        registry.setdefault(cls.__name__, cls)

    def walk(cls: type) -> None:
        sub: type
        for sub in cls.__subclasses__():
            add(sub)
            walk(sub)

    for obj in vars(events).values():
        if isinstance(obj, type) and issubclass(obj, events.Event) and obj is not events.Event:
            add(obj)
    walk(events.Event)
    add(events.OrderSnapshot)
    for obj in vars(commands).values():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            add(obj)
    add(state.OrderRecord)
    for obj in vars(rest).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, msgspec.Struct)
            and obj.__module__ == rest.__name__
        ):
            add(obj)
    for cls in (values.RestStatusQuery, values.RestCancelAll, values.FillsWanted):
        add(cls)
    # The REST answer to a status query is the WebSocket's status body.
    add(wire_orders.StatusBody)
    add(model.Instrument)
    return registry


def decode_value(obj: Any, registry: Mapping[str, type] | None = None) -> Any:
    """Turn a tagged-encoded value back into instances of the classes of ``registry``.

    A dict whose ``"type"`` names a class of the registry becomes an instance of it (converted
    by :func:`msgspec.convert`, field by field where a field's type is a union msgspec cannot
    convert to, such as ``Side | str``); ``{"type": "bytes", "base64": ...}`` becomes bytes;
    a dict naming an unknown class stays a dict (its values decoded). ``registry`` defaults to
    :func:`default_registry`.
    """
    if registry is None:
        registry = _default()
    return _decode(obj, registry)


@cache
def _default() -> dict[str, type]:
    return default_registry()


def _decode(obj: Any, registry: Mapping[str, type]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, registry) for v in obj]
    if not isinstance(obj, dict):
        return obj
    name = obj.get("type")
    if name == _BYTES_TAG and isinstance(obj.get("base64"), str) and len(obj) == 2:
        return base64.b64decode(obj["base64"])
    cls = registry.get(name) if isinstance(name, str) else None
    if cls is None:
        return {k: _decode(v, registry) for k, v in obj.items()}
    data = {k: v for k, v in obj.items() if k != "type"}
    return _build(cls, data, registry)


def _build(cls: type, data: dict[str, Any], registry: Mapping[str, type]) -> Any:
    try:
        return msgspec.convert(data, type=cls, strict=False)
    except (TypeError, msgspec.ValidationError):
        pass
    # Field by field: some annotations (``Side | str``, ``Decimal | int | float | str``) are
    # unions msgspec does not convert to; the first member that takes the value wins.
    hints = _hints(cls)
    kwargs = {k: _coerce(v, hints.get(k, Any), registry) for k, v in data.items()}
    if issubclass(cls, msgspec.Struct):
        known = set(_struct_fields(cls))
    else:
        known = set(_dataclass_fields(cls)) if dataclasses.is_dataclass(cls) else set(kwargs)
    try:
        return cls(**{k: v for k, v in kwargs.items() if k in known})
    except Exception as exc:
        raise RecordingError(f"cannot rebuild a {cls.__name__} from the recording: {exc}") from None


@cache
def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


def _coerce(value: Any, hint: Any, registry: Mapping[str, type]) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = typing.get_args(hint)
        if value is None and type(None) in members:
            return None
        if type(value) in members and not isinstance(value, str):
            return value  # an int for an int; a str only after the richer types
        for member in members:
            if member is str or member is type(None):
                continue
            try:
                return msgspec.convert(_decode(value, registry), type=member, strict=False)
            except (TypeError, msgspec.ValidationError):
                continue
        return _decode(value, registry)
    if hint is Any:
        return _decode(value, registry)
    try:
        return msgspec.convert(value, type=hint, strict=False)
    except (TypeError, msgspec.ValidationError):
        return _decode(value, registry)


# ---------------------------------------------------------------------------------------------
# A record's payload.


def decode_payload(fields: Mapping[str, Any], registry: Mapping[str, type] | None = None) -> Any:
    """The typed payload of one record (its ``fields``, as read back).

    ``event``: the event; ``cmd``: the command; ``restore``: the list of journal records;
    ``rest``: the answer (``args``); ``in``/``out``/``md``: the frame's text (bytes if it was
    not UTF-8); ``drop``: the reason; any other kind: its ``payload`` field, decoded (None when
    it has none).
    """
    kind = fields.get("kind")
    name = PAYLOAD_FIELDS.get(kind, DEFAULT_PAYLOAD_FIELD) if isinstance(kind, str) else ""
    return decode_value(fields.get(name), registry)
