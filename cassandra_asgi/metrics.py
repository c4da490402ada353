"""Request counters and a latency summary, cheap enough to update on every request.

Recording is a few attribute and dict updates on the loop thread (no locks: only the loop
thread records). Latencies go into a histogram per ``LATENCY_SLICE`` seconds (buckets 1/16 of a
power of two wide, so a percentile is within about 6% of the true value, and never above the
exact maximum); a snapshot merges the slices of the last ``LATENCY_PERIOD`` seconds. So memory
stays bounded however long the process lives, the summary speaks of a stated stretch of time
whatever the request rate, and a regression is not averaged away by old samples.

Each request is also counted in a cumulative histogram with fixed bounds, which is what
Prometheus needs (``PrometheusCollector``, with ``prometheus_client`` imported only when one
is made).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._compat import running_loop
from .errors import NoHostAvailable

if TYPE_CHECKING:
    from .session import AsyncSession

__all__ = [
    "DURATION_BUCKETS",
    "LATENCY_PERIOD",
    "LATENCY_SLICE",
    "HostMetrics",
    "MetricsRecorder",
    "PrometheusCollector",
    "SessionMetrics",
]

#: Seconds the latency summary covers (the current slice and the ones before it).
LATENCY_PERIOD = 60.0
#: Seconds of one histogram slice; the summary covers between PERIOD - SLICE and PERIOD.
LATENCY_SLICE = 10.0
#: Buckets per power of two.
_SUB_BUCKETS = 16
#: Upper bounds (seconds) of the cumulative request-duration histogram exported to Prometheus,
#: which needs fixed bounds counted since the start, unlike the windowed summary above.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_bisect_left = bisect.bisect_left


@dataclass(frozen=True)
class HostMetrics:
    """One node as the session sees it: the driver's verdict and the requests it coordinated.

    ``requests`` and ``errors`` count each request (page) against the host that gave the
    outcome, the last one tried; ``in_flight`` counts it against the host it was sent to first.
    ``connections``: the driver's open connections to it; ``rack`` and ``release_version`` as
    the node reports them.
    """

    address: str
    datacenter: str | None
    #: the driver's view: True up, False down, None not connected to (ignored by the policy)
    up: bool | None
    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    rack: str | None = None
    connections: int = 0
    release_version: str | None = None


@dataclass(frozen=True)
class SessionMetrics:
    """A snapshot of a session's activity (``session.metrics``), safe to serialise.

    ``errors_by_type`` counts failures by exception class name; a ``NoHostAvailable`` also
    counts each distinct kind of failure inside it, as ``"NoHostAvailable(Unavailable)"``, so
    the counts may add up to more than ``errors``. The latency figures cover the requests of
    the last ``latency_period`` seconds (``latency_samples`` of them).
    """

    in_flight: int
    max_in_flight: int
    waiting: int
    requests: int
    errors: int
    errors_by_type: dict[str, int] = field(default_factory=dict)
    latency_samples: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    latency_max: float | None = None
    latency_period: float = LATENCY_PERIOD
    #: per node, by address (every node the driver knows, and any that served a request)
    hosts: dict[str, HostMetrics] = field(default_factory=dict)

    @property
    def hosts_up(self) -> list[str]:
        return sorted(address for address, host in self.hosts.items() if host.up)

    @property
    def hosts_down(self) -> list[str]:
        return sorted(address for address, host in self.hosts.items() if host.up is False)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a health endpoint or a log line (a host's address is its key)."""
        plain = dataclasses.asdict(self)
        for host in plain["hosts"].values():
            del host["address"]
        return plain


def _bucket(seconds: float) -> int:
    mantissa, exponent = math.frexp(seconds * 1e6)  # microseconds = mantissa * 2**exponent
    if mantissa == 0.0:
        return 0
    return exponent * _SUB_BUCKETS + int((mantissa - 0.5) * 2 * _SUB_BUCKETS)


def _upper_bound(bucket: int) -> float:
    exponent, sub = divmod(bucket, _SUB_BUCKETS)
    return (0.5 + (sub + 1) / (2 * _SUB_BUCKETS)) * 2.0**exponent / 1e6


class _Slice:
    __slots__ = ("counts", "index", "largest", "samples")

    def __init__(self, index: int) -> None:
        self.index = index
        self.counts: dict[int, int] = {}
        self.samples = 0
        self.largest = 0.0


class MetricsRecorder:
    """Accumulates completed requests; ``snapshot()`` summarises them."""

    __slots__ = (
        "_period",
        "_slice",
        "_slices",
        "by_host",
        "duration_counts",
        "duration_sum",
        "errors",
        "errors_by_type",
        "requests",
    )

    def __init__(
        self, period: float = LATENCY_PERIOD, slice_seconds: float = LATENCY_SLICE
    ) -> None:
        if not 0 < slice_seconds <= period:
            raise ValueError("slice_seconds must be positive and at most the period")
        self.requests = 0
        self.errors = 0
        self.errors_by_type: dict[str, int] = {}
        self._period = period
        self._slice = slice_seconds
        self._slices: deque[_Slice] = deque(maxlen=math.ceil(period / slice_seconds))
        #: driver ``Host`` -> [requests, errors, in flight]
        self.by_host: dict[Any, list[int]] = {}
        #: Since the start, for Prometheus: requests per ``DURATION_BUCKETS`` bucket (the last
        #: one unbounded) and their total seconds.
        self.duration_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0

    def sent(self, host: Any) -> None:
        """A request (page) went to ``host`` (a driver ``Host``) first."""
        counts = self.by_host.get(host)
        if counts is None:
            counts = self.by_host[host] = [0, 0, 0]
        counts[2] += 1

    def answered(self, first: Any, last: Any, error: BaseException | None) -> None:
        """The request sent to ``first`` ended, its outcome given by ``last`` (or no host)."""
        by_host = self.by_host
        if first is not None:
            by_host[first][2] -= 1
        if last is not None:
            counts = by_host.get(last)
            if counts is None:
                counts = by_host[last] = [0, 0, 0]
            counts[0] += 1
            if error is not None:
                counts[1] += 1

    def record(self, seconds: float, error: BaseException | None, now: float) -> None:
        """Count one completed driver request (one page counts as one request) that took
        ``seconds`` and ended at ``now`` (``time.perf_counter()``)."""
        self.requests += 1
        self.duration_counts[_bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.duration_sum += seconds
        index = int(now // self._slice)
        slices = self._slices
        if not slices or slices[-1].index != index:
            slices.append(_Slice(index))
        current = slices[-1]
        bucket = _bucket(seconds)
        current.counts[bucket] = current.counts.get(bucket, 0) + 1
        current.samples += 1
        if seconds > current.largest:
            current.largest = seconds
        if error is not None:
            self._count_error(error)

    def _count_error(self, error: BaseException) -> None:
        self.errors += 1
        names = [type(error).__name__]
        if isinstance(error, NoHostAvailable) and isinstance(error.errors, Mapping):
            causes = {type(cause).__name__ for cause in error.errors.values()}
            names += [f"{names[0]}({cause})" for cause in sorted(causes)]
        by_type = self.errors_by_type
        for name in names:
            by_type[name] = by_type.get(name, 0) + 1

    def snapshot(
        self,
        *,
        in_flight: int,
        max_in_flight: int,
        waiting: int,
        now: float | None = None,
        hosts: Iterable[Any] = (),
        pools: Mapping[Any, Any] | None = None,
    ) -> SessionMetrics:
        """``hosts``: the driver ``Host`` objects the cluster knows (listed even when idle);
        ``pools``: the driver's ``Session.get_pool_state()``, for their open connections."""
        counters: dict[str, Any] = {
            "in_flight": in_flight,
            "max_in_flight": max_in_flight,
            "waiting": waiting,
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_type": dict(self.errors_by_type),
            "latency_period": self._period,
            "hosts": self._hosts(hosts, pools or {}),
        }
        oldest = int((time.perf_counter() if now is None else now) // self._slice)
        oldest -= self._slices.maxlen or 1
        recent = [s for s in self._slices if s.index > oldest]
        samples = sum(s.samples for s in recent)
        if not samples:
            return SessionMetrics(**counters)
        merged: dict[int, int] = {}
        for piece in recent:
            for bucket, count in piece.counts.items():
                merged[bucket] = merged.get(bucket, 0) + count
        largest = max(s.largest for s in recent)
        ordered = sorted(merged.items())

        def percentile(fraction: float) -> float:
            rank = max(1, math.ceil(fraction * samples))  # nearest rank
            seen = 0
            for bucket, count in ordered:
                seen += count
                if seen >= rank:
                    return min(_upper_bound(bucket), largest)
            return largest

        return SessionMetrics(
            **counters,
            latency_samples=samples,
            latency_p50=percentile(0.50),
            latency_p95=percentile(0.95),
            latency_p99=percentile(0.99),
            latency_max=largest,
        )

    def _hosts(self, known: Iterable[Any], pools: Mapping[Any, Any]) -> dict[str, HostMetrics]:
        by_host = self.by_host
        listed = list(known)
        seen = set(listed)
        found: dict[str, HostMetrics] = {}
        for host in [*listed, *(h for h in list(by_host) if h not in seen)]:
            requests, errors, in_flight = by_host.get(host, (0, 0, 0))
            found[str(host.address)] = HostMetrics(
                str(host.address),
                host.datacenter,
                host.is_up,
                requests,
                errors,
                in_flight,
                rack=host.rack,
                connections=(pools.get(host) or {}).get("open_count", 0),
                release_version=host.release_version,
            )
        return found


#: Seconds a scrape from another thread waits for the session's loop to take the reading.
COLLECT_TIMEOUT = 5.0


def _prometheus_core() -> Any:
    try:
        from prometheus_client import core
    except ImportError as exc:
        raise ImportError(
            "PrometheusCollector needs prometheus_client: pip install 'cassandra-asgi[prometheus]'"
        ) from exc
    return core


class PrometheusCollector:
    """The session's metrics as Prometheus families, read at each scrape.

    ``registry.register(PrometheusCollector(session))`` on a ``prometheus_client``
    ``CollectorRegistry`` (or the default ``REGISTRY``). Labels stay bounded: an outcome, an
    exception class name, a node's address, data centre and rack, never a statement or a
    key. ``cassandra_asgi_host_up`` leaves out nodes the driver never connected to (those its
    load-balancing policy ignores, such as a remote data centre's): they are neither up nor
    down. A scrape from the session's loop (a ``/metrics`` route of the app) reads at once; one
    from another thread (``prometheus_client.start_http_server``) has the loop take the reading
    and waits up to ``COLLECT_TIMEOUT`` seconds for it. A closed session exports nothing.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._core_module = _prometheus_core()
        self._session = session

    def _families(self) -> dict[str, Any]:
        core = self._core_module
        counter, gauge = core.CounterMetricFamily, core.GaugeMetricFamily
        return {
            "requests": counter(
                "cassandra_asgi_requests",
                "Driver requests completed (each page counts), by outcome and exception class.",
                labels=["outcome", "error_type"],
            ),
            "duration": core.HistogramMetricFamily(
                "cassandra_asgi_request_duration_seconds",
                "Seconds from sending a request (a page) to its outcome.",
            ),
            "in_flight": gauge("cassandra_asgi_in_flight", "Requests in the driver's hands."),
            "waiting": gauge("cassandra_asgi_waiting", "Callers waiting for an in-flight slot."),
            "max_in_flight": gauge(
                "cassandra_asgi_max_in_flight", "The session's in-flight cap (max_in_flight)."
            ),
            "host_up": gauge(
                "cassandra_asgi_host_up",
                "1 while the driver considers the node up, 0 once it marked it down.",
                labels=["address", "dc", "rack"],
            ),
            "host_in_flight": gauge(
                "cassandra_asgi_host_in_flight",
                "Requests of this session in flight to the node (counted where first sent).",
                labels=["address"],
            ),
            "pool_connections": gauge(
                "cassandra_asgi_pool_connections",
                "Open connections of the driver's pool to the node.",
                labels=["address"],
            ),
            "host_requests": counter(
                "cassandra_asgi_host_requests",
                "Requests (pages) whose outcome the node gave: the last one tried.",
                labels=["address"],
            ),
            "host_errors": counter(
                "cassandra_asgi_host_errors",
                "Failed requests (pages) whose outcome the node gave: the last one tried.",
                labels=["address"],
            ),
        }

    def describe(self) -> list[Any]:
        """The families without samples (lets a registry detect duplicate names)."""
        return list(self._families().values())

    def collect(self) -> list[Any]:
        reading = self._read()
        if reading is None:
            return []
        metrics, counts, total = reading
        families = self._families()
        requests = families["requests"]
        requests.add_metric(["ok", ""], metrics.requests - metrics.errors)
        for name, count in sorted(metrics.errors_by_type.items()):
            if "(" not in name:  # "NoHostAvailable(Unavailable)" details one already counted
                requests.add_metric(["error", name], count)
        cumulative, buckets = 0, []
        for bound, count in zip((*DURATION_BUCKETS, math.inf), counts, strict=True):
            cumulative += count
            buckets.append((_bucket_bound(bound), cumulative))
        families["duration"].add_metric([], buckets, total)
        families["in_flight"].add_metric([], metrics.in_flight)
        families["waiting"].add_metric([], metrics.waiting)
        families["max_in_flight"].add_metric([], metrics.max_in_flight)
        for address, host in sorted(metrics.hosts.items()):
            labels = [address, host.datacenter or "", host.rack or ""]
            if host.up is not None:
                families["host_up"].add_metric(labels, 1 if host.up else 0)
            families["host_in_flight"].add_metric([address], host.in_flight)
            families["pool_connections"].add_metric([address], host.connections)
            families["host_requests"].add_metric([address], host.requests)
            families["host_errors"].add_metric([address], host.errors)
        return list(families.values())

    def _read(self) -> tuple[SessionMetrics, list[int], float] | None:
        session = self._session
        if session.closed:
            return None
        core = session._core
        recorder = core.metrics

        def take() -> tuple[SessionMetrics, list[int], float]:
            return session.metrics, list(recorder.duration_counts), recorder.duration_sum

        if running_loop() is core.loop:
            return take()
        if core.loop.is_closed():
            return None
        outcome: concurrent.futures.Future[tuple[SessionMetrics, list[int], float]]
        outcome = concurrent.futures.Future()

        def take_on_the_loop() -> None:
            try:
                outcome.set_result(take())
            except BaseException as exc:
                outcome.set_exception(exc)

        try:
            core.loop.call_soon_threadsafe(take_on_the_loop)
        except RuntimeError:  # the loop closed meanwhile
            return None
        return outcome.result(timeout=COLLECT_TIMEOUT)


def _bucket_bound(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``"+Inf"`` for the last)."""
    return "+Inf" if bound == math.inf else repr(bound)
