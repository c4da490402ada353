"""Loop stalls under an error storm: many requests failing at once, all through the session.

Every request asks for a table that does not exist, so the server answers each with an error
(``InvalidRequest``) and the session raises it: the whole failure path (error frame, driver
exception, bridge, raise in the awaiting task) at full concurrency. A failure whose objects form
a reference cycle is only freed by the cyclic collector, whose full collections stop the whole
process; measured here are the worst loop stall, the full collections per 10,000 failures and
the longest collector pause (``bench.gcpauses``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from bench.gcpauses import record_gc_pauses
from bench.target import KEYSPACE
from cassandra_asgi import AsyncSession, CassandraConfig, connect

__all__ = ["ErrorStormResults", "measure_error_storm"]

FAILING_QUERY = f"SELECT v FROM {KEYSPACE}.no_such_table WHERE k = 1"


@dataclass
class StormRun:
    failures: int
    elapsed: float
    max_stall_ms: float
    max_blocked_ms: float
    full_collections: int
    gc_pause_ms: float
    client_cpu: float


@dataclass
class ErrorStormResults:
    failures: int
    concurrency: int
    runs: list[StormRun] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        runs = self.runs
        failed = sum(r.failures for r in runs)
        return {
            "failures_per_round": self.failures,
            "concurrency": self.concurrency,
            "failures_per_s": median([r.failures / r.elapsed for r in runs]),
            "max_loop_stall_ms": max(r.max_stall_ms for r in runs),
            "median_round_max_loop_stall_ms": median([r.max_stall_ms for r in runs]),
            "max_loop_blocked_ms": max(r.max_blocked_ms for r in runs),
            "full_gcs_per_10k_failures": sum(r.full_collections for r in runs) / failed * 1e4,
            "longest_gc_pause_ms": max(r.gc_pause_ms for r in runs),
            "client_cpu_us_per_failure": median([r.client_cpu / r.failures * 1e6 for r in runs]),
        }


async def _storm(session: AsyncSession, failures: int, concurrency: int) -> int:
    remaining = failures
    failed = 0

    async def worker() -> None:
        nonlocal remaining, failed
        while remaining > 0:
            remaining -= 1
            try:
                await session.execute(FAILING_QUERY)
            except Exception:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


async def measure_error_storm(
    config: CassandraConfig,
    *,
    failures: int,
    concurrency: int,
    rounds: int,
    progress: Callable[[str], None],
) -> ErrorStormResults:
    from cassandra_asgi.testing.lag import LoopLagProbe

    results = ErrorStormResults(failures, concurrency)
    async with connect(config) as session:
        await _storm(session, min(failures, 1000), concurrency)  # warm-up
        for number in range(1, rounds + 1):
            with record_gc_pauses() as pauses:
                async with LoopLagProbe(interval=0.005) as probe:
                    cpu_before, started = time.process_time(), time.perf_counter()
                    failed = await _storm(session, failures, concurrency)
                    elapsed = time.perf_counter() - started
                    cpu = time.process_time() - cpu_before
            run = StormRun(
                failed,
                elapsed,
                probe.max_lag * 1000.0,
                probe.max_blocked * 1000.0,
                pauses.full_collections,
                pauses.longest_ms,
                cpu,
            )
            results.runs.append(run)
            progress(
                f"  error storm round {number}/{rounds}: {failed / elapsed:,.0f} failures/s, "
                f"max loop stall {run.max_stall_ms:.2f} ms (without CPU waits or GC "
                f"{run.max_blocked_ms:.2f} ms), {run.full_collections} full GC, longest GC "
                f"pause {run.gc_pause_ms:.1f} ms"
            )
    return results
