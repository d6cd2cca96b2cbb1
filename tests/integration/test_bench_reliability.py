"""The reliability half of ``make bench-peers``, kept working: its flow, its score, and a tiny
run of axorders' side on a hostile simulator process (NautilusTrader is not needed)."""

from __future__ import annotations

import asyncio
from collections import Counter

from benchmarks import peers, reliability, reliability_ax
from benchmarks.common import SimProcess
from benchmarks.reliability import Recorder, Step


def test_the_flow_is_a_function_of_the_seed() -> None:
    plan = reliability.make_plan(3, 120, drops=2, outage=1.0)
    assert plan == reliability.make_plan(3, 120, drops=2, outage=1.0)
    assert plan != reliability.make_plan(4, 120, drops=2, outage=1.0)
    kinds = Counter(step.kind for step in plan)
    assert kinds["place"] + kinds["ioc"] == 120
    assert kinds["drop"] == 2 and kinds["outage"] == 1 and kinds["take"] >= 2
    assert any(step.kind == "cancel" and step.fast for step in plan)
    orders = reliability.plan_orders(plan)
    for step in plan:
        if step.kind in ("cancel", "replace"):
            assert step.target in orders


def _order(oid: str, status: str, qty: int = 100, ts: int = 1) -> dict[str, object]:
    return {"oid": oid, "o": status, "d": "B", "p": reliability.price_of(-3), "q": qty,
            "tif": "GTC", "cid": 1, "ts": ts, "tn": 0}  # fmt: skip


def _fill(tid: str, oid: str, qty: int = 100) -> dict[str, object]:
    return {"trade_id": tid, "order_id": oid, "quantity": qty, "price": reliability.price_of(-3),
            "side": "B"}  # fmt: skip


def test_the_score_counts_each_kind_of_failure() -> None:
    plan = [Step("place", f"R-{n}", "B", -3, 100) for n in range(5)]
    orders = [
        _order("O-0", "FILLED"),
        _order("O-1", "FILLED"),
        _order("O-2", "CANCELED"),
        _order("O-3", "ACCEPTED"),
    ]  # R-4 never reached the venue
    fills = [_fill("T-0", "O-0"), _fill("T-1", "O-1")]
    rec = Recorder()
    rec.add("accepted", "R-0", oid="O-0")
    rec.add("filled", "R-0", oid="O-0", tid="T-0", qty="100", px="1.13850", side="BUY")
    rec.add("filled", "R-0", oid="O-0", tid="T-0", qty="100", px="1.13850", side="BUY")
    rec.add("rejected", "R-1", oid="O-1")  # then nothing: R-1's fill was never reported
    rec.add("canceled", "R-2", oid="O-2")
    rec.add("accepted", "R-2", oid="O-2")  # a verdict taken back
    rec.add("canceled", "R-3", oid="O-3")  # the venue still has it open
    rec.add("filled", "R-3", oid="O-3", tid="T-9", qty="100", px="1.1385", side="B")
    rec.add("rejected", "R-4")
    coid_of = {f"O-{n}": f"R-{n}" for n in range(4)}
    score = reliability.score(plan, rec, orders, fills, coid_of)
    assert (score.orders, score.placed, score.venue_fills) == (5, 4, 2)
    assert score.fills_lost == 1  # T-1
    assert score.fills_twice == 1  # T-0
    assert score.fills_wrong == 1  # T-9: not a venue fill
    assert score.taken_back == 2  # R-2 canceled then accepted, R-3 canceled then filled
    assert score.state_wrong == 2  # R-1 reported rejected (filled), R-3 filled (open)
    assert score.state_unknown == 1  # R-2 last reported open, the venue canceled it


def test_a_correction_counts_once_and_its_restatement_is_the_final_state() -> None:
    plan = [Step("place", "R-0", "B", -3, 200)]
    rec = Recorder()
    rec.add("rejected", "R-0")
    rec.add("corrected", "R-0", state="FILLED")
    rec.add("filled", "R-0", oid="O-0", tid="T-0", qty="100", px="1.1385", side="B")
    rec.add("filled", "R-0", oid="O-0", tid="T-1", qty="100", px="1.1385", side="B")
    orders = [_order("O-0", "FILLED", qty=200)]
    fills = [_fill("T-0", "O-0"), _fill("T-1", "O-0")]
    score = reliability.score(plan, rec, orders, fills, {"O-0": "R-0"})
    assert score.taken_back == 1 and score.state_wrong == 0 and score.state_unknown == 0


def test_orders_the_client_never_named_are_matched_by_shape_and_time() -> None:
    plan = [Step("place", "R-0", "B", -3, 100), Step("place", "R-1", "B", -3, 100)]
    rec = Recorder(sent={"R-0": 1_000_000_000, "R-1": 3_000_000_000})
    rec.add("accepted", "R-0", oid="O-0")
    orders = [
        {**_order("O-0", "ACCEPTED", ts=1), "tn": 500},
        {**_order("O-1", "ACCEPTED", ts=3), "tn": 500},
        {**_order("O-X", "ACCEPTED", ts=3), "cid": 1 << 63},  # another session's
    ]
    assert reliability.match_by_signature(plan, orders, rec) == {"O-0": "R-0", "O-1": "R-1"}


def test_axorders_through_a_tiny_flow_on_a_hostile_simulator() -> None:
    plan = reliability.make_plan(5, 30, drops=1, outage=0.3)
    with SimProcess(extra=peers.reliability_sim_args(5)) as sim:
        recorder, timings = asyncio.run(reliability_ax.run(sim.info, plan, grace=0.3))
        orders, fills = reliability.venue_truth(sim.info)
    score = reliability.score(plan, recorder, orders, fills, reliability_ax.coid_map(plan, orders))
    assert score.orders == 30 and timings["faults"] == {"drop": 1, "outage": 1}
    assert score.venue_fills > 0 and recorder.notes["reconnects"] >= 2
    assert (score.fills_lost, score.fills_twice, score.fills_wrong) == (0, 0, 0)
    assert score.state_unknown == 0 and score.state_wrong == 0
    table = peers.reliability_table(
        {"score": score, "notes": recorder.notes, "timings": timings, "liberties": {}},
        None,
        "--orders 30",
        "not installed",
    )
    assert table.row_count > 10
