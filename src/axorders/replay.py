"""Replay a recording: its inputs and outputs in order, and a check that a fresh session does
exactly what the recorded one did.

The session is a deterministic function of its inputs, and the client's recorder
(``OrdersClient(record=DIR)``) writes every input at the one door into the session (its
:class:`~axorders.client.gate.SessionGate`) together with what came out: the frames sent to the
venue and the events handed to user code. So a recording replays offline::

    from axorders.replay import check, inputs, outputs

    result = check("recordings/")            # a file, several, or a folder
    assert result.ok, result.describe()       # every frame and event as recorded

    for step in inputs("recordings/"):        # what went in, typed
        print(step.kind, step.ts, step.value)

:func:`check` feeds each process's inputs (a recording may hold several processes, across a
restart on the same journal) into a fresh :class:`~axorders.session.OrdersSession` built with
the recorded settings, and compares what it produces with what was recorded, output by output.
The first difference is a :class:`Divergence`: the input that led to it, the recorded output
and what the session produces now.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from axorders import events as ev
from axorders.client.stops import StopTriggers
from axorders.exceptions import AxOrdersError, RecordingError
from axorders.model import TriggerSource
from axorders.recording import Record, decode_value, default_registry, encode_value, read_records
from axorders.recording.format import tagged_json
from axorders.session import OrdersSession

__all__ = ["CheckResult", "Divergence", "Step", "check", "inputs", "outputs"]

Paths = str | Path | Iterable[str | Path]

INPUT_KINDS: Final = frozenset(
    {
        "in",
        "cmd",
        "tick",
        "connect",
        "drop",
        "account",
        "pause",
        "withdraw",
        "reject",
        "external",
        "restore",
        "rest",
        "instrument",
        "price",
        "check_stop",
    }
)
"""The kinds of record that are inputs to the session (the others are outputs or notes)."""

OUTPUT_KINDS: Final = frozenset({"out", "event"})


@dataclass(frozen=True, slots=True)
class Step:
    """One input or output of a recording, decoded.

    Attributes:
        kind: the record's kind (``in``, ``cmd``, ``out``, ``event``...).
        ts: its time, Unix ns.
        value: the typed payload (the frame's text, the command, the event...).
        record: the record as read.
    """

    kind: str
    ts: int
    value: Any
    record: Record


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where a fresh session first did otherwise than the recorded one."""

    input: Record | None
    recorded: Record | None
    produced: str | None

    def describe(self) -> str:
        def where(rec: Record | None) -> str:
            if rec is None:
                return "(none)"
            return f"{Path(rec.file).name}:{rec.line} {rec.kind} {_short(rec.fields)}"

        return (
            f"input:    {where(self.input)}\n"
            f"recorded: {where(self.recorded)}\n"
            f"now:      {self.produced if self.produced is not None else '(nothing)'}"
        )


@dataclass(slots=True)
class CheckResult:
    """What :func:`check` found."""

    inputs: int = 0
    outputs: int = 0
    processes: int = 0
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.divergences

    def lines(self) -> list[str]:
        """The report, one line each (what ``axorders replay --check`` prints)."""
        return self.describe().splitlines()

    def describe(self) -> str:
        head = f"replay: {self.inputs} inputs, {len(self.divergences)} divergences"
        if self.ok:
            return head
        return f"{head}\nfirst divergence:\n{self.divergences[0].describe()}"


def _records(source: Paths | Iterable[Record]) -> Iterator[Record]:
    """Records from paths (a file, several, a folder) or records already read (streamed)."""
    if isinstance(source, str | Path):
        yield from read_records(source)
        return
    items = iter(source)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first, Record):
        yield first
        yield from items  # type: ignore[misc]
    else:
        yield from read_records([first, *items])  # type: ignore[list-item]


def inputs(source: Paths | Iterable[Record]) -> Iterator[Step]:
    """The inputs of a recording, in order, with their typed payloads."""
    registry = default_registry()
    for rec in _records(source):
        if rec.kind in INPUT_KINDS:
            yield Step(rec.kind, rec.ts, _payload(rec, registry), rec)


def outputs(source: Paths | Iterable[Record]) -> Iterator[Step]:
    """The outputs of a recording (frames sent, events handed over), in order."""
    registry = default_registry()
    for rec in _records(source):
        if rec.kind in OUTPUT_KINDS:
            yield Step(rec.kind, rec.ts, _payload(rec, registry), rec)


def _payload(rec: Record, registry: dict[str, type]) -> Any:
    fields = rec.fields
    kind = rec.kind
    if kind in ("in", "out", "md"):
        return _text(fields.get("data"))
    if kind == "event":
        return decode_value(fields.get("event"), registry)
    if kind == "cmd":
        return decode_value(fields.get("command"), registry)
    if kind == "restore":
        return decode_value(fields.get("records"), registry)
    if kind == "rest":
        return decode_value(fields.get("args"), registry)
    return decode_value(fields.get("payload"), registry)


def _text(data: Any) -> str:
    if isinstance(data, str):
        return data
    value = decode_value(data)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _short(fields: dict[str, Any], limit: int = 200) -> str:
    shown = {k: v for k, v in fields.items() if k not in ("ts", "kind")}
    text = str(shown)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Replayer:
    """One process's session, rebuilt from its header and fed its inputs."""

    def __init__(self, header: Record, registry: dict[str, type]) -> None:
        settings = header.fields.get("settings") or {}
        session_settings = settings.get("session") or {}
        instruments = decode_value(header.fields.get("instruments") or [], registry)
        self.registry = registry
        self.session = OrdersSession(
            account_id=str(session_settings.get("account_id", "")),
            trader_id=str(session_settings.get("trader_id", "TRADER-001")),
            strategy_id=str(session_settings.get("strategy_id", "DEFAULT")),
            instruments=instruments,
            request_timeout_ns=int(session_settings.get("request_timeout_ns", 10 * 10**9)),
            track_changes=bool(session_settings.get("track_changes", False)),
        )
        source = session_settings.get("trigger_source", TriggerSource.LAST_TRADE.value)
        self.stops = StopTriggers(self.session, TriggerSource(source))
        self.process = header.fields.get("process")
        self.events: deque[ev.Event] = deque()
        self.frames: deque[bytes] = deque()
        self.clean_end = False

    def feed(self, rec: Record) -> None:
        """Apply one input, as the client did; the session's events are collected."""
        session = self.session
        fields = rec.fields
        ts = rec.ts
        kind = rec.kind
        with contextlib.suppress(AxOrdersError, ValueError):
            # An input the recorded session refused (bad input) is refused again.
            self._apply(kind, ts, fields, rec)
        self.events.extend(session.events_received())
        session.take_changed()

    def _apply(self, kind: str, ts: int, fields: dict[str, Any], rec: Record) -> None:
        session = self.session
        registry = self.registry
        if kind == "in":
            session.receive(_text(fields.get("data")).encode(), ts)
        elif kind == "tick":
            session.tick(ts)
        elif kind == "connect":
            session.connection_made(ts)
        elif kind == "drop":
            session.connection_lost(ts, str(fields.get("reason") or "connection lost"))
        elif kind == "account":
            session.account_id = str(fields.get("account_id", ""))
        elif kind == "pause":
            session.extend_deadlines(int(fields.get("delta_ns", 0)))
        elif kind == "cmd":
            session.send(decode_value(fields.get("command"), registry), ts)
        elif kind == "withdraw":
            mark = fields.get("mark") or [0, 0]
            session.withdraw(
                (int(mark[0]), int(mark[1])),
                ts,
                str(fields.get("text", "")),
                place=fields.get("place"),
            )
        elif kind == "reject":
            command = decode_value(fields.get("payload"), registry)
            session.reject(command, str(fields.get("reason")), str(fields.get("text")), ts)
        elif kind == "external":
            session.register_external_order(
                client_order_id=str(fields["client_order_id"]),
                venue_order_id=str(fields["venue_order_id"]),
                symbol=str(fields["symbol"]),
                side=str(fields["side"]),
                quantity=int(fields["quantity"]),
                price=Decimal(str(fields["price"])),
                strategy_id=fields.get("strategy_id"),
                filled_qty=int(fields.get("filled_qty", 0)),
                now=ts,
                cid=None if fields.get("cid") is None else int(fields["cid"]),
            )
        elif kind == "restore":
            session.restore(decode_value(fields.get("records") or [], registry), ts)
        elif kind == "rest":
            self._rest(fields, ts)
        elif kind == "instrument":
            session.cache_instrument(decode_value(fields.get("payload"), registry))
        elif kind == "price":
            self.stops.update_market(
                str(fields["symbol"]),
                ts,
                last=_decimal(fields.get("last")),
                bid=_decimal(fields.get("bid")),
                ask=_decimal(fields.get("ask")),
            )
        elif kind == "check_stop":
            self.stops.check(str(fields["client_order_id"]), ts)

    def _rest(self, fields: dict[str, Any], ts: int) -> None:
        session = self.session
        call = fields.get("call")
        args = decode_value(fields.get("args"), self.registry)
        code = fields.get("code")
        message = str(fields.get("message", ""))
        if call == "fills":
            session.receive_fills(list(args or []), ts, final=bool(fields.get("final", False)))
        elif call == "status":
            session.receive_rest_status(
                int(fields["request_id"]), args, ts, code=code, message=message
            )
        elif call == "cancel_all":
            session.receive_rest_cancel_all(
                int(fields["request_id"]), ts, code=code, message=message
            )

    def next_frame(self) -> bytes | None:
        if not self.frames:
            self.frames.extend(self.session.frames_to_send())
        return self.frames.popleft() if self.frames else None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _as_json(value: Any) -> Any:
    """An event as the recording holds it (encoded as the recorder does, through JSON and
    back)."""
    return msgspec.json.decode(tagged_json(value))


def _event_text(event: ev.Event) -> str:
    return str(encode_value(event))


def check(source: Paths | Iterable[Record]) -> CheckResult:
    """Feed the recorded inputs into fresh sessions and compare what they produce (frames out,
    the session's events) with what was recorded.

    Raises:
        RecordingError: the recording cannot be read (not one, damaged before its first
            record, or of a newer format).
    """
    registry = default_registry()
    result = CheckResult()
    replayer: _Replayer | None = None
    last_input: Record | None = None

    def finish() -> None:
        # A process that ended cleanly has recorded every output; one cut short (killed)
        # may have lost the last outputs of the last inputs, which is no divergence.
        if replayer is None or result.divergences or not replayer.clean_end:
            return
        if replayer.events:
            extra = replayer.events[0]
            result.divergences.append(Divergence(last_input, None, f"event {extra}"))

    for rec in _records(source):
        kind = rec.kind
        if kind == "header":
            if replayer is not None and rec.fields.get("process") == replayer.process:
                continue  # the next file of the same process: its session goes on
            finish()
            if result.divergences:
                break
            replayer = _Replayer(rec, registry)
            result.processes += 1
            continue
        if replayer is None:
            raise RecordingError(f"{rec.file}: records before any header")
        if kind in INPUT_KINDS:
            result.inputs += 1
            last_input = rec
            replayer.feed(rec)
        elif kind == "out":
            result.outputs += 1
            recorded = _text(rec.fields.get("data"))
            frame = replayer.next_frame()
            produced = None if frame is None else frame.decode("utf-8", "replace")
            if produced != recorded:
                result.divergences.append(
                    Divergence(last_input, rec, None if produced is None else f"out {produced}")
                )
                break
        elif kind == "event":
            if rec.fields.get("origin") == "client":
                continue  # the client's own events (reconnects, warnings): not the session's
            result.outputs += 1
            recorded_event = rec.fields.get("event")
            if not replayer.events:
                result.divergences.append(Divergence(last_input, rec, None))
                break
            produced_event = replayer.events.popleft()
            if _as_json(produced_event) != recorded_event:
                result.divergences.append(
                    Divergence(last_input, rec, f"event {_event_text(produced_event)}")
                )
                break
        elif kind == "close":
            replayer.clean_end = True
    else:
        finish()
    if result.processes == 0:
        raise RecordingError("no recording found (no header)")
    return result
