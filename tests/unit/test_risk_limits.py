"""Risk limits: defaults, per-symbol overrides, and reading them from a mapping or a file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from axorders.risk import RateLimit, RiskLimits, SymbolLimits

TOML = """
max_quantity = 1000
max_notional = "1000000"
price_collar_bps = 50
max_open_orders = 20
max_open_orders_total = 100
max_position = 5000
submit_rate = { rate = 10, burst = 20 }
modify_rate = { rate = 2.5 }

[per_symbol.XAU-PERP]
max_quantity = 10
max_notional = "250000.50"
"""


def test_every_limit_is_off_by_default() -> None:
    limits = RiskLimits()
    assert limits.for_symbol("EURUSD-PERP") == SymbolLimits()
    assert limits.submit_rate is None and limits.modify_rate is None
    assert limits.max_open_orders_total is None


def test_a_symbol_override_inherits_the_fields_it_leaves_out() -> None:
    limits = RiskLimits(
        max_quantity=100,
        max_position=500,
        per_symbol={"XAU-PERP": SymbolLimits(max_quantity=5, max_notional=Decimal(1000))},
    )
    assert limits.for_symbol("XAU-PERP") == SymbolLimits(
        max_quantity=5, max_notional=Decimal(1000), max_position=500
    )
    assert limits.for_symbol("EURUSD-PERP") == SymbolLimits(max_quantity=100, max_position=500)


def test_the_per_symbol_table_is_a_read_only_copy() -> None:
    table = {"XAU-PERP": SymbolLimits(max_quantity=5)}
    limits = RiskLimits(per_symbol=table)
    table["XAU-PERP"] = SymbolLimits(max_quantity=50)
    assert limits.for_symbol("XAU-PERP").max_quantity == 5
    with pytest.raises(TypeError):
        limits.per_symbol["X"] = SymbolLimits()  # type: ignore[index]


def test_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(TOML, encoding="utf-8")
    limits = RiskLimits.from_file(path)
    assert limits.max_quantity == 1000
    assert limits.max_notional == Decimal(1000000)
    assert limits.price_collar_bps == Decimal(50)
    assert limits.max_open_orders == 20
    assert limits.max_open_orders_total == 100
    assert limits.max_position == 5000
    assert limits.submit_rate == RateLimit(10.0, 20)
    assert limits.modify_rate == RateLimit(2.5, 3)  # the burst defaults to a second's worth
    xau = limits.for_symbol("XAU-PERP")
    assert xau.max_quantity == 10 and xau.max_notional == Decimal("250000.50")
    assert xau.max_position == 5000


def test_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "risk.json"
    path.write_text(
        '{"max_quantity": 5, "per_symbol": {"EURUSD-PERP": {"max_position": 0}}}',
        encoding="utf-8",
    )
    limits = RiskLimits.from_file(path)
    assert limits.max_quantity == 5
    assert limits.for_symbol("EURUSD-PERP").max_position == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_qty": 1}, "unknown key max_qty"),
        ({"per_symbol": {"X": {"max_orders": 1}}}, "unknown key per_symbol.X.max_orders"),
        ({"submit_rate": {"rate": 1, "burts": 2}}, "unknown key submit_rate.burts"),
        ({"max_quantity": 0}, "max_quantity: 0 must be at least 1"),
        ({"max_quantity": 1.5}, "max_quantity: 1.5 is not a whole number"),
        ({"max_quantity": True}, "max_quantity: True is not a whole number"),
        ({"max_position": -1}, "max_position: -1 must be at least 0"),
        ({"max_notional": "lots"}, "max_notional: 'lots' is not a number"),
        ({"max_notional": -1}, "max_notional: -1 must be a finite number"),
        ({"price_collar_bps": "nan"}, "price_collar_bps: 'nan' must be a finite number"),
        ({"submit_rate": 10}, "submit_rate: must be a table"),
        ({"submit_rate": {"burst": 2}}, "submit_rate.rate: missing"),
        ({"modify_rate": {"rate": 0}}, "modify_rate.rate: 0 must be greater than zero"),
        ({"modify_rate": {"rate": 1, "burst": 0}}, "modify_rate.burst: 0 must be at least 1"),
        ({"per_symbol": {"X": 3}}, "per_symbol.X: must be a table"),
        ({"per_symbol": {"X": {"max_quantity": -2}}}, "per_symbol.X.max_quantity: -2"),
    ],
)
def test_bad_keys_and_values_are_named(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        RiskLimits.from_mapping(data)


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("max_quantity = = 3", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        RiskLimits.from_file(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("max_quantity = 0", encoding="utf-8")
    with pytest.raises(ValueError, match=r"wrong\.toml: max_quantity: 0 must be at least 1"):
        RiskLimits.from_file(wrong)
    with pytest.raises(ValueError, match=r"missing\.toml: cannot read"):
        RiskLimits.from_file(tmp_path / "missing.toml")


def test_built_directly_the_values_are_checked_too() -> None:
    with pytest.raises(ValueError, match="max_quantity"):
        RiskLimits(max_quantity=0)
    with pytest.raises(ValueError, match="max_notional"):
        SymbolLimits(max_notional=1000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        RateLimit(0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(1.0, 0)
