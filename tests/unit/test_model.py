"""Domain model: cid mapping, enumerations, instrument checks and tick rounding."""

from __future__ import annotations

import ast
import doctest
import inspect
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from axorders import model
from axorders.exceptions import InvalidOrderError
from axorders.model import (
    CID_MASK,
    Instrument,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    cid_for,
    to_decimal,
)

D = Decimal

EUR = Instrument(
    symbol="EURUSD-PERP", tick_size=D("0.0001"), minimum_order_size=100, price_precision=4
)
GOLD = Instrument(symbol="XAU-PERP", tick_size=D("0.1"), minimum_order_size=1, price_precision=1)
QUARTER = Instrument(
    symbol="QTR-PERP", tick_size=D("0.25"), minimum_order_size=1, price_precision=2
)
WHOLE = Instrument(symbol="IDX-PERP", tick_size=D("5"), minimum_order_size=1, price_precision=0)


def refused(call: Any, *args: Any, **kwargs: Any) -> InvalidOrderError:
    with pytest.raises(InvalidOrderError) as info:
        call(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------------------------------------
# cid


@pytest.mark.parametrize(
    ("client_order_id", "cid"),
    [
        ("demo-1", 7710658737549443707),
        ("", 7183457195969485844),
        ("O-1", 5713899731483859963),
        ("é", 5375421630974772051),
        ("order-0", 4113939890466087615),
        # the digest's top bit is set for these two: it is masked away
        ("order-5", 8583287315958735649),
        ("order-7", 6885150618486059575),
    ],
)
def test_cid_for_known_values(client_order_id: str, cid: int) -> None:
    assert cid_for(client_order_id) == cid


def test_cid_for_masks_to_63_bits() -> None:
    # sha256("order-5") starts with a byte >= 0x80: the unmasked value is above 2**63.
    assert cid_for("order-5") == 17806659352813511457 & CID_MASK
    assert CID_MASK == 2**63 - 1
    for i in range(2000):
        value = cid_for(f"client-{i}")
        assert 0 <= value <= CID_MASK


def test_cid_for_is_stable_across_calls_and_processes() -> None:
    ids = [f"strategy-a/{i}" for i in range(50)]
    first = [cid_for(i) for i in ids]
    assert first == [cid_for(i) for i in ids]
    # a fresh interpreter (different hash seed) gives the same values
    code = "from axorders.model import cid_for; print(cid_for('demo-1'), cid_for('order-5'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout.split()
    assert out == [str(cid_for("demo-1")), str(cid_for("order-5"))]


def test_cid_for_distinguishes_ids() -> None:
    values = {cid_for(f"c{i}") for i in range(5000)}
    assert len(values) == 5000


def test_model_docstrings_run() -> None:
    result = doctest.testmod(model, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1
    assert result.failed == 0


# ---------------------------------------------------------------------------------------------
# enumerations


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("B", Side.BUY),
        ("b", Side.BUY),
        ("BUY", Side.BUY),
        (" buy ", Side.BUY),
        ("S", Side.SELL),
        ("sell", Side.SELL),
        (Side.SELL, Side.SELL),
    ],
)
def test_side_parse(text: Any, side: Side) -> None:
    assert Side.parse(text) is side


@pytest.mark.parametrize("text", ["", "X", "LONG", "BS", "1"])
def test_side_parse_refuses(text: str) -> None:
    error = refused(Side.parse, text)
    assert error.field == "side"
    assert error.reason == "INVALID_SIDE"


def test_side_opposite_and_wire_values() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
    assert (Side.BUY.value, Side.SELL.value) == ("B", "S")


@pytest.mark.parametrize(
    ("text", "tif"),
    [
        ("GTC", TimeInForce.GTC),
        ("gtc", TimeInForce.GTC),
        ("IOC", TimeInForce.IOC),
        (" day", TimeInForce.DAY),
        (TimeInForce.IOC, TimeInForce.IOC),
    ],
)
def test_time_in_force_parse(text: Any, tif: TimeInForce) -> None:
    assert TimeInForce.parse(text) is tif


@pytest.mark.parametrize("text", ["GTD", "FOK", "fok", "AT_THE_OPEN", "AT_THE_CLOSE", ""])
def test_time_in_force_refuses_unsupported(text: str) -> None:
    error = refused(TimeInForce.parse, text)
    assert error.field == "time_in_force"
    assert error.reason == "UNSUPPORTED_TIME_IN_FORCE"
    assert repr(text) in str(error)
    assert "GTC, IOC or DAY" in error.message
    assert str(error).startswith("time_in_force: ")


@pytest.mark.parametrize(
    ("text", "order_type"),
    [
        ("LIMIT", OrderType.LIMIT),
        ("limit", OrderType.LIMIT),
        ("MARKET", OrderType.MARKET),
        ("stop-limit", OrderType.STOP_LIMIT),
        ("STOP_LIMIT", OrderType.STOP_LIMIT),
        (OrderType.MARKET, OrderType.MARKET),
    ],
)
def test_order_type_parse(text: Any, order_type: OrderType) -> None:
    assert OrderType.parse(text) is order_type


@pytest.mark.parametrize("text", ["STOP_MARKET", "TRAILING_STOP", "LIMIT_IF_TOUCHED", ""])
def test_order_type_refuses_unsupported(text: str) -> None:
    error = refused(OrderType.parse, text)
    assert error.field == "order_type"
    assert error.reason == "UNSUPPORTED_ORDER_TYPE"


@pytest.mark.parametrize(
    "state",
    [
        "PENDING",
        "ACCEPTED",
        "PARTIALLY_FILLED",
        "FILLED",
        "CANCELED",
        "REJECTED",
        "EXPIRED",
        "REPLACED",
        "DONE_FOR_DAY",
        "UNKNOWN",
    ],
)
def test_order_status_from_wire_known(state: str) -> None:
    assert OrderStatus.from_wire(state).value == state


@pytest.mark.parametrize(
    "state", [None, "", "accepted", "NEW", "CANCELING", "OUT", "STALE", "ARMED", "RECONCILED_OUT"]
)
def test_order_status_from_wire_unknown(state: str | None) -> None:
    # ARMED is local only: the venue never sends it, so it is not a wire value either.
    assert OrderStatus.from_wire(state) is OrderStatus.UNKNOWN


def test_terminal_and_open_sets() -> None:
    terminal = {s for s in OrderStatus if s.is_terminal}
    assert terminal == {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
        OrderStatus.DONE_FOR_DAY,
    }
    assert {s for s in OrderStatus if s.is_open} == {
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
    }
    assert not (terminal & {s for s in OrderStatus if s.is_open})
    for state in (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.ARMED):
        assert not state.is_terminal
        assert not state.is_open


# ---------------------------------------------------------------------------------------------
# numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.1283", D("1.1283")),
        (" 2.5 ", D("2.5")),
        (1.1, D("1.1")),
        (3, D(3)),
        (D("0.0001"), D("0.0001")),
    ],
)
def test_to_decimal(value: Any, expected: Decimal) -> None:
    assert to_decimal(value, "price") == expected


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "",
        "1,5",
        "NaN",
        "Infinity",
        "-inf",
        float("nan"),
        float("inf"),
        D("NaN"),
        D("sNaN"),
        D("-Infinity"),
    ],
)
def test_to_decimal_refuses(value: Any) -> None:
    error = refused(to_decimal, value, "price")
    assert error.field == "price"
    assert error.reason == "INVALID_NUMBER"


# ---------------------------------------------------------------------------------------------
# Instrument.check_price


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("1.1283", D("1.1283")),
        ("1.08500", D("1.085")),  # the instrument's own precision, compared numerically
        ("1", D(1)),
        (D("0.0001"), D("0.0001")),
        (2, D(2)),
    ],
)
def test_check_price_accepts_on_tick(price: Any, expected: Decimal) -> None:
    assert EUR.check_price(price) == expected


def test_check_price_on_coarse_ticks() -> None:
    assert QUARTER.check_price("100.75") == D("100.75")
    assert WHOLE.check_price("1005") == D(1005)
    assert refused(QUARTER.check_price, "100.1").reason == "PRICE_OFF_TICK"
    assert refused(WHOLE.check_price, "1001").reason == "PRICE_OFF_TICK"


@pytest.mark.parametrize("price", ["1.12835", "1.00001", "0.00005"])
def test_check_price_refuses_off_tick(price: str) -> None:
    error = refused(EUR.check_price, price)
    assert error.field == "price"
    assert error.reason == "PRICE_OFF_TICK"
    assert "EURUSD-PERP" in error.message
    assert "0.0001" in error.message


@pytest.mark.parametrize("price", ["0", "-1.1283", D("-0.0001"), 0, "-0"])
def test_check_price_refuses_not_positive(price: Any) -> None:
    error = refused(EUR.check_price, price)
    assert error.reason == "INVALID_PRICE"
    assert error.field == "price"


@pytest.mark.parametrize(
    "price",
    ["NaN", "nan", "Infinity", "-Infinity", "sNaN", float("nan"), float("inf"), D("NaN"), "price"],
)
def test_check_price_refuses_non_numbers(price: Any) -> None:
    error = refused(EUR.check_price, price)
    assert error.reason == "INVALID_NUMBER"


def test_check_price_names_the_field() -> None:
    assert refused(EUR.check_price, "1.12835", field="trigger_price").field == "trigger_price"
    assert refused(EUR.check_price, "NaN", field="trigger_price").field == "trigger_price"


# ---------------------------------------------------------------------------------------------
# Instrument.check_quantity


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(100, 100), (250, 250), ("300", 300), (D("400"), 400), (D("500.0"), 500), (600.0, 600)],
)
def test_check_quantity_accepts(quantity: Any, expected: int) -> None:
    result = EUR.check_quantity(quantity)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("quantity", [D("100.5"), "150.25", 100.5, D("0.1")])
def test_check_quantity_refuses_fractions(quantity: Any) -> None:
    error = refused(EUR.check_quantity, quantity)
    assert error.field == "quantity"
    assert error.reason == "FRACTIONAL_QUANTITY"


@pytest.mark.parametrize("quantity", [0, -1, -100, "0", D("-200"), D(0)])
def test_check_quantity_refuses_not_positive(quantity: Any) -> None:
    error = refused(EUR.check_quantity, quantity)
    assert error.field == "quantity"
    assert error.reason == "INVALID_QUANTITY"


@pytest.mark.parametrize("quantity", [True, False])
def test_check_quantity_refuses_bool(quantity: bool) -> None:
    error = refused(EUR.check_quantity, quantity)
    assert error.field == "quantity"
    assert error.reason == "INVALID_QUANTITY"


@pytest.mark.parametrize("quantity", ["NaN", "Infinity", float("inf"), "ten"])
def test_check_quantity_refuses_non_numbers(quantity: Any) -> None:
    error = refused(EUR.check_quantity, quantity)
    assert error.field == "quantity"
    assert error.reason == "INVALID_NUMBER"


@pytest.mark.parametrize("quantity", [1, 10, 99])
def test_check_quantity_refuses_below_minimum(quantity: int) -> None:
    error = refused(EUR.check_quantity, quantity)
    assert error.reason == "BELOW_MINIMUM_SIZE"
    assert "100" in error.message
    assert "EURUSD-PERP" in error.message
    assert GOLD.check_quantity(quantity) == quantity


# ---------------------------------------------------------------------------------------------
# format_price, price_band, round_to_tick


@pytest.mark.parametrize(
    ("instrument", "price", "text"),
    [
        (EUR, D("1.085"), "1.0850"),
        (EUR, D("1.1283"), "1.1283"),
        (EUR, D("1"), "1.0000"),
        (GOLD, D("2650"), "2650.0"),
        (QUARTER, D("100.5"), "100.50"),
        (WHOLE, D("1005"), "1005"),
        (WHOLE, D("1005.0"), "1005"),
    ],
)
def test_format_price(instrument: Instrument, price: Decimal, text: str) -> None:
    assert instrument.format_price(price) == text


@pytest.mark.parametrize(
    ("instrument", "mark", "low", "high"),
    [
        (EUR, D("1.1388"), D("1.0250"), D("1.2526")),  # 1.02492 up, 1.25268 down
        (EUR, D("1.0000"), D("0.9000"), D("1.1000")),  # exact multiples are kept
        (QUARTER, D("100.1"), D("90.25"), D("110.00")),  # 90.09 up, 110.11 down
        (QUARTER, D("100"), D("90.00"), D("110.00")),
        (WHOLE, D("1003"), D("905"), D("1100")),  # 902.7 up, 1103.3 down
        (GOLD, D("0.3"), D("0.3"), D("0.3")),  # 0.27 up, 0.33 down
    ],
)
def test_price_band(instrument: Instrument, mark: Decimal, low: Decimal, high: Decimal) -> None:
    band = instrument.price_band(mark)
    assert band == (low, high)
    for limit in band:
        assert limit >= 0
        assert limit % instrument.tick_size == 0
        assert limit.as_tuple().exponent == instrument.tick_size.as_tuple().exponent
    lower = mark * (1 - instrument.price_band_lower_pct / 100)
    upper = mark * (1 + instrument.price_band_upper_pct / 100)
    assert lower <= band[0] < lower + instrument.tick_size
    assert upper - instrument.tick_size < band[1] <= upper


def test_price_band_with_asymmetric_percentages() -> None:
    narrow = Instrument(
        symbol="N-PERP",
        tick_size=D("0.01"),
        minimum_order_size=1,
        price_precision=2,
        price_band_lower_pct=D("2.5"),
        price_band_upper_pct=D("5"),
    )
    assert narrow.price_band(D("10.01")) == (D("9.76"), D("10.51"))  # 9.75975 up, 10.5105 down


def test_price_band_never_goes_negative() -> None:
    wide = Instrument(
        symbol="W-PERP",
        tick_size=D("0.01"),
        minimum_order_size=1,
        price_precision=2,
        price_band_lower_pct=D("100"),
    )
    low, _ = wide.price_band(D("3.33"))
    assert low == D("0.00")
    assert not low.is_signed()


@pytest.mark.parametrize(
    ("instrument", "price", "up", "down"),
    [
        (EUR, D("1.12345"), D("1.1235"), D("1.1234")),
        (EUR, D("1.12341"), D("1.1235"), D("1.1234")),
        (EUR, D("1.12349"), D("1.1235"), D("1.1234")),
        (EUR, D("0.00001"), D("0.0001"), D("0.0000")),
        (QUARTER, D("100.1"), D("100.25"), D("100.00")),
        (QUARTER, D("100.26"), D("100.50"), D("100.25")),
        (WHOLE, D("1001"), D("1005"), D("1000")),
        (WHOLE, D("1004.99"), D("1005"), D("1000")),
    ],
)
def test_round_to_tick_off_tick(
    instrument: Instrument, price: Decimal, up: Decimal, down: Decimal
) -> None:
    assert instrument.round_to_tick(price, side_up=True) == up
    assert instrument.round_to_tick(price, side_up=False) == down
    assert str(instrument.round_to_tick(price, side_up=True)) == str(up)
    assert str(instrument.round_to_tick(price, side_up=False)) == str(down)


@pytest.mark.parametrize(
    ("instrument", "price"),
    [
        (EUR, D("1.1283")),
        (EUR, D("1.12830")),
        (EUR, D("1")),
        (QUARTER, D("100.75")),
        (WHOLE, D("1005")),
        (GOLD, D("2650.1")),
    ],
)
def test_round_to_tick_keeps_exact_multiples(instrument: Instrument, price: Decimal) -> None:
    for side_up in (True, False):
        result = instrument.round_to_tick(price, side_up=side_up)
        assert result == price
        assert result.as_tuple().exponent == instrument.tick_size.as_tuple().exponent


def test_round_to_tick_is_the_nearest_tick_in_its_direction() -> None:
    for i in range(1, 400):
        price = D(i) / D(37)
        up = QUARTER.round_to_tick(price, side_up=True)
        down = QUARTER.round_to_tick(price, side_up=False)
        assert down <= price <= up
        assert up - down in (D(0), QUARTER.tick_size)
        assert up % QUARTER.tick_size == 0
        assert down % QUARTER.tick_size == 0


# ---------------------------------------------------------------------------------------------
# Instrument (its decoding from REST lives in axorders.wire.rest: test_wire_md_rest.py)


def test_precision_of() -> None:
    assert Instrument.precision_of(D("0.0001")) == 4
    assert Instrument.precision_of(D("0.000001")) == 6
    assert Instrument.precision_of(D("0.01")) == 2
    assert Instrument.precision_of(D("0.10")) == 1
    assert Instrument.precision_of(D("1")) == 0
    assert Instrument.precision_of(D("5")) == 0


def test_instrument_is_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        EUR.symbol = "X"  # type: ignore[misc]
    assert len({EUR, GOLD, EUR}) == 2


# ---------------------------------------------------------------------------------------------
# The model knows nothing of the wire


def test_importing_the_model_loads_no_wire_module() -> None:
    script = (
        "import sys\n"
        "import axorders.model\n"
        "loaded = sorted(m for m in sys.modules if m == 'axorders.wire' or"
        " m.startswith('axorders.wire.'))\n"
        "assert not loaded, loaded\n"
    )
    # The interpreter must import this checkout's package, whatever is installed.
    source_root = str(Path(model.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr


def test_the_model_has_no_import_of_the_wire_anywhere() -> None:
    """Not even inside a function: the model must not know the wire at all."""
    tree = ast.parse(inspect.getsource(model))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.append(node.module)
    assert [name for name in imported if name.split(".")[:2] == ["axorders", "wire"]] == []
    assert not hasattr(model.Instrument, "from_rest")
