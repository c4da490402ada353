"""Metrics: counters, errors by type and latency percentiles over a bounded window."""

from __future__ import annotations

import pytest

from cassandra_asgi.metrics import MetricsRecorder


def test_snapshot_counts_requests_and_errors_by_type() -> None:
    recorder = MetricsRecorder()
    recorder.record(0.001, None)
    recorder.record(0.002, TimeoutError())
    recorder.record(0.003, TimeoutError())
    recorder.record(0.004, KeyError())
    snap = recorder.snapshot(in_flight=1, max_in_flight=8, waiting=0)
    assert snap.requests == 4
    assert snap.errors == 3
    assert snap.errors_by_type == {"TimeoutError": 2, "KeyError": 1}
    assert snap.in_flight == 1
    assert snap.max_in_flight == 8


def test_latency_percentiles_follow_the_recorded_values() -> None:
    recorder = MetricsRecorder()
    for ms in range(1, 101):
        recorder.record(ms / 1000, None)
    snap = recorder.snapshot(in_flight=0, max_in_flight=1, waiting=0)
    assert snap.latency_p50 == pytest.approx(0.050)
    assert snap.latency_p95 == pytest.approx(0.095)
    assert snap.latency_p99 == pytest.approx(0.099)
    assert snap.latency_max == pytest.approx(0.100)


def test_latency_window_keeps_only_the_most_recent_samples() -> None:
    recorder = MetricsRecorder(window=10)
    for _ in range(100):
        recorder.record(1.0, None)
    for _ in range(10):
        recorder.record(0.001, None)
    snap = recorder.snapshot(in_flight=0, max_in_flight=1, waiting=0)
    assert snap.latency_samples == 10
    assert snap.latency_max == pytest.approx(0.001)
    assert snap.requests == 110


def test_empty_snapshot_has_no_percentiles() -> None:
    snap = MetricsRecorder().snapshot(in_flight=0, max_in_flight=1, waiting=0)
    assert snap.latency_p50 is None
    assert snap.as_dict()["requests"] == 0
