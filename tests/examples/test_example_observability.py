"""The FastAPI and aiohttp examples expose ``/metrics`` (their log lines under uvicorn:
test_example_startup.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from example_servers import serving_example
from prometheus_client.parser import text_string_to_metric_families

from cassandra_asgi import CassandraConfig


@pytest.fixture(params=["fastapi", "aiohttp"])
def example_url(
    request: pytest.FixtureRequest, cassandra_config: CassandraConfig, keyspace: str
) -> Iterator[str]:
    with serving_example(request.param, cassandra_config.replace(keyspace=keyspace)) as url:
        yield url


async def test_metrics_route_serves_the_sessions_prometheus_families(example_url: str) -> None:
    async with httpx.AsyncClient(base_url=example_url, timeout=30.0) as client:
        assert (await client.get("/notes", params={"limit": 5})).status_code == 200
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = families["cassandra_asgi_requests"]
    ok = [s.value for s in requests.samples if s.labels == {"outcome": "ok", "error_type": ""}]
    assert ok
    assert ok[0] >= 1
    assert next(s.value for s in families["cassandra_asgi_host_up"].samples) == 1
    assert "cassandra_asgi_request_duration_seconds" in families
