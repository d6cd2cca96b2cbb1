"""The messages of one socket read are received together and pumped once.

picows hands over every message of a read before the loop runs anything else; the client
receives them all into the session and moves the session's output on (events to user code,
records to the journal, frames to the socket) once, after the read. Nothing of the guarantees
changes: events keep their order, a fill is handed to user code before its record is
journaled, and a command issued before the read's pump sees the read's events first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal

import picows
from client_helpers import MARK, SYMBOL, TICK, client_for, wait_until

from axorders import events as ev
from axorders.client import OrdersClient
from axorders.client.listener import Listener
from axorders.model import cid_for
from axorders.sim import SimServer
from axorders.sim.instruments import default_instruments
from axorders.state import OrderRecord
from axorders.store import MemoryOrderStore

FAR = MARK - 100 * TICK


async def test_a_flood_reaches_user_code_in_order_with_fewer_pumps_than_messages(
    sim: SimServer,
) -> None:
    seen: list[str] = []

    def on_event(event: ev.Event) -> None:
        if type(event) is ev.OrderFilled:
            seen.append(event.trade_id)

    async with client_for(sim, on_event=on_event) as client:
        for i in range(4):
            await client.place_order(f"fl-{i}", SYMBOL, "BUY", 10_000, FAR)
        pumps = 0
        pump = client._pump

        def counted() -> None:
            nonlocal pumps
            pumps += 1
            pump()

        client._pump = counted  # type: ignore[method-assign]
        count = 3000
        read: list[str] = []
        reader = client.events()
        assert sim.flood(count) == count
        async with asyncio.timeout(10):
            async for event in reader:
                if type(event) is ev.OrderFilled:
                    read.append(event.trade_id)
                    if len(read) == count:
                        break
        await reader.aclose()
        # Every fill, in the order the venue sent them, the same to on_event and events().
        assert read == seen
        assert read == sorted(read) and len(set(read)) == count
        # Messages that came in one read went through one pump.
        assert pumps < count


class _Frame:
    """A text frame as picows hands it to the listener."""

    def __init__(self, data: bytes) -> None:
        self.msg_type = picows.WSMsgType.TEXT
        self.fin = True
        self._data = data

    def get_payload_as_bytes(self) -> bytes:
        return self._data


class _Transport:
    """Collects the frames the client sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, kind: object, data: bytes) -> None:
        self.sent.append(data)

    def send_close(self, code: object = None) -> None:
        return

    def disconnect(self) -> None:
        return

    async def wait_disconnected(self) -> None:
        return


class _WatchingStore(MemoryOrderStore):
    """Notes every trade id that reached the journal before ``on_event`` had its fill."""

    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen
        self.early: list[str] = []

    def save(self, records: Iterable[OrderRecord]) -> None:
        records = list(records)
        for rec in records:
            self.early.extend(tid for tid in rec.trade_ids if tid not in self.seen)
        super().save(records)


def _order(rid: int, oid: str, cid: int, filled: int) -> tuple[bytes, bytes, bytes]:
    """The venue's answer to a place, its ack and a fill of ``filled`` contracts."""
    body = (
        b'"o":{"oid":"%s","u":"U-1","s":"EURUSD-PERP","p":"1.1000","q":200,"xq":%d,'
        b'"rq":%d,"o":"%s","d":"B","tif":"GTC","cid":%d,"po":false,"ts":1795001300,"tn":0}'
    )
    ack = body % (oid.encode(), 0, 200, b"ACCEPTED", cid)
    part = body % (oid.encode(), filled, 200 - filled, b"PARTIALLY_FILLED", cid)
    return (
        b'{"rid":%d,"res":{"oid":"%s"}}' % (rid, oid.encode()),
        b'{"t":"n","ts":1795001300,"tn":0,"eid":"E-1",%s}' % ack,
        b'{"t":"p","ts":1795001300,"tn":1,"eid":"E-2",%s,"xs":{"tid":"T-B-1",'
        b'"s":"EURUSD-PERP","q":%d,"p":"1.1000","d":"B","agg":false}}' % (part, filled),
    )


async def test_a_command_before_the_reads_pump_sees_the_read_first() -> None:
    order: list[str] = []
    filled: set[str] = set()

    def on_event(event: ev.Event) -> None:
        order.append(type(event).__name__)
        if type(event) is ev.OrderFilled:
            filled.add(event.trade_id)

    store = _WatchingStore(filled)
    client = OrdersClient(
        "http://127.0.0.1:9",
        token="t",
        account_id="A",
        instruments=default_instruments(),
        store=store,
        on_event=on_event,
    )
    listener = Listener(client.connection, client.connection.max_message_size)
    transport = _Transport()
    listener.on_ws_connected(transport)  # type: ignore[arg-type]
    login = _Frame(b'{"rid":0,"res":{"li":"U-1","o":[]}}')
    listener.on_ws_frame(transport, login)  # type: ignore[arg-type]
    await wait_until(client.connection.login.is_set)
    rid = await client.submit_order("b-1", SYMBOL, "BUY", 200, Decimal("1.1000"))
    assert rid is not None
    sent = len(transport.sent)
    # One read: the place's answer, its ack and a fill. Before the loop pumps the read, the
    # caller sends a cancel (submit_cancel runs to its end without yielding).
    for data in _order(rid, "O-B-1", cid_for("b-1"), 4):
        listener.on_ws_frame(transport, _Frame(data))  # type: ignore[arg-type]
    assert order.count("OrderFilled") == 0  # received, not pumped yet
    cancel = await client.submit_cancel("b-1")
    # The read's events came first, the fill reached on_event before the journal, and the
    # cancel went out after them.
    assert order.index("OrderAccepted") < order.index("OrderFilled")
    assert "T-B-1" in filled
    assert store.early == []
    assert len(transport.sent) == sent + 1 and b'"rid":%d' % cancel in transport.sent[-1]
    rec = client.order("b-1")
    assert rec is not None and rec.filled_qty == 4
    await asyncio.sleep(0)  # the read's own pump finds nothing left to do
    assert order.count("OrderFilled") == 1
    await client.close(timeout=1.0)  # every task it started ends, every HTTP session closes
