"""Token-aware, DC-aware routing: each prepared point read goes to a replica of its key in the
local data centre, and the cluster's placement agrees with the driver's token map."""

from __future__ import annotations

import pytest

from cassandra_asgi import connect
from cassandra_asgi.testing import CQLCluster
from cassandra_asgi.testing.cluster.topology import token_of

from .conftest import cluster_config, create_keyspace, owners, routing_key

QUERY_OPCODES = ("QUERY", "PREPARE", "EXECUTE", "BATCH")


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_prepared_point_read_reaches_only_the_node_that_owns_its_key(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "routing", "'replication_factor': 1")
        insert = await session.prepare("INSERT INTO routing.kv (k, v) VALUES (?, ?)")
        await session.execute_concurrent([(insert, (k, k)) for k in range(300)])
        select = await session.prepare("SELECT v FROM routing.kv WHERE k = ?")
        owner = cql_cluster.nodes[1]
        keys = [k for k in range(300) if owners(session, "routing", k) == [owner.address]]
        assert len(keys) > 50  # about a third of them
        for node in cql_cluster.nodes:
            node.reset_counters()
        rows = [(await session.execute(select, (k,))).one() for k in keys]
    assert [row.v for row in rows] == keys
    executes = {node.address: node.requests.get("EXECUTE", 0) for node in cql_cluster.nodes}
    assert executes == {
        node.address: len(keys) if node is owner else 0 for node in cql_cluster.nodes
    }


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 3, "dc2": 2})
async def test_the_cluster_places_every_key_where_the_drivers_token_map_expects_it(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "placed", "'dc1': 2, 'dc2': 1")
        replication = cql_cluster.nodes[0].store.keyspaces["placed"].replication
        for key in range(500):
            by_cluster = cql_cluster.ring.replicas(replication, token_of(routing_key(key)))
            assert sorted(node.address for node in by_cluster) == sorted(
                owners(session, "placed", key)
            )


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 3, "dc2": 2})
async def test_with_local_dc_set_nothing_reaches_the_remote_data_centre(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "local", "'dc1': 2, 'dc2': 2")
        insert = await session.prepare("INSERT INTO local.kv (k, v) VALUES (?, ?)")
        await session.execute_concurrent([(insert, (k, k)) for k in range(200)])
        select = await session.prepare("SELECT v FROM local.kv WHERE k = ?")
        dc1 = [node for node in cql_cluster.nodes if node.dc == "dc1"]
        for key in range(200):
            for node in dc1:
                node.reset_counters()
            assert (await session.execute(select, (key,))).one().v == key
            served = [node.address for node in dc1 if node.requests.get("EXECUTE")]
            assert len(served) == 1
            assert served[0] in owners(session, "local", key)
    for node in cql_cluster.nodes:
        if node.dc == "dc2":
            assert not any(opcode in node.requests for opcode in QUERY_OPCODES), node.requests
