"""The position book: fills once by trade id, average price, realized pnl, fees, persistence,
and reconciling with the venue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axorders.events import PositionChanged, PositionMismatch
from axorders.model import Side
from axorders.risk import Position, PositionBook, venue_position

SYM = "EURUSD-PERP"
T0 = 1_700_000_000 * 1_000_000_000
D = Decimal
ONE = Decimal(1)


def fill(
    book: PositionBook,
    side: Side,
    qty: int,
    price: str,
    tid: str,
    fee: str | None = "0",
    symbol: str = SYM,
    multiplier: Decimal = ONE,
) -> PositionChanged | None:
    return book.apply_fill(
        symbol,
        side,
        qty,
        D(price),
        None if fee is None else D(fee),
        tid,
        T0,
        multiplier=multiplier,
    )


def test_an_unknown_symbol_is_flat() -> None:
    book = PositionBook()
    assert book.position(SYM) == Position(SYM, 0, D(0), D(0), D(0))
    assert book.positions() == {}


def test_partial_fills_and_increases_weight_the_average_price() -> None:
    book = PositionBook()
    changed = fill(book, Side.BUY, 100, "1.1000", "t1", fee="0.02")
    assert changed == PositionChanged(
        ts_init=T0,
        symbol=SYM,
        quantity=100,
        avg_price=D("1.1000"),
        realized_pnl=D(0),
        fees=D("0.02"),
        trade_id="t1",
    )
    fill(book, Side.BUY, 300, "1.1200", "t2", fee="0.03")
    pos = book.position(SYM)
    assert pos.quantity == 400
    assert pos.avg_price == D("1.115")  # (110 + 336) / 400
    assert pos.fees == D("0.05") and pos.realized_pnl == 0
    assert pos.last_trade_id == "t2" and pos.ts_last == T0


def test_reductions_realize_pnl_and_keep_the_average() -> None:
    book = PositionBook()
    fill(book, Side.BUY, 400, "1.1150", "t1")
    fill(book, Side.SELL, 100, "1.1250", "t2")
    pos = book.position(SYM)
    assert (pos.quantity, pos.avg_price) == (300, D("1.1150"))
    assert pos.realized_pnl == D("1.0000")  # 0.0100 x 100
    fill(book, Side.SELL, 300, "1.1050", "t3")
    pos = book.position(SYM)
    assert (pos.quantity, pos.avg_price) == (0, D(0))
    assert pos.realized_pnl == D("1.0000") - D("3.0000")


def test_a_short_gains_when_the_price_falls() -> None:
    book = PositionBook()
    fill(book, Side.SELL, 200, "2000.0", "t1", symbol="XAU-PERP", multiplier=D(10))
    fill(book, Side.SELL, 200, "2010.0", "t2", symbol="XAU-PERP", multiplier=D(10))
    pos = book.position("XAU-PERP")
    assert (pos.quantity, pos.avg_price, pos.multiplier) == (-400, D("2005.0"), D(10))
    fill(book, Side.BUY, 100, "1995.0", "t3", symbol="XAU-PERP", multiplier=D(10))
    pos = book.position("XAU-PERP")
    assert pos.quantity == -300 and pos.avg_price == D("2005.0")
    assert pos.realized_pnl == D("10000.0")  # 10 x 100 x 10
    assert pos.unrealized_pnl(D("2000.0")) == D("15000.0")  # 5 x 300 x 10


def test_a_flip_realizes_the_closing_part_and_opens_the_rest_at_the_fill_price() -> None:
    book = PositionBook()
    fill(book, Side.BUY, 100, "1.1000", "t1")
    changed = fill(book, Side.SELL, 250, "1.1100", "t2")
    assert changed is not None
    assert (changed.quantity, changed.avg_price) == (-150, D("1.1100"))
    assert changed.realized_pnl == D("1.0000")
    changed = fill(book, Side.BUY, 200, "1.1000", "t3")
    assert changed is not None
    assert (changed.quantity, changed.avg_price) == (50, D("1.1000"))
    assert changed.realized_pnl == D("1.0000") + D("1.5000")


def test_each_trade_id_is_applied_once() -> None:
    book = PositionBook()
    assert fill(book, Side.BUY, 100, "1.1000", "t1") is not None
    assert fill(book, Side.BUY, 100, "1.1000", "t1") is None
    assert fill(book, Side.BUY, 100, "1.2000", "t1", fee="5") is None  # fee was known: no change
    assert book.position(SYM).quantity == 100
    assert book.has_trade("t1", Side.BUY) and not book.has_trade("t1", Side.SELL)
    # a self-match: the same trade id on the other side is the account's other fill
    assert fill(book, Side.SELL, 100, "1.1000", "t1") is not None
    assert book.position(SYM).quantity == 0


def test_a_fee_learned_later_is_added_once() -> None:
    book = PositionBook()
    first = fill(book, Side.BUY, 100, "1.1000", "t1", fee=None)  # the WebSocket fill
    assert first is not None and first.fees == 0
    late = fill(book, Side.BUY, 100, "1.1000", "t1", fee="0.022")  # the REST fill
    assert late is not None
    assert (late.quantity, late.fees, late.trade_id) == (100, D("0.022"), "t1")
    assert fill(book, Side.BUY, 100, "1.1000", "t1", fee="0.022") is None
    assert fill(book, Side.BUY, 100, "1.1000", "t1", fee=None) is None
    assert book.position(SYM).fees == D("0.022")


def test_the_trade_ids_remembered_are_bounded_and_the_forgotten_counted() -> None:
    book = PositionBook(max_trade_ids=3)
    for i in range(5):
        fill(book, Side.BUY, 1, "1", f"t{i}")
    assert len(book) == 3 and book.forgotten == 2
    assert not book.has_trade("t1", Side.BUY) and book.has_trade("t4", Side.BUY)
    assert fill(book, Side.BUY, 1, "1", "t4") is None
    assert book.position(SYM).quantity == 5


@pytest.mark.parametrize(
    ("qty", "price", "fee", "tid", "field"),
    [
        (0, "1", "0", "t", "quantity"),
        (-1, "1", "0", "t", "quantity"),
        (1, "0", "0", "t", "price"),
        (1, "NaN", "0", "t", "price"),
        (1, "1", "Infinity", "t", "fee"),
        (1, "1", "0", "", "trade_id"),
    ],
)
def test_bad_fills_are_refused_and_change_nothing(
    qty: int, price: str, fee: str, tid: str, field: str
) -> None:
    book = PositionBook()
    with pytest.raises(ValueError, match=f"^{field}:"):
        book.apply_fill(SYM, Side.BUY, qty, D(price), D(fee), tid, T0)
    assert book.positions() == {} and len(book) == 0


def test_persistence_round_trip_keeps_positions_and_trade_ids() -> None:
    book = PositionBook(max_trade_ids=10)
    fill(book, Side.BUY, 100, "1.1000", "t1", fee=None)
    fill(book, Side.SELL, 30, "1.1100", "t2", fee="0.01")
    fill(book, Side.SELL, 2, "2000.5", "g1", symbol="XAU-PERP", multiplier=D(10))
    saved = book.to_json()
    restored = PositionBook.from_json(saved)
    assert restored.positions() == book.positions()
    assert restored.max_trade_ids == 10 and len(restored) == 3
    # replaying the journaled fills after the snapshot: the known ones are refused ...
    assert fill(restored, Side.SELL, 30, "1.1100", "t2", fee="0.01") is None
    # ... a fee still pending is added once ...
    late = fill(restored, Side.BUY, 100, "1.1000", "t1", fee="0.02")
    assert late is not None and late.fees == D("0.03")
    # ... and the new ones applied.
    assert fill(restored, Side.SELL, 70, "1.1200", "t3") is not None
    assert restored.position(SYM).quantity == 0
    assert restored.to_json() != saved
    assert PositionBook.from_json(saved.decode()).positions() == book.positions()


def test_a_restore_may_lower_the_bound() -> None:
    book = PositionBook(max_trade_ids=10)
    for i in range(6):
        fill(book, Side.BUY, 1, "1", f"t{i}")
    restored = PositionBook.from_json(book.to_json(), max_trade_ids=4)
    assert len(restored) == 4 and restored.forgotten == 2
    assert not restored.has_trade("t1", Side.BUY) and restored.has_trade("t2", Side.BUY)


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"format": 2, "max_trade_ids": 5}', b'{"format": 1, "max_trade_ids": 0}'],
)
def test_a_bad_saved_book_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        PositionBook.from_json(data)


def test_reconcile_adopts_the_venue_figures_where_they_differ() -> None:
    book = PositionBook()
    fill(book, Side.BUY, 100, "1.1000", "t1")  # agrees with the venue
    fill(book, Side.SELL, 5, "2000.0", "g1", symbol="XAU-PERP")  # the venue says -7
    fill(book, Side.BUY, 10, "30.00", "s1", symbol="XAG-PERP")  # the venue does not list it
    mismatches = book.reconcile(
        {
            SYM: (100, D("1.100000000000")),
            "XAU-PERP": (-7, D("2001.0")),
            "JPYUSD-PERP": (10000, None),
        },
        T0 + 1,
    )
    assert mismatches == [
        PositionMismatch(
            ts_init=T0 + 1,
            symbol="JPYUSD-PERP",
            quantity=0,
            avg_price=D(0),
            venue_quantity=10000,
            venue_avg_price=None,
        ),
        PositionMismatch(
            ts_init=T0 + 1,
            symbol="XAG-PERP",
            quantity=10,
            avg_price=D("30.00"),
            venue_quantity=0,
            venue_avg_price=None,
        ),
        PositionMismatch(
            ts_init=T0 + 1,
            symbol="XAU-PERP",
            quantity=-5,
            avg_price=D("2000.0"),
            venue_quantity=-7,
            venue_avg_price=D("2001.0"),
        ),
    ]
    positions = book.positions()
    assert (positions["XAU-PERP"].quantity, positions["XAU-PERP"].avg_price) == (-7, D("2001.0"))
    assert (positions["XAG-PERP"].quantity, positions["XAG-PERP"].avg_price) == (0, D(0))
    assert positions["JPYUSD-PERP"].quantity == 10000
    assert positions["JPYUSD-PERP"].avg_price == 0  # unknown: the venue gave none
    assert positions[SYM].quantity == 100
    # now they agree
    assert (
        book.reconcile(
            {SYM: (100, None), "XAU-PERP": (-7, D("2001.0")), "JPYUSD-PERP": (10000, None)}, T0
        )
        == []
    )


def test_reconcile_compares_average_prices_within_the_tolerance() -> None:
    book = PositionBook()
    fill(book, Side.BUY, 3, "1.0000", "t1")
    fill(book, Side.BUY, 3, "1.0001", "t2")  # 1.00005
    assert book.reconcile({SYM: (6, D("1.000050"))}, T0) == []
    assert book.reconcile({SYM: (6, D("1.0000509"))}, T0) == []
    [mismatch] = book.reconcile({SYM: (6, D("1.0000600"))}, T0)
    assert mismatch.quantity == mismatch.venue_quantity == 6
    assert book.position(SYM).avg_price == D("1.0000600")
    # realized pnl and fees stay ours
    assert book.position(SYM).realized_pnl == 0


def test_reconcile_without_a_venue_price_keeps_ours_on_the_same_side() -> None:
    book = PositionBook()
    fill(book, Side.BUY, 10, "5.0", "t1")
    [mismatch] = book.reconcile({SYM: (12, None)}, T0)
    assert book.position(SYM).avg_price == D("5.0") and book.position(SYM).quantity == 12
    assert str(mismatch) == (
        "PositionMismatch symbol=EURUSD-PERP quantity=10 avg_price=5.0 venue_quantity=12"
    )


def test_venue_position_reads_the_cost_basis() -> None:
    assert venue_position(-300, D("-3415.500000000000")) == (-300, D("11.385"))
    assert venue_position(2, D("40000"), D(10)) == (2, D(2000))
    assert venue_position(0, D(0)) == (0, None)


def test_position_changed_prints_on_one_line() -> None:
    book = PositionBook()
    changed = fill(book, Side.SELL, 100, "1.1000", "t-9", fee="0.022")
    assert str(changed) == (
        "PositionChanged symbol=EURUSD-PERP quantity=-100 avg_price=1.1000 realized_pnl=0"
        " fees=0.022 trade_id=t-9"
    )
