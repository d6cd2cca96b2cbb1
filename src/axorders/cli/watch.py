"""``watch``: every event of the account as it happens, reconnect attempts included."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from axorders import events as ev
from axorders.cli.exits import EXIT_OK, Failure
from axorders.cli.names import _Names
from axorders.cli.render import _plain, _say, _show
from axorders.cli.venue import _client, _connect
from axorders.client import OrdersClient
from axorders.metrics import format_health


async def _watch(args: argparse.Namespace) -> int:
    client = _client(args)
    names = _Names(args)
    timeout = args.timeout if args.count is not None else None
    seen = 0
    handler = _AttemptLines()
    logging.getLogger("axorders.client").addHandler(handler)
    health: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(timeout):
            await _connect(client, names)
            if args.stats is not None:
                health = asyncio.get_running_loop().create_task(_health(client, args.stats))
            async for event in client.events():
                if isinstance(event, ev.RequestResolved):
                    continue
                if isinstance(event, ev.Reconnected):
                    handler.attempts = 0
                _show(names, event)
                if isinstance(event, ev.OrderEvent):
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        break
        return EXIT_OK
    except TimeoutError:
        raise Failure(
            f"watch: {seen} of {args.count} order event(s) within {timeout:g} s (--timeout)"
        ) from None
    finally:
        if health is not None:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
        logging.getLogger("axorders.client").removeHandler(handler)
        names.close()
        await client.close()


async def _health(client: OrdersClient, every: float) -> None:
    """``--stats``: one health line every ``every`` seconds."""
    while True:
        await asyncio.sleep(every)
        _say(f"stats: {format_health(client.metrics())}")


class _AttemptLines(logging.Handler):
    """Prints one line per failed reconnect attempt of the client (``watch``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.attempts = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(("reconnect failed", "reconnect refused", "connect attempt")):
            return
        self.attempts += 1
        reason = _plain(message.partition(": ")[2] or message)
        with contextlib.suppress(Exception):
            _say(f"reconnect attempt {self.attempts} failed: {reason}")
