"""Fuzz the wire decoders and the orders session (``make fuzz``).

Four sources of input, at least a million in all by default:

1. damaged copies of the project's fixture frames through every decoder
   (:mod:`benchmarks.fuzz_wire`);
2. damaged frames into a live :class:`~axorders.session.OrdersSession` with orders in every
   state: it must never raise, must count every malformed frame (``MalformedMessage``) and
   every unknown one (``UnknownMessage``), and must keep its id maps one-to-one;
3. hypothesis-generated JSON shaped like venue frames, into a session;
4. atheris (coverage-guided) over the decoders and the session, when it is installed.

``python -m benchmarks.fuzz [--wire N] [--session N] [--hypothesis N] [--atheris N]``
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from typing import Any

from axorders.commands import CancelOrder, PlaceOrder
from axorders.exceptions import RemoteProtocolError
from axorders.session import OrdersSession
from axorders.sim.instruments import default_instruments
from axorders.wire.orders import UnknownFrame, decode_server_frame
from benchmarks.fuzz_wire import load_seeds, mutate
from benchmarks.fuzz_wire import run as run_wire

NS = 1_000_000_000
T0 = 1_790_228_411 * NS


def _session() -> OrdersSession:
    session = OrdersSession(
        account_id="ACC", trader_id="T", instruments=default_instruments(), recent_capacity=1000
    )
    session.connection_made(T0)
    session.receive(b'{"rid":0,"res":{"li":"u","o":null,"cod":false}}', T0)
    return session


def _seed_orders(session: OrdersSession, now: int, start: int) -> None:
    """Some live orders, so that damaged events find something to act on."""
    for i in range(start, start + 20):
        session.send(
            PlaceOrder(f"fz-{i}", "EURUSD-PERP", "BUY", 100 * (1 + i % 3), price="1.1000"), now
        )
    if start % 40 == 0:
        session.send(CancelOrder(f"fz-{start}"), now)


def check_maps(session: OrdersSession) -> list[str]:
    """The one-to-one rules between live orders and their ids."""
    problems = []
    live = {r.client_order_id: r for r in session.orders()}
    for cid, coid in session.registry.by_cid.items():
        rec = live.get(coid)
        if rec is None or rec.cid != cid:
            problems.append(f"cid {cid} -> {coid} is not a live order with that cid")
    for oid, coid in session.registry.by_oid.items():
        rec = live.get(coid)
        if rec is None or (oid != rec.venue_order_id and oid not in rec.prior_venue_order_ids):
            problems.append(f"venue id {oid} -> {coid} does not belong to that order")
    for coid, rec in live.items():
        if session.registry.by_cid.get(rec.cid) != coid:
            problems.append(f"{coid} is missing from the cid map")
        if rec.filled_qty > rec.quantity:
            problems.append(f"{coid} filled {rec.filled_qty} of {rec.quantity}")
    return problems


def _feed(session: OrdersSession, frame: bytes, now: int, counts: dict[str, int]) -> None:
    try:
        expected = decode_server_frame(frame)
        kind = "unknown" if isinstance(expected, UnknownFrame) else "known"
    except RemoteProtocolError:
        kind = "malformed"
    except Exception:  # the decoder's own fuzz reports these
        kind = "decoder-error"
    before = session.stats()
    try:
        session.receive(frame, now)
    except Exception as exc:  # nothing may escape the session
        counts["unexpected"] += 1
        if counts["unexpected"] <= 5:
            print(f"  unexpected {exc!r} on {frame[:200]!r}", file=sys.stderr)
        return
    after = session.stats()
    counts[kind] += 1
    if kind == "malformed" and after.malformed_messages != before.malformed_messages + 1:
        counts["uncounted"] += 1
    if kind == "unknown" and after.unknown_messages < before.unknown_messages + 1:
        counts["uncounted"] += 1
    session.frames_to_send()
    session.events_received()


def run_session(n: int, seed: int = 1) -> dict[str, int]:
    """Feed ``n`` damaged frames to a session; returns outcome counts."""
    rng = random.Random(seed)
    seeds = load_seeds()
    counts = dict.fromkeys(
        ("known", "unknown", "malformed", "decoder-error", "unexpected", "uncounted", "map_errors"),
        0,
    )
    session = _session()
    now = T0
    started = time.perf_counter()
    for i in range(n):
        if i % 500 == 0:
            now += 20 * NS  # let deadlines pass now and then
            session.tick(now)
            if not session.is_connected:
                session.connection_made(now)
            _seed_orders(session, now, i)
            session.frames_to_send()
            session.events_received()
        if i % 5000 == 4999:
            problems = check_maps(session)
            counts["map_errors"] += len(problems)
            session = _session()  # start afresh so that state stays varied
        frame = (
            seeds[rng.randrange(len(seeds))]
            if rng.random() < 0.1
            else mutate(rng, rng.choice(seeds))
        )
        _feed(session, frame, now, counts)
        if rng.random() < 0.001:
            session.connection_lost(now, "fuzz")
            session.connection_made(now)
            session.receive(b'{"rid":0,"res":{"li":"u","o":null,"cod":false}}', now)
    counts["map_errors"] += len(check_maps(session))
    counts["frames"] = n
    counts["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
    return counts


def run_hypothesis(n: int) -> dict[str, int]:
    """Hypothesis-built frames shaped like the venue's, into a session."""
    import msgspec
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    counts = dict.fromkeys(
        ("known", "unknown", "malformed", "decoder-error", "unexpected", "uncounted"), 0
    )
    session = _session()
    _seed_orders(session, T0, 0)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True),
        st.sampled_from(["1.1000", "NaN", "B", "S", "ACCEPTED", "FILLED", "O-1", "", "x" * 50]),
        st.text(max_size=20),
    )
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=12,
    )
    keys = st.sampled_from(["t", "rid", "res", "err", "o", "xs", "oid", "cid", "p", "q", "xq",
                            "rq", "s", "d", "ts", "tn", "ro", "no", "noid", "li", "orders",
                            "status", "code", "msg"])  # fmt: skip
    frames = st.dictionaries(keys, values, max_size=10).map(msgspec.json.encode)
    tagged = st.builds(
        lambda tag, body: msgspec.json.encode({"t": tag, **body}),
        st.sampled_from(["h", "pu", "n", "p", "f", "c", "j", "x", "d", "r", "e", "zz"]),
        st.dictionaries(keys, values, max_size=8),
    )

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(frames, tagged, st.binary(max_size=200)))
    def feed(frame: bytes) -> None:
        _feed(session, frame, T0, counts)

    started = time.perf_counter()
    feed()
    counts["frames"] = n
    counts["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
    return counts


def run_atheris(runs: int) -> dict[str, Any]:
    """Run atheris in a child process; ``available`` is False when it is not installed."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"available": False, "frames": 0}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.fuzz_atheris", str(runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    ok = proc.returncode == 0
    if not ok:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {
        "available": True,
        "frames": runs,
        "unexpected": 0 if ok else 1,
        "elapsed_ms": round((time.perf_counter() - started) * 1000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument("--wire", type=int, default=500_000, help="damaged frames x 3 decoders")
    parser.add_argument("--session", type=int, default=400_000, help="damaged frames, session")
    parser.add_argument("--hypothesis", type=int, default=10_000, help="hypothesis examples")
    parser.add_argument("--atheris", type=int, default=200_000, help="atheris runs (if installed)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    failed = False
    total = 0
    print(f"wire decoders: {args.wire} damaged frames x 3 decoders ...", flush=True)
    wire = run_wire(args.wire, args.seed)
    print(f"  {wire}")
    total += args.wire
    failed |= wire["unexpected"] != 0
    print(f"session: {args.session} damaged frames ...", flush=True)
    session = run_session(args.session, args.seed)
    print(f"  {session}")
    total += args.session
    failed |= bool(session["unexpected"] or session["uncounted"] or session["map_errors"])
    print(f"hypothesis: {args.hypothesis} generated frames ...", flush=True)
    hyp = run_hypothesis(args.hypothesis)
    print(f"  {hyp}")
    total += args.hypothesis
    failed |= bool(hyp["unexpected"] or hyp["uncounted"])
    print(f"atheris: {args.atheris} runs ...", flush=True)
    ath = run_atheris(args.atheris)
    if not ath["available"]:
        print("  atheris is not installed; skipped (pip install atheris)")
    else:
        print(f"  {ath}")
        total += args.atheris
        failed |= ath["unexpected"] != 0
    print(f"total inputs: {total}; unhandled exceptions: {'some' if failed else 0}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
