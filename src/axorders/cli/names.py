"""The user's client order ids across processes: the names file of one command."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

import msgspec

from axorders import events as ev
from axorders.cli.options import _venue
from axorders.names import OrderNames, default_names_path


class _Names:
    """The names file of this command, once the account is known (``--no-names``: none)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self.file: OrderNames | None = None

    def open(self, account_id: str) -> None:
        args = self._args
        if self.file is not None or getattr(args, "no_names", False):
            return
        path = args.names
        if path is None:
            venue = _venue(args)
            if venue.lower() not in ("sandbox", "production"):
                venue = urlsplit(venue).netloc.rpartition("@")[2] or venue
            path = default_names_path(venue.lower(), account_id or "default")
        self.file = OrderNames(path)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def remember(self, client_order_id: str | None, venue_order_id: str | None = None) -> None:
        if self.file is not None and client_order_id is not None:
            self.file.remember(client_order_id, venue_order_id)

    def of_venue_id(self, venue_order_id: str | None) -> str | None:
        return self.file.by_venue_id(venue_order_id) if self.file is not None else None

    def name(
        self,
        client_order_id: str | None,
        *,
        cid: int | None = None,
        venue_order_id: str | None = None,
    ) -> str | None:
        if self.file is None:
            return client_order_id
        return self.file.name(client_order_id, cid=cid, venue_order_id=venue_order_id)

    def snapshot(self, order: ev.OrderSnapshot) -> ev.OrderSnapshot:
        name = self.name(order.client_order_id, cid=order.cid, venue_order_id=order.venue_order_id)
        if name != order.client_order_id:
            order = msgspec.structs.replace(order, client_order_id=name)
        if name is not None:
            self.remember(name, order.venue_order_id)
        return order

    def event(self, event: ev.Event) -> ev.Event:
        """``event`` with the user's client order id in place of a ``CID-<n>`` one.

        Learns the venue order ids of named orders on the way.
        """
        if self.file is None:
            return event
        if isinstance(event, ev.ExternalOrderDiscovered):
            order = self.snapshot(event.order)
            return event if order is event.order else msgspec.structs.replace(event, order=order)
        coid = getattr(event, "client_order_id", None)
        oid = getattr(event, "venue_order_id", None)
        if coid is None and oid is None:
            return event
        name = self.name(coid, venue_order_id=oid)
        if name is not None and oid is not None and not name.startswith(("CID-", "EXT-")):
            self.remember(name, oid)
        if name != coid:
            event = msgspec.structs.replace(event, client_order_id=name)
        return event
