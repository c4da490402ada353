"""Timestamps are any signed 64-bit count of milliseconds, as in Cassandra, not only the years
1-9999 that Python's datetime can show."""

from __future__ import annotations

import pytest
from cassandra import DriverException
from cassandra.cluster import Session

FAR_FUTURE_MS = 1_000_000_000_000_000  # about the year 33658
FAR_PAST_MS = -100_000_000_000_000  # about 1200 BC


@pytest.fixture
def events(session: Session) -> Session:
    session.execute("CREATE TABLE events (k int, at timestamp, v timestamp, PRIMARY KEY (k, at))")
    return session


def _millis(session: Session, query: str) -> list[int]:
    rows = session.execute(query)
    return [row[0] for row in rows]


def test_literal_beyond_year_9999_is_stored(events: Session) -> None:
    events.execute(f"INSERT INTO events (k, at, v) VALUES (1, 0, {FAR_FUTURE_MS})")
    stored = _millis(events, "SELECT blobAsBigint(timestampAsBlob(v)) FROM events WHERE k = 1")
    assert stored == [FAR_FUTURE_MS]


def test_bound_value_beyond_year_9999_is_stored(events: Session) -> None:
    insert = events.prepare("INSERT INTO events (k, at, v) VALUES (?, ?, ?)")
    events.execute(insert, (2, 0, FAR_FUTURE_MS))
    stored = _millis(events, "SELECT blobAsBigint(timestampAsBlob(v)) FROM events WHERE k = 2")
    assert stored == [FAR_FUTURE_MS]


def test_out_of_range_clustering_timestamps_keep_their_order(events: Session) -> None:
    insert = events.prepare("INSERT INTO events (k, at) VALUES (3, ?)")
    for millis in (FAR_FUTURE_MS, 0, FAR_PAST_MS):
        events.execute(insert, (millis,))
    stored = _millis(events, "SELECT blobAsBigint(timestampAsBlob(at)) FROM events WHERE k = 3")
    assert stored == [FAR_PAST_MS, 0, FAR_FUTURE_MS]


def test_the_driver_names_the_column_it_cannot_decode(events: Session) -> None:
    events.execute(f"INSERT INTO events (k, at, v) VALUES (4, 0, {FAR_FUTURE_MS})")
    with pytest.raises(DriverException, match='Failed decoding result column "v"'):
        events.execute("SELECT v FROM events WHERE k = 4")
