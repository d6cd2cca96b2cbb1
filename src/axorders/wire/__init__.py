"""The venue's wire formats: the only package that knows AX's JSON keys.

* :mod:`axorders.wire.orders`: the orders WebSocket, both directions.
* :mod:`axorders.wire.md`: the market-data WebSocket.
* :mod:`axorders.wire.rest`: REST bodies and responses.
"""
