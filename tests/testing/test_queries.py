"""CQL semantics on the in-memory store, checked through the real driver."""

from __future__ import annotations

import time

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.murmur3 import murmur3
from cassandra.query import SimpleStatement

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer

from .conftest import make_target_cluster


@pytest.fixture
def readings(session: Session) -> Session:
    session.execute(
        "CREATE TABLE readings (site text, sensor int, at int, value double, note text, "
        "PRIMARY KEY ((site, sensor), at)) WITH CLUSTERING ORDER BY (at DESC)"
    )
    insert = session.prepare("INSERT INTO readings (site, sensor, at, value) VALUES (?, ?, ?, ?)")
    for site in ("north", "south"):
        for sensor in (1, 2):
            for at in range(5):
                session.execute(insert, (site, sensor, at, at * 1.5))
    return session


def test_rows_of_a_partition_follow_the_clustering_order(readings: Session) -> None:
    rows = readings.execute("SELECT at FROM readings WHERE site = 'north' AND sensor = 1")
    assert [r.at for r in rows] == [4, 3, 2, 1, 0]


def test_order_by_reverses_the_clustering_order(readings: Session) -> None:
    rows = readings.execute(
        "SELECT at FROM readings WHERE site = 'north' AND sensor = 1 ORDER BY at ASC"
    )
    assert [r.at for r in rows] == [0, 1, 2, 3, 4]


def test_clustering_range_restrictions(readings: Session) -> None:
    base = "SELECT at FROM readings WHERE site = 'north' AND sensor = 1 AND "
    assert [r.at for r in readings.execute(base + "at > 1 AND at <= 3")] == [3, 2]
    assert [r.at for r in readings.execute(base + "at >= 3")] == [4, 3]
    assert [r.at for r in readings.execute(base + "at < 1")] == [0]
    assert [r.at for r in readings.execute(base + "at = 2")] == [2]


def test_in_on_the_partition_key_reads_several_partitions(readings: Session) -> None:
    rows = readings.execute(
        "SELECT site, sensor FROM readings WHERE site = 'south' AND sensor IN (1, 2) AND at = 0"
    )
    assert sorted((r.site, r.sensor) for r in rows) == [("south", 1), ("south", 2)]


def test_in_bound_to_a_single_marker_takes_a_list(readings: Session) -> None:
    query = readings.prepare(
        "SELECT sensor FROM readings WHERE site = 'south' AND sensor IN ? AND at = 0"
    )
    assert query.column_metadata[0].name == "in(sensor)"
    assert sorted(r.sensor for r in readings.execute(query, ([2, 1],))) == [1, 2]


def test_limit_and_count(readings: Session) -> None:
    rows = readings.execute("SELECT at FROM readings WHERE site = 'north' AND sensor = 2 LIMIT 2")
    assert [r.at for r in rows] == [4, 3]
    assert readings.execute("SELECT COUNT(*) FROM readings").one().count == 20
    counted = readings.execute(
        "SELECT count(*) AS n FROM readings WHERE site = 'north' AND sensor = 2 AND at > 2"
    )
    assert counted.one().n == 2


def test_full_scan_returns_partitions_in_token_order(readings: Session) -> None:
    rows = list(readings.execute("SELECT site, sensor, at FROM readings"))
    assert len(rows) == 20

    def token(site: str, sensor: int) -> int:
        key = b"".join(
            len(part).to_bytes(2, "big") + part + b"\x00"
            for part in (site.encode(), sensor.to_bytes(4, "big"))
        )
        return int(murmur3(key))

    tokens = [token(r.site, r.sensor) for r in rows]
    assert tokens == sorted(tokens)


def test_paging_walks_every_row_once_in_order(readings: Session) -> None:
    everything = [tuple(r) for r in readings.execute("SELECT site, sensor, at FROM readings")]
    for fetch_size in (1, 3, 7, 20, 50):
        statement = SimpleStatement("SELECT site, sensor, at FROM readings", fetch_size=fetch_size)
        assert [tuple(r) for r in readings.execute(statement)] == everything


def test_paging_state_resumes_a_query_later(readings: Session) -> None:
    statement = SimpleStatement(
        "SELECT at FROM readings WHERE site = 'north' AND sensor = 1", fetch_size=2
    )
    first = readings.execute(statement)
    assert [r.at for r in first.current_rows] == [4, 3]
    assert first.has_more_pages
    second = readings.execute(statement, paging_state=first.paging_state)
    assert [r.at for r in second.current_rows] == [2, 1]
    third = readings.execute(statement, paging_state=second.paging_state)
    assert [r.at for r in third.current_rows] == [0]
    assert not third.has_more_pages


def test_paging_survives_rows_deleted_between_pages(readings: Session) -> None:
    statement = SimpleStatement(
        "SELECT at FROM readings WHERE site = 'north' AND sensor = 1", fetch_size=2
    )
    first = readings.execute(statement)
    readings.execute("DELETE FROM readings WHERE site = 'north' AND sensor = 1 AND at = 3")
    second = readings.execute(statement, paging_state=first.paging_state)
    assert [r.at for r in second.current_rows] == [2, 1]


def test_paging_respects_the_limit_across_pages(readings: Session) -> None:
    statement = SimpleStatement("SELECT at FROM readings LIMIT 5", fetch_size=2)
    assert len(list(readings.execute(statement))) == 5


def test_prepared_select_pages_too(readings: Session) -> None:
    prepared = readings.prepare("SELECT at FROM readings WHERE site = ? AND sensor = ?")
    prepared.fetch_size = 2
    result = readings.execute(prepared, ("south", 2))
    assert len(result.current_rows) == 2
    assert [r.at for r in result] == [4, 3, 2, 1, 0]


def test_select_star_lists_key_columns_first_then_the_rest_alphabetically(
    readings: Session,
) -> None:
    result = readings.execute("SELECT * FROM readings LIMIT 1")
    assert result.column_names == ["site", "sensor", "at", "note", "value"]


def test_update_creates_and_changes_rows_and_delete_removes_them(session: Session) -> None:
    session.execute("CREATE TABLE kv (k text PRIMARY KEY, v int, w int)")
    session.execute("UPDATE kv SET v = 1 WHERE k = 'a'")
    session.execute("UPDATE kv SET w = 2, v = 3 WHERE k = 'a'")
    assert tuple(session.execute("SELECT v, w FROM kv WHERE k = 'a'").one()) == (3, 2)
    session.execute("DELETE w FROM kv WHERE k = 'a'")
    assert tuple(session.execute("SELECT v, w FROM kv WHERE k = 'a'").one()) == (3, None)
    session.execute("DELETE FROM kv WHERE k = 'a'")
    assert session.execute("SELECT * FROM kv WHERE k = 'a'").one() is None


def test_row_written_by_update_vanishes_when_its_last_cell_is_deleted(session: Session) -> None:
    session.execute("CREATE TABLE kv (k text PRIMARY KEY, v int)")
    session.execute("UPDATE kv SET v = 1 WHERE k = 'u'")
    session.execute("INSERT INTO kv (k, v) VALUES ('i', 1)")
    session.execute("DELETE v FROM kv WHERE k IN ('u', 'i')")
    assert [r.k for r in session.execute("SELECT k FROM kv")] == ["i"]  # INSERT keeps the row


def test_delete_a_clustering_range_and_a_whole_partition(readings: Session) -> None:
    readings.execute("DELETE FROM readings WHERE site = 'north' AND sensor = 1 AND at >= 3")
    rows = readings.execute("SELECT at FROM readings WHERE site = 'north' AND sensor = 1")
    assert [r.at for r in rows] == [2, 1, 0]
    readings.execute("DELETE FROM readings WHERE site = 'north' AND sensor = 2")
    assert readings.execute("SELECT COUNT(*) FROM readings").one().count == 13


def test_collection_updates(session: Session) -> None:
    session.execute("CREATE TABLE c (k int PRIMARY KEY, l list<int>, s set<int>, m map<text, int>)")
    session.execute("INSERT INTO c (k, l, s, m) VALUES (1, [1], {1}, {'a': 1})")
    session.execute("UPDATE c SET l = l + [2], s = s + {3, 2}, m['b'] = 2 WHERE k = 1")
    session.execute("UPDATE c SET l = [0] + l, s = s - {1}, m = m + {'c': 3} WHERE k = 1")
    row = session.execute("SELECT l, s, m FROM c WHERE k = 1").one()
    assert row.l == [0, 1, 2]
    assert list(row.s) == [2, 3]
    assert dict(row.m) == {"a": 1, "b": 2, "c": 3}
    session.execute("UPDATE c SET m = m - {'a'}, l = l - [1] WHERE k = 1")
    row = session.execute("SELECT l, m FROM c WHERE k = 1").one()
    assert row.l == [0, 2]
    assert dict(row.m) == {"b": 2, "c": 3}


def test_ttl_expires_cells_and_rows(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    session.execute("INSERT INTO t (k, v) VALUES (1, 1) USING TTL 1")
    session.execute("INSERT INTO t (k, v) VALUES (2, 2)")
    assert session.execute("SELECT COUNT(*) FROM t").one().count == 2
    deadline = time.monotonic() + 5
    while session.execute("SELECT COUNT(*) FROM t").one().count != 1:
        assert time.monotonic() < deadline, "the row with a 1 s TTL never expired"
        time.sleep(0.1)
    assert session.execute("SELECT k FROM t WHERE k = 1").one() is None


def test_truncate_empties_a_table(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY)")
    session.execute("INSERT INTO t (k) VALUES (1)")
    session.execute("TRUNCATE t")
    assert session.execute("SELECT * FROM t").one() is None


def test_named_bind_markers_in_query_and_prepare(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v text)")
    prepared = session.prepare("INSERT INTO t (k, v) VALUES (:key, :val)")
    assert [c.name for c in prepared.column_metadata] == ["key", "val"]
    session.execute(prepared, {"val": "x", "key": 1})
    assert session.execute("SELECT v FROM t WHERE k = 1").one().v == "x"


def test_prepared_statement_reports_partition_key_indexes(session: Session) -> None:
    session.execute("CREATE TABLE t (a int, b int, c int, v int, PRIMARY KEY ((a, b), c))")
    prepared = session.prepare("SELECT v FROM t WHERE b = ? AND c = ? AND a = ?")
    assert prepared.routing_key_indexes == [2, 0]
    assert [column[2] for column in prepared.result_metadata] == ["v"]


@pytest.mark.memory_only
def test_unknown_prepared_id_makes_the_driver_reprepare(
    session: Session, server: CQLServer
) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    session.execute("INSERT INTO t (k, v) VALUES (1, 5)")
    prepared = session.prepare("SELECT v FROM t WHERE k = ?")
    server._engine.prepared.clear()  # as if the server restarted and forgot
    server.reset_counters()
    assert session.execute(prepared, (1,)).one().v == 5
    assert server.requests["PREPARE"] == 1
    assert server.requests["EXECUTE"] == 2


def test_use_switches_keyspace_and_if_exists_clauses_are_quiet(
    session: Session, keyspace: str
) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)")
    session.execute("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)")
    session.execute("DROP TABLE IF EXISTS nothing_here")
    session.execute("DROP KEYSPACE IF EXISTS nothing_here")
    session.execute("USE system")
    assert session.execute("SELECT key FROM local").one().key == "local"


def test_allow_filtering_filters_on_regular_columns(readings: Session) -> None:
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        readings.execute("SELECT at FROM readings WHERE value > 4")
    rows = readings.execute("SELECT at FROM readings WHERE value > 4 ALLOW FILTERING")
    assert sorted(r.at for r in rows) == [3] * 4 + [4] * 4


def test_table_default_ttl_applies_when_a_write_has_none(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int) WITH default_time_to_live = 1")
    session.execute("INSERT INTO t (k, v) VALUES (1, 1)")
    session.execute("INSERT INTO t (k, v) VALUES (2, 2) USING TTL 0")
    deadline = time.monotonic() + 5
    while session.execute("SELECT COUNT(*) FROM t").one().count != 1:
        assert time.monotonic() < deadline, "the default TTL never expired the row"
        time.sleep(0.1)
    assert session.execute("SELECT k FROM t").one().k == 2


def test_static_columns_are_shared_by_the_rows_of_a_partition(session: Session) -> None:
    session.execute("CREATE TABLE s (k int, c int, shared text STATIC, v int, PRIMARY KEY (k, c))")
    session.execute("INSERT INTO s (k, c, shared, v) VALUES (1, 1, 'first', 1)")
    session.execute("INSERT INTO s (k, c, v) VALUES (1, 2, 2)")
    session.execute("UPDATE s SET shared = 'second' WHERE k = 1")
    rows = session.execute("SELECT c, shared FROM s WHERE k = 1")
    assert [tuple(r) for r in rows] == [(1, "second"), (2, "second")]


def test_distinct_and_per_partition_limit(readings: Session) -> None:
    keys = readings.execute("SELECT DISTINCT site, sensor FROM readings")
    assert sorted(tuple(r) for r in keys) == [
        ("north", 1),
        ("north", 2),
        ("south", 1),
        ("south", 2),
    ]
    latest = readings.execute("SELECT site, sensor, at FROM readings PER PARTITION LIMIT 1")
    assert sorted(r.at for r in latest) == [4, 4, 4, 4]


def test_wide_partition_stays_ordered_while_rows_arrive_between_reads(session: Session) -> None:
    session.execute("CREATE TABLE w (k int, c int, PRIMARY KEY (k, c))")
    insert = session.prepare("INSERT INTO w (k, c) VALUES (0, ?)")
    select = session.prepare("SELECT c FROM w WHERE k = 0")
    written: list[int] = []
    for c in (5, 1, 9, 3, 7, 0, 8, 2, 6, 4):
        session.execute(insert, (c,))
        written.append(c)
        assert [r.c for r in session.execute(select)] == sorted(written)
    session.execute("DELETE FROM w WHERE k = 0 AND c = 5")
    assert [r.c for r in session.execute(select)] == [0, 1, 2, 3, 4, 6, 7, 8, 9]


def test_schema_change_reaches_another_clients_metadata(
    cassandra_config: CassandraConfig, session: Session, keyspace: str
) -> None:
    observer = make_target_cluster(cassandra_config, schema_event_refresh_window=0.05)
    try:
        observer.connect()
        session.execute("CREATE TABLE announced (k int PRIMARY KEY)")
        deadline = time.monotonic() + 30
        while "announced" not in observer.metadata.keyspaces.get(keyspace, _NoTables).tables:
            assert time.monotonic() < deadline, "the SCHEMA_CHANGE event never arrived"
            time.sleep(0.05)
    finally:
        observer.shutdown()


class _NoTables:
    tables: dict[str, object] = {}  # noqa: RUF012 - a read-only stand-in


def test_list_elements_by_index_dollar_strings_and_not_equal_conditions(session: Session) -> None:
    session.execute("CREATE TABLE x (k int PRIMARY KEY, l list<text>, note text)")
    session.execute("INSERT INTO x (k, l, note) VALUES (1, ['a', 'b', 'c'], $$it's$$)")
    session.execute("UPDATE x SET l[1] = 'B' WHERE k = 1")
    row = session.execute("SELECT l, note FROM x WHERE k = 1").one()
    assert (row.l, row.note) == (["a", "B", "c"], "it's")
    assert not session.execute(
        "UPDATE x SET note = 'n' WHERE k = 1 IF note != $$it's$$"
    ).was_applied
    assert session.execute("UPDATE x SET note = 'n' WHERE k = 1 IF note != 'other'").was_applied
    with pytest.raises(InvalidRequest, match="out of bound"):
        session.execute("UPDATE x SET l[7] = 'z' WHERE k = 1")


def test_per_partition_limit_holds_across_page_boundaries(readings: Session) -> None:
    for fetch_size in (1, 2, 3):
        statement = SimpleStatement(
            "SELECT site, sensor, at FROM readings PER PARTITION LIMIT 3", fetch_size=fetch_size
        )
        rows = list(readings.execute(statement))
        assert len(rows) == 12
        assert sorted({r.at for r in rows}) == [2, 3, 4]


@pytest.mark.memory_only
def test_count_ignores_paging_and_limit_applies_to_its_single_row(readings: Session) -> None:
    statement = SimpleStatement("SELECT COUNT(*) FROM readings LIMIT 3", fetch_size=2)
    assert [r.count for r in readings.execute(statement)] == [20]


@pytest.mark.memory_only
def test_a_forged_paging_state_is_refused(readings: Session) -> None:
    statement = SimpleStatement("SELECT at FROM readings", fetch_size=2)
    with pytest.raises(InvalidRequest, match="Invalid paging state"):
        readings.execute(statement, paging_state=b"\x02garbage")


@pytest.mark.memory_only
def test_dropping_a_table_forgets_its_prepared_statements_and_the_driver_recovers(
    session: Session, server: CQLServer
) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    select = session.prepare("SELECT v FROM t WHERE k = ?")
    session.execute("DROP TABLE t")
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    session.execute("INSERT INTO t (k, v) VALUES (1, 42)")
    server.reset_counters()
    assert session.execute(select, (1,)).one().v == 42
    assert server.requests["PREPARE"] == 1  # after an Unprepared answer


def test_limit_and_ttl_markers_are_described_and_honoured(session: Session) -> None:
    session.execute("CREATE TABLE t (k int, c int, PRIMARY KEY (k, c))")
    insert = session.prepare("INSERT INTO t (k, c) VALUES (?, ?) USING TTL ?")
    assert [c.name for c in insert.column_metadata] == ["k", "c", "[ttl]"]
    for c in range(5):
        session.execute(insert, (1, c, 3600))
    select = session.prepare("SELECT c FROM t WHERE k = ? LIMIT ?")
    assert [c.name for c in select.column_metadata] == ["k", "[limit]"]
    assert [r.c for r in session.execute(select, (1, 2))] == [0, 1]
