"""``python -m axorders.sim``: run the AX simulator until Ctrl-C or SIGTERM.

It prints the REST base URL, the WebSocket URLs and the default user's API key and secret
(and those of the ``--users N`` extra users), or, with ``--print-json``, one JSON line with
them (the extra users as a ``users`` list), for scripts that start it as a
subprocess. It also prints the admin token that every ``/sim/*`` request must carry in
the ``X-Sim-Token`` header. Fault flags set the matching :mod:`axorders.sim.faults` knobs from
the start; ``POST /sim/faults`` changes them while it runs. ``--hostile`` takes the venue's
liberties (see :mod:`axorders.sim.faults`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from axorders.sim.engine import CancelReject, MarginFailure, StpMode
from axorders.sim.faults import DEFAULT_RATES, LIBERTIES, HostileConfig
from axorders.sim.server import SimConfig, SimServer
from axorders.wire.sim import encode_sim

__all__ = ["build_parser", "config_from_args", "hostile_from_args", "main"]


_EPILOG = """\
admin endpoints (every one needs the header X-Sim-Token: <the printed admin token>;
a POST body must be JSON sent as application/json):
  GET  /sim/stats           counters, processing times, liberties taken per kind
  POST /sim/faults          {"action": "drop"}, {"action": "delay", "seconds": 0.5}, ...
  POST /sim/session-close   end the trading session (DAY orders get d)
  POST /sim/flood           {"count": N, "kind": "fill"}
  POST /sim/users           {} (or {"user_id": "u7", "balance": "50000"}): a new user with
                            its own account; answers its ids, API key and secret
  POST /sim/faults          {"action": "outage", "seconds": 5}: every socket dropped, new
                            ones and REST refused with 503 (seconds omitted or 0: until
                            {"action": "outage_end"}, which leaves the liberties alone)

venue liberties (--hostile; name and default rate):
%s
  switch one while running:
    POST /sim/faults {"action": "hostile", "liberty": "fragment", "on": true, "rate": 0.5}
  ("liberty": "all" switches every one; "rate" is optional)
"""


def _liberty_lines() -> str:
    return "\n".join(f"  {name:<18} {DEFAULT_RATES[name]:g}" for name in LIBERTIES)


def _liberty_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name != "all" and name not in LIBERTIES:
            raise argparse.ArgumentTypeError(f"unknown liberty {name!r}")
    return names


def _user_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad count {text!r}") from None
    if not 0 <= count <= 10_000:
        raise argparse.ArgumentTypeError("--users takes 0 to 10000")
    return count


def _liberty_rate(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name not in LIBERTIES:
        raise argparse.ArgumentTypeError(f"unknown liberty {name!r}")
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad rate {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("a rate is between 0 and 1")
    return name, rate


def build_parser(prog: str = "python -m axorders.sim") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local AX exchange simulator (REST, orders and market-data "
        "WebSockets on one port).",
        epilog=_EPILOG % _liberty_lines(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    parser.add_argument("--no-makers", action="store_true", help="no built-in market makers")
    parser.add_argument(
        "--maker-interval", type=float, default=1.0, help="seconds between maker re-quotes"
    )
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between h heartbeats")
    parser.add_argument("--keepalive-pu", action="store_true", help='also send {"t":"pu"}')
    parser.add_argument("--instruments", type=Path, help='a {"instruments": [...]} JSON file')
    parser.add_argument("--api-key", default="sim-api-key")
    parser.add_argument("--api-secret", default="sim-api-secret")
    parser.add_argument(
        "--users",
        type=_user_count,
        default=0,
        metavar="N",
        help="create N extra users, each with its own account and API key (printed)",
    )
    parser.add_argument("--balance", type=Decimal, default=Decimal(1_000_000), help="USD")
    parser.add_argument("--taker-fee", type=Decimal, default=Decimal("0.0002"))
    parser.add_argument("--maker-fee", type=Decimal, default=Decimal(0))
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="seconds")
    parser.add_argument(
        "--rest-fill-lag", type=float, default=0.0, help="seconds before fills reach /api/fills"
    )
    parser.add_argument(
        "--margin-failure",
        choices=[m.value for m in MarginFailure],
        default=MarginFailure.ERROR.value,
        help="report a margin failure as an err 400 (default) or a j event",
    )
    parser.add_argument(
        "--cancel-reject",
        choices=[c.value for c in CancelReject],
        default=CancelReject.ERROR.value,
        help="refuse a cancel of an unknown order with err 404 (default) or an e event",
    )
    parser.add_argument(
        "--stp", choices=[m.value for m in StpMode], default=StpMode.CANCEL_INCOMING.value
    )
    parser.add_argument("--print-json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "--admin-token", help="the X-Sim-Token of /sim/* (default: a random one, printed)"
    )
    parser.add_argument(
        "--max-send-buffer",
        type=int,
        default=8 << 20,
        metavar="BYTES",
        help="close (1008) a socket with more than this waiting to be sent",
    )
    parser.add_argument("--verbose", action="store_true", help="log requests and errors")
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--close-on-token-expiry", action="store_true", help="close sockets whose token expired"
    )
    faults.add_argument(
        "--drop-after", type=int, metavar="N", help="drop every orders socket after N frames"
    )
    faults.add_argument("--delay", type=float, metavar="S", help="delay every outgoing frame")
    faults.add_argument("--no-heartbeats", action="store_true", help="send no heartbeats")
    faults.add_argument(
        "--reject-auth", type=int, metavar="N", default=0, help="refuse the first N logins"
    )
    hostile = parser.add_argument_group("venue liberties")
    hostile.add_argument(
        "--hostile", action="store_true", help="take the venue's liberties (listed below)"
    )
    hostile.add_argument(
        "--liberties",
        type=_liberty_names,
        metavar="A,B",
        help="with --hostile: only these liberties (comma-separated names, or all)",
    )
    hostile.add_argument(
        "--liberty-rate",
        type=_liberty_rate,
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="with --hostile: the chance (0..1) of one liberty; repeatable",
    )
    hostile.add_argument(
        "--hostile-seed", type=int, help="seed of the liberties' draws (default: --seed)"
    )
    return parser


def hostile_from_args(args: argparse.Namespace) -> HostileConfig | None:
    """The hostile profile the arguments ask for (None without ``--hostile``)."""
    if not args.hostile:
        return None
    seed = args.seed if args.hostile_seed is None else args.hostile_seed
    rates = dict(args.liberty_rate)
    names = args.liberties or ["all"]
    return HostileConfig.only(*names, seed=seed, rates=rates)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        makers=not args.no_makers,
        maker_interval=args.maker_interval,
        heartbeat_interval=args.heartbeat,
        keepalive_pu=args.keepalive_pu,
        instruments_file=args.instruments,
        api_key=args.api_key,
        api_secret=args.api_secret,
        users=args.users,
        initial_balance=args.balance,
        taker_fee=args.taker_fee,
        maker_fee=args.maker_fee,
        token_ttl=args.token_ttl,
        rest_fill_lag=args.rest_fill_lag,
        margin_failure=MarginFailure(args.margin_failure),
        cancel_reject=CancelReject(args.cancel_reject),
        stp=StpMode(args.stp),
        close_on_token_expiry=args.close_on_token_expiry,
        hostile=hostile_from_args(args),
        admin_token=args.admin_token,
        max_send_buffer=args.max_send_buffer,
    )


async def _serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with SimServer(config_from_args(args)) as sim:
        faults = sim.faults
        if args.drop_after is not None:
            faults.drop_after(args.drop_after, repeat=True)
        if args.delay:
            faults.delay(args.delay)
        if args.no_heartbeats:
            faults.stop_heartbeats()
        if args.reject_auth:
            faults.reject_next_auth(args.reject_auth)
        if args.print_json:
            sys.stdout.write(encode_sim(sim.info()).decode() + "\n")
        else:
            sys.stdout.write(
                f"AX simulator listening\n"
                f"  REST        {sim.base_url}/api  {sim.base_url}/orders\n"
                f"  orders WS   {sim.orders_ws_url}\n"
                f"  market data {sim.md_ws_url}\n"
                f"  user        {sim.user_id}\n"
                f"  api key     {sim.api_key}\n"
                f"  api secret  {sim.api_secret}\n"
                f"  admin token {sim.admin_token}  (X-Sim-Token header of /sim/*)\n"
            )
            for user in sim.extra_users:
                sys.stdout.write(
                    f"  user        {user.user_id}  account {user.account_id}"
                    f"  api key {user.api_key}  api secret {user.api_secret}\n"
                )
            gate = sim.faults.liberties
            if gate.active:
                names = ", ".join(n for n, on in gate.on.items() if on)
                sys.stdout.write(f"  liberties   {names}\n")
            sys.stdout.write("Ctrl-C to stop.\n")
        sys.stdout.flush()
        await stop.wait()
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "python -m axorders.sim") -> int:
    """Run the simulator; returns the exit status (0 after Ctrl-C or SIGTERM).

    Raises:
        SystemExit: bad arguments (argparse).
    """
    args = build_parser(prog).parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # e.g. the port is taken
        sys.stderr.write(f"cannot start the simulator: {exc}\n")
        return 1
