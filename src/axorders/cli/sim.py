"""``axorders sim`` and ``axorders demo``: the simulator's own command line, and the demo."""

from __future__ import annotations

from collections.abc import Sequence

from axorders.cli.exits import EXIT_INTERRUPTED


def run_sim(argv: Sequence[str]) -> int:
    """``axorders sim ARGS``: handed to the simulator's own parser."""
    from axorders.sim.cli import main as sim_main

    return sim_main(list(argv), prog="axorders sim")


def run_demo() -> int:
    """``axorders demo``: the scripted session against an embedded simulator."""
    from axorders.cli.demo import run_demo as demo

    try:
        return demo()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
