"""The hostile profile's pure parts: frame bytes, settings, draws and the venue's liberties."""

from __future__ import annotations

import json
import random
import struct
from decimal import Decimal
from typing import Any

import pytest

from axorders.model import Side
from axorders.sim.engine import Engine, EngineConfig
from axorders.sim.faults import (
    LIBERTIES,
    Faults,
    Hostile,
    HostileConfig,
    fragment_text_frame,
    text_frame,
)
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.venue import BARRIER, Outbound, VenueLiberties, VenueSession
from axorders.wire.sim import FaultAction

T0 = 1_790_228_411_934_693_936
EUR = "EURUSD-PERP"
MS = 1_000_000


def parse_frames(data: bytes) -> list[tuple[bool, int, bytes]]:
    """Unmasked server frames back into ``(fin, opcode, payload)``."""
    out = []
    at = 0
    while at < len(data):
        first, second = data[at], data[at + 1]
        assert not second & 0x80
        n = second & 0x7F
        at += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, at)
            at += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, at)
            at += 8
        out.append((bool(first & 0x80), first & 0x0F, data[at : at + n]))
        at += n
    return out


# -- frame bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_uses_the_shortest_length(size: int) -> None:
    payload = b"x" * size
    data = text_frame(payload)
    header = len(data) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)
    assert data[0] == 0x81
    assert parse_frames(data) == [(True, 0x1, payload)]


def test_fragments_are_text_then_continuations_with_fin_on_the_last() -> None:
    payload = b'{"t":"h","ts":1,"tn":2}'
    frames = parse_frames(fragment_text_frame(payload, [3, 10, 10, 0, 99]))
    assert [(fin, op) for fin, op, _ in frames] == [(False, 1), (False, 0), (True, 0)]
    assert b"".join(p for _, _, p in frames) == payload
    assert [len(p) for _, _, p in frames] == [3, 7, len(payload) - 10]
    # No usable cut: one ordinary frame.
    assert fragment_text_frame(payload, [0, len(payload)]) == text_frame(payload)


def test_a_long_message_fragments_with_long_lengths() -> None:
    payload = b"y" * 70_000
    frames = parse_frames(fragment_text_frame(payload, [200, 66_000]))
    assert [len(p) for _, _, p in frames] == [200, 65_800, 4_000]
    assert b"".join(p for _, _, p in frames) == payload


# -- settings and draws ----------------------------------------------------------------------


def test_hostile_config_checks_names_and_rates() -> None:
    with pytest.raises(ValueError):
        HostileConfig(on={"nope": True})
    with pytest.raises(ValueError):
        HostileConfig(rates={"fragment": 1.5})
    with pytest.raises(ValueError):
        HostileConfig.only("fragment", "nope")
    only = HostileConfig.only("fragment", "late_accept")
    assert [n for n in LIBERTIES if only.is_on(n)] == ["fragment", "late_accept"]
    assert all(HostileConfig.only("all").is_on(n) for n in LIBERTIES)
    assert all(HostileConfig().is_on(n) for n in LIBERTIES)


def test_draws_repeat_with_the_seed_and_are_counted() -> None:
    def run() -> list[bool]:
        gate = Hostile(HostileConfig(rates={"duplicate": 0.5}, seed=5))
        return [gate.take("duplicate") for _ in range(200)]

    first = run()
    assert first == run()
    assert 50 < sum(first) < 150
    gate = Hostile(HostileConfig(rates={"duplicate": 0.5}, seed=5))
    for _ in range(200):
        gate.take("duplicate")
    assert gate.stats()["duplicate"] == sum(first)
    assert set(gate.stats()) == set(LIBERTIES)


def test_without_a_config_every_liberty_is_off_until_switched() -> None:
    gate = Hostile()
    assert not gate.active and not gate.take("fragment")
    gate.set("fragment", rate=1.0)
    assert gate.active and gate.take("fragment")
    gate.set("all", on=False)
    assert not gate.active
    with pytest.raises(ValueError):
        gate.set("nope")
    with pytest.raises(ValueError):
        gate.set("fragment", rate=2.0)


def test_fault_action_switches_a_liberty() -> None:
    faults = Faults()
    faults.apply(FaultAction(action="hostile", liberty="late_accept", on=True, rate=0.25))
    assert faults.liberties.on["late_accept"] and faults.liberties.rates["late_accept"] == 0.25
    faults.apply(FaultAction(action="hostile", liberty="late_accept", on=False))
    assert not faults.liberties.active
    faults.apply(FaultAction(action="hostile"))  # every liberty
    assert all(faults.liberties.on.values())
    faults.clear()
    assert not faults.liberties.active
    with pytest.raises(ValueError):
        faults.apply(FaultAction(action="hostile", liberty="nope"))


# -- the venue's liberties -------------------------------------------------------------------


def make_engine() -> Engine:
    instruments = default_instruments()
    engine = Engine(
        instruments, marks_for(instruments), config=EngineConfig(), rng=random.Random(3)
    )
    engine.add_account("acct-1", user_id="user-1")
    engine.add_account("acct-2", user_id="user-2")
    return engine


def hostile_venue(
    *names: str, rates: dict[str, float] | None = None, engine: Engine | None = None
) -> tuple[VenueSession, Hostile]:
    engine = engine or make_engine()
    every = dict.fromkeys(names, 1.0)
    every.update(rates or {})
    gate = Hostile(HostileConfig.only(*names, rates=every, seed=2))
    liberties = VenueLiberties(engine, gate)
    venue = VenueSession(
        engine, user_id="user-1", account_id="acct-1", connection_id=1, liberties=liberties
    )
    return venue, gate


def request(rid: int, t: str, **fields: Any) -> bytes:
    return json.dumps({"rid": rid, "t": t, **fields}).encode()


def place(rid: int, **fields: Any) -> bytes:
    body = {"s": EUR, "d": "B", "q": 100, "p": "1.1300", "tif": "GTC", "po": False, **fields}
    return request(rid, "p", **body)


def decoded(out: list[Outbound]) -> list[dict[str, Any]]:
    return [json.loads(o.frame) for o in out]


def test_unknown_requests_answer_s_and_x_with_exactly_the_venue_error() -> None:
    venue, gate = hostile_venue("unknown_requests")
    [status] = venue.receive(request(5, "s", oid="O-1"), T0)
    assert status.frame == b'{"rid":5,"err":{"code":400,"msg":"unknown request type"}}'
    [cancel_all] = venue.receive(request(6, "X"), T0)
    assert cancel_all.frame == b'{"rid":6,"err":{"code":400,"msg":"unknown request type"}}'
    assert gate.stats()["unknown_requests"] == 2
    # Other requests are served.
    assert "res" in json.loads(venue.receive(request(7, "o"), T0)[0].frame)


def test_late_accept_answers_500_then_carries_the_order_out() -> None:
    venue, gate = hostile_venue("late_accept")
    out = venue.receive(place(1, cid=77), T0)
    frames = decoded(out)
    assert frames[0] == {"rid": 1, "err": {"code": 500, "msg": "internal error"}}
    assert frames[1]["t"] == "n" and frames[1]["o"]["cid"] == 77
    assert out[1].hold > 0  # the accept is late
    assert len(venue.engine.open_orders("acct-1")) == 1
    assert gate.stats()["late_accept"] == 1


def test_events_first_sends_the_reply_after_the_events_and_late() -> None:
    venue, gate = hostile_venue("events_first")
    out = venue.receive(place(1), T0)
    frames = decoded(out)
    assert frames[0]["t"] == "n"
    assert frames[1] == {"rid": 1, "res": {"oid": frames[0]["o"]["oid"]}}
    assert out[1].target is None and out[1].hold > 0
    assert frames[0]["o"]["oid"] in out[1].keys  # it never overtakes the events
    assert gate.stats()["events_first"] == 1


def test_cancel_before_the_held_ack_gets_409_and_changes_nothing() -> None:
    venue, gate = hostile_venue("cancel_409")
    out = venue.receive(place(1, cid=9), T0)
    ack = out[1]
    assert json.loads(ack.frame)["t"] == "n" and ack.hold > 0
    oid = json.loads(out[0].frame)["res"]["oid"]
    for rid, fields in ((2, {"oid": oid}), (3, {"cid": 9})):
        [refused] = venue.receive(request(rid, "x", **fields), T0 + MS)
        assert json.loads(refused.frame) == {
            "rid": rid,
            "err": {"code": 409, "msg": "order not yet acknowledged by exchange; retry shortly"},
        }
    assert len(venue.engine.open_orders("acct-1")) == 1
    assert gate.stats()["cancel_409"] == 2
    # Once the ack has left, the cancel goes through.
    later = T0 + int(ack.hold * 1e9) + MS
    frames = decoded(venue.receive(request(4, "x", oid=oid), later))
    assert frames[0]["rid"] == 4 and "res" in frames[0]
    assert frames[1]["t"] == "c"


def partially_filled(venue: VenueSession) -> str:
    """acct-1 buys 300 at 1.1390 against 100 of acct-2: 100 filled, 200 rest."""
    engine = venue.engine
    engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1390"), now=T0)
    out = decoded(venue.receive(place(1, q=300, p="1.1390", cid=5), T0))
    oid: str = out[0]["res"]["oid"]
    [order] = engine.open_orders("acct-1")
    assert (order.filled_quantity, order.remaining_quantity) == (100, 200)
    return oid


def test_fresh_replace_starts_the_new_order_at_zero_everywhere() -> None:
    venue, gate = hostile_venue("fresh_replace")
    oid = partially_filled(venue)
    out = venue.receive(request(2, "r", oid=oid, p="1.1385"), T0 + MS)
    frames = decoded(out)
    [replaced] = [f for f in frames if f.get("t") == "r"]
    new = replaced["no"]
    assert (new["q"], new["xq"], new["rq"], new["o"]) == (200, 0, 200, "ACCEPTED")
    assert (replaced["ro"]["q"], replaced["ro"]["xq"]) == (300, 100)  # the old order as it was
    assert gate.stats()["fresh_replace"] == 1
    # Snapshots, status and later fills follow the same convention.
    [snapshot] = decoded(venue.receive(request(3, "o"), T0 + 2 * MS))
    [listed] = snapshot["res"]["orders"]
    assert (listed["q"], listed["xq"], listed["rq"]) == (200, 0, 200)
    assert json.loads(venue.connection_made(T0))["res"]["o"][0]["xq"] == 0
    [status] = decoded(venue.receive(request(4, "s", oid=new["oid"]), T0 + 2 * MS))
    assert status["res"]["status"]["filled_quantity"] == 0
    engine = venue.engine
    reply = engine.place("acct-2", EUR, Side.SELL, 100, Decimal("1.1385"), now=T0 + 3 * MS)
    assert venue.liberties is not None
    fill = [
        json.loads(o.frame)
        for o in venue.liberties.frames(reply.events, T0 + 3 * MS)
        if o.target == "acct-1"
    ]
    assert [(f["t"], f["o"]["q"], f["o"]["xq"], f["o"]["rq"]) for f in fill] == [
        ("p", 200, 100, 100)
    ]
    # A replace of the fresh order speaks in fresh quantities too.
    frames = decoded(venue.receive(request(5, "r", oid=new["oid"], q=180), T0 + 4 * MS))
    [again] = [f for f in frames if f.get("t") == "r"]
    assert (again["no"]["q"], again["no"]["xq"], again["no"]["rq"]) == (80, 0, 80)
    assert again["no"]["o"] == "ACCEPTED"


def test_a_replace_before_any_fill_is_left_alone() -> None:
    venue, gate = hostile_venue("fresh_replace")
    oid = json.loads(venue.receive(place(1), T0)[0].frame)["res"]["oid"]
    frames = decoded(venue.receive(request(2, "r", oid=oid, p="1.1301"), T0 + MS))
    [replaced] = [f for f in frames if f.get("t") == "r"]
    assert (replaced["no"]["q"], replaced["no"]["xq"]) == (100, 0)
    assert gate.stats()["fresh_replace"] == 0


def test_foreign_orders_carry_cids_in_the_upper_half_and_are_retired() -> None:
    venue, gate = hostile_venue("foreign_cid")
    out = venue.receive(place(1, cid=3), T0)
    acks = [f for f in decoded(out) if f.get("t") == "n"]
    assert acks[0]["o"]["cid"] == 3
    [foreign] = [a["o"] for a in acks if a["o"]["cid"] != 3]
    assert 2**63 <= foreign["cid"] < 2**64
    assert foreign["po"] is True and foreign["rq"] > 0
    assert gate.stats()["foreign_cid"] == 1
    assert venue.liberties is not None
    assert venue.liberties.retire_foreign(T0) == []  # not yet
    events = venue.liberties.retire_foreign(T0 + 10**9)
    assert [(acct, e.order.venue_order_id) for acct, e in events] == [  # type: ignore[union-attr]
        ("acct-1", foreign["oid"])
    ]


def test_delayed_and_reordered_events_are_held_and_name_their_orders() -> None:
    venue, gate = hostile_venue("delay", "reorder", rates={"delay": 0.5, "reorder": 1.0})
    holds = []
    for rid in range(1, 40):
        out = venue.receive(place(rid, cid=rid), T0)
        [event] = out[1:]
        frame = json.loads(event.frame)
        assert event.keys == (frame["o"]["oid"], f"c:{rid}")
        holds.append(event.hold)
        assert out[0].hold == 0  # replies are never held by these two
    assert all(h > 0 for h in holds)
    stats = gate.stats()
    assert stats["delay"] + stats["reorder"] == 39 and stats["delay"] > 0
    # Snapshot replies wait for every held frame of their connection.
    [snapshot] = venue.receive(request(99, "o"), T0)
    assert snapshot.keys == (BARRIER,)


def test_a_kind_venue_is_untouched_by_an_idle_profile() -> None:
    venue, gate = hostile_venue()
    out = venue.receive(place(1), T0)
    assert [(o.hold, o.keys) for o in out] == [(0.0, ()), (0.0, ())]
    assert sum(gate.stats().values()) == 0


# -- per-session draws, what is counted, outages ------------------------------------------------


def test_each_session_draws_from_its_own_seeded_generator() -> None:
    def draws(seed: int, arrival: int, venue_draws: int) -> list[bool]:
        hostile = Hostile(HostileConfig(rates={"duplicate": 0.5}, seed=seed))
        for _ in range(venue_draws):  # the venue's own draws change nothing for a session
            hostile.take("duplicate")
        session = hostile.session(arrival)
        return [session.take("duplicate") for _ in range(100)]

    first = draws(5, 1, 0)
    assert first == draws(5, 1, 37)
    assert first != draws(5, 2, 0) and first != draws(6, 1, 0)
    hostile = Hostile(HostileConfig(rates={"duplicate": 0.5}, seed=5))
    session = hostile.session(1)
    taken = sum(session.take("duplicate") for _ in range(100))
    assert hostile.stats()["duplicate"] == taken  # counted where the switches live
    hostile.set("all", on=False)
    assert not session.take("duplicate") and not session.active


def test_events_of_accounts_nobody_is_connected_to_take_no_liberty() -> None:
    engine = make_engine()
    gate = Hostile(HostileConfig.only("all", rates=dict.fromkeys(LIBERTIES, 1.0)))
    liberties = VenueLiberties(engine, gate)
    liberties.connected = lambda account: account == "acct-1"
    reply = engine.place("acct-2", EUR, Side.BUY, 100, Decimal("1.1300"), now=T0)
    [ack] = liberties.frames(reply.events, T0)
    assert (ack.target, ack.hold) == ("acct-2", 0.0)
    assert sum(gate.stats().values()) == 0
    assert not liberties.refuses_cancel("acct-2", None, None, T0)
    reply = engine.place("acct-1", EUR, Side.BUY, 100, Decimal("1.1300"), now=T0)
    [ack] = liberties.frames(reply.events, T0)
    assert ack.hold > 0  # held (cancel_409), for the connected account only


class Target:
    """A stand-in for the gateway's side of the faults."""

    def __init__(self) -> None:
        self.now = 100.0
        self.outages = 0

    def monotonic(self) -> float:
        return self.now

    def begin_outage(self) -> int:
        self.outages += 1
        return 3


def test_an_outage_is_timed_or_open_and_ends_without_touching_the_liberties() -> None:
    faults = Faults()
    with pytest.raises(RuntimeError):
        faults.outage(1.0)
    target = Target()
    faults.attach(target)  # type: ignore[arg-type]
    faults.hostile("delay", rate=0.5)
    assert faults.end_outage() == 0 and not faults.in_outage(target.now)
    assert faults.apply(FaultAction(action="outage", seconds=2.0)) == 3
    assert faults.in_outage(101.9) and not faults.in_outage(102.0)
    assert faults.outage_until is None  # ended by itself
    assert faults.apply(FaultAction(action="outage")) == 3  # until ended
    assert faults.in_outage(10_000.0)
    assert faults.apply(FaultAction(action="outage-end")) == 1
    assert not faults.in_outage(target.now)
    assert faults.liberties.on["delay"] and faults.liberties.rates["delay"] == 0.5
    faults.outage(0)
    assert faults.in_outage(10_000.0)
    faults.clear()
    assert not faults.in_outage(target.now) and not faults.liberties.active
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            faults.outage(bad)
    assert target.outages == 3
