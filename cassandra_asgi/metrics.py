"""Request counters and a latency summary, cheap enough to update on every request.

Recording is a few attribute updates on the loop thread (no locks: only the loop thread
records). Percentiles are computed when someone reads them, over a bounded window of the most
recent latencies, so a long-lived process neither grows memory nor averages away a regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricsRecorder", "SessionMetrics"]

#: Latency samples kept for the percentiles.
LATENCY_WINDOW = 2048


@dataclass(frozen=True)
class SessionMetrics:
    """A snapshot of a session's activity (``session.metrics``), safe to serialise."""

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

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a health endpoint or a log line."""
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "waiting": self.waiting,
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_type": dict(self.errors_by_type),
            "latency_samples": self.latency_samples,
            "latency_p50": self.latency_p50,
            "latency_p95": self.latency_p95,
            "latency_p99": self.latency_p99,
            "latency_max": self.latency_max,
        }


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


class MetricsRecorder:
    """Accumulates completed requests; ``snapshot()`` summarises them."""

    __slots__ = ("_latencies", "_next", "errors", "errors_by_type", "requests")

    def __init__(self, window: int = LATENCY_WINDOW) -> None:
        self.requests = 0
        self.errors = 0
        self.errors_by_type: dict[str, int] = {}
        if window < 1:
            raise ValueError("window must be positive")
        self._latencies: list[float] = [0.0] * window
        self._next = 0

    def record(self, seconds: float, error: BaseException | None) -> None:
        """Count one completed driver request (one page counts as one request)."""
        self.requests += 1
        latencies = self._latencies
        latencies[self._next % len(latencies)] = seconds
        self._next += 1
        if error is not None:
            self.errors += 1
            name = type(error).__name__
            self.errors_by_type[name] = self.errors_by_type.get(name, 0) + 1

    def recent_latencies(self) -> list[float]:
        """The samples in the window, oldest first."""
        size = len(self._latencies)
        if self._next <= size:
            return self._latencies[: self._next]
        start = self._next % size
        return self._latencies[start:] + self._latencies[:start]

    def snapshot(self, *, in_flight: int, max_in_flight: int, waiting: int) -> SessionMetrics:
        ordered = sorted(self.recent_latencies())
        if not ordered:
            return SessionMetrics(
                in_flight=in_flight,
                max_in_flight=max_in_flight,
                waiting=waiting,
                requests=self.requests,
                errors=self.errors,
                errors_by_type=dict(self.errors_by_type),
            )
        return SessionMetrics(
            in_flight=in_flight,
            max_in_flight=max_in_flight,
            waiting=waiting,
            requests=self.requests,
            errors=self.errors,
            errors_by_type=dict(self.errors_by_type),
            latency_samples=len(ordered),
            latency_p50=_percentile(ordered, 0.50),
            latency_p95=_percentile(ordered, 0.95),
            latency_p99=_percentile(ordered, 0.99),
            latency_max=ordered[-1],
        )
