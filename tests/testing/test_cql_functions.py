"""Selector and term functions: writetime(), ttl(), CAST, the blob conversions, the time
functions, toJson() and fromJson()."""

from __future__ import annotations

import datetime
import json
import time
import uuid

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Date


@pytest.fixture
def notes(session: Session) -> Session:
    session.execute(
        "CREATE TABLE notes (k int PRIMARY KEY, v int, body text, at timestamp, d double, "
        "dec decimal, raw blob, tags list<text>, id timeuuid)"
    )
    return session


def test_writetime_is_the_using_timestamp_in_microseconds(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, v, body) VALUES (1, 1, 'a') USING TIMESTAMP 1234567")
    row = notes.execute("SELECT writetime(v), writetime(body) FROM notes WHERE k = 1").one()
    assert list(row) == [1234567, 1234567]


def test_writetime_defaults_to_the_time_of_the_write(notes: Session) -> None:
    before = int(time.time() * 1_000_000)
    notes.execute("INSERT INTO notes (k, v) VALUES (2, 1)")
    after = int(time.time() * 1_000_000)
    written = notes.execute("SELECT writetime(v) FROM notes WHERE k = 2").one()[0]
    assert before - 1_000_000 <= written <= after + 1_000_000


def test_writetime_of_a_null_cell_is_null(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, v) VALUES (3, 1)")
    assert notes.execute("SELECT writetime(body) FROM notes WHERE k = 3").one()[0] is None


def test_ttl_counts_down_from_using_ttl_and_is_null_without_one(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, v) VALUES (4, 1) USING TTL 100")
    notes.execute("UPDATE notes SET body = 'b' WHERE k = 4")
    row = notes.execute("SELECT ttl(v), ttl(body) FROM notes WHERE k = 4").one()
    assert 95 <= row[0] <= 100
    assert row[1] is None


def test_writetime_of_a_primary_key_column_is_refused(notes: Session) -> None:
    with pytest.raises(InvalidRequest):
        notes.execute("SELECT writetime(k) FROM notes")


def test_cast_between_numbers_and_to_text(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, v, d, dec) VALUES (5, 6, 1.75, 2.25)")
    row = notes.execute(
        "SELECT CAST(v AS text), CAST(v AS double), CAST(d AS int), CAST(dec AS text) "
        "FROM notes WHERE k = 5"
    ).one()
    assert list(row) == ["6", 6.0, 1, "2.25"]


def test_cast_of_a_timestamp_to_a_date(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, at) VALUES (6, '2024-05-06 23:59:00+0000')")
    row = notes.execute("SELECT CAST(at AS date) FROM notes WHERE k = 6").one()
    assert row[0] == Date(datetime.date(2024, 5, 6))


def test_impossible_cast_is_refused(notes: Session) -> None:
    with pytest.raises(InvalidRequest):
        notes.execute("SELECT CAST(tags AS int) FROM notes")


def test_blob_conversions_keep_the_bytes(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, v, raw, body) VALUES (7, 258, intAsBlob(9), 'é')")
    row = notes.execute(
        "SELECT intAsBlob(v), blobAsInt(raw), textAsBlob(body), blobAsText(textAsBlob(body)) "
        "FROM notes WHERE k = 7"
    ).one()
    assert list(row) == [b"\x00\x00\x01\x02", 9, "é".encode(), "é"]


def test_a_blob_of_the_wrong_size_is_not_an_int(notes: Session) -> None:
    notes.execute("INSERT INTO notes (k, raw) VALUES (8, 0x0102)")
    with pytest.raises(InvalidRequest):
        notes.execute("SELECT blobAsInt(raw) FROM notes WHERE k = 8")


def test_time_functions_convert_a_timeuuid(notes: Session) -> None:
    moment = uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")
    notes.execute("INSERT INTO notes (k, id, at) VALUES (9, %s, toTimestamp(now()))", (moment,))
    row = notes.execute(
        "SELECT toTimestamp(id), toDate(id), toUnixTimestamp(id), at FROM notes WHERE k = 9"
    ).one()
    assert row[0] == datetime.datetime(2009, 12, 17, 0, 26, 29, 805000)
    assert row[1] == Date(datetime.date(2009, 12, 17))
    assert row[2] == 1261009589805
    assert abs((row[3] - datetime.datetime.utcnow()).total_seconds()) < 60


def test_min_and_max_timeuuid_bound_a_timeuuid_range(session: Session) -> None:
    session.execute("CREATE TABLE log (k int, id timeuuid, PRIMARY KEY (k, id))")
    session.execute("INSERT INTO log (k, id) VALUES (1, d2177dd0-eaa2-11de-a572-001b779c76e3)")
    rows = session.execute(
        "SELECT id FROM log WHERE k = 1 AND id > maxTimeuuid('2009-12-17 00:26:29+0000') "
        "AND id < minTimeuuid('2009-12-17 00:26:30+0000')"
    )
    assert len(list(rows)) == 1


def test_to_json_writes_each_value_as_json(notes: Session) -> None:
    notes.execute(
        "INSERT INTO notes (k, v, body, tags, at) VALUES (10, 1, 'x\"y', ['a', 'b'], "
        "'2024-05-06 07:08:09.123+0000')"
    )
    row = notes.execute(
        "SELECT toJson(v), toJson(body), toJson(tags), toJson(at) FROM notes WHERE k = 10"
    ).one()
    assert [json.loads(value) for value in row[:3]] == [1, 'x"y', ["a", "b"]]
    assert json.loads(row[3]).startswith("2024-05-06 07:08:09.123")


def test_from_json_in_a_term_reads_the_column_type(notes: Session) -> None:
    notes.execute(
        """INSERT INTO notes (k, v, tags) VALUES (11, fromJson('12'), fromJson('["q"]'))"""
    )
    row = notes.execute("SELECT v, tags FROM notes WHERE k = 11").one()
    assert (row.v, row.tags) == (12, ["q"])


def test_an_unknown_function_is_refused(notes: Session) -> None:
    with pytest.raises(InvalidRequest):
        notes.execute("SELECT nosuchfunction(v) FROM notes")
