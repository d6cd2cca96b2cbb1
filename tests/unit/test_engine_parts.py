"""Ids, instruments and the user/token registry of the simulator."""

from __future__ import annotations

import itertools
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from axorders.exceptions import RemoteProtocolError
from axorders.sim.accounts import SimUser, Users, token_from_header
from axorders.sim.ids import CROCKFORD, UlidFactory, is_ulid
from axorders.sim.instruments import (
    DEFAULT_MARKS,
    default_instruments,
    fallback_mark,
    instruments_response,
    load_instruments,
    marks_for,
)
from axorders.wire.rest import encode_rest

T0 = 1_790_228_411_934_693_936


def decode_ulid(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_ulid_encodes_the_millisecond_and_counts_up() -> None:
    factory = UlidFactory(random.Random(1))
    ids = [factory.new(T0) for _ in range(3000)]  # more than 1024 in one millisecond
    assert all(is_ulid(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {decode_ulid(i) >> 80 for i in ids} == {T0 // 1_000_000}
    values = [decode_ulid(i) for i in ids]
    assert all(b - a == 1 for a, b in itertools.pairwise(values))
    later = factory.new(T0 + 5_000_000)
    assert later > ids[-1] and decode_ulid(later) >> 80 == T0 // 1_000_000 + 5
    assert factory.new(T0) > later  # the clock stepped back: still increasing


def test_is_ulid() -> None:
    assert is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert not is_ulid("81ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert not is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU")  # U is not Crockford
    assert not is_ulid("TEST0001")


def test_default_instruments() -> None:
    by_symbol = {i.symbol: i for i in default_instruments()}
    eur = by_symbol["EURUSD-PERP"]
    assert (eur.tick_size, eur.minimum_order_size, eur.initial_margin_pct) == (
        Decimal("0.0001"),
        100,
        Decimal("6.0"),
    )
    assert eur.price_band_lower_pct == eur.price_band_upper_pct == Decimal(10)
    assert by_symbol["XAU-PERP"].initial_margin_pct == Decimal("12.5")
    assert by_symbol["US500-PERP"].tick_size == Decimal("0.25")
    assert by_symbol["USDJPY-PERP"].minimum_order_size == 100
    assert set(DEFAULT_MARKS) == set(by_symbol)
    for symbol, mark in DEFAULT_MARKS.items():
        assert mark % by_symbol[symbol].tick_size == 0, symbol


def test_instruments_round_trip_through_the_rest_shape(tmp_path: Path) -> None:
    path = tmp_path / "instruments.json"
    path.write_bytes(encode_rest(instruments_response(default_instruments())))
    assert load_instruments(path) == default_instruments()
    assert load_instruments(path.read_bytes()) == default_instruments()
    with pytest.raises(RemoteProtocolError):
        load_instruments(b'{"nope": 1}')


def test_captured_instruments_load(protocol_dir: Path) -> None:
    instruments = load_instruments(protocol_dir / "captured" / "instruments.json")
    by_symbol = {i.symbol: i for i in instruments}
    ours = {i.symbol: i for i in default_instruments()}
    for symbol in set(ours) & set(by_symbol):
        theirs, mine = by_symbol[symbol], ours[symbol]
        assert (theirs.tick_size, theirs.minimum_order_size) == (
            mine.tick_size,
            mine.minimum_order_size,
        )
        assert theirs.initial_margin_pct == mine.initial_margin_pct
        assert theirs.maintenance_margin_pct == mine.maintenance_margin_pct
        assert theirs.category == mine.category
    marks = marks_for(instruments)
    assert marks["EURUSD-PERP"] == DEFAULT_MARKS["EURUSD-PERP"]
    jpy = by_symbol["JPYUSD-PERP"]
    assert marks["JPYUSD-PERP"] == fallback_mark(jpy) == Decimal("0.010000")


def test_marks_overrides() -> None:
    marks = marks_for(default_instruments(), {"EURUSD-PERP": Decimal("1.2")})
    assert marks["EURUSD-PERP"] == Decimal("1.2")
    assert marks["XAU-PERP"] == DEFAULT_MARKS["XAU-PERP"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_token_from_header(header: str | None, token: str | None) -> None:
    assert token_from_header(header) == token


def user(n: int) -> SimUser:
    return SimUser(
        user_id=f"u{n}",
        account_id=f"a{n}",
        username=f"name{n}",
        password=f"pw{n}",
        api_key=f"key{n}",
        api_secret=f"secret{n}",
    )


def test_users_and_tokens() -> None:
    counter = iter(range(100))
    users = Users(token_factory=lambda: f"tok{next(counter)}")
    users.add(user(1))
    users.add(user(2))
    with pytest.raises(ValueError, match="exists"):
        users.add(user(1))
    assert users.check_api_key("key1", "secret1") == user(1)
    assert users.check_api_key("key1", "secret2") is None
    assert users.check_password("name2", "pw2") == user(2)
    assert users.by_account("a2") == user(2)
    token = users.issue_token("u1", T0, 10)
    assert users.user_for_token(token, T0 + 9 * 10**9) == user(1)
    assert users.user_for_token(token, T0 + 10 * 10**9) is None
    assert users.user_for_token("garbage", T0) is None
    other = users.issue_token("u2", T0, 10)
    assert users.expire_tokens("u2") == 1
    assert users.user_for_token(other, T0) is None
    assert users.user_for_token(token, T0) == user(1)
    with pytest.raises(KeyError):
        users.issue_token("nobody", T0, 10)
    assert "secret1" not in repr(user(1)) and "pw1" not in repr(user(1))


def test_instruments_response_is_rest_shaped() -> None:
    body = json.loads(encode_rest(instruments_response(default_instruments()[:1])))
    [eur] = body["instruments"]
    assert eur["symbol"] == "EURUSD-PERP"
    assert (eur["tick_size"], eur["minimum_order_size"], eur["price_scale"]) == (
        "0.0001",
        "100",
        10000,
    )
    assert eur["initial_margin_pct"] == "6.0"
