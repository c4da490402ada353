"""Spans, health checks and scrapes never stall the event loop, with a slow server."""

from __future__ import annotations

import asyncio

import pytest
from core.conftest import server_process
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.metrics import PrometheusCollector
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import db_spans

#: Every server reply is delayed this long.
ONE_ROUND_TRIP = 0.100
#: A stall longer than this (beyond time the OS kept the loop's thread off the CPU) means
#: something blocked the loop.
MAX_STALL = 0.020


@pytest.mark.memory_only
@pytest.mark.slow
async def test_no_loop_stall_while_traced_calls_health_checks_and_scrapes_run(
    cql_server: CQLServer,  # requested only so that a real-cluster run skips this test
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    # The slow server runs in its own process, so that it does not compete for the GIL.
    with server_process("--latency", str(ONE_ROUND_TRIP)) as contact_point:
        config = CassandraConfig(
            contact_points=[contact_point], connect_timeout=60, tracer_provider=tracer_provider
        )
        async with connect(config) as session:
            registry = CollectorRegistry()
            registry.register(PrometheusCollector(session))
            async with LoopLagProbe(interval=0.005) as probe:
                report, _, text, _ = await asyncio.gather(
                    session.health(timeout=5.0),
                    session.execute_concurrent(
                        ["SELECT release_version FROM system.local"] * 20, concurrency=20
                    ),
                    asyncio.to_thread(generate_latest, registry),
                    session.prepare("SELECT * FROM system.local WHERE key = ?"),
                )
                on_the_loop = generate_latest(registry)

    assert report.ok
    assert b"cassandra_asgi_host_up" in text
    assert b"cassandra_asgi_host_up" in on_the_loop
    assert len(db_spans(span_exporter)) >= 22
    assert probe.samples > 10
    assert probe.max_blocked < MAX_STALL, f"the loop stalled for {probe.max_blocked * 1000:.1f} ms"
