"""Keep N requests in flight with nothing but the driver's own callbacks.

This is how the driver's documentation says to get throughput without asyncio: each completion
callback (on the driver's reactor thread) issues the next request. It is the baseline every
asyncio contender is compared with, and also how the bench loads its rows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench.stats import RunResult

__all__ = ["CallbackPipeline"]

#: Builds the statement and parameters of the request with the given sequence number.
RequestFactory = Callable[[int], tuple[Any, Any]]


class CallbackPipeline:
    """``depth`` chains of requests; a chain issues its next request when the last one ends.

    A chain stops when ``total`` requests have been issued or ``duration`` has passed, and
    ``run()`` returns when every chain has stopped and its last request has completed.
    """

    def __init__(
        self,
        session: Any,
        make_request: RequestFactory,
        *,
        depth: int,
        total: int,
        duration: float | None = None,
        stop_on_error: bool = False,
    ) -> None:
        self._session = session
        self._make_request = make_request
        self._depth = max(1, depth)
        self._total = total
        self._duration = duration
        self._stop_on_error = stop_on_error
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._issued = 0
        self._chains_ended = 0
        self._errors = 0
        self._first_error: BaseException | None = None
        self._latencies: list[float] = []
        self._deadline = float("inf")
        self._ended_at = 0.0
        self._starter = 0
        # Completions that happened synchronously inside add_callbacks() on the starting thread;
        # they are continued from run()'s loop instead of recursing.
        self._backlog: deque[None] = deque()

    def run(self, timeout: float = 120.0) -> RunResult:
        self._starter = threading.get_ident()
        started = time.perf_counter()
        if self._duration is not None:
            self._deadline = started + self._duration
        for _ in range(self._depth):
            self._advance_chain()
        while self._backlog:
            self._backlog.popleft()
            self._advance_chain()
        if not self._done.wait(timeout):
            raise TimeoutError(
                f"{self._issued} requests issued, {len(self._latencies)} completed after "
                f"{timeout:.0f} s: the target stopped answering"
            )
        return RunResult(
            completed=len(self._latencies),
            errors=self._errors,
            elapsed=self._ended_at - started,
            latencies=self._latencies,
            first_error=None if self._first_error is None else repr(self._first_error),
        )

    def raise_first_error(self) -> None:
        if self._first_error is not None:
            raise self._first_error

    def _advance_chain(self) -> None:
        """Issue this chain's next request, or end the chain when there is nothing left to do."""
        while True:
            with self._lock:
                stop = (
                    self._issued >= self._total
                    or time.perf_counter() >= self._deadline
                    or (self._stop_on_error and self._first_error is not None)
                )
                if stop:
                    self._chains_ended += 1
                    if self._chains_ended == self._depth:
                        self._ended_at = time.perf_counter()
                        self._done.set()
                    return
                sequence = self._issued
                self._issued += 1
            statement, parameters = self._make_request(sequence)
            start = time.perf_counter()
            try:
                future = self._session.execute_async(statement, parameters)
            except Exception as exc:  # e.g. NoHostAvailable raised in the caller's thread
                self._record_error(exc)
                continue
            future.add_callbacks(
                self._on_result, self._on_error, callback_args=(start,), errback_args=(start,)
            )
            return

    def _continue(self) -> None:
        if threading.get_ident() == self._starter:
            self._backlog.append(None)
        else:
            self._advance_chain()

    def _on_result(self, _: Any, start: float) -> None:
        self._latencies.append(time.perf_counter() - start)
        self._continue()

    def _on_error(self, exc: BaseException, start: float) -> None:
        self._record_error(exc)
        self._continue()

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            if self._first_error is None:
                self._first_error = exc
