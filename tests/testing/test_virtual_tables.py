"""The virtual keyspaces of Cassandra 4.x, as the driver's schema metadata and tools read them.

The driver's SchemaParserV4 reads ``system_virtual_schema.keyspaces``, ``tables`` and
``columns`` on every metadata refresh; tools read ``system_views.settings``. These run against
a real 4.x cluster too, which has the same keyspaces (with more tables in them).
"""

from __future__ import annotations

import pytest
from cassandra.cluster import Cluster
from cassandra.metadata import TableMetadata

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer

from .conftest import make_cluster


def _table(cluster: Cluster, keyspace: str, table: str) -> TableMetadata:
    metadata: TableMetadata = cluster.metadata.keyspaces[keyspace].tables[table]
    return metadata


def test_driver_metadata_has_the_virtual_keyspaces_of_cassandra_4(cluster: Cluster) -> None:
    cluster.connect()
    keyspaces = cluster.metadata.keyspaces
    assert keyspaces["system_views"].virtual
    assert keyspaces["system_virtual_schema"].virtual
    assert not keyspaces["system_schema"].virtual


def test_driver_metadata_describes_the_settings_table(cluster: Cluster) -> None:
    cluster.connect()
    settings = _table(cluster, "system_views", "settings")
    assert settings.virtual
    assert [c.name for c in settings.partition_key] == ["name"]
    assert {name: c.cql_type for name, c in settings.columns.items()} == {
        "name": "text",
        "value": "text",
    }


def test_a_schema_refresh_reads_the_virtual_tables_again(cluster: Cluster) -> None:
    cluster.connect()
    cluster.refresh_schema_metadata(max_schema_agreement_wait=5)
    tables = cluster.metadata.keyspaces["system_virtual_schema"].tables
    assert {"keyspaces", "tables", "columns"} <= set(tables)


def test_settings_name_the_cluster_and_partitioner_of_system_local(
    cassandra_config: CassandraConfig, cluster: Cluster
) -> None:
    session = cluster.connect()
    local = session.execute("SELECT cluster_name, partitioner FROM system.local").one()
    rows = session.execute(
        "SELECT name, value FROM system_views.settings WHERE name IN ('cluster_name', "
        "'partitioner')"
    )
    settings = {row.name: row.value for row in rows}
    assert settings["cluster_name"] == local.cluster_name
    assert settings["partitioner"].endswith(local.partitioner.rsplit(".", 1)[-1])


@pytest.mark.memory_only
def test_settings_give_the_token_count_the_node_owns(server: CQLServer) -> None:
    cluster = make_cluster(server)
    try:
        session = cluster.connect()
        tokens = session.execute("SELECT tokens FROM system.local").one().tokens
        row = session.execute("SELECT value FROM system_views.settings WHERE name = 'num_tokens'")
        assert int(row.one().value) == len(tokens)
    finally:
        cluster.shutdown()


@pytest.mark.memory_only
def test_the_settings_cannot_be_written(server: CQLServer) -> None:
    cluster = make_cluster(server)
    try:
        session = cluster.connect()
        with pytest.raises(Exception, match="system_views") as raised:
            session.execute("INSERT INTO system_views.settings (name, value) VALUES ('a', 'b')")
        assert type(raised.value).__name__ in ("InvalidRequest", "Unauthorized")
    finally:
        cluster.shutdown()
