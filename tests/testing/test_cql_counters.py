"""Counter tables with Cassandra's rules: increments and decrements only, no INSERT, no mixing
with other columns, counter batches, no TTL and no conditions."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, BatchType, SimpleStatement


@pytest.fixture
def counters(session: Session) -> Session:
    session.execute(
        "CREATE TABLE hits (page text, day int, views counter, likes counter, "
        "PRIMARY KEY (page, day))"
    )
    return session


def _views(session: Session, page: str = "home", day: int = 1) -> int | None:
    row = session.execute("SELECT views FROM hits WHERE page = %s AND day = %s", (page, day)).one()
    return None if row is None else row.views


def test_a_counter_starts_at_zero_and_adds_increments_and_decrements(counters: Session) -> None:
    counters.execute("UPDATE hits SET views = views + 5 WHERE page = 'home' AND day = 1")
    counters.execute("UPDATE hits SET views = views - 2 WHERE page = 'home' AND day = 1")
    assert _views(counters) == 3


def test_bound_increments_are_bigints(counters: Session) -> None:
    increment = counters.prepare("UPDATE hits SET views = views + ? WHERE page = ? AND day = ?")
    assert increment.column_metadata[0].type.typename == "counter"
    for _ in range(3):
        counters.execute(increment, (10, "home", 2))
    assert _views(counters, day=2) == 30


def test_untouched_counter_columns_read_as_null(counters: Session) -> None:
    counters.execute("UPDATE hits SET likes = likes + 1 WHERE page = 'p' AND day = 1")
    row = counters.execute("SELECT views, likes FROM hits WHERE page = 'p' AND day = 1").one()
    assert (row.views, row.likes) == (None, 1)


def test_counter_batch_applies_every_increment(counters: Session) -> None:
    counters.execute(
        "BEGIN COUNTER BATCH "
        "UPDATE hits SET views = views + 1 WHERE page = 'a' AND day = 1; "
        "UPDATE hits SET views = views + 2 WHERE page = 'a' AND day = 1; "
        "APPLY BATCH"
    )
    batch = BatchStatement(batch_type=BatchType.COUNTER)
    batch.add(SimpleStatement("UPDATE hits SET views = views + 4 WHERE page = 'a' AND day = 1"))
    counters.execute(batch)
    assert _views(counters, "a") == 7


def test_deleting_a_counter_row_removes_it(counters: Session) -> None:
    counters.execute("UPDATE hits SET views = views + 1 WHERE page = 'gone' AND day = 1")
    counters.execute("DELETE FROM hits WHERE page = 'gone' AND day = 1")
    assert _views(counters, "gone") is None


def test_insert_into_a_counter_table_is_refused(counters: Session) -> None:
    with pytest.raises(InvalidRequest, match="INSERT statements are not allowed on counter"):
        counters.execute("INSERT INTO hits (page, day, views) VALUES ('x', 1, 1)")


def test_setting_a_counter_is_refused(counters: Session) -> None:
    with pytest.raises(InvalidRequest, match="Cannot set the value of counter column views"):
        counters.execute("UPDATE hits SET views = 3 WHERE page = 'x' AND day = 1")


def test_mixing_counter_and_regular_columns_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="Cannot mix counter and non counter columns"):
        session.execute("CREATE TABLE mixed (k int PRIMARY KEY, c counter, v int)")


def test_counter_in_the_primary_key_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="counter"):
        session.execute("CREATE TABLE bad (c counter PRIMARY KEY, n counter)")


def test_ttl_on_a_counter_update_is_refused(counters: Session) -> None:
    with pytest.raises(InvalidRequest, match="TTL"):
        counters.execute(
            "UPDATE hits USING TTL 10 SET views = views + 1 WHERE page = 'x' AND day = 1"
        )


def test_conditional_counter_update_is_refused(counters: Session) -> None:
    with pytest.raises(InvalidRequest, match="Conditional updates are not supported on counter"):
        counters.execute(
            "UPDATE hits SET views = views + 1 WHERE page = 'x' AND day = 1 IF views = 0"
        )


def test_counter_update_in_a_logged_batch_is_refused(counters: Session) -> None:
    with pytest.raises(
        InvalidRequest, match="Cannot include a counter statement in a logged batch"
    ):
        counters.execute(
            "BEGIN BATCH UPDATE hits SET views = views + 1 WHERE page = 'x' AND day = 1; "
            "APPLY BATCH"
        )


def test_regular_statement_in_a_counter_batch_is_refused(counters: Session) -> None:
    counters.execute("CREATE TABLE plain (k int PRIMARY KEY, v int)")
    batch = BatchStatement(batch_type=BatchType.COUNTER)
    batch.add(SimpleStatement("UPDATE hits SET views = views + 1 WHERE page = 'x' AND day = 1"))
    batch.add(SimpleStatement("INSERT INTO plain (k, v) VALUES (1, 1)"))
    with pytest.raises(InvalidRequest, match="Cannot include non-counter statement"):
        counters.execute(batch)


def test_arithmetic_on_a_regular_column_is_refused(session: Session) -> None:
    session.execute("CREATE TABLE plain (k int PRIMARY KEY, v int)")
    with pytest.raises(InvalidRequest, match="non counter column v"):
        session.execute("UPDATE plain SET v = v + 1 WHERE k = 1")


def test_driver_metadata_shows_counter_columns(
    counters: Session, cluster: Cluster, keyspace: str
) -> None:
    cluster.refresh_schema_metadata()
    table = cluster.metadata.keyspaces[keyspace].tables["hits"]
    assert table.columns["views"].cql_type == "counter"
