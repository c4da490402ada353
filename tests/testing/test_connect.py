"""Connecting with the real driver: protocol negotiation, metadata, lifecycle."""

from __future__ import annotations

import asyncio

import pytest
from cassandra.cluster import Cluster, Session

from cassandra_asgi.testing import CQLServer

from .conftest import KEYSPACE_CQL, make_cluster


def test_protocol_v3_is_served_too(server: CQLServer) -> None:
    cluster = make_cluster(server, protocol_version=3)
    try:
        session = cluster.connect()
        assert (
            session.execute("SELECT key FROM system.local WHERE key = 'local'").one()[0] == "local"
        )
    finally:
        cluster.shutdown()


@pytest.mark.memory_only
def test_token_metadata_uses_murmur3_and_the_local_tokens(cluster: Cluster) -> None:
    cluster.connect()
    token_map = cluster.metadata.token_map
    assert token_map is not None
    assert token_map.token_class.__name__ == "Murmur3Token"
    assert len(token_map.ring) == 8


def test_created_table_shows_in_driver_metadata_with_its_key_structure(
    session: Session, cluster: Cluster, keyspace: str
) -> None:
    session.execute(
        "CREATE TABLE events (day text, bucket int, at timestamp, id uuid, payload map<text, int>, "
        "PRIMARY KEY ((day, bucket), at, id)) WITH CLUSTERING ORDER BY (at DESC, id ASC)"
    )
    table = cluster.metadata.keyspaces[keyspace].tables["events"]
    assert list(table.columns) == ["day", "bucket", "at", "id", "payload"]
    assert [c.name for c in table.partition_key] == ["day", "bucket"]
    assert [c.name for c in table.clustering_key] == ["at", "id"]
    assert table.columns["at"].is_reversed
    assert table.columns["payload"].cql_type == "map<text, int>"


def test_schema_version_changes_after_ddl_and_agreement_holds(
    session: Session, cluster: Cluster
) -> None:
    before = session.execute("SELECT schema_version FROM system.local").one()[0]
    session.execute("CREATE TABLE t (k int PRIMARY KEY)")
    after = session.execute("SELECT schema_version FROM system.local").one()[0]
    assert before != after
    assert cluster.control_connection.wait_for_schema_agreement(wait_time=5)


def test_dropped_keyspace_disappears_from_metadata(cluster: Cluster, keyspace: str) -> None:
    session = cluster.connect()
    gone = f"{keyspace}_gone"
    session.execute(KEYSPACE_CQL.format(gone))
    assert gone in cluster.metadata.keyspaces
    session.execute(f"DROP KEYSPACE {gone}")
    assert gone not in cluster.metadata.keyspaces


@pytest.mark.memory_only
async def test_async_mode_serves_on_the_current_loop() -> None:
    async with CQLServer() as server:
        loop = asyncio.get_running_loop()

        def roundtrip() -> str:
            cluster = make_cluster(server)
            try:
                value: str = (
                    cluster.connect().execute("SELECT cluster_name FROM system.local").one()[0]
                )
                return value
            finally:
                cluster.shutdown()

        assert await loop.run_in_executor(None, roundtrip) == "cassandra-asgi in-memory"


@pytest.mark.memory_only
def test_port_zero_picks_a_free_port_and_contact_point_names_it() -> None:
    with CQLServer(port=0) as server:
        assert server.port > 0
        assert server.contact_point == f"127.0.0.1:{server.port}"
