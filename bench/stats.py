"""Small statistics helpers shared by every section of the bench.

Percentiles use the nearest-rank method on sorted samples: with thousands of samples per run the
choice of interpolation does not matter, and nearest-rank never invents a latency nobody saw.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RunResult", "median", "percentile", "ratio"]


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted samples (``fraction`` in 0..1)."""
    if not sorted_samples:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


def median(values: Sequence[float]) -> float:
    """The median of the finite values, or NaN when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when either side is missing or the divisor is zero."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator == 0:
        return math.nan
    return numerator / denominator


@dataclass
class RunResult:
    """One timed run of one contender: how many requests finished and how long each took."""

    completed: int
    errors: int
    elapsed: float
    latencies: list[float]
    first_error: str | None = None
    #: CPU seconds the bench process (every thread) and the server used during the run.
    client_cpu: float = math.nan
    server_cpu: float = math.nan

    @property
    def rate(self) -> float:
        """Completed requests per second of wall-clock time."""
        return self.completed / self.elapsed if self.elapsed > 0 else math.nan

    def cpu_us_per_request(self, which: str) -> float:
        """``client`` or ``server`` CPU microseconds per completed request."""
        seconds = self.client_cpu if which == "client" else self.server_cpu
        return seconds / self.completed * 1e6 if self.completed else math.nan

    def latency_ms(self, fraction: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile(sorted(self.latencies), fraction) * 1000.0
