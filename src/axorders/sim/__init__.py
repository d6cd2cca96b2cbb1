"""The AX simulator: a matching engine and a gateway that speaks the venue's protocol.

* :mod:`axorders.sim.engine`: matching engine, price-time priority (pure); its parts:
  :mod:`~axorders.sim.book`, :mod:`~axorders.sim.matching`, :mod:`~axorders.sim.accounts`,
  :mod:`~axorders.sim.views` and :mod:`~axorders.sim.rules`.
* :mod:`axorders.sim.venue`: per-connection venue sessions (pure); the hostile profile's side
  in :mod:`~axorders.sim.liberties`, market data in :mod:`~axorders.sim.mdsession`.
* :mod:`axorders.sim.makers`: seeded market makers (pure).
* :mod:`axorders.sim.restapi`: the REST endpoints (pure).
* :mod:`axorders.sim.faults`: fault-injection knobs.
* :mod:`axorders.sim.server`: :class:`SimServer`, the aiohttp gateway (the only I/O); its
  parts: :mod:`~axorders.sim.sockets`, :mod:`~axorders.sim.orders_ws`,
  :mod:`~axorders.sim.md_ws`, :mod:`~axorders.sim.admin` and :mod:`~axorders.sim.timers`.
* :mod:`axorders.sim.cli`: ``python -m axorders.sim``.
"""

from axorders.sim.faults import Faults
from axorders.sim.server import SimConfig, SimServer

__all__ = ["Faults", "SimConfig", "SimServer"]
