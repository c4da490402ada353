"""The lines an operator reads: one at connect, one per node going down or up, one at close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.testing import CQLServer

from .conftest import eventually, server_config, until_in_flight


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "cassandra_asgi" and record.levelno == level
    ]


async def test_connect_logs_one_info_line_describing_the_cluster_reached(
    cassandra_config: CassandraConfig, keyspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cassandra_asgi")

    async with connect(cassandra_config.replace(keyspace=keyspace)) as session:
        metadata = session.cluster.metadata
        hosts = metadata.all_hosts()
        version = hosts[0].release_version
        protocol = session.cluster.protocol_version

    (line,) = [m for m in messages(caplog, logging.INFO) if m.startswith("connected to")]
    dc = hosts[0].datacenter
    assert f"{len(hosts)} node" in line
    assert f"({dc}: {len(hosts)} up" in line
    assert f"local DC {dc}" in line
    assert f"protocol v{protocol}" in line
    assert f"Cassandra {version}" in line
    assert f"keyspace {keyspace}" in line
    assert f"I/O {cassandra_config.io}" in line
    assert "tracing off" in line


@pytest.mark.memory_only
async def test_a_node_going_down_is_a_warning_and_coming_back_is_info(
    cql_server: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cassandra_asgi")
    node = f"Cassandra node {cql_server.contact_point} (DC datacenter1, rack rack1)"

    async with connect(server_config(cql_server)) as session:
        cql_server.go_down()

        async def logged_down() -> bool:
            return f"{node} is down" in messages(caplog, logging.WARNING)

        assert await eventually(logged_down, within=10)
        cql_server.come_up()

        async def logged_up() -> bool:
            return f"{node} is up" in messages(caplog, logging.INFO)

        assert await eventually(logged_up, within=10)
        assert (await session.execute("SELECT release_version FROM system.local")).one()


@pytest.mark.memory_only
async def test_close_logs_how_many_requests_it_drained_and_how_long_it_took(
    cql_server: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cassandra_asgi")
    session = await connect(server_config(cql_server))
    cql_server.add_latency(0.2, pattern="system.local")
    running = [asyncio.ensure_future(session.ping()) for _ in range(3)]

    await until_in_flight(session, 3)
    await session.close()
    await asyncio.gather(*running)

    (line,) = [m for m in messages(caplog, logging.INFO) if "closed in" in m]
    assert line.startswith(f"cassandra_asgi session to {cql_server.contact_point} closed in ")
    assert ": 3 requests drained in 0." in line
    drained_in = float(line.rsplit(" in ", 1)[1].removesuffix("s"))
    assert drained_in >= 0.15
    assert "cut off" not in line


@pytest.mark.memory_only
async def test_close_logs_the_requests_it_cut_off_after_the_grace_period(
    cql_server: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cassandra_asgi")
    session = await connect(server_config(cql_server))
    cql_server.blackhole(pattern="system.local")
    stuck = asyncio.ensure_future(session.ping())

    await until_in_flight(session, 1)
    await session.close(grace=0.1)
    with pytest.raises(Exception, match="grace period"):
        await stuck

    (line,) = [m for m in messages(caplog, logging.INFO) if "closed in" in m]
    assert ": 0 requests drained in " in line
    assert line.endswith(", 1 cut off after the 0.1s grace period")
