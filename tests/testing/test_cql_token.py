"""token(): in the select clause, and in WHERE ranges to page through a table in parallel."""

from __future__ import annotations

import itertools

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.metadata import Murmur3Token


@pytest.fixture
def items(session: Session) -> Session:
    session.execute("CREATE TABLE items (k int PRIMARY KEY, v int)")
    insert = session.prepare("INSERT INTO items (k, v) VALUES (?, ?)")
    for k in range(40):
        session.execute(insert, (k, k))
    return session


def test_token_in_the_select_clause_is_the_murmur3_of_the_routing_key(items: Session) -> None:
    row = items.execute("SELECT token(k), k FROM items WHERE k = 7").one()
    assert row[0] == Murmur3Token.from_key((7).to_bytes(4, "big", signed=True)).value


def test_full_scan_comes_back_in_token_order(items: Session) -> None:
    tokens = [row[0] for row in items.execute("SELECT token(k) FROM items")]
    assert tokens == sorted(tokens)
    assert len(tokens) == 40


def test_token_ranges_split_the_table_without_overlap_or_gap(items: Session) -> None:
    select = items.prepare("SELECT k FROM items WHERE token(k) > ? AND token(k) <= ?")
    bounds = [-(2**63), -(2**62), 0, 2**62, 2**63 - 1]
    seen: list[int] = []
    for low, high in itertools.pairwise(bounds):
        seen.extend(row.k for row in items.execute(select, (low, high)))
    assert sorted(seen) == list(range(40))


def test_token_range_bind_markers_are_named_partition_key_token(items: Session) -> None:
    select = items.prepare("SELECT k FROM items WHERE token(k) >= ?")
    assert [c.name for c in select.column_metadata] == ["partition key token"]
    assert select.column_metadata[0].type.typename == "bigint"


def test_token_range_pages(items: Session) -> None:
    select = items.prepare("SELECT k FROM items WHERE token(k) > ?")
    select.fetch_size = 7
    assert len(list(items.execute(select, (-(2**63),)))) == 40


def test_token_restriction_with_a_literal_and_an_exclusive_bound(items: Session) -> None:
    tokens = sorted(row[0] for row in items.execute("SELECT token(k) FROM items"))
    middle = tokens[20]
    rows = items.execute(f"SELECT token(k) FROM items WHERE token(k) > {middle}")
    assert [row[0] for row in rows] == tokens[21:]


def test_composite_partition_keys_take_every_component_in_order(session: Session) -> None:
    session.execute("CREATE TABLE pairs (a int, b int, v int, PRIMARY KEY ((a, b)))")
    session.execute("INSERT INTO pairs (a, b, v) VALUES (1, 2, 3)")
    component = b"\x00\x04"
    routing_key = b"".join(component + n.to_bytes(4, "big") + b"\x00" for n in (1, 2))
    token = Murmur3Token.from_key(routing_key).value
    assert session.execute("SELECT token(a, b) FROM pairs").one()[0] == token
    assert [
        r.v for r in session.execute("SELECT v FROM pairs WHERE token(a, b) >= %s", (token,))
    ] == [3]
    assert list(session.execute("SELECT v FROM pairs WHERE token(a, b) > %s", (token,))) == []
    with pytest.raises(InvalidRequest):
        session.execute("SELECT v FROM pairs WHERE token(b, a) > 0")


def test_token_and_a_partition_key_relation_cannot_be_mixed(items: Session) -> None:
    with pytest.raises(InvalidRequest):
        items.execute("SELECT v FROM items WHERE token(k) > 0 AND k = 1")
