"""Cases the session state machine found, replayed step by step (each failed before its fix).

All four lose a replace's ``r``, some also a fill, and end with the state machine's quiet
resync, whose checks (the session agrees with the venue on every order, every fill delivered)
must hold.
"""

from __future__ import annotations

from typing import Any

from test_session_state import ACCOUNT, SessionMachine


class _Draw:
    """Stands for hypothesis' ``data``: hands out the given values in turn."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: object, label: object = None) -> Any:
        return self.values.pop(0)


class _OpenOrder:
    """Draws the venue's open order whose id ends with ``suffix``."""

    def __init__(self, machine: SessionMachine, suffix: str) -> None:
        self.machine = machine
        self.suffix = suffix

    def draw(self, strategy: object, label: object = None) -> Any:
        for order in self.machine.link.engine.open_orders(ACCOUNT):
            if order.venue_order_id.endswith(self.suffix):
                return order
        raise AssertionError(f"no open order ending with {self.suffix}")


def _machine(fresh: bool) -> SessionMachine:
    machine = SessionMachine()
    machine.start(fresh=fresh)
    return machine


def _done(machine: SessionMachine) -> None:
    machine.maps_are_one_to_one()
    machine.teardown()


def test_a_fill_missed_before_an_unseen_fresh_replacement_joins_its_base() -> None:
    m = _machine(fresh=True)
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.fault(action="lose", direction="in", what="fill")
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.fault(action="lose", direction="in", what="replace")
    m.replace(data=_Draw("f1"), lots=None, offset=0)  # type: ignore[arg-type]
    _done(m)


def test_an_unseen_fresh_replacement_keeps_the_base_it_replaced() -> None:
    m = _machine(fresh=True)
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.fault(action="lose", direction="in", what="fill")
    m.replace_after_a_partial_fill(lots=2, offset=1, side="SELL")
    m.place_errs_then_happens()
    m.cancel(data=_Draw("f1"))  # type: ignore[arg-type]
    m.fault(action="lose", direction="in", what="replace")
    m.replace(data=_Draw("f2"), lots=None, offset=0)  # type: ignore[arg-type]
    _done(m)


def test_an_order_ended_before_its_replacement_is_seen_leaves_no_id_behind() -> None:
    m = _machine(fresh=False)
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.day_ends()
    m.day_ends()
    m.fault(action="lose", direction="in", what="fill")
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.fault(action="lose", direction="in", what="replace")
    m.day_ends()
    m.drop()
    m.venue_cancels(data=_OpenOrder(m, "04"))  # type: ignore[arg-type]
    m.reconnect()
    m.day_ends()
    m.day_ends()
    m.day_ends()
    m.venue_cancels(data=_OpenOrder(m, "0D"))  # type: ignore[arg-type]
    m.cancel(data=_Draw("f1"))  # type: ignore[arg-type]
    m.day_ends()
    m.replace_after_a_partial_fill(lots=3, offset=1, side="BUY")
    m.another_session_places(offset=0, side="BUY")
    m.day_ends()
    m.day_ends()
    m.drop()
    m.counterparty(lots=2, offset=0, side="SELL")
    m.fills_arrive()
    _done(m)


def test_a_rest_fill_of_an_unseen_replacement_moves_the_order_to_it() -> None:
    m = _machine(fresh=False)
    m.counterparty(lots=1, offset=0, side="BUY")
    m.fault(action="lose", direction="in", what="replace")
    m.replace_after_a_partial_fill(lots=2, offset=0, side="BUY")
    m.replace(data=_Draw("f1"), lots=None, offset=0)  # type: ignore[arg-type]
    m.another_session_places(offset=0, side="BUY")
    m.drop()
    m.counterparty(lots=3, offset=0, side="SELL")
    _done(m)
