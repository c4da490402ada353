"""The FastAPI and aiohttp examples expose ``/metrics``; the session's connect and close lines
show under uvicorn."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from example_servers import serving_example
from prometheus_client.parser import text_string_to_metric_families

from cassandra_asgi import CassandraConfig

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90.0
EXIT_TIMEOUT = 30.0


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


async def test_fastapi_example_under_uvicorn_logs_connect_and_close(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["CASSANDRA_CONTACT_POINTS"] = ",".join(f"{h}:{p}" for h, p in cassandra_config.endpoints)
    env["CASSANDRA_KEYSPACE"] = keyspace
    uvicorn = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", "examples",
        "--host", "127.0.0.1", "--port", "0",
        cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert uvicorn.stderr is not None
    printed: list[str] = []
    try:

        async def until_started() -> None:
            assert uvicorn.stderr is not None
            while line := (await uvicorn.stderr.readline()).decode():
                printed.append(line)
                if "Application startup complete" in line:
                    return
            raise AssertionError("uvicorn exited during startup:\n" + "".join(printed))

        await asyncio.wait_for(until_started(), STARTUP_TIMEOUT)
        uvicorn.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(uvicorn.communicate(), EXIT_TIMEOUT)
    finally:
        if uvicorn.returncode is None:
            uvicorn.kill()
            await uvicorn.wait()
    log = "".join(printed) + rest.decode()

    (connected,) = [line for line in log.splitlines() if "cassandra_asgi: connected to " in line]
    assert connected.startswith("INFO")
    assert "local DC " in connected
    (closed,) = [
        line for line in log.splitlines() if "cassandra_asgi: cassandra_asgi session" in line
    ]
    assert closed.startswith("INFO")
    assert " requests drained in " in closed
