"""Fault and latency injection, observed through the real driver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from cassandra import (
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ConnectionShutdown
from cassandra.policies import ConstantReconnectionPolicy, FallthroughRetryPolicy, RoundRobinPolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError

from cassandra_asgi.testing import CQLServer

from .conftest import KEYSPACE_CQL

pytestmark = pytest.mark.memory_only


@pytest.fixture
def direct(server: CQLServer) -> Iterator[Session]:
    """A session whose errors are not retried, reconnecting quickly, in keyspace ``ks``."""
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(), retry_policy=FallthroughRetryPolicy()
    )
    cluster = Cluster(
        [server.host],
        port=server.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(0.1, max_attempts=None),
    )
    try:
        session = cluster.connect()
        session.execute(KEYSPACE_CQL.format("ks"))
        session.set_keyspace("ks")
        session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
        session.execute("INSERT INTO t (k, v) VALUES (1, 1)")
        yield session
    finally:
        cluster.shutdown()


def _wait_until_query_works(session: Session, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            session.execute("SELECT v FROM t WHERE k = 1", timeout=1)
            return
        except (NoHostAvailable, OperationTimedOut, ConnectionShutdown):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_latency_delays_only_matching_requests(direct: Session, server: CQLServer) -> None:
    server.add_latency(0.5, pattern=r"FROM t WHERE k = 1\b")
    slow = direct.execute_async("SELECT v FROM t WHERE k = 1")
    fast = direct.execute_async("SELECT v FROM t WHERE k = 2")  # same connection, other stream
    fast.result()
    assert not slow._event.is_set(), "the slow reply should still be pending"
    assert slow.result().one().v == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("unavailable", Unavailable),
        ("read_timeout", ReadTimeout),
        ("write_timeout", WriteTimeout),
        ("overloaded", OverloadedErrorMessage),
        ("is_bootstrapping", IsBootstrappingErrorMessage),
        ("server_error", ServerError),
    ],
)
def test_fail_answers_with_the_chosen_error(
    direct: Session, server: CQLServer, error: str, expected: type[Exception]
) -> None:
    server.fail(error, pattern="FROM t", message=f"boom {error}")
    with pytest.raises(expected, match=f"boom {error}"):
        direct.execute("SELECT v FROM t WHERE k = 1")
    assert direct.execute("SELECT key FROM system.local").one().key == "local"


def test_injected_errors_carry_their_fields(direct: Session, server: CQLServer) -> None:
    server.fail("unavailable", pattern="k = 1")
    with pytest.raises(Unavailable) as unavailable:
        direct.execute("SELECT v FROM t WHERE k = 1")
    assert (unavailable.value.required_replicas, unavailable.value.alive_replicas) == (1, 0)
    server.clear_faults()
    server.fail("write_timeout", pattern="INSERT")
    with pytest.raises(WriteTimeout) as write_timeout:
        direct.execute("INSERT INTO t (k, v) VALUES (2, 2)")
    assert write_timeout.value.write_type == 0  # WriteType.SIMPLE


def test_fail_applies_to_prepared_statements_and_batches(
    direct: Session, server: CQLServer
) -> None:
    prepared = direct.prepare("SELECT v FROM t WHERE k = ?")
    server.fail("read_timeout", pattern="SELECT v FROM t")
    with pytest.raises(ReadTimeout):
        direct.execute(prepared, (1,))
    server.fail("write_timeout", pattern="INSERT INTO t")
    with pytest.raises(WriteTimeout):
        direct.execute("BEGIN BATCH INSERT INTO t (k, v) VALUES (3, 3) APPLY BATCH")


def test_blackhole_never_answers_and_clear_faults_restores(
    direct: Session, server: CQLServer
) -> None:
    server.blackhole(pattern="k = 1")
    with pytest.raises(OperationTimedOut):
        direct.execute("SELECT v FROM t WHERE k = 1", timeout=0.3)
    server.clear_faults()
    assert direct.execute("SELECT v FROM t WHERE k = 1").one().v == 1


def test_drop_connections_then_the_driver_reconnects(direct: Session, server: CQLServer) -> None:
    server.drop_connections()
    _wait_until_query_works(direct)


def test_go_down_refuses_then_come_up_serves_the_same_data(
    direct: Session, server: CQLServer
) -> None:
    port = server.port
    server.go_down()
    with pytest.raises((NoHostAvailable, OperationTimedOut, ConnectionShutdown)):
        direct.execute("SELECT v FROM t WHERE k = 1", timeout=1)
    server.come_up()
    assert server.port == port
    _wait_until_query_works(direct)
    assert direct.execute("SELECT v FROM t WHERE k = 1").one().v == 1


def test_requests_are_counted_by_opcode_and_can_be_reset(
    direct: Session, server: CQLServer
) -> None:
    server.reset_counters()
    prepared = direct.prepare("SELECT v FROM t WHERE k = ?")
    for _ in range(3):
        direct.execute(prepared, (1,))
    direct.execute("SELECT v FROM t WHERE k = 1")
    counts = server.requests
    assert counts["PREPARE"] == 1
    assert counts["EXECUTE"] == 3
    assert counts["QUERY"] >= 1
    server.reset_counters()
    assert "EXECUTE" not in server.requests


def test_invalid_fault_arguments_are_rejected_naming_the_choice(server: CQLServer) -> None:
    with pytest.raises(ValueError, match="unknown error 'explode'"):
        server.fail("explode")
    with pytest.raises(ValueError, match="invalid fault pattern"):
        server.add_latency(0.1, pattern="(")
    with pytest.raises(ValueError, match="non-negative"):
        server.add_latency(-1)


async def test_fault_methods_work_from_the_servers_own_loop() -> None:
    async with CQLServer() as server:
        server.fail("overloaded")
        server.drop_connections()
        server.go_down()
        server.come_up()
        server.clear_faults()
        loop = asyncio.get_running_loop()

        def query() -> str:
            cluster = Cluster(
                [server.host], port=server.port, load_balancing_policy=RoundRobinPolicy()
            )
            try:
                value: str = cluster.connect().execute("SELECT key FROM system.local").one()[0]
                return value
            finally:
                cluster.shutdown()

        assert await loop.run_in_executor(None, query) == "local"


def test_errors_unrelated_to_faults_still_surface(direct: Session, server: CQLServer) -> None:
    server.add_latency(0.01)
    with pytest.raises(InvalidRequest):
        direct.execute("SELECT nope FROM t")


def test_repeated_down_and_up_calls_are_harmless(direct: Session, server: CQLServer) -> None:
    server.go_down()
    server.go_down()
    server.come_up()
    server.come_up()
    _wait_until_query_works(direct)


def test_stop_and_start_again_keeps_port_and_data(server: CQLServer) -> None:
    from .conftest import make_cluster

    cluster = make_cluster(server)
    try:
        session = cluster.connect()
        session.execute(KEYSPACE_CQL.format("kept"))
    finally:
        cluster.shutdown()
    port = server.port
    server.stop()
    server.start()
    assert server.port == port
    cluster = make_cluster(server)
    try:
        cluster.connect()
        assert "kept" in cluster.metadata.keyspaces
    finally:
        cluster.shutdown()
