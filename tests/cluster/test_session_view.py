"""What the session reports about the cluster: per-host counts, hosts up and down, and what
its config says about the data centres it found."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.errors import ConnectError, ServerError
from cassandra_asgi.testing import CQLCluster

from .conftest import cluster_config, create_keyspace, driver_marks, eventually, owners


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_metrics_count_requests_errors_and_in_flight_per_host(
    cql_cluster: CQLCluster,
) -> None:
    owner = cql_cluster.nodes[1]
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "hosts", "'replication_factor': 1")
        select = await session.prepare("SELECT v FROM hosts.kv WHERE k = ?")
        keys = [k for k in range(200) if owners(session, "hosts", k) == [owner.address]][:20]
        before = session.metrics.hosts
        owner.add_latency(0.5, "FROM hosts.kv")
        reads = [asyncio.ensure_future(session.execute(select, (k,))) for k in keys]
        assert await eventually(
            lambda: session.metrics.hosts[owner.address].in_flight == len(keys), within=5
        )
        await asyncio.gather(*reads)
        owner.clear_faults()
        owner.fail("server_error", "FROM hosts.kv")
        with pytest.raises(ServerError):
            await session.execute(select, (keys[0],))
        after = session.metrics.hosts
    assert sorted(after) == [node.address for node in cql_cluster.nodes]
    served = {a: after[a].requests - before[a].requests for a in after}
    assert served == {
        node.address: len(keys) + 1 if node is owner else 0 for node in cql_cluster.nodes
    }
    assert {a: h.errors - before[a].errors for a, h in after.items()} == {
        node.address: 1 if node is owner else 0 for node in cql_cluster.nodes
    }
    assert all(host.in_flight == 0 for host in after.values())
    assert {host.datacenter for host in after.values()} == {"datacenter1"}


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 1})
async def test_metrics_say_which_hosts_are_up_and_which_down(cql_cluster: CQLCluster) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        assert await eventually(lambda: len(session.metrics.hosts_up) == 2, within=10)
        assert session.metrics.hosts_up == ["127.0.0.1", "127.0.0.2"]
        assert session.metrics.hosts["127.0.0.3"].up is None  # remote: never connected to
        victim = cql_cluster.node("127.0.0.2")
        victim.kill()
        assert await driver_marks(session, victim, up=False)
        metrics = session.metrics
        assert (metrics.hosts_up, metrics.hosts_down) == (["127.0.0.1"], ["127.0.0.2"])
        assert metrics.as_dict()["hosts"]["127.0.0.2"]["up"] is False


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 1})
async def test_a_multi_dc_cluster_reached_without_local_dc_gets_a_warning_naming_the_dcs(
    cql_cluster: CQLCluster, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cassandra_asgi"):
        async with connect(cluster_config(cql_cluster)):
            pass
    warnings = [r.getMessage() for r in caplog.records if r.name == "cassandra_asgi"]
    assert any("'dc1', 'dc2'" in w and "local_dc is not set" in w for w in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cassandra_asgi"):
        async with connect(cluster_config(cql_cluster, local_dc="dc1")):
            pass
    assert not [r for r in caplog.records if "local_dc" in r.getMessage()]


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 1})
async def test_a_local_dc_no_node_has_is_a_connect_error_naming_the_dcs_that_exist(
    cql_cluster: CQLCluster,
) -> None:
    points = cql_cluster.contact_points
    config = cluster_config(cql_cluster, contact_points=points, local_dc="dc3")
    with pytest.raises(ConnectError, match=r"'dc3'.*'dc1', 'dc2'"):
        await connect(config)


def _hosts_with_an_open_pool(session: AsyncSession) -> list[str]:
    state = session.driver_session.get_pool_state()
    return sorted(host.address for host, pool in state.items() if pool["open_count"])


@pytest.mark.memory_only
@pytest.mark.parametrize("attempt", range(4))  # the driver's own connect often returns early
async def test_connect_returns_with_a_pool_open_to_every_node(
    cql_cluster: CQLCluster, attempt: int
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        assert _hosts_with_an_open_pool(session) == [n.address for n in cql_cluster.nodes]


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, detection_delay=60)  # its peers still list the silent node as up
async def test_a_silent_node_holds_connect_up_briefly(cql_cluster: CQLCluster) -> None:
    first, second, silent = cql_cluster.nodes
    silent.partition()
    config = cluster_config(cql_cluster, contact_points=[first.contact_point], connect_timeout=8)
    started = time.monotonic()
    async with connect(config) as session:
        assert time.monotonic() - started < config.connect_timeout  # the whole budget: a hang
        assert _hosts_with_an_open_pool(session) == [first.address, second.address]
        rs = await session.execute("SELECT release_version FROM system.local")
        assert rs.one() is not None
