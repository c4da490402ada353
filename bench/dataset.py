"""The bench's schema and rows, written once per run with the plain driver.

Point reads use ``kv`` (one row per key); streaming reads one wide partition of ``wide``, which
pages the same way on the in-memory server and on a real cluster.
"""

from __future__ import annotations

import uuid
from typing import Any

from bench.pipeline import CallbackPipeline
from bench.target import KEYSPACE

__all__ = [
    "POINT_QUERY",
    "create_schema",
    "load_notes",
    "load_point_rows",
    "load_wide_partition",
    "note_id",
    "stream_query",
]

POINT_QUERY = f"SELECT k, v FROM {KEYSPACE}.kv WHERE k = ?"
VALUE = "x" * 32
#: The examples' notes table (``examples/notes.py`` creates the same one if it is missing), so
#: the FastAPI example can be served unchanged against the bench's keyspace.
NOTES_TABLE = f"{KEYSPACE}.notes"
NOTE_QUERY = f"SELECT id, title, body FROM {NOTES_TABLE} WHERE id = ?"


def note_id(number: int) -> uuid.UUID:
    """The id of the ``number``-th bench note: deterministic, so the load generator knows it."""
    return uuid.UUID(int=(0xB3AC << 112) | number)


def create_schema(session: Any) -> None:
    """Keyspace and tables, idempotent so a real cluster can be benchmarked repeatedly."""
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.kv (k int PRIMARY KEY, v text)")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.wide (p int, c int, v text, PRIMARY KEY (p, c))"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} (id uuid PRIMARY KEY, title text, body text)"
    )


#: Rows per unlogged batch for the wide partition: one partition per batch (no coordinator
#: fan-out) and about 3 KB, under Cassandra's default 5 KB batch-size warning.
BATCH_ROWS = 50


def _write_all(session: Any, cql: str, rows: int, make: Any, batch_rows: int = 1) -> None:
    from cassandra.query import BatchStatement, BatchType

    insert = session.prepare(cql)

    def request(number: int) -> tuple[Any, Any]:
        if batch_rows == 1:
            return insert, make(number)
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for i in range(number * batch_rows, min(rows, (number + 1) * batch_rows)):
            batch.add(insert, make(i))
        return batch, None

    requests = -(-rows // batch_rows)
    pipeline = CallbackPipeline(session, request, depth=100, total=requests, stop_on_error=True)
    result = pipeline.run(timeout=max(120.0, rows / 500.0))
    pipeline.raise_first_error()
    if result.completed != requests:
        raise RuntimeError(f"only {result.completed} of {requests} writes succeeded")


def load_point_rows(session: Any, keys: int) -> None:
    """``keys`` rows ``k = 0..keys-1`` for the point-read contenders."""
    cql = f"INSERT INTO {KEYSPACE}.kv (k, v) VALUES (?, ?)"
    _write_all(session, cql, keys, lambda i: (i, VALUE))


def stream_query(rows: int) -> str:
    """The query reading the partition of ``rows`` rows.

    Each size has its own partition (``p = rows``), so a real cluster benchmarked with
    different sizes never serves a partition left bigger by an earlier run.
    """
    return f"SELECT c, v FROM {KEYSPACE}.wide WHERE p = {int(rows)}"


def load_wide_partition(session: Any, rows: int) -> None:
    """``rows`` clustering rows in partition ``p = rows`` for the streaming contenders."""
    cql = f"INSERT INTO {KEYSPACE}.wide (p, c, v) VALUES ({int(rows)}, ?, ?)"
    _write_all(session, cql, rows, lambda i: (i, VALUE), batch_rows=BATCH_ROWS)


def load_notes(session: Any, count: int) -> None:
    """``count`` notes with ids ``note_id(0..count-1)`` for the HTTP section."""
    cql = f"INSERT INTO {NOTES_TABLE} (id, title, body) VALUES (?, ?, ?)"
    _write_all(session, cql, count, lambda i: (note_id(i), f"note {i}", f"bench note number {i}"))
