"""The in-memory cluster: how fast it starts, and read latency with one slow replica.

``python -m bench.cluster [--reads 2000] [--slow-ms 50] [--json]``

- **startup**: seconds for ``with CQLCluster({"dc1": 3, "dc2": 2})`` to listen on every node
  (median of 10 starts in this process), and to stop;
- **slow replica**: a three-node cluster in its own process (``ClusterProcess``), keyspace at
  RF 3, prepared idempotent point reads through ``AsyncSession`` at 20 in flight; p50 / p99 /
  max latency healthy, then with ``--slow-ms`` of latency on one node, without and with a
  speculative-execution profile (a second replica asked after ``--speculate-ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bench.stats import median, percentile

__all__ = ["main", "measure_slow_replica", "measure_startup"]


def measure_startup(rounds: int = 10) -> dict[str, float]:
    from cassandra_asgi.testing import CQLCluster

    starts, stops = [], []
    for _ in range(rounds):
        cluster = CQLCluster({"dc1": 3, "dc2": 2})
        began = time.perf_counter()
        cluster.start()
        started = time.perf_counter()
        cluster.stop()
        starts.append(started - began)
        stops.append(time.perf_counter() - started)
    return {"start_5_nodes_s": median(starts), "stop_5_nodes_s": median(stops)}


async def _latencies(session: Any, select: Any, reads: int, profile: Any) -> list[float]:
    samples: list[float] = []
    keys = iter(range(reads))

    async def worker() -> None:
        for key in keys:
            began = time.perf_counter()
            await session.execute(select, (key % 100,), execution_profile=profile)
            samples.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(20)))
    return sorted(samples)


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples, 0.50) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": samples[-1] * 1000,
    }


async def measure_slow_replica(reads: int, slow_ms: float, speculate_ms: float) -> dict[str, Any]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
    from cassandra.policies import (
        ConstantSpeculativeExecutionPolicy,
        DCAwareRoundRobinPolicy,
        TokenAwarePolicy,
    )

    from cassandra_asgi import CassandraConfig, connect
    from cassandra_asgi.policies import IdempotenceAwareRetryPolicy
    from cassandra_asgi.testing.cluster.process import ClusterProcess

    speculative = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        retry_policy=IdempotenceAwareRetryPolicy(),
        speculative_execution_policy=ConstantSpeculativeExecutionPolicy(
            speculate_ms / 1000, max_attempts=2
        ),
    )
    figures: dict[str, Any] = {"reads": reads, "slow_ms": slow_ms, "speculate_ms": speculate_ms}
    with ClusterProcess(3) as cluster:
        config = CassandraConfig(
            contact_points=cluster.contact_points,
            port=cluster.port,
            execution_profiles={"speculative": speculative},
        )
        async with connect(config) as session:
            await session.execute(
                "CREATE KEYSPACE bench WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 3}"
            )
            await session.execute("CREATE TABLE bench.kv (k int PRIMARY KEY, v int)")
            insert = await session.prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
            await session.execute_concurrent([(insert, (k, k)) for k in range(100)])
            select = await session.prepare("SELECT v FROM bench.kv WHERE k = ?")
            select.is_idempotent = True
            await _latencies(session, select, 500, EXEC_PROFILE_DEFAULT)  # warm-up
            figures["healthy"] = _summary(
                await _latencies(session, select, reads, EXEC_PROFILE_DEFAULT)
            )
            await asyncio.to_thread(cluster.nodes[1].add_latency, slow_ms / 1000)
            figures["slow_node"] = _summary(
                await _latencies(session, select, reads, EXEC_PROFILE_DEFAULT)
            )
            figures["slow_node_speculative"] = _summary(
                await _latencies(session, select, reads, "speculative")
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--slow-ms", type=float, default=50.0)
    parser.add_argument("--speculate-ms", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result: dict[str, Any] = measure_startup()
    result.update(asyncio.run(measure_slow_replica(args.reads, args.slow_ms, args.speculate_ms)))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"5-node cluster: start {result['start_5_nodes_s'] * 1000:.0f} ms, ", end="")
    print(f"stop {result['stop_5_nodes_s'] * 1000:.0f} ms (median of 10)")
    print(f"{args.reads} reads at 20 in flight, RF 3, one node +{args.slow_ms:.0f} ms:")
    for name in ("healthy", "slow_node", "slow_node_speculative"):
        row = result[name]
        print(
            f"  {name:22} p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  "
            f"max {row['max_ms']:6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
