"""Metrics: counters, errors by type (causes inside NoHostAvailable too), latency percentiles
over the last minute."""

from __future__ import annotations

import pytest
from cassandra import OperationTimedOut, Unavailable
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown

from cassandra_asgi import AsyncSession
from cassandra_asgi.metrics import LATENCY_PERIOD, MetricsRecorder, SessionMetrics
from cassandra_asgi.testing import CQLServer


def _snapshot(recorder: MetricsRecorder, now: float) -> SessionMetrics:
    return recorder.snapshot(in_flight=0, max_in_flight=1, waiting=0, now=now)


def test_snapshot_counts_requests_and_errors_by_type() -> None:
    recorder = MetricsRecorder()
    recorder.record(0.001, None, 1.0)
    recorder.record(0.002, TimeoutError(), 1.0)
    recorder.record(0.003, TimeoutError(), 1.0)
    recorder.record(0.004, KeyError(), 1.0)
    snap = recorder.snapshot(in_flight=1, max_in_flight=8, waiting=0, now=1.0)
    assert snap.requests == 4
    assert snap.errors == 3
    assert snap.errors_by_type == {"TimeoutError": 2, "KeyError": 1}
    assert snap.in_flight == 1
    assert snap.max_in_flight == 8


def test_the_causes_inside_no_host_available_are_counted_too() -> None:
    recorder = MetricsRecorder()
    unavailable = NoHostAvailable(
        "no host", {"127.0.0.1:9042": Unavailable("x"), "127.0.0.2:9042": Unavailable("y")}
    )
    lost = NoHostAvailable("no host", {"127.0.0.1:9042": ConnectionShutdown("gone")})
    for error in (unavailable, unavailable, lost, OperationTimedOut()):
        recorder.record(0.001, error, 1.0)
    assert _snapshot(recorder, 1.0).errors_by_type == {
        "NoHostAvailable": 3,
        "NoHostAvailable(Unavailable)": 2,  # once per failure, however many hosts said so
        "NoHostAvailable(ConnectionShutdown)": 1,
        "OperationTimedOut": 1,
    }
    # A NoHostAvailable from connecting lists addresses, not errors: only the outer type counts.
    recorder.record(0.001, NoHostAvailable("no host", ["127.0.0.1"]), 1.0)
    assert _snapshot(recorder, 1.0).errors_by_type["NoHostAvailable"] == 4


def test_latency_percentiles_follow_the_recorded_values_within_the_bucket_width() -> None:
    recorder = MetricsRecorder()
    for ms in range(1, 101):
        recorder.record(ms / 1000, None, 5.0)
    snap = _snapshot(recorder, 5.0)
    assert snap.latency_samples == 100
    for measured, true in ((snap.latency_p50, 0.050), (snap.latency_p95, 0.095)):
        assert measured is not None
        assert true <= measured <= true * 1.07  # an upper bucket bound, at most 1/16 above
    assert snap.latency_p99 == pytest.approx(0.099, rel=0.07)
    assert snap.latency_max == 0.100  # exact
    assert snap.latency_period == LATENCY_PERIOD


def test_the_summary_covers_the_last_minute_only() -> None:
    recorder = MetricsRecorder()
    for _ in range(1000):
        recorder.record(2.0, None, 100.0)  # a bad stretch, long ago
    for _ in range(10):
        recorder.record(0.001, None, 100.0 + LATENCY_PERIOD + 5)
    snap = _snapshot(recorder, 100.0 + LATENCY_PERIOD + 5)
    assert snap.latency_samples == 10
    assert snap.latency_max == 0.001
    assert snap.requests == 1010
    assert _snapshot(recorder, 100.0 + 3 * LATENCY_PERIOD).latency_samples == 0


def test_a_slow_request_within_the_last_minute_still_shows_in_the_max() -> None:
    recorder = MetricsRecorder()
    recorder.record(1.5, None, 100.0)
    for _ in range(10_000):
        recorder.record(0.001, None, 120.0)
    snap = _snapshot(recorder, 140.0)
    assert snap.latency_max == 1.5
    assert snap.latency_p99 == pytest.approx(0.001, rel=0.07)


def test_empty_snapshot_has_no_percentiles() -> None:
    snap = MetricsRecorder().snapshot(in_flight=0, max_in_flight=1, waiting=0)
    assert snap.latency_p50 is None
    assert snap.as_dict()["requests"] == 0


@pytest.mark.memory_only
async def test_a_session_counts_what_a_no_host_available_was_made_of(
    server_session: AsyncSession, cql_server: CQLServer
) -> None:
    cql_server.fail("unavailable", pattern="system.local")
    with pytest.raises(NoHostAvailable):
        await server_session.execute("SELECT release_version FROM system.local")
    counts = server_session.metrics.errors_by_type
    assert counts["NoHostAvailable"] == 1
    assert counts["NoHostAvailable(Unavailable)"] == 1
