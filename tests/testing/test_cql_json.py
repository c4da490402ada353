"""SELECT JSON and INSERT JSON: one JSON object per row, and rows written from JSON text."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections import namedtuple

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session

Point = namedtuple("Point", ("x", "y"))


@pytest.fixture
def docs(session: Session) -> Session:
    session.execute("CREATE TYPE point (x int, y int)")
    session.execute(
        'CREATE TABLE docs (k int PRIMARY KEY, name text, "Caps" int, score double, price decimal, '
        "id uuid, at timestamp, raw blob, tags set<text>, counts map<int, text>, "
        "p frozen<point>, pair frozen<tuple<int, text>>)"
    )
    return session


def test_select_json_gives_one_json_column_per_row(docs: Session) -> None:
    docs.execute("INSERT INTO docs (k, name, \"Caps\") VALUES (1, 'ann', 2)")
    result = docs.execute('SELECT JSON k, name, "Caps" FROM docs WHERE k = 1')
    assert result.column_names == ["[json]"]
    assert json.loads(result.one()[0]) == {"k": 1, "name": "ann", '"Caps"': 2}


def test_select_json_star_covers_every_type(docs: Session) -> None:
    insert = docs.prepare(
        "INSERT INTO docs (k, score, price, id, at, raw, tags, counts, p, pair) "
        "VALUES (2, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    docs.execute(
        insert,
        (
            1.5,
            decimal.Decimal("9.99"),
            ident,
            datetime.datetime(2024, 5, 6, 7, 8, 9),
            b"\x01\xff",
            {"b", "a"},
            {2: "two"},
            Point(1, 2),
            (3, "c"),
        ),
    )
    document = json.loads(docs.execute("SELECT JSON * FROM docs WHERE k = 2").one()[0])
    assert document["score"] == 1.5
    assert document["price"] == 9.99
    assert document["id"] == str(ident)
    assert document["at"].startswith("2024-05-06 07:08:09.000")
    assert document["raw"] == "0x01ff"
    assert document["tags"] == ["a", "b"]
    assert document["counts"] == {"2": "two"}
    assert document["p"] == {"x": 1, "y": 2}
    assert document["pair"] == [3, "c"]
    assert document["name"] is None


def test_insert_json_writes_every_given_column(docs: Session) -> None:
    text = json.dumps(
        {
            "k": 3,
            "name": "bob",
            '"Caps"': 7,
            "price": 1.25,
            "at": "2020-01-02 03:04:05.678Z",
            "raw": "0xff",
            "tags": ["x"],
            "counts": {"1": "one"},
            "p": {"x": 5, "y": 6},
            "pair": [1, "a"],
        }
    )
    docs.execute("INSERT INTO docs JSON %s", (text,))
    row = docs.execute("SELECT * FROM docs WHERE k = 3").one()
    assert (row.name, row.Caps, row.price) == ("bob", 7, decimal.Decimal("1.25"))
    assert row.at == datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)
    assert (row.raw, set(row.tags), dict(row.counts)) == (b"\xff", {"x"}, {1: "one"})
    assert (tuple(row.p), row.pair) == ((5, 6), (1, "a"))


def test_insert_json_numbers_may_be_strings(docs: Session) -> None:
    docs.execute("""INSERT INTO docs JSON '{"k": "4", "score": "2.5"}'""")
    assert docs.execute("SELECT score FROM docs WHERE k = 4").one().score == 2.5


def test_insert_json_nulls_missing_columns_unless_default_unset(docs: Session) -> None:
    docs.execute("""INSERT INTO docs JSON '{"k": 5, "name": "a", "score": 1.0}'""")
    docs.execute("""INSERT INTO docs JSON '{"k": 5, "name": "b"}' DEFAULT UNSET""")
    assert tuple(docs.execute("SELECT name, score FROM docs WHERE k = 5").one()) == ("b", 1.0)
    docs.execute("""INSERT INTO docs JSON '{"k": 5, "name": "c"}'""")
    assert tuple(docs.execute("SELECT name, score FROM docs WHERE k = 5").one()) == ("c", None)


def test_prepared_insert_json_binds_the_text(docs: Session) -> None:
    insert = docs.prepare("INSERT INTO docs JSON ?")
    assert [c.name for c in insert.column_metadata] == ["[json]"]
    docs.execute(insert, (json.dumps({"k": 6, "name": "p"}),))
    assert docs.execute("SELECT name FROM docs WHERE k = 6").one().name == "p"


def test_select_json_round_trips_through_insert_json(docs: Session) -> None:
    docs.execute("INSERT INTO docs (k, name, tags, p) VALUES (7, 'r', {'t'}, {x: 1, y: 1})")
    text = docs.execute("SELECT JSON * FROM docs WHERE k = 7").one()[0]
    docs.execute("DELETE FROM docs WHERE k = 7")
    docs.execute("INSERT INTO docs JSON %s", (text,))
    assert docs.execute("SELECT JSON * FROM docs WHERE k = 7").one()[0] == text


def test_insert_json_with_an_unknown_column_is_refused(docs: Session) -> None:
    with pytest.raises(InvalidRequest, match="unrecognized column"):
        docs.execute("""INSERT INTO docs JSON '{"k": 8, "nope": 1}'""")


def test_insert_json_that_is_not_an_object_is_refused(docs: Session) -> None:
    with pytest.raises(InvalidRequest):
        docs.execute("INSERT INTO docs JSON '[1, 2]'")


def test_insert_json_of_the_wrong_type_is_refused(docs: Session) -> None:
    with pytest.raises(InvalidRequest):
        docs.execute("""INSERT INTO docs JSON '{"k": 9, "tags": 3}'""")
