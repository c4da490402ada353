"""Reading one 200,000-row partition: our async stream against the driver's paging in a thread.

Rate and loop stalls are measured without tracemalloc (it slows allocation-heavy code several
fold); peak memory comes from one extra, separately traced pass per contender. Every pass runs
under ``LoopLagProbe`` so a page decoded or fetched on the loop thread shows up as a stall.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.dataset import stream_query
from bench.gcpauses import frozen_gc, record_gc_pauses
from bench.stats import median
from bench.target import driver_cluster
from cassandra_asgi.config import CassandraConfig

__all__ = ["StreamResults", "measure_streaming"]

Progress = Callable[[str], None]


@dataclass
class StreamRun:
    rows: int
    elapsed: float
    max_stall_ms: float
    client_cpu: float
    gc_pause_ms: float
    full_collections: int
    #: The probe's stall minus time Linux kept the loop thread waiting for a CPU.
    max_blocked_ms: float = float("nan")
    server_cpu: float = float("nan")

    @property
    def rate(self) -> float:
        return self.rows / self.elapsed if self.elapsed > 0 else float("nan")

    @property
    def cpu_us_per_row(self) -> float:
        return self.client_cpu / self.rows * 1e6 if self.rows else float("nan")

    @property
    def server_cpu_us_per_row(self) -> float:
        return self.server_cpu / self.rows * 1e6 if self.rows else float("nan")


class StreamContender(abc.ABC):
    name: str
    description: str

    def __init__(self, config: CassandraConfig, fetch_size: int, rows: int) -> None:
        self.config = config
        self.fetch_size = fetch_size
        self.query = stream_query(rows)

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def read_all(self) -> int:
        """Read every row of the partition; return how many there were."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def run(self) -> StreamRun:
        from cassandra_asgi.testing.lag import LoopLagProbe

        with record_gc_pauses() as pauses:
            async with LoopLagProbe(interval=0.005) as probe:
                cpu_before, started = time.process_time(), time.perf_counter()
                rows = await self.read_all()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_before
        return StreamRun(
            rows,
            elapsed,
            probe.max_lag * 1000.0,
            cpu,
            pauses.longest_ms,
            pauses.full_collections,
            probe.max_blocked * 1000.0,
        )


async def idle_loop_stall_ms(seconds: float) -> float:
    """The longest stall of a loop doing nothing at all: the machine's own noise floor."""
    from cassandra_asgi.testing.lag import LoopLagProbe

    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(seconds)
    return probe.max_lag * 1000.0


class OursStream(StreamContender):
    name = "ours_stream"
    description = "cassandra_asgi: async for row in session.stream(query, fetch_size=N)"

    async def open(self) -> None:
        from cassandra_asgi import connect

        self.session: Any = await connect(self.config)

    async def read_all(self) -> int:
        count = 0
        async for _row in self.session.stream(self.query, fetch_size=self.fetch_size):
            count += 1
        return count

    async def close(self) -> None:
        await self.session.close()


class OursStreamTupleRows(OursStream):
    """The same stream with ``row_factory="tuple"``.

    CPython's collector stops tracking exact tuples (and dicts) that hold only atomic values,
    but never named tuples: with the default row shape every buffered row that survives a young
    collection is promoted, and every few pages that costs a full collection, which holds the
    GIL (a loop stall) for as long as it takes to walk the whole heap. This contender shows what
    the row shape alone changes.
    """

    name = "ours_stream_tuple_rows"
    description = "cassandra_asgi stream with CassandraConfig(row_factory='tuple')"

    def __init__(self, config: CassandraConfig, fetch_size: int, rows: int) -> None:
        super().__init__(config.replace(row_factory="tuple"), fetch_size, rows)


class DriverPagingInThread(StreamContender):
    name = "driver_paging_thread"
    description = "run_in_executor: iterate session.execute(SimpleStatement(fetch_size=N))"

    async def open(self) -> None:
        def connect() -> tuple[Any, Any]:
            cluster = driver_cluster(self.config)
            return cluster, cluster.connect()

        self.cluster, self.session = await asyncio.to_thread(connect)

    def _count(self) -> int:
        from cassandra.query import SimpleStatement

        statement = SimpleStatement(self.query, fetch_size=self.fetch_size)
        count = 0
        for _row in self.session.execute(statement):
            count += 1
        return count

    async def read_all(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self._count)

    async def close(self) -> None:
        await asyncio.to_thread(self.cluster.shutdown)


@dataclass
class StreamSummary:
    description: str
    runs: list[StreamRun] = field(default_factory=list)
    peak_memory_mb: float = float("nan")
    #: The same reads with ``gc.freeze()`` applied first (see ``bench.gcpauses``).
    frozen_runs: list[StreamRun] = field(default_factory=list)

    @property
    def frozen_rate(self) -> float:
        return median([r.rate for r in self.frozen_runs])

    @property
    def frozen_max_stall_ms(self) -> float:
        return max((r.max_stall_ms for r in self.frozen_runs), default=float("nan"))

    @property
    def gc_pause_ms(self) -> float:
        return max((r.gc_pause_ms for r in self.runs), default=float("nan"))

    @property
    def rate(self) -> float:
        return median([r.rate for r in self.runs])

    @property
    def max_stall_ms(self) -> float:
        return max((r.max_stall_ms for r in self.runs), default=float("nan"))

    @property
    def max_blocked_ms(self) -> float:
        return max((r.max_blocked_ms for r in self.runs), default=float("nan"))

    @property
    def median_stall_ms(self) -> float:
        return median([r.max_stall_ms for r in self.runs])

    @property
    def cpu_us_per_row(self) -> float:
        return median([r.cpu_us_per_row for r in self.runs])

    @property
    def server_cpu_us_per_row(self) -> float:
        return median([r.server_cpu_us_per_row for r in self.runs])

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "rows_per_s": self.rate,
            "rows": self.runs[0].rows if self.runs else 0,
            "max_loop_stall_ms": self.max_stall_ms,
            "median_round_max_loop_stall_ms": self.median_stall_ms,
            "max_loop_blocked_ms": self.max_blocked_ms,
            "client_cpu_us_per_row": self.cpu_us_per_row,
            "server_cpu_us_per_row": self.server_cpu_us_per_row,
            "longest_gc_pause_ms": self.gc_pause_ms,
            "full_gc_collections": [r.full_collections for r in self.runs],
            "gc_frozen_rows_per_s": self.frozen_rate,
            "gc_frozen_max_loop_stall_ms": self.frozen_max_stall_ms,
            "gc_frozen_longest_gc_pause_ms": max(
                (r.gc_pause_ms for r in self.frozen_runs), default=float("nan")
            ),
            "peak_traced_memory_mb": self.peak_memory_mb,
            "rounds_rows_per_s": [r.rate for r in self.runs],
            "rounds_max_loop_stall_ms": [r.max_stall_ms for r in self.runs],
        }


@dataclass
class StreamResults:
    rows: int
    fetch_size: int
    by_contender: dict[str, StreamSummary] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: Per round: the longest stall of an idle loop over 0.5 s, measured just before.
    idle_stalls_ms: list[float] = field(default_factory=list)
    #: Objects alive in the bench process (frozen by the gc.freeze() pass).
    frozen_objects: int = 0


async def _traced_peak_mb(contender: StreamContender) -> float:
    """Peak Python memory allocated (all threads) while the contender reads everything once."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await contender.read_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - baseline) / 1e6


async def measure_streaming(
    config: CassandraConfig,
    *,
    rows: int,
    fetch_size: int,
    rounds: int,
    measure_memory: bool,
    progress: Progress,
    server_cpu: Callable[[], float | None] = lambda: None,
) -> StreamResults:
    results = StreamResults(rows=rows, fetch_size=fetch_size)
    ready: list[StreamContender] = []
    candidates: list[StreamContender] = [
        OursStream(config, fetch_size, rows),
        DriverPagingInThread(config, fetch_size, rows),
        OursStreamTupleRows(config, fetch_size, rows),
    ]
    for contender in candidates:
        try:
            await contender.open()
        except Exception as exc:
            results.skipped[contender.name] = repr(exc)
            progress(f"  skipping {contender.name}: {exc!r}")
            continue
        ready.append(contender)
        results.by_contender[contender.name] = StreamSummary(contender.description)
    try:
        for contender in ready:  # warm-up: first page decode paths, prepared metadata
            await contender.read_all()
        for round_number in range(rounds):
            results.idle_stalls_ms.append(await idle_loop_stall_ms(0.5))
            shift = round_number % max(1, len(ready))
            for contender in ready[shift:] + ready[:shift]:
                gc.collect()
                server_before = server_cpu()
                run = await contender.run()
                server_after = server_cpu()
                if server_before is not None and server_after is not None:
                    run.server_cpu = server_after - server_before
                if run.rows != rows:
                    raise RuntimeError(f"{contender.name} read {run.rows} rows, expected {rows}")
                results.by_contender[contender.name].runs.append(run)
                progress(
                    f"  stream round {round_number + 1}/{rounds} {contender.name:<22}"
                    f" {run.rate:>10,.0f} rows/s  max loop stall {run.max_stall_ms:6.2f} ms"
                    f" (without CPU waits or GC {run.max_blocked_ms:.2f} ms;"
                    f" idle loop: {results.idle_stalls_ms[-1]:.2f} ms,"
                    f" longest GC pause {run.gc_pause_ms:.2f} ms)"
                )
        with frozen_gc() as frozen:
            results.frozen_objects = frozen
            for round_number in range(rounds):
                shift = round_number % max(1, len(ready))
                for contender in ready[shift:] + ready[:shift]:
                    run = await contender.run()
                    results.by_contender[contender.name].frozen_runs.append(run)
                    progress(
                        f"  stream gc.freeze() round {round_number + 1}/{rounds}"
                        f" {contender.name:<22} {run.rate:>10,.0f} rows/s"
                        f"  max loop stall {run.max_stall_ms:6.2f} ms"
                    )
        if measure_memory:
            for contender in ready:
                peak = await _traced_peak_mb(contender)
                results.by_contender[contender.name].peak_memory_mb = peak
                progress(f"  stream {contender.name:<22} peak traced memory {peak:7.2f} MB")
    finally:
        for contender in ready:
            try:
                await contender.close()
            except Exception as exc:
                print(f"bench: closing {contender.name} failed: {exc!r}", file=sys.stderr)
    return results
