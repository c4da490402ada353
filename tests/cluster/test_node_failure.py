"""A session on a multi-DC cluster when nodes die: what reaches the caller, and how fast.

The settings that make an outage invisible to callers of idempotent reads:

- the statement is marked ``is_idempotent = True``: the library's retry policy
  (``IdempotenceAwareRetryPolicy``) then retries a request lost with its connection on the
  next host of the query plan; a non-idempotent one gets the driver's exception instead;
- the default load balancing, ``TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=...))``,
  puts the other replicas of the key, in the local data centre, next in that plan;
- the keyspace keeps more than one replica in the local data centre (RF 3 here), so
  ``LOCAL_ONE`` and ``LOCAL_QUORUM`` are still met with one replica dead.

The cluster serving the stall measurement runs in its own process (``ClusterProcess``): on a
thread of this one it would compete with the test's loop for the GIL.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import ConsistencyLevel as CL
from cassandra import Unavailable
from cassandra.cluster import ExecutionProfile, NoHostAvailable
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    TokenAwarePolicy,
)
from cassandra.query import SimpleStatement

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.policies import IdempotenceAwareRetryPolicy
from cassandra_asgi.testing import CQLCluster
from cassandra_asgi.testing.cluster.process import ClusterProcess
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import cluster_config, create_keyspace, driver_marks, eventually

IN_FLIGHT = 1000
#: Injected latency that holds the reads in flight while the replica dies. Starting 1,000 reads
#: takes over a second on a loaded 2-core machine, so a shorter hold lets the first ones finish
#: before the last start, and the 1,000 are never in flight together. A read retried after the
#: kill is held again: twice the hold plus the start stays within REQUEST_TIMEOUT.
HOLD = 1.5
#: Longest time the loop may be blocked (beyond CPU contention, see LoopLagProbe.max_blocked).
MAX_STALL = 0.020
TWO_DCS = {"dc1": 3, "dc2": 2}
REQUEST_TIMEOUT = 5.0
#: Latency of the slow replica in the speculative-execution test.
SLOW = 2.0
#: Reads started per loop iteration: each wave's first steps run back to back on the loop, so a
#: wave of 100 is the test's own stall of 50-70 ms on a loaded machine, which the probe measures.
WAVE = 20


@pytest.fixture
def cluster_process(cql_cluster: Any) -> Iterator[ClusterProcess]:
    """A two-DC cluster in a child process (``cql_cluster`` only makes a real run skip)."""
    with ClusterProcess(TWO_DCS) as cluster:
        yield cluster


async def start_reads(session: AsyncSession, select: Any) -> list[asyncio.Future[Any]]:
    """``IN_FLIGHT`` reads, started in waves so that the test's own burst stays small."""
    tasks: list[asyncio.Future[Any]] = []
    for start in range(0, IN_FLIGHT, WAVE):
        tasks += [
            asyncio.ensure_future(session.execute(select, (k % 100,)))
            for k in range(start, start + WAVE)
        ]
        await asyncio.sleep(0)
    assert await eventually(lambda: session.in_flight == IN_FLIGHT, within=30)
    return tasks


@pytest.mark.memory_only
@pytest.mark.slow
@pytest.mark.parametrize(
    "level", [CL.LOCAL_ONE, CL.LOCAL_QUORUM], ids=["LOCAL_ONE", "LOCAL_QUORUM"]
)
async def test_a_replica_killed_under_a_thousand_idempotent_reads_costs_the_callers_nothing(
    cluster_process: ClusterProcess, level: int
) -> None:
    cluster = cluster_process
    config = cluster_config(cluster, local_dc="dc1", request_timeout=REQUEST_TIMEOUT)
    async with connect(config) as session:
        await create_keyspace(session, "outage", "'dc1': 3, 'dc2': 2")
        insert = await session.prepare("INSERT INTO outage.kv (k, v) VALUES (?, ?)")
        await session.execute_concurrent([(insert, (k, k * k)) for k in range(100)])
        select = await session.prepare("SELECT v FROM outage.kv WHERE k = ?")
        select.is_idempotent = True
        select.consistency_level = level
        insert.consistency_level = level
        victim = cluster.node("127.0.0.2")
        for node in cluster.nodes:
            node.add_latency(HOLD, "FROM outage.kv")
        gc.collect()
        async with LoopLagProbe(interval=0.005) as probe:
            tasks = await start_reads(session, select)
            await asyncio.to_thread(victim.kill)
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert failures == []
        values = [rs.one().v for rs in outcomes if not isinstance(rs, BaseException)]
        assert values == [(k % 100) ** 2 for k in range(IN_FLIGHT)]
        assert session.in_flight == 0
        print(
            f"{CL.value_to_name[level]}: max loop lag {probe.max_lag * 1000:.1f} ms "
            f"({probe.max_blocked * 1000:.1f} ms not explained by CPU contention)"
        )
        blocked = probe.max_blocked

        # writes acknowledged while the replica is dead
        for node in cluster.nodes:
            await asyncio.to_thread(node.clear_faults)
        written = list(range(1000, 1200))
        await session.execute_concurrent([(insert, (k, k)) for k in written])

        await asyncio.to_thread(victim.come_up)
        assert await driver_marks(session, victim, up=True, within=30)
        await asyncio.to_thread(victim.reset_counters)
        rows = await asyncio.gather(*(session.execute(select, (k,)) for k in written))
        assert [rs.one().v for rs in rows] == written
        served = await asyncio.to_thread(lambda: victim.requests)
        assert served.get("EXECUTE", 0) > 0  # back in the rotation

    if blocked >= MAX_STALL and config.io == "thread":
        # Known, and open in issue 16: in thread mode the loop shares the GIL with the
        # driver's reactor thread, which reads the replies to the ~1,000 retries; about one
        # run in twenty the loop waits past the bound. Everything above still held.
        pytest.xfail(f"io='thread': the loop waited {blocked * 1000:.1f} ms for the GIL")
    assert blocked < MAX_STALL, f"loop blocked {blocked * 1000:.1f} ms"


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_two_of_three_replicas_down_at_quorum_is_unavailable_at_once(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster)) as session:
        await create_keyspace(session, "quorum", "'replication_factor': 3")
        for victim in cql_cluster.nodes[1:]:
            victim.kill()
            assert await driver_marks(session, victim, up=False)
        statement = SimpleStatement(
            "SELECT v FROM quorum.kv WHERE k = 1", consistency_level=CL.QUORUM, is_idempotent=True
        )
        started = time.monotonic()
        with pytest.raises((Unavailable, NoHostAvailable), match="Cannot achieve consistency"):
            await session.execute(statement)
        elapsed = time.monotonic() - started
    assert elapsed < REQUEST_TIMEOUT  # answered by the coordinator, not timed out
    print(f"Unavailable after {elapsed * 1000:.1f} ms")


#: Longer than any test waits: the peers never report the killed node down, so only the
#: session's own connections to it can tell.
PEERS_NEVER_TELL = 60.0
#: The driver's own heartbeat settings (``cluster_config`` makes it beat every second).
DRIVER_HEARTBEAT = {"idle_heartbeat_interval": 30, "idle_heartbeat_timeout": 30}


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, detection_delay=PEERS_NEVER_TELL)
async def test_the_node_holding_the_control_connection_is_marked_down_when_killed(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, **DRIVER_HEARTBEAT)) as session:
        control = session.cluster.get_control_connection_host()
        cql_cluster.node(control.address).kill()

        assert await eventually(lambda: not control.is_up, within=5)
        assert await eventually(
            lambda: session.cluster.get_control_connection_host() not in (None, control),
            within=5,
        )
        assert await session.ping() > 0


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3, detection_delay=PEERS_NEVER_TELL)
async def test_a_node_killed_while_its_connections_are_idle_is_marked_down_at_once(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, **DRIVER_HEARTBEAT)) as session:
        control = session.cluster.get_control_connection_host()
        victim = next(h for h in session.cluster.metadata.all_hosts() if h != control)
        cql_cluster.node(victim.address).kill()

        # Far sooner than the driver's heartbeat (idle_heartbeat_interval, 30 s) would notice.
        assert await eventually(lambda: not victim.is_up, within=5)
        assert control.is_up


async def kill_dc(session: AsyncSession, cluster: CQLCluster, dc: str) -> None:
    for node in cluster.nodes:
        if node.dc == dc:
            node.kill()
            assert await driver_marks(session, node, up=False)


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_the_whole_local_dc_down_fails_fast_with_no_host_available(
    cql_cluster: CQLCluster,
) -> None:
    async with connect(cluster_config(cql_cluster, local_dc="dc1")) as session:
        await create_keyspace(session, "dcdown", "'dc1': 3, 'dc2': 2")
        await kill_dc(session, cql_cluster, "dc1")
        started = time.monotonic()
        with pytest.raises(NoHostAvailable) as raised:
            await session.execute("SELECT v FROM dcdown.kv WHERE k = 1")
        elapsed = time.monotonic() - started
    assert raised.value.errors == {}  # no host was even tried: the policy has none to offer
    assert elapsed < REQUEST_TIMEOUT
    print(f"NoHostAvailable after {elapsed * 1000:.1f} ms")


@pytest.mark.memory_only
@pytest.mark.cql_cluster(TWO_DCS)
async def test_with_remote_dc_fallback_the_whole_local_dc_down_is_served_by_the_other(
    cql_cluster: CQLCluster,
) -> None:
    fallback = TokenAwarePolicy(DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=1))
    config = cluster_config(cql_cluster, local_dc="dc1", load_balancing_policy=fallback)
    async with connect(config) as session:
        await create_keyspace(session, "fallback", "'dc1': 3, 'dc2': 2")
        await session.execute("INSERT INTO fallback.kv (k, v) VALUES (1, 1)")
        select = await session.prepare("SELECT v FROM fallback.kv WHERE k = ?")
        await kill_dc(session, cql_cluster, "dc1")
        dc2 = [node for node in cql_cluster.nodes if node.dc == "dc2"]
        for node in dc2:
            node.reset_counters()
        for level in (CL.LOCAL_ONE, CL.LOCAL_QUORUM, CL.ONE):
            select.consistency_level = level  # LOCAL_*: local to the dc2 coordinator
            assert (await session.execute(select, (1,))).one().v == 1
    assert sum(node.requests.get("EXECUTE", 0) for node in dc2) >= 3


def speculative_profile(delay: float = 0.02) -> ExecutionProfile:
    """An execution profile that sends an idempotent request to a second replica when the
    first has not answered within ``delay`` (the library's retry policy kept)."""
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        retry_policy=IdempotenceAwareRetryPolicy(),
        speculative_execution_policy=ConstantSpeculativeExecutionPolicy(delay, max_attempts=2),
        request_timeout=REQUEST_TIMEOUT,
    )


@pytest.mark.memory_only
@pytest.mark.cql_cluster(3)
async def test_a_slow_replica_is_overtaken_by_speculative_executions(
    cql_cluster: CQLCluster,
) -> None:
    config = cluster_config(cql_cluster, execution_profiles={"speculative": speculative_profile()})
    async with connect(config) as session:
        await create_keyspace(session, "slow", "'replication_factor': 3")
        insert = await session.prepare("INSERT INTO slow.kv (k, v) VALUES (?, ?)")
        await session.execute_concurrent([(insert, (k, k)) for k in range(100)])
        select = await session.prepare("SELECT v FROM slow.kv WHERE k = ?")
        select.is_idempotent = True  # the driver speculates on idempotent statements only
        slow = cql_cluster.nodes[1]
        slow.add_latency(SLOW, "FROM slow.kv")
        for node in cql_cluster.nodes:
            node.reset_counters()
        started = time.monotonic()
        rows = await asyncio.gather(
            *(session.execute(select, (k,), execution_profile="speculative") for k in range(100))
        )
        elapsed = time.monotonic() - started
        assert [rs.one().v for rs in rows] == list(range(100))
    assert slow.requests.get("EXECUTE", 0) > 0  # it got its share of first attempts
    sent = sum(node.requests.get("EXECUTE", 0) for node in cql_cluster.nodes)
    assert sent > 100  # and those were sent again to another replica
    assert elapsed < SLOW  # which answered first: no caller waited for the slow replica
