"""What the nodes tell clients: STATUS_CHANGE, TOPOLOGY_CHANGE and SCHEMA_CHANGE events, when
they tell it (failure detection, a node coming back, schema agreement), and what the driver
does with them."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from cassandra import ConsistencyLevel as CL
from cassandra import ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from cassandra_asgi import connect
from cassandra_asgi.testing import CQLCluster

from .conftest import (
    cluster_config,
    create_keyspace,
    driver_host,
    eventually,
    host_is_up,
    pinned_config,
)
from .events_client import EventListener


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_survivors_push_down_when_a_node_dies_and_up_when_it_is_back(
    cql_cluster: CQLCluster,
) -> None:
    first, victim, _ = cql_cluster.nodes
    async with EventListener(first.address, cql_cluster.port) as events:
        victim.kill()
        _, kind, args = await events.next()
        assert (kind, args) == (
            "STATUS_CHANGE",
            {"change_type": "DOWN", "address": (victim.address, cql_cluster.port)},
        )
        victim.come_up()
        _, kind, args = await events.next()
        assert (kind, args["change_type"], args["address"][0]) == (
            "STATUS_CHANGE",
            "UP",
            victim.address,
        )


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_events_go_only_to_connections_registered_for_them(cql_cluster: CQLCluster) -> None:
    first, victim, _ = cql_cluster.nodes
    async with (
        EventListener(first.address, cql_cluster.port, ("SCHEMA_CHANGE",)) as schema_only,
        EventListener(first.address, cql_cluster.port, ("STATUS_CHANGE",)) as status_only,
    ):
        victim.kill()
        _, kind, _ = await status_only.next()
        assert kind == "STATUS_CHANGE"
        assert await schema_only.quiet_for(0.5)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, detection_delay=1.0, write_timeout=0.3, read_timeout=0.3)
async def test_until_the_failure_detector_convicts_requests_time_out_then_are_unavailable_at_once(
    cql_cluster: CQLCluster,
) -> None:
    first, second, third = cql_cluster.nodes
    # the session talks to the first node only, so its own connections see nothing die
    config = cluster_config(
        cql_cluster,
        contact_points=[first.contact_point],
        load_balancing_policy=WhiteListRoundRobinPolicy([first.address]),
    )
    quorum_write = SimpleStatement(
        "INSERT INTO fd.kv (k, v) VALUES (1, 1)", consistency_level=CL.QUORUM
    )
    quorum_read = SimpleStatement("SELECT v FROM fd.kv WHERE k = 1", consistency_level=CL.QUORUM)
    async with (
        connect(config) as session,
        EventListener(first.address, cql_cluster.port, ("STATUS_CHANGE",)) as events,
    ):
        await create_keyspace(session, "fd", "'replication_factor': 3")
        killed = time.monotonic()
        second.kill()
        third.kill()
        with pytest.raises(WriteTimeout) as timed_out:  # believed alive, never answer
            await session.execute(quorum_write)
        assert (timed_out.value.received_responses, timed_out.value.required_responses) == (1, 2)
        with pytest.raises(ReadTimeout) as read_timed_out:
            await session.execute(quorum_read)
        assert read_timed_out.value.received_responses == 1
        arrived, _, args = await events.next()
        assert args["change_type"] == "DOWN"
        assert arrived - killed >= 1.0  # not before the detection delay
        await events.next()  # the other one
        started = time.monotonic()
        with pytest.raises((Unavailable, NoHostAvailable), match="QUORUM"):
            await session.execute(quorum_write)
        assert time.monotonic() - started < cql_cluster.write_timeout  # refused, not waited on


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, detection_delay=30.0)
async def test_a_clean_shutdown_is_announced_so_peers_know_at_once(cql_cluster: CQLCluster) -> None:
    first, victim, _ = cql_cluster.nodes
    async with EventListener(first.address, cql_cluster.port) as events:
        victim.go_down()
        _, _, args = await events.next(within=5.0)  # far sooner than the 30 s detection
    assert args["change_type"] == "DOWN"


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, up_delay=0.5)
async def test_a_node_that_is_back_is_seen_up_after_the_up_delay(cql_cluster: CQLCluster) -> None:
    first, victim, _ = cql_cluster.nodes
    async with EventListener(first.address, cql_cluster.port) as events:
        victim.kill()
        await events.next()
        back = time.monotonic()
        victim.come_up()
        arrived, _, args = await events.next()
    assert args["change_type"] == "UP"
    assert arrived - back >= 0.5


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_partitioned_node_accepts_but_never_answers_and_its_peers_see_it_down(
    cql_cluster: CQLCluster,
) -> None:
    first, cut, _ = cql_cluster.nodes
    async with EventListener(cut.address, cql_cluster.port) as on_cut:
        async with EventListener(first.address, cql_cluster.port) as events:
            cut.partition()
            _, _, args = await events.next()
            assert (args["change_type"], args["address"][0]) == ("DOWN", cut.address)
        with pytest.raises(TimeoutError):
            await on_cut.options(timeout=0.5)  # the old connection: open, silent
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(cut.address, cql_cluster.port)
        writer.close()  # a new connection is accepted too
        cut.come_up()
        assert await on_cut.options(timeout=5.0) is not None


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 1})
async def test_a_joining_node_is_announced_listed_in_every_peers_table_and_used(
    cql_cluster: CQLCluster,
) -> None:
    config = cluster_config(cql_cluster, local_dc="dc1")
    async with connect(config) as session:
        await create_keyspace(session, "joined", "'dc1': 1, 'dc2': 1")
        async with EventListener(cql_cluster.nodes[0].address, cql_cluster.port) as events:
            new = cql_cluster.add_node(dc="dc1")
            _, kind, args = await events.next()
        assert (kind, args["change_type"], args["address"]) == (
            "TOPOLOGY_CHANGE",
            "NEW_NODE",
            (new.address, cql_cluster.port),
        )
        assert new.address == "127.0.0.4"
        assert await eventually(lambda: host_is_up(session, new) is True, within=10)
        for node in cql_cluster.nodes[:3]:
            async with connect(pinned_config(node)) as pinned:
                rows = (await pinned.execute("SELECT peer FROM system.peers")).current_rows
            assert new.address in {row.peer for row in rows}
        insert = await session.prepare("INSERT INTO joined.kv (k, v) VALUES (?, ?)")
        await session.execute_concurrent([(insert, (k, k)) for k in range(200)])
    assert new.requests.get("EXECUTE", 0) > 0  # it owns part of the ring now


@pytest.mark.memory_only
@pytest.mark.cql_cluster(4)
async def test_a_leaving_node_is_announced_and_forgotten_by_the_driver(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "left", "'replication_factor': 2")
        await session.execute("INSERT INTO left.kv (k, v) VALUES (1, 1)")
        leaving = cql_cluster.nodes[3]
        async with EventListener(cql_cluster.nodes[0].address, cql_cluster.port) as events:
            cql_cluster.remove_node(leaving)
            _, kind, args = await events.next()
        assert (kind, args["change_type"]) == ("TOPOLOGY_CHANGE", "REMOVED_NODE")
        assert await eventually(lambda: driver_host(session, leaving) is None, within=10)
        assert len(cql_cluster.nodes) == 3
        row = (await session.execute("SELECT v FROM left.kv WHERE k = 1")).one()
    assert row.v == 1  # its data stays with the others


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_schema_change_through_one_node_is_seen_through_all_with_one_version(
    cql_cluster: CQLCluster,
) -> None:
    _, second, third = cql_cluster.nodes
    async with (
        EventListener(third.address, cql_cluster.port, ("SCHEMA_CHANGE",)) as events,
        connect(pinned_config(second)) as through_second,
    ):
        result = await through_second.execute(
            "CREATE KEYSPACE shared WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        )
        assert result.response_future.is_schema_agreed
        _, _, args = await events.next()
        assert args == {"target_type": "KEYSPACE", "change_type": "CREATED", "keyspace": "shared"}
    versions = {node.system.schema_version for node in cql_cluster.nodes}
    assert len(versions) == 1
    assert all("shared" in node.store.keyspaces for node in cql_cluster.nodes)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, schema_lag=1.0)
async def test_with_a_schema_lag_the_drivers_agreement_wait_polls_until_the_versions_agree(
    cql_cluster: CQLCluster,
) -> None:
    ddl = (
        "CREATE KEYSPACE {} WITH replication = "
        "{{'class': 'SimpleStrategy', 'replication_factor': 3}}"
    )
    async with connect(cluster_config(cql_cluster)) as session:
        started = time.monotonic()
        agreed = await session.execute(ddl.format("lagging"))
        waited = time.monotonic() - started
        assert agreed.response_future.is_schema_agreed
        assert waited >= 1.0  # the driver waited for the others to catch up
    async with connect(cluster_config(cql_cluster, max_schema_agreement_wait=0.3)) as impatient:
        gave_up = await impatient.execute(ddl.format("impatient"))
        assert not gave_up.response_future.is_schema_agreed
    assert await eventually(
        lambda: len({node.system.schema_version for node in cql_cluster.nodes}) == 1, within=5
    )


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, schema_lag=0.5)
async def test_a_half_second_schema_lag_costs_a_ddl_statement_a_few_mismatched_polls(
    cql_cluster: CQLCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # As measured on Cassandra 4.0: DDL took 0.5-1.0 s, with 2-4 mismatched polls (the driver
    # polls every 0.2 s). Schema events are ignored here, so only the statement's wait polls.
    config = cluster_config(cql_cluster, schema_event_refresh_window=-1)
    async with connect(config) as session:
        caplog.clear()
        started = time.monotonic()
        with caplog.at_level(logging.DEBUG, logger="cassandra.cluster"):
            agreed = await session.execute(
                "CREATE KEYSPACE polled WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 3}"
            )
        waited = time.monotonic() - started
    mismatched = [r for r in caplog.records if "Schemas mismatched" in r.getMessage()]
    print(f"DDL took {waited:.2f} s, {len(mismatched)} mismatched polls")
    assert agreed.response_future.is_schema_agreed
    assert waited >= 0.5
    assert 2 <= len(mismatched) <= 4
