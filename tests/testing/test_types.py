"""Every supported type round-trips through bound values and through CQL literals."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Date, Time

ALL_TYPES = (
    "a ascii, t text, vc varchar, i int, bi bigint, si smallint, ti tinyint, vi varint, "
    "b boolean, f float, d double, de decimal, u uuid, tu timeuuid, ts timestamp, dt date, "
    "tm time, bl blob, ip inet, l list<int>, s set<text>, m map<text, int>"
)

VALUES = {
    "a": "ascii",
    "t": "text é",
    "vc": "varchar ü",
    "i": -2_000_000_000,
    "bi": 9_000_000_000_000,
    "si": -30_000,
    "ti": 100,
    "vi": 10**30,
    "b": True,
    "f": 1.5,
    "d": 2.25,
    "de": decimal.Decimal("123.456"),
    "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "tu": uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3"),
    "ts": datetime.datetime(2024, 5, 6, 7, 8, 9, 123000),
    "dt": Date(datetime.date(2024, 5, 6)),
    "tm": Time(datetime.time(12, 34, 56, 789)),
    "bl": b"\x00\x01\xff",
    "ip": "10.1.2.3",
    "l": [3, 1, 2],
    "s": {"b", "a"},
    "m": {"y": 2, "x": 1},
}

LITERALS = {
    "a": "'ascii'",
    "t": "'text é'",
    "vc": "'varchar ü'",
    "i": "-2000000000",
    "bi": "9000000000000",
    "si": "-30000",
    "ti": "100",
    "vi": str(10**30),
    "b": "true",
    "f": "1.5",
    "d": "2.25",
    "de": "123.456",
    "u": "12345678-1234-5678-1234-567812345678",
    "tu": "d2177dd0-eaa2-11de-a572-001b779c76e3",
    "ts": "'2024-05-06 07:08:09.123+0000'",
    "dt": "'2024-05-06'",
    "tm": "'12:34:56.000789'",
    "bl": "0x0001ff",
    "ip": "'10.1.2.3'",
    "l": "[3, 1, 2]",
    "s": "{'b', 'a'}",
    "m": "{'y': 2, 'x': 1}",
}


@pytest.fixture
def typed(session: Session) -> Session:
    session.execute(f"CREATE TABLE typed (k int PRIMARY KEY, {ALL_TYPES})")
    return session


def _check_row(row: object) -> None:
    for name, expected in VALUES.items():
        actual = getattr(row, name)
        if name == "s":
            assert sorted(actual) == ["a", "b"]
        elif name == "m":
            assert list(actual.items()) == [("x", 1), ("y", 2)]  # stored sorted by key
        elif name == "ip":
            assert ipaddress.ip_address(actual) == ipaddress.ip_address(expected)
        else:
            assert actual == expected, name


def test_bound_values_of_every_type_round_trip(typed: Session) -> None:
    names = ", ".join(VALUES)
    marks = ", ".join("?" for _ in VALUES)
    insert = typed.prepare(f"INSERT INTO typed (k, {names}) VALUES (?, {marks})")
    typed.execute(insert, (1, *VALUES.values()))
    _check_row(typed.execute("SELECT * FROM typed WHERE k = 1").one())


def test_literals_of_every_type_round_trip(typed: Session) -> None:
    names = ", ".join(LITERALS)
    literals = ", ".join(LITERALS.values())
    typed.execute(f"INSERT INTO typed (k, {names}) VALUES (2, {literals})")
    _check_row(typed.execute("SELECT * FROM typed WHERE k = 2").one())


def test_simple_statement_parameters_are_inlined_as_literals(typed: Session) -> None:
    names = ", ".join(VALUES)
    marks = ", ".join("%s" for _ in VALUES)
    typed.execute(f"INSERT INTO typed (k, {names}) VALUES (%s, {marks})", (3, *VALUES.values()))
    _check_row(typed.execute("SELECT * FROM typed WHERE k = %s", (3,)).one())


def test_result_metadata_reports_each_column_type(typed: Session) -> None:
    result = typed.execute("SELECT i, l, m FROM typed")
    types = [t.cql_parameterized_type() for t in result.column_types]
    assert types == ["int", "list<int>", "map<varchar, int>"]


def test_text_columns_are_described_as_varchar_as_cassandra_does(typed: Session) -> None:
    # Option id 0x000A (text) left the protocol in v3; strict clients reject it.
    result = typed.execute("SELECT a, t, vc FROM typed")
    assert [t.typename for t in result.column_types] == ["ascii", "varchar", "varchar"]


@pytest.mark.memory_only  # Cassandra's messages do not always name the column
@pytest.mark.parametrize(
    ("column", "literal"),
    [("i", "'text'"), ("ti", "300"), ("b", "1"), ("u", "'not-a-uuid'"), ("ip", "'300.1.1.1'")],
)
def test_literal_of_the_wrong_type_is_rejected_naming_the_column(
    typed: Session, column: str, literal: str
) -> None:
    with pytest.raises(InvalidRequest, match=column):
        typed.execute(f"INSERT INTO typed (k, {column}) VALUES (9, {literal})")


@pytest.mark.memory_only
def test_bound_value_with_a_wrong_size_is_rejected(typed: Session) -> None:
    insert = typed.prepare("INSERT INTO typed (k, i) VALUES (?, ?)")
    bound = insert.bind((11, 0))
    bound.values[1] = b"\x01\x02"  # two bytes where an int needs four
    with pytest.raises(InvalidRequest, match="Invalid value for column i"):
        typed.execute(bound)
