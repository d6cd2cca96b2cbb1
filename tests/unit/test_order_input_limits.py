"""Client order ids and quantities the wire cannot carry are refused before anything is sent.

The same checks serve the Python API (``PlaceOrder``, the session) and the command line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from session_harness import EUR, Link, px

from axorders.commands import PlaceOrder, ReplaceOrder
from axorders.exceptions import InvalidOrderError
from axorders.model import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    MAX_QUANTITY,
    Instrument,
    check_client_order_id,
)


@pytest.fixture
def link() -> Link:
    lk = Link()
    lk.connect()
    lk.pump()
    lk.clear()
    return lk


@pytest.mark.parametrize(
    ("coid", "reason"),
    [
        ("", "MISSING"),
        ("  ", "MISSING"),
        ("x" * (MAX_CLIENT_ORDER_ID_LENGTH + 1), "TOO_LONG"),
        ("x" * 100_000, "TOO_LONG"),
        ("two\nlines", "CONTROL_CHARACTER"),
        ("tab\there", "CONTROL_CHARACTER"),
        ("esc\x1b[31m", "CONTROL_CHARACTER"),
        ("nul\x00", "CONTROL_CHARACTER"),
        ("sep\u2028", "CONTROL_CHARACTER"),
    ],
)
def test_bad_client_order_ids_are_refused(coid: str, reason: str) -> None:
    with pytest.raises(InvalidOrderError) as info:
        check_client_order_id(coid)
    assert (info.value.field, info.value.reason) == ("client_order_id", reason)


@pytest.mark.parametrize("coid", ["a", "my order 1", "x" * MAX_CLIENT_ORDER_ID_LENGTH, "ордер-7"])
def test_good_client_order_ids_pass(coid: str) -> None:
    assert check_client_order_id(coid) == coid


@pytest.mark.parametrize(
    "coid", ["x" * (MAX_CLIENT_ORDER_ID_LENGTH + 1), "line\nbreak", "bell\x07"]
)
def test_a_place_command_with_such_an_id_cannot_be_built(link: Link, coid: str) -> None:
    with pytest.raises(InvalidOrderError) as info:
        PlaceOrder(coid, EUR, "BUY", 100, price=px(-10))
    assert info.value.field == "client_order_id"
    assert link.s.frames_to_send() == []


@pytest.mark.parametrize("quantity", [10**20, MAX_QUANTITY + 1, str(10**20), f"{10**20}.0"])
def test_quantities_beyond_the_wire_are_refused_by_the_session(link: Link, quantity: Any) -> None:
    with pytest.raises(InvalidOrderError) as info:
        link.s.send(PlaceOrder("big", EUR, "BUY", quantity, price=px(-10)), link.now)
    assert (info.value.field, info.value.reason) == ("quantity", "QUANTITY_TOO_LARGE")
    assert link.s.frames_to_send() == []


def test_a_replace_beyond_the_wire_is_refused(link: Link) -> None:
    link.s.send(PlaceOrder("small", EUR, "BUY", 100, price=px(-10)), link.now)
    link.s.frames_to_send()
    with pytest.raises(InvalidOrderError) as info:
        link.s.send(ReplaceOrder("small", quantity=10**20), link.now)
    assert info.value.reason == "QUANTITY_TOO_LARGE"
    assert link.s.frames_to_send() == []


def test_the_largest_wire_quantity_is_accepted_by_the_instrument_check() -> None:
    inst = Instrument(symbol=EUR, tick_size=Decimal(1), minimum_order_size=1, price_precision=0)
    assert inst.check_quantity(MAX_QUANTITY) == MAX_QUANTITY
    with pytest.raises(InvalidOrderError):
        inst.check_quantity(MAX_QUANTITY + 1)
