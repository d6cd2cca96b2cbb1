"""The simulator's instruments: a small default set, and loading a set from a file.

The default contracts use the venue's published parameters (tick size, minimum order size,
initial and maintenance margin, price bands, category) as listed by the AX sandbox's
``GET /api/instruments``. ``US500-PERP`` and ``USDJPY-PERP`` are not listed there; their
parameters are chosen by the simulator (a 0.25 tick like the index futures, and a 0.001 tick
with the FX minimum of 100). Starting marks are realistic levels, not live prices.

A file in the REST shape (``{"instruments": [...]}``, as served by ``/api/instruments``) can
replace the defaults: :func:`load_instruments`. Marks for symbols without a default come from
:func:`fallback_mark` unless given explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Final

from axorders.model import Instrument
from axorders.wire.rest import InstrumentInfo, InstrumentsResponse, decode_rest

__all__ = [
    "DEFAULT_MARKS",
    "default_instruments",
    "fallback_mark",
    "instruments_response",
    "load_instruments",
    "marks_for",
]

D = Decimal


def _contract(
    symbol: str,
    *,
    tick: str,
    minimum: int,
    im: str,
    mm: str,
    category: str,
    description: str,
) -> Instrument:
    tick_size = D(tick)
    return Instrument(
        symbol=symbol,
        tick_size=tick_size,
        minimum_order_size=minimum,
        price_precision=Instrument.precision_of(tick_size),
        price_band_lower_pct=D(10),
        price_band_upper_pct=D(10),
        quote_currency="USD",
        multiplier=D(1),
        initial_margin_pct=D(im),
        maintenance_margin_pct=D(mm),
        category=category,
        state="OPEN",
        description=description,
    )


_DEFAULTS: Final = (
    _contract(
        "EURUSD-PERP",
        tick="0.0001",
        minimum=100,
        im="6.0",
        mm="4.0",
        category="fx",
        description="Euro / US Dollar FX Perpetual Future",
    ),
    _contract(
        "GBPUSD-PERP",
        tick="0.0001",
        minimum=100,
        im="6.0",
        mm="4.0",
        category="fx",
        description="British Pound / US Dollar FX Perpetual Future",
    ),
    _contract(
        "USDJPY-PERP",
        tick="0.001",
        minimum=100,
        im="6.0",
        mm="4.0",
        category="fx",
        description="US Dollar / Japanese Yen FX Perpetual Future",
    ),
    _contract(
        "XAU-PERP",
        tick="0.1",
        minimum=1,
        im="12.5",
        mm="7.5",
        category="metals",
        description="Gold Metals Perpetual Future",
    ),
    _contract(
        "XAG-PERP",
        tick="0.01",
        minimum=1,
        im="25",
        mm="15",
        category="metals",
        description="Silver Metals Perpetual Future",
    ),
    _contract(
        "US500-PERP",
        tick="0.25",
        minimum=1,
        im="15.0",
        mm="10.0",
        category="equities",
        description="US 500 Index Perpetual Future",
    ),
    _contract(
        "NVDA-PERP",
        tick="0.01",
        minimum=1,
        im="17.5",
        mm="10",
        category="equities",
        description="NVIDIA Corp US Equity Perpetual Future",
    ),
)

DEFAULT_MARKS: Final[Mapping[str, Decimal]] = {
    "EURUSD-PERP": D("1.1388"),
    "GBPUSD-PERP": D("1.3257"),
    "USDJPY-PERP": D("148.250"),
    "XAU-PERP": D("3650.0"),
    "XAG-PERP": D("65.48"),
    "US500-PERP": D("6600.00"),
    "NVDA-PERP": D("180.00"),
}
"""Starting marks of the default instruments."""


def default_instruments() -> list[Instrument]:
    """The simulator's default contracts (new list each call)."""
    return list(_DEFAULTS)


def fallback_mark(instrument: Instrument) -> Decimal:
    """A starting mark for an instrument without one: 10 000 ticks (``0.01`` -> ``100.00``)."""
    return (instrument.tick_size * 10_000).quantize(instrument.tick_size)


def marks_for(
    instruments: Iterable[Instrument], overrides: Mapping[str, Decimal] | None = None
) -> dict[str, Decimal]:
    """Starting marks: ``overrides``, else :data:`DEFAULT_MARKS`, else :func:`fallback_mark`."""
    given = overrides or {}
    result: dict[str, Decimal] = {}
    for instrument in instruments:
        mark = given.get(instrument.symbol, DEFAULT_MARKS.get(instrument.symbol))
        result[instrument.symbol] = mark if mark is not None else fallback_mark(instrument)
    return result


def load_instruments(source: str | Path | bytes) -> list[Instrument]:
    """Instruments from a file (or bytes) in the REST shape ``{"instruments": [...]}``.

    Raises:
        RemoteProtocolError: the content is not that shape.
        OSError: the file cannot be read.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    response = decode_rest(data, InstrumentsResponse)
    return [info.to_instrument() for info in response.instruments]


def instruments_response(instruments: Iterable[Instrument]) -> InstrumentsResponse:
    """The ``GET /api/instruments`` body for ``instruments``."""
    return InstrumentsResponse(
        instruments=[InstrumentInfo.from_instrument(instrument) for instrument in instruments]
    )
