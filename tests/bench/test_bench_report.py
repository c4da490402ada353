"""The bench's arithmetic and report shaping, which the smoke test cannot pin down exactly."""

from __future__ import annotations

import math

import pytest

from bench.gcpauses import GcPauses
from bench.point_reads import RoundSummary
from bench.report import TARGETS, json_safe
from bench.stats import RunResult, median, percentile, ratio


def test_percentile_is_nearest_rank_and_never_interpolates() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_of_nothing_is_nan_not_zero() -> None:
    assert math.isnan(percentile([], 0.5))


def test_median_ignores_runs_that_measured_nothing() -> None:
    assert median([3.0, math.nan, 1.0, 2.0]) == 2.0
    assert math.isnan(median([math.nan]))


def test_ratio_is_nan_when_either_side_is_missing() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(3.0, 0.0))
    assert math.isnan(ratio(math.nan, 2.0))


def test_run_rate_counts_only_completed_requests() -> None:
    run = RunResult(completed=500, errors=20, elapsed=0.25, latencies=[0.001] * 500)
    assert run.rate == 2000.0
    assert run.latency_ms(0.99) == 1.0


def test_json_safe_turns_unmeasured_values_into_null() -> None:
    assert json_safe({"a": math.nan, "b": [1.5, math.inf], 3: "x"}) == {
        "a": None,
        "b": [1.5, None],
        "3": "x",
    }


def test_targets_pass_miss_or_report_missing() -> None:
    by_key = {target.key: target for target in TARGETS}
    at_least = by_key["execute_vs_raw_default"]
    assert at_least.check(1.3) == "PASS"
    assert at_least.check(1.29) == "MISS"
    assert at_least.check(None) == "MISSING"
    stall = by_key["stream_max_loop_stall_ms"]
    assert stall.check(9.9) == "PASS"
    assert stall.check(10.5) == "MISS"
    assert stall.check(math.nan) == "MISSING"


def test_full_collections_are_counted_per_10000_completed_queries() -> None:
    pauses = GcPauses(longest={0: 0.001, 2: 0.040}, count={0: 300, 2: 3})
    run = RunResult(completed=20_000, errors=0, elapsed=1.0, latencies=[0.001])
    summary = RoundSummary.of(run, pauses)
    assert summary.full_gcs_per_10k == 1.5
    assert summary.longest_gc_ms == pytest.approx(40.0)


def test_full_collections_per_query_are_unmeasured_when_nothing_completed() -> None:
    run = RunResult(completed=0, errors=5, elapsed=1.0, latencies=[])
    assert math.isnan(RoundSummary.of(run, GcPauses()).full_gcs_per_10k)
