"""axorders.metrics: counters, gauges, histograms, snapshots, the health line, the exporter."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import math
import re
import sys
import threading
import time
import urllib.request

import pytest

from axorders import metrics as m
from axorders.metrics import (
    DEFAULT_BUCKETS,
    OTHER_LABEL,
    HistogramSnapshot,
    LabelledCounter,
    Metrics,
    MetricsNotInstalledError,
    MetricsSnapshot,
    format_health,
    serve,
)

# ---------------------------------------------------------------------------------------------
# Counters.


def test_counter_inc_and_raw_value() -> None:
    reg = Metrics()
    c = reg.counter("orders_submitted", "Place requests sent")
    c.inc()
    c.inc(4)
    c.value += 1
    assert reg.snapshot().value("orders_submitted") == 6
    assert reg.snapshot()["orders_submitted"] == 6
    with pytest.raises(TypeError, match="inc\\(\\)"):
        c.inc_label("x")


def test_labelled_counter() -> None:
    reg = Metrics()
    c = reg.counter("rejects", "Requests the venue said no to", label="kind")
    assert isinstance(c, LabelledCounter)
    c.inc_label("place")
    c.inc_label("place", 2)
    c.inc_label("cancel")
    snap = reg.snapshot()
    assert dict(snap.counters["rejects"]) == {"place": 3, "cancel": 1}  # type: ignore[arg-type]
    assert snap.value("rejects", "place") == 3
    assert snap.value("rejects", "replace") == 0
    assert snap.value("rejects") == 4
    with pytest.raises(TypeError, match="inc_label"):
        c.inc()


def test_labelled_counter_bounds_its_label_values_and_counts_the_rest() -> None:
    reg = Metrics(max_label_values=2)
    c = reg.counter("dropped", "Dropped", label="what")
    for value in ("a", "b", "c", "d", "c"):
        c.inc_label(value)
    snap = reg.snapshot()
    assert dict(snap.counters["dropped"]) == {"a": 1, "b": 1, OTHER_LABEL: 3}  # type: ignore[arg-type]
    assert c.overflowed == 3
    assert snap.value("dropped") == 5  # nothing lost


def test_pull_counters_and_one_that_raises() -> None:
    reg = Metrics()
    seen = {"n": 7}
    reg.counter_fn("fills", "Fills received", lambda: seen["n"])
    reg.counter_fn("frames", "Frames by way", lambda: {"in": 10, "out": 4}, label="way")
    reg.counter_fn("broken", "Raises", lambda: 1 // 0)
    reg.counter_fn("wrong_shape", "Labelled, gives a number", lambda: 3, label="x")
    snap = reg.snapshot()
    assert snap.value("fills") == 7
    assert snap.value("frames", "in") == 10
    assert snap.value("frames") == 14
    assert snap.missing == ("broken", "wrong_shape")
    assert snap.value("broken") is None
    assert "broken" not in snap
    seen["n"] = 8
    assert reg.snapshot().value("fills") == 8


def test_gauges_pull_and_a_raising_one_is_missing() -> None:
    reg = Metrics()
    state = {"up": True, "open": 3}
    reg.gauge_fn("connected", "1 while connected", lambda: state["up"])
    reg.gauge_fn("open_orders", "Live orders", lambda: state["open"])
    reg.gauge_fn("reader_queue_depth", "Raises", lambda: int("x"))
    reg.gauge_fn("last_message_age_seconds", "Not a number", lambda: "x")  # type: ignore[arg-type,return-value]
    snap = reg.snapshot()
    assert snap.gauges == {"connected": 1, "open_orders": 3}
    assert set(snap.missing) == {"reader_queue_depth", "last_message_age_seconds"}
    state["up"] = False
    assert reg.snapshot().value("connected") == 0


def test_names_are_validated() -> None:
    reg = Metrics()
    reg.counter("fills", "x")
    for bad in ("fills", "fills_total", "axorders_fills", "2x", "a-b", "scrape_x", ""):
        with pytest.raises(ValueError):
            reg.counter(bad, "x")
    with pytest.raises(ValueError):
        reg.gauge_fn("fills", "already a counter", lambda: 1)
    with pytest.raises(ValueError):
        reg.histogram("h", "x", label="le")
    with pytest.raises(ValueError):
        reg.histogram("h", "x", buckets=[0.1, 0.1])
    with pytest.raises(ValueError):
        reg.histogram("h", "x", buckets=[])
    reg.unregister("fills")
    reg.counter_fn("fills", "now pulled", lambda: 2)
    assert reg.snapshot().value("fills") == 2


# ---------------------------------------------------------------------------------------------
# Histograms.


def test_histogram_buckets_are_le_and_cumulative() -> None:
    reg = Metrics()
    h = reg.histogram("request_seconds", "Round trips", buckets=[0.001, 0.01, 0.1])
    for seconds in (0.0005, 0.001, 0.002, 0.05, 0.05, 3.0):
        h.observe(seconds)
    one = reg.snapshot().histogram("request_seconds")
    assert one is not None
    assert one.count == 6
    assert one.sum == pytest.approx(3.1035)
    assert one.buckets == ((0.001, 2), (0.01, 3), (0.1, 5), (math.inf, 6))


def test_histogram_percentiles_interpolate_within_a_bucket() -> None:
    bounds = (0.001, 0.002, 0.004)
    # 100 observations: 50 in (0, 1 ms], 40 in (1, 2 ms], 9 in (2, 4 ms], 1 above.
    one = HistogramSnapshot.of(bounds, [50, 40, 9, 1], 0.2)
    assert one.count == 100
    assert one.p50 == pytest.approx(0.001)
    assert one.p90 == pytest.approx(0.002)
    assert one.p99 == pytest.approx(0.004)
    assert one.quantile(0.25) == pytest.approx(0.0005)
    assert one.quantile(0.70) == pytest.approx(0.0015)
    assert one.quantile(1.0) == pytest.approx(0.004)  # in +Inf: the largest finite bound
    assert one.mean == pytest.approx(0.002)
    empty = HistogramSnapshot.of(bounds, [0, 0, 0, 0], 0.0)
    assert (empty.p50, empty.p99, empty.mean) == (None, None, None)
    with pytest.raises(ValueError):
        one.quantile(1.5)


def test_labelled_histogram_keeps_series_per_label_value() -> None:
    reg = Metrics(max_label_values=3)
    h = reg.histogram("request_seconds", "Round trips", label="kind")
    for _ in range(10):
        h.observe(0.0012, "place")
    h.observe(0.02, "cancel")
    h.observe(0.5)  # no label value: the "" series
    h.observe(float("nan"), "place")
    h.observe(0.1, "replace")  # a 4th value: beyond the bound
    snap = reg.snapshot()
    series = snap.histograms["request_seconds"]
    assert set(series) == {"place", "cancel", "", OTHER_LABEL}
    place = series["place"]
    assert place.count == 10
    assert place.p50 is not None and 0.001 < place.p50 <= 0.0025
    assert snap.value("request_seconds", "place") == 10
    assert snap.value("request_seconds") == 13
    assert h.invalid == 1
    assert h.overflowed == 1
    assert len(place.buckets) == len(DEFAULT_BUCKETS) + 1
    assert DEFAULT_BUCKETS[0] == 0.00005 and DEFAULT_BUCKETS[-1] == 30.0


def test_unlabelled_histogram_refuses_a_label_value() -> None:
    reg = Metrics()
    h = reg.histogram("loop_lag_seconds", "Lag")
    h.observe(0.001)
    h.observe(0.001, "")
    with pytest.raises(ValueError):
        h.observe(0.001, "place")
    assert reg.snapshot().value("loop_lag_seconds") == 2


# ---------------------------------------------------------------------------------------------
# Snapshots.


def test_snapshot_is_a_frozen_copy() -> None:
    reg = Metrics()
    c = reg.counter("fills", "Fills")
    lc = reg.counter("rejects", "Rejects", label="kind")
    h = reg.histogram("request_seconds", "Round trips", label="kind")
    c.inc()
    lc.inc_label("place")
    h.observe(0.001, "place")
    snap = reg.snapshot()
    c.inc(10)
    lc.inc_label("place", 10)
    h.observe(0.001, "place")
    assert snap.value("fills") == 1
    assert snap.value("rejects", "place") == 1
    assert snap.value("request_seconds", "place") == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.counters = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.counters["fills"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.counters["rejects"]["place"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.histograms["request_seconds"]["x"] = snap.histograms["request_seconds"]["place"]  # type: ignore[index]
    with pytest.raises(KeyError):
        snap["nothing"]
    assert snap.info["rejects"].label == "kind"
    assert MetricsSnapshot().value("fills") is None


# ---------------------------------------------------------------------------------------------
# The health line.


def full_registry() -> tuple[Metrics, dict[str, float]]:
    reg = Metrics()
    state: dict[str, float] = {"connected": 1, "open": 3, "flight": 0, "age": 0.4, "queue": 0}
    reg.gauge_fn("connected", "up", lambda: state["connected"])
    reg.gauge_fn("open_orders", "open", lambda: state["open"])
    reg.gauge_fn("requests_in_flight", "in flight", lambda: state["flight"])
    reg.gauge_fn("reader_queue_depth", "queued", lambda: state["queue"])
    reg.gauge_fn("last_message_age_seconds", "age", lambda: state["age"])
    reg.counter("orders_submitted", "sent").inc(20)
    reg.counter("fills", "fills").inc(12)
    reg.counter("rejects", "rejects", label="kind").inc_label("place")
    reg.counter("reconnects", "reconnects")
    h = reg.histogram("request_seconds", "rt", label="kind")
    for _ in range(4):
        h.observe(0.0012, "place")
    return reg, state


def test_format_health_full() -> None:
    reg, state = full_registry()
    line = format_health(reg.snapshot())
    assert line.startswith("connected · 3 open · 0 in flight · last msg 0.4 s ago · ")
    assert "fills 12 · rejects 1 · reconnects 0 · p50 place " in line
    assert re.search(r"p50 place \d+\.\d ms$", line), line
    state.update(connected=0, queue=5, age=125.0)
    line = format_health(reg.snapshot())
    assert line.startswith("DISCONNECTED · 3 open · 0 in flight · 5 queued · last msg 2m05s ago")


def test_format_health_tolerates_missing_metrics() -> None:
    assert format_health(MetricsSnapshot()) == "connection ?"
    reg = Metrics()
    reg.gauge_fn("connected", "up", lambda: 1 // 0)
    reg.counter("fills", "fills").inc(2)
    assert format_health(reg.snapshot()) == "connection ? · fills 2 · 1 unreadable"


# ---------------------------------------------------------------------------------------------
# The Prometheus exporter.

needs_prometheus = pytest.mark.skipif(
    importlib.util.find_spec("prometheus_client") is None,
    reason="prometheus_client is not installed (pip install -e .[dev])",
)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:  # loopback only
        body: bytes = answer.read()
    return body.decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample line of the text exposition."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{head} not in the exposition:\n{text}")


def check_exposition(text: str) -> None:
    assert sample(text, "axorders_orders_submitted_total") == 20
    assert sample(text, "axorders_fills_total") == 12
    assert sample(text, "axorders_reconnects_total") == 0
    assert sample(text, "axorders_rejects_total", kind="place") == 1
    assert sample(text, "axorders_connected") == 1
    assert sample(text, "axorders_open_orders") == 3
    assert sample(text, "axorders_request_seconds_bucket", kind="place", le="0.001") == 0
    assert sample(text, "axorders_request_seconds_bucket", kind="place", le="0.0025") == 4
    assert sample(text, "axorders_request_seconds_bucket", kind="place", le="+Inf") == 4
    assert sample(text, "axorders_request_seconds_count", kind="place") == 4
    assert sample(text, "axorders_request_seconds_sum", kind="place") == pytest.approx(0.0048)
    assert "# TYPE axorders_request_seconds histogram" in text
    assert "# TYPE axorders_fills_total counter" in text or "# TYPE axorders_fills counter" in text


@needs_prometheus
def test_serve_on_port_0_without_a_loop() -> None:
    reg, _ = full_registry()
    server = serve(reg, port=0)
    try:
        assert server.port > 0
        text = scrape(f"http://127.0.0.1:{server.port}/metrics")
        check_exposition(text)
        assert sample(text, "axorders_scrape_fallbacks_total") == 0
        assert sample(text, "axorders_scrape_missing") == 0
    finally:
        server.close()
    server.close()  # idempotent
    assert server.closed


@needs_prometheus
def test_serve_a_client_like_object_and_a_failing_pull() -> None:
    reg, _ = full_registry()
    reg.gauge_fn("broken", "raises", lambda: 1 // 0)

    class Client:
        def metrics(self) -> MetricsSnapshot:
            return reg.snapshot()

    with serve(Client(), port=0) as server:
        text = scrape(server.url)
    check_exposition(text)
    assert "axorders_broken" not in text
    assert sample(text, "axorders_scrape_missing") == 1


@needs_prometheus
def test_serve_refuses_what_gives_no_snapshot() -> None:
    with pytest.raises(TypeError):
        serve(object(), port=0)

    class Wrong:
        def metrics(self) -> int:
            return 3

    with pytest.raises(TypeError, match="MetricsSnapshot"):
        serve(Wrong(), port=0)


@needs_prometheus
async def test_serve_takes_the_snapshot_on_the_running_loop() -> None:
    reg, _ = full_registry()
    loop_thread = threading.get_ident()
    reg.gauge_fn("on_loop", "1 when read on the loop's thread",
                 lambda: threading.get_ident() == loop_thread)  # fmt: skip
    server = serve(reg, port=0)  # picks up the running loop
    try:
        text = await asyncio.to_thread(scrape, server.url)
        check_exposition(text)
        assert sample(text, "axorders_on_loop") == 1
        assert sample(text, "axorders_scrape_fallbacks_total") == 0
    finally:
        await server.aclose()


@needs_prometheus
async def test_serve_falls_back_when_the_loop_does_not_answer() -> None:
    reg, _ = full_registry()
    server = serve(reg, port=0, snapshot_timeout=0.05)
    try:
        started = time.monotonic()
        text = scrape(server.url)  # blocks the loop: the scrape cannot run on it
        assert time.monotonic() - started < 5
        check_exposition(text)
        assert server.fallbacks == 1
        assert sample(text, "axorders_scrape_fallbacks_total") == 1
    finally:
        await server.aclose()


@needs_prometheus
def test_serve_with_the_wsgiref_server_of_old_prometheus_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(m, "_start_http_server_returns_server", lambda: False)
    reg, _ = full_registry()
    server = serve(reg, port=0)
    try:
        check_exposition(scrape(server.url))
    finally:
        server.close()


def test_version_check() -> None:
    assert m._version_at_least("0.20.0", (0, 20))
    assert m._version_at_least("1.0", (0, 20))
    assert not m._version_at_least("0.19.0", (0, 20))
    assert not m._version_at_least("0.17.1rc1", (0, 20))


def test_serve_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    hint = re.escape("pip install 'axorders[metrics]'")
    with pytest.raises(MetricsNotInstalledError, match=hint):
        serve(Metrics(), port=0)
    assert issubclass(MetricsNotInstalledError, ImportError)
