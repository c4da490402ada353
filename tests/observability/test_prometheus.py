"""``PrometheusCollector``: the text exposition after a known workload has the right values."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
from cassandra import InvalidRequest, OperationTimedOut
from cluster.conftest import cluster_config, driver_marks
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.metrics import PrometheusCollector
from cassandra_asgi.testing import CQLCluster, CQLServer
from cassandra_asgi.testing.cluster.cluster import Node

from .conftest import eventually, server_config, until_in_flight

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    """Every sample of the text exposition, by name and label set."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def session(cql_server: CQLServer) -> AsyncIterator[AsyncSession]:
    async with connect(server_config(cql_server, max_in_flight=64)) as session:
        await session.execute(
            "CREATE KEYSPACE metrics WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute("CREATE TABLE metrics.kv (k int PRIMARY KEY, v text)")
        yield session


@pytest.fixture
def registry(session: AsyncSession) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(session))
    return registry


@pytest.mark.memory_only
async def test_text_output_counts_a_known_workload(
    session: AsyncSession, registry: CollectorRegistry, cql_server: CQLServer
) -> None:
    address = cql_server.host
    before = scrape(registry)

    for k in range(5):
        await session.execute("INSERT INTO metrics.kv (k, v) VALUES (%s, 'x')", (k,))
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            await session.execute("SELECT * FROM metrics.missing")
    cql_server.add_latency(0.1, pattern="k = 4")
    await session.execute("SELECT v FROM metrics.kv WHERE k = 4")  # 0.1 s: between 0.05 and 0.25

    after = scrape(registry)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("cassandra_asgi_requests_total", outcome="ok", error_type="") == 6
    assert delta("cassandra_asgi_requests_total", outcome="error", error_type="InvalidRequest") == 2
    assert delta("cassandra_asgi_request_duration_seconds_count") == 8
    assert delta("cassandra_asgi_request_duration_seconds_bucket", le="+Inf") == 8
    slow = delta("cassandra_asgi_request_duration_seconds_bucket", le="0.25") - delta(
        "cassandra_asgi_request_duration_seconds_bucket", le="0.05"
    )
    assert slow == 1
    assert delta("cassandra_asgi_request_duration_seconds_sum") >= 0.1
    assert value(after, "cassandra_asgi_in_flight") == 0
    assert value(after, "cassandra_asgi_waiting") == 0
    assert value(after, "cassandra_asgi_max_in_flight") == 64
    assert value(after, "cassandra_asgi_host_up", address=address, dc="datacenter1", rack="rack1")
    assert value(after, "cassandra_asgi_pool_connections", address=address) == 1
    assert delta("cassandra_asgi_host_requests_total", address=address) == 8
    assert delta("cassandra_asgi_host_errors_total", address=address) == 2


@pytest.mark.memory_only
async def test_a_request_in_flight_shows_on_the_session_and_on_its_host(
    session: AsyncSession, registry: CollectorRegistry, cql_server: CQLServer
) -> None:
    address = cql_server.host
    cql_server.blackhole(pattern="metrics.kv")
    stuck = asyncio.ensure_future(session.execute("SELECT * FROM metrics.kv", timeout=0.5))

    await until_in_flight(session, 1)
    during = scrape(registry)
    with pytest.raises(OperationTimedOut):
        await stuck
    after = scrape(registry)

    assert value(during, "cassandra_asgi_in_flight") == 1
    assert value(during, "cassandra_asgi_host_in_flight", address=address) == 1
    assert value(after, "cassandra_asgi_in_flight") == 0
    errors = "cassandra_asgi_host_errors_total"
    assert value(after, errors, address=address) - value(during, errors, address=address) == 1
    timed_out = "OperationTimedOut"
    assert value(after, "cassandra_asgi_requests_total", outcome="error", error_type=timed_out)


@pytest.mark.memory_only
async def test_a_node_that_goes_down_is_exported_down_and_back_up(
    session: AsyncSession, registry: CollectorRegistry, cql_server: CQLServer
) -> None:
    up = {"address": cql_server.host, "dc": "datacenter1", "rack": "rack1"}
    assert value(scrape(registry), "cassandra_asgi_host_up", **up) == 1

    cql_server.go_down()

    async def down() -> bool:
        return value(scrape(registry), "cassandra_asgi_host_up", **up) == 0

    assert await eventually(down, within=10)
    assert value(scrape(registry), "cassandra_asgi_pool_connections", address=up["address"]) == 0

    cql_server.come_up()

    async def back_up() -> bool:
        return value(scrape(registry), "cassandra_asgi_host_up", **up) == 1

    assert await eventually(back_up, within=10)


async def test_a_scrape_from_another_thread_reads_through_the_loop(
    session: AsyncSession, registry: CollectorRegistry
) -> None:
    await session.ping()

    text = (await asyncio.to_thread(generate_latest, registry)).decode()

    assert "cassandra_asgi_requests_total" in text
    assert 'cassandra_asgi_requests_total{error_type="",outcome="ok"}' in text


async def test_a_closed_session_exports_nothing(
    session: AsyncSession, registry: CollectorRegistry
) -> None:
    await session.close()

    assert scrape(registry) == {}


async def test_series_do_not_grow_with_distinct_statements_or_keys(
    session: AsyncSession, registry: CollectorRegistry
) -> None:
    await session.execute("SELECT v FROM metrics.kv WHERE k = 0")
    before = scrape(registry)

    for k in range(20):
        await session.execute(f"SELECT v, k AS n{k} FROM metrics.kv WHERE k = {k}")
        await session.execute("INSERT INTO metrics.kv (k, v) VALUES (%s, %s)", (k, f"key-{k}"))

    after = scrape(registry)
    assert set(after) == set(before)
    labels = {name for _, label_set in after for name, _ in label_set}
    assert labels <= {"outcome", "error_type", "address", "dc", "rack", "le"}


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    with pytest.raises(ImportError, match=r"cassandra-asgi\[prometheus\]"):
        PrometheusCollector(object())  # type: ignore[arg-type]


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_on_a_cluster_a_killed_node_is_down_and_the_others_serve(
    cql_cluster: CQLCluster,
) -> None:
    victim = cql_cluster.nodes[1]
    async with connect(cluster_config(cql_cluster)) as session:
        registry = CollectorRegistry()
        registry.register(PrometheusCollector(session))
        assert await driver_marks(session, victim, up=True)
        before = scrape(registry)

        victim.kill()
        assert await driver_marks(session, victim, up=False)
        for _ in range(30):
            await session.ping()
        after = scrape(registry)

    def labels(node: Node) -> dict[str, str]:
        return {"address": node.address, "dc": node.dc, "rack": node.rack}

    assert value(before, "cassandra_asgi_host_up", **labels(victim)) == 1
    assert value(after, "cassandra_asgi_host_up", **labels(victim)) == 0
    assert value(after, "cassandra_asgi_pool_connections", address=victim.address) == 0
    survivors = [node for node in cql_cluster.nodes if node is not victim]
    for node in survivors:
        assert value(after, "cassandra_asgi_host_up", **labels(node)) == 1
        assert value(after, "cassandra_asgi_pool_connections", address=node.address) == 1
    served = {
        node.address: value(after, "cassandra_asgi_host_requests_total", address=node.address)
        - value(before, "cassandra_asgi_host_requests_total", address=node.address)
        for node in cql_cluster.nodes
    }
    assert served[victim.address] == 0
    assert sum(served.values()) == 30
    assert value(after, "cassandra_asgi_requests_total", outcome="ok", error_type="") >= 30
