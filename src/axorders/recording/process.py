"""The recording process: encodes, compresses and writes what the recorder sends it.

A :class:`~axorders.recording.Recorder` starts it (``python -m axorders.recording.process``)
so that escaping the frames' text into JSON, compressing the lines and writing the files
cost the trading process's interpreter nothing: its recorder thread encodes the events'
lines, packs them with the frames (one msgpack call a slice) and writes that to this
process's standard input.

The link is a stream of messages, each a 4-byte big-endian length and a body. In: first
the :class:`~axorders.recording.files.FileSettings` (msgpack), then ``b`` and a slice of a
batch (see :func:`~axorders.recording.lines.encode_packed`), ``f`` and a number (say when
everything before is written), or ``c`` (close). Out, once ready and after each slice,
flush and close: a :class:`Status` (msgpack).

It ends when its input ends (the recorder closed, or its process died, even by ``kill -9``):
what it was sent is written and the file properly ended first. SIGINT and SIGTERM are
ignored: a Ctrl-C in a terminal reaches the whole process group, and the recorder's own
close writes what is buffered before this process ends.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import struct
import sys
from collections.abc import Callable
from typing import IO, Final

import msgspec

from axorders.recording.files import FileSettings, RecordingFiles
from axorders.recording.lines import encode_packed

__all__ = ["Status", "main", "message_head", "read_message", "write_message"]

_LENGTH: Final = struct.Struct(">I")
_NICE: Final = 5


class Status(msgspec.Struct, array_like=True):
    """What the recording process reports: its files' counters, the batches it took (each
    written, or its records counted as failed), the last flush it finished (``ack``), the
    warnings since the last status and whether it is done."""

    written: int
    failed: int
    bytes: int
    files: int
    path: str | None
    batches: int
    ack: int
    warnings: list[tuple[str, str]]
    done: bool = False


def read_message(stream: IO[bytes]) -> bytes | None:
    """One message's body; None at the end of the stream (or a cut-off message)."""
    head = _read_exactly(stream, 4)
    if head is None:
        return None
    return _read_exactly(stream, _LENGTH.unpack(head)[0])


def write_message(stream: IO[bytes], body: bytes) -> None:
    """Write one message (its length, then its body)."""
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def message_head(size: int, kind: bytes) -> bytes:
    """The head of a message of ``size`` bytes (its kind's byte included): its length, then
    ``kind``."""
    return _LENGTH.pack(size) + kind


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) < size:
        if not data:
            return None if size else b""
        parts = [data]
        got = len(data)
        while got < size:
            more = stream.read(size - got)
            if not more:
                return None
            parts.append(more)
            got += len(more)
        return b"".join(parts)
    return data


def main() -> None:
    """Run the recording process on its standard input and output."""
    gc.disable()  # nothing here makes cycles; decoding makes many objects
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer, _lower_priority)


def _lower_priority() -> None:
    """Trading first: once started (at full speed, so that a trading process killed early
    loses nothing), this process takes the time trading leaves."""
    with contextlib.suppress(OSError, AttributeError):  # not everywhere (nor allowed)
        os.nice(_NICE)


def serve(
    inbox: IO[bytes], outbox: IO[bytes], ready: Callable[[], None] = lambda: None
) -> None:
    """Take messages from ``inbox`` until it ends or says close; report to ``outbox``.
    ``ready`` is called once the first status (ready) is out."""
    first = read_message(inbox)
    if first is None:
        return
    settings = msgspec.msgpack.decode(first, type=FileSettings)
    warnings: list[tuple[str, str]] = []
    files = RecordingFiles(settings, lambda kind, message: warnings.append((kind, message)))
    encoder = msgspec.json.Encoder()
    status = msgspec.msgpack.Encoder()
    batches = ack = 0

    def report(done: bool = False) -> None:
        path = files.path
        body = Status(
            files.written,
            files.failed,
            files.bytes,
            files.files,
            None if path is None else str(path),
            batches,
            ack,
            list(warnings),
            done,
        )
        warnings.clear()
        # Nobody reads any more: the files go on.
        with contextlib.suppress(OSError, ValueError):
            write_message(outbox, status.encode(body))

    report()  # ready
    ready()
    while True:
        body = read_message(inbox)
        if not body:
            break
        op, data = body[:1], memoryview(body)[1:]
        if op == b"b":
            files.write(encode_packed(encoder, data))
            batches += 1
            report()
        elif op == b"f":
            ack = msgspec.msgpack.decode(data)
            report()
        elif op == b"c":
            break
    files.close()
    report(done=True)


if __name__ == "__main__":
    main()
