"""The order registry: every order the session knows, and the maps into them.

Live orders are found by client order id, by ``cid`` and by every venue id they have had
(a replace gives an order a new one). Ended orders move to a bounded recent set, oldest
forgotten first, so that late and duplicate events still find them. Armed STOP_LIMIT orders are
listed per symbol. Per-order side facts live here too, so that they are forgotten with their
order: a local verdict (REJECTED by an ``err``, LOST_IN_TRANSIT) that venue evidence may undo,
the filled quantity a fresh-start replacement's ``xq`` does not count (its base), and the venue
ids a replace's answer named before its ``r`` came, with the quantity that replace asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

from axorders.state import OrderRecord

__all__ = ["OrderRegistry"]


class OrderRegistry:
    """Order records and their ids; owns every map, keeps them consistent.

    Args:
        capacity: how many ended orders are remembered (oldest forgotten first).
    """

    __slots__ = (
        "ahead",
        "armed",
        "asked",
        "base",
        "by_cid",
        "by_oid",
        "capacity",
        "externals",
        "orders",
        "recent",
        "recent_cid",
        "recent_oid",
        "verdicts",
    )

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # Live orders, and the maps into them. These dicts are never replaced, so a part of
        # the session may keep a reference to one for its hot path.
        self.orders: dict[str, OrderRecord] = {}
        self.by_cid: dict[int, str] = {}
        self.by_oid: dict[str, str] = {}
        self.armed: dict[str, list[str]] = {}  # symbol -> armed client order ids
        self.externals: set[str] = set()  # live adopted orders
        # Recently ended orders (insertion order = age), and their ids.
        self.recent: dict[str, OrderRecord] = {}
        self.recent_cid: dict[int, str] = {}
        self.recent_oid: dict[str, str] = {}
        # Local verdicts that venue evidence may undo, by client order id; kept as long as
        # the ended record is remembered.
        self.verdicts: dict[str, str] = {}
        # Filled quantity carried from earlier venue orders that the current one's ``xq`` does
        # not count (a venue whose replacement starts fresh), by client order id.
        self.base: dict[str, int] = {}
        # Venue ids a replace's reply named before its `r` made them the order's own, by
        # client order id: mapped ahead so that the new order's events find the record, and
        # cleared with it when the order ends first.
        self.ahead: dict[str, list[str]] = {}
        # The whole quantity the replace asked for, by the venue id its reply named: it tells
        # how that order's `q` and `xq` count (see OrderTracking._new_base).
        self.asked: dict[str, int] = {}

    # Look-ups.

    def get(self, client_order_id: str) -> OrderRecord | None:
        """A live or remembered order by its client order id."""
        rec = self.orders.get(client_order_id)
        return rec if rec is not None else self.recent.get(client_order_id)

    def find(self, oid: str | None, cid: int | None) -> OrderRecord | None:
        """A live order, else a remembered one, by venue id (first) or ``cid``."""
        coid = None
        if oid is not None:
            coid = self.by_oid.get(oid)
        if coid is None and cid is not None:
            coid = self.by_cid.get(cid)
        if coid is not None:
            live = self.orders.get(coid)
            if live is not None:
                return live
        if oid is not None:
            coid = self.recent_oid.get(oid)
        if coid is None and cid is not None:
            coid = self.recent_cid.get(cid)
        return self.recent.get(coid) if coid is not None else None

    def armed_count(self) -> int:
        return sum(len(v) for v in self.armed.values())

    @staticmethod
    def oids(rec: OrderRecord) -> Iterator[str]:
        """Every venue id ``rec`` has had, the current one first."""
        if rec.venue_order_id is not None:
            yield rec.venue_order_id
        yield from rec.prior_venue_order_ids

    # Changes.

    def track(self, rec: OrderRecord) -> None:
        """Make ``rec`` live under all its ids."""
        coid = rec.client_order_id
        self.orders[coid] = rec
        self.by_cid[rec.cid] = coid
        if rec.venue_order_id is not None:
            self.by_oid[rec.venue_order_id] = coid
        for oid in rec.prior_venue_order_ids:
            self.by_oid[oid] = coid

    def move(self, rec: OrderRecord, oid: str, old: str | None = None) -> None:
        """The order lives at venue id ``oid`` now (a replacement): its current id (or
        ``old``, the one the venue named) joins the earlier ones, and ``oid`` maps to it."""
        if old is None:
            old = rec.venue_order_id
        if old is not None and old != oid and old not in rec.prior_venue_order_ids:
            rec.prior_venue_order_ids.append(old)
        rec.venue_order_id = oid
        self.by_oid[oid] = rec.client_order_id

    def map_ahead(self, rec: OrderRecord, oid: str, quantity: int) -> None:
        """Map ``oid``, named by a replace's reply, to ``rec`` before its `r` comes;
        ``quantity`` is the whole quantity the replace asked for."""
        coid = rec.client_order_id
        if self.by_oid.setdefault(oid, coid) == coid and oid != rec.venue_order_id:
            self.ahead.setdefault(coid, []).append(oid)
            self.asked[oid] = quantity

    def arm(self, rec: OrderRecord) -> None:
        self.armed.setdefault(rec.symbol, []).append(rec.client_order_id)

    def disarm(self, rec: OrderRecord) -> None:
        armed = self.armed.get(rec.symbol)
        if armed is not None and rec.client_order_id in armed:
            armed.remove(rec.client_order_id)
            if not armed:
                del self.armed[rec.symbol]

    def rename(self, rec: OrderRecord, client_order_id: str) -> bool:
        """Give a live adopted order the client order id its cid was made from; False when
        there is nothing to do (same id, or the new one is taken)."""
        old = rec.client_order_id
        if old == client_order_id or client_order_id in self.orders:
            return False
        del self.orders[old]
        self.externals.discard(old)
        if old in self.base:
            self.base[client_order_id] = self.base.pop(old)
        if old in self.ahead:
            self.ahead[client_order_id] = self.ahead.pop(old)
        rec.client_order_id = client_order_id
        rec.external = False
        self.track(rec)
        return True

    def retire(self, rec: OrderRecord) -> bool:
        """Move an ended order from the live maps to the bounded recent set; False when it
        was not live."""
        coid = rec.client_order_id
        if self.orders.pop(coid, None) is None:
            return False
        by_cid = self.by_cid
        if by_cid.get(rec.cid) == coid:
            del by_cid[rec.cid]
        by_oid = self.by_oid
        current = rec.venue_order_id
        if current is not None and by_oid.get(current) == coid:
            del by_oid[current]
        for oid in rec.prior_venue_order_ids:
            if by_oid.get(oid) == coid:
                del by_oid[oid]
        ahead = self.ahead.pop(coid, ()) if self.ahead else ()
        for oid in ahead:
            self.asked.pop(oid, None)
            if by_oid.get(oid) == coid:
                del by_oid[oid]
        if self.externals:
            self.externals.discard(coid)
        # remember(rec), inlined: every order that ends passes here.
        recent = self.recent
        recent[coid] = rec
        self.recent_cid[rec.cid] = coid
        recent_oid = self.recent_oid
        if current is not None:
            recent_oid[current] = coid
        for oid in rec.prior_venue_order_ids:
            recent_oid[oid] = coid
        for oid in ahead:
            recent_oid.setdefault(oid, coid)
        if len(recent) > self.capacity:
            while len(recent) > self.capacity:
                self.forget(next(iter(recent.values())))
        return True

    def remember(self, rec: OrderRecord) -> None:
        """Put an ended order in the recent set (forgetting the oldest past the capacity)."""
        coid = rec.client_order_id
        recent = self.recent
        recent[coid] = rec
        self.recent_cid[rec.cid] = coid
        recent_oid = self.recent_oid
        if rec.venue_order_id is not None:
            recent_oid[rec.venue_order_id] = coid
        for oid in rec.prior_venue_order_ids:
            recent_oid[oid] = coid
        if len(recent) > self.capacity:
            while len(recent) > self.capacity:
                self.forget(next(iter(recent.values())))

    def forget(self, rec: OrderRecord) -> None:
        """Drop ``rec`` (live or remembered) and everything kept about it."""
        coid = rec.client_order_id
        if self.verdicts:
            self.verdicts.pop(coid, None)
        if self.base:
            self.base.pop(coid, None)
        ahead = self.ahead.pop(coid, ()) if self.ahead else ()
        for oid in ahead:
            self.asked.pop(oid, None)
            if self.by_oid.get(oid) == coid:
                del self.by_oid[oid]
            if self.recent_oid.get(oid) == coid:
                del self.recent_oid[oid]
        if self.recent.pop(coid, None) is None:
            if self.orders.get(coid) is rec:
                del self.orders[coid]
                self.externals.discard(coid)
                if self.by_cid.get(rec.cid) == coid:
                    del self.by_cid[rec.cid]
                for oid in self.oids(rec):
                    if self.by_oid.get(oid) == coid:
                        del self.by_oid[oid]
            return
        if self.recent_cid.get(rec.cid) == coid:
            del self.recent_cid[rec.cid]
        recent_oid = self.recent_oid
        current = rec.venue_order_id
        if current is not None and recent_oid.get(current) == coid:
            del recent_oid[current]
        for oid in rec.prior_venue_order_ids:
            if recent_oid.get(oid) == coid:
                del recent_oid[oid]

    def learn_ended_oid(self, rec: OrderRecord, oid: str) -> bool:
        """An ended order's venue id, learned late: kept with the recent set's maps."""
        if rec.venue_order_id is None and self.recent.get(rec.client_order_id) is rec:
            rec.venue_order_id = oid
            self.recent_oid[oid] = rec.client_order_id
            return True
        return False
