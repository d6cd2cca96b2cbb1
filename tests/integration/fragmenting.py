"""Make the simulator split every message it writes directly into fragments (RFC 6455 §5.4).

``fragment_writes(monkeypatch, pieces=3)`` replaces the simulator's raw frame writer: each
message becomes a TEXT frame with FIN = 0, then CONTINUATION frames, the last with FIN = 1
(server frames are unmasked: first byte = FIN << 7 | opcode). A ping is put between two
fragments, as a venue may do. Returns the list of messages split so far.
"""

from __future__ import annotations

import struct

import pytest

import axorders.sim.sockets as sockets_module

TEXT, CONTINUATION, PING = 0x1, 0x0, 0x9


def frame(opcode: int, fin: bool, payload: bytes) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def fragments(payload: bytes, pieces: int) -> bytes:
    """``payload`` as ``pieces`` frames (some may be empty), a ping after the first."""
    step = max(1, len(payload) // pieces)
    cuts = [min(len(payload), i * step) for i in range(pieces)] + [len(payload)]
    out = []
    for i in range(pieces):
        part = payload[cuts[i] : cuts[i + 1]]
        out.append(frame(TEXT if i == 0 else CONTINUATION, i == pieces - 1, part))
        if i == 0:
            out.append(frame(PING, True, b"between"))
    return b"".join(out)


def fragment_writes(monkeypatch: pytest.MonkeyPatch, pieces: int = 3) -> list[bytes]:
    split: list[bytes] = []

    def writer(payloads: list[bytes], cuts: object = None) -> list[bytes]:
        split.extend(payloads)
        return [b"".join(fragments(p, pieces) for p in payloads)] if payloads else []

    monkeypatch.setattr(sockets_module, "websocket_text_frames", writer)
    return split
