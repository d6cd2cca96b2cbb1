"""The ``axorders`` console script; the only package of the client that prints.

Credentials come from ``AX_API_KEY`` and ``AX_API_SECRET``, or from ``AX_TOKEN`` (or
``--token``). ``--env sandbox|production`` (or ``AX_ENV``) picks the venue; ``--url`` (or
``AX_URL``) points anywhere else, such as a simulator started with ``axorders sim``.

Exit status: 0 on success; 2 for bad input (URLs and client order ids included), reported in
one line on stderr that names the argument to fix, before anything is sent to the venue; 1 when
the venue says no or the network fails (one line in plain words, e.g. "connection refused");
130 after Ctrl-C (``watch`` ends with 0 on Ctrl-C or SIGTERM: stopping is how it ends).

Events print as one line each (:func:`axorders.format_event`): the event's name, then
``key=value`` pairs. Orders show the client order id the user chose, even when another
``axorders`` process placed them: the names are kept in a small file per environment and
account under ``$XDG_STATE_HOME/axorders/`` (see :mod:`axorders.names`; ``--names PATH`` picks
another file, ``--no-names`` uses none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from axorders.cli.account import _fills, _orders, _status
from axorders.cli.checks import _check_place, _check_ref, _check_replace
from axorders.cli.exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    UsageError,
)
from axorders.cli.orders import _cancel, _cancel_all, _place, _replace
from axorders.cli.orders import _unknown_symbol as _unknown_symbol
from axorders.cli.parser import build_parser
from axorders.cli.positions import run as _holdings
from axorders.cli.render import FILL_COLUMNS as FILL_COLUMNS
from axorders.cli.render import _error
from axorders.cli.render import _plain as _plain
from axorders.cli.render import fill_rows as fill_rows
from axorders.cli.render import make_console as make_console
from axorders.cli.render import print_fills as print_fills
from axorders.cli.replay import run as run_replay
from axorders.cli.risk import halt as _halt
from axorders.cli.sim import run_demo, run_sim
from axorders.cli.venue import _check_proxy, _check_venue, _credentials, _failure_text
from axorders.cli.venue import _redacted as _redacted
from axorders.cli.watch import _watch
from axorders.events import format_event
from axorders.exceptions import AxOrdersError

__all__ = ["build_parser", "format_event", "main"]


_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "place": _place,
    "cancel": _cancel,
    "replace": _replace,
    "cancel-all": _cancel_all,
    "orders": _orders,
    "status": _status,
    "fills": _fills,
    "watch": _watch,
    "positions": _holdings,
    "balances": _holdings,
    "halt": _halt,
}


async def _run(args: argparse.Namespace) -> int:
    """Run one command; SIGINT and SIGTERM stop it cleanly (the client is closed)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopped: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not stopped:
            stopped.append(sig)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop, sig)
    try:
        return await _COMMANDS[args.command](args)
    except asyncio.CancelledError:
        if not stopped:
            raise
        task.uncancel()
        if args.command == "watch":
            return EXIT_OK
        return EXIT_INTERRUPTED if stopped[0] is signal.SIGINT else 128 + stopped[0].value
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)



def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``axorders`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sim":
        return run_sim(args_list[1:])
    args = build_parser().parse_args(args_list)
    if args.command == "demo":
        return run_demo()
    if args.command == "replay":
        return run_replay(args)
    with _command_logging(args.verbose):
        return _main(args)


@contextlib.contextmanager
def _command_logging(verbose: bool) -> Iterator[None]:
    """One command's logging: quiet (errors are one line) unless ``--verbose``; the loggers
    are as they were afterwards (main() may run inside another program)."""
    logger = logging.getLogger("axorders")
    client_logger = logging.getLogger("axorders.client")
    saved = (list(logger.handlers), logger.propagate, client_logger.level)
    if verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logger.addHandler(logging.NullHandler())  # no stray warnings: errors are one line
        logger.propagate = False
    client_logger.setLevel(logging.INFO)  # reconnect attempts (watch)
    try:
        yield
    finally:
        logger.handlers[:] = saved[0]
        logger.propagate = saved[1]
        client_logger.setLevel(saved[2])


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "place":
            _check_place(args)
        elif args.command == "replace":
            _check_replace(args)
        _check_ref(args)
        _check_venue(args)
        _check_proxy(args)
        _credentials(args)
        return asyncio.run(_run(args))
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        _error(str(exc))
        return EXIT_FAILED
    except AxOrdersError as exc:
        _error(_failure_text(args, exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `axorders watch | head`): stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
        return EXIT_FAILED
