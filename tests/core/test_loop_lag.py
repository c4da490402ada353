"""The event loop never stalls: connect, prepare, paging and close with a slow server."""

from __future__ import annotations

from typing import Any

import pytest

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import server_process

#: Every server reply is delayed this long.
ONE_ROUND_TRIP = 0.200
#: A stall longer than this (beyond time the OS kept the loop's thread off the CPU on a busy
#: machine, see LoopLagProbe.max_blocked) means something blocked the loop.
MAX_STALL = 0.020


@pytest.mark.memory_only
@pytest.mark.slow
async def test_no_loop_stall_while_connecting_preparing_paging_and_closing(
    cql_server: Any,  # requested only so that a real-cluster run skips this test
) -> None:
    # The slow server runs in its own process: a server thread in this one would compete for
    # the GIL, and its preemption on a busy machine would read as a stall of our loop.
    with server_process("--latency", str(ONE_ROUND_TRIP)) as contact_point:
        config = CassandraConfig(contact_points=[contact_point], connect_timeout=60)
        async with connect(config) as setup:
            await setup.execute(
                "CREATE KEYSPACE lag WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            await setup.execute("CREATE TABLE lag.t (p int, c int, PRIMARY KEY (p, c))")
            insert = await setup.prepare("INSERT INTO lag.t (p, c) VALUES (0, ?)")
            await setup.execute_concurrent([(insert, (c,)) for c in range(30)])
        async with LoopLagProbe(interval=0.005) as probe:
            session = await connect(config.replace(keyspace="lag"))
            select = await session.prepare("SELECT c FROM t WHERE p = ?")
            rs = await session.execute(select, (0,), fetch_size=10)
            rows = await rs.all()
            streamed = [row.c async for row in session.stream("SELECT c FROM t", fetch_size=10)]
            await session.close()
    assert [row.c for row in rows] == list(range(30))
    assert streamed == list(range(30))
    assert probe.samples > 50
    print(
        f"max loop lag {probe.max_lag * 1000:.2f} ms "
        f"({probe.max_blocked * 1000:.2f} ms not explained by CPU contention) "
        f"over {probe.samples} samples"
    )
    # Any blocking round trip on the loop would stall it for at least the injected 200 ms.
    assert probe.max_lag < ONE_ROUND_TRIP, f"the loop stalled for {probe.max_lag * 1000:.1f} ms"
    assert probe.max_blocked < MAX_STALL, (
        f"the loop was blocked for {probe.max_blocked * 1000:.1f} ms"
    )
