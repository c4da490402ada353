"""``io="loop"``: the session's own event loop serves the driver's sockets.

Every other test runs in this mode too with ``CASSANDRA_IO=loop``; these pin down what only
this mode promises: no reactor thread, replies handled on the loop thread, the blocking parts
of connecting kept off the loop, and what happens to the sockets when the loop goes away.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import OperationTimedOut
from cassandra.connection import ConnectionShutdown
from cassandra.policies import ConstantReconnectionPolicy

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi._loop_io import LoopConnection
from cassandra_asgi.errors import ConfigError
from cassandra_asgi.testing import CQLCluster, CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe
from cassandra_asgi.testing.tls import SelfSignedCertificate, make_self_signed_certificate

from .helpers import eventually

pytestmark = pytest.mark.memory_only

#: Longest the loop may stall while a loop-mode session connects, prepares or closes.
STALL = 0.1
#: Threads a driver reactor runs (libev, asyncore, asyncio, twisted, gevent...).
REACTOR_THREADS = ("event_loop", "asyncore_cassandra_driver_event_loop", "asyncio_thread")


def loop_config(server: Any, **overrides: Any) -> CassandraConfig:
    return CassandraConfig(contact_points=[server.contact_point], io="loop", **overrides)


async def with_table(session: AsyncSession) -> Any:
    await session.execute(
        "CREATE KEYSPACE IF NOT EXISTS lio WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    await session.execute("CREATE TABLE IF NOT EXISTS lio.kv (k int PRIMARY KEY, v text)")
    return await session.prepare("SELECT v FROM lio.kv WHERE k = ?")


def test_an_unknown_io_mode_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"io: expected one of 'thread', 'loop'.*'nope'"):
        CassandraConfig(io="nope")


def test_cassandra_io_in_the_environment_names_the_variable_when_wrong() -> None:
    with pytest.raises(
        ConfigError, match=r"CASSANDRA_IO: expected one of .thread., .loop..*threads"
    ):
        CassandraConfig.from_env(environ={"CASSANDRA_IO": "threads"})


def test_cassandra_io_in_the_environment_chooses_the_mode() -> None:
    assert CassandraConfig.from_env(environ={"CASSANDRA_IO": "loop"}).io == "loop"


def test_a_connection_class_of_ones_own_conflicts_with_io_loop() -> None:
    with pytest.raises(ConfigError, match="connection_class"):
        CassandraConfig(io="loop", connection_class=LoopConnection)


#: Run in a process of its own: the driver's reactor thread, once started by any session of
#: a process, lives as long as the process.
_THREADS_OF_A_LOOP_SESSION = """
import asyncio, sys, threading
from cassandra_asgi import CassandraConfig, connect

async def main():
    config = CassandraConfig(contact_points=[sys.argv[1]], io=sys.argv[2])
    async with connect(config) as session:
        await session.ping()
        print(sorted(thread.name for thread in threading.enumerate()))

asyncio.run(main())
"""


@pytest.mark.parametrize("io", ["loop", "thread"])
def test_only_thread_mode_runs_a_reactor_thread(cql_server: CQLServer, io: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-c", _THREADS_OF_A_LOOP_SESSION, cql_server.contact_point, io],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = set(ast.literal_eval(shown.strip().splitlines()[-1]))
    assert names.isdisjoint(REACTOR_THREADS) == (io == "loop"), names


async def test_replies_are_handled_on_the_loop_thread(cql_server: CQLServer) -> None:
    threads: set[int] = set()

    def recording_rows(names: list[str], rows: list[Any]) -> list[Any]:
        threads.add(threading.get_ident())
        return rows

    async with connect(loop_config(cql_server, row_factory=recording_rows)) as session:
        select = await with_table(session)
        await asyncio.gather(*(session.execute(select, (k,)) for k in range(20)))
        await session.execute("SELECT * FROM lio.kv")  # the driver's full path too
    assert threads == {threading.get_ident()}


async def test_connect_prepare_and_close_never_stall_the_loop(cql_server: CQLServer) -> None:
    cql_server.add_latency(0.2, pattern="system")  # connecting takes several slow round trips
    async with LoopLagProbe(interval=0.005) as probe:
        session = await connect(loop_config(cql_server))
        select = await with_table(session)
        await session.execute(select, (1,))
        await session.close()
    assert probe.samples > 20
    assert probe.max_lag < STALL, f"the loop stalled for {probe.max_lag:.3f}s"


async def test_a_large_value_is_written_and_read_whole(cql_server: CQLServer) -> None:
    value = "x" * 6_000_000  # far beyond one send() and one recv() chunk
    async with connect(loop_config(cql_server)) as session:
        select = await with_table(session)
        insert = await session.prepare("INSERT INTO lio.kv (k, v) VALUES (?, ?)")
        await session.execute(insert, (1, value))
        assert (await session.execute(select, (1,))).one().v == value


async def test_a_reply_later_than_the_timeout_raises_and_the_next_request_is_served(
    cql_server: CQLServer,
) -> None:
    async with connect(loop_config(cql_server)) as session:
        select = await with_table(session)
        cql_server.add_latency(1.0, pattern="lio.kv")
        with pytest.raises(OperationTimedOut) as timed_out:
            await session.execute(select, (1,), timeout=0.2)
        assert timed_out.value.last_host is not None
        cql_server.clear_faults()
        assert (await session.execute(select, (1,))).current_rows == []


async def test_idle_connections_are_kept_alive_by_heartbeats(cql_server: CQLServer) -> None:
    async with connect(loop_config(cql_server, idle_heartbeat_interval=0.2)) as session:
        await session.ping()
        cql_server.reset_counters()
        assert await eventually(lambda: cql_server.requests.get("OPTIONS", 0) >= 2, within=10)
        await session.ping()


async def test_sessions_on_two_loops_each_serve_their_own_connections(
    cql_server: CQLServer,
) -> None:
    def other_loop() -> float:
        async def ping() -> float:
            async with connect(loop_config(cql_server)) as session:
                return await session.ping()

        return asyncio.run(ping())

    async with connect(loop_config(cql_server)) as session:
        elsewhere = await asyncio.to_thread(other_loop)
        assert elsewhere > 0
        assert await session.ping() > 0


def test_when_the_loop_stops_every_connection_is_closed(cql_server: CQLServer) -> None:
    async def open_and_leave() -> AsyncSession:
        session = await connect(loop_config(cql_server))
        await session.ping()
        return session

    session = asyncio.run(open_and_leave())  # the loop closes with the session still open
    try:
        assert session.cluster.connection_class.open_connections == set()
        assert all(
            pool.get_state()["open_count"] == 0 for pool in session.driver_session.get_pools()
        )
    finally:
        asyncio.run(session.close())  # from another loop: shuts the driver's threads down


def test_the_loop_stopping_refuses_new_connections_naming_the_cause(
    cql_server: CQLServer,
) -> None:
    async def open_and_leave() -> AsyncSession:
        return await connect(loop_config(cql_server))

    session = asyncio.run(open_and_leave())
    try:
        assert "event loop serving this session stopped" in str(
            session.cluster.connection_class.stopped
        )
    finally:
        asyncio.run(session.close())


@pytest.mark.cql_cluster(3, detection_delay=0.5)
async def test_a_killed_node_is_routed_around_and_reconnected_when_it_returns(
    cql_cluster: CQLCluster,
) -> None:
    config = CassandraConfig(
        contact_points=cql_cluster.contact_points,
        io="loop",
        reconnection_policy=ConstantReconnectionPolicy(0.2, max_attempts=None),
    )
    async with connect(config) as session:
        select = await session.prepare("SELECT release_version FROM system.local")
        victim = cql_cluster.nodes[0]
        victim.kill()
        hosts = session.cluster.metadata.all_hosts()
        assert await eventually(lambda: sum(host.is_up for host in hosts) == 2, within=10)
        results = await asyncio.gather(
            *(session.execute(select) for _ in range(50)), return_exceptions=True
        )
        assert all(not isinstance(r, BaseException) for r in results), results[:3]
        victim.come_up()

        assert await eventually(lambda: all(host.is_up for host in hosts), within=20)
        assert await session.ping() > 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    return make_self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: SelfSignedCertificate) -> Iterator[CQLServer]:
    with CQLServer(ssl_context=certificate.server_context()) as server:
        yield server


async def test_tls_serves_values_spanning_many_records(
    tls_server: CQLServer, certificate: SelfSignedCertificate
) -> None:
    context = certificate.client_context()
    value = "t" * 200_000  # a dozen TLS records of 16 KiB
    async with connect(loop_config(tls_server, ssl_context=context)) as session:
        select = await with_table(session)
        insert = await session.prepare("INSERT INTO lio.kv (k, v) VALUES (?, ?)")
        await asyncio.gather(*(session.execute(insert, (k, value)) for k in range(5)))
        pages = await asyncio.gather(*(session.execute(select, (k,)) for k in range(5)))
        assert [page.one().v for page in pages] == [value] * 5


def test_a_loop_session_works_on_uvloop(cql_server: CQLServer) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def use() -> list[Any]:
        async with connect(loop_config(cql_server)) as session:
            select = await with_table(session)
            insert = await session.prepare("INSERT INTO lio.kv (k, v) VALUES (?, ?)")
            await session.execute(insert, (7, "seven"))
            return (await session.execute(select, (7,))).current_rows

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert [row.v for row in runner.run(use())] == ["seven"]


@pytest.mark.parametrize("compression", [False, "lz4"])
async def test_many_large_replies_read_at_once_arrive_whole(
    cql_server: CQLServer, compression: Any
) -> None:
    # Replies of hundreds of kilobytes, many in flight: reads end anywhere inside a v5
    # segment, its 6-byte header included, and requests share segments on the way out.
    async with connect(loop_config(cql_server, compression=compression)) as session:
        select = await with_table(session)
        insert = await session.prepare("INSERT INTO lio.kv (k, v) VALUES (?, ?)")
        values = {k: f"{k:04d}" * (k * 700) for k in range(200)}
        await asyncio.gather(*(session.execute(insert, kv) for kv in values.items()))
        pages = await asyncio.gather(*(session.execute(select, (k,)) for k in values))
        assert [page.one().v for page in pages] == list(values.values())
        assert session.cluster.protocol_version == 5  # framed in segments


class LoopTicks:
    """Counts loop iterations (a callback that reschedules itself), to tell in which one
    each result reached its caller."""

    def __init__(self) -> None:
        self.count = 0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


async def test_a_burst_of_replies_reaches_callers_over_several_loop_iterations(
    cql_server: CQLServer,
) -> None:
    async with connect(loop_config(cql_server)) as session:
        select = await with_table(session)
        cql_server.add_latency(0.2, "FROM lio.kv")
        answered_at: list[int] = []
        ticks = LoopTicks()

        async def read(k: int) -> None:
            await session.execute(select, (k,))
            answered_at.append(ticks.count)

        tasks = [asyncio.ensure_future(read(k)) for k in range(300)]
        assert await eventually(lambda: session.in_flight == 300, within=10)
        time.sleep(0.5)  # noqa: ASYNC251 - let every reply wait in the socket at once
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        ticks.stop()
    assert len(answered_at) == 300
    # Handed to the driver all in one read callback, all 300 would come in one iteration.
    assert len(set(answered_at)) >= 3


async def test_requests_of_a_lost_connection_fail_a_few_per_loop_iteration(
    cql_server: CQLServer,
) -> None:
    async with connect(loop_config(cql_server)) as session:
        select = await with_table(session)  # not idempotent: a lost request is not retried
        cql_server.add_latency(5.0, "FROM lio.kv")
        failed_at: list[int] = []
        ticks = LoopTicks()

        async def read(k: int) -> None:
            with pytest.raises(ConnectionShutdown):
                await session.execute(select, (k,))
            failed_at.append(ticks.count)

        # Fewer than the driver's threshold for failing them from a thread of its own.
        tasks = [asyncio.ensure_future(read(k)) for k in range(96)]
        assert await eventually(lambda: session.in_flight == 96, within=10)
        await asyncio.to_thread(cql_server.drop_connections)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        ticks.stop()
    assert len(failed_at) == 96
    assert len(set(failed_at)) >= 3  # 32 at a time
