"""OpenTelemetry spans for session calls that end when the result reaches the caller.

A span covers what the caller waits for: it starts when ``execute()``, ``prepare()``, a page
fetch or a stream's first read is called (so a wait for an in-flight slot is inside it) and
ends when the result or the error is handed back. Spans are started and ended on the event
loop thread, in the caller's context, so they are children of the caller's current span (the
ASGI request span, say) however many driver threads the request crossed meanwhile; a stream's
pages, fetched ahead in the background, become events of the stream's one span.

Only ``opentelemetry-api`` is needed (extra ``otel``). ``tracing_for()`` runs once per session,
at connect: without the API, or without a tracer provider that records (no SDK configured),
the session has no ``Tracing`` and each call pays one ``is None`` check. Attributes follow the
OpenTelemetry database semantic conventions for Cassandra; the statement text is recorded only
with ``trace_statements=True``, and bound values never.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cassandra import (
    AlreadyExists,
    ConsistencyLevel,
    FunctionFailure,
    InvalidRequest,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteFailure,
    WriteTimeout,
    protocol,
)
from cassandra.query import BatchStatement, BoundStatement, PreparedStatement

from . import __version__, _compat

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Status, Tracer

    from ._request import DriverRequest
    from .config import CassandraConfig

__all__ = ["TracedCall", "Tracing", "describe_cql", "tracing_for"]

#: Instrumentation scope of every span.
SCOPE = "cassandra_asgi"
#: Event of a stream's span for each page that arrived.
PAGE_EVENT = "cassandra_asgi.page"

_perf_counter = time.perf_counter
_time_ns = time.time_ns

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})?)"
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_TARGETS = {
    "SELECT": re.compile(rf"\bFROM\s+{_QUALIFIED}", re.I),
    "DELETE": re.compile(rf"\bFROM\s+{_QUALIFIED}", re.I),
    "INSERT": re.compile(rf"\AINSERT\s+INTO\s+{_QUALIFIED}", re.I),
    "UPDATE": re.compile(rf"\AUPDATE\s+{_QUALIFIED}", re.I),
    "TRUNCATE": re.compile(rf"\ATRUNCATE\s+(?:TABLE\s+)?{_QUALIFIED}", re.I),
}


@functools.lru_cache(maxsize=1024)
def describe_cql(text: str) -> tuple[str | None, str | None]:
    """``(operation, table)`` of a CQL statement, the table as its text names it (with its
    keyspace, if given), per the semantic conventions' ``db.collection.name``.

    ``"SELECT v FROM ks.t WHERE k = ?"`` gives ``("SELECT", "ks.t")``; a ``BEGIN BATCH``
    gives ``("BATCH", None)``. Cached: applications run a bounded set of statements.
    """
    body = text[_LEADING_COMMENTS.match(text).end() :]  # type: ignore[union-attr]
    first = _FIRST_WORD.match(body)
    if first is None:
        return None, None
    operation = first.group().upper()
    if operation == "BEGIN":
        return "BATCH", None
    pattern = _TARGETS.get(operation)
    found = None if pattern is None else pattern.search(body)
    if found is None:
        return operation, None
    return operation, "".join(found.group(1).split())


def _statement_text(query: Any) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, BoundStatement):
        return query.prepared_statement.query_string  # type: ignore[no-any-return]
    if isinstance(query, PreparedStatement):
        return query.query_string  # type: ignore[no-any-return]
    if isinstance(query, BatchStatement):
        return None
    return getattr(query, "query_string", None)


#: ``cassandra.consistency.level`` values by the driver's consistency level numbers.
_CONSISTENCY: dict[Any, str] = {
    level: name.lower() for level, name in ConsistencyLevel.value_to_name.items()
}


def _error_type(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


#: Cassandra protocol error codes of the exceptions the driver makes from server errors (the
#: other server errors are raised as the driver's ``ErrorMessage`` itself, which has its code).
_ERROR_CODES: dict[type[BaseException], int] = {
    AlreadyExists: protocol.AlreadyExistsException.error_code,
    FunctionFailure: protocol.FunctionFailureMessage.error_code,
    InvalidRequest: protocol.InvalidRequestException.error_code,
    ReadFailure: protocol.ReadFailureMessage.error_code,
    ReadTimeout: protocol.ReadTimeoutErrorMessage.error_code,
    Unauthorized: protocol.UnauthorizedErrorMessage.error_code,
    Unavailable: protocol.UnavailableErrorMessage.error_code,
    WriteFailure: protocol.WriteFailureMessage.error_code,
    WriteTimeout: protocol.WriteTimeoutErrorMessage.error_code,
}


def _status_code(error: BaseException) -> str | None:
    """``db.response.status_code``: the protocol error code the server answered with."""
    if isinstance(error, protocol.ErrorMessage):
        return str(error.code)
    code = _ERROR_CODES.get(type(error))
    return None if code is None else str(code)


class Tracing:
    """The tracer of one session and what it may record."""

    __slots__ = (
        "_coordinators",
        "client",
        "current_context",
        "error_status",
        "statements",
        "tracer",
    )

    def __init__(self, tracer: Tracer, *, statements: bool) -> None:
        from opentelemetry.context import get_current
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.tracer = tracer
        #: ``trace_statements``: record the statement text (never bound values).
        self.statements = statements
        self.client = SpanKind.CLIENT
        self.current_context: Callable[[], Context] = get_current
        self.error_status: Callable[[str], Status] = functools.partial(Status, StatusCode.ERROR)
        #: ``id(host) -> (host, its span attributes)``: a host's attributes are made once.
        self._coordinators: dict[int, tuple[Any, dict[str, Any]]] = {}

    def coordinator(self, host: Any) -> dict[str, Any]:
        """A new dict of the span attributes naming ``host`` (a driver ``Host``)."""
        known = self._coordinators.get(id(host))
        if known is None:
            endpoint = host.endpoint
            attributes = {"server.address": endpoint.address, "server.port": endpoint.port}
            if host.datacenter:
                attributes["cassandra.coordinator.dc"] = host.datacenter
            if host.host_id is not None:
                attributes["cassandra.coordinator.id"] = str(host.host_id)
            known = self._coordinators[id(host)] = (host, attributes)  # holding it keeps its id
        return dict(known[1])

    def call(
        self, kind: str, query: Any, keyspace: str | None, *, start: bool = True
    ) -> TracedCall:
        """A span for one call: ``kind`` is ``execute``, ``prepare`` or ``stream``.

        ``start=False`` for a stream, whose span starts at its first read.
        """
        text = _statement_text(query)
        operation, table = describe_cql(text) if text is not None else ("BATCH", None)
        if kind == "prepare":
            operation = "PREPARE"
        # A statement's own keyspace (a prepared one's is where it was prepared), else the
        # session's.
        namespace = getattr(query, "keyspace", None) or keyspace
        attributes: dict[str, Any] = {"db.system.name": "cassandra", "cassandra_asgi.call": kind}
        if namespace:
            attributes["db.namespace"] = namespace
        if operation:
            attributes["db.operation.name"] = operation
        if table:
            attributes["db.collection.name"] = table
        if self.statements and text is not None:
            attributes["db.query.text"] = text
        target = table or namespace
        name = f"{operation} {target}" if operation and target else operation or "cassandra"
        traced = TracedCall(self, name, attributes)
        if start:
            traced.start()
        return traced


class TracedCall:
    """One call's span, built up while the call runs and handed to the SDK when it ends.

    The start time and the caller's context are taken when the call starts; attributes and
    events (with their own timestamps) are gathered meanwhile, and the SDK span is created,
    given them all at once, and ended when the call ends. One span creation with every
    attribute is the cheapest use of the SDK (it validates attributes one by one, under a lock,
    each time they are set), and nothing that is left unfinished holds an SDK span. Loop
    thread only.
    """

    __slots__ = (
        "_attempts",
        "_context",
        "_ended",
        "_events",
        "_queued_at",
        "_retries",
        "_rows",
        "_start",
        "attributes",
        "name",
        "tracing",
    )

    def __init__(self, tracing: Tracing, name: str, attributes: dict[str, Any]) -> None:
        self.tracing = tracing
        self.name = name
        self.attributes = attributes
        self._start: int | None = None
        self._context: Context | None = None
        self._ended = False
        self._events: list[tuple[str, dict[str, Any], int]] | None = None
        self._queued_at: float | None = None
        #: The driver future's counters when this span's first page was sent (a page fetch
        #: reuses the future of the pages before it).
        self._attempts = 0
        self._retries = 0
        self._rows = 0

    @property
    def started(self) -> bool:
        return self._start is not None

    @property
    def is_stream(self) -> bool:
        """A stream's span: one for the whole read, an event per page."""
        return bool(self.attributes["cassandra_asgi.call"] == "stream")

    def start(self) -> None:
        """The call starts now, in the current context (the parent is its current span)."""
        self._context = self.tracing.current_context()
        self._start = _time_ns()

    def next_page(self, request: DriverRequest) -> TracedCall:
        """A started span for fetching the next page of the result this call returned."""
        attributes = {**self.attributes, "cassandra_asgi.call": "page"}
        for name in _PER_PAGE:
            attributes.pop(name, None)
        follow = TracedCall(self.tracing, self.name, attributes)
        future = request.response_future
        if future is not None:
            follow._attempts = len(future.attempted_hosts)
            follow._retries = _compat.query_retries(future)
        follow.start()
        return follow

    def _event(self, name: str, attributes: dict[str, Any]) -> None:
        if self._events is None:
            self._events = []
        self._events.append((name, attributes, _time_ns()))

    def queued(self) -> None:
        """The call is waiting for an in-flight slot (``max_in_flight`` were taken)."""
        self._queued_at = _perf_counter()
        self._event("cassandra_asgi.slot_wait", {})

    def admitted(self) -> None:
        """The slot it waited for is free: record how long the wait took."""
        queued_at, self._queued_at = self._queued_at, None
        if queued_at is not None:
            self.attributes["cassandra_asgi.slot_wait_seconds"] = _perf_counter() - queued_at

    def page_done(
        self, request: DriverRequest, host: Any, rows: int, error: BaseException | None
    ) -> None:
        """A page settled: who answered, at which consistency, after how many attempts."""
        if self._start is None or self._ended:
            return
        attributes = self.attributes
        if host is not None:
            attributes.update(self.tracing.coordinator(host))
        message = request.sent_message()
        if message is not None:
            consistency = _CONSISTENCY.get(getattr(message, "consistency_level", None))
            if consistency is not None:
                attributes["cassandra.consistency.level"] = consistency
            page_size = getattr(message, "fetch_size", None)
            if page_size:
                attributes["cassandra.page.size"] = page_size
        future = request.response_future
        if future is not None:
            attempts = len(future.attempted_hosts) - self._attempts
            retries = _compat.query_retries(future) - self._retries
            self._attempts += attempts
            self._retries += retries
            # Every send of a page is an attempt: the first, each retry, each speculative
            # one. Counts of 0 are left out, as the conventions allow (each attribute costs).
            speculative = self._attempts - self._pages_sent() - self._retries
            if speculative > 0:
                attributes["cassandra.speculative_execution.count"] = speculative
            if self._retries:
                attributes["cassandra_asgi.retry.count"] = self._retries
        if self.is_stream:  # returned rows are opt-in in the conventions: streams only
            self._rows += rows
            attributes["db.response.returned_rows"] = self._rows
            event: dict[str, Any] = {"db.response.returned_rows": rows}
            if host is not None:
                event["server.address"] = attributes["server.address"]
            if error is not None:
                event["error.type"] = _error_type(error)
            self._event(PAGE_EVENT, event)

    def _pages_sent(self) -> int:
        """Pages this span covers so far (a stream's every page; otherwise one)."""
        events = self._events
        if not self.is_stream or events is None:
            return 1
        return sum(1 for name, _, _ in events if name == PAGE_EVENT) + 1

    def end(self, error: BaseException | None = None, *, closed_early: bool = False) -> None:
        """End the span: with ERROR status and ``error.type`` if ``error``; ``cancelled`` for
        a caller that was cancelled (the request may still run on the server)."""
        if self._start is None or self._ended:
            return
        self._ended = True
        tracing = self.tracing
        attributes = self.attributes
        if closed_early:
            attributes["cassandra_asgi.stream.closed_early"] = True
        if self._queued_at is not None:  # the wait for a slot ended the call
            self.admitted()
        status = None
        if isinstance(error, asyncio.CancelledError):
            attributes["error.type"] = status = "cancelled"
        elif error is not None:
            # Only the type as the description: a server's message may quote values (inlined
            # into a statement the driver formatted with its parameters).
            attributes["error.type"] = status = _error_type(error)
            code = _status_code(error)
            if code is not None:
                attributes["db.response.status_code"] = code
            if isinstance(error, OperationTimedOut):
                attributes["cassandra_asgi.timed_out"] = True
        span = tracing.tracer.start_span(
            self.name,
            context=self._context,
            kind=tracing.client,
            attributes=attributes,
            start_time=self._start,
        )
        for name, event, timestamp in self._events or ():
            span.add_event(name, event, timestamp)
        if status is not None:
            span.set_status(tracing.error_status(status))
        span.end()


#: Attributes a page fetch learns afresh rather than inherits from the call before it.
_PER_PAGE = (
    "cassandra_asgi.slot_wait_seconds",
    "cassandra.speculative_execution.count",
    "cassandra_asgi.retry.count",
)


def tracing_for(config: CassandraConfig) -> Tracing | None:
    """The session's ``Tracing``, or ``None`` when nothing would record its spans."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = config.tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None  # no SDK configured (yet): spans would be dropped anyway
    tracer = provider.get_tracer(SCOPE, __version__)
    if isinstance(tracer, trace.NoOpTracer | trace.ProxyTracer):
        return None  # e.g. OTEL_SDK_DISABLED=true
    return Tracing(tracer, statements=config.trace_statements)
