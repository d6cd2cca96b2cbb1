"""Reassembly of fragmented WebSocket messages: order, control frames between, the cap, and
the protocol errors (RFC 6455 §5.4)."""

from __future__ import annotations

import pytest

from axorders.client.fragments import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    FragmentError,
    Reassembler,
)
from axorders.exceptions import RemoteProtocolError

TEXT, BINARY = "TEXT", "BINARY"


def test_a_whole_message_passes_through() -> None:
    r = Reassembler(max_size=10)
    assert r.feed(TEXT, False, True, b"abc") == b"abc"
    assert r.kind == TEXT and not r.active


def test_fragments_are_joined_in_order() -> None:
    r = Reassembler(max_size=100)
    assert r.feed(BINARY, False, False, b"ab") is None
    assert r.active
    assert r.feed(None, True, False, b"") is None  # an empty fragment is allowed
    assert r.feed(None, True, False, b"cd") is None
    assert r.feed(None, True, True, b"e") == b"abcde"
    assert r.kind == BINARY and not r.active
    assert r.feed(TEXT, False, True, b"next") == b"next"


def test_an_empty_first_fragment_starts_a_message() -> None:
    r = Reassembler(max_size=100)
    assert r.feed(TEXT, False, False, b"") is None
    assert r.active
    assert r.feed(None, True, True, b"x") == b"x"


def test_the_cap_counts_every_fragment() -> None:
    r = Reassembler(max_size=5)
    assert r.feed(TEXT, False, False, b"abc") is None
    assert r.feed(None, True, False, b"de") is None  # exactly at the cap
    with pytest.raises(FragmentError) as info:
        r.feed(None, True, True, b"f")
    assert info.value.close_code == CLOSE_MESSAGE_TOO_BIG
    assert not r.active


def test_a_single_frame_beyond_the_cap() -> None:
    with pytest.raises(FragmentError) as info:
        Reassembler(max_size=2).feed(TEXT, False, True, b"abc")
    assert info.value.close_code == CLOSE_MESSAGE_TOO_BIG


def test_a_continuation_without_a_message_is_a_protocol_error() -> None:
    with pytest.raises(FragmentError) as info:
        Reassembler().feed(None, True, True, b"x")
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR
    assert isinstance(info.value, RemoteProtocolError)


def test_a_new_message_inside_an_unfinished_one_is_a_protocol_error() -> None:
    r = Reassembler()
    r.feed(TEXT, False, False, b"a")
    with pytest.raises(FragmentError) as info:
        r.feed(TEXT, False, True, b"b")
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR
    assert not r.active


def test_clear_forgets_a_partial_message() -> None:
    r = Reassembler()
    r.feed(TEXT, False, False, b"a")
    r.clear()
    assert not r.active
    assert r.feed(TEXT, False, True, b"b") == b"b"


def test_a_hundred_thousand_fragments() -> None:
    r = Reassembler(max_size=1 << 20)
    r.feed(TEXT, False, False, b"")
    for _ in range(100_000):
        assert r.feed(None, True, False, b"x") is None
    assert r.feed(None, True, True, b"") == b"x" * 100_000


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Reassembler(max_size=0)
