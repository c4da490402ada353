"""Runs CQL requests against the store: QUERY, PREPARE/EXECUTE, BATCH, schema changes.

The engine is used from the server's event-loop thread only. It caches a plan per statement
text and keyspace and per prepared id, and throws plans away when the schema epoch moves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import Invalid, Unauthorized, Unprepared
from ..language import cql
from ..wire.frames import QueryParameters, Unset
from ..wire.results import (
    VOID,
    RowsMetadata,
    prepared_body,
    schema_change_body,
    schema_change_event,
    set_keyspace_body,
)
from .ddl import execute_ddl, named_keyspace
from .plans import Bound, Plan, WritePlan, lwt_result, new_bound, plan_statement
from .store import Store, Table
from .system import SystemTables

__all__ = ["Engine", "SessionState"]

Values = Sequence[bytes | Unset | None]


class SessionState:
    """Per-connection state: the keyspace chosen with USE."""

    __slots__ = ("keyspace",)

    def __init__(self) -> None:
        self.keyspace: str | None = None


@dataclass(slots=True)
class _Prepared:
    text: str
    keyspace: str | None
    statement: cql.Statement
    plan: Plan | _BatchPlan | None
    epoch: int


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

    # --- entry points --------------------------------------------------------------------

    def query(self, text: str, params: QueryParameters, session: SessionState) -> bytes:
        stmt = cql.parse(text)
        if isinstance(stmt, cql.Select | cql.Insert | cql.Update | cql.Delete | cql.Batch):
            plan = self._cached_plan(text, stmt, session.keyspace)
            values = _order_values(plan.bound, stmt.marker_count, params)
            return self._run(plan, values, params)
        if stmt.marker_count:
            raise Invalid("Bind markers are not allowed in this statement")
        return self._schema_statement(stmt, session)

    def prepare(self, text: str, session: SessionState, protocol_version: int) -> bytes:
        stmt = cql.parse(text)
        statement_id = hashlib.md5(((session.keyspace or "") + text).encode("utf-8")).digest()
        plan: Plan | _BatchPlan | None = None
        if isinstance(stmt, cql.Select | cql.Insert | cql.Update | cql.Delete | cql.Batch):
            plan = self._cached_plan(text, stmt, session.keyspace)
        entry = _Prepared(text, session.keyspace, stmt, plan, self.store.schema_epoch)
        self.prepared[statement_id] = entry
        if plan is None:
            return prepared_body(statement_id, [], [], None, protocol_version)
        specs = [spec for spec in plan.bound.specs if spec is not None]
        return prepared_body(statement_id, specs, plan.pk_indexes, plan.result, protocol_version)

    def execute(self, statement_id: bytes, params: QueryParameters, session: SessionState) -> bytes:
        entry = self.prepared.get(statement_id)
        if entry is None:
            raise Unprepared(statement_id)
        plan = entry.plan
        if plan is None:
            return self._schema_statement(entry.statement, session)
        if entry.epoch != self.store.schema_epoch:
            plan = entry.plan = self._cached_plan(entry.text, entry.statement, entry.keyspace)
            entry.epoch = self.store.schema_epoch
        values = (
            params.values
            if params.names is None
            else _order_values(plan.bound, entry.statement.marker_count, params)
        )
        if len(values) != entry.statement.marker_count:
            raise Invalid(
                f"There were {entry.statement.marker_count} markers(?) in CQL but "
                f"{len(values)} bound variables"
            )
        return self._run(plan, values, params)

    def statement_text(self, statement_id: bytes) -> str | None:
        entry = self.prepared.get(statement_id)
        return entry.text if entry is not None else None

    def batch(
        self,
        members: list[tuple[str | bytes, list[bytes | Unset | None]]],
        session: SessionState,
        kind: str = "LOGGED",
    ) -> bytes:
        """Run a BATCH message (``kind`` LOGGED, UNLOGGED or COUNTER); members are
        (query text or prepared id, values)."""
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
        return _run_batch(plans)

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
            raise Invalid(f"Keyspace {keyspace} does not exist")
        table = ks.tables.get(name)
        if table is None:
            raise Invalid(f"unconfigured table {name}")
        return table

    def _run(self, plan: Plan | _BatchPlan, values: Values, params: QueryParameters) -> bytes:
        if isinstance(plan, _BatchPlan):
            return _run_batch([(member, values) for member in plan.members], params.timestamp)
        page_size = params.page_size
        return plan.run(
            values, page_size, params.paging_state, params.skip_metadata, params.timestamp
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


def _check_batch_kind(kind: str, members: Sequence[Plan]) -> None:
    """Cassandra's rules: counter updates go in COUNTER (or UNLOGGED) batches, alone."""
    counters = [isinstance(p, WritePlan) and p.counter for p in members]
    if kind == "COUNTER" and not all(counters):
        raise Invalid("Cannot include non-counter statement in a counter batch")
    if kind == "LOGGED" and any(counters):
        raise Invalid("Cannot include a counter statement in a logged batch")
    if any(counters) and not all(counters):
        raise Invalid("Counter and non-counter mutations cannot exist in the same batch")


def _run_batch(plans: list[tuple[Plan, Values]], timestamp: int | None = None) -> bytes:
    conditional = [(p, v) for p, v in plans if isinstance(p, WritePlan) and p.conditional]
    if not conditional:
        for plan, values in plans:
            plan.run(values, -1, None, False, timestamp)
        return VOID
    now = time.time()
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
        plan.apply(values, now, plan.write_timestamp(values, now, timestamp))
    return lwt_result(first_plan.table, True, [], [])
