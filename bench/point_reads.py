"""One-row prepared reads by key: every contender, interleaved round by round.

Each contender owns its own driver ``Cluster`` (one connection pool each), is warmed up at
every concurrency level, and then runs for a fixed time per round; rounds rotate the order so
no contender always runs first or last. The median of the rounds is what gets reported.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.clients import ContenderUnavailable, acsylla_session, import_optional, scyllapy_client
from bench.dataset import POINT_QUERY
from bench.gcpauses import GcPauses, record_gc_pauses
from bench.iomode import IO_MODES, io_unavailable, with_io
from bench.pipeline import CallbackPipeline
from bench.stats import RunResult, median
from bench.target import driver_cluster
from bench.tracing import dropping_tracer_provider
from cassandra_asgi.config import CassandraConfig

__all__ = [
    "Contender",
    "ContenderUnavailable",
    "LevelSummary",
    "PointReadResults",
    "RoundSummary",
    "all_contenders",
    "measure_point_reads",
]

Progress = Callable[[str], None]


class Contender(abc.ABC):
    """A way of issuing the same prepared one-row read; ``keys`` rows exist to read."""

    name: str
    description: str

    def __init__(self, config: CassandraConfig, keys: int) -> None:
        self.config = config
        self.keys = keys

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and prepare; raise ``ContenderUnavailable`` when it cannot run here."""

    @abc.abstractmethod
    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        """Keep ``concurrency`` reads in flight for ``duration`` seconds (or ``max_requests``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection; must not block the loop."""


class _DriverContender(Contender):
    """Shared plumbing for contenders built on a plain driver ``Cluster``."""

    cluster_class: Any = None
    profile_options: dict[str, Any] = {}  # noqa: RUF012 (read-only class default)

    def __init__(self, config: CassandraConfig, keys: int) -> None:
        super().__init__(config, keys)
        self.cluster: Any = None
        self.session: Any = None
        self.prepared: Any = None

    def _connect(self) -> None:
        kwargs = dict(self.profile_options)
        if self.cluster_class is not None:
            kwargs["cluster_class"] = self.cluster_class
        self.cluster = driver_cluster(self.config, **kwargs)
        self.session = self.cluster.connect()
        self.prepared = self.session.prepare(POINT_QUERY)

    async def open(self) -> None:
        await asyncio.to_thread(self._connect)

    async def close(self) -> None:
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.shutdown)


class RawCallbacks(_DriverContender):
    """The driver's own fastest style: ``execute_async`` and callbacks, no asyncio at all."""

    def __init__(self, config: CassandraConfig, keys: int, *, tuple_rows: bool) -> None:
        super().__init__(config, keys)
        if tuple_rows:
            from cassandra.query import tuple_factory

            self.name = "raw_tuple"
            self.description = "driver execute_async + callbacks, row_factory=tuple_factory"
            self.profile_options = {"row_factory": tuple_factory}
        else:
            self.name = "raw_default"
            self.description = "driver execute_async + callbacks, default row factory"

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        prepared, keys = self.prepared, self.keys
        pipeline = CallbackPipeline(
            self.session,
            lambda seq: (prepared, (seq % keys,)),
            depth=concurrency,
            total=max_requests,
            duration=duration,
        )
        # The calling thread only starts the chains; all the work happens on the reactor thread.
        return await asyncio.to_thread(pipeline.run, duration + 60.0)


async def run_workers(
    call: Callable[[int], Awaitable[Any]], concurrency: int, duration: float, max_requests: int
) -> RunResult:
    """``concurrency`` asyncio tasks, each awaiting ``call(key)`` back to back until time is up."""
    issued = 0
    errors = 0
    first_error: str | None = None
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal issued, errors, first_error
        while issued < max_requests and time.perf_counter() < deadline:
            sequence = issued
            issued += 1
            start = time.perf_counter()
            try:
                await call(sequence)
            except Exception as exc:
                errors += 1
                first_error = first_error or repr(exc)
            else:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(len(latencies), errors, time.perf_counter() - started, latencies, first_error)


class Ours(Contender):
    """``await session.execute``; ``io`` is the session's I/O mode, part of the name unless
    it is the thread mode every earlier run of the bench measured as plain ``ours``."""

    base_name = "ours"
    base_description = "cassandra_asgi: await session.execute(prepared, (k,))"

    def __init__(self, config: CassandraConfig, keys: int, *, io: str = "thread") -> None:
        super().__init__(config, keys)
        self.io = io
        self.name = self.base_name if io == "thread" else f"{self.base_name}_{io}"
        self.description = f"{self.base_description}, io={io!r}"
        self.session: Any = None
        self.prepared: Any = None

    def require_io(self) -> None:
        """Refuse to run where the config cannot take this contender's I/O mode."""
        reason = io_unavailable(self.io, type(self.config))
        if reason is not None:
            raise ContenderUnavailable(reason)

    async def open(self) -> None:
        self.require_io()
        try:
            from cassandra_asgi import connect
        except ImportError as exc:
            raise ContenderUnavailable(f"cassandra_asgi.connect is not importable: {exc}") from exc
        self.session = await connect(with_io(self.config, self.io))
        self.prepared = await self.session.prepare(POINT_QUERY)

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        execute, prepared, keys = self.session.execute, self.prepared, self.keys
        return await run_workers(
            lambda seq: execute(prepared, (seq % keys,)), concurrency, duration, max_requests
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class OursTraced(Ours):
    base_name = "ours_traced"
    base_description = (
        "ours with OpenTelemetry tracing: SDK TracerProvider, BatchSpanProcessor, "
        "an exporter that drops every span"
    )
    provider: Any = None

    async def open(self) -> None:
        self.require_io()  # before the provider's thread starts
        try:
            self.provider = dropping_tracer_provider()
        except ImportError as exc:
            raise ContenderUnavailable(
                f"opentelemetry-sdk is not installed (pip install opentelemetry-sdk): {exc}"
            ) from exc
        self.config = self.config.replace(tracer_provider=self.provider)
        await super().open()
        if self.session._core.tracing is None:
            raise ContenderUnavailable("the session did not pick up the SDK's tracer provider")

    async def close(self) -> None:
        await super().close()
        if self.provider is not None:
            await asyncio.to_thread(self.provider.shutdown)


class Executor(_DriverContender):
    name = "executor"
    description = "await loop.run_in_executor(None, session.execute, prepared, (k,))"

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        loop = asyncio.get_running_loop()
        execute, prepared, keys = self.session.execute, self.prepared, self.keys
        return await run_workers(
            lambda seq: loop.run_in_executor(None, execute, prepared, (seq % keys,)),
            concurrency,
            duration,
            max_requests,
        )


class CassandraAsyncioDriver(_DriverContender):
    name = "cassandra_asyncio_driver"
    description = "cassandra-asyncio-driver (PyPI): await session.aexecute(prepared, (k,))"

    async def open(self) -> None:
        module = import_optional("cassandra_asyncio.cluster", "cassandra-asyncio-driver")
        self.cluster_class = module.Cluster
        await super().open()
        if not hasattr(self.session, "aexecute"):
            raise ContenderUnavailable("cassandra-asyncio-driver did not add session.aexecute")

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        aexecute, prepared, keys = self.session.aexecute, self.prepared, self.keys
        return await run_workers(
            lambda seq: aexecute(prepared, (seq % keys,)), concurrency, duration, max_requests
        )


class Aiocassandra(_DriverContender):
    name = "aiocassandra"
    description = "aiocassandra (PyPI, aio-libs): await session.execute_future(prepared, (k,))"

    async def open(self) -> None:
        module = import_optional("aiocassandra", "aiocassandra")
        await super().open()
        module.aiosession(self.session, loop=asyncio.get_running_loop())

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        execute_future, prepared, keys = self.session.execute_future, self.prepared, self.keys
        return await run_workers(
            lambda seq: execute_future(prepared, (seq % keys,)), concurrency, duration, max_requests
        )


class ScyllaPy(Contender):
    name = "scyllapy"
    description = "scyllapy (Rust driver): await scylla.execute(prepared, [k]), then .first()"

    def __init__(self, config: CassandraConfig, keys: int) -> None:
        super().__init__(config, keys)
        self.client: Any = None
        self.prepared: Any = None

    async def open(self) -> None:
        self.client = await scyllapy_client(self.config)
        self.prepared = await self.client.prepare(POINT_QUERY)

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        execute, prepared, keys = self.client.execute, self.prepared, self.keys

        async def read(seq: int) -> Any:
            return (await execute(prepared, [seq % keys])).first()  # rows become Python here

        return await run_workers(read, concurrency, duration, max_requests)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.shutdown()


class Acsylla(Contender):
    name = "acsylla"
    description = (
        "acsylla (C++ driver): await session.execute(prepared.bind([k])), then .first().as_tuple()"
    )

    def __init__(self, config: CassandraConfig, keys: int) -> None:
        super().__init__(config, keys)
        self.session: Any = None
        self.prepared: Any = None

    async def open(self) -> None:
        self.session = await acsylla_session(self.config)
        self.prepared = await self.session.create_prepared(POINT_QUERY)

    async def run(self, concurrency: int, duration: float, max_requests: int) -> RunResult:
        execute, bind, keys = self.session.execute, self.prepared.bind, self.keys

        async def read(seq: int) -> Any:
            return (await execute(bind([seq % keys]))).first().as_tuple()  # decode the row

        return await run_workers(read, concurrency, duration, max_requests)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def all_contenders(config: CassandraConfig, keys: int) -> list[Contender]:
    """Every contender, the baseline first; ours in each I/O mode."""
    return [
        RawCallbacks(config, keys, tuple_rows=False),
        RawCallbacks(config, keys, tuple_rows=True),
        *(Ours(config, keys, io=io) for io in IO_MODES),
        *(OursTraced(config, keys, io=io) for io in IO_MODES),
        Executor(config, keys),
        CassandraAsyncioDriver(config, keys),
        Aiocassandra(config, keys),
        ScyllaPy(config, keys),
        Acsylla(config, keys),
    ]


@dataclass
class RoundSummary:
    rate: float
    p50_ms: float
    p99_ms: float
    completed: int
    errors: int
    first_error: str | None
    client_cpu_us: float
    server_cpu_us: float
    #: Full (generation 2) collections per 10,000 completed queries, and the longest GC pause.
    full_gcs_per_10k: float
    longest_gc_ms: float

    @classmethod
    def of(cls, result: RunResult, gc_pauses: GcPauses) -> RoundSummary:
        return cls(
            rate=result.rate,
            p50_ms=result.latency_ms(0.50),
            p99_ms=result.latency_ms(0.99),
            completed=result.completed,
            errors=result.errors,
            first_error=result.first_error,
            client_cpu_us=result.cpu_us_per_request("client"),
            server_cpu_us=result.cpu_us_per_request("server"),
            full_gcs_per_10k=(
                gc_pauses.full_collections * 10_000 / result.completed
                if result.completed
                else math.nan
            ),
            longest_gc_ms=gc_pauses.longest_ms,
        )


@dataclass
class LevelSummary:
    rounds: list[RoundSummary] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return median([r.rate for r in self.rounds])

    @property
    def p50_ms(self) -> float:
        return median([r.p50_ms for r in self.rounds])

    @property
    def p99_ms(self) -> float:
        return median([r.p99_ms for r in self.rounds])

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def client_cpu_us(self) -> float:
        """Median bench-process CPU per query: far steadier than q/s on a shared machine."""
        return median([r.client_cpu_us for r in self.rounds])

    @property
    def server_cpu_us(self) -> float:
        return median([r.server_cpu_us for r in self.rounds])

    @property
    def full_gcs_per_10k(self) -> float:
        return median([r.full_gcs_per_10k for r in self.rounds])

    @property
    def longest_gc_ms(self) -> float:
        return median([r.longest_gc_ms for r in self.rounds])

    def as_json(self) -> dict[str, Any]:
        errors = [r.first_error for r in self.rounds if r.first_error]
        return {
            "qps": self.rate,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "client_cpu_us_per_query": self.client_cpu_us,
            "server_cpu_us_per_query": self.server_cpu_us,
            "full_gcs_per_10k_queries": self.full_gcs_per_10k,
            "longest_gc_pause_ms": self.longest_gc_ms,
            "errors": self.errors,
            "first_error": errors[0] if errors else None,
            "rounds_qps": [r.rate for r in self.rounds],
            "rounds_p99_ms": [r.p99_ms for r in self.rounds],
        }


@dataclass
class PointReadResults:
    levels: list[int]
    descriptions: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    by_contender: dict[str, dict[int, LevelSummary]] = field(default_factory=dict)

    def summary(self, name: str, level: int) -> LevelSummary | None:
        return self.by_contender.get(name, {}).get(level)

    def paired_ratio(self, name: str, baseline: str, level: int) -> float:
        """Median over rounds of (contender / baseline) taken within the same round."""
        ours, base = self.summary(name, level), self.summary(baseline, level)
        if ours is None or base is None:
            return float("nan")
        pairs = [a.rate / b.rate for a, b in zip(ours.rounds, base.rounds, strict=False) if b.rate]
        return median(pairs)


async def measure_point_reads(
    contenders: Sequence[Contender],
    levels: Sequence[int],
    *,
    rounds: int,
    duration: float,
    warmup: float,
    max_requests: int,
    progress: Progress,
    server_cpu: Callable[[], float | None] = lambda: None,
) -> PointReadResults:
    results = PointReadResults(levels=list(levels))
    ready: list[Contender] = []
    for contender in contenders:
        try:
            await contender.open()
            probe = await contender.run(1, 5.0, 1)
            if probe.completed != 1:
                raise ContenderUnavailable(f"a first read failed: {probe.first_error}")
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ContenderUnavailable) else repr(exc)
            results.skipped[contender.name] = reason
            progress(f"  skipping {contender.name}: {reason}")
            await _close_quietly(contender)
            continue
        ready.append(contender)
        results.descriptions[contender.name] = contender.description
        results.by_contender[contender.name] = {}
    try:
        for level in levels:
            for contender in ready:
                await contender.run(level, warmup, max_requests)
            for round_number in range(rounds):
                shift = round_number % max(1, len(ready))
                for contender in ready[shift:] + ready[:shift]:
                    gc.collect()
                    server_before, client_before = server_cpu(), time.process_time()
                    with record_gc_pauses() as gc_pauses:
                        result = await contender.run(level, duration, max_requests)
                    result.client_cpu = time.process_time() - client_before
                    server_after = server_cpu()
                    if server_before is not None and server_after is not None:
                        result.server_cpu = server_after - server_before
                    summary = results.by_contender[contender.name].setdefault(level, LevelSummary())
                    summary.rounds.append(RoundSummary.of(result, gc_pauses))
                    progress(
                        f"  c={level:<5} round {round_number + 1}/{rounds} {contender.name:<25}"
                        f" {result.rate:>9,.0f} q/s  p99 {result.latency_ms(0.99):8.2f} ms"
                        f"  client {result.cpu_us_per_request('client'):6.0f} us/q"
                        + (f"  errors {result.errors}" if result.errors else "")
                    )
    finally:
        for contender in ready:
            await _close_quietly(contender)
    return results


async def _close_quietly(contender: Contender) -> None:
    try:
        await contender.close()
    except Exception as exc:
        print(f"bench: closing {contender.name} failed: {exc!r}", file=sys.stderr)
