"""Tuples: literals, bound values through the driver's codec, nesting, ordering and metadata."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session


@pytest.fixture
def tuples(session: Session) -> Session:
    session.execute(
        "CREATE TABLE pairs (k int, at frozen<tuple<int, text>>, t tuple<int, text, boolean>, "
        "nested tuple<int, frozen<tuple<text, text>>>, l list<frozen<tuple<int, int>>>, "
        "PRIMARY KEY (k, at))"
    )
    session.encoder.mapping[tuple] = session.encoder.cql_encode_tuple
    return session


def test_bound_tuple_round_trips(tuples: Session) -> None:
    insert = tuples.prepare("INSERT INTO pairs (k, at, t, nested, l) VALUES (?, ?, ?, ?, ?)")
    tuples.execute(insert, (1, (1, "a"), (2, "b", True), (3, ("x", "y")), [(1, 2), (3, 4)]))
    row = tuples.execute("SELECT at, t, nested, l FROM pairs WHERE k = 1").one()
    assert row.at == (1, "a")
    assert row.t == (2, "b", True)
    assert row.nested == (3, ("x", "y"))
    assert row.l == [(1, 2), (3, 4)]


def test_tuple_literal_may_leave_trailing_elements_null(tuples: Session) -> None:
    tuples.execute("INSERT INTO pairs (k, at, t) VALUES (2, (1, 'a'), (5, 'e'))")
    assert tuples.execute("SELECT t FROM pairs WHERE k = 2").one().t == (5, "e", None)


def test_simple_statement_tuples_are_inlined_by_the_driver(tuples: Session) -> None:
    tuples.execute(
        "INSERT INTO pairs (k, at, t) VALUES (%s, %s, %s)", (3, (0, "z"), (1, None, False))
    )
    assert tuples.execute("SELECT t FROM pairs WHERE k = 3").one().t == (1, None, False)


def test_tuples_as_clustering_columns_order_element_by_element(tuples: Session) -> None:
    for at in ((2, "a"), (1, "b"), (1, "a")):
        tuples.execute("INSERT INTO pairs (k, at) VALUES (4, %s)", (at,))
    assert [r.at for r in tuples.execute("SELECT at FROM pairs WHERE k = 4")] == [
        (1, "a"),
        (1, "b"),
        (2, "a"),
    ]
    rows = tuples.execute("SELECT at FROM pairs WHERE k = 4 AND at > (1, 'a')")
    assert [r.at for r in rows] == [(1, "b"), (2, "a")]


def test_tuple_with_too_many_elements_is_refused(tuples: Session) -> None:
    with pytest.raises(InvalidRequest):
        tuples.execute("INSERT INTO pairs (k, at) VALUES (5, (1, 'a', 3))")


def test_list_literal_is_not_a_tuple(tuples: Session) -> None:
    with pytest.raises(InvalidRequest):
        tuples.execute("INSERT INTO pairs (k, at) VALUES (6, [1, 'a'])")


def test_metadata_shows_tuples_frozen(tuples: Session, cluster: Cluster, keyspace: str) -> None:
    cluster.refresh_schema_metadata()
    columns = cluster.metadata.keyspaces[keyspace].tables["pairs"].columns
    assert columns["t"].cql_type == "frozen<tuple<int, text, boolean>>"
    assert columns["nested"].cql_type == "frozen<tuple<int, frozen<tuple<text, text>>>>"
