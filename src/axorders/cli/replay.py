"""``axorders replay PATH... [-v] [--order ID] [--at TIME] [--check]``: read a recording.

Without options it prints the timeline (one line per event; ``-v`` adds the venue frames that
led to each). ``--order ID`` prints every frame, command and event of one order (a client or
venue order id); ``--at TIME`` every order's state at that moment; ``--check`` replays the
recorded inputs through a fresh session and compares its outputs with the recorded ones.

A file that is not a recording, or is cut off before its header, is one line on stderr
(``axorders replay: <message>``) and exit status 2; a file cut off later is read to its last
whole record, with a note on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from axorders.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from axorders.exceptions import RecordingError
from axorders.recording.reader import Record, Recording
from axorders.recording.views import follow_order, parse_time, states_at, timeline

__all__ = ["CheckResult", "add_parser", "run"]


class CheckResult(Protocol):
    """What ``axorders.replay.check(records)`` returns (the module is provided separately).

    Expected in ``axorders/replay.py``::

        def check(records: Iterable[Record]) -> CheckResult: ...

    where the result has ``ok`` (the fresh session gave the recorded outputs: frames out and
    events) and ``lines()``: the report to print, one line each (the first difference found,
    counts...). ``run`` prints the lines and exits 0 when ``ok``, else 1.
    """

    @property
    def ok(self) -> bool: ...

    def lines(self) -> Iterable[str]: ...


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``replay`` command to the ``axorders`` parser's subcommands."""
    parser = subparsers.add_parser(
        "replay",
        help="print a recording: its events, one order, or every order at a moment",
        description="Read a recording (files or folders of *.jsonl.zst) and print its"
        " timeline: one line per event, with connects, drops and process starts.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="recording files or folders"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="under each event, the venue frames that came since the previous one",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--order",
        metavar="ID",
        help="every frame, command and event of one order (client or venue order id)",
    )
    what.add_argument(
        "--at",
        metavar="TIME",
        help="every order's state at TIME: ISO-8601 (UTC unless a zone is given) or Unix"
        " seconds or nanoseconds",
    )
    what.add_argument(
        "--check",
        action="store_true",
        help="replay the recorded inputs through a fresh session and compare the outputs",
    )


def _error(message: str) -> int:
    print(f"axorders replay: {message}", file=sys.stderr)
    return EXIT_USAGE


def _print_all(lines: Iterable[str], out: TextIO) -> None:
    for line in lines:
        out.write(line + "\n")


def run(args: argparse.Namespace) -> int:
    """Run ``axorders replay``; returns the exit status."""
    at_ns = None
    if args.at is not None:
        try:
            at_ns = parse_time(args.at)
        except ValueError as exc:
            return _error(f"--at: {exc}")
    notes: dict[str, None] = {}  # each note once, though the files may be read twice

    def note(message: str) -> None:
        if message not in notes:
            notes[message] = None
            print(f"axorders replay: note: {message}", file=sys.stderr)

    recording = Recording(args.paths, on_damage=note)
    out = sys.stdout
    try:
        if args.check:
            return _check(recording, out)
        lines: Iterator[str]
        if args.order is not None:
            lines = follow_order(recording, args.order)
        elif at_ns is not None:
            lines = states_at(recording, at_ns)
        else:
            lines = timeline(recording, verbose=args.verbose)
        _print_all(lines, out)
        out.flush()
    except RecordingError as exc:
        return _error(str(exc))
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        return EXIT_OK
    return EXIT_OK


def _check(records: Iterable[Record], out: TextIO) -> int:
    try:
        module = importlib.import_module("axorders.replay")
    except ImportError as exc:
        if exc.name not in ("axorders.replay", None):
            return _error(f"--check is not available: {exc}")
        return _error("--check is not available in this version of axorders")
    check = getattr(module, "check", None)
    if check is None:
        return _error("--check is not available in this version of axorders")
    result = cast(CheckResult, check(records))
    _print_all(result.lines(), out)
    return EXIT_OK if result.ok else EXIT_FAILED
