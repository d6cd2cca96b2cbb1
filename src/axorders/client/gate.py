"""The one door into the session: every input the client gives it passes here, with its ``now``.

The session (:class:`~axorders.session.OrdersSession`) and the STOP_LIMIT triggers
(:class:`~axorders.client.stops.StopTriggers`) are deterministic functions of their inputs:
commands, frames from the venue, ticks, connects and drops, REST answers, what the journal
restored, and market prices. :class:`SessionGate` is the only object of the client that feeds
them. Each input is handed to the recorder first (when one is attached), so a recording holds
everything needed to replay the session exactly (see :mod:`axorders.replay`). Reading the
session's state and taking its output (frames, events, changed records) are not inputs and do
not pass here.

The gate owns no state of its own but the recorder; with none attached every input costs one
attribute test.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from axorders.client.stops import StopTriggers
from axorders.commands import Command, PlaceOrder
from axorders.model import Instrument, RequestId, Side
from axorders.recording.format import encode_value
from axorders.session import OrdersSession
from axorders.state import OrderRecord
from axorders.wire.orders import StatusBody
from axorders.wire.rest import FillInfo

__all__ = ["InputSink", "SessionGate"]


class InputSink(Protocol):
    """Where the gate reports each input (a recorder): never raises, never blocks."""

    def record(self, kind: str, ts: int, payload: object = None, /, **fields: object) -> None: ...

    def record_frame(self, kind: str, ts: int, data: bytes, /) -> None: ...


class SessionGate:
    """Every input to the session and its stop triggers (see the module's docstring)."""

    __slots__ = ("session", "sink", "stops")

    def __init__(
        self, session: OrdersSession, stops: StopTriggers, sink: InputSink | None = None
    ) -> None:
        self.session = session
        self.stops = stops
        self.sink = sink

    # The connection.

    def receiver(self) -> Callable[[bytes, int], None]:
        """What takes the venue's messages: the session's own ``receive`` when nothing
        records (one call less per message on the hot path), else :meth:`receive`'s work in
        one closure."""
        sink = self.sink
        session_receive = self.session.receive
        if sink is None:
            return session_receive
        record_frame = sink.record_frame

        def receive(data: bytes, now: int) -> None:
            record_frame("in", now, data)
            session_receive(data, now)

        return receive

    def receive(self, data: bytes, now: int) -> None:
        """A message from the venue, exactly as received."""
        sink = self.sink
        if sink is not None:
            sink.record_frame("in", now, data)
        self.session.receive(data, now)

    def connection_made(self, now: int) -> None:
        if self.sink is not None:
            self.sink.record("connect", now)
        self.session.connection_made(now)

    def connection_lost(self, now: int, reason: str) -> None:
        if self.sink is not None:
            self.sink.record("drop", now, reason=reason)
        self.session.connection_lost(now, reason)

    def set_account(self, now: int, account_id: str) -> None:
        """The venue named the account (REST or its login snapshot), when none was given."""
        if self.sink is not None:
            self.sink.record("account", now, account_id=account_id)
        self.session.account_id = account_id

    def tick(self, now: int) -> None:
        """The timer: requests past their deadline end (a tick with none due does nothing,
        and is not recorded)."""
        sink = self.sink
        session = self.session
        if sink is not None:
            due = session.next_deadline()
            if due is not None and due <= now:
                sink.record("tick", now)
        session.tick(now)

    def cache_instrument(self, now: int, instrument: Instrument) -> None:
        if self.sink is not None:
            self.sink.record("instrument", now, instrument)
        self.session.cache_instrument(instrument)

    def extend_deadlines(self, now: int, delta_ns: int) -> None:
        """Reading was paused for ``delta_ns``: the answers' deadlines move on by as much."""
        if self.sink is not None:
            self.sink.record("pause", now, delta_ns=delta_ns)
        self.session.extend_deadlines(delta_ns)

    # Commands.

    def send(self, command: Command, now: int) -> RequestId | None:
        if self.sink is not None:
            self.sink.record("cmd", now, command)
        return self.session.send(command, now)

    def withdraw(
        self, mark: tuple[int, int], now: int, text: str, place: str | None
    ) -> OrderRecord | None:
        """The journal could not be written: the command's frames are taken back."""
        if self.sink is not None:
            self.sink.record("withdraw", now, mark=list(mark), text=text, place=place)
        return self.session.withdraw(mark, now, text, place=place)

    def reject(self, command: PlaceOrder, reason: str, text: str, now: int) -> None:
        """A place refused before the wire (a MARKET order with no liquidity)."""
        if self.sink is not None:
            self.sink.record("reject", now, command, reason=reason, text=text)
        self.session.reject(command, reason, text, now)

    def register_external_order(
        self,
        now: int,
        *,
        client_order_id: str,
        venue_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: int,
        price: Decimal | str,
        strategy_id: str | None,
        filled_qty: int,
        cid: int | None = None,
    ) -> OrderRecord:
        if self.sink is not None:
            self.sink.record(
                "external",
                now,
                client_order_id=client_order_id,
                venue_order_id=venue_order_id,
                symbol=symbol,
                side=str(getattr(side, "value", side)),
                quantity=quantity,
                price=str(price),
                strategy_id=strategy_id,
                filled_qty=filled_qty,
                cid=cid,
            )
        return self.session.register_external_order(
            client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            strategy_id=strategy_id,
            filled_qty=filled_qty,
            now=now,
            cid=cid,
        )

    # The journal and REST.

    def restore(self, records: list[OrderRecord], now: int) -> int:
        """What the journal held at start."""
        if self.sink is not None:
            # Encoded now: the records change as the session goes on.
            self.sink.record("restore", now, encode_value(records))
        return self.session.restore(records, now)

    def receive_fills(self, fills: list[FillInfo], now: int, *, final: bool = False) -> int:
        if self.sink is not None:
            self.sink.record("rest", now, fills, call="fills", final=final)
        return self.session.receive_fills(fills, now, final=final)

    def receive_rest_status(
        self,
        request_id: int,
        status: StatusBody | None,
        now: int,
        *,
        code: int | None,
        message: str,
    ) -> None:
        if self.sink is not None:
            self.sink.record(
                "rest", now, status, call="status", request_id=request_id, code=code,
                message=message,
            )
        self.session.receive_rest_status(request_id, status, now, code=code, message=message)

    def receive_rest_cancel_all(
        self, request_id: int, now: int, *, code: int | None, message: str
    ) -> None:
        if self.sink is not None:
            self.sink.record(
                "rest", now, None, call="cancel_all", request_id=request_id, code=code,
                message=message,
            )
        self.session.receive_rest_cancel_all(request_id, now, code=code, message=message)

    # Market prices for the STOP_LIMIT triggers.

    def update_market(
        self,
        symbol: str,
        now: int,
        *,
        last: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
    ) -> None:
        if self.sink is not None:
            self.sink.record(
                "price",
                now,
                symbol=symbol,
                last=None if last is None else str(last),
                bid=None if bid is None else str(bid),
                ask=None if ask is None else str(ask),
            )
        self.stops.update_market(symbol, now, last=last, bid=bid, ask=ask)

    def check_stop(self, client_order_id: str, now: int) -> None:
        """A STOP_LIMIT just armed: a price already known may cross its trigger."""
        if self.sink is not None:
            self.sink.record("check_stop", now, client_order_id=client_order_id)
        self.stops.check(client_order_id, now)

