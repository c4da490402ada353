"""``session.metrics.hosts``: requests, errors, in-flight requests and state of each node."""

from __future__ import annotations

import asyncio
import json

import pytest
from cassandra import InvalidRequest, OperationTimedOut

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.testing import CQLServer

from .conftest import eventually, server_config, until_in_flight


async def test_each_node_counts_the_requests_and_errors_it_coordinated(
    cassandra_config: CassandraConfig,
) -> None:
    async with connect(cassandra_config) as session:
        for _ in range(3):
            await session.ping()
        with pytest.raises(InvalidRequest):
            await session.execute("SELECT * FROM system.no_such_table")
        hosts = session.metrics.hosts

    assert sum(host.requests for host in hosts.values()) == 4
    assert sum(host.errors for host in hosts.values()) == 1
    for address, host in hosts.items():
        assert address == host.address
        assert host.up
        assert host.datacenter
        assert host.connections >= 1
        assert host.in_flight == 0
        assert host.release_version


@pytest.mark.memory_only
async def test_a_timeout_counts_against_the_node_that_did_not_answer(
    cql_server: CQLServer,
) -> None:
    async with connect(server_config(cql_server)) as session:
        cql_server.blackhole(pattern="system.local")
        stuck = asyncio.ensure_future(session.ping(timeout=0.5))

        await until_in_flight(session, 1)
        during = session.metrics.hosts[cql_server.contact_point]
        with pytest.raises(OperationTimedOut):
            await stuck
        after = session.metrics.hosts[cql_server.contact_point]

    assert during.in_flight == 1
    assert (after.requests, after.errors) == (1, 1)


@pytest.mark.memory_only
async def test_a_node_that_went_down_is_reported_down(cql_server: CQLServer) -> None:
    async with connect(server_config(cql_server)) as session:
        cql_server.go_down()

        async def down() -> bool:
            return not session.metrics.hosts[cql_server.contact_point].up

        assert await eventually(down, within=10)
        report = session.metrics.as_dict()

    assert json.loads(json.dumps(report))["hosts"][cql_server.contact_point]["up"] is False
