"""The venue reference material beside the repository decodes to the right types.

It lives in ``../shared/ax-protocol`` (or ``$AXORDERS_SHARED/ax-protocol``): ``captured/`` holds
real sandbox frames, ``reference/`` synthetic ones. Each file is one JSON frame or body. When the
folder is absent every test here is skipped.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from axorders.model import OrderStatus, Side
from axorders.wire import rest as wr
from axorders.wire.md import (
    L1BookMsg,
    L2BookMsg,
    MdHeartbeatMsg,
    MdReply,
    TickerMsg,
    TradeMsg,
    decode_md_server_frame,
)
from axorders.wire.orders import (
    AcknowledgedMsg,
    CanceledMsg,
    CancelRejectedMsg,
    DoneForDayMsg,
    ErrorReply,
    ExpiredMsg,
    FilledMsg,
    HeartbeatMsg,
    PartiallyFilledMsg,
    RejectedMsg,
    ReplacedMsg,
    ResultReply,
    decode_server_frame,
    encode,
)

pytestmark = pytest.mark.shared

# Same lookup as the shared conftest helpers (kept here: test modules cannot import conftest).
_SHARED = Path(
    os.environ.get("AXORDERS_SHARED", Path(__file__).resolve().parents[2].parent / "shared")
)
PROTOCOL = _SHARED / "ax-protocol"

ORDERS_FRAMES: dict[str, type] = {
    "captured/ws-orders-acknowledged.json": AcknowledgedMsg,
    "captured/ws-orders-canceled.json": CanceledMsg,
    "captured/ws-orders-expired.json": ExpiredMsg,
    "captured/ws-orders-filled-b.json": FilledMsg,
    "captured/ws-orders-filled-s.json": FilledMsg,
    "captured/ws-orders-h.json": HeartbeatMsg,
    "captured/ws-orders-rejected.json": RejectedMsg,
    "captured/ws-orders-replaced.json": ReplacedMsg,
    "captured/ws-orders-response-0.json": ResultReply,
    "captured/ws-orders-response-1.json": ResultReply,
    "captured/ws-orders-response-2.json": ErrorReply,
    "captured/ws-orders-response-3.json": ErrorReply,
    "reference/ws_cancel_rejected.json": CancelRejectedMsg,
    "reference/ws_order_acknowledged.json": AcknowledgedMsg,
    "reference/ws_order_amended.json": ReplacedMsg,
    "reference/ws_order_cancel_response.json": ResultReply,
    "reference/ws_order_canceled.json": CanceledMsg,
    "reference/ws_order_done_for_day.json": DoneForDayMsg,
    "reference/ws_order_error_response.json": ErrorReply,
    "reference/ws_order_expired.json": ExpiredMsg,
    "reference/ws_order_filled.json": FilledMsg,
    "reference/ws_order_heartbeat.json": HeartbeatMsg,
    "reference/ws_order_list_response.json": ResultReply,
    "reference/ws_order_list_response_with_orders.json": ResultReply,
    "reference/ws_order_open_orders_response.json": ResultReply,
    "reference/ws_order_partially_filled.json": PartiallyFilledMsg,
    "reference/ws_order_place_response.json": ResultReply,
    "reference/ws_order_rejected.json": RejectedMsg,
    "reference/ws_order_replaced_live.json": ReplacedMsg,
}

MD_FRAMES: dict[str, type | None] = {
    "captured/ws-md-1.json": L1BookMsg,
    "captured/ws-md-2.json": L2BookMsg,
    "captured/ws-md-3.json": None,  # level 3 book: not used
    "captured/ws-md-bc.json": None,  # BBO candle: not used
    "captured/ws-md-c.json": None,  # candle: not used
    "captured/ws-md-h.json": MdHeartbeatMsg,
    "captured/ws-md-response-1.json": MdReply,
    "captured/ws-md-response-2.json": MdReply,
    "captured/ws-md-response-3.json": MdReply,
    "captured/ws-md-response-4.json": MdReply,
    "captured/ws-md-response-5.json": MdReply,
    "captured/ws-md-response-6.json": MdReply,
    "captured/ws-md-s.json": TickerMsg,
    "captured/ws-md-t.json": TradeMsg,
}

REST_BODIES: dict[str, type] = {
    "captured/balances.json": wr.BalancesResponse,
    "captured/fills.json": wr.FillsPage,
    "captured/fills-live.json": wr.FillsPage,
    "captured/history-replaced.json": wr.OrdersHistoryPage,
    "captured/initial-margin.json": wr.InitialMarginResponse,
    "captured/instruments.json": wr.InstrumentsResponse,
    "captured/open-backoff.json": wr.OpenOrdersPage,
    "captured/open-default.json": wr.OpenOrdersPage,
    "captured/open-inactive.json": wr.OpenOrdersPage,
    "captured/open-orders.json": wr.OpenOrdersPage,
    "captured/open-reject.json": wr.OpenOrdersPage,
    "captured/open-top.json": wr.OpenOrdersPage,
    "captured/order-status-canceled.json": wr.OrderStatusResponse,
    "captured/order-status-filled.json": wr.OrderStatusResponse,
    "captured/order-status-replaced.json": wr.OrderStatusResponse,
    "captured/orders.json": wr.OrdersHistoryPage,
    "captured/orders-live.json": wr.OrdersHistoryPage,
    "captured/positions.json": wr.PositionsResponse,
    "captured/positions-long.json": wr.PositionsResponse,
    "captured/positions-short.json": wr.PositionsResponse,
    "captured/preview.json": wr.PreviewResponse,
    "captured/risk.json": wr.RiskSnapshotResponse,
    "captured/whoami.json": wr.WhoAmI,
    "reference/http_authenticate.json": wr.AuthenticateResponse,
    "reference/http_cancel_all_orders.json": wr.CancelAllBody,
    "reference/http_cancel_order.json": wr.CancelOrderResponse,
    "reference/http_get_fills.json": wr.FillsPage,
    "reference/http_get_open_orders.json": wr.OpenOrdersPage,
    "reference/http_get_order_status.json": wr.OrderStatusResponse,
    "reference/http_place_order.json": wr.OrderIdResponse,
    "reference/http_preview_aggressive_limit_order.json": wr.PreviewResponse,
    "reference/http_replace_order.json": wr.OrderIdResponse,
}


def _compact(data: bytes) -> bytes:
    return json.dumps(json.loads(data), separators=(",", ":")).encode()


def _orders(protocol: Path, name: str) -> Any:
    data = (protocol / name).read_bytes()
    message = decode_server_frame(data)
    assert decode_server_frame(_compact(data)) == message  # fast path agrees
    return message


def test_every_frame_file_is_known(protocol_dir: Path) -> None:
    seen = {
        str(p.relative_to(protocol_dir))
        for pattern in ("captured/ws-orders-*.json", "reference/ws_*.json")
        for p in protocol_dir.glob(pattern)
    }
    assert seen == set(ORDERS_FRAMES)
    md = {str(p.relative_to(protocol_dir)) for p in protocol_dir.glob("captured/ws-md-*.json")}
    assert md == set(MD_FRAMES)


@pytest.mark.parametrize(("name", "kind"), sorted(ORDERS_FRAMES.items()))
def test_orders_frame_decodes(protocol_dir: Path, name: str, kind: type) -> None:
    assert type(_orders(protocol_dir, name)) is kind


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, k in ORDERS_FRAMES.items()
        if n.startswith("captured/") and k not in (ResultReply, ErrorReply)
    ),
)
def test_orders_event_encodes_back_to_the_same_json(protocol_dir: Path, name: str) -> None:
    # What the simulator writes for an event equals what the venue wrote, key for key. (Only
    # the real captures: the synthetic frames are of an older, looser shape.)
    data = (protocol_dir / name).read_bytes()
    encoded = encode(decode_server_frame(data))  # type: ignore[arg-type]
    assert json.loads(encoded) == json.loads(data)
    assert list(json.loads(encoded)) == list(json.loads(data))


def test_captured_login_and_replies(protocol_dir: Path) -> None:
    login = _orders(protocol_dir, "captured/ws-orders-response-0.json")
    assert login.request_id == 0
    assert login.result.login_orders is None
    assert login.result.cancel_on_disconnect is False
    assert login.result.login_id
    open_orders = _orders(protocol_dir, "captured/ws-orders-response-1.json")
    assert open_orders.result.orders == []
    error = _orders(protocol_dir, "captured/ws-orders-response-2.json")
    assert error.error.code == 404
    assert error.error.message


def test_reference_login_lists_orders(protocol_dir: Path) -> None:
    reply = _orders(protocol_dir, "reference/ws_order_list_response_with_orders.json")
    orders = reply.result.login_orders
    assert len(orders) == 2
    assert {o.side for o in orders} == {Side.BUY, Side.SELL}
    assert all(OrderStatus.from_wire(o.status) is OrderStatus.ACCEPTED for o in orders)
    assert reply.result.cancel_on_disconnect is None  # the older form without cod
    older = _orders(protocol_dir, "reference/ws_order_list_response.json")
    assert older.result.login_orders is None


def test_captured_rejection_and_fill(protocol_dir: Path) -> None:
    rejected = _orders(protocol_dir, "captured/ws-orders-rejected.json")
    assert rejected.reject_reason is None
    assert rejected.text
    assert rejected.order.post_only is True
    filled = _orders(protocol_dir, "captured/ws-orders-filled-b.json")
    assert filled.execution.aggressor is True
    assert filled.execution.price < filled.order.price  # filled better than the limit
    assert type(filled.execution.price) is Decimal


def test_replace_forms_and_large_cid(protocol_dir: Path) -> None:
    live = _orders(protocol_dir, "reference/ws_order_replaced_live.json")
    assert live.old_order.cid is not None
    assert live.old_order.cid > 2**63 - 1  # unsigned 64-bit, echoed back by the venue
    assert live.new_order is not None
    assert live.new_venue_order_id == live.new_order.venue_order_id
    assert live.new_order.cid == live.old_order.cid
    amended = _orders(protocol_dir, "reference/ws_order_amended.json")
    assert amended.new_order is None
    assert amended.new_venue_order_id is None
    captured = _orders(protocol_dir, "captured/ws-orders-replaced.json")
    assert captured.old_order.status == "REPLACED"
    assert captured.new_order is not None
    assert captured.new_order.status == "ACCEPTED"


@pytest.mark.parametrize(("name", "kind"), sorted(MD_FRAMES.items(), key=lambda kv: kv[0]))
def test_md_frame_decodes(protocol_dir: Path, name: str, kind: type | None) -> None:
    data = (protocol_dir / name).read_bytes()
    message = decode_md_server_frame(data)
    assert decode_md_server_frame(_compact(data)) == message
    if kind is None:
        assert message is None
    else:
        assert type(message) is kind


def test_md_values(protocol_dir: Path) -> None:
    ticker = decode_md_server_frame((protocol_dir / "captured/ws-md-s.json").read_bytes())
    assert isinstance(ticker, TickerMsg)
    assert ticker.band_lower is not None
    assert ticker.band_upper is not None
    assert ticker.band_lower < ticker.band_upper
    error = decode_md_server_frame((protocol_dir / "captured/ws-md-response-6.json").read_bytes())
    assert isinstance(error, MdReply)
    assert error.error is not None
    assert error.error.code == 404


@pytest.mark.parametrize(("name", "kind"), sorted(REST_BODIES.items()))
def test_rest_body_decodes(protocol_dir: Path, name: str, kind: type) -> None:
    body = wr.decode_rest((protocol_dir / name).read_bytes(), kind)
    assert type(body) is kind


def test_captured_instruments_become_domain_instruments(protocol_dir: Path) -> None:
    data = (protocol_dir / "captured/instruments.json").read_bytes()
    infos = wr.decode_rest(data, wr.InstrumentsResponse).instruments
    assert len(infos) >= 20
    by_symbol = {i.symbol: i.to_instrument() for i in infos}
    eur = by_symbol["EURUSD-PERP"]
    assert eur.tick_size == Decimal("0.0001")
    assert eur.minimum_order_size == 100
    assert eur.price_precision == 4
    for instrument in by_symbol.values():
        assert instrument.tick_size > 0
        assert instrument.minimum_order_size >= 1
        assert instrument.check_price(instrument.tick_size * 1000) == instrument.tick_size * 1000
    for raw in json.loads(data)["instruments"]:
        one = wr.decode_instrument(json.dumps(raw))
        assert one.to_instrument() == by_symbol[one.symbol]


def test_captured_fills_timestamps(protocol_dir: Path) -> None:
    for name in ("captured/fills.json", "captured/fills-live.json"):
        page = wr.decode_rest((protocol_dir / name).read_bytes(), wr.FillsPage)
        for fill in page.fills:
            ns = wr.parse_rfc3339_ns(fill.timestamp)
            assert wr.format_rfc3339_ns(ns) == fill.timestamp
