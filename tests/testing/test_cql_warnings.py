"""Client warnings (protocol v4+): a large multi-partition batch and an aggregate without a
partition key are answered with Cassandra's warnings, which the driver shows as
``future.warnings``."""

from __future__ import annotations

import pytest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from cassandra_asgi.config import CassandraConfig

from .conftest import make_target_cluster


@pytest.fixture
def warned(session: Session, protocol_version: int) -> Session:
    if protocol_version < 4:
        pytest.skip("warnings came in protocol v4 (see test_protocol_v3_has_no_warnings)")
    session.execute("CREATE TABLE client_warning (k int, v0 int, v1 int, PRIMARY KEY (k, v0))")
    return session


def _big_batch(session: Session, batch_type: BatchType = BatchType.LOGGED) -> BatchStatement:
    insert = session.prepare("INSERT INTO client_warning (k, v0, v1) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=batch_type)
    for x in range(214):
        batch.add(insert, (x, x, 1))
    return batch


def test_a_batch_over_the_size_threshold_warns(warned: Session, keyspace: str) -> None:
    future = warned.execute_async(_big_batch(warned))
    future.result()
    assert len(future.warnings) == 1
    assert future.warnings[0].startswith(f"Batch for [{keyspace}.client_warning] is of size ")
    assert "exceeding specified threshold of 5120" in future.warnings[0]


def test_a_small_batch_does_not_warn(warned: Session) -> None:
    insert = warned.prepare("INSERT INTO client_warning (k, v0, v1) VALUES (?, ?, ?)")
    batch = BatchStatement()
    batch.add(insert, (1, 1, 1))
    batch.add(insert, (2, 2, 2))
    future = warned.execute_async(batch)
    future.result()
    assert not future.warnings


def test_a_big_single_partition_batch_does_not_warn(warned: Session) -> None:
    insert = warned.prepare("INSERT INTO client_warning (k, v0, v1) VALUES (?, ?, ?)")
    batch = BatchStatement()
    for x in range(300):
        batch.add(insert, (1, x, 1))
    future = warned.execute_async(batch)
    future.result()
    assert not future.warnings


def test_an_unlogged_batch_over_many_partitions_warns(warned: Session) -> None:
    future = warned.execute_async(_big_batch(warned, BatchType.UNLOGGED))
    future.result()
    assert any(w.startswith("Unlogged batch covering 214 partitions") for w in future.warnings)


def test_the_warning_comes_with_a_trace(warned: Session) -> None:
    future = warned.execute_async(_big_batch(warned), trace=True)
    future.result()
    assert len(future.warnings) == 1
    assert future.get_query_trace(max_wait=5) is not None


def test_count_without_a_partition_key_warns_and_with_one_does_not(warned: Session) -> None:
    warned.execute("INSERT INTO client_warning (k, v0, v1) VALUES (1, 1, 1)")
    future = warned.execute_async("SELECT count(*) FROM client_warning")
    assert future.result().one()[0] == 1
    assert future.warnings == ["Aggregation query used without partition key"]
    future = warned.execute_async("SELECT count(*) FROM client_warning WHERE k = 1")
    future.result()
    assert not future.warnings


def test_protocol_v3_has_no_warnings(cassandra_config: CassandraConfig, keyspace: str) -> None:
    cluster = make_target_cluster(cassandra_config, protocol_version=3)
    try:
        session = cluster.connect(keyspace)
        session.execute("CREATE TABLE t (k int PRIMARY KEY)")
        future = session.execute_async("SELECT count(*) FROM t")
        future.result()
        assert not future.warnings
    finally:
        cluster.shutdown()


@pytest.mark.memory_only  # the size is the server's estimate of Cassandra's mutation size
def test_the_batch_warning_gives_size_threshold_and_excess(warned: Session, keyspace: str) -> None:
    future = warned.execute_async(_big_batch(warned))
    future.result()
    (warning,) = future.warnings
    size = int(warning.split(" is of size ")[1].split(",")[0])
    assert warning == (
        f"Batch for [{keyspace}.client_warning] is of size {size}, exceeding specified "
        f"threshold of 5120 by {size - 5120}."
    )
