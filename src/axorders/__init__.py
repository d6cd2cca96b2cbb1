"""axorders: a Python orders client for AX, with a faithful local simulator.

Every public name is importable from here (``from axorders import OrdersClient``). They load
lazily, on first use: ``import axorders`` alone imports none of the client's dependencies
(picows, aiohttp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from axorders.auth import (
        ApiKeyAuth,
        StaticToken,
        TokenProvider,
    )
    from axorders.client import (
        EventStream,
        OrdersClient,
    )
    from axorders.commands import (
        CancelAllOrders,
        CancelOrder,
        PlaceOrder,
        QueryOpenOrders,
        QueryOrderStatus,
        ReplaceOrder,
    )
    from axorders.config import (
        Endpoints,
        Environment,
    )
    from axorders.events import (
        CancelRejected,
        Disconnected,
        Event,
        ExternalOrderDiscovered,
        JournalWarning,
        LoginSnapshot,
        MalformedMessage,
        OpenOrdersReceived,
        OrderAccepted,
        OrderCanceled,
        OrderEvent,
        OrderExpired,
        OrderFilled,
        OrderRejected,
        OrderReplaced,
        OrderSnapshot,
        OrderStateCorrected,
        OrderStatusReport,
        OrderTriggered,
        Reconnected,
        RejectOrigin,
        ReplaceRejected,
        RequestFallback,
        RequestKind,
        RequestOutcome,
        RequestResolved,
        Resynced,
        UnknownMessage,
        VenueError,
        format_event,
    )
    from axorders.exceptions import (
        AuthenticationError,
        AxOrdersError,
        CancelRejectedError,
        ConnectError,
        ConnectionLostError,
        DuplicateOrderError,
        InsecureTransportError,
        InvalidOrderError,
        InvalidStateError,
        LocalProtocolError,
        OrderNotFoundError,
        OrderRejectedError,
        OrderRequestError,
        ProtocolError,
        RemoteProtocolError,
        ReplaceRejectedError,
        RequestRejectedError,
        RequestTimeoutError,
        StoreError,
        TransportError,
        UnknownInstrumentError,
        UnknownOrderError,
    )
    from axorders.model import (
        ClientOrderId,
        Instrument,
        LiquiditySide,
        OrderStatus,
        OrderType,
        RequestId,
        Side,
        TimeInForce,
        TriggerSource,
        VenueOrderId,
        cid_for,
    )
    from axorders.rest import (
        RestClient,
    )
    from axorders.results import (
        OrderResult,
    )
    from axorders.sim import (
        SimConfig,
        SimServer,
    )
    from axorders.store import (
        MemoryOrderStore,
        OrderStore,
        SqliteOrderStore,
    )

_WHERE: dict[str, str] = {
    "EventStream": "axorders.client",
    "OrdersClient": "axorders.client",
    "OrderResult": "axorders.results",
    "CancelAllOrders": "axorders.commands",
    "CancelOrder": "axorders.commands",
    "PlaceOrder": "axorders.commands",
    "QueryOpenOrders": "axorders.commands",
    "QueryOrderStatus": "axorders.commands",
    "ReplaceOrder": "axorders.commands",
    "CancelRejected": "axorders.events",
    "Disconnected": "axorders.events",
    "Event": "axorders.events",
    "ExternalOrderDiscovered": "axorders.events",
    "LoginSnapshot": "axorders.events",
    "MalformedMessage": "axorders.events",
    "OpenOrdersReceived": "axorders.events",
    "OrderAccepted": "axorders.events",
    "OrderCanceled": "axorders.events",
    "OrderEvent": "axorders.events",
    "OrderExpired": "axorders.events",
    "OrderFilled": "axorders.events",
    "OrderRejected": "axorders.events",
    "OrderReplaced": "axorders.events",
    "OrderSnapshot": "axorders.events",
    "OrderStatusReport": "axorders.events",
    "OrderTriggered": "axorders.events",
    "Reconnected": "axorders.events",
    "RejectOrigin": "axorders.events",
    "ReplaceRejected": "axorders.events",
    "RequestKind": "axorders.events",
    "RequestOutcome": "axorders.events",
    "RequestResolved": "axorders.events",
    "Resynced": "axorders.events",
    "UnknownMessage": "axorders.events",
    "RequestFallback": "axorders.events",
    "OrderStateCorrected": "axorders.events",
    "format_event": "axorders.events",
    "JournalWarning": "axorders.events",
    "VenueError": "axorders.events",
    "AuthenticationError": "axorders.exceptions",
    "AxOrdersError": "axorders.exceptions",
    "CancelRejectedError": "axorders.exceptions",
    "ConnectError": "axorders.exceptions",
    "ConnectionLostError": "axorders.exceptions",
    "DuplicateOrderError": "axorders.exceptions",
    "InsecureTransportError": "axorders.exceptions",
    "InvalidOrderError": "axorders.exceptions",
    "InvalidStateError": "axorders.exceptions",
    "LocalProtocolError": "axorders.exceptions",
    "OrderNotFoundError": "axorders.exceptions",
    "OrderRejectedError": "axorders.exceptions",
    "OrderRequestError": "axorders.exceptions",
    "ProtocolError": "axorders.exceptions",
    "RemoteProtocolError": "axorders.exceptions",
    "ReplaceRejectedError": "axorders.exceptions",
    "RequestRejectedError": "axorders.exceptions",
    "RequestTimeoutError": "axorders.exceptions",
    "StoreError": "axorders.exceptions",
    "TransportError": "axorders.exceptions",
    "UnknownInstrumentError": "axorders.exceptions",
    "UnknownOrderError": "axorders.exceptions",
    "ClientOrderId": "axorders.model",
    "Instrument": "axorders.model",
    "LiquiditySide": "axorders.model",
    "OrderStatus": "axorders.model",
    "OrderType": "axorders.model",
    "RequestId": "axorders.model",
    "Side": "axorders.model",
    "TimeInForce": "axorders.model",
    "TriggerSource": "axorders.model",
    "VenueOrderId": "axorders.model",
    "cid_for": "axorders.model",
    "Endpoints": "axorders.config",
    "Environment": "axorders.config",
    "ApiKeyAuth": "axorders.auth",
    "StaticToken": "axorders.auth",
    "TokenProvider": "axorders.auth",
    "RestClient": "axorders.rest",
    "MemoryOrderStore": "axorders.store",
    "OrderStore": "axorders.store",
    "SqliteOrderStore": "axorders.store",
    "SimConfig": "axorders.sim",
    "SimServer": "axorders.sim",
}
"""Which module defines each public name."""

_SUBMODULES = frozenset(
    {
        "auth",
        "cli",
        "client",
        "commands",
        "config",
        "events",
        "exceptions",
        "model",
        "rest",
        "results",
        "security",
        "session",
        "sim",
        "state",
        "store",
        "wire",
    }
)

__all__ = [
    "ApiKeyAuth",
    "AuthenticationError",
    "AxOrdersError",
    "CancelAllOrders",
    "CancelOrder",
    "CancelRejected",
    "CancelRejectedError",
    "ClientOrderId",
    "ConnectError",
    "ConnectionLostError",
    "Disconnected",
    "DuplicateOrderError",
    "Endpoints",
    "Environment",
    "Event",
    "EventStream",
    "ExternalOrderDiscovered",
    "InsecureTransportError",
    "Instrument",
    "InvalidOrderError",
    "InvalidStateError",
    "JournalWarning",
    "LiquiditySide",
    "LocalProtocolError",
    "LoginSnapshot",
    "MalformedMessage",
    "MemoryOrderStore",
    "OpenOrdersReceived",
    "OrderAccepted",
    "OrderCanceled",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderNotFoundError",
    "OrderRejected",
    "OrderRejectedError",
    "OrderReplaced",
    "OrderRequestError",
    "OrderResult",
    "OrderSnapshot",
    "OrderStateCorrected",
    "OrderStatus",
    "OrderStatusReport",
    "OrderStore",
    "OrderTriggered",
    "OrderType",
    "OrdersClient",
    "PlaceOrder",
    "ProtocolError",
    "QueryOpenOrders",
    "QueryOrderStatus",
    "Reconnected",
    "RejectOrigin",
    "RemoteProtocolError",
    "ReplaceOrder",
    "ReplaceRejected",
    "ReplaceRejectedError",
    "RequestFallback",
    "RequestId",
    "RequestKind",
    "RequestOutcome",
    "RequestRejectedError",
    "RequestResolved",
    "RequestTimeoutError",
    "RestClient",
    "Resynced",
    "Side",
    "SimConfig",
    "SimServer",
    "SqliteOrderStore",
    "StaticToken",
    "StoreError",
    "TimeInForce",
    "TokenProvider",
    "TransportError",
    "TriggerSource",
    "UnknownInstrumentError",
    "UnknownMessage",
    "UnknownOrderError",
    "VenueError",
    "VenueOrderId",
    "cid_for",
    "format_event",
]


if not TYPE_CHECKING:  # for type checkers, the imports above are the module's names

    def __getattr__(name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            if name in _SUBMODULES:
                return importlib.import_module(f"axorders.{name}")
            raise AttributeError(f"module 'axorders' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
