"""Secondary indexes: CREATE/DROP INDEX on regular columns and collection values or keys,
equality and CONTAINS / CONTAINS KEY without ALLOW FILTERING, and the driver's metadata."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session


@pytest.fixture
def products(session: Session) -> Session:
    session.execute(
        "CREATE TABLE products (id int PRIMARY KEY, colour text, tags set<text>, "
        "sizes list<int>, stock map<text, int>, dims frozen<list<int>>)"
    )
    rows = [
        (1, "red", {"new", "sale"}, [1, 2], {"paris": 3}, [1, 1]),
        (2, "blue", {"sale"}, [2, 3], {"lyon": 0}, [2, 2]),
        (3, "red", set(), [4], {"paris": 1, "lyon": 2}, [1, 1]),
    ]
    insert = session.prepare(
        "INSERT INTO products (id, colour, tags, sizes, stock, dims) VALUES (?, ?, ?, ?, ?, ?)"
    )
    for row in rows:
        session.execute(insert, row)
    return session


def _ids(session: Session, query: str, *params: object) -> list[int]:
    return sorted(row.id for row in session.execute(query, params or None))


def test_equality_on_an_indexed_regular_column_needs_no_allow_filtering(
    products: Session,
) -> None:
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        products.execute("SELECT id FROM products WHERE colour = 'red'")
    products.execute("CREATE INDEX ON products (colour)")
    assert _ids(products, "SELECT id FROM products WHERE colour = 'red'") == [1, 3]
    assert _ids(products, "SELECT id FROM products WHERE colour = %s", "blue") == [2]


def test_contains_on_an_indexed_set_and_list(products: Session) -> None:
    products.execute("CREATE INDEX ON products (tags)")
    products.execute("CREATE INDEX ON products (values(sizes))")
    assert _ids(products, "SELECT id FROM products WHERE tags CONTAINS 'sale'") == [1, 2]
    assert _ids(products, "SELECT id FROM products WHERE sizes CONTAINS 2") == [1, 2]


def test_contains_and_contains_key_on_indexed_maps(products: Session) -> None:
    products.execute("CREATE INDEX ON products (keys(stock))")
    products.execute("CREATE INDEX stock_values ON products (stock)")
    assert _ids(products, "SELECT id FROM products WHERE stock CONTAINS KEY 'lyon'") == [2, 3]
    assert _ids(products, "SELECT id FROM products WHERE stock CONTAINS 3") == [1]


def test_full_index_on_a_frozen_collection_matches_the_whole_value(products: Session) -> None:
    products.execute("CREATE INDEX ON products (full(dims))")
    assert _ids(products, "SELECT id FROM products WHERE dims = [1, 1]") == [1, 3]


def test_contains_without_an_index_needs_allow_filtering(products: Session) -> None:
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        products.execute("SELECT id FROM products WHERE tags CONTAINS 'new'")
    query = "SELECT id FROM products WHERE tags CONTAINS 'new' ALLOW FILTERING"
    assert _ids(products, query) == [1]


def test_an_index_plus_another_restriction_needs_allow_filtering(products: Session) -> None:
    products.execute("CREATE INDEX ON products (colour)")
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        products.execute("SELECT id FROM products WHERE colour = 'red' AND tags CONTAINS 'new'")
    query = "SELECT id FROM products WHERE colour = 'red' AND tags CONTAINS 'new' ALLOW FILTERING"
    assert _ids(products, query) == [1]


def test_index_answers_later_writes_too(products: Session) -> None:
    products.execute("CREATE INDEX ON products (colour)")
    products.execute("UPDATE products SET colour = 'red' WHERE id = 2")
    products.execute("DELETE FROM products WHERE id = 1")
    assert _ids(products, "SELECT id FROM products WHERE colour = 'red'") == [2, 3]


def test_indexes_show_in_system_schema_and_driver_metadata(
    products: Session, cluster: Cluster, keyspace: str
) -> None:
    products.execute("CREATE INDEX ON products (colour)")
    products.execute("CREATE INDEX by_stock_key ON products (keys(stock))")
    rows = products.execute(
        "SELECT index_name, kind, options FROM system_schema.indexes WHERE keyspace_name = %s",
        (keyspace,),
    )
    found = {row.index_name: (row.kind, dict(row.options)) for row in rows}
    assert found == {
        "by_stock_key": ("COMPOSITES", {"target": "keys(stock)"}),
        "products_colour_idx": ("COMPOSITES", {"target": "colour"}),
    }
    cluster.refresh_table_metadata(keyspace, "products")
    table = cluster.metadata.keyspaces[keyspace].tables["products"]
    assert table.indexes["by_stock_key"].as_cql_query() == (
        f"CREATE INDEX by_stock_key ON {keyspace}.products (keys(stock))"
    )


def test_drop_index_brings_back_the_allow_filtering_rule(products: Session) -> None:
    products.execute("CREATE INDEX colour_idx ON products (colour)")
    products.execute("DROP INDEX colour_idx")
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        products.execute("SELECT id FROM products WHERE colour = 'red'")
    products.execute("DROP INDEX IF EXISTS colour_idx")


def test_creating_a_duplicate_index_name_is_refused_unless_if_not_exists(
    products: Session,
) -> None:
    products.execute("CREATE INDEX colour_idx ON products (colour)")
    with pytest.raises(InvalidRequest):
        products.execute("CREATE INDEX colour_idx ON products (tags)")
    products.execute("CREATE INDEX IF NOT EXISTS colour_idx ON products (tags)")


def test_keys_index_on_a_non_map_is_refused(products: Session) -> None:
    with pytest.raises(InvalidRequest):
        products.execute("CREATE INDEX ON products (keys(tags))")


def test_indexing_the_only_partition_key_column_is_refused(products: Session) -> None:
    with pytest.raises(InvalidRequest):
        products.execute("CREATE INDEX ON products (id)")


def test_indexed_column_cannot_be_dropped(products: Session) -> None:
    products.execute("CREATE INDEX ON products (colour)")
    with pytest.raises(InvalidRequest, match="dependent secondary indexes"):
        products.execute("ALTER TABLE products DROP colour")
