"""Runs CQL requests against the store: QUERY, PREPARE/EXECUTE, BATCH, schema changes.

The engine is used from the server's event-loop thread only. It caches a plan per statement
text and keyspace and per prepared id, and throws plans away when the schema epoch moves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cassandra import ConsistencyLevel

from ..errors import Invalid, Unauthorized, Unprepared
from ..language import cql
from ..wire.frames import QueryParameters, Unset
from ..wire.results import (
    EMPTY_METADATA_ID,
    VOID,
    RowsMetadata,
    mark_metadata_changed,
    prepared_body,
    response_envelope,
    schema_change_body,
    schema_change_event,
    set_keyspace_body,
)
from .ddl import execute_ddl, named_keyspace
from .plans import Bound, Plan, WritePlan, lwt_result, new_bound, plan_statement
from .selects import SelectPlan
from .store import Store, Table
from .system import SystemTables, Trace

__all__ = ["Engine", "SessionState"]

Values = Sequence[bytes | Unset | None]
#: a cluster node's check before it runs a request: (statements with their values,
#: consistency, serial consistency, batch kind or None); raises the error to answer with
ConsistencyCheck = Callable[[list[tuple[Plan, Values]], int, int | None, str | None], None]


class SessionState:
    """Per-connection state: the keyspace chosen with USE, the client's address, and what the
    request being answered asked for (tracing) or produced (a trace id, client warnings).

    Requests of one connection are answered one at a time on the server's loop, so the
    per-request fields are set by ``begin_request`` and read back by ``response_envelope``.
    """

    __slots__ = ("client", "keyspace", "trace_id", "tracing", "warnings")

    def __init__(self, client: str = "127.0.0.1") -> None:
        self.keyspace: str | None = None
        self.client = client
        self.tracing = False
        self.trace_id: bytes | None = None
        self.warnings: list[str] | None = None

    def begin_request(self, tracing: bool) -> None:
        self.tracing = tracing
        if self.trace_id is not None or self.warnings is not None:
            self.trace_id = None
            self.warnings = None

    def warn(self, message: str) -> None:
        if self.warnings is None:
            self.warnings = []
        self.warnings.append(message)

    def response_envelope(self, body: bytes, protocol_version: int) -> tuple[int, bytes]:
        """Frame flags and body: the trace id and the warnings go in front of the result."""
        if self.trace_id is None and self.warnings is None:
            return 0, body
        return response_envelope(body, self.trace_id, self.warnings, protocol_version)


@dataclass(slots=True)
class _Prepared:
    text: str
    keyspace: str | None
    statement: cql.Statement
    plan: Plan | _BatchPlan | None
    epoch: int
    #: the result metadata id the PREPARED answer carried
    result_id: bytes = EMPTY_METADATA_ID


class _BatchPlan:
    """A ``BEGIN BATCH ... APPLY BATCH`` text: member plans sharing one marker numbering."""

    def __init__(self, members: list[Plan], bound: Bound, kind: str) -> None:
        self.members = members
        self.bound = bound
        self.kind = kind
        self.result: RowsMetadata | None = None
        first = members[0] if members else None
        self.pk_indexes = first.pk_indexes if first is not None else []
        self.table: Table | None = first.table if first is not None else None


class Engine:
    def __init__(self, address: str) -> None:
        self.store = Store()
        self.system = SystemTables(self.store, address)
        self.prepared: dict[bytes, _Prepared] = {}
        self._plans: dict[tuple[str, str | None], tuple[int, Plan | _BatchPlan]] = {}
        #: called with (SCHEMA_CHANGE event body) after each schema change
        self.schema_listeners: list[Callable[[bytes], None]] = []
        #: set on the nodes of a cluster (a lone node meets every consistency level)
        self.coordinator: ConsistencyCheck | None = None

    # --- entry points --------------------------------------------------------------------

    def query(self, text: str, params: QueryParameters, session: SessionState) -> bytes:
        trace = self._start_trace(session)
        if trace is not None:
            trace.event(f"Parsing {text}")
        stmt = cql.parse(text)
        if isinstance(stmt, cql.Select | cql.Insert | cql.Update | cql.Delete | cql.Batch):
            plan = self._cached_plan(text, stmt, session.keyspace)
            values = _order_values(plan.bound, stmt.marker_count, params)
            body = self._run(plan, values, params, session, trace)
        elif stmt.marker_count:
            raise Invalid("Bind markers are not allowed in this statement")
        else:
            body = self._schema_statement(stmt, session)
        if trace is not None:
            self._finish_trace(trace, session, "QUERY", "Execute CQL3 query", text, params)
        return body

    def prepare(self, text: str, session: SessionState, protocol_version: int) -> bytes:
        trace = self._start_trace(session)
        body = self._prepare(text, session, protocol_version)
        if trace is not None:
            trace.event(f"Preparing {text}")
            self._finish_trace(trace, session, "PREPARE", "Preparing CQL3 query", text, None)
        return body

    def _prepare(self, text: str, session: SessionState, protocol_version: int) -> bytes:
        stmt = cql.parse(text)
        statement_id = hashlib.md5(((session.keyspace or "") + text).encode("utf-8")).digest()
        plan: Plan | _BatchPlan | None = None
        if isinstance(stmt, cql.Select | cql.Insert | cql.Update | cql.Delete | cql.Batch):
            plan = self._cached_plan(text, stmt, session.keyspace)
        entry = _Prepared(text, session.keyspace, stmt, plan, self.store.schema_epoch)
        if plan is not None and plan.result is not None:
            entry.result_id = plan.result.metadata_id
        self.prepared[statement_id] = entry
        if plan is None:
            return prepared_body(statement_id, [], [], None, protocol_version)
        specs = [spec for spec in plan.bound.specs if spec is not None]
        return prepared_body(statement_id, specs, plan.pk_indexes, plan.result, protocol_version)

    def execute(self, statement_id: bytes, params: QueryParameters, session: SessionState) -> bytes:
        entry = self.prepared.get(statement_id)
        if entry is None:
            raise Unprepared(statement_id)
        trace = self._start_trace(session) if session.tracing else None
        plan = entry.plan
        if plan is None:
            body = self._schema_statement(entry.statement, session)
        else:
            if entry.epoch != self.store.schema_epoch:
                plan = entry.plan = self._cached_plan(entry.text, entry.statement, entry.keyspace)
                entry.epoch = self.store.schema_epoch
            marker_count = entry.statement.marker_count
            values = (
                params.values
                if params.names is None
                else _order_values(plan.bound, marker_count, params)
            )
            if len(values) != marker_count:
                raise Invalid(
                    f"There were {marker_count} markers(?) in CQL but {len(values)} bound variables"
                )
            changed = self._stale_metadata(entry, plan, params)
            if (
                trace is None
                and self.coordinator is None
                and isinstance(plan, Plan)
                and plan.quick
                and params.consistency
            ):
                # the common case, run directly (consistency ANY, 0, has checks in _run)
                body = plan.run(
                    values,
                    params.page_size,
                    params.paging_state,
                    params.skip_metadata,
                    params.timestamp,
                    params.now_in_seconds,
                )
            else:
                body = self._run(plan, values, params, session, trace)
            if changed is not None:
                body = mark_metadata_changed(body, changed)
        if trace is not None:
            request = "Execute CQL3 prepared query"
            self._finish_trace(trace, session, "EXECUTE", request, entry.text, params)
        return body

    @staticmethod
    def _stale_metadata(
        entry: _Prepared, plan: Plan | _BatchPlan, params: QueryParameters
    ) -> RowsMetadata | None:
        """Like Cassandra: skip the metadata only while the client's copy is still right.

        A v5 client names its copy (result_metadata_id) and a stale one is answered with the
        full metadata, the Metadata_changed flag and the new id (returned here); a v4 client
        relies on what PREPARE answered, and gets the full metadata once it changed.
        """
        result = plan.result
        if result is None or (not params.skip_metadata and params.result_metadata_id is None):
            return None
        known = params.result_metadata_id or entry.result_id
        if known == result.metadata_id:
            return None
        params.skip_metadata = False
        return result if params.result_metadata_id is not None else None

    def statement_text(self, statement_id: bytes) -> str | None:
        entry = self.prepared.get(statement_id)
        return entry.text if entry is not None else None

    def batch(
        self,
        members: list[tuple[str | bytes, list[bytes | Unset | None]]],
        session: SessionState,
        kind: str = "LOGGED",
        params: QueryParameters | None = None,
    ) -> bytes:
        """Run a BATCH message (``kind`` LOGGED, UNLOGGED or COUNTER); members are
        (query text or prepared id, values); ``params`` carries its consistency levels."""
        trace = self._start_trace(session)
        plans: list[tuple[Plan, Values]] = []
        for target, values in members:
            if isinstance(target, bytes):
                entry = self.prepared.get(target)
                if entry is None:
                    raise Unprepared(target)
                text, keyspace, stmt = entry.text, entry.keyspace, entry.statement
            else:
                text, keyspace, stmt = target, session.keyspace, cql.parse(target)
            if not isinstance(stmt, cql.Insert | cql.Update | cql.Delete):
                raise Invalid(
                    "Invalid statement in batch: only UPDATE, INSERT and DELETE statements "
                    "are allowed."
                )
            plan = self._cached_plan(text, stmt, keyspace)
            assert isinstance(plan, Plan)
            if len(values) != stmt.marker_count:
                raise Invalid(
                    f"There were {stmt.marker_count} markers(?) in CQL but {len(values)} "
                    "bound variables"
                )
            plans.append((plan, values))
        _check_batch_kind(kind, [plan for plan, _ in plans])
        _check_batch_size(kind, plans, session)
        levels = params or QueryParameters()
        if self.coordinator is not None and plans:
            self.coordinator(plans, levels.consistency, levels.serial_consistency, kind)
        body = _run_batch(plans, levels.timestamp, levels.now_in_seconds)
        if trace is not None:
            _trace_writes(trace, [plan for plan, _ in plans])
            self._finish_trace(trace, session, "BATCH", "Execute batch of CQL3 queries", None, None)
        return body

    # --- tracing -------------------------------------------------------------------------

    def _start_trace(self, session: SessionState) -> Trace | None:
        if not session.tracing:
            return None
        trace = Trace()
        session.trace_id = trace.session_id.bytes
        return trace

    def _finish_trace(
        self,
        trace: Trace,
        session: SessionState,
        command: str,
        request: str,
        query: str | None,
        params: QueryParameters | None,
    ) -> None:
        parameters = {}
        if params is not None:
            parameters["consistency_level"] = _CONSISTENCY_NAMES.get(params.consistency, "ONE")
            if params.page_size > 0:
                parameters["page_size"] = str(params.page_size)
            if params.serial_consistency is not None:
                parameters["serial_consistency_level"] = _CONSISTENCY_NAMES.get(
                    params.serial_consistency, "SERIAL"
                )
        if query is not None:
            parameters["query"] = query
        self.system.record_trace(trace, session.client, command, request, parameters)

    # --- planning ------------------------------------------------------------------------

    def _cached_plan(
        self, text: str, stmt: cql.Statement, keyspace: str | None
    ) -> Plan | _BatchPlan:
        key = (text, keyspace)
        cached = self._plans.get(key)
        epoch = self.store.schema_epoch
        if cached is not None and cached[0] == epoch:
            return cached[1]
        bound = new_bound(stmt.marker_count)
        plan: Plan | _BatchPlan
        if isinstance(stmt, cql.Batch):
            plan = _BatchPlan(
                [self._plan_one(member, keyspace, bound) for member in stmt.statements],
                bound,
                stmt.kind,
            )
            _check_batch_kind(stmt.kind, plan.members)
        else:
            plan = self._plan_one(stmt, keyspace, bound)
        missing = [index for index, spec in enumerate(bound.specs) if spec is None]
        if missing:
            raise cql.Unsupported(f"a bind marker in that position (marker #{missing[0] + 1})")
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[key] = (epoch, plan)
        return plan

    def _plan_one(self, stmt: cql.Statement, keyspace: str | None, bound: Bound) -> Plan:
        assert isinstance(stmt, cql.Select | cql.Insert | cql.Update | cql.Delete)
        table_name = stmt.table
        ks_name = stmt.keyspace or keyspace
        table = self._table(ks_name, table_name)
        return plan_statement(stmt, table, bound)

    def _table(self, keyspace: str | None, name: str) -> Table:
        keyspace = named_keyspace(keyspace)
        ks = self.store.keyspaces.get(keyspace)
        if ks is None:
            raise Invalid(f"keyspace {keyspace} does not exist")
        table = ks.tables.get(name)
        if table is None:
            raise Invalid(f"table {name} does not exist")
        return table

    def _run(
        self,
        plan: Plan | _BatchPlan,
        values: Values,
        params: QueryParameters,
        session: SessionState,
        trace: Trace | None,
    ) -> bytes:
        if self.coordinator is not None:
            statements = plan.members if isinstance(plan, _BatchPlan) else [plan]
            self.coordinator(
                [(member, values) for member in statements],
                params.consistency,
                params.serial_consistency,
                plan.kind if isinstance(plan, _BatchPlan) else None,
            )
        if (
            trace is None
            and not isinstance(plan, _BatchPlan)
            and plan.quick
            and params.consistency != ConsistencyLevel.ANY
        ):
            return plan.run(
                values,
                params.page_size,
                params.paging_state,
                params.skip_metadata,
                params.timestamp,
                params.now_in_seconds,
            )
        if isinstance(plan, _BatchPlan):
            members = [(member, values) for member in plan.members]
            _check_batch_size(plan.kind, members, session)
            body = _run_batch(members, params.timestamp, params.now_in_seconds)
            if trace is not None:
                _trace_writes(trace, plan.members)
            return body
        if isinstance(plan, SelectPlan):
            if params.consistency == ConsistencyLevel.ANY:
                raise Invalid("ANY ConsistencyLevel is only supported for writes")
            if plan.count:
                _warn_aggregate(plan, session)
            if trace is not None:
                _trace_read(trace, plan)
        elif trace is not None:
            _trace_writes(trace, [plan])
        page_size = params.page_size
        return plan.run(
            values,
            page_size,
            params.paging_state,
            params.skip_metadata,
            params.timestamp,
            params.now_in_seconds,
        )

    # --- schema statements ---------------------------------------------------------------

    def _schema_statement(self, stmt: cql.Statement, session: SessionState) -> bytes:
        if isinstance(stmt, cql.Use):
            if stmt.keyspace not in self.store.keyspaces:
                raise Invalid(f"Keyspace '{stmt.keyspace}' does not exist")
            session.keyspace = stmt.keyspace
            return set_keyspace_body(stmt.keyspace)
        if isinstance(stmt, cql.Truncate):
            table = self._table(stmt.keyspace or session.keyspace, stmt.name)
            if table.read_only:
                raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable")
            table.truncate()
            return VOID
        change = execute_ddl(self.store, stmt, session.keyspace)
        if change is None:
            return VOID
        if change.invalidates is not None:
            self._forget_prepared(*change.invalidates)
        return self._schema_changed(change.change, change.target, change.keyspace, change.name)

    def _forget_prepared(self, keyspace: str, table: str | None) -> None:
        """Like Cassandra, dropping or altering a table invalidates its prepared statements:
        the driver gets Unprepared and re-prepares, learning the new result metadata."""
        for statement_id, entry in list(self.prepared.items()):
            plan = entry.plan
            target = plan.table if plan is not None else None
            if (
                target is not None
                and target.keyspace == keyspace
                and (table is None or target.name == table)
            ):
                del self.prepared[statement_id]

    def _schema_changed(self, change: str, target: str, keyspace: str, name: str | None) -> bytes:
        self.system.schema_changed()
        self._plans.clear()
        event = schema_change_event(change, target, keyspace, name)
        for listener in list(self.schema_listeners):
            listener(event)
        return schema_change_body(change, target, keyspace, name)


def _order_values(bound: Bound, count: int, params: QueryParameters) -> Values:
    values = params.values
    if params.names is not None:
        by_name = dict(zip(params.names, values, strict=True))
        ordered: list[bytes | Unset | None] = []
        for index in range(count):
            spec = bound.specs[index]
            name = bound.names[index] or (spec.name if spec is not None else "")
            if name not in by_name:
                raise Invalid(f"Missing value for bind variable {name}")
            ordered.append(by_name[name])
        return ordered
    if len(values) != count:
        raise Invalid(f"There were {count} markers(?) in CQL but {len(values)} bound variables")
    return values


#: cassandra.yaml defaults: batch_size_warn_threshold_in_kb, batch_size_fail_threshold_in_kb,
#: unlogged_batch_across_partitions_warn_threshold
BATCH_SIZE_WARN_THRESHOLD = 5 * 1024
BATCH_SIZE_FAIL_THRESHOLD = 50 * 1024
UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD = 10
_CONSISTENCY_NAMES = {code: name for name, code in ConsistencyLevel.name_to_value.items()}


def _check_batch_size(
    kind: str, plans: Sequence[tuple[Plan, Values]], session: SessionState
) -> None:
    """Cassandra's batch guards: a warning past 5 KiB of data (an error past 50 KiB) for a
    batch spanning several partitions, and one for an unlogged batch over many partitions."""
    writes = [(p, v) for p, v in plans if isinstance(p, WritePlan)]
    partitions = {
        (p.table.keyspace, key) for p, v in writes if p.table for key in p.partition_keys(v)
    }
    tables = sorted({f"{p.table.keyspace}.{p.table.name}" for p, _ in writes if p.table})
    names = "[" + ", ".join(tables) + "]"
    if len(partitions) > 1:
        size = sum(p.data_size(v) for p, v in writes)
        if size > BATCH_SIZE_FAIL_THRESHOLD:
            raise Invalid("Batch too large")
        if size > BATCH_SIZE_WARN_THRESHOLD:
            session.warn(
                f"Batch for {names} is of size {size}, exceeding specified threshold of "
                f"{BATCH_SIZE_WARN_THRESHOLD} by {size - BATCH_SIZE_WARN_THRESHOLD}."
            )
    if kind == "UNLOGGED" and len(partitions) > UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD:
        plural = "s" if len(tables) > 1 else ""
        session.warn(
            f"Unlogged batch covering {len(partitions)} partitions detected against table"
            f"{plural} {names}. You should use a logged batch for atomicity, or asynchronous "
            "writes for performance."
        )


def _warn_aggregate(plan: SelectPlan, session: SessionState) -> None:
    if not plan.where.partition:
        session.warn("Aggregation query used without partition key")
    elif not plan.where.single_partition:
        session.warn("Aggregation query used on multiple partition keys (IN restriction)")


def _trace_read(trace: Trace, plan: SelectPlan) -> None:
    table = plan.table
    assert table is not None
    if plan.where.single_partition:
        trace.event(f"Executing single-partition query on {table.name}")
        trace.event("Acquiring sstable references")
        trace.event("Merged data from memtables and 0 sstables")
    else:
        trace.event("Computing ranges to query")
        trace.event("Submitting range requests on 1 ranges with a concurrency of 1")
    trace.event("Read rows from the in-memory store")


def _trace_writes(trace: Trace, plans: Sequence[Plan]) -> None:
    trace.event("Determining replicas for mutation")
    for table in dict.fromkeys(p.table.name for p in plans if p.table is not None):
        trace.event(f"Adding to {table} memtable")


def _check_batch_kind(kind: str, members: Sequence[Plan]) -> None:
    """Cassandra's rules: counter updates go in COUNTER (or UNLOGGED) batches, alone."""
    counters = [isinstance(p, WritePlan) and p.counter for p in members]
    if kind == "COUNTER" and not all(counters):
        raise Invalid("Cannot include non-counter statement in a counter batch")
    if kind == "LOGGED" and any(counters):
        raise Invalid("Cannot include a counter statement in a logged batch")
    if any(counters) and not all(counters):
        raise Invalid("Counter and non-counter mutations cannot exist in the same batch")


def _run_batch(
    plans: list[tuple[Plan, Values]], timestamp: int | None = None, now: float | None = None
) -> bytes:
    conditional = [(p, v) for p, v in plans if isinstance(p, WritePlan) and p.conditional]
    if not conditional:
        for plan, values in plans:
            plan.run(values, -1, None, False, timestamp, now)
        return VOID
    clock = time.time()
    if now is None:
        now = clock
    tables = {id(p.table) for p, _ in plans}
    if len(tables) != 1:
        raise Invalid("Batch with conditions cannot span multiple tables")
    keys = set()
    for plan, values in plans:
        assert isinstance(plan, WritePlan)
        keys.update(plan.partition_keys(values))
    if len(keys) != 1:
        raise Invalid("Batch with conditions cannot span multiple partitions")
    first_plan, _ = conditional[0]
    for plan, values in conditional:
        applied, columns, current = plan.check(values, now)
        if not applied:
            return lwt_result(first_plan.table, False, columns, current)
    for plan, values in plans:
        assert isinstance(plan, WritePlan)
        plan.apply(values, now, plan.write_timestamp(values, clock, timestamp))
    return lwt_result(first_plan.table, True, [], [])
