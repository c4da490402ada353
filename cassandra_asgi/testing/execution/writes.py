"""INSERT, UPDATE and DELETE plans, TTLs, collection updates and lightweight transactions."""

from __future__ import annotations

import struct
import time
from typing import Any

from cassandra import cqltypes

from ..errors import Invalid, Unauthorized
from ..language import cql
from ..language.types import (
    PROTOCOL_VERSION,
    LiteralError,
    is_collection,
    is_frozen,
    is_udt,
    join_fields,
    normalize_collection,
    split_fields,
    validate_value,
)
from ..wire.frames import UNSET, Unset
from ..wire.results import VOID, ColumnSpec, RowsMetadata, rows_body
from .binding import (
    Bind,
    Bound,
    Const,
    InSource,
    Plan,
    Planner,
    Source,
    Values,
    cell_value,
    compare_values,
    int_value,
    required_value,
)
from .functions import from_json, json_field_name, parse_json
from .store import Column, Table, routing_key
from .where import pk_indexes, plan_where

__all__ = ["DeletePlan", "InsertPlan", "UpdatePlan", "WritePlan", "lwt_result"]

_INT = struct.Struct(">i")
_BIGINT = struct.Struct(">q")
_BOOL_TYPE = cqltypes.BooleanType
_TEXT_TYPE = cqltypes.VarcharType
_INT_TYPE = cqltypes.Int32Type
_BIGINT_TYPE = cqltypes.LongType
_TRUE = b"\x01"
_FALSE = b"\x00"


# --- writes ------------------------------------------------------------------------------


class WritePlan(Plan):
    """INSERT, UPDATE and DELETE share key resolution, TTLs and lightweight transactions."""

    conditional = False
    #: a write to a counter table (counter batches accept only these)
    counter = False

    #: USING TIMESTAMP, when the statement gives one
    timestamp: Source | None = None

    def apply(self, values: Values, now: float, timestamp: int) -> None:
        raise NotImplementedError

    def write_timestamp(self, values: Values, clock: float, default: int | None) -> int:
        """USING TIMESTAMP, else the client's default timestamp, else the server's ``clock``
        (in us: a NOW_IN_SECONDS moves TTLs, never write times, as in Cassandra)."""
        if self.timestamp is not None:
            raw = self.timestamp.get(values)
            if isinstance(raw, bytes) and len(raw) == 8:
                return int(_BIGINT.unpack(raw)[0])
        if default is not None:
            return default
        return int(clock * 1_000_000)

    def partition_keys(self, values: Values) -> list[bytes]:
        """Serialized keys of the partitions written (a conditional batch needs just one)."""
        raise NotImplementedError

    #: where the written values come from (keys and cells), for data_size
    value_sources: list[Source]

    def data_size(self, values: Values) -> int:
        """About the size Cassandra counts for the batch size guard: the key and cell bytes,
        plus 8 bytes of timestamp for each cell and for the row."""
        size = 8
        for source in self.value_sources:
            value = source.get(values)
            if isinstance(value, bytes):
                size += len(value) + 8
        return size

    def check(
        self, values: Values, now: float
    ) -> tuple[bool, list[ColumnSpec], list[bytes | None]]:
        """Evaluate the IF clause: (applied, columns to report, their current values)."""
        return True, [], []

    def run(
        self,
        values: Values,
        page_size: int,
        paging_state: bytes | None,
        skip_metadata: bool,
        timestamp: int | None = None,
        now: float | None = None,
    ) -> bytes:
        clock = time.time()
        if now is None:
            now = clock
        if not self.conditional:
            self.apply(values, now, self.write_timestamp(values, clock, timestamp))
            return VOID
        applied, columns, current = self.check(values, now)
        if applied:
            self.apply(values, now, self.write_timestamp(values, clock, timestamp))
        return lwt_result(self.table, applied, columns, current)


def lwt_result(
    table: Table | None, applied: bool, columns: list[ColumnSpec], current: list[bytes | None]
) -> bytes:
    assert table is not None
    specs = [ColumnSpec(table.keyspace, table.name, "[applied]", _BOOL_TYPE), *columns]
    row: list[bytes | None] = [_TRUE if applied else _FALSE, *current]
    return rows_body(RowsMetadata(specs), [row])


def _check_writable(table: Table) -> None:
    if table.read_only:
        raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable")


def _validated(column: Column, value: bytes | None) -> bytes | None:
    if value is None:
        return None
    try:
        validate_value(column.cql_type, value)
    except LiteralError:
        raise Invalid(
            f"Invalid value for column {column.name} of type {column.type_text}"
        ) from None
    if is_collection(column.cql_type):
        return normalize_collection(column.cql_type, value)
    return value


def _check_counter_write(table: Table, ttl: cql.Term | None, timestamp: cql.Term | None) -> None:
    if not table.is_counter:
        return
    if ttl is not None:
        raise Invalid("Cannot provide custom TTL for counter updates")
    if timestamp is not None:
        raise Invalid("Cannot provide custom timestamp for counter updates")


def _ttl_deadline(ttl: int | None, now: float, table: Table | None = None) -> float | None:
    if ttl is None and table is not None:
        ttl = table.default_ttl
    if ttl is None or ttl == 0:
        return None
    if ttl < 0:
        raise Invalid(f"A TTL must be greater or equal to 0, but was {ttl}")
    if ttl > 630720000:
        raise Invalid(f"ttl is too large. requested ({ttl}) maximum (630720000)")
    return now + ttl


class _JsonDocument:
    """The JSON text of an INSERT JSON, parsed once per execution into column values."""

    __slots__ = ("_last", "_parsed", "default_unset", "source", "table")

    def __init__(self, table: Table, source: Source, default_unset: bool) -> None:
        self.table = table
        self.source = source
        self.default_unset = default_unset
        self._last: bytes | None = None
        self._parsed: dict[str, bytes | None] = {}

    def fields(self, values: Values) -> dict[str, bytes | None]:
        raw = self.source.get(values)
        if not isinstance(raw, bytes):
            raise Invalid("Got null for INSERT JSON values")
        if raw is not self._last:
            document = parse_json(raw.decode("utf-8"))
            if not isinstance(document, dict):
                raise Invalid("Could not decode JSON string as a map: not a JSON object")
            parsed: dict[str, bytes | None] = {}
            for key, value in document.items():
                name = json_field_name(key)
                column = self.table.columns.get(name)
                if column is None:
                    raise Invalid(f"JSON values map contains unrecognized column: {name}")
                parsed[name] = from_json(column.cql_type, value, f"column {name}")
            self._last, self._parsed = raw, parsed
        return self._parsed


class _JsonField(Source):
    """One column's value taken from an INSERT JSON document (null or unset when missing)."""

    __slots__ = ("column", "document")

    def __init__(self, document: _JsonDocument, column: Column) -> None:
        self.document = document
        self.column = column

    def get(self, values: Values) -> bytes | Unset | None:
        fields = self.document.fields(values)
        if self.column.name in fields:
            return fields[self.column.name]
        return UNSET if self.document.default_unset else None


class InsertPlan(WritePlan):
    def __init__(self, table: Table, stmt: cql.Insert, bound: Bound) -> None:
        _check_writable(table)
        if table.is_counter:
            raise Invalid("INSERT statements are not allowed on counter tables, use UPDATE instead")
        self.table = table
        self.bound = bound
        planner = Planner(table, bound)
        self.assigned: list[tuple[Column, Source]] = []
        if stmt.json is not None:
            document = _JsonDocument(
                table, planner.source(stmt.json, _TEXT_TYPE, "[json]"), stmt.json_default_unset
            )
            self.assigned = [(c, _JsonField(document, c)) for c in table.columns.values()]
        seen = set()
        for name, term in zip(stmt.columns, stmt.values, strict=True):
            column = planner.column(name)
            if name in seen:
                raise Invalid(f"Multiple definitions found for column {name}")
            seen.add(name)
            self.assigned.append((column, planner.source(term, column.cql_type, name)))
        by_name = {c.name: s for c, s in self.assigned}
        missing = [c.name for c in table.partition_key if c.name not in by_name]
        if missing:
            raise Invalid(f"Some partition key parts are missing: {', '.join(missing)}")
        missing = [c.name for c in table.clustering if c.name not in by_name]
        if missing:
            raise Invalid(f"Some clustering keys are missing: {', '.join(missing)}")
        self.pk_sources = [by_name[c.name] for c in table.partition_key]
        self.ck_sources = [by_name[c.name] for c in table.clustering]
        self.cells = [(c, s) for c, s in self.assigned if c.kind in ("regular", "static")]
        self.value_sources = [s for _, s in self.assigned]
        self.ttl = planner.int_source(stmt.ttl, "[ttl]")
        if stmt.timestamp is not None:
            self.timestamp = planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")
        self.conditional = stmt.if_not_exists
        self.pk_indexes = [s.index for s in self.pk_sources if isinstance(s, Bind)]
        if len(self.pk_indexes) != len(self.pk_sources):
            self.pk_indexes = []

    def partition_keys(self, values: Values) -> list[bytes]:
        return [routing_key(self._key(values)[0])]

    def _key(self, values: Values) -> tuple[list[bytes], tuple[bytes, ...]]:
        assert self.table is not None
        parts = [
            required_value(s.get(values), c.name)
            for c, s in zip(self.table.partition_key, self.pk_sources, strict=True)
        ]
        ck = tuple(
            required_value(s.get(values), c.name)
            for c, s in zip(self.table.clustering, self.ck_sources, strict=True)
        )
        return parts, ck

    def check(
        self, values: Values, now: float
    ) -> tuple[bool, list[ColumnSpec], list[bytes | None]]:
        table = self.table
        assert table is not None
        parts, ck = self._key(values)
        partition = table.partition(parts, create=False)
        row = partition.rows.get(ck) if partition is not None else None
        if partition is None or row is None or not row.is_live(now):
            return True, [], []
        columns = table.star_columns
        specs = [ColumnSpec(table.keyspace, table.name, c.name, c.cql_type) for c in columns]
        return False, specs, [cell_value(c, partition, ck, row, now) for c in columns]

    def apply(self, values: Values, now: float, timestamp: int) -> None:
        table = self.table
        assert table is not None
        parts, ck = self._key(values)
        deadline = _ttl_deadline(int_value(self.ttl, values, "TTL"), now, table)
        updates = []
        for column, source in self.cells:
            value = source.get(values)
            if isinstance(value, Unset):
                continue
            updates.append((column, _validated(column, value)))
        for part, column in zip(parts, table.partition_key, strict=True):
            _validated(column, part)
        for part, column in zip(ck, table.clustering, strict=True):
            _validated(column, part)
        partition = table.partition(parts, create=True)
        assert partition is not None
        row = partition.add_row(ck, table)
        row.marker = True
        row.marker_expiry = deadline
        for column, value in updates:
            target = partition.static if column.kind == "static" else row
            target.set_cell(column.name, value, deadline, timestamp)
        table.cleanup(partition, [ck], now)


class _KeyedWrite(WritePlan):
    """UPDATE and DELETE: rows addressed by a WHERE clause, with IF conditions."""

    def __init__(
        self,
        table: Table,
        where: list[cql.Relation],
        conditions: list[cql.Condition],
        if_exists: bool,
        bound: Bound,
        *,
        ranges_ok: bool,
    ) -> None:
        _check_writable(table)
        self.table = table
        self.bound = bound
        self.planner = Planner(table, bound)
        self.where = plan_where(self.planner, where, allow_filtering=False, for_write=True)
        full_key = (
            len(self.where.clustering_eq) == len(table.clustering) and self.where.range_position < 0
        )
        if not ranges_ok and not full_key:
            missing = [c.name for c in table.clustering[len(self.where.clustering_eq) :]]
            raise Invalid(f"Some clustering keys are missing: {', '.join(missing)}")
        self.full_key = full_key
        self.if_exists = if_exists
        self.conditions: list[tuple[Column, str, Source | InSource]] = []
        for condition in conditions:
            column = self.planner.column(condition.column)
            if column.kind in ("partition_key", "clustering"):
                raise Invalid(f"PRIMARY KEY column '{column.name}' cannot have IF conditions")
            if condition.op not in ("=", "!=", "IN") and column.cql_type.typename == "duration":
                raise Invalid("Slice conditions are not supported on durations")
            if condition.op == "IN":
                self.conditions.append((column, "IN", self.planner.in_source(condition, column)))
            else:
                assert condition.term is not None
                self.conditions.append(
                    (
                        column,
                        condition.op,
                        self.planner.source(condition.term, column.cql_type, column.name),
                    )
                )
        self.conditional = if_exists or bool(conditions)
        self.counter = table.is_counter
        if self.conditional and table.is_counter:
            raise Invalid("Conditional updates are not supported on counter tables")
        if self.conditional and (
            not self.where.single_partition
            or not full_key
            or any(isinstance(s, InSource) for s in self.where.clustering_eq)
        ):
            raise Invalid(
                "IN on the clustering key columns or ranges are not supported with "
                "conditional updates"
            )
        self.pk_indexes = pk_indexes(self.where, table)
        self.value_sources = [
            s for s in [*self.where.partition, *self.where.clustering_eq] if isinstance(s, Source)
        ]

    def partition_keys(self, values: Values) -> list[bytes]:
        assert self.table is not None
        return [routing_key(parts) for parts in self.where.partition_keys(values, self.table)]

    def targets(self, values: Values) -> list[tuple[list[bytes], list[tuple[bytes, ...]] | None]]:
        table = self.table
        assert table is not None
        keys = self.where.partition_keys(values, table)
        if self.full_key:
            cks = self.where.clustering_prefixes(values, table)
            return [(parts, cks) for parts in keys]
        return [(parts, None) for parts in keys]

    def check(
        self, values: Values, now: float
    ) -> tuple[bool, list[ColumnSpec], list[bytes | None]]:
        table = self.table
        assert table is not None
        ((parts, cks),) = self.targets(values)
        partition = table.partition(parts, create=False)
        ck = cks[0] if cks else ()
        row = partition.rows.get(ck) if partition is not None else None
        exists = row is not None and row.is_live(now)
        if self.if_exists:
            if exists:
                return True, [], []
            return False, [], []
        applied = True
        reported: list[Column] = []
        for column, op, source in self.conditions:
            actual = cell_value(column, partition, ck, row, now) if partition is not None else None
            if column not in reported:
                reported.append(column)
            if isinstance(source, InSource):
                ok = actual in source.get_all(values, column.name)
            else:
                expected = source.get(values)
                if isinstance(expected, Unset):
                    raise Invalid(f"Invalid unset value for column {column.name}")
                ok = compare_values(op, actual, expected, column.cql_type)
            applied = applied and ok
        if applied:
            return True, [], []
        specs = [ColumnSpec(table.keyspace, table.name, c.name, c.cql_type) for c in reported]
        current = [
            cell_value(c, partition, ck, row, now) if partition is not None else None
            for c in reported
        ]
        return False, specs, current


class UpdatePlan(_KeyedWrite):
    def __init__(self, table: Table, stmt: cql.Update, bound: Bound) -> None:
        static_only = bool(table.clustering) and all(
            getattr(table.columns.get(a.column), "kind", "") == "static" for a in stmt.assignments
        )
        super().__init__(
            table, stmt.where, stmt.conditions, stmt.if_exists, bound, ranges_ok=static_only
        )
        if not self.full_key and (self.where.clustering_eq or self.where.range_position >= 0):
            raise Invalid("Only the partition key may be restricted when setting static columns")
        self.assignments: list[tuple[Column, str, Source, Source | None]] = []
        for assignment in stmt.assignments:
            column = self.planner.column(assignment.column)
            if column.kind in ("partition_key", "clustering"):
                raise Invalid(f"PRIMARY KEY part {column.name} found in SET part")
            key_source: Source | None = None
            cql_type = column.cql_type
            if assignment.kind == "set_key":
                if cql_type.typename == "map":
                    assert assignment.key is not None
                    key_source = self.planner.source(
                        assignment.key, cql_type.subtypes[0], f"key({column.name})"
                    )
                    value_source = self.planner.source(
                        assignment.term, cql_type.subtypes[1], f"value({column.name})"
                    )
                elif cql_type.typename == "list":
                    assert assignment.key is not None
                    key_source = self.planner.source(
                        assignment.key, _INT_TYPE, f"idx({column.name})"
                    )
                    value_source = self.planner.source(
                        assignment.term, cql_type.subtypes[0], f"value({column.name})"
                    )
                else:
                    raise Invalid(
                        f"Invalid operation ({column.name}[...] = ...) for non-map/list column "
                        f"{column.name}"
                    )
            elif assignment.kind == "set_field":
                field_name = assignment.field
                assert field_name is not None
                if not is_udt(cql_type):
                    raise Invalid(
                        f"Invalid operation ({column.name}.{field_name} = ...) for non-UDT "
                        f"column {column.name}"
                    )
                if is_frozen(cql_type):
                    raise Invalid(
                        f"Invalid operation ({column.name}.{field_name} = ...) for frozen UDT "
                        f"column {column.name}"
                    )
                if field_name not in cql_type.fieldnames:
                    raise Invalid(
                        f"UDT column {column.name} does not have a field named {field_name}"
                    )
                position = cql_type.fieldnames.index(field_name)
                key_source = Const(_INT.pack(position))
                value_source = self.planner.source(
                    assignment.term, cql_type.subtypes[position], f"{column.name}.{field_name}"
                )
            elif cql_type.typename == "counter":
                if assignment.kind not in ("add", "remove"):
                    raise Invalid(
                        f"Cannot set the value of counter column {column.name} (counters can "
                        "only be incremented/decremented, not set)"
                    )
                value_source = self.planner.source(assignment.term, cql_type, column.name)
            elif assignment.kind in ("add", "prepend", "remove"):
                if not is_collection(cql_type):
                    sign = "+" if assignment.kind != "remove" else "-"
                    raise Invalid(
                        f"Invalid operation ({column.name} = {column.name} {sign} ...) for non "
                        f"counter column {column.name}"
                    )
                if is_frozen(cql_type):
                    raise Invalid(
                        f"Invalid operation ({column.name} = {column.name} + ...) for frozen "
                        f"collection column {column.name}"
                    )
                if assignment.kind == "prepend" and cql_type.typename != "list":
                    raise Invalid(f"Invalid operation (prepend) for non-list column {column.name}")
                if assignment.kind == "remove" and cql_type.typename == "map":
                    elem_set = cqltypes.SetType.apply_parameters([cql_type.subtypes[0]])
                    value_source = self.planner.source(assignment.term, elem_set, column.name)
                else:
                    value_source = self.planner.source(assignment.term, cql_type, column.name)
            else:
                if cql_type.typename == "counter":
                    raise Invalid(
                        f"Cannot set the value of counter column {column.name} (counters can "
                        "only be incremented/decremented, not set)"
                    )
                value_source = self.planner.source(assignment.term, cql_type, column.name)
            self.assignments.append((column, assignment.kind, value_source, key_source))
            self.value_sources.append(value_source)
        _check_counter_write(table, stmt.ttl, stmt.timestamp)
        self.ttl = self.planner.int_source(stmt.ttl, "[ttl]")
        if stmt.timestamp is not None:
            self.timestamp = self.planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")

    def apply(self, values: Values, now: float, timestamp: int) -> None:
        table = self.table
        assert table is not None
        deadline = _ttl_deadline(int_value(self.ttl, values, "TTL"), now, table)
        for parts, cks in self.targets(values):
            for part, column in zip(parts, table.partition_key, strict=True):
                _validated(column, part)
            partition = table.partition(parts, create=True)
            assert partition is not None
            for ck in cks if cks is not None else [None]:
                row = partition.add_row(ck, table) if ck is not None else partition.static
                for column, kind, source, key_source in self.assignments:
                    target = partition.static if column.kind == "static" else row
                    value = source.get(values)
                    if isinstance(value, Unset):
                        continue
                    if kind == "set":
                        target.set_cell(column.name, _validated(column, value), deadline, timestamp)
                    elif column.cql_type.typename == "counter":
                        current = target.live_cells(now).get(column.name)
                        total = _counter_update(kind, current, value)
                        target.set_cell(column.name, total, None, timestamp)
                    elif kind == "set_field":
                        current = target.live_cells(now).get(column.name)
                        assert isinstance(key_source, Const)
                        assert key_source.value is not None
                        position = _INT.unpack(key_source.value)[0]
                        updated = _field_update(column, position, current, value)
                        target.set_cell(column.name, updated, deadline, timestamp)
                    else:
                        key = key_source.get(values) if key_source is not None else None
                        current = target.live_cells(now).get(column.name)
                        updated = _collection_update(column, kind, current, value, key)
                        target.set_cell(column.name, updated, deadline, timestamp)
            table.cleanup(partition, cks or [], now)


def _counter_update(kind: str, current: bytes | None, delta: bytes | None) -> bytes:
    if delta is None:
        raise Invalid("Invalid null value for counter increment/decrement")
    if len(delta) != 8:
        raise Invalid("Invalid value for a counter increment: expected an 8-byte bigint")
    base = _BIGINT.unpack(current)[0] if current else 0
    change = _BIGINT.unpack(delta)[0]
    total = base + change if kind == "add" else base - change
    total = (total + 2**63) % 2**64 - 2**63  # a counter wraps around like a Java long
    return _BIGINT.pack(total)


def _field_update(
    column: Column, position: int, current: bytes | None, value: bytes | None
) -> bytes | None:
    """Set one field of a non-frozen UDT value; a value whose fields are all null is null."""
    field_type = column.cql_type.subtypes[position]
    if value is not None:
        try:
            validate_value(field_type, value)
        except LiteralError:
            raise Invalid(
                f"Invalid value for field {column.cql_type.fieldnames[position]} of {column.name}"
            ) from None
    fields = split_fields(current) if current else []
    fields.extend([None] * (len(column.cql_type.subtypes) - len(fields)))
    fields[position] = value
    if all(f is None for f in fields):
        return None
    return join_fields(fields)


def _collection_update(
    column: Column,
    kind: str,
    current: bytes | None,
    operand: bytes | None,
    key: bytes | Unset | None,
) -> bytes | None:
    cql_type = column.cql_type
    typename = cql_type.typename
    decode = cql_type.deserialize
    existing: Any = decode(current, PROTOCOL_VERSION) if current else None
    if kind == "set_key":
        if key is None or isinstance(key, Unset):
            raise Invalid(f"Invalid null key for {column.name}")
        if typename == "map":
            key_type, value_type = cql_type.subtypes
            mapping = dict(existing.items()) if existing else {}
            key_value = key_type.deserialize(key, PROTOCOL_VERSION)
            if operand is None:
                mapping.pop(key_value, None)
            else:
                mapping[key_value] = value_type.deserialize(operand, PROTOCOL_VERSION)
            return (
                normalize_collection(cql_type, cql_type.serialize(mapping, PROTOCOL_VERSION))
                if mapping
                else None
            )
        items = list(existing or [])
        index = _INT.unpack(key)[0] if len(key) == 4 else -1
        if not 0 <= index < len(items):
            raise Invalid(f"List index {index} out of bound, list has size {len(items)}")
        if operand is None:
            del items[index]
        else:
            items[index] = cql_type.subtypes[0].deserialize(operand, PROTOCOL_VERSION)
        return cql_type.serialize(items, PROTOCOL_VERSION) if items else None
    if operand is None:
        return current
    if typename == "map" and kind == "remove":
        keys = set(
            cqltypes.SetType.apply_parameters([cql_type.subtypes[0]]).deserialize(
                operand, PROTOCOL_VERSION
            )
        )
        mapping = {k: v for k, v in (existing.items() if existing else []) if k not in keys}
        return (
            normalize_collection(cql_type, cql_type.serialize(mapping, PROTOCOL_VERSION))
            if mapping
            else None
        )
    delta = decode(operand, PROTOCOL_VERSION)
    if typename == "map":
        mapping = dict(existing.items()) if existing else {}
        mapping.update(dict(delta.items()))
        return normalize_collection(cql_type, cql_type.serialize(mapping, PROTOCOL_VERSION))
    items = list(existing or [])
    if kind == "add":
        items = items + list(delta)
    elif kind == "prepend":
        items = list(delta) + items
    else:
        removed = list(delta)
        items = [item for item in items if item not in removed]
    if not items:
        return None
    serialized: bytes = cql_type.serialize(items, PROTOCOL_VERSION)
    return normalize_collection(cql_type, serialized) if typename == "set" else serialized


class DeletePlan(_KeyedWrite):
    def __init__(self, table: Table, stmt: cql.Delete, bound: Bound) -> None:
        super().__init__(table, stmt.where, stmt.conditions, stmt.if_exists, bound, ranges_ok=True)
        self.columns = [self.planner.column(name) for name in stmt.columns]
        for column in self.columns:
            if column.kind in ("partition_key", "clustering"):
                raise Invalid(
                    f"Invalid identifier {column.name} for deletion (should not be a "
                    "PRIMARY KEY part)"
                )
        if (
            self.columns
            and not self.full_key
            and any(c.kind == "regular" for c in self.columns)
            and table.clustering
        ):
            raise Invalid("Range deletions are not supported for specific columns")
        if stmt.timestamp is not None:
            self.timestamp = self.planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")

    def apply(self, values: Values, now: float, timestamp: int) -> None:
        table = self.table
        assert table is not None
        matcher = None if self.full_key else self.where.row_matcher(values, table)
        for parts, cks in self.targets(values):
            partition = table.partition(parts, create=False)
            if partition is None:
                continue
            if cks is None:
                selected = [ck for ck in list(partition.rows) if matcher is None or matcher(ck)]
                if matcher is None and not self.columns:
                    table.drop_partition(partition.key)
                    continue
            else:
                selected = [ck for ck in cks if ck in partition.rows]
            if self.columns:
                for column in self.columns:
                    if column.kind == "static":
                        partition.static.set_cell(column.name, None, None)
                        continue
                    for ck in selected:
                        partition.rows[ck].set_cell(column.name, None, None)
            else:
                for ck in selected:
                    partition.remove_row(ck, table)
            table.cleanup(partition, selected, now)
