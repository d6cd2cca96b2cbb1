"""``str(event)`` and ``axorders.format_event``: one readable line per event, of every type."""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal
from typing import Any

import msgspec
import pytest

import axorders
from axorders import events as ev
from axorders.model import OrderStatus, Side, TimeInForce


def _all_events() -> list[type[ev.Event]]:
    found: list[type[ev.Event]] = []
    todo: list[type[ev.Event]] = [ev.Event]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def _snapshot(**changes: Any) -> ev.OrderSnapshot:
    base = ev.OrderSnapshot(
        venue_order_id="O-1",
        client_order_id="my-1",
        cid=42,
        symbol="EURUSD-PERP",
        side=Side.SELL,
        price=Decimal("1.1300"),
        quantity=100,
        filled_qty=0,
        remaining_qty=100,
        status=OrderStatus.ACCEPTED,
        time_in_force="GTC",
        post_only=False,
        tag=None,
        ts_event=1_795_981_527_506_849_343,
    )
    return msgspec.structs.replace(base, **changes)


def _value(hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        [real] = [a for a in typing.get_args(hint) if a is not type(None)][:1]
        return _value(real, name)
    if origin is tuple:
        return (_snapshot(), _snapshot(venue_order_id="O-2"))
    if hint is ev.OrderSnapshot:
        return _snapshot()
    if hint is bool:
        return True
    if hint is int:
        return 1_795_981_527_506_849_343 if name.startswith("ts_") else 7
    if hint is Decimal:
        return Decimal("1.1285")
    if hint is str:
        return f"{name}-value"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    raise AssertionError(f"no sample for {hint!r} ({name})")


def _sample(cls: type[ev.Event]) -> ev.Event:
    hints = typing.get_type_hints(cls)
    return cls(**{name: _value(hints[name], name) for name in cls.__struct_fields__})


@pytest.mark.parametrize("cls", _all_events(), ids=lambda c: c.__name__)
def test_every_event_prints_as_one_readable_line(cls: type[ev.Event]) -> None:
    event = _sample(cls)
    line = str(event)
    assert line == ev.format_event(event) == axorders.format_event(event)
    assert line.split(" ", maxsplit=1)[0] == cls.__name__
    assert "\n" not in line and "ts_init" not in line and "1795981527506849343" not in line
    assert "<" not in line and "Decimal(" not in line  # no reprs of enums or decimals
    for pair in line.split(" ")[1:]:
        key, _, value = pair.partition("=")
        assert key and value, (pair, line)
    # repr keeps every field
    for name in cls.__struct_fields__:
        assert f"{name}=" in repr(event)


def test_a_line_reads_as_the_venue_and_the_user_wrote_it() -> None:
    event = ev.OrderAccepted(
        ts_init=1_795_981_527_506_849_343,
        client_order_id="my-1",
        venue_order_id="O-01M88N",
        account_id="ACC-1",
        trader_id="TRADER-001",
        strategy_id="DEFAULT",
        symbol="EURUSD-PERP",
        ts_event=1_795_981_527_506_849_000,
        side=Side.BUY,
        price=Decimal("1.13"),
        quantity=100,
        time_in_force=TimeInForce.GTC,
        post_only=False,
    )
    assert str(event) == (
        "OrderAccepted client_order_id=my-1 venue_order_id=O-01M88N symbol=EURUSD-PERP"
        " side=BUY price=1.13 quantity=100 time_in_force=GTC post_only=False"
    )
    assert "side=<Side.BUY: 'B'>" in repr(event) and "ts_init=1795981527506849343" in repr(event)


def test_snapshots_count_their_orders_and_nested_orders_print_their_fields() -> None:
    login = ev.LoginSnapshot(
        ts_init=1, login_id="L-1", orders=(_snapshot(), _snapshot()), cancel_on_disconnect=None
    )
    assert str(login) == "LoginSnapshot login_id=L-1 open_orders=2"
    found = ev.ExternalOrderDiscovered(ts_init=1, order=_snapshot(client_order_id=None))
    assert str(found) == (
        "ExternalOrderDiscovered venue_order_id=O-1 symbol=EURUSD-PERP side=SELL price=1.1300"
        " quantity=100 filled_qty=0 remaining_qty=100 status=ACCEPTED time_in_force=GTC"
        " post_only=False"
    )
    assert str(_snapshot()).startswith("OrderSnapshot venue_order_id=O-1 client_order_id=my-1")


def test_control_characters_never_break_the_line() -> None:
    event = ev.VenueError(ts_init=1, request_id=None, code=400, message="bad\nrequest\x1b[31m")
    line = str(event)
    assert "\n" not in line and "\x1b" not in line
    assert line == "VenueError code=400 message=bad\\nrequest\\x1b[31m"


def test_a_new_event_type_prints_without_any_change() -> None:
    class PositionChanged(ev.Event, frozen=True, kw_only=True):
        symbol: str
        side: Side
        size: Decimal

    event = PositionChanged(ts_init=5, symbol="XAU-PERP", side=Side.SELL, size=Decimal("2.5"))
    assert str(event) == "PositionChanged symbol=XAU-PERP side=SELL size=2.5"
