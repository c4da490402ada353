"""Consistency levels against live replicas, as a Cassandra coordinator checks them.

Each test breaks nodes and reads the ``Unavailable`` the driver raises (after its one retry on
the next host): the level, how many replicas it required and how many were alive, counted per
data centre for the ``LOCAL_*`` levels and ``EACH_QUORUM``, as a paxos majority for ``SERIAL``
and ``LOCAL_SERIAL``. A node that is down is never counted as a live replica.
"""

from __future__ import annotations

from typing import Any

import pytest
from cassandra import ConsistencyLevel as CL
from cassandra import InvalidRequest, Unavailable
from cassandra.cluster import NoHostAvailable
from cassandra.query import BatchStatement, SimpleStatement

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLCluster

from .conftest import cluster_config, create_keyspace, driver_marks, owners


async def unavailable(session: AsyncSession, statement: Any) -> tuple[int, int, int]:
    """(consistency, required, alive) of the Unavailable that ``statement`` gets: raised as
    it is, or inside NoHostAvailable when no other host was left for the driver's retry."""
    with pytest.raises((Unavailable, NoHostAvailable)) as raised:
        await session.execute(statement)
    error = raised.value
    if isinstance(error, NoHostAvailable):
        [error] = error.errors.values()
    assert isinstance(error, Unavailable), repr(error)
    return error.consistency, error.required_replicas, error.alive_replicas


def read(keyspace: str, key: int, level: int) -> SimpleStatement:
    return SimpleStatement(f"SELECT v FROM {keyspace}.kv WHERE k = {key}", consistency_level=level)


def write(keyspace: str, key: int, level: int, **options: Any) -> SimpleStatement:
    return SimpleStatement(
        f"INSERT INTO {keyspace}.kv (k, v) VALUES ({key}, {key})",
        consistency_level=level,
        **options,
    )


async def kill(session: AsyncSession, cluster: CQLCluster, *addresses: str) -> None:
    """Kill the nodes one by one, each once the driver no longer routes to it (a remote node
    it never routes to keeps ``is_up`` None), so that every check starts from a settled view."""
    for address in addresses:
        node = cluster.node(address)
        node.kill()
        assert await driver_marks(session, node, up=False)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_down_node_is_not_a_live_replica_for_the_others(cql_cluster: CQLCluster) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "down", "'replication_factor': 1")
        key = next(k for k in range(100) if owners(session, "down", k) == ["127.0.0.2"])
        await session.execute(write("down", key, CL.ONE))
        await kill(session, cql_cluster, "127.0.0.2")
        assert await unavailable(session, read("down", key, CL.ONE)) == (CL.ONE, 1, 0)
        assert await unavailable(session, write("down", key, CL.ONE)) == (CL.ONE, 1, 0)
        # a hint on the coordinator is enough for ANY, as in Cassandra
        await session.execute(write("down", key, CL.ANY))
        cql_cluster.node("127.0.0.2").come_up()
        assert await driver_marks(session, cql_cluster.nodes[1], up=True)
        row = (await session.execute(read("down", key, CL.ONE))).one()
    assert row.v == key


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 2})
async def test_local_levels_count_the_coordinators_dc_and_each_quorum_every_dc(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "levels", "'dc1': 2, 'dc2': 2")
        await kill(session, cql_cluster, "127.0.0.3", "127.0.0.4")  # all of dc2
        for level in (CL.LOCAL_ONE, CL.LOCAL_QUORUM, CL.ONE, CL.TWO):
            await session.execute(write("levels", 1, level))
            assert (await session.execute(read("levels", 1, level))).one().v == 1
        assert await unavailable(session, read("levels", 1, CL.QUORUM)) == (CL.QUORUM, 3, 2)
        assert await unavailable(session, read("levels", 1, CL.ALL)) == (CL.ALL, 4, 2)
        assert await unavailable(session, write("levels", 1, CL.THREE)) == (CL.THREE, 3, 2)
        with pytest.raises(Unavailable, match="EACH_QUORUM in DC dc2") as raised:
            await session.execute(write("levels", 1, CL.EACH_QUORUM))
        assert (raised.value.required_replicas, raised.value.alive_replicas) == (2, 0)


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 3, "dc2": 3})
async def test_local_quorum_fails_on_its_own_dc_while_quorum_is_met_across_dcs(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "local", "'dc1': 3, 'dc2': 3")
        await kill(session, cql_cluster, "127.0.0.2", "127.0.0.3")  # two of dc1's three
        await session.execute(write("local", 7, CL.QUORUM))  # 4 of 6 alive
        await session.execute(write("local", 7, CL.LOCAL_ONE))
        for statement in (read("local", 7, CL.LOCAL_QUORUM), write("local", 7, CL.LOCAL_QUORUM)):
            assert await unavailable(session, statement) == (CL.LOCAL_QUORUM, 2, 1)
        with pytest.raises(NoHostAvailable, match="EACH_QUORUM in DC dc1"):
            await session.execute(write("local", 7, CL.EACH_QUORUM))


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 3, "dc2": 2})
async def test_lightweight_transactions_need_a_paxos_majority_of_all_or_of_local_replicas(
    cql_cluster: CQLCluster,
) -> None:
    def conditional(key: int, serial: int) -> SimpleStatement:
        return SimpleStatement(
            f"INSERT INTO paxos.kv (k, v) VALUES ({key}, {key}) IF NOT EXISTS",
            consistency_level=CL.LOCAL_QUORUM,
            serial_consistency_level=serial,
        )

    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "paxos", "'dc1': 3, 'dc2': 2")
        await kill(session, cql_cluster, "127.0.0.4", "127.0.0.5")  # dc2: 3 of 5 left
        assert (await session.execute(conditional(1, CL.SERIAL))).was_applied
        await kill(session, cql_cluster, "127.0.0.3")  # 2 of 5 left, 2 of dc1's 3
        assert await unavailable(session, conditional(2, CL.SERIAL)) == (CL.SERIAL, 3, 2)
        assert await unavailable(session, read("paxos", 1, CL.SERIAL)) == (CL.SERIAL, 3, 2)
        assert (await session.execute(conditional(2, CL.LOCAL_SERIAL))).was_applied
        row = (await session.execute(read("paxos", 2, CL.LOCAL_SERIAL))).one()
    assert row.v == 2


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_batches_and_range_reads_are_checked_like_single_statements(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "many", "'replication_factor': 3")
        insert = await session.prepare("INSERT INTO many.kv (k, v) VALUES (?, ?)")
        batch = BatchStatement(consistency_level=CL.QUORUM)
        for key in range(5):
            batch.add(insert, (key, key))
        await session.execute(batch)
        await kill(session, cql_cluster, "127.0.0.2", "127.0.0.3")
        assert await unavailable(session, batch) == (CL.QUORUM, 2, 1)
        scan = SimpleStatement("SELECT k FROM many.kv", consistency_level=CL.QUORUM)
        assert await unavailable(session, scan) == (CL.QUORUM, 2, 1)
        scan_one = SimpleStatement("SELECT k FROM many.kv", consistency_level=CL.ONE)
        keys = sorted([row.k async for row in session.stream(scan_one)])
    assert keys == list(range(5))


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_levels_cassandra_refuses_are_refused_with_its_message(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "refused", "'replication_factor': 3")
        with pytest.raises(InvalidRequest, match="ANY ConsistencyLevel is only supported"):
            await session.execute(read("refused", 1, CL.ANY))
        with pytest.raises(InvalidRequest, match="must use conditional updates"):
            await session.execute(write("refused", 1, CL.SERIAL))
        with pytest.raises(InvalidRequest, match="not supported as conditional update commit"):
            await session.execute(
                SimpleStatement(
                    "INSERT INTO refused.kv (k, v) VALUES (1, 1) IF NOT EXISTS",
                    consistency_level=CL.SERIAL,
                )
            )
