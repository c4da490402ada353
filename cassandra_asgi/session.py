"""``AsyncSession``: the driver's session, awaited from asyncio without blocking the loop.

Requests go straight to ``Session.execute_async`` on the loop thread (it only encodes and
writes), and their outcomes come back through the bridge. Only the calls that really block in
the driver (``prepare``, ``shutdown``) go to the session's own small thread pool, so a busy
default executor in the application can never delay them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.query import PreparedStatement, SimpleStatement, Statement, tuple_factory

from ._binding import bind
from ._core import SessionCore, process_generation, yield_to_the_loop
from ._lean import LeanPath, LeanRequest
from ._request import DriverRequest
from .errors import SessionClosedError
from .health import DEFAULT_HEALTH_TIMEOUT, HealthReport, HostStateLog, check_health
from .metrics import SessionMetrics
from .results import AsyncResultSet
from .rows import RowFactory, loop_shaper
from .streaming import RowStream

__all__ = ["DEFAULT_CLOSE_GRACE", "PING_QUERY", "AsyncSession"]

log = logging.getLogger("cassandra_asgi")

#: Seconds ``close()`` waits for in-flight requests before shutting the cluster down.
DEFAULT_CLOSE_GRACE = 10.0
#: A query every Cassandra node answers from local state.
PING_QUERY = "SELECT release_version FROM system.local"


class AsyncSession:
    """Create with ``connect(config)``; bound to the event loop and process that created it."""

    def __init__(
        self,
        core: SessionCore,
        cluster: Any,
        driver_session: Any,
        admin: ThreadPoolExecutor,
        *,
        contact_points: tuple[str, ...] = (),
    ) -> None:
        self._core = core
        self._cluster = cluster
        self._driver = driver_session
        self._admin = admin
        self._contact_points = contact_points
        self._prepared: dict[tuple[str | None, str], asyncio.Future[Any]] = {}
        #: The same object for the cluster's lifetime (the driver refuses to replace it).
        self._default_profile = cluster.profile_manager.default
        self._close_task: asyncio.Task[None] | None = None
        #: Logs nodes going down and coming back (the driver calls it from its threads).
        self._host_log = HostStateLog()
        cluster.register_listener(self._host_log)
        #: ``io="loop"``: plain prepared reads skip the driver's ``ResponseFuture`` (``_lean``).
        self._lean = None if core.loop_io is None else LeanPath(core, cluster, driver_session)

    # -- properties ------------------------------------------------------------------------
    @property
    def keyspace(self) -> str | None:
        return self._driver.keyspace  # type: ignore[no-any-return]

    @property
    def in_flight(self) -> int:
        """Requests handed to the driver and not yet completed by it."""
        return self._core.gate.in_flight

    @property
    def metrics(self) -> SessionMetrics:
        """Counters, latency percentiles and a per-node view (``SessionMetrics``)."""
        gate = self._core.gate
        return self._core.metrics.snapshot(
            in_flight=gate.in_flight,
            max_in_flight=gate.limit,
            waiting=gate.waiting,
            hosts=self._cluster.metadata.all_hosts(),
            pools=self._driver.get_pool_state(),
        )

    @property
    def closed(self) -> bool:
        """True as soon as ``close()`` has started: new calls are refused from then on."""
        return self._core.closing

    @property
    def driver_session(self) -> Any:
        """The driver's ``Session`` (escape hatch; its blocking methods must not run here)."""
        return self._driver

    @property
    def cluster(self) -> Any:
        """The driver's ``Cluster`` (escape hatch; metadata, policies)."""
        return self._cluster

    # -- requests --------------------------------------------------------------------------
    def _profile(self, execution_profile: Any) -> Any:
        """The ``ExecutionProfile`` a call names (``None`` if unknown: the driver names it)."""
        if execution_profile is EXEC_PROFILE_DEFAULT or isinstance(execution_profile, str):
            return self._cluster.profile_manager.profiles.get(execution_profile)
        return execution_profile if isinstance(execution_profile, ExecutionProfile) else None

    def _budget(self, timeout: float | None, execution_profile: Any) -> float | None:
        """Seconds each page of a call may take: its ``timeout``, else its profile's."""
        if timeout is not None:
            return timeout
        if execution_profile is EXEC_PROFILE_DEFAULT:  # read each time: it may be changed
            return self._default_profile.request_timeout  # type: ignore[no-any-return]
        return getattr(self._profile(execution_profile), "request_timeout", None)

    def _plain_tuple_profile(self, execution_profile: Any) -> tuple[Any, RowFactory | None]:
        """A copy of ``execution_profile`` giving plain-tuple rows, and the factory that then
        gives them their configured shape on the loop thread.

        ``(execution_profile, None)`` when the rows must keep coming from the profile's own
        factory (see ``rows.loop_shaper``) or the profile does not exist (the driver names the
        bad profile). A copy per stream costs microseconds and follows later changes to the
        profile; a cache would not.
        """
        profile = self._profile(execution_profile)
        shaper = loop_shaper(getattr(profile, "row_factory", None))
        if shaper is None:
            return execution_profile, None
        plain = self._driver.execution_profile_clone_update(profile, row_factory=tuple_factory)
        return plain, shaper

    def _lean_request(
        self, statement: Any, budget: float | None, execution_profile: Any
    ) -> LeanRequest | None:
        """A request for the lean path when the call is its case (``_lean``), else ``None``."""
        lean = self._lean
        if lean is None:
            return None
        if execution_profile is EXEC_PROFILE_DEFAULT:
            profile = self._default_profile
        else:
            profile = self._profile(execution_profile)
        if not lean.takes(statement, profile):
            return None
        return LeanRequest(lean, budget, statement, profile, execution_profile)

    @staticmethod
    def _statement(query: Any, parameters: Any, fetch_size: int | None) -> tuple[Any, Any]:
        """Check the query's kind, bind prepared statements, apply a per-call ``fetch_size``.

        The caller's statement is never mutated. Binding here rather than in the driver costs
        nothing (the driver does not bind a ``BoundStatement`` again) and lets a bad value fail
        before a slot is taken, with an error naming its column.
        """
        if isinstance(query, str):
            if fetch_size is None:
                return query, parameters
            return SimpleStatement(query, fetch_size=fetch_size), parameters
        if isinstance(query, PreparedStatement):
            bound = bind(query, parameters)
            if fetch_size is not None:
                bound.fetch_size = fetch_size
            return bound, None
        if isinstance(query, Statement):
            if fetch_size is None:
                return query, parameters
            statement = copy.copy(query)
            statement.fetch_size = fetch_size
            return statement, parameters
        raise TypeError(
            "query: expected a CQL string, a Statement or a PreparedStatement, "
            f"got {type(query).__name__}"
        )

    async def execute(
        self,
        query: Any,
        parameters: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - handed to the driver's own timer
        fetch_size: int | None = None,
        paging_state: bytes | None = None,
        execution_profile: Any = EXEC_PROFILE_DEFAULT,
        **driver_kwargs: Any,
    ) -> AsyncResultSet:
        """Run one statement and return its first page.

        ``timeout`` (seconds, default: the execution profile's ``request_timeout``) covers any
        wait for a free in-flight slot plus the driver's request. Driver exceptions propagate
        unchanged.
        """
        core = self._core
        tracing = core.tracing
        trace = None if tracing is None else tracing.call("execute", query, self._driver.keyspace)
        try:
            core.check_usable()
            statement, parameters = self._statement(query, parameters, fetch_size)
            budget = self._budget(timeout, execution_profile)
            deadline = core.gate.admit(budget)
            if deadline.slot is not None:
                if trace is not None:
                    trace.queued()
                await core.gate.wait(deadline)
                if trace is not None:
                    trace.admitted()
            lean = (
                None
                if paging_state is not None or driver_kwargs
                else self._lean_request(statement, budget, execution_profile)
            )
            request: DriverRequest
            if lean is not None:
                request = lean
                lean.trace = trace
                lean.arm()
                try:
                    lean.send(deadline.remaining())
                except Exception as exc:
                    lean.give_back_slot(exc)
                    raise
            else:
                request = DriverRequest(core, budget)
                request.trace = trace
                request.arm()
                try:
                    # No local for the driver's future: on failure it holds the exception,
                    # whose traceback holds this frame (a cycle only the cyclic collector
                    # would free).
                    request.start(
                        self._driver.execute_async(
                            statement,
                            parameters,
                            timeout=deadline.remaining(),
                            execution_profile=execution_profile,
                            paging_state=paging_state,
                            **driver_kwargs,
                        )
                    )
                except Exception as exc:
                    request.give_back_slot(exc)
                    raise
            result = AsyncResultSet(request, await request.wait())
        except BaseException as exc:
            if trace is not None:
                trace.end(exc)
            if isinstance(exc, Exception):
                await yield_to_the_loop()
            raise
        if trace is not None:
            trace.end()
        return result

    def stream(
        self,
        query: Any,
        parameters: Any = None,
        *,
        fetch_size: int | None = None,
        prefetch: int = 1,
        timeout: float | None = None,
        paging_state: bytes | None = None,
        execution_profile: Any = EXEC_PROFILE_DEFAULT,
        **driver_kwargs: Any,
    ) -> RowStream:
        """Iterate a large result with at most ``prefetch`` unread pages held ahead.

        ``timeout`` applies to each page; ``paging_state`` resumes a result where an earlier
        page stopped. Leaving the loop early stops further page fetches;
        ``async with session.stream(...) as rows:`` stops them at once.
        """
        self._core.check_usable()
        statement, parameters = self._statement(query, parameters, fetch_size)
        driver = self._driver

        def send_first(request: DriverRequest, driver_timeout: float | None) -> None:
            profile, request.shaper = self._plain_tuple_profile(execution_profile)
            future = driver.execute_async(
                statement,
                parameters,
                timeout=driver_timeout,
                execution_profile=profile,
                paging_state=paging_state,
                **driver_kwargs,
            )
            request.start(future)

        core = self._core
        request = DriverRequest(core, self._budget(timeout, execution_profile))
        tracing = core.tracing
        if tracing is not None:  # the span starts at the first read
            request.trace = tracing.call("stream", query, driver.keyspace, start=False)
        return RowStream(core, request, prefetch=prefetch, send_first=send_first)

    async def prepare(self, query: str) -> Any:
        """Prepare ``query`` once per keyspace; concurrent callers share one round trip.

        The driver's ``Session.prepare`` blocks (it waits on every up host), so it runs on the
        session's own thread pool.
        """
        core = self._core
        tracing = core.tracing
        trace = None if tracing is None else tracing.call("prepare", query, self._driver.keyspace)
        try:
            try:
                core.check_usable()
                if not isinstance(query, str):
                    raise TypeError(f"query: expected a CQL string, got {type(query).__name__}")
            except Exception:
                await yield_to_the_loop()
                raise
            key = (self._driver.keyspace, query)
            shared = self._prepared.get(key)
            if shared is None:
                shared = core.loop.run_in_executor(self._admin, self._driver.prepare, query)
                self._prepared[key] = shared

                def forget_failure(done: asyncio.Future[Any]) -> None:
                    # Marks the exception retrieved even if every caller was cancelled, and
                    # lets the next call try again instead of replaying the error forever.
                    failed = done.cancelled() or done.exception() is not None
                    if failed and self._prepared.get(key) is done:
                        del self._prepared[key]

                shared.add_done_callback(forget_failure)
            prepared = await asyncio.shield(shared)
        except BaseException as exc:
            explained = exc if core.explain_error is None else core.explain_error(exc)
            if trace is not None:
                trace.end(explained)
            if explained is not exc:
                raise explained from None  # the driver's error said nothing more
            raise
        if trace is not None:
            trace.end()
        return prepared

    async def execute_concurrent(
        self,
        statements_and_parameters: Iterable[Any],
        *,
        concurrency: int = 100,
        raise_on_first_error: bool = True,
    ) -> list[Any]:
        """Run many statements with at most ``concurrency`` at a time; results keep input order.

        Items are ``(statement, parameters)`` pairs (or bare statements). With
        ``raise_on_first_error=False`` a failed statement's exception takes its place in the
        list instead of being raised.
        """
        try:
            self._core.check_usable()
            if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
                raise ValueError(f"concurrency: expected a positive integer, got {concurrency!r}")
        except Exception:
            await yield_to_the_loop()
            raise
        items = [
            item if isinstance(item, tuple) and len(item) == 2 else (item, None)
            for item in statements_and_parameters
        ]
        results: list[Any] = [None] * len(items)
        pending = iter(enumerate(items))

        async def worker() -> None:
            for index, (statement, parameters) in pending:
                try:
                    results[index] = await self.execute(statement, parameters)
                except Exception as exc:
                    if raise_on_first_error:
                        raise
                    results[index] = exc

        workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(items)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return results

    async def ping(self, *, timeout: float | None = None) -> float:  # noqa: ASYNC109
        """Round-trip seconds of a trivial query: a health check that touches the cluster.

        ``timeout`` as for ``execute()`` (default: the execution profile's).
        """
        started = time.perf_counter()
        await self.execute(PING_QUERY, timeout=timeout)
        return time.perf_counter() - started

    async def health(self, *, timeout: float = DEFAULT_HEALTH_TIMEOUT) -> HealthReport:  # noqa: ASYNC109
        """Whether the session can serve: ``ok`` when a node of the local data centre is up
        and a ping answers within ``timeout`` seconds; also the ping's round trip, nodes up and
        down per data centre, requests in flight and callers waiting. Never raises for an
        unhealthy cluster: the report says what failed."""
        return await check_health(self, timeout)

    # -- lifetime --------------------------------------------------------------------------
    async def close(self, grace: float = DEFAULT_CLOSE_GRACE) -> None:
        """Refuse new calls, let in-flight requests finish (up to ``grace`` seconds), then shut
        the cluster down off the loop. Safe to call repeatedly and concurrently.

        Runs on the session's own loop; only once that loop has closed (without running this)
        may another loop call it, to shut down what is left: the driver's threads and sockets.
        """
        core = self._core
        if core.generation != process_generation():
            # In a forked child the driver's threads are gone and its sockets belong to the
            # parent: just refuse further use here.
            core.closing = True
            return
        if asyncio.get_running_loop() is not core.loop:
            if not core.loop.is_closed():
                raise core.wrong_loop_error()
            if not core.shut_down:  # what outlives the loop: the driver's threads and sockets
                core.closing = core.shut_down = True
                await self._stop_driver()
            return
        if self._close_task is None:
            core.closing = True
            self._close_task = core.loop.create_task(self._shutdown(grace))
        await asyncio.shield(self._close_task)

    async def _shutdown(self, grace: float) -> None:
        core = self._core
        started, completed = time.perf_counter(), core.metrics.requests
        if not await core.gate.wait_idle(grace):
            log.warning(
                "closing the session with %d requests still in flight after %.1fs",
                core.gate.in_flight,
                grace,
            )
        # From here no page of anything may be sent: callers still queued for a slot, and
        # pages admitted but not yet sent, get SessionClosedError. Requests still in flight
        # (they outlived the grace period) are failed before the driver cuts their connections:
        # their callers get one documented error, and the driver's late callbacks find them
        # already settled (it never completes some requests cut off by its shutdown at all).
        drained, left = core.metrics.requests - completed, len(core.pending)
        drain_time = time.perf_counter() - started
        core.shut_down = True
        core.gate.refuse("the session was closed before this request could be sent")
        for request in list(core.pending):
            request.fail(
                SessionClosedError(
                    f"the session was closed while this request was in flight "
                    f"(it outlived the {grace}s grace period)"
                ),
            )
        await self._stop_driver()
        log.info(
            "cassandra_asgi session to %s closed in %.3fs: %d requests drained in %.3fs%s",
            ",".join(self._contact_points),
            time.perf_counter() - started,
            drained,
            drain_time,
            f", {left} cut off after the {grace}s grace period" if left else "",
        )

    async def _stop_driver(self) -> None:
        with contextlib.suppress(ValueError):  # already unregistered
            self._cluster.unregister_listener(self._host_log)
        try:
            await asyncio.get_running_loop().run_in_executor(self._admin, self._cluster.shutdown)
        finally:
            self._admin.shutdown(wait=False)
            if self._core.loop_io is not None and not self._core.loop.is_closed():
                self._core.loop_io.cancel()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._core.closing else "open"
        return (
            f"<AsyncSession {state} contact_points={','.join(self._contact_points)} "
            f"keyspace={self.keyspace} in_flight={self.in_flight}>"
        )
