"""OrdersSession throughput and memory.

``python -m benchmarks.bench_session`` prints the figures; :func:`run` returns them.

* ``session_frames_per_s``: :meth:`OrdersSession.receive` + :meth:`events_received` over a
  realistic stream of server frames recorded once from the simulator's engine (place replies,
  acks, partial and full fills, cancels, heartbeats), on a session that sent the same places.
* ``decode_structs_frames_per_s``: msgspec alone, decoding each frame into its wire struct
  (:data:`~axorders.wire.orders.ServerEvent` or :class:`~axorders.wire.orders.ReplyFrame`):
  the floor the session is compared with.
* ``wire_decoder_frames_per_s``: :func:`axorders.wire.orders.decode_server_frame`, the
  session's decoder (msgspec plus the reply mapping and the price checks).
* ``decode_untyped_frames_per_s``: ``msgspec.json.decode`` into plain objects.
* ``json_loads_frames_per_s``: stdlib ``json.loads``.
* ``session_vs_decode``: session / decode-to-structs (target at least 0.5).
* ``ceiling_frames_per_s``: the least any session must do per frame (decode it, look its order
  up in a dict, build one event), with no state kept: an upper bound for the session here.
* ``bytes_per_live_order``: traced memory of the session per live, acknowledged order, with
  100 000 of them (target at most 1 KiB).
* ``churn_growth_pct``: traced memory after 1 000 000 orders have been placed, acked and
  filled, against after the first 100 000 (flat: bounded by the recent set).

Every figure is the best of a few rounds (the round least disturbed by other work).
"""

from __future__ import annotations

import gc
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal

import msgspec

from axorders import events as ev
from axorders.commands import PlaceOrder
from axorders.model import Side, TimeInForce, cid_for
from axorders.session import OrdersSession
from axorders.sim.engine import Engine, EngineConfig
from axorders.sim.instruments import default_instruments, marks_for
from axorders.sim.venue import VenueSession, heartbeat_frame
from axorders.wire import orders as w
from axorders.wire.orders import decode_server_frame

__all__ = ["build_stream", "main", "run"]

SYMBOL = "EURUSD-PERP"
TICK = Decimal("0.0001")
MID = 11388
START = 1_790_228_411_000_000_000
NS = 1_000_000_000
ACCOUNT = "acct-1"
MAKER = "acct-2"


def _session(**kw: object) -> OrdersSession:
    session = OrdersSession(
        account_id=ACCOUNT,
        trader_id="BENCH",
        instruments=default_instruments(),
        **kw,  # type: ignore[arg-type]
    )
    session.connection_made(START)
    session.receive(b'{"rid":0,"res":{"li":"user-1","o":null,"cod":false}}', START)
    session.events_received()
    return session


def build_stream(n_orders: int, seed: int = 7) -> tuple[list[PlaceOrder], list[bytes]]:
    """The places a client sends and every frame the venue sends back, in order.

    Per order: its reply and ack, then 40 % are filled in two fills (``p`` + ``f``), 20 % in
    one (``f``), 30 % are canceled from elsewhere (``c``) and 10 % stay open; a heartbeat
    every ten frames.
    """
    rng = random.Random(seed)
    instruments = default_instruments()
    engine = Engine(
        instruments,
        marks_for(instruments),
        config=EngineConfig(record_market_data=False),
        rng=random.Random(seed),
    )
    engine.add_account(ACCOUNT, user_id="user-1", check_margin=False)
    engine.add_account(MAKER, user_id="user-2", check_margin=False, keep_history=False)
    venue = VenueSession(engine, user_id="user-1", account_id=ACCOUNT, connection_id=1)
    session = _session(request_timeout_ns=10**18)
    commands: list[PlaceOrder] = []
    frames: list[bytes] = []
    now = START

    def deliver(outbound: list[tuple[str | None, bytes]]) -> None:
        for target, frame in outbound:
            if target is None or target == ACCOUNT:
                frames.append(frame)
                if len(frames) % 10 == 0:
                    frames.append(heartbeat_frame(now))

    for i in range(n_orders):
        now += 50_000
        roll = rng.random()
        buy = i % 2 == 0
        side = Side.BUY if buy else Side.SELL
        stays = roll >= 0.9
        ticks = (MID - 1 if buy else MID + 1) if not stays else (MID - 60 if buy else MID + 60)
        cmd = PlaceOrder(f"bench-{i}", SYMBOL, side, 200, price=TICK * ticks)
        commands.append(cmd)
        session.send(cmd, now)
        [place] = session.frames_to_send()
        deliver(venue.receive(place, now))
        oid = engine.open_orders(ACCOUNT)[-1].venue_order_id if not stays else None
        price = TICK * ticks
        other = side.opposite
        if roll < 0.4:
            for qty in (100, 100):
                reply = engine.place(MAKER, SYMBOL, other, qty, price, now=now, time_in_force="IOC")
                deliver([(a, msgspec.json.encode(e)) for a, e in reply.events])
        elif roll < 0.6:
            reply = engine.place(MAKER, SYMBOL, other, 200, price, now=now, time_in_force="IOC")
            deliver([(a, msgspec.json.encode(e)) for a, e in reply.events])
        elif roll < 0.9:
            assert oid is not None
            reply = engine.cancel(ACCOUNT, now, venue_order_id=oid)
            deliver([(a, msgspec.json.encode(e)) for a, e in reply.events])
    return commands, frames


def _best(rounds: int, fn: Callable[[], float]) -> float:
    best = 0.0
    for _ in range(rounds):
        gc.collect()
        best = max(best, fn())
    return best


def bench_throughput(n_orders: int, rounds: int = 3) -> dict[str, float]:
    commands, frames = build_stream(n_orders)
    n = len(frames)

    def session_round() -> float:
        session = _session(request_timeout_ns=10**18)
        now = START
        for cmd in commands:
            session.send(cmd, now)
        session.frames_to_send()
        receive, drain = session.receive, session.events_received
        started = time.perf_counter()
        for frame in frames:
            receive(frame, now)
            drain()
        elapsed = time.perf_counter() - started
        stats = session.stats()
        assert stats.unknown_messages == 0 and stats.malformed_messages == 0, stats
        assert stats.pending_requests == 0, stats
        return n / elapsed

    def timed(fn: Callable[[bytes], object]) -> Callable[[], float]:
        def one() -> float:
            started = time.perf_counter()
            for frame in frames:
                fn(frame)
            return n / (time.perf_counter() - started)

        return one

    def ceiling_round() -> float:
        # The least any session must do per frame: decode it, look its order up, and build one
        # event. No state is kept; this bounds what the full pipeline could reach here.
        known: dict[str, str] = {}
        events: list[ev.Event] = []
        emit = events.append
        started = time.perf_counter()
        for frame in frames:
            msg = decode_server_frame(frame)
            body = getattr(msg, "order", None)
            if isinstance(body, w.OrderBody):
                emit(
                    ev.OrderAccepted(
                        ts_init=now,
                        client_order_id=known.get(body.venue_order_id, ""),
                        venue_order_id=body.venue_order_id,
                        account_id=ACCOUNT,
                        trader_id="BENCH",
                        strategy_id="DEFAULT",
                        symbol=body.symbol,
                        ts_event=body.ts * NS + body.tn,
                        side=body.side,
                        price=body.price,
                        quantity=body.quantity,
                        time_in_force=TimeInForce.GTC,
                        post_only=False,
                    )
                )
            elif isinstance(msg, w.ResultReply):
                emit(
                    ev.RequestResolved(
                        ts_init=now,
                        request_id=msg.request_id,
                        kind=ev.RequestKind.PLACE,
                        outcome=ev.RequestOutcome.OK,
                        client_order_id=known.get(msg.result.venue_order_id or "", ""),
                        venue_order_id=msg.result.venue_order_id,
                    )
                )
            events.clear()
        return n / (time.perf_counter() - started)

    now = START
    event_decoder = msgspec.json.Decoder(w.ServerEvent)
    reply_decoder = msgspec.json.Decoder(w.ReplyFrame)

    def msgspec_structs(frame: bytes) -> object:
        # msgspec alone: each frame into its wire struct, picked by the frame's first key.
        if frame[2:3] == b"t":
            return event_decoder.decode(frame)
        return reply_decoder.decode(frame)

    session_rate = _best(rounds, session_round)
    ceiling = _best(rounds, ceiling_round)
    structs = _best(rounds, timed(msgspec_structs))
    wire = _best(rounds, timed(decode_server_frame))
    untyped = _best(rounds, timed(msgspec.json.decode))
    loads = _best(rounds, timed(json.loads))
    return {
        "frames": float(n),
        "session_frames_per_s": session_rate,
        "ceiling_frames_per_s": ceiling,
        "ceiling_vs_decode": ceiling / structs,
        "decode_structs_frames_per_s": structs,
        "wire_decoder_frames_per_s": wire,
        "decode_untyped_frames_per_s": untyped,
        "json_loads_frames_per_s": loads,
        "session_vs_decode": session_rate / structs,
        "session_vs_untyped": session_rate / untyped,
        "session_vs_json_loads": session_rate / loads,
    }


# ---------------------------------------------------------------------------------------------
# Memory.

_PRICE = Decimal("1.1380")


def _ack_frame(oid: str, cid: int, ts: int) -> bytes:
    return (
        b'{"t":"n","ts":%d,"tn":0,"eid":"E-%s","o":{"oid":"%s","u":"user-1","s":"EURUSD-PERP",'
        b'"p":"1.1380","q":200,"xq":0,"rq":200,"o":"ACCEPTED","d":"B","tif":"GTC","cid":%d,'
        b'"po":false,"ts":%d,"tn":0}}'
    ) % (ts, oid.encode(), oid.encode(), cid, ts)


def _fill_frame(oid: str, cid: int, ts: int, trade: int) -> bytes:
    return (
        b'{"t":"f","ts":%d,"tn":0,"eid":"E-%d","o":{"oid":"%s","u":"user-1","s":"EURUSD-PERP",'
        b'"p":"1.1380","q":200,"xq":200,"rq":0,"o":"FILLED","d":"B","tif":"GTC","cid":%d,'
        b'"po":false,"ts":%d,"tn":0},"xs":{"tid":"T-%024d","s":"EURUSD-PERP","q":200,'
        b'"p":"1.1380","d":"B","agg":false}}'
    ) % (ts, trade, oid.encode(), cid, ts, trade)


def _place_ack(session: OrdersSession, i: int, now: int, fill: bool) -> None:
    coid = f"mem-{i}"
    rid = session.send(PlaceOrder(coid, SYMBOL, Side.BUY, 200, price=_PRICE), now)
    session.frames_to_send()
    oid = f"O-{i:026d}"
    cid = cid_for(coid)
    session.receive(b'{"rid":%d,"res":{"oid":"%s"}}' % (rid, oid.encode()), now)
    session.receive(_ack_frame(oid, cid, now // NS), now)
    if fill:
        session.receive(_fill_frame(oid, cid, now // NS, i), now)
    session.events_received()


def bench_live_memory(n_live: int = 100_000) -> float:
    """Traced bytes per live, acknowledged order."""
    gc.collect()
    tracemalloc.start()
    session = _session()
    now = START
    session.tick(now)
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n_live):
        now += 1000
        _place_ack(session, i, now, fill=False)
    now += session.request_timeout_ns + 1
    session.tick(now)  # resolved requests leave the deadline heap
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert session.stats().live_orders == n_live
    del session
    return used / n_live


def bench_churn(total: int = 1_000_000, checkpoint: int = 100_000) -> dict[str, float]:
    """Traced memory after ``checkpoint`` and after ``total`` orders placed, acked, filled."""
    gc.collect()
    tracemalloc.start()
    session = _session()
    now = START
    tick_every = 1000
    marks: dict[int, int] = {}
    started = time.perf_counter()
    for i in range(1, total + 1):
        now += 100_000  # 10 000 orders a second
        _place_ack(session, i, now, fill=True)
        if i % tick_every == 0:
            session.tick(now)
        if i in (checkpoint, total):
            gc.collect()
            marks[i] = tracemalloc.get_traced_memory()[0]
    elapsed = time.perf_counter() - started
    tracemalloc.stop()
    stats = session.stats()
    assert stats.live_orders == 0 and stats.recent_orders == session.recent_capacity, stats
    first, last = marks[checkpoint], marks[total]
    return {
        "churn_orders": float(total),
        "churn_mib_at_checkpoint": first / 2**20,
        "churn_mib_at_end": last / 2**20,
        "churn_growth_pct": (last - first) / first * 100,
        "churn_orders_per_s_traced": total / elapsed,
    }


def run(n_orders: int = 50_000, churn_orders: int = 1_000_000) -> dict[str, float]:
    """Every figure of this module, in one run."""
    result = bench_throughput(n_orders)
    result["bytes_per_live_order"] = bench_live_memory(100_000)
    result.update(bench_churn(churn_orders, min(100_000, churn_orders // 2)))
    return result


def main() -> None:
    result = run()
    print(f"frames in the stream            {result['frames']:>12,.0f}")
    for key in (
        "session_frames_per_s",
        "ceiling_frames_per_s",
        "decode_structs_frames_per_s",
        "wire_decoder_frames_per_s",
        "decode_untyped_frames_per_s",
        "json_loads_frames_per_s",
    ):
        print(f"{key:<32}{result[key]:>12,.0f}")
    print(
        f"session / decode to structs     {result['session_vs_decode']:>12.2f}x   (target >= 0.5x)"
    )
    print(
        f"ceiling / decode to structs     {result['ceiling_vs_decode']:>12.2f}x"
        "   (decode + one lookup + one event per frame, no state)"
    )
    print(f"session / untyped decode        {result['session_vs_untyped']:>12.2f}x")
    print(f"session / json.loads            {result['session_vs_json_loads']:>12.2f}x")
    print(
        f"bytes per live order            {result['bytes_per_live_order']:>12,.0f}"
        "   (target <= 1024)"
    )
    print(
        f"traced MiB after {result['churn_orders']:,.0f} orders     "
        f"{result['churn_mib_at_end']:>8.1f}   "
        f"(after 100,000: {result['churn_mib_at_checkpoint']:.1f};"
        f" growth {result['churn_growth_pct']:+.1f} %)"
    )


if __name__ == "__main__":
    main()
