"""Fuzz the wire decoders with damaged copies of the project's fixture frames.

``python -m benchmarks.fuzz_wire --n 100000 [--seed 1]`` prints the outcome counts and the
rate; :func:`run` returns the counts.

Each of the ``n`` rounds takes one frame from ``tests/fixtures`` (pretty-printed as stored, or
compact as the venue writes it), damages it with one to three mutations and feeds the result to
:func:`~axorders.wire.orders.decode_server_frame`,
:func:`~axorders.wire.orders.decode_client_frame` and
:func:`~axorders.wire.md.decode_md_server_frame`. Mutations: byte flips, truncation, inserted
bytes (invalid UTF-8 among them), swapped or renamed keys, swapped values, type changes, huge
numbers, NaN and infinity strings, deep nesting, dropped keys, and a leading space (which sends
an event down the generic decoding path).

Outcomes per decoder: ``decoded`` (a known message), ``unknown`` (an ``UnknownFrame``, a
``BadRequest`` of valid JSON, or ``None`` from the market-data decoder) and ``malformed``
(``RemoteProtocolError``, or a ``BadRequest`` for invalid JSON). Any other exception counts as
``unexpected``; it must stay 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from axorders.exceptions import RemoteProtocolError
from axorders.wire.md import decode_md_server_frame
from axorders.wire.orders import (
    BadRequest,
    UnknownFrame,
    decode_client_frame,
    decode_server_frame,
)

__all__ = ["load_seeds", "mutate", "run"]

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

_KEYS = [
    "t", "rid", "res", "err", "request_id", "result", "error", "o", "ro", "no", "noid", "oid",
    "cid", "p", "q", "xq", "rq", "d", "s", "tif", "po", "rb", "r", "txt", "xr", "xs", "ts", "tn",
    "eid", "li", "cod", "orders", "status", "cxl_rx", "code", "msg", "type", "b", "a", "st",
]  # fmt: skip
_WEIRD_STRINGS = [
    "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "-0", "1e999999999", "1E-999999999",
    "0x10", "1_000", " 1.5", "", "\u0000", "\ud7ff\uffff", "B", "S", "h", "pu", "n", "r", "e",
]  # fmt: skip
_DEEP = "\u0000deep\u0000"
_DEEP_JSON = json.dumps(_DEEP)
_HUGE = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, -(10**30), 10**400]


def load_seeds(folder: Path = FIXTURES) -> list[bytes]:
    """Every fixture, as stored and in the venue's compact form."""
    seeds: list[bytes] = []
    for path in sorted(folder.glob("*.json")):
        data = path.read_bytes()
        seeds.append(data)
        seeds.append(json.dumps(json.loads(data), separators=(",", ":")).encode())
    if not seeds:
        raise SystemExit(f"no fixtures under {folder}")
    return seeds


# ---------------------------------------------------------------------------------------------
# Mutations on bytes


def _flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= rng.randint(1, 255)
    return bytes(out)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _insert(rng: random.Random, data: bytes) -> bytes:
    junk = rng.choice(
        [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b",", b"}", b"]", b'"', b"{", b"NaN", b"-"]
    )
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk + data[at:]


def _leading_space(rng: random.Random, data: bytes) -> bytes:
    return rng.choice([b" ", b"\n", b"\t"]) + data


def _duplicate_key(rng: random.Random, data: bytes) -> bytes:
    # A key written twice: valid JSON, the last value wins.
    if not data.startswith(b"{") or len(data) < 3:
        return data
    key = rng.choice(_KEYS).encode()
    value = rng.choice([b"1", b'"x"', b"null", b"[]", b"{}"])
    return b'{"' + key + b'":' + value + b"," + data[1:]


# ---------------------------------------------------------------------------------------------
# Mutations on the parsed JSON


def _containers(obj: Any) -> list[Any]:
    found: list[Any] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def _slots(obj: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair."""
    slots: list[tuple[Any, Any]] = []
    for box in _containers(obj):
        keys = list(box) if isinstance(box, dict) else range(len(box))
        slots.extend((box, k) for k in keys)
    return slots


def _other_type(rng: random.Random, value: Any) -> Any:
    choices: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}, [value], {"v": value}]
    if isinstance(value, str):
        choices += [len(value), value.encode("utf-8", "replace").hex()]
    if isinstance(value, int | float) and not isinstance(value, bool):
        choices += [str(value), float(value) if abs(value) < 1e300 else 0.0]
    return rng.choice(choices)


def _structural(rng: random.Random, obj: Any) -> Any:
    slots = _slots(obj)
    kind = rng.choice(
        ["key_swap", "key_rename", "value_swap", "type", "huge", "nan", "drop", "deep"]
    )
    if not slots:
        return rng.choice([_other_type(rng, obj), rng.choice(_HUGE), {"t": obj}])
    box, key = rng.choice(slots)
    if kind == "key_swap":
        dicts = [c for c in _containers(obj) if isinstance(c, dict) and len(c) >= 2]
        if dicts:
            box = rng.choice(dicts)
            a, b = rng.sample(list(box), 2)
            box[a], box[b] = box[b], box[a]
    elif kind == "key_rename" and isinstance(box, dict):
        box[rng.choice(_KEYS)] = box.pop(key)
    elif kind == "value_swap":
        box2, key2 = rng.choice(slots)
        box[key], box2[key2] = box2[key2], box[key]
    elif kind == "type":
        box[key] = _other_type(rng, box[key])
    elif kind == "huge":
        box[key] = rng.choice([*_HUGE, float("1e308"), -1e-320])
    elif kind == "nan":
        box[key] = rng.choice([*_WEIRD_STRINGS, float("nan"), float("inf")])
    elif kind == "drop" and isinstance(box, dict):
        del box[key]
    elif kind == "deep":
        box[key] = _DEEP  # replaced in the text, deeper than json.dumps could write
    return obj


def _reparse(rng: random.Random, data: bytes) -> bytes:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return _flip(rng, data)
    obj = _structural(rng, obj)
    compact = rng.random() < 0.7
    text = json.dumps(obj, separators=(",", ":") if compact else None)  # NaN stays bare: invalid
    if _DEEP_JSON in text:
        depth = rng.choice([2, 10, 100, 1000, 5000])
        text = text.replace(_DEEP_JSON, "[" * depth + "0" + "]" * depth)
    return text.encode("utf-8", "surrogatepass")


_BYTE_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip,
    _truncate,
    _insert,
    _leading_space,
    _duplicate_key,
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three mutations; about two in three act on the parsed JSON."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        if rng.random() < 0.65:
            data = _reparse(rng, data)
        else:
            data = rng.choice(_BYTE_MUTATIONS)(rng, data)
    return data


# ---------------------------------------------------------------------------------------------
# The run


def _server(data: bytes) -> str:
    try:
        message = decode_server_frame(data)
    except RemoteProtocolError:
        return "malformed"
    return "unknown" if isinstance(message, UnknownFrame) else "decoded"


def _client(data: bytes) -> str:
    request = decode_client_frame(data)
    if isinstance(request, BadRequest):
        malformed = request.message.startswith(("malformed JSON", "unreadable"))
        return "malformed" if malformed else "unknown"
    return "decoded"


def _md(data: bytes) -> str:
    try:
        message = decode_md_server_frame(data)
    except RemoteProtocolError:
        return "malformed"
    return "unknown" if message is None else "decoded"


_DECODERS: dict[str, Callable[[bytes], str]] = {"server": _server, "client": _client, "md": _md}


def run(
    n: int, seed: int, *, failures: list[tuple[str, bytes, str]] | None = None
) -> dict[str, int]:
    """Feed ``n`` mutated frames to every decoder.

    Returns counts: ``frames``, ``<decoder>_decoded`` / ``_unknown`` / ``_malformed`` for the
    decoders ``server``, ``client`` and ``md``, ``unexpected`` (exceptions other than
    RemoteProtocolError; must be 0) and ``elapsed_ms``. When ``failures`` is given, each
    unexpected exception is appended to it as ``(decoder, frame, repr(exception))``.
    """
    rng = random.Random(seed)
    seeds = load_seeds()
    counts = {f"{name}_{outcome}": 0 for name in _DECODERS for outcome in
              ("decoded", "unknown", "malformed")}  # fmt: skip
    counts["unexpected"] = 0
    started = time.perf_counter()
    for _ in range(n):
        frame = mutate(rng, rng.choice(seeds))
        for name, decode in _DECODERS.items():
            try:
                outcome = decode(frame)
            except Exception as exc:  # the point of the exercise: nothing may escape
                counts["unexpected"] += 1
                if failures is not None:
                    failures.append((name, frame, repr(exc)))
                continue
            counts[f"{name}_{outcome}"] += 1
    counts["frames"] = n
    counts["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="mutated frames (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    failures: list[tuple[str, bytes, str]] = []
    counts = run(args.n, args.seed, failures=failures)
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"{key:<{width}}  {value:>10}")
    seconds = counts["elapsed_ms"] / 1000 or 1e-9
    print(f"{'rate':<{width}}  {args.n / seconds:>10.0f} frames/s (3 decoders each)")
    for name, frame, error in failures[:10]:
        print(f"UNEXPECTED in {name}: {error} for {frame[:200]!r}")
    return 1 if counts["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main())
