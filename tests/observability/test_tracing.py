"""Spans of session calls: what they record, what they never record, and when they exist."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import ExecutionProfile
from cassandra.policies import ConstantSpeculativeExecutionPolicy, RoundRobinPolicy
from cassandra.query import SimpleStatement
from cluster.conftest import cluster_config
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, StatusCode

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.testing import CQLCluster, CQLServer
from cassandra_asgi.tracing import describe_cql, tracing_for

from .conftest import db_spans

SECRET = "s3cret-bound-value"


def every_attribute_value(exporter: InMemorySpanExporter) -> list[str]:
    values = []
    for span in exporter.get_finished_spans():
        values += [str(v) for v in (span.attributes or {}).values()]
        values.append(span.status.description or "")
        for event in span.events:
            values += [str(v) for v in (event.attributes or {}).values()]
    return values


async def test_statement_text_is_recorded_only_with_trace_statements_and_values_never(
    traced_config: CassandraConfig, span_exporter: InMemorySpanExporter
) -> None:
    text = "INSERT INTO kv (k, v) VALUES (?, ?)"
    for trace_statements in (False, True):
        async with connect(traced_config.replace(trace_statements=trace_statements)) as session:
            await session.execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)")
            insert = await session.prepare(text)
            span_exporter.clear()
            await session.execute(insert, (1, SECRET))
            await session.execute("SELECT v FROM kv WHERE v = %s ALLOW FILTERING", (SECRET,))
            with pytest.raises(InvalidRequest, match=SECRET):  # the server quotes the value
                await session.execute("SELECT v FROM kv WHERE k = %s", (SECRET,))

        recorded = [dict(s.attributes or {}).get("db.query.text") for s in db_spans(span_exporter)]
        if trace_statements:
            assert recorded == [
                text,
                "SELECT v FROM kv WHERE v = %s ALLOW FILTERING",
                "SELECT v FROM kv WHERE k = %s",
            ]
        else:
            assert recorded == [None, None, None]
        assert not any(SECRET in value for value in every_attribute_value(span_exporter))


async def test_a_prepare_gets_its_own_span(
    traced_session: AsyncSession, span_exporter: InMemorySpanExporter, keyspace: str
) -> None:
    span_exporter.clear()

    await traced_session.prepare("SELECT v FROM kv WHERE k = ?")

    (span,) = db_spans(span_exporter)
    assert span.name == "PREPARE kv"
    attributes = dict(span.attributes or {})
    assert attributes["db.operation.name"] == "PREPARE"
    assert attributes["db.namespace"] == keyspace
    assert attributes["cassandra_asgi.call"] == "prepare"


async def test_each_later_page_of_a_result_gets_its_own_span(
    traced_session: AsyncSession, span_exporter: InMemorySpanExporter
) -> None:
    insert = await traced_session.prepare("INSERT INTO rows (p, c, v) VALUES (0, ?, 'x')")
    await traced_session.execute_concurrent([(insert, (c,)) for c in range(25)])
    span_exporter.clear()

    result = await traced_session.execute("SELECT c FROM rows WHERE p = 0", fetch_size=10)
    rows = [row.c async for row in result]

    assert rows == list(range(25))
    spans = db_spans(span_exporter, "SELECT rows")
    calls = [dict(s.attributes or {})["cassandra_asgi.call"] for s in spans]
    assert calls == ["execute", "page", "page"]
    assert all(dict(s.attributes or {})["cassandra.page.size"] == 10 for s in spans)


@pytest.mark.memory_only
async def test_retries_the_driver_made_are_counted(
    cql_server: CQLServer, traced_config: CassandraConfig, span_exporter: InMemorySpanExporter
) -> None:
    async with connect(traced_config) as session:
        cql_server.fail("unavailable", pattern="system.local")
        span_exporter.clear()
        with pytest.raises(Exception, match=r"Unavailable|unavailable"):
            await session.ping()  # the driver's policy retries Unavailable once, on the next host

    (span,) = db_spans(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes["cassandra_asgi.retry.count"] == 1
    assert span.status.status_code is StatusCode.ERROR


async def test_consistency_and_page_size_are_the_ones_sent(
    traced_session: AsyncSession, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()
    statement = SimpleStatement(
        "SELECT v FROM kv WHERE k = 1", consistency_level=ConsistencyLevel.ONE, fetch_size=7
    )

    await traced_session.execute(statement)

    (span,) = db_spans(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes["cassandra.consistency.level"] == "one"
    assert attributes["cassandra.page.size"] == 7


@pytest.mark.memory_only
async def test_waiting_for_an_in_flight_slot_is_inside_the_span(
    cql_server: CQLServer, traced_config: CassandraConfig, span_exporter: InMemorySpanExporter
) -> None:
    async with connect(traced_config.replace(max_in_flight=1)) as session:
        cql_server.add_latency(0.2, pattern="system.local")
        span_exporter.clear()
        await asyncio.gather(session.ping(), session.ping())

    first, second = db_spans(span_exporter, "SELECT system.local")
    waited = dict(second.attributes or {})["cassandra_asgi.slot_wait_seconds"]
    assert isinstance(waited, float)
    assert waited >= 0.15
    assert "cassandra_asgi.slot_wait_seconds" not in dict(first.attributes or {})
    assert [event.name for event in second.events] == ["cassandra_asgi.slot_wait"]
    assert second.start_time is not None
    assert first.end_time is not None
    assert second.start_time < first.end_time  # the wait is inside the second span


async def test_a_stream_left_early_ends_its_span_marked_closed_early(
    traced_session: AsyncSession, span_exporter: InMemorySpanExporter
) -> None:
    insert = await traced_session.prepare("INSERT INTO rows (p, c, v) VALUES (0, ?, 'x')")
    await traced_session.execute_concurrent([(insert, (c,)) for c in range(25)])
    span_exporter.clear()

    async with traced_session.stream("SELECT c FROM rows WHERE p = 0", fetch_size=10) as rows:
        async for row in rows:
            if row.c == 3:
                break

    (span,) = db_spans(span_exporter)
    assert dict(span.attributes or {})["cassandra_asgi.stream.closed_early"] is True
    assert span.status.status_code is StatusCode.UNSET


async def test_a_stream_that_fails_ends_its_span_with_the_error(
    traced_session: AsyncSession, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()

    with pytest.raises(Exception, match=r"no_such_table|unconfigured"):
        async for _ in traced_session.stream("SELECT * FROM no_such_table"):
            pass

    (span,) = db_spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "cassandra.InvalidRequest"


def test_no_tracing_without_an_sdk_or_with_a_no_op_provider(
    cassandra_config: CassandraConfig,
) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # no SDK set
    assert tracing_for(cassandra_config) is None
    assert tracing_for(cassandra_config.replace(tracer_provider=NoOpTracerProvider())) is None
    assert tracing_for(cassandra_config.replace(tracer_provider=TracerProvider())) is not None


async def test_a_session_without_an_sdk_makes_no_spans_and_still_serves(
    cassandra_config: CassandraConfig,
) -> None:
    async with connect(cassandra_config) as session:
        assert session._core.tracing is None
        assert (await session.execute("SELECT release_version FROM system.local")).one()


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("SELECT v FROM kv WHERE k = ?", ("SELECT", "kv")),
        ('select * from Ks . "Mixed" where k = 1', ("SELECT", 'Ks."Mixed"')),
        ("  -- a comment\n INSERT INTO ks.t (k) VALUES (1)", ("INSERT", "ks.t")),
        ("/* hint */ UPDATE t SET v = 1 WHERE k = 2", ("UPDATE", "t")),
        ("DELETE v FROM t WHERE k = 2", ("DELETE", "t")),
        ("BEGIN BATCH INSERT INTO t (k) VALUES (1) APPLY BATCH", ("BATCH", None)),
        ("TRUNCATE TABLE t", ("TRUNCATE", "t")),
        ("CREATE TABLE t (k int PRIMARY KEY)", ("CREATE", None)),
        ("", (None, None)),
    ],
)
def test_operation_and_table_come_from_the_statement_text(
    text: str, described: tuple[str | None, str | None]
) -> None:
    assert describe_cql(text) == described


def test_without_opentelemetry_installed_the_package_imports_and_traces_nothing() -> None:
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if not installed: importing it fails\n"
        "from cassandra_asgi import CassandraConfig\n"
        "from cassandra_asgi.tracing import tracing_for\n"
        "assert tracing_for(CassandraConfig()) is None\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_importing_the_package_loads_neither_opentelemetry_nor_prometheus_client() -> None:
    script = (
        "import sys, cassandra_asgi, cassandra_asgi.metrics, cassandra_asgi.tracing\n"
        "print(sorted(m for m in ('opentelemetry', 'prometheus_client') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_speculative_executions_are_counted_and_the_answering_node_named(
    cql_cluster: CQLCluster, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    fast = cql_cluster.nodes[2]
    for node in cql_cluster.nodes:
        if node is not fast:
            node.add_latency(1.0, pattern="system.local")
    eager = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(),
        speculative_execution_policy=ConstantSpeculativeExecutionPolicy(0.05, 2),
    )
    config = cluster_config(
        cql_cluster, tracer_provider=tracer_provider, execution_profiles={"eager": eager}
    )
    async with connect(config) as session:
        ping = SimpleStatement("SELECT release_version FROM system.local", is_idempotent=True)
        span_exporter.clear()
        for _ in range(6):  # round robin: every node is tried first in turn
            await session.execute(ping, execution_profile="eager")

    spans = [dict(s.attributes or {}) for s in db_spans(span_exporter)]
    speculated = [a for a in spans if "cassandra.speculative_execution.count" in a]  # >= 1
    assert speculated  # a slow node was tried first in four of the six
    assert {a["server.address"] for a in speculated} == {fast.address}


async def test_a_read_on_the_lean_path_of_io_loop_names_its_coordinator_and_consistency(
    traced_config: CassandraConfig, span_exporter: InMemorySpanExporter
) -> None:
    async with connect(traced_config.replace(io="loop")) as session:
        await session.execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)")
        select = await session.prepare("SELECT v FROM kv WHERE k = ?")
        select.consistency_level = ConsistencyLevel.ONE
        span_exporter.clear()
        rs = await session.execute(select, (1,))
        assert rs.response_future is None  # the lean path served it
        hosts = {
            (h.endpoint.address, h.endpoint.port) for h in session.cluster.metadata.all_hosts()
        }

    (span,) = db_spans(span_exporter, "SELECT kv")
    attributes = dict(span.attributes or {})
    assert (attributes["server.address"], attributes["server.port"]) in hosts
    assert attributes["cassandra.consistency.level"] == "one"
    assert span.status.status_code is StatusCode.UNSET
