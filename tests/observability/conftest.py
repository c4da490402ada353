"""Fixtures for the observability tests: an OpenTelemetry SDK whose spans stay in memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from faults.conftest import fast_recovery_options
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.testing import CQLServer


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK provider of the test's own (the global one can be set only once per process)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def traced_config(
    cassandra_config: CassandraConfig, keyspace: str, tracer_provider: TracerProvider
) -> CassandraConfig:
    return cassandra_config.replace(keyspace=keyspace, tracer_provider=tracer_provider)


@pytest.fixture
async def traced_session(traced_config: CassandraConfig) -> AsyncIterator[AsyncSession]:
    async with connect(traced_config) as session:
        await session.execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)")
        await session.execute(
            "CREATE TABLE IF NOT EXISTS rows (p int, c int, v text, PRIMARY KEY (p, c))"
        )
        yield session


def db_spans(exporter: InMemorySpanExporter, name: str | None = None) -> list[ReadableSpan]:
    """Finished spans of this package, optionally only those called ``name``."""
    return [
        span
        for span in exporter.get_finished_spans()
        if span.instrumentation_scope is not None
        and span.instrumentation_scope.name == "cassandra_asgi"
        and (name is None or span.name == name)
    ]


def server_config(server: CQLServer, **overrides: Any) -> CassandraConfig:
    """A config for one in-memory server that recovers fast when it comes back."""
    return CassandraConfig(
        contact_points=[server.contact_point], **{**fast_recovery_options(), **overrides}
    )


async def eventually(condition: Callable[[], Awaitable[bool]], *, within: float) -> bool:
    """Poll the async ``condition`` until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def until_in_flight(session: AsyncSession, count: int) -> None:
    """Wait (up to 5 s) until ``count`` requests of ``session`` are in the driver's hands."""

    async def reached() -> bool:
        return session.in_flight == count

    assert await eventually(reached, within=5), f"{session.in_flight} in flight, not {count}"
