"""Offline views of a recording of a real session: timeline, one order, states at a moment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from session_harness import EUR, NS, T0, Link, px

from axorders import events as ev
from axorders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from axorders.model import cid_for
from axorders.recording import Recorder, Recording, read_records
from axorders.recording.views import (
    follow_order,
    format_ts,
    order_states,
    parse_time,
    states_at,
    timeline,
)


class RecordedLink(Link):
    """A :class:`Link` whose frames, commands and events go to a recorder."""

    recorder: Recorder

    def deliver(self, frame: bytes | str) -> list[ev.Event]:
        self.recorder.record("in", self.now, frame)
        return super().deliver(frame)

    def collect(self) -> list[ev.Event]:
        new = super().collect()
        for event in new:
            self.recorder.record("event", self.now, event)
        return new

    def send(self, command: Any) -> int | None:
        self.recorder.record("cmd", self.now, command)
        return super().send(command)

    def _apply(self, direction: str, frame: bytes) -> list[bytes]:
        if direction == "out":
            self.recorder.record("out", self.now, frame)
        return super()._apply(direction, frame)

    def connect(self, *, login: bool = True) -> None:
        self.recorder.record("connect", self.now)
        super().connect(login=login)

    def advance(self, ns: int) -> None:
        super().advance(ns)
        self.recorder.flush()  # one compressed block per step, as a flush interval makes

    def drop(self, reason: str = "connection lost") -> None:
        self.recorder.record("drop", self.now, reason)
        super().drop(reason)


class Session:
    """A recorded session: A-1 placed, partly filled, replaced, canceled; B-1 resting; a drop
    and a reconnect; then a second process (a restart) that places C-1, which is rejected."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        clock = [T0]
        link = RecordedLink()
        link.recorder = Recorder(
            folder, settings={}, instruments=[], flush_interval=60, clock=lambda: clock[0]
        )
        link.connect()
        link.pump()
        link.advance(NS)
        link.do(PlaceOrder("A-1", EUR, "BUY", 1000, price=px(-10)))
        self.a_accepted = link.now
        link.advance(NS)
        link.maker("SELL", 400, px(-10))
        self.after_fill = link.now
        link.advance(NS)
        link.do(ReplaceOrder(client_order_id="A-1", price=px(-12)))
        link.advance(NS)
        link.do(PlaceOrder("B-1", EUR, "SELL", 500, price=px(30)))
        link.advance(NS)
        link.do(CancelOrder(client_order_id="A-1"))
        link.advance(NS)
        link.reconnect()
        link.advance(NS)
        self.first = link.s.orders(include_ended=True)
        self.a = link.s.order("A-1")
        link.recorder.close()
        self.process_a = link.recorder.process
        # A restart: a new process, its own recorder, the journal restored.
        clock[0] = T0 + 3600 * NS
        second = RecordedLink(engine=link.engine, now=link.now + 3600 * NS)
        second.recorder = Recorder(
            folder, settings={}, instruments=[], flush_interval=60, clock=lambda: clock[0]
        )
        second.recorder.record("restore", second.now, [r for r in self.first if not r.external])
        second.s.restore(self.first, second.now)
        second.connect()
        second.pump()
        second.advance(NS)
        second.do(PlaceOrder("C-1", EUR, "BUY", 100, price=px(-5000)))
        second.advance(NS)
        second.recorder.close()
        self.process_b = second.recorder.process
        self.end = second.now


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("rec"))


def test_timeline(session: Session) -> None:
    lines = list(timeline(read_records(session.folder)))
    text = "\n".join(lines)
    assert (
        lines[0].startswith(format_ts(T0)) and f"process {session.process_a} started" in (lines[0])
    )
    assert sum("started" in line for line in lines) == 2
    assert f"process {session.process_b} started" in text
    assert sum(line.endswith("-- connected") for line in lines) == 3
    assert any("-- connection dropped: connection lost" in line for line in lines)
    accepted = next(line for line in lines if "OrderAccepted client_order_id=A-1" in line)
    assert accepted.startswith(format_ts(session.a_accepted) + " OrderAccepted")
    assert "OrderFilled client_order_id=A-1" in text
    assert "OrderReplaced client_order_id=A-1" in text
    assert "OrderCanceled client_order_id=A-1" in text
    assert "OrderRejected client_order_id=C-1" in text
    # No frames without -v.
    assert not any(line.startswith("    ") for line in lines)


def test_verbose_timeline_puts_frames_under_events(session: Session) -> None:
    lines = list(timeline(read_records(session.folder), verbose=True))
    index = next(i for i, line in enumerate(lines) if "OrderFilled client_order_id=A-1" in line)
    under = []
    for line in lines[index + 1 :]:
        if not line.startswith("    "):
            break
        under.append(line)
    assert under and all(line.startswith("    < ") for line in under)
    frames = [json.loads(line.split(" ", 6)[-1]) for line in under]
    assert any(frame.get("t") in ("p", "f") for frame in frames)
    # Frames are never out of order or repeated: each "in" frame shows at most once.
    records = list(read_records(session.folder))
    ins = sum(1 for r in records if r.kind == "in")
    assert sum(1 for line in lines if line.startswith("    < ")) <= ins


def test_follow_an_order_by_either_id(session: Session) -> None:
    a = session.a
    assert a is not None and a.venue_order_id and a.prior_venue_order_ids
    recording = Recording(session.folder)
    by_client = list(follow_order(recording, "A-1"))
    by_venue = list(follow_order(recording, a.prior_venue_order_ids[0]))
    by_new_venue = list(follow_order(iter(list(recording)), a.venue_order_id))
    assert by_client == by_venue == by_new_venue
    text = "\n".join(by_client)
    assert " cmd PlaceOrder client_order_id=A-1" in text
    assert " cmd CancelOrder client_order_id=A-1" in text
    out = [line for line in by_client if " > " in line]
    ins = [line for line in by_client if " < " in line]
    # The place request carries only the cid; the venue's answers carry the venue ids.
    assert any(f'"cid":{cid_for("A-1")}' in line for line in out)
    assert any(a.prior_venue_order_ids[0] in line for line in ins)
    assert any(a.venue_order_id in line for line in ins)
    for name in ("OrderAccepted", "OrderFilled", "OrderReplaced", "OrderCanceled"):
        assert f"{name} client_order_id=A-1" in text
    # Nothing of B-1 alone, and the login snapshots list A-1 only while it is open.
    assert "client_order_id=B-1" not in text
    assert not any('"cid":' + str(cid_for("B-1")) in line for line in out)


def test_follow_an_unknown_order(session: Session) -> None:
    lines = list(follow_order(Recording(session.folder), "nobody"))
    assert all(" -- " in line for line in lines)  # only the files' and connections' lines


def test_states_at(session: Session) -> None:
    recording = Recording(session.folder)
    before = {s.client_order_id: s for s in order_states(recording, T0)}
    assert before == {}
    placed = {s.client_order_id: s for s in order_states(recording, session.a_accepted)}
    assert placed["A-1"].status == "ACCEPTED" and placed["A-1"].filled == 0
    assert placed["A-1"].side == "BUY" and placed["A-1"].quantity == 1000
    assert placed["A-1"].symbol == EUR
    filled = {s.client_order_id: s for s in order_states(recording, session.after_fill)}
    assert filled["A-1"].status == "PARTIALLY_FILLED" and filled["A-1"].filled == 400
    assert filled["A-1"].last_event == "OrderFilled"
    assert "B-1" not in filled
    end = {s.client_order_id: s for s in order_states(recording, session.end)}
    assert end["A-1"].status == "CANCELED" and end["A-1"].filled == 400
    assert session.a is not None and end["A-1"].venue_order_id == session.a.venue_order_id
    assert end["B-1"].status == "ACCEPTED" and end["B-1"].side == "SELL"
    assert end["C-1"].status == "REJECTED"
    lines = list(states_at(recording, session.end))
    assert lines[0] == f"orders at {format_ts(session.end)}: {len(end)}"
    a_line = next(line for line in lines if line.startswith("A-1 "))
    assert "status=CANCELED" in a_line and "filled=400" in a_line and "quantity=1000" in a_line


def test_states_fold_a_restore(tmp_path: Path) -> None:
    from axorders.model import OrderStatus

    recorder = Recorder(tmp_path, settings={}, instruments=[], flush_interval=60)
    from test_recording_format import _record

    record = _record()
    record.status = OrderStatus.PARTIALLY_FILLED
    record.filled_qty = 3
    recorder.record("restore", 10, [record])
    recorder.close()
    (state,) = order_states(read_records(tmp_path), 10)
    assert state.client_order_id == "R-1" and state.venue_order_id == "O-9"
    assert state.status == "PARTIALLY_FILLED" and state.filled == 3 and state.side == "BUY"
    assert state.last_event == "restored"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-09-24T05:40:11", 1_790_228_411 * NS),
        ("2026-09-24T05:40:11.5Z", 1_790_228_411_500_000_000),
        ("2026-09-24T07:40:11+02:00", 1_790_228_411 * NS),
        ("1790228411", 1_790_228_411 * NS),
        ("1790228411.25", 1_790_228_411_250_000_000),
        ("1790228411934693936", 1_790_228_411_934_693_936),
    ],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text) == ns


def test_parse_time_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday")
