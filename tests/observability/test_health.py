"""``session.health()`` and the ready-made endpoints: 200 while the cluster serves, 503 soon
after it goes down, 200 again once it is back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from asgi_lifespan import LifespanManager
from cluster.conftest import cluster_config, driver_marks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from cassandra_asgi import CassandraConfig, CassandraMiddleware, connect
from cassandra_asgi.adapters import aiohttp as aiohttp_adapter
from cassandra_asgi.adapters.asgi import health_endpoint
from cassandra_asgi.testing import CQLCluster, CQLServer

from .conftest import eventually, server_config

#: Seconds the cluster has to be seen down, or back, by the health check.
NOTICE_WITHIN = 10.0

#: ``GET /health`` -> ``(status, json)``, whichever framework serves it.
Probe = Callable[[], Awaitable[tuple[int, dict[str, object]]]]


async def test_a_healthy_session_reports_ok_with_its_round_trip_and_nodes(
    cassandra_config: CassandraConfig,
) -> None:
    async with connect(cassandra_config) as session:
        report = await session.health()

    assert report.ok
    assert report.error is None
    assert report.rtt is not None
    assert report.rtt > 0
    assert report.local_dc is not None
    assert report.datacenters[report.local_dc].up >= 1
    assert report.in_flight == 0
    assert report.waiting == 0
    assert report.http_status == 200
    assert report.as_dict()["status"] == "ok"


@pytest.mark.memory_only
async def test_a_ping_slower_than_the_timeout_is_not_ok(cql_server: CQLServer) -> None:
    async with connect(server_config(cql_server)) as session:
        cql_server.blackhole(pattern="system.local")
        report = await session.health(timeout=0.3)

    assert not report.ok
    assert report.rtt is None
    assert report.error is not None
    assert "OperationTimedOut" in report.error
    assert report.datacenters["datacenter1"].up == 1  # the node is up: it just does not answer
    assert report.http_status == 503
    assert report.as_dict()["status"] == "unavailable"


@contextlib.asynccontextmanager
async def asgi_probe(server: CQLServer) -> AsyncIterator[Probe]:
    app = Starlette(
        routes=[Route("/health", health_endpoint(timeout=1.0))],
        middleware=[Middleware(CassandraMiddleware, config=server_config(server))],
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://t") as http,
    ):

        async def probe() -> tuple[int, dict[str, object]]:
            response = await http.get("/health")
            assert response.headers["content-type"] == "application/json"
            return response.status_code, response.json()

        yield probe


@contextlib.asynccontextmanager
async def aiohttp_probe(server: CQLServer) -> AsyncIterator[Probe]:
    app = web.Application()
    aiohttp_adapter.setup(app, server_config(server))
    app.router.add_get("/health", aiohttp_adapter.make_health_handler(timeout=1.0))
    async with TestClient(TestServer(app)) as http:

        async def probe() -> tuple[int, dict[str, object]]:
            response = await http.get("/health")
            return response.status, await response.json()

        yield probe


@pytest.fixture(params=[asgi_probe, aiohttp_probe], ids=["asgi", "aiohttp"])
async def probe(request: pytest.FixtureRequest, cql_server: CQLServer) -> AsyncIterator[Probe]:
    async with request.param(cql_server) as probe:
        yield probe


@pytest.mark.memory_only
async def test_health_endpoint_answers_200_then_503_while_down_then_200_again(
    probe: Probe, cql_server: CQLServer
) -> None:
    status, body = await probe()
    assert status == 200
    assert body["status"] == "ok"

    cql_server.go_down()

    async def unavailable() -> bool:
        status, body = await probe()
        return status == 503 and body["status"] == "unavailable"

    assert await eventually(unavailable, within=NOTICE_WITHIN)

    cql_server.come_up()

    async def available() -> bool:
        return (await probe())[0] == 200

    assert await eventually(available, within=NOTICE_WITHIN)


async def test_the_default_aiohttp_handler_reads_the_default_session(
    cassandra_config: CassandraConfig,
) -> None:
    app = web.Application()
    aiohttp_adapter.setup(app, cassandra_config)
    app.router.add_get("/health", aiohttp_adapter.health_handler)
    async with TestClient(TestServer(app)) as http:
        response = await http.get("/health")
        body = await response.json()

    assert response.status == 200
    assert body["status"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 1, "dc2": 1})
async def test_not_ok_when_the_local_data_centre_is_down_though_a_remote_one_is_up(
    cql_cluster: CQLCluster,
) -> None:
    local = cql_cluster.node("127.0.0.1")
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        assert (await session.health()).ok
        local.kill()
        assert await driver_marks(session, local, up=False)
        report = await session.health(timeout=1.0)

    assert not report.ok
    assert report.local_dc == "dc1"
    assert report.error == "no node of the local data centre (dc1) is up"
    assert report.datacenters["dc1"].down == 1
    assert report.datacenters["dc2"].unknown == 1  # remote: the policy never connects to it
