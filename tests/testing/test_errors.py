"""Errors come back with Cassandra's codes and messages that name the problem."""

from __future__ import annotations

import pytest
from cassandra import AlreadyExists, InvalidRequest, Unauthorized
from cassandra.cluster import Session
from cassandra.protocol import ConfigurationException, SyntaxException

from .conftest import KEYSPACE_CQL


def test_syntax_error_points_at_the_offending_token(session: Session) -> None:
    # Cassandra names its grammar's keyword tokens: K_FROM (4.0, 4.1 and 5.0 alike)
    with pytest.raises(SyntaxException, match="line 1:9 mismatched input 'FORM' expecting K_FROM"):
        session.execute("SELECT * FORM t")


def test_unknown_table_keyspace_and_column_are_named(session: Session) -> None:
    # 4.0 and later: "table nope does not exist" (3.x said "unconfigured table nope")
    with pytest.raises(InvalidRequest, match=r"table nope does not exist|unconfigured table nope"):
        session.execute("SELECT * FROM nope")
    with pytest.raises(InvalidRequest, match=r"(?i)keyspace nokeyspace does not exist"):
        session.execute("SELECT * FROM nokeyspace.t")
    session.execute("CREATE TABLE t (k int PRIMARY KEY)")
    with pytest.raises(InvalidRequest, match="Undefined column name missing"):
        session.execute("SELECT missing FROM t")


def test_creating_twice_raises_already_exists_with_keyspace_and_table(
    session: Session, keyspace: str
) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY)")
    with pytest.raises(AlreadyExists) as table_error:
        session.execute("CREATE TABLE t (k int PRIMARY KEY)")
    assert (table_error.value.keyspace, table_error.value.table) == (keyspace, "t")
    with pytest.raises(AlreadyExists) as keyspace_error:
        session.execute(KEYSPACE_CQL.format(keyspace))
    assert keyspace_error.value.keyspace == keyspace


@pytest.mark.memory_only
def test_cql_outside_the_subset_says_so(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="CREATE FUNCTION is not supported by the in-memory"):
        session.execute("CREATE FUNCTION f (x int) RETURNS NULL ON NULL INPUT RETURNS int ...")
    with pytest.raises(InvalidRequest, match="ALTER MATERIALIZED VIEW is not supported"):
        session.execute("ALTER MATERIALIZED VIEW v WITH comment = 'x'")


def test_missing_partition_key_parts_are_listed(session: Session) -> None:
    session.execute("CREATE TABLE t (a int, b int, v int, PRIMARY KEY ((a, b)))")
    with pytest.raises(InvalidRequest, match="Some partition key parts are missing: b"):
        session.execute("INSERT INTO t (a, v) VALUES (1, 1)")


def test_restricting_a_clustering_column_after_a_gap_is_refused(session: Session) -> None:
    session.execute("CREATE TABLE t (k int, c1 int, c2 int, PRIMARY KEY (k, c1, c2))")
    with pytest.raises(InvalidRequest, match='preceding column "c1" is not restricted'):
        session.execute("SELECT * FROM t WHERE k = 1 AND c2 = 1")


def test_system_keyspaces_are_read_only(session: Session) -> None:
    with pytest.raises(Unauthorized, match="not user-modifiable"):
        session.execute("INSERT INTO system.local (key) VALUES ('x')")
    with pytest.raises(Unauthorized):
        session.execute("DROP KEYSPACE system_schema")


def test_wrong_number_of_bound_values_is_refused(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    bound = session.prepare("INSERT INTO t (k, v) VALUES (?, ?)").bind((1, 2))
    bound.values = bound.values[:1]
    with pytest.raises(InvalidRequest, match="2 markers"):
        session.execute(bound)


def test_dropping_what_does_not_exist_is_an_error(session: Session) -> None:
    # Cassandra 4.0, 4.1 and 5.0 word these the same
    with pytest.raises(InvalidRequest, match=r"Table '\w+\.ghost' doesn't exist"):
        session.execute("DROP TABLE ghost")
    with pytest.raises(InvalidRequest, match="Keyspace 'ghost' doesn't exist"):
        session.execute("DROP KEYSPACE ghost")


def test_bad_replication_settings_are_configuration_errors(session: Session) -> None:
    with pytest.raises(ConfigurationException, match="replication_factor"):
        session.execute("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy'}")
    with pytest.raises(ConfigurationException, match="Unable to find replication strategy"):
        session.execute("CREATE KEYSPACE k2 WITH replication = {'class': 'Bogus'}")


def test_unknown_table_property_is_named(session: Session) -> None:
    with pytest.raises(SyntaxException, match="Unknown property 'bogus'"):
        session.execute("CREATE TABLE t (k int PRIMARY KEY) WITH bogus = 1")


@pytest.mark.memory_only
def test_a_huge_cartesian_product_of_in_lists_is_refused(session: Session) -> None:
    session.execute("CREATE TABLE t (a int, b int, v int, PRIMARY KEY ((a, b)))")
    values = ", ".join(str(i) for i in range(200))
    with pytest.raises(InvalidRequest, match="cartesian product"):
        session.execute(f"SELECT v FROM t WHERE a IN ({values}) AND b IN ({values})")
