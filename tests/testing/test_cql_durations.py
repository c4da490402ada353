"""The duration type: every literal form, bound values through the driver's codec, its rules."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Duration

_HOUR = 3_600_000_000_000


@pytest.fixture
def durations(session: Session) -> Session:
    session.execute("CREATE TABLE spans (k int PRIMARY KEY, d duration, l list<duration>)")
    return session


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1h30m", Duration(0, 0, _HOUR + 30 * 60_000_000_000)),
        ("1y2mo3w4d", Duration(14, 25, 0)),
        ("-2d10ms", Duration(0, -2, -10_000_000)),
        ("3s4ms5us6ns", Duration(0, 0, 3_004_005_006)),
        ("P1Y2M3DT4H5M6S", Duration(14, 3, 4 * _HOUR + 5 * 60_000_000_000 + 6_000_000_000)),
        ("P2W", Duration(0, 14, 0)),
        ("'P0001-02-03T04:05:06'", Duration(14, 3, 4 * _HOUR + 5 * 60_000_000_000 + 6_000_000_000)),
    ],
)
def test_duration_literals_are_read_as_months_days_and_nanoseconds(
    durations: Session, literal: str, expected: Duration
) -> None:
    durations.execute(f"INSERT INTO spans (k, d) VALUES (1, {literal})")
    assert durations.execute("SELECT d FROM spans WHERE k = 1").one().d == expected


def test_bound_durations_round_trip_alone_and_in_a_list(durations: Session) -> None:
    insert = durations.prepare("INSERT INTO spans (k, d, l) VALUES (?, ?, ?)")
    durations.execute(insert, (2, Duration(1, 2, 3), [Duration(0, 1, 0), Duration(-1, 0, 0)]))
    row = durations.execute("SELECT d, l FROM spans WHERE k = 2").one()
    assert row.d == Duration(1, 2, 3)
    assert row.l == [Duration(0, 1, 0), Duration(-1, 0, 0)]


def test_driver_inlines_durations_in_simple_statements(durations: Session) -> None:
    durations.execute("INSERT INTO spans (k, d) VALUES (%s, %s)", (3, Duration(5, 6, 7)))
    assert durations.execute("SELECT d FROM spans WHERE k = 3").one().d == Duration(5, 6, 7)


def test_duration_cannot_be_part_of_a_primary_key(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="duration"):
        session.execute("CREATE TABLE bad (k int, d duration, PRIMARY KEY (k, d))")


def test_duration_cannot_be_a_set_element(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="uration"):
        session.execute("CREATE TABLE bad (k int PRIMARY KEY, s set<duration>)")


def test_durations_cannot_be_compared_by_size(durations: Session) -> None:
    with pytest.raises(InvalidRequest, match="duration"):
        durations.execute("SELECT * FROM spans WHERE d > 1h ALLOW FILTERING")
