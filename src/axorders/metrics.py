"""Live metrics: counters, gauges and latency histograms, read as one snapshot.

The parts of the client report to one :class:`Metrics` registry. Reporting is cheap enough for
the hot path: everything runs on the event loop's thread, so there are no locks, only plain
attributes and dicts.

* **Push counters** (:meth:`Metrics.counter`): ``c.inc()``, or ``c.value += 1`` where even a
  method call is too much; a labelled counter takes ``c.inc_label("place")``.
* **Pull counters and gauges** (:meth:`Metrics.counter_fn`, :meth:`Metrics.gauge_fn`): a function
  read only when a snapshot is taken, so a part that already counts (the session's stats, a queue's
  length) pays nothing per event. A function that raises is reported as *missing*
  (:attr:`MetricsSnapshot.missing`); the error never reaches the caller of ``snapshot()``.
* **Histograms** (:meth:`Metrics.histogram`): ``h.observe(seconds, label_value)`` costs one
  bisection over the bucket bounds; bucket counts and the sum are kept per label value.

:meth:`Metrics.snapshot` returns a frozen :class:`MetricsSnapshot`; :func:`format_health` turns
one into a short line for a terminal; :func:`serve` exposes snapshots to Prometheus over HTTP (it
needs the optional extra: ``pip install 'axorders[metrics]'``).

Names are given without the ``axorders_`` prefix and without ``_total``, in base units (seconds),
as Prometheus names them: a counter ``fills`` is scraped as ``axorders_fills_total``, a gauge
``connected`` as ``axorders_connected``, a histogram ``request_seconds`` as
``axorders_request_seconds_bucket``/``_sum``/``_count``. The names below are the ones
:func:`format_health` reads; a part that reports one of these things should use them:

==========================  ============  ==============================================
name                        kind          meaning
==========================  ============  ==============================================
``connected``               gauge         1 while the orders socket is up, else 0
``open_orders``             gauge         orders live at the venue
``requests_in_flight``      gauge         requests sent and not yet answered
``reader_queue_depth``      gauge         frames received and not yet handled
``last_message_age_seconds``  gauge       seconds since the venue's last message
``orders_submitted``        counter       place requests sent
``fills``                   counter       fills received
``rejects``                 counter       requests the venue said no to
``reconnects``              counter       reconnects of the orders socket
``dropped``                 counter       anything dropped, labelled by what
``request_seconds``         histogram     request round trips, labelled by ``kind``
==========================  ============  ==============================================
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import re
import threading
import types
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, overload

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = [
    "CONNECTED",
    "DEFAULT_BUCKETS",
    "DROPPED",
    "FILLS",
    "LAST_MESSAGE_AGE",
    "OPEN_ORDERS",
    "ORDERS_SUBMITTED",
    "READER_QUEUE_DEPTH",
    "RECONNECTS",
    "REJECTS",
    "REQUESTS_IN_FLIGHT",
    "REQUEST_SECONDS",
    "Counter",
    "Histogram",
    "HistogramSnapshot",
    "LabelledCounter",
    "MetricInfo",
    "Metrics",
    "MetricsNotInstalledError",
    "MetricsServer",
    "MetricsSnapshot",
    "format_health",
    "serve",
]

# The well-known names (see the module's table).
CONNECTED: Final = "connected"
OPEN_ORDERS: Final = "open_orders"
REQUESTS_IN_FLIGHT: Final = "requests_in_flight"
READER_QUEUE_DEPTH: Final = "reader_queue_depth"
LAST_MESSAGE_AGE: Final = "last_message_age_seconds"
ORDERS_SUBMITTED: Final = "orders_submitted"
FILLS: Final = "fills"
REJECTS: Final = "rejects"
RECONNECTS: Final = "reconnects"
DROPPED: Final = "dropped"
REQUEST_SECONDS: Final = "request_seconds"

#: Latency bucket upper bounds in seconds, 50 µs to 30 s (``+Inf`` is always added).
DEFAULT_BUCKETS: Final[tuple[float, ...]] = (
    0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

#: Label values kept per labelled metric; further values are counted under :data:`OTHER_LABEL`.
DEFAULT_MAX_LABEL_VALUES: Final = 64
#: The label value that collects the label values beyond a metric's bound.
OTHER_LABEL: Final = "_other"

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_PREFIX = "scrape_"  # the exporter's own metrics (axorders_scrape_...)

Number = int | float
Kind = Literal["counter", "gauge", "histogram"]


# ---------------------------------------------------------------------------------------------
# Push counters and histograms.


class Counter:
    """A push counter. ``inc()`` or, on a hot path, ``counter.value += n``.

    Only the event loop's thread may write it (no lock is taken).
    """

    __slots__ = ("help", "label", "name", "value")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.label: str | None = None
        self.value: Number = 0

    def inc(self, n: Number = 1) -> None:
        """Add ``n`` (1 by default)."""
        self.value += n

    def inc_label(self, value: str, n: Number = 1) -> None:
        """Only for a labelled counter (:class:`LabelledCounter`)."""
        raise TypeError(f"counter {self.name!r} has no label: use inc()")

    def read(self) -> Number | Mapping[str, Number]:
        return self.value


class LabelledCounter(Counter):
    """A push counter with one label: ``inc_label(value, n)``; ``values`` maps value → count.

    At most ``max_label_values`` distinct values are kept; the counts of any further value go to
    the value ``"_other"`` (and :attr:`overflowed` counts those increments), so nothing is lost.
    """

    __slots__ = ("max_label_values", "overflowed", "values")

    def __init__(
        self, name: str, help: str, label: str, max_label_values: int = DEFAULT_MAX_LABEL_VALUES
    ) -> None:
        super().__init__(name, help)
        self.label = label
        self.values: dict[str, Number] = {}
        self.max_label_values = max_label_values
        self.overflowed = 0

    def inc(self, n: Number = 1) -> None:
        raise TypeError(f"counter {self.name!r} is labelled by {self.label!r}: use inc_label()")

    def inc_label(self, value: str, n: Number = 1) -> None:
        """Add ``n`` to the count of label value ``value``."""
        values = self.values
        if value in values:
            values[value] += n
        else:
            self._first(value, n)

    def _first(self, value: str, n: Number) -> None:
        if not isinstance(value, str):
            raise TypeError(f"label value of {self.name!r} must be a str, not {type(value)!r}")
        if len(self.values) >= self.max_label_values:
            self.overflowed += 1
            value = OTHER_LABEL
        self.values[value] = self.values.get(value, 0) + n

    def read(self) -> Number | Mapping[str, Number]:
        return dict(self.values)  # one C-level copy: safe against the loop thread writing


class _Series:
    """One label value's histogram: non-cumulative bucket counts (last is +Inf) and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self, n_buckets: int) -> None:
        self.counts = [0] * (n_buckets + 1)
        self.sum = 0.0


class Histogram:
    """A latency histogram: ``observe(seconds, label_value=None)``.

    The bucket of an observation is found by bisection (O(log buckets)); a bucket counts the
    observations ``<=`` its bound, as Prometheus's ``le``. A NaN observation is not recorded and is
    counted in :attr:`invalid`. At most ``max_label_values`` distinct label values are kept;
    further ones are recorded under ``"_other"`` (and counted in :attr:`overflowed`).
    """

    __slots__ = ("_series", "bounds", "help", "invalid", "label", "max_label_values", "name",
                 "overflowed")  # fmt: skip

    def __init__(
        self,
        name: str,
        help: str,
        bounds: tuple[float, ...],
        label: str | None = None,
        max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
    ) -> None:
        self.name = name
        self.help = help
        self.bounds = bounds
        self.label = label
        self.max_label_values = max_label_values
        self.invalid = 0
        self.overflowed = 0
        # Keyed by label value; None (no label value given) aliases the "" series.
        self._series: dict[str | None, _Series] = {}

    def observe(self, seconds: float, label_value: str | None = None) -> None:
        """Record one observation (in seconds) for ``label_value``."""
        series = self._series.get(label_value)
        if series is None:
            series = self._first(label_value)
        if seconds != seconds:  # noqa: PLR0124  # NaN, without a call
            self.invalid += 1
            return
        series.counts[bisect_left(self.bounds, seconds)] += 1
        series.sum += seconds

    def _first(self, label_value: str | None) -> _Series:
        if label_value is not None and not isinstance(label_value, str):
            raise TypeError(f"label value of {self.name!r} must be a str or None")
        key = label_value or ""
        if self.label is None and key:
            raise ValueError(f"histogram {self.name!r} has no label (label value {key!r} given)")
        series = self._series.get(key)
        if series is None:
            if len(self._series) - (None in self._series) >= self.max_label_values:
                self.overflowed += 1
                key = OTHER_LABEL
                series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(len(self.bounds))
        if key != OTHER_LABEL:
            self._series[label_value] = series
        return series

    def read(self) -> Mapping[str, HistogramSnapshot]:
        out: dict[str, HistogramSnapshot] = {}
        for key, series in list(self._series.items()):
            if key is None or key in out:
                continue
            out[key] = HistogramSnapshot.of(self.bounds, list(series.counts), series.sum)
        return types.MappingProxyType(out)


# ---------------------------------------------------------------------------------------------
# Snapshots.


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """One histogram series at one instant.

    ``buckets`` holds ``(le, cumulative count)`` pairs ending with ``(inf, count)``. The
    percentile estimates interpolate linearly inside a bucket (as Prometheus's
    ``histogram_quantile``); they are ``None`` without observations, and an estimate that falls in
    the ``+Inf`` bucket is the largest finite bound.
    """

    count: int
    sum: float
    buckets: tuple[tuple[float, int], ...]
    p50: float | None
    p90: float | None
    p99: float | None

    @classmethod
    def of(cls, bounds: Sequence[float], counts: Sequence[int], total: float) -> HistogramSnapshot:
        """Build from bucket bounds and non-cumulative counts (one more than bounds: +Inf)."""
        cumulative: list[tuple[float, int]] = []
        running = 0
        for le, n in zip((*bounds, math.inf), counts, strict=True):
            running += n
            cumulative.append((le, running))
        buckets = tuple(cumulative)
        return cls(
            count=running,
            sum=total,
            buckets=buckets,
            p50=_quantile(buckets, 0.50),
            p90=_quantile(buckets, 0.90),
            p99=_quantile(buckets, 0.99),
        )

    def quantile(self, q: float) -> float | None:
        """The estimate of quantile ``q`` (0 ≤ q ≤ 1)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        return _quantile(self.buckets, q)

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


def _quantile(buckets: Sequence[tuple[float, int]], q: float) -> float | None:
    total = buckets[-1][1] if buckets else 0
    if total == 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for le, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(le):
                return lower  # the largest finite bound
            in_bucket = cumulative - below
            return lower + (le - lower) * (rank - below) / in_bucket
        lower, below = le, cumulative
    return lower


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is: its kind, help text and label name (``None`` when unlabelled)."""

    kind: Kind
    help: str
    label: str | None = None


_EMPTY: Mapping[Any, Any] = types.MappingProxyType({})


def _empty() -> Mapping[Any, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The metrics at one instant: a frozen value (its mappings are read-only views of copies).

    ``counters`` maps a name to a number, or for a labelled counter to ``{label value: number}``;
    ``gauges`` maps a name to a number; ``histograms`` maps a name to ``{label value:
    HistogramSnapshot}`` (``""`` for an unlabelled histogram). ``missing`` names the metrics whose
    pull function raised (or returned something that is not a number), so they are absent here.
    ``info`` describes every registered metric (kind, help, label name).
    """

    counters: Mapping[str, Number | Mapping[str, Number]] = field(default_factory=_empty)
    gauges: Mapping[str, float] = field(default_factory=_empty)
    histograms: Mapping[str, Mapping[str, HistogramSnapshot]] = field(default_factory=_empty)
    missing: tuple[str, ...] = ()
    info: Mapping[str, MetricInfo] = field(default_factory=_empty)

    def __getitem__(self, name: str) -> Number | Mapping[str, Any]:
        """The counter, gauge or histogram (``{label value: HistogramSnapshot}``) ``name``."""
        for table in (self.counters, self.gauges, self.histograms):
            if name in table:
                found: Number | Mapping[str, Any] = table[name]
                return found
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.counters or name in self.gauges or name in self.histograms

    def value(self, name: str, label: str | None = None) -> float | None:
        """A number for ``name``, or ``None`` when it is absent.

        A counter's or gauge's value; for a labelled counter the value of ``label`` (0 for a
        value never seen), or the sum over all values without ``label``; for a histogram its
        count (for ``label``, or over all values).
        """
        if name in self.counters:
            found = self.counters[name]
            if isinstance(found, Mapping):
                return found.get(label, 0) if label is not None else sum(found.values())
            return found
        if name in self.gauges:
            return self.gauges[name]
        if name in self.histograms:
            series = self.histograms[name]
            if label is not None:
                one = series.get(label)
                return one.count if one is not None else 0
            return sum(s.count for s in series.values())
        return None

    def histogram(self, name: str, label: str = "") -> HistogramSnapshot | None:
        """The series ``label`` of histogram ``name`` (``None`` when absent)."""
        return self.histograms.get(name, _EMPTY).get(label)


# ---------------------------------------------------------------------------------------------
# The registry.


class Metrics:
    """The registry the client's parts report to.

    Registration validates names (``[a-zA-Z_][a-zA-Z0-9_]*``, unique across kinds, without
    ``_total`` and without the ``axorders_`` prefix) and raises ``ValueError`` for a bad one.
    Reporting (``inc``, ``observe``) belongs to the event loop's thread. :meth:`snapshot` may be
    called from another thread (a scrape): it copies every dict with one C-level copy before
    reading it, so a concurrent write cannot make it fail, though values of different metrics may
    then be a few events apart. Pull functions called from another thread must tolerate that too;
    one that raises is reported as missing. :func:`serve` avoids all this by taking the snapshot
    on the loop when it can.
    """

    def __init__(self, *, max_label_values: int = DEFAULT_MAX_LABEL_VALUES) -> None:
        if max_label_values < 1:
            raise ValueError("max_label_values must be at least 1")
        self.max_label_values = max_label_values
        self._counters: dict[str, Counter] = {}
        self._counter_fns: dict[str, tuple[Callable[[], Any], str | None]] = {}
        self._gauge_fns: dict[str, Callable[[], Any]] = {}
        self._histograms: dict[str, Histogram] = {}
        self._info: dict[str, MetricInfo] = {}
        self._info_view: Mapping[str, MetricInfo] = types.MappingProxyType({})

    # Registration.

    def _register(self, name: str, info: MetricInfo) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"bad metric name {name!r}: use letters, digits and _")
        if name.startswith("axorders_"):
            raise ValueError(f"metric name {name!r}: give it without the axorders_ prefix")
        if name.startswith(_RESERVED_PREFIX):
            raise ValueError(f"metric name {name!r}: the prefix {_RESERVED_PREFIX} is reserved")
        if info.kind == "counter" and name.endswith("_total"):
            raise ValueError(f"counter name {name!r}: give it without _total (it is added)")
        if name in self._info:
            raise ValueError(f"metric {name!r} is already registered")
        if info.label is not None and (
            not _NAME.fullmatch(info.label) or info.label.startswith("__") or info.label == "le"
        ):
            raise ValueError(f"bad label name {info.label!r} for metric {name!r}")
        if not isinstance(info.help, str):
            raise TypeError(f"help of metric {name!r} must be a str")
        self._info[name] = info
        self._info_view = types.MappingProxyType(dict(self._info))

    def unregister(self, name: str) -> None:
        """Forget metric ``name`` (e.g. to register a new pull function for it)."""
        if name not in self._info:
            raise KeyError(name)
        del self._info[name]
        self._counters.pop(name, None)
        self._counter_fns.pop(name, None)
        self._gauge_fns.pop(name, None)
        self._histograms.pop(name, None)
        self._info_view = types.MappingProxyType(dict(self._info))

    @overload
    def counter(self, name: str, help: str, *, label: None = None) -> Counter: ...
    @overload
    def counter(self, name: str, help: str, *, label: str) -> LabelledCounter: ...

    def counter(self, name: str, help: str, *, label: str | None = None) -> Counter:
        """A push counter (a :class:`LabelledCounter` when ``label`` names its label)."""
        self._register(name, MetricInfo("counter", help, label))
        made = (
            Counter(name, help)
            if label is None
            else LabelledCounter(name, help, label, self.max_label_values)
        )
        self._counters[name] = made
        return made

    def counter_fn(
        self,
        name: str,
        help: str,
        fn: Callable[[], Number | Mapping[str, Number]],
        *,
        label: str | None = None,
    ) -> None:
        """A pull counter: ``fn()`` is read at snapshot time.

        Unlabelled, ``fn`` returns a number; labelled, a mapping ``{label value: number}``.
        """
        if not callable(fn):
            raise TypeError(f"fn of counter {name!r} must be callable")
        self._register(name, MetricInfo("counter", help, label))
        self._counter_fns[name] = (fn, label)

    def gauge_fn(self, name: str, help: str, fn: Callable[[], Number]) -> None:
        """A pull gauge: ``fn()`` (a number; a bool counts as 0/1) is read at snapshot time."""
        if not callable(fn):
            raise TypeError(f"fn of gauge {name!r} must be callable")
        self._register(name, MetricInfo("gauge", help))
        self._gauge_fns[name] = fn

    def histogram(
        self,
        name: str,
        help: str,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        label: str | None = None,
    ) -> Histogram:
        """A histogram with these bucket upper bounds (strictly increasing; ``+Inf`` is added)."""
        bounds = tuple(float(b) for b in buckets)
        if bounds and math.isinf(bounds[-1]) and bounds[-1] > 0:
            bounds = bounds[:-1]
        if not bounds:
            raise ValueError(f"histogram {name!r} needs at least one finite bucket bound")
        if any(not math.isfinite(b) for b in bounds) or any(
            a >= b for a, b in itertools.pairwise(bounds)
        ):
            raise ValueError(f"bucket bounds of {name!r} must be finite and strictly increasing")
        self._register(name, MetricInfo("histogram", help, label))
        made = Histogram(name, help, bounds, label, self.max_label_values)
        self._histograms[name] = made
        return made

    def info(self) -> Mapping[str, MetricInfo]:
        """Every registered metric: name → :class:`MetricInfo`."""
        return self._info_view

    # Reading.

    def snapshot(self) -> MetricsSnapshot:
        """The values of every metric now, as a frozen :class:`MetricsSnapshot`.

        Pull functions are called here; one that raises, or returns a value of the wrong shape,
        makes its metric missing (:attr:`MetricsSnapshot.missing`) and never propagates.
        """
        missing: list[str] = []
        counters: dict[str, Number | Mapping[str, Number]] = {}
        for name, counter in list(self._counters.items()):
            read = counter.read()
            counters[name] = types.MappingProxyType(read) if isinstance(read, dict) else read
        for name, (fn, label) in list(self._counter_fns.items()):
            try:
                got = _pull_counter(fn, label)
            except Exception:
                missing.append(name)
                continue
            counters[name] = got
        gauges: dict[str, float] = {}
        for name, gfn in list(self._gauge_fns.items()):
            try:
                gauges[name] = _number(gfn())
            except Exception:
                missing.append(name)
        histograms = {name: h.read() for name, h in list(self._histograms.items())}
        return MetricsSnapshot(
            counters=types.MappingProxyType(counters),
            gauges=types.MappingProxyType(gauges),
            histograms=types.MappingProxyType(histograms),
            missing=tuple(missing),
            info=self._info_view,
        )


def _number(got: object) -> Number:
    if isinstance(got, bool):
        return int(got)
    if isinstance(got, int | float):
        return got
    raise TypeError(f"not a number: {type(got)!r}")


def _pull_counter(fn: Callable[[], Any], label: str | None) -> Number | Mapping[str, Number]:
    got = fn()
    if label is None:
        return _number(got)
    if not isinstance(got, Mapping):
        raise TypeError(f"a labelled pull counter must return a mapping, not {type(got)!r}")
    values = {str(k): _number(v) for k, v in dict(got).items()}
    return types.MappingProxyType(values)


# ---------------------------------------------------------------------------------------------
# The health line.


def _duration(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _count(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def format_health(snapshot: MetricsSnapshot) -> str:
    """One short health line, e.g.
    ``connected · 3 open · 0 in flight · last msg 0.4 s ago · fills 12 · rejects 1 ·
    reconnects 0 · p50 place 1.2 ms``.

    Reads the well-known names (see the module's table); a metric that is absent is left out,
    ``connection ?`` stands in for a missing ``connected``, and unreadable metrics are counted at
    the end. The reader queue is shown only when it is not empty, drops only when there are some.
    """
    parts: list[str] = []
    connected = snapshot.value(CONNECTED)
    if connected is None:
        parts.append("connection ?")
    else:
        parts.append("connected" if connected else "DISCONNECTED")
    for name, text in ((OPEN_ORDERS, "{} open"), (REQUESTS_IN_FLIGHT, "{} in flight")):
        got = snapshot.value(name)
        if got is not None:
            parts.append(text.format(_count(got)))
    queued = snapshot.value(READER_QUEUE_DEPTH)
    if queued:
        parts.append(f"{_count(queued)} queued")
    age = snapshot.value(LAST_MESSAGE_AGE)
    if age is not None and math.isfinite(age):
        parts.append(f"last msg {_age(max(age, 0.0))} ago")
    for name in (FILLS, REJECTS, RECONNECTS):
        got = snapshot.value(name)
        if got is not None:
            parts.append(f"{name} {_count(got)}")
    dropped = snapshot.value(DROPPED)
    if dropped:
        parts.append(f"DROPPED {_count(dropped)}")
    place = snapshot.histogram(REQUEST_SECONDS, "place")
    if place is not None and place.p50 is not None:
        text = f"p50 place {_duration(place.p50)}"
        if place.p99 is not None and place.count >= 100:
            text += f" (p99 {_duration(place.p99)})"
        parts.append(text)
    if snapshot.missing:
        parts.append(f"{len(snapshot.missing)} unreadable")
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------
# The Prometheus exporter (optional extra).


class MetricsNotInstalledError(ImportError):
    """:func:`serve` needs ``prometheus_client``: ``pip install 'axorders[metrics]'``.

    An ``ImportError`` (as for any missing optional dependency), raised before anything starts.
    """


_INSTALL_HINT = "pip install 'axorders[metrics]'"


def _import_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MetricsNotInstalledError(
            f"serving metrics needs prometheus_client: {_INSTALL_HINT}", name="prometheus_client"
        ) from exc
    return prometheus_client


def _version_at_least(version: str, wanted: tuple[int, int]) -> bool:
    numbers: list[int] = []
    for piece in version.split(".")[:2]:
        digits = re.match(r"\d+", piece)
        numbers.append(int(digits.group()) if digits else 0)
    return tuple(numbers) >= wanted


def _start_http_server_returns_server() -> bool:
    """Since prometheus_client 0.20, ``start_http_server`` returns ``(server, thread)``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return _version_at_least(version("prometheus_client"), (0, 20))
    except PackageNotFoundError:
        return False


class MetricsServer:
    """A running exporter: :attr:`port` (the real one when port 0 was asked), :meth:`close`.

    ``scrapes`` counts the snapshots taken; ``fallbacks`` those taken on the scrape's thread
    because the event loop did not answer within the timeout; ``errors`` the snapshots that
    failed. All three are exported as ``axorders_scrape_*_total``.
    """

    def __init__(
        self,
        take: Callable[[], MetricsSnapshot],
        loop: asyncio.AbstractEventLoop | None,
        snapshot_timeout: float,
    ) -> None:
        self._take = take
        self._loop = loop
        self._lock = threading.Lock()  # scrapes may run on several server threads at once
        self._timeout = snapshot_timeout
        self.scrapes = 0
        self.fallbacks = 0
        self.errors = 0
        self.addr = ""
        self.port = 0
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    @property
    def closed(self) -> bool:
        return self._httpd is None

    def close(self) -> None:
        """Stop serving and release the port (waits for the server's thread, ≤ about 0.5 s)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The scrape (on a server thread).

    def snapshot(self) -> MetricsSnapshot:
        """A snapshot for a scrape: on the loop when one runs, else on this thread."""
        with self._lock:
            self.scrapes += 1
        loop = self._loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            done: concurrent.futures.Future[MetricsSnapshot] = concurrent.futures.Future()

            def take_on_loop() -> None:
                if not done.set_running_or_notify_cancel():
                    return
                try:
                    done.set_result(self._take())
                except BaseException as exc:
                    done.set_exception(exc)

            try:
                loop.call_soon_threadsafe(take_on_loop)
                return done.result(timeout=self._timeout)
            except (TimeoutError, RuntimeError):  # loop busy too long, or closed meanwhile
                done.cancel()
                with self._lock:
                    self.fallbacks += 1
        return self._take_here()

    def _take_here(self) -> MetricsSnapshot:
        for _ in range(2):
            try:
                return self._take()
            except RuntimeError:  # a dict changed size under a pull function: try again
                continue
        return self._take()

    def collect(self) -> Iterator[Any]:
        """The metric families of one snapshot (prometheus_client's Collector protocol)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        try:
            snap = self.snapshot()
        except Exception:
            with self._lock:
                self.errors += 1
            snap = None
        if snap is not None:
            yield from _families(snap, CounterMetricFamily, GaugeMetricFamily,
                                 HistogramMetricFamily)  # fmt: skip
            yield GaugeMetricFamily(
                "axorders_scrape_missing",
                "Metrics absent from this scrape because their pull function failed",
                value=len(snap.missing),
            )
        for name, value, text in (
            ("scrapes", self.scrapes, "Snapshots taken for scrapes"),
            ("fallbacks", self.fallbacks,
             "Snapshots taken off the event loop because it did not answer in time"),
            ("errors", self.errors, "Scrapes whose snapshot failed"),
        ):  # fmt: skip
            yield CounterMetricFamily(f"axorders_scrape_{name}", text, value=value)


def _families(
    snap: MetricsSnapshot, counter_cls: Any, gauge_cls: Any, histogram_cls: Any
) -> Iterable[Any]:
    info = snap.info
    for name, value in snap.counters.items():
        meta = info.get(name)
        text = meta.help if meta else name
        if isinstance(value, Mapping):
            label = meta.label if meta and meta.label else "label"
            family = counter_cls(f"axorders_{name}", text, labels=[label])
            for label_value, n in value.items():
                family.add_metric([label_value], n)
        else:
            family = counter_cls(f"axorders_{name}", text, value=value)
        yield family
    for name, gauge in snap.gauges.items():
        meta = info.get(name)
        yield gauge_cls(f"axorders_{name}", meta.help if meta else name, value=gauge)
    for name, series in snap.histograms.items():
        meta = info.get(name)
        hlabel = meta.label if meta else None
        family = histogram_cls(
            f"axorders_{name}", meta.help if meta else name, labels=[hlabel] if hlabel else None
        )
        for label_value, h in series.items():
            buckets = [(_le(le), n) for le, n in h.buckets]
            family.add_metric([label_value] if hlabel else [], buckets, sum_value=h.sum)
        yield family


def _le(bound: float) -> str:
    if math.isinf(bound):
        return "+Inf"
    return repr(bound)


def serve(
    client_or_metrics: Any,
    port: int = 9464,
    addr: str = "127.0.0.1",
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    snapshot_timeout: float = 1.0,
) -> MetricsServer:
    """Serve the metrics to Prometheus at ``http://addr:port/metrics`` (a thread of its own).

    ``client_or_metrics`` is a :class:`Metrics` or any object with a ``metrics()`` method
    returning a :class:`MetricsSnapshot` (it is called once here, to check it). Each scrape turns
    one snapshot into metric families (a custom collector on a registry of its own, never the
    global one): counters as ``axorders_<name>_total``, gauges as ``axorders_<name>``, histograms
    as ``axorders_<name>_bucket``/``_sum``/``_count``, with their label. Port 0 picks a free port:
    read :attr:`MetricsServer.port`. Loopback by default; another ``addr`` exposes the metrics to
    the network.

    Threads: the scrape runs on a server thread. When ``serve`` is called with an event loop
    running (or ``loop`` is given), the scrape asks that loop to take the snapshot
    (``call_soon_threadsafe``) and waits up to ``snapshot_timeout`` seconds, so the snapshot is
    consistent and pull functions only ever run on the loop's thread. If the loop is not running,
    or does not answer in time (it is blocked), the snapshot is taken on the server thread
    instead, which :meth:`Metrics.snapshot` tolerates (it copies every dict before reading; a
    ``RuntimeError`` from a pull function is retried), and the fallback is counted
    (``axorders_scrape_fallbacks_total``).

    Raises :class:`MetricsNotInstalledError` (an ``ImportError``) without the optional extra
    (``pip install 'axorders[metrics]'``), ``TypeError`` for an object that gives no snapshot, and
    ``OSError`` when the port cannot be bound.
    """
    prometheus = _import_prometheus()
    take: Callable[[], MetricsSnapshot]
    if isinstance(client_or_metrics, Metrics):
        take = client_or_metrics.snapshot
    elif callable(getattr(client_or_metrics, "metrics", None)):
        take = client_or_metrics.metrics
    else:
        raise TypeError(
            f"serve() needs a Metrics or an object with a metrics() method, "
            f"not {type(client_or_metrics).__name__}"
        )
    first = take()
    if not isinstance(first, MetricsSnapshot):
        raise TypeError(f"metrics() returned {type(first).__name__}, not a MetricsSnapshot")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"bad port {port!r}")
    if not snapshot_timeout > 0:
        raise ValueError("snapshot_timeout must be positive")
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
    server = MetricsServer(take, loop, snapshot_timeout)
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(server)
    if _start_http_server_returns_server():
        httpd, thread = prometheus.start_http_server(port, addr, registry=registry)
    else:
        httpd, thread = _start_wsgi(prometheus.make_wsgi_app(registry), port, addr)
    server._httpd, server._thread = httpd, thread
    server.addr, server.port = addr, int(httpd.server_port)
    return server


def _start_wsgi(app: Any, port: int, addr: str) -> tuple[WSGIServer, threading.Thread]:
    """A threaded wsgiref server in a daemon thread (for prometheus_client before 0.20)."""
    import socket
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = make_server(addr, port, app, Server, handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="axorders-metrics", daemon=True)
    thread.start()
    return httpd, thread
