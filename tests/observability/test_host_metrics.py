"""What the observability layer adds to ``session.metrics.hosts`` (main's per-node view, tested
in tests/cluster/test_session_view.py): rack, version, open connections, and timeouts counted
against the node that did not answer."""

from __future__ import annotations

import asyncio
import json

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.testing import CQLServer

from .conftest import server_config, until_in_flight


async def test_each_node_has_its_rack_version_and_open_connections(
    cassandra_config: CassandraConfig,
) -> None:
    async with connect(cassandra_config) as session:
        await session.ping()
        metrics = session.metrics
        known = {host.address: host for host in session.cluster.metadata.all_hosts()}

    for address, host in metrics.hosts.items():
        if host.up:
            assert host.connections >= 1
        assert host.rack == known[address].rack
        assert host.release_version == known[address].release_version
    report = json.loads(json.dumps(metrics.as_dict()))
    assert all("connections" in host and "rack" in host for host in report["hosts"].values())


@pytest.mark.memory_only
async def test_a_timeout_counts_against_the_node_that_did_not_answer(
    cql_server: CQLServer,
) -> None:
    async with connect(server_config(cql_server)) as session:
        cql_server.blackhole(pattern="system.local")
        stuck = asyncio.ensure_future(session.ping(timeout=0.5))

        await until_in_flight(session, 1)
        during = session.metrics.hosts[cql_server.host]
        with pytest.raises(OperationTimedOut):
            await stuck
        after = session.metrics.hosts[cql_server.host]

    assert during.in_flight == 1
    assert (after.requests - during.requests, after.errors - during.errors) == (1, 1)
    assert after.in_flight == 0
