"""Request tracing: the trace id comes back with the response and the driver's
get_query_trace() reads the session and its events from system_traces."""

from __future__ import annotations

import datetime

import pytest
from cassandra import ConsistencyLevel, InvalidRequest, Unauthorized
from cassandra.cluster import Session
from cassandra.query import BatchStatement, SimpleStatement


@pytest.fixture
def traced(session: Session) -> Session:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    return session


def test_untraced_requests_carry_no_trace_id(traced: Session) -> None:
    future = traced.execute_async("SELECT * FROM t")
    future.result()
    assert future.get_query_trace() is None


def test_a_traced_query_has_a_session_with_coordinator_duration_and_events(
    traced: Session,
) -> None:
    result = traced.execute("SELECT * FROM t WHERE k = 1", trace=True)
    trace = result.get_query_trace(max_wait_sec=5)
    assert trace.request_type == "Execute CQL3 query"
    assert trace.coordinator is not None
    assert trace.duration is not None
    assert trace.duration > datetime.timedelta(0)
    assert trace.parameters["query"] == "SELECT * FROM t WHERE k = 1"
    assert isinstance(trace.started_at, datetime.datetime)
    assert trace.events
    assert all(event.source is not None for event in trace.events)


def test_prepared_statements_and_batches_are_traced_too(traced: Session) -> None:
    insert = traced.prepare("INSERT INTO t (k, v) VALUES (?, ?)")
    executed = traced.execute(insert, (1, 1), trace=True).get_query_trace(max_wait_sec=5)
    assert executed.request_type == "Execute CQL3 prepared query"
    batch = BatchStatement()
    batch.add(insert, (2, 2))
    batched = traced.execute(batch, trace=True).get_query_trace(max_wait_sec=5)
    assert batched.request_type == "Execute batch of CQL3 queries"


def test_each_traced_request_gets_its_own_session(traced: Session) -> None:
    statement = SimpleStatement("SELECT * FROM t")
    first = traced.execute(statement, trace=True).get_query_trace(max_wait_sec=5)
    second = traced.execute(statement, trace=True).get_query_trace(max_wait_sec=5)
    assert first.trace_id != second.trace_id


def test_system_traces_tables_are_readable(traced: Session) -> None:
    result = traced.execute("SELECT v FROM t", trace=True)
    trace_id = result.get_query_trace(max_wait_sec=5).trace_id
    row = traced.execute(
        "SELECT request, coordinator FROM system_traces.sessions WHERE session_id = %s",
        (trace_id,),
    ).one()
    assert row.request == "Execute CQL3 query"
    events = traced.execute(
        "SELECT activity FROM system_traces.events WHERE session_id = %s", (trace_id,)
    )
    assert [event.activity for event in events]


@pytest.mark.memory_only  # Cassandra's own events depend on its storage engine
def test_trace_events_describe_the_read_path_and_end_with_request_complete(
    traced: Session,
) -> None:
    trace = traced.execute("SELECT * FROM t WHERE k = 1", trace=True).get_query_trace()
    activities = [event.description for event in trace.events]
    assert activities[0] == "Parsing SELECT * FROM t WHERE k = 1"
    assert "Executing single-partition query on t" in activities
    assert activities[-1] == "Request complete"


def test_trace_rows_can_be_changed_like_in_cassandra(traced: Session) -> None:
    trace_id = (
        traced.execute("SELECT v FROM t", trace=True).get_query_trace(max_wait_sec=5).trace_id
    )
    traced.execute("DELETE duration FROM system_traces.sessions WHERE session_id = %s", (trace_id,))
    row = traced.execute(
        "SELECT duration FROM system_traces.sessions WHERE session_id = %s", (trace_id,)
    ).one()
    assert row.duration is None


def test_the_system_traces_keyspace_cannot_be_dropped(traced: Session) -> None:
    with pytest.raises(Unauthorized):
        traced.execute("DROP KEYSPACE system_traces")


def test_reading_at_consistency_any_is_refused(traced: Session) -> None:
    with pytest.raises(InvalidRequest, match="ANY ConsistencyLevel is only supported for writes"):
        traced.execute(SimpleStatement("SELECT * FROM t", consistency_level=ConsistencyLevel.ANY))
