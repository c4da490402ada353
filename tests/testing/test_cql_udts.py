"""User-defined types: DDL, frozen and non-frozen columns, literals, bound values through the
driver's own UDT codec, field selection and update, nesting, and the driver's metadata."""

from __future__ import annotations

from collections import namedtuple

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session, UserTypeDoesNotExist

Address = namedtuple("Address", ("street", "city", "zip"))


@pytest.fixture
def addresses(session: Session) -> Session:
    session.execute("CREATE TYPE address (street text, city text, zip int)")
    session.execute(
        "CREATE TABLE people (id int PRIMARY KEY, home frozen<address>, work address, "
        "previous list<frozen<address>>, by_name map<text, frozen<address>>)"
    )
    return session


def test_frozen_udt_round_trips_as_a_bound_value_and_reads_back_as_a_namedtuple(
    addresses: Session,
) -> None:
    insert = addresses.prepare("INSERT INTO people (id, home) VALUES (?, ?)")
    addresses.execute(insert, (1, Address("1 Main St", "Paris", 75001)))
    home = addresses.execute("SELECT home FROM people WHERE id = 1").one().home
    assert (home.street, home.city, home.zip) == ("1 Main St", "Paris", 75001)


def test_udt_literal_names_fields_and_leaves_the_missing_ones_null(addresses: Session) -> None:
    addresses.execute("INSERT INTO people (id, home) VALUES (2, {city: 'Lyon', street: 'Rue'})")
    home = addresses.execute("SELECT home FROM people WHERE id = 2").one().home
    assert tuple(home) == ("Rue", "Lyon", None)


def test_registered_class_is_inlined_by_the_driver_and_returned_as_that_class(
    addresses: Session, cluster: Cluster, keyspace: str
) -> None:
    cluster.register_user_type(keyspace, "address", Address)
    addresses.execute(
        "INSERT INTO people (id, home) VALUES (%s, %s)", (3, Address("s", "Nice", 6000))
    )
    home = addresses.execute("SELECT home FROM people WHERE id = 3").one().home
    assert type(home) is Address
    assert home == Address("s", "Nice", 6000)


def test_registering_an_unknown_type_raises_user_type_does_not_exist(
    addresses: Session, cluster: Cluster, keyspace: str
) -> None:
    with pytest.raises(UserTypeDoesNotExist):
        cluster.register_user_type(keyspace, "nope", Address)


def test_field_selection_returns_the_field_with_its_own_type(addresses: Session) -> None:
    addresses.execute("INSERT INTO people (id, home) VALUES (4, {street: 'a', city: 'b', zip: 9})")
    result = addresses.execute("SELECT home.city, home.zip FROM people WHERE id = 4")
    assert list(result.one()) == ["b", 9]
    assert [t.typename for t in result.column_types] == ["varchar", "int"]


def test_non_frozen_udt_field_can_be_updated_alone(addresses: Session) -> None:
    addresses.execute("INSERT INTO people (id, work) VALUES (5, {street: 'x', city: 'y', zip: 1})")
    addresses.execute("UPDATE people SET work.city = 'Lille' WHERE id = 5")
    assert tuple(addresses.execute("SELECT work FROM people WHERE id = 5").one().work) == (
        "x",
        "Lille",
        1,
    )


def test_updating_a_field_of_a_frozen_udt_is_refused(addresses: Session) -> None:
    with pytest.raises(InvalidRequest, match="frozen"):
        addresses.execute("UPDATE people SET home.city = 'Lille' WHERE id = 5")


def test_udts_inside_collections_round_trip(addresses: Session) -> None:
    insert = addresses.prepare("INSERT INTO people (id, previous, by_name) VALUES (?, ?, ?)")
    old = Address("old", "Metz", 57000)
    addresses.execute(insert, (6, [old, old], {"mum": Address("m", "Brest", 29200)}))
    row = addresses.execute("SELECT previous, by_name FROM people WHERE id = 6").one()
    assert [tuple(a) for a in row.previous] == [tuple(old), tuple(old)]
    assert tuple(row.by_name["mum"]) == ("m", "Brest", 29200)


def test_udt_as_a_map_key_literal(session: Session) -> None:
    session.execute("CREATE TYPE point (x int, y int)")
    session.execute("CREATE TABLE grid (k int PRIMARY KEY, cells map<frozen<point>, text>)")
    session.execute(
        "INSERT INTO grid (k, cells) VALUES (1, {{x: 2, y: 1}: 'b', {x: 1, y: 9}: 'a'})"
    )
    cells = session.execute("SELECT cells FROM grid WHERE k = 1").one().cells
    assert [(tuple(key), value) for key, value in cells.items()] == [((1, 9), "a"), ((2, 1), "b")]


def test_nested_udts_round_trip(session: Session) -> None:
    session.execute("CREATE TYPE inner_t (v int)")
    session.execute("CREATE TYPE outer_t (name text, inner frozen<inner_t>)")
    session.execute("CREATE TABLE nest (k int PRIMARY KEY, o frozen<outer_t>)")
    session.execute("INSERT INTO nest (k, o) VALUES (1, {name: 'n', inner: {v: 7}})")
    row = session.execute("SELECT o, o.inner, o.inner.v FROM nest WHERE k = 1").one()
    assert row[0].inner.v == 7
    assert row[1].v == 7
    assert row[2] == 7


def test_udt_as_a_clustering_column_orders_field_by_field(session: Session) -> None:
    session.execute("CREATE TYPE version (major int, minor int)")
    session.execute(
        "CREATE TABLE releases (app text, v frozen<version>, notes text, PRIMARY KEY (app, v))"
    )
    for major, minor in ((2, 0), (1, 10), (1, 2)):
        session.execute(
            f"INSERT INTO releases (app, v, notes) VALUES ('a', {{major: {major}, minor: {minor}}},"
            " 'x')"
        )
    rows = session.execute("SELECT v FROM releases WHERE app = 'a'")
    assert [tuple(r.v) for r in rows] == [(1, 2), (1, 10), (2, 0)]


def test_alter_type_add_field_reads_old_values_with_the_new_field_null(
    addresses: Session,
) -> None:
    addresses.execute("INSERT INTO people (id, home) VALUES (7, {street: 'a', city: 'b', zip: 1})")
    addresses.execute("ALTER TYPE address ADD country text")
    home = addresses.execute("SELECT home FROM people WHERE id = 7").one().home
    assert tuple(home) == ("a", "b", 1, None)
    addresses.execute("UPDATE people SET home = {street: 'a', country: 'FR'} WHERE id = 7")
    assert addresses.execute("SELECT home.country FROM people WHERE id = 7").one()[0] == "FR"


def test_driver_metadata_describes_the_type_and_the_columns_using_it(
    addresses: Session, cluster: Cluster, keyspace: str
) -> None:
    cluster.refresh_schema_metadata()
    udt = cluster.metadata.keyspaces[keyspace].user_types["address"]
    assert udt.field_names == ["street", "city", "zip"]
    assert udt.field_types == ["text", "text", "int"]
    table = cluster.metadata.keyspaces[keyspace].tables["people"]
    assert table.columns["home"].cql_type == "frozen<address>"
    assert table.columns["work"].cql_type == "address"
    assert table.columns["previous"].cql_type == "list<frozen<address>>"


def test_unknown_field_in_a_literal_is_refused(addresses: Session) -> None:
    with pytest.raises(InvalidRequest, match="Unknown field 'planet'"):
        addresses.execute("INSERT INTO people (id, home) VALUES (8, {planet: 'Mars'})")


def test_table_using_an_unknown_type_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="Unknown type"):
        session.execute("CREATE TABLE bad (k int PRIMARY KEY, v frozen<nowhere>)")


def test_non_frozen_udt_in_the_primary_key_is_refused(session: Session) -> None:
    session.execute("CREATE TYPE pk_t (a int)")
    with pytest.raises(InvalidRequest, match="non-frozen"):
        session.execute("CREATE TABLE bad (k pk_t PRIMARY KEY)")


def test_dropping_a_type_still_in_use_is_refused_then_allowed_after_the_table_goes(
    addresses: Session,
) -> None:
    with pytest.raises(InvalidRequest, match="still used by table"):
        addresses.execute("DROP TYPE address")
    addresses.execute("DROP TABLE people")
    addresses.execute("DROP TYPE address")
    addresses.execute("DROP TYPE IF EXISTS address")


def test_creating_a_type_twice_is_refused_unless_if_not_exists(addresses: Session) -> None:
    with pytest.raises(InvalidRequest, match="already exists"):
        addresses.execute("CREATE TYPE address (a int)")
    addresses.execute("CREATE TYPE IF NOT EXISTS address (a int)")


@pytest.mark.memory_only  # result metadata bytes are checked against the server's own encoding
def test_prepared_metadata_carries_the_udt_keyspace_name_and_fields(
    addresses: Session, keyspace: str
) -> None:
    prepared = addresses.prepare("SELECT home FROM people WHERE id = ?")
    home_type = prepared.result_metadata[0][3]
    assert (home_type.keyspace, home_type.typename) == (keyspace, "address")
    assert home_type.fieldnames == ("street", "city", "zip")
