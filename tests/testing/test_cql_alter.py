"""ALTER TABLE (ADD, DROP, RENAME, WITH) and ALTER KEYSPACE, and what prepared statements see
afterwards: the driver is told to re-prepare and learns the new result columns."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.query import SimpleStatement

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer

from .conftest import make_target_cluster


@pytest.fixture
def users(session: Session) -> Session:
    session.execute("CREATE TABLE users (id int, seq int, name text, PRIMARY KEY (id, seq))")
    session.execute("INSERT INTO users (id, seq, name) VALUES (1, 1, 'ann')")
    return session


def test_added_column_is_null_for_existing_rows_and_writable(users: Session) -> None:
    users.execute("ALTER TABLE users ADD email text")
    assert users.execute("SELECT email FROM users WHERE id = 1").one().email is None
    users.execute("UPDATE users SET email = 'a@x' WHERE id = 1 AND seq = 1")
    row = users.execute("SELECT * FROM users WHERE id = 1").one()
    assert (row.id, row.seq, row.email, row.name) == (1, 1, "a@x", "ann")


def test_several_columns_can_be_added_at_once(users: Session) -> None:
    users.execute("ALTER TABLE users ADD (age int, tags set<text>)")
    users.execute("UPDATE users SET age = 3, tags = {'t'} WHERE id = 1 AND seq = 1")
    row = users.execute("SELECT age, tags FROM users WHERE id = 1").one()
    assert (row.age, set(row.tags)) == (3, {"t"})


def test_dropped_column_disappears_and_its_data_does_not_come_back(users: Session) -> None:
    users.execute("ALTER TABLE users DROP name")
    with pytest.raises(InvalidRequest, match="name"):
        users.execute("SELECT name FROM users")
    assert list(users.execute("SELECT * FROM users").one()) == [1, 1]
    users.execute("ALTER TABLE users ADD name text")
    assert users.execute("SELECT name FROM users WHERE id = 1").one().name is None


def test_dropped_columns_are_recorded_in_system_schema(users: Session, keyspace: str) -> None:
    users.execute("ALTER TABLE users DROP name")
    row = users.execute(
        "SELECT column_name, type FROM system_schema.dropped_columns "
        "WHERE keyspace_name = %s AND table_name = 'users'",
        (keyspace,),
    ).one()
    assert (row.column_name, row.type) == ("name", "text")


def test_primary_key_columns_cannot_be_dropped(users: Session) -> None:
    with pytest.raises(InvalidRequest, match="Cannot drop PRIMARY KEY part seq"):
        users.execute("ALTER TABLE users DROP seq")


def test_adding_an_existing_column_is_refused(users: Session) -> None:
    with pytest.raises(InvalidRequest, match="conflicts with an existing column"):
        users.execute("ALTER TABLE users ADD name int")


def test_clustering_column_can_be_renamed(users: Session) -> None:
    users.execute("ALTER TABLE users RENAME seq TO position")
    assert users.execute("SELECT position FROM users WHERE id = 1").one().position == 1


def test_regular_column_cannot_be_renamed(users: Session) -> None:
    with pytest.raises(InvalidRequest, match="Cannot rename non PRIMARY KEY part name"):
        users.execute("ALTER TABLE users RENAME name TO nickname")


def test_changing_a_column_type_is_refused(users: Session) -> None:
    with pytest.raises(InvalidRequest, match="Altering of types is not allowed"):
        users.execute("ALTER TABLE users ALTER name TYPE blob")


def test_table_properties_change_and_show_in_metadata(
    users: Session, cluster: Cluster, keyspace: str
) -> None:
    users.execute("ALTER TABLE users WITH comment = 'people' AND default_time_to_live = 60")
    cluster.refresh_table_metadata(keyspace, "users")
    options = cluster.metadata.keyspaces[keyspace].tables["users"].options
    assert (options["comment"], options["default_time_to_live"]) == ("people", 60)


def test_driver_metadata_sees_added_columns(
    users: Session, cluster: Cluster, keyspace: str
) -> None:
    users.execute("ALTER TABLE users ADD email text")
    cluster.refresh_table_metadata(keyspace, "users")
    assert "email" in cluster.metadata.keyspaces[keyspace].tables["users"].columns


def test_prepared_select_star_sees_an_added_column_on_protocol_v4(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    """v4 has no result_metadata_id: like Cassandra, the server forgets the table's prepared
    statements on ALTER, the driver re-prepares on Unprepared and adopts the new metadata."""
    cluster = make_target_cluster(cassandra_config, protocol_version=4)
    try:
        session = cluster.connect(keyspace)
        session.execute("CREATE TABLE t (k int PRIMARY KEY, a int)")
        session.execute("INSERT INTO t (k, a) VALUES (1, 1)")
        select = session.prepare("SELECT * FROM t WHERE k = ?")
        assert list(session.execute(select, (1,)).one()) == [1, 1]
        session.execute("ALTER TABLE t ADD b int")
        session.execute("UPDATE t SET b = 2 WHERE k = 1")
        assert list(session.execute(select, (1,)).one()) == [1, 1, 2]
        assert [column[2] for column in select.result_metadata] == ["k", "a", "b"]
        session.execute("ALTER TABLE t DROP a")
        assert list(session.execute(select, (1,)).one()) == [1, 2]
    finally:
        cluster.shutdown()


def test_paging_continues_across_an_alter_with_the_new_columns(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    cluster = make_target_cluster(cassandra_config, protocol_version=4)
    try:
        session = cluster.connect(keyspace)
        session.execute("CREATE TABLE t (k int, c int, a int, PRIMARY KEY (k, c))")
        for c in range(4):
            session.execute("INSERT INTO t (k, c, a) VALUES (1, %s, %s)", (c, c))
        select = session.prepare("SELECT * FROM t WHERE k = 1")
        select.fetch_size = 2
        result = session.execute(select)
        first_page = list(result.current_rows)
        session.execute("ALTER TABLE t ADD b int")
        rest = []
        while result.has_more_pages:
            result.fetch_next_page()
            rest.extend(result.current_rows)
        assert [tuple(r) for r in first_page] == [(1, 0, 0), (1, 1, 1)]
        assert [tuple(r) for r in rest] == [(1, 2, 2, None), (1, 3, 3, None)]
    finally:
        cluster.shutdown()


def test_prepared_statement_naming_a_dropped_column_fails(users: Session) -> None:
    select = users.prepare("SELECT id, name FROM users WHERE id = ?")
    users.execute("ALTER TABLE users DROP name")
    with pytest.raises(InvalidRequest):
        users.execute(select, (1,))


def test_alter_keyspace_changes_replication_and_durable_writes(
    session: Session, cluster: Cluster, keyspace: str
) -> None:
    session.execute(
        f"ALTER KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false"
    )
    row = session.execute(
        SimpleStatement(
            "SELECT durable_writes, replication FROM system_schema.keyspaces "
            "WHERE keyspace_name = %s"
        ),
        (keyspace,),
    ).one()
    assert row.durable_writes is False
    assert row.replication["class"] == "org.apache.cassandra.locator.SimpleStrategy"
    cluster.refresh_keyspace_metadata(keyspace)
    assert cluster.metadata.keyspaces[keyspace].durable_writes is False


def test_alter_of_a_missing_keyspace_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest):
        session.execute("ALTER KEYSPACE nowhere WITH durable_writes = false")


@pytest.mark.memory_only
def test_alter_makes_the_driver_re_prepare_the_tables_statements(
    server: CQLServer, users: Session
) -> None:
    select = users.prepare("SELECT * FROM users WHERE id = ?")
    users.execute(select, (1,))
    before = server.requests.get("PREPARE", 0)
    users.execute("ALTER TABLE users ADD email text")
    assert len(users.execute(select, (1,)).one()) == 4
    assert server.requests.get("PREPARE", 0) == before + 1
