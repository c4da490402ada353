"""The cluster as the driver sees it: addresses, system tables, tokens, data centres, racks."""

from __future__ import annotations

import errno
import socket
from collections import defaultdict
from typing import Any

import pytest
from cassandra import InvalidRequest

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.errors import ConnectError
from cassandra_asgi.testing import CQLCluster

from .conftest import cluster_config, eventually, pinned_config

SPAN = 2**64
TWO_DCS = {"dc1": 3, "dc2": 2}


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_every_node_listens_on_its_own_loopback_address_all_on_one_port(
    cql_cluster: CQLCluster,
) -> None:
    addresses = [node.address for node in cql_cluster.nodes]
    assert addresses == [f"127.0.0.{i}" for i in range(1, 6)]
    assert cql_cluster.contact_points == tuple(f"{a}:{cql_cluster.port}" for a in addresses)
    for node in cql_cluster.nodes:
        async with connect(pinned_config(node)) as session:
            row = (await session.execute("SELECT rpc_address FROM system.local")).one()
        assert row.rpc_address == node.address


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_the_driver_discovers_every_node_from_one_contact_point(
    cql_cluster: CQLCluster,
) -> None:
    first = cql_cluster.nodes[0]
    config = cluster_config(cql_cluster, contact_points=[first.contact_point], local_dc="dc1")
    async with connect(config) as session:
        hosts = {host.address: host for host in session.cluster.metadata.all_hosts()}
    assert sorted(hosts) == sorted(node.address for node in cql_cluster.nodes)
    for node in cql_cluster.nodes:
        host = hosts[node.address]
        assert (host.datacenter, host.rack, host.host_id) == (node.dc, node.rack, node.host_id)
        assert host.endpoint.port == cql_cluster.port  # where the driver dials it


async def local_and_peers(session: AsyncSession) -> tuple[Any, list[Any], list[Any]]:
    local = (await session.execute("SELECT * FROM system.local")).one()
    peers = (await session.execute("SELECT * FROM system.peers")).current_rows
    peers_v2 = (await session.execute("SELECT * FROM system.peers_v2")).current_rows
    return local, peers, peers_v2


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_each_node_shows_itself_in_system_local_and_the_others_in_both_peers_tables(
    cql_cluster: CQLCluster,
) -> None:
    for node in cql_cluster.nodes:
        async with connect(pinned_config(node)) as session:
            local, peers, peers_v2 = await local_and_peers(session)
        assert (local.host_id, local.data_center, local.rack) == (node.host_id, node.dc, node.rack)
        assert local.broadcast_address == node.address
        assert sorted(int(token) for token in local.tokens) == sorted(node.tokens)
        others = {other.address: other for other in cql_cluster.nodes if other is not node}
        for rows in (peers, peers_v2):
            assert sorted(row.peer for row in rows) == sorted(others)
            for row in rows:
                other = others[row.peer]
                assert (row.host_id, row.data_center, row.rack) == (
                    other.host_id,
                    other.dc,
                    other.rack,
                )
                assert sorted(int(token) for token in row.tokens) == sorted(other.tokens)
                assert row.schema_version == local.schema_version
        assert {row.rpc_address for row in peers} == set(others)
        assert {(row.native_address, row.native_port) for row in peers_v2} == {
            (address, cql_cluster.port) for address in others
        }
        assert {row.peer_port for row in peers_v2} == {7000}


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_the_drivers_token_map_gives_each_node_an_equal_share_of_its_data_centre(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        owner = session.cluster.metadata.token_map.token_to_host_owner
    by_dc: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for token, host in owner.items():
        by_dc[host.datacenter].append((token.value, host.address))
    for dc, count in TWO_DCS.items():
        ring = sorted(by_dc[dc])
        assert len(ring) == 16 * count  # 16 vnodes per node, as Cassandra 4 defaults
        shares: dict[str, int] = defaultdict(int)
        for index, (token, address) in enumerate(ring):
            shares[address] += (token - ring[index - 1][0]) % SPAN
        assert all(abs(share / SPAN - 1 / count) < 1e-9 for share in shares.values()), shares


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 4}, racks=2)
async def test_racks_alternate_within_a_data_centre(cql_cluster: CQLCluster) -> None:
    assert [node.rack for node in cql_cluster.nodes] == ["rack1", "rack2", "rack1", "rack2"]
    async with connect(cluster_config(cql_cluster)) as session:
        racks = {host.address: host.rack for host in session.cluster.metadata.all_hosts()}
    assert racks == {node.address: node.rack for node in cql_cluster.nodes}


@pytest.mark.memory_only
async def test_async_with_serves_every_node_on_the_running_loop() -> None:
    async with CQLCluster(2) as cluster:
        assert [node.dc for node in cluster.nodes] == ["datacenter1", "datacenter1"]
        async with connect(cluster_config(cluster)) as session:
            await session.execute(
                "CREATE KEYSPACE shape WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 2}"
            )
            hosts = session.cluster.metadata.all_hosts()
            assert sorted(host.address for host in hosts) == ["127.0.0.1", "127.0.0.2"]


@pytest.mark.memory_only
def test_an_address_already_taken_on_the_port_is_named_in_the_error() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.2", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(OSError, match=rf"127\.0\.0\.2:{port}.*choose another port") as raised:
            CQLCluster(3, port=port).start()
    assert raised.value.errno == errno.EADDRINUSE


@pytest.mark.memory_only
def test_an_address_this_machine_does_not_have_is_named_in_the_error() -> None:
    # 192.0.2.0/24 is reserved for documentation: never assigned, so bind() fails at once
    # (nothing is sent anywhere)
    with pytest.raises(OSError, match=r"192\.0\.2\.10:\d+.*own loopback address") as raised:
        CQLCluster(2, first_address="192.0.2.10").start()
    assert raised.value.errno == errno.EADDRNOTAVAIL


@pytest.mark.parametrize(
    ("shape", "options", "error"),
    [
        (0, {}, "positive node count"),
        ({"dc1": 2, "dc2": 0}, {}, "'dc2' needs a positive node count"),
        ({}, {}, "at least one data centre"),
        (3, {"racks": 0}, "racks must be a positive integer"),
        (3, {"detection_delay": -1}, "detection_delay must be a non-negative number"),
        (3, {"port": 70000}, "port must be 0"),
        (3, {"username": "u"}, "username and password must be given together"),
    ],
)
def test_a_bad_shape_or_option_is_refused_before_anything_listens(
    shape: object, options: dict[str, object], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        CQLCluster(shape, **options)  # type: ignore[arg-type]


def test_a_shape_that_is_not_a_count_or_a_mapping_is_refused() -> None:
    with pytest.raises(TypeError, match="node count or"):
        CQLCluster(True)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(2)
def test_looking_up_an_unknown_address_names_the_nodes(cql_cluster: CQLCluster) -> None:
    assert cql_cluster.node("127.0.0.2") is cql_cluster.nodes[1]
    with pytest.raises(KeyError, match=r"127\.0\.0\.9.*127\.0\.0\.1, 127\.0\.0\.2"):
        cql_cluster.node("127.0.0.9")


def open_pools(driver_session: Any) -> list[str]:
    """Addresses of the hosts the driver session holds an open connection to."""
    pools = driver_session.get_pool_state()
    return sorted(host.address for host, state in pools.items() if state["open_count"])


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, peers_v2=False)
async def test_without_peers_v2_the_session_finds_the_peers_in_system_peers_at_its_port(
    cql_cluster: CQLCluster,
) -> None:
    # Cassandra 3 has no peers_v2 and its peers table no native port: the driver falls back
    # to system.peers and dials each peer at the config's port, not at 9042
    config = cluster_config(cql_cluster, contact_points=["127.0.0.1"])
    async with connect(config) as session:
        with pytest.raises(InvalidRequest, match="peers_v2"):
            await session.execute("SELECT * FROM system.peers_v2")
        assert await eventually(lambda: len(open_pools(session.driver_session)) == 3, within=10)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(2, username="app", password="secret")
async def test_every_node_asks_for_the_credentials_the_cluster_was_given(
    cql_cluster: CQLCluster,
) -> None:
    config = cluster_config(cql_cluster, username="app", password="secret")
    async with connect(config) as session:
        assert await eventually(lambda: len(open_pools(session.driver_session)) == 2, within=10)
    with pytest.raises(ConnectError, match="Provided username app and/or password"):
        await connect(cluster_config(cql_cluster, username="app", password="wrong"))


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_trace_is_found_whichever_node_the_driver_asks_for_it(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        traced = await session.execute("SELECT release_version FROM system.local", trace=True)
        trace_id = traced.response_future.get_query_trace_ids()[0]
        for node in cql_cluster.nodes:
            async with connect(pinned_config(node)) as pinned:
                query = "SELECT coordinator FROM system_traces.sessions WHERE session_id = %s"
                row = (await pinned.execute(query, (trace_id,))).one()
            assert row is not None, node


@pytest.mark.memory_only
@pytest.mark.cql_cluster(2, protocol_versions=(3, 4))
async def test_every_node_serves_the_protocol_versions_the_cluster_was_given(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        assert session.cluster.protocol_version == 4  # negotiated down from 5
        assert await eventually(lambda: len(open_pools(session.driver_session)) == 2, within=10)
        versions = [info.protocol_version for n in cql_cluster.nodes for info in n.connections()]
    assert len(versions) >= 2  # the control connection and a pool connection per node
    assert set(versions) == {4}


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_every_node_refuses_dse_versions_66_and_65_as_cassandra_does_so_v5_is_settled_on(
    cql_cluster: CQLCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # The driver opens with DSE v66, then v65, and settles on v5 after each ProtocolError reply,
    # as against a Cassandra 4 node; pinned nowhere, the pools then speak v5 to every node.
    for node in cql_cluster.nodes:
        async with connect(pinned_config(node)) as session:
            assert session.cluster.protocol_version == 5
    downgrades = [r.getMessage().split(" for ")[0] for r in caplog.records]
    assert [m for m in downgrades if "Downgrading" in m] == [
        "Downgrading core protocol version from 66 to 65",
        "Downgrading core protocol version from 65 to 5",
    ] * len(cql_cluster.nodes)
