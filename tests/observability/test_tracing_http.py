"""Spans of a FastAPI app instrumented with opentelemetry-instrumentation-asgi.

The app runs behind ``OpenTelemetryMiddleware`` and ``CassandraMiddleware`` on the real driver;
spans go to an in-memory exporter. Each test reads the HTTP request's SERVER span and the
Cassandra CLIENT spans made while serving it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cassandra_asgi import AsyncSession, CassandraConfig, CassandraMiddleware
from cassandra_asgi.adapters.fastapi import CassandraSession
from cassandra_asgi.testing import CQLServer

from .conftest import db_spans

#: Rows of the streamed partition and rows per page: three pages (10, 10, 5).
STREAM_ROWS, STREAM_PAGE = 25, 10


def notes_app(config: CassandraConfig) -> FastAPI:
    async def create_schema(session: AsyncSession) -> None:
        await session.execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)")
        await session.execute(
            "CREATE TABLE IF NOT EXISTS rows (p int, c int, v text, PRIMARY KEY (p, c))"
        )
        insert = await session.prepare("INSERT INTO rows (p, c, v) VALUES (0, ?, ?)")
        for c in range(STREAM_ROWS):
            await session.execute(insert, (c, str(c)))
        await session.execute("INSERT INTO kv (k, v) VALUES (1, 'one')")

    app = FastAPI()
    app.add_middleware(CassandraMiddleware, config=config, on_connect=create_schema)

    @app.get("/kv/{k}")
    async def read(k: int, session: CassandraSession) -> dict[str, Any]:
        row = (await session.execute("SELECT v FROM kv WHERE k = %s", (k,))).one()
        return {"v": None if row is None else row.v}

    @app.get("/missing")
    async def missing(session: CassandraSession) -> None:
        try:
            await session.execute("SELECT v FROM no_such_table WHERE k = 1")
        except Exception as exc:
            raise HTTPException(500, type(exc).__name__) from exc

    @app.get("/stream")
    async def stream(session: CassandraSession) -> StreamingResponse:
        async def lines() -> AsyncIterator[str]:
            async with session.stream(
                "SELECT c FROM rows WHERE p = 0", fetch_size=STREAM_PAGE
            ) as rows:
                async for row in rows:
                    yield f"{row.c}\n"

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/impatient")
    async def impatient(session: CassandraSession) -> None:
        try:
            await asyncio.wait_for(session.execute("SELECT v FROM kv WHERE k = 1"), 0.2)
        except TimeoutError:
            raise HTTPException(504, "Cassandra was too slow") from None

    return app


@pytest.fixture
async def client(
    cassandra_config: CassandraConfig, keyspace: str, tracer_provider: TracerProvider
) -> AsyncIterator[httpx.AsyncClient]:
    config = cassandra_config.replace(keyspace=keyspace, tracer_provider=tracer_provider)
    app = OpenTelemetryMiddleware(notes_app(config), tracer_provider=tracer_provider)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://test", timeout=30
        ) as http,
    ):
        yield http


def request_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return server


def seconds(span: ReadableSpan) -> float:
    assert span.start_time is not None
    assert span.end_time is not None
    return (span.end_time - span.start_time) / 1e9


async def test_db_span_is_a_client_span_child_of_the_http_request_span(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter, keyspace: str
) -> None:
    span_exporter.clear()  # the schema's spans, made at startup

    response = await client.get("/kv/1")

    assert response.json() == {"v": "one"}
    server = request_span(span_exporter)
    (span,) = db_spans(span_exporter)
    assert span.kind is SpanKind.CLIENT
    assert span.name == "SELECT kv"
    assert span.parent is not None
    assert span.parent.span_id == server.context.span_id
    assert span.context.trace_id == server.context.trace_id
    attributes = dict(span.attributes or {})
    assert attributes["db.system.name"] == "cassandra"
    assert attributes["db.namespace"] == keyspace
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["db.collection.name"] == "kv"
    assert str(attributes["server.address"]).startswith("127.")
    assert isinstance(attributes["server.port"], int)
    assert attributes["cassandra.consistency.level"] == "local_one"
    assert attributes["cassandra.page.size"] == 5000
    assert "cassandra.coordinator.dc" in attributes
    assert "cassandra.speculative_execution.count" not in attributes  # 0: left out
    assert "cassandra_asgi.retry.count" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    assert "db.query.text" not in attributes


@pytest.mark.memory_only
async def test_db_span_lasts_as_long_as_the_query_under_injected_latency(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter, cql_server: CQLServer
) -> None:
    cql_server.add_latency(0.1, pattern="FROM kv")
    span_exporter.clear()

    await client.get("/kv/1")

    (span,) = db_spans(span_exporter, "SELECT kv")
    assert seconds(span) >= 0.1
    assert seconds(span) <= seconds(request_span(span_exporter))


async def test_failing_query_gives_an_error_span_with_its_error_type(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()

    response = await client.get("/missing")

    assert response.status_code == 500
    (span,) = db_spans(span_exporter, "SELECT no_such_table")
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "cassandra.InvalidRequest"
    assert attributes["db.response.status_code"] == str(0x2200)
    assert span.parent is not None
    assert span.parent.span_id == request_span(span_exporter).context.span_id


async def test_three_page_stream_is_one_span_with_an_event_per_page(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()

    response = await client.get("/stream")

    assert response.text.split() == [str(c) for c in range(STREAM_ROWS)]
    (span,) = db_spans(span_exporter)
    assert span.name == "SELECT rows"
    attributes = dict(span.attributes or {})
    assert attributes["cassandra_asgi.call"] == "stream"
    assert attributes["db.response.returned_rows"] == STREAM_ROWS
    assert attributes["cassandra.page.size"] == STREAM_PAGE
    assert "cassandra_asgi.stream.closed_early" not in attributes
    pages = [event for event in span.events if event.name == "cassandra_asgi.page"]
    assert [dict(event.attributes or {})["db.response.returned_rows"] for event in pages] == [
        10,
        10,
        5,
    ]
    assert all(span.start_time <= event.timestamp <= span.end_time for event in pages)  # type: ignore[operator]
    assert span.parent is not None
    assert span.parent.span_id == request_span(span_exporter).context.span_id


@pytest.mark.memory_only
async def test_cancelled_request_ends_its_span_marked_cancelled(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter, cql_server: CQLServer
) -> None:
    cql_server.add_latency(2.0, pattern="FROM kv")
    span_exporter.clear()

    response = await client.get("/impatient")

    assert response.status_code == 504
    (span,) = db_spans(span_exporter, "SELECT kv")
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "cancelled"
    assert 0.2 <= seconds(span) < 2.0  # ended with the caller, not with the late reply
