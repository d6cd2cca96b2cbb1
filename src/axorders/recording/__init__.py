"""A flight recorder for the orders client: what went in and out of a session, on disk.

* :class:`Recorder` writes rotating zstd-compressed JSON Lines files (``*.jsonl.zst``),
  through a background thread and a recording process; recording costs the event loop one
  append per record.
* :func:`read_records` reads them back in time order (a cut-off file to its last whole line).
* :mod:`axorders.recording.views` prints a recording: its timeline, one order's story, the
  state of every order at a moment.

The format is described in ``docs/RECORDING.md`` (``zstdcat FILE | jq`` reads a file).
"""

from __future__ import annotations

from axorders.recording.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    decode_payload,
    decode_value,
    default_registry,
    encode_value,
)
from axorders.recording.reader import Record, Recording, read_records
from axorders.recording.writer import Recorder, RecorderStats

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Record",
    "Recorder",
    "RecorderStats",
    "Recording",
    "decode_payload",
    "decode_value",
    "default_registry",
    "encode_value",
    "read_records",
]
