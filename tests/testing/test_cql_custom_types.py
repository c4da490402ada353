"""Custom types named by their Cassandra class: the CompositeType that old schemas use."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session

COMPOSITE = "'org.apache.cassandra.db.marshal.CompositeType(AsciiType, Int32Type)'"


@pytest.fixture
def composites(session: Session) -> Session:
    session.execute(f"CREATE TABLE composites (a int PRIMARY KEY, b {COMPOSITE})")
    return session


def test_composite_string_literal_is_split_on_colons(composites: Session) -> None:
    composites.execute("INSERT INTO composites (a, b) VALUES (0, 'abc:123')")
    assert composites.execute("SELECT b FROM composites WHERE a = 0").one().b == ("abc", 123)


def test_composite_values_may_omit_trailing_components(composites: Session) -> None:
    composites.execute("INSERT INTO composites (a, b) VALUES (1, 'abc')")
    assert composites.execute("SELECT b FROM composites WHERE a = 1").one().b == ("abc",)


def test_composite_with_too_many_components_is_refused(composites: Session) -> None:
    with pytest.raises(InvalidRequest):
        composites.execute("INSERT INTO composites (a, b) VALUES (2, 'a:1:x')")


def test_driver_metadata_shows_the_full_class_name(
    composites: Session, cluster: Cluster, keyspace: str
) -> None:
    cluster.refresh_table_metadata(keyspace, "composites")
    column = cluster.metadata.keyspaces[keyspace].tables["composites"].columns["b"]
    assert "org.apache.cassandra.db.marshal.CompositeType" in column.cql_type


def test_unsupported_custom_type_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest):
        session.execute("CREATE TABLE c (a int PRIMARY KEY, b 'com.example.NoSuchType')")
