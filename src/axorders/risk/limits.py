"""Pre-trade risk limits: plain, frozen values, read from a mapping or a TOML/JSON file.

Every limit is optional (None turns it off). The account-wide defaults apply to every symbol;
``per_symbol`` overrides some of them for one symbol (a field left None there inherits the
default). A file looks like this (TOML; JSON with the same structure works as well)::

    max_quantity = 1000               # contracts per order
    max_notional = "1000000"          # price x quantity x multiplier, per order
    price_collar_bps = 50             # distance from the reference price, basis points
    max_open_orders = 20              # per symbol
    max_open_orders_total = 100       # all symbols
    max_position = 5000               # absolute contracts per symbol
    submit_rate = { rate = 10, burst = 20 }   # new orders per second
    modify_rate = { rate = 20, burst = 40 }   # replaces per second

    [per_symbol.XAU-PERP]
    max_quantity = 10
    max_notional = "250000"

Cancels are never limited.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["RateLimit", "RiskLimits", "SymbolLimits"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rate`` tokens per second refill it continuously, up to ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate: {rate!r} is not a number")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate: {rate!r} must be a finite number greater than zero")
        burst = self.burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst: {burst!r} must be a whole number of at least 1")

    def __str__(self) -> str:
        return f"{self.rate:g}/s burst {self.burst}"


@dataclass(frozen=True, slots=True)
class SymbolLimits:
    """The limits of one symbol (all optional; None = off, or inherit in ``per_symbol``).

    Attributes:
        max_quantity: the most contracts one order may have.
        max_notional: the most one order may be worth: price x quantity x multiplier.
        price_collar_bps: the furthest an order's price may be from the reference price, in
            basis points of the reference price.
        max_open_orders: the most orders of the symbol open or in flight at once.
        max_position: the largest absolute position the symbol may reach, counting every
            open and in-flight order on the order's side as filled.
    """

    max_quantity: int | None = None
    max_notional: Decimal | None = None
    price_collar_bps: Decimal | None = None
    max_open_orders: int | None = None
    max_position: int | None = None

    def __post_init__(self) -> None:
        _check_int("max_quantity", self.max_quantity, 1)
        _check_int("max_open_orders", self.max_open_orders, 0)
        _check_int("max_position", self.max_position, 0)
        _check_decimal("max_notional", self.max_notional)
        _check_decimal("price_collar_bps", self.price_collar_bps)

    def over(self, default: SymbolLimits) -> SymbolLimits:
        """These limits, with every field left None taken from ``default``."""
        return SymbolLimits(
            **{
                f.name: getattr(default, f.name)
                if getattr(self, f.name) is None
                else getattr(self, f.name)
                for f in fields(SymbolLimits)
            }
        )


_SYMBOL_KEYS = frozenset(f.name for f in fields(SymbolLimits))


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every pre-trade limit, with per-symbol overrides.

    Attributes:
        max_quantity, max_notional, price_collar_bps, max_open_orders, max_position: the
            defaults of every symbol (see :class:`SymbolLimits`).
        max_open_orders_total: the most orders open or in flight at once, all symbols.
        submit_rate: new orders per second (a token bucket; refused, never queued, when empty).
        modify_rate: replaces per second. Cancels are never limited.
        per_symbol: overrides by symbol; a field left None there inherits the default.
    """

    max_quantity: int | None = None
    max_notional: Decimal | None = None
    price_collar_bps: Decimal | None = None
    max_open_orders: int | None = None
    max_position: int | None = None
    max_open_orders_total: int | None = None
    submit_rate: RateLimit | None = None
    modify_rate: RateLimit | None = None
    per_symbol: Mapping[str, SymbolLimits] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_int("max_quantity", self.max_quantity, 1)
        _check_int("max_open_orders", self.max_open_orders, 0)
        _check_int("max_position", self.max_position, 0)
        _check_int("max_open_orders_total", self.max_open_orders_total, 0)
        _check_decimal("max_notional", self.max_notional)
        _check_decimal("price_collar_bps", self.price_collar_bps)
        for name in ("submit_rate", "modify_rate"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, RateLimit):
                raise ValueError(f"{name}: {value!r} is not a RateLimit")
        for symbol, limits in self.per_symbol.items():
            if not isinstance(symbol, str) or not symbol:
                raise ValueError(f"per_symbol: {symbol!r} is not a symbol")
            if not isinstance(limits, SymbolLimits):
                raise ValueError(f"per_symbol.{symbol}: {limits!r} is not a SymbolLimits")
        # A read-only copy: the caller's dict may change, these limits may not.
        object.__setattr__(self, "per_symbol", MappingProxyType(dict(self.per_symbol)))

    @property
    def defaults(self) -> SymbolLimits:
        """The limits of a symbol without overrides."""
        return SymbolLimits(
            max_quantity=self.max_quantity,
            max_notional=self.max_notional,
            price_collar_bps=self.price_collar_bps,
            max_open_orders=self.max_open_orders,
            max_position=self.max_position,
        )

    def for_symbol(self, symbol: str) -> SymbolLimits:
        """The limits that apply to ``symbol`` (its overrides over the defaults)."""
        own = self.per_symbol.get(symbol)
        return self.defaults if own is None else own.over(self.defaults)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskLimits:
        """Limits from a mapping such as a parsed TOML or JSON document.

        Numbers may be given as numbers or strings (``"1000000"``); a rate as
        ``{"rate": 10, "burst": 20}``.

        Raises:
            ValueError: an unknown key or a bad value, named with its path
                (``per_symbol.XAU-PERP.max_quantity: ...``).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"risk limits must be a table of keys, not {type(data).__name__}")
        known = _SYMBOL_KEYS | {"max_open_orders_total", "submit_rate", "modify_rate", "per_symbol"}
        _refuse_unknown(data, known, "")
        values: dict[str, Any] = _symbol_values(data, "")
        if "max_open_orders_total" in data:
            values["max_open_orders_total"] = _int(
                "max_open_orders_total", data["max_open_orders_total"], 0
            )
        for name in ("submit_rate", "modify_rate"):
            if name in data and data[name] is not None:
                values[name] = _rate(name, data[name])
        per_symbol: dict[str, SymbolLimits] = {}
        table = data.get("per_symbol", {}) or {}
        if not isinstance(table, Mapping):
            raise ValueError("per_symbol: must be a table of symbols")
        for symbol, own in table.items():
            path = f"per_symbol.{symbol}"
            if not isinstance(own, Mapping):
                raise ValueError(f"{path}: must be a table of limits")
            _refuse_unknown(own, _SYMBOL_KEYS, path + ".")
            per_symbol[str(symbol)] = SymbolLimits(**_symbol_values(own, path + "."))
        return cls(**values, per_symbol=per_symbol)

    @classmethod
    def from_file(cls, path: str | Path) -> RiskLimits:
        """Limits from a TOML file, or a JSON file (a name ending in ``.json``).

        Raises:
            ValueError: the file cannot be read or parsed, or holds an unknown key or a bad
                value; the message names the file.
        """
        where = Path(path)
        try:
            raw = where.read_bytes()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read the risk limits: {exc.strerror}") from None
        try:
            if where.suffix.lower() == ".json":
                data = json.loads(raw.decode("utf-8"))
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{where}: not valid {_kind(where)}: {exc}") from None
        try:
            return cls.from_mapping(data)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "TOML"


def _refuse_unknown(data: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ValueError(
            f"unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(prefix + k for k in unknown)}; known: {', '.join(sorted(known))}"
        )


def _symbol_values(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("max_quantity", "max_open_orders", "max_position"):
        if data.get(name) is not None:
            values[name] = _int(prefix + name, data[name], 1 if name == "max_quantity" else 0)
    for name in ("max_notional", "price_collar_bps"):
        if data.get(name) is not None:
            values[name] = _decimal(prefix + name, data[name])
    return values


def _int(path: str, value: Any, least: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{path}: {value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    else:
        try:
            exact = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValueError(f"{path}: {value!r} is not a whole number") from None
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise ValueError(f"{path}: {value!r} is not a whole number")
        number = int(exact)
    if number < least:
        raise ValueError(f"{path}: {value!r} must be at least {least}")
    return number


def _decimal(path: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{path}: {value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{path}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{path}: {value!r} must be a finite number, zero or more")
    return number


def _rate(path: str, value: Any) -> RateLimit:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: must be a table {{rate = <per second>, burst = <count>}}")
    _refuse_unknown(value, frozenset({"rate", "burst"}), path + ".")
    if "rate" not in value:
        raise ValueError(f"{path}.rate: missing")
    rate = _decimal(path + ".rate", value["rate"])
    if rate <= 0:
        raise ValueError(f"{path}.rate: {value['rate']!r} must be greater than zero")
    # The burst defaults to one second's worth of tokens (at least one).
    burst = _int(path + ".burst", value.get("burst", max(1, math.ceil(rate))), 1)
    return RateLimit(float(rate), burst)


def _check_int(name: str, value: object, least: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name}: {value!r} must be a whole number of at least {least}")


def _check_decimal(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{name}: {value!r} must be a finite Decimal, zero or more")
