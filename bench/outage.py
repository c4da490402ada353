"""The whole local data centre down, then back: what callers see, and how fast it recovers.

``python -m bench.outage [--outage 10] [--readers 50] [--json]``

A ``CQLCluster({"dc1": 2, "dc2": 1})`` with a 5 s failure detector and nodes seen up 0.5 s
after they are back (``detection_delay``, ``up_delay``), keyspace RF ``{dc1: 2, dc2: 1}``,
``local_dc="dc1"``. ``--readers`` tasks loop on an idempotent prepared ``LOCAL_ONE`` read
(1 ms apart). Both dc1 nodes are killed, stay dead ``--outage`` seconds, and come back. One row
per configuration:

- **library defaults** (reconnection 0.1 s doubling to 1 s);
- **driver's reconnection** (``ExponentialReconnectionPolicy(1, 600)``, the driver's default);
- **remote-DC fallback** (``used_hosts_per_remote_dc=1``).

Columns: requests that failed during the outage and their error types, the median and the
slowest failure (how fast a caller learns), the reads dc2 served, and the seconds from the
nodes answering again to the first read served by dc1 (``recovery_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import Any

from bench.stats import median

__all__ = ["main", "measure"]

SHAPE = {"dc1": 2, "dc2": 1}


async def _outage(options: dict[str, Any], outage: float, readers: int) -> dict[str, Any]:
    from cassandra import ConsistencyLevel

    from cassandra_asgi import CassandraConfig, connect
    from cassandra_asgi.testing import CQLCluster

    with CQLCluster(SHAPE, detection_delay=5.0, up_delay=0.5) as cluster:
        dc1 = [node for node in cluster.nodes if node.dc == "dc1"]
        dc2 = [node for node in cluster.nodes if node.dc == "dc2"]
        config = CassandraConfig(
            contact_points=[node.contact_point for node in dc1],
            port=cluster.port,
            local_dc="dc1",
            **options,
        )
        async with connect(config) as session:
            await session.execute(
                "CREATE KEYSPACE b WITH replication = "
                "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}"
            )
            await session.execute("CREATE TABLE b.kv (k int PRIMARY KEY, v int)")
            await session.execute("INSERT INTO b.kv (k, v) VALUES (1, 1)")
            select = await session.prepare("SELECT v FROM b.kv WHERE k = ?")
            select.is_idempotent = True
            select.consistency_level = ConsistencyLevel.LOCAL_ONE
            failures: list[float] = []
            kinds: collections.Counter[str] = collections.Counter()
            stop = asyncio.Event()

            async def read() -> None:
                while not stop.is_set():
                    began = time.perf_counter()
                    try:
                        await session.execute(select, (1,))
                    except Exception as exc:
                        failures.append(time.perf_counter() - began)
                        kinds[type(exc).__name__] += 1
                    await asyncio.sleep(0.001)

            tasks = [asyncio.create_task(read()) for _ in range(readers)]
            await asyncio.sleep(0.5)
            for node in dc2:
                node.reset_counters()
            for node in dc1:
                node.kill()
            await asyncio.sleep(outage)
            served_by_dc2 = sum(node.requests.get("EXECUTE", 0) for node in dc2)
            for node in dc1:
                node.reset_counters()
                node.come_up()
            back = time.monotonic()
            while True:  # polled: the counters live on the cluster's thread
                if any(node.requests.get("EXECUTE", 0) for node in dc1):
                    break
                await asyncio.sleep(0.005)
            recovery = time.monotonic() - back
            stop.set()
            await asyncio.gather(*tasks)
    return {
        "failed": len(failures),
        "errors": dict(kinds),
        "failure_p50_ms": median(failures) * 1000 if failures else None,
        "failure_max_ms": max(failures) * 1000 if failures else None,
        "served_by_dc2": served_by_dc2,
        "recovery_s": recovery,
    }


def measure(outage: float = 10.0, readers: int = 50) -> dict[str, dict[str, Any]]:
    from cassandra.policies import ExponentialReconnectionPolicy

    configurations: dict[str, dict[str, Any]] = {
        "library defaults": {},
        "driver's reconnection": {"reconnection_policy": ExponentialReconnectionPolicy(1, 600)},
        "remote-DC fallback": {"used_hosts_per_remote_dc": 1},
    }
    return {
        name: asyncio.run(_outage(options, outage, readers))
        for name, options in configurations.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds dc1 stays dead")
    parser.add_argument("--readers", type=int, default=50, help="concurrent reading tasks")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = measure(args.outage, args.readers)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"dc1 (2 nodes) dead for {args.outage:g} s, {args.readers} readers, dc2 1 node")
    print(f"{'':24}{'failed':>8}{'p50 ms':>9}{'max ms':>9}{'by dc2':>8}{'recovery s':>12}  errors")
    for name, row in results.items():
        p50 = "-" if row["failure_p50_ms"] is None else f"{row['failure_p50_ms']:.2f}"
        slowest = "-" if row["failure_max_ms"] is None else f"{row['failure_max_ms']:.1f}"
        errors = ", ".join(f"{kind} {count}" for kind, count in row["errors"].items()) or "none"
        print(
            f"{name:24}{row['failed']:>8}{p50:>9}{slowest:>9}{row['served_by_dc2']:>8}"
            f"{row['recovery_s']:>12.2f}  {errors}"
        )


if __name__ == "__main__":
    main()
