"""Statement plans: a parsed statement bound to the schema, ready to run many times.

Planning resolves column names, turns literals into serialized bytes and records the type of
every bind marker; running a plan then only moves bytes around. Plans are cached per
statement text (and per prepared id) until the next schema change.
"""

from __future__ import annotations

import itertools
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra import cqltypes

from . import cql
from .datatypes import (
    PROTOCOL_VERSION,
    CQLType,
    LiteralError,
    compare_key,
    is_collection,
    literal_to_bytes,
    normalize_collection,
)
from .protocol import UNSET, Invalid, Unauthorized, Unset
from .results import ColumnSpec, RowsMetadata, rows_body
from .store import Column, Partition, Row, Table, routing_key

__all__ = ["Bound", "Plan", "SelectPlan", "WritePlan", "plan_statement"]

Values = Sequence[bytes | Unset | None]
_INT = struct.Struct(">i")
_BOOL_TYPE = cqltypes.BooleanType
_INT_TYPE = cqltypes.Int32Type
_BIGINT_TYPE = cqltypes.LongType
_TRUE = b"\x01"
_FALSE = b"\x00"


# --- value sources -----------------------------------------------------------------------


class Source:
    """Where a value comes from at run time: a constant, a bind marker or a function."""

    __slots__ = ()

    def get(self, values: Values) -> bytes | Unset | None:
        raise NotImplementedError


class Const(Source):
    __slots__ = ("value",)

    def __init__(self, value: bytes | None) -> None:
        self.value = value

    def get(self, values: Values) -> bytes | Unset | None:
        return self.value


class Bind(Source):
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def get(self, values: Values) -> bytes | Unset | None:
        return values[self.index]


class Func(Source):
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], bytes]) -> None:
        self.make = make

    def get(self, values: Values) -> bytes | Unset | None:
        return self.make()


class InSource:
    """The values of an IN restriction: a list of sources, or one marker bound to a list."""

    __slots__ = ("bind", "items")

    def __init__(self, items: list[Source] | None, bind: Bind | None) -> None:
        self.items = items
        self.bind = bind

    def get_all(self, values: Values, column: str) -> list[bytes]:
        if self.items is not None:
            return [_required(source.get(values), column) for source in self.items]
        assert self.bind is not None
        data = _required(self.bind.get(values), column)
        return split_collection(data)


def split_collection(data: bytes) -> list[bytes]:
    """Element bytes of a serialized list or set, without decoding the elements."""
    try:
        count = _INT.unpack_from(data, 0)[0]
        pos = 4
        out = []
        for _ in range(count):
            size = _INT.unpack_from(data, pos)[0]
            pos += 4
            if size < 0:
                raise Invalid("Invalid null value in IN list")
            out.append(data[pos : pos + size])
            pos += size
    except struct.error:
        raise Invalid("Invalid list value for IN restriction") from None
    return out


def _required(value: bytes | Unset | None, column: str) -> bytes:
    if value is None:
        raise Invalid(f"Invalid null value in condition for column {column}")
    if isinstance(value, Unset):
        raise Invalid(f"Invalid unset value for column {column}")
    return value


# --- planning context --------------------------------------------------------------------


@dataclass
class Bound:
    """What planning learned about bind markers (shared by the members of a text BATCH)."""

    specs: list[ColumnSpec | None]
    names: list[str | None]


def _fresh_timeuuid() -> bytes:
    return uuid.uuid1().bytes


def _now_millis() -> bytes:
    return struct.pack(">q", int(time.time() * 1000))


class Planner:
    def __init__(self, table: Table, bound: Bound) -> None:
        self.table = table
        self.bound = bound

    def column(self, name: str) -> Column:
        column = self.table.columns.get(name)
        if column is None:
            raise Invalid(f"Undefined column name {name}")
        return column

    def source(self, term: cql.Term, cql_type: CQLType, spec_name: str) -> Source:
        if isinstance(term, cql.Marker):
            self.bound.specs[term.index] = ColumnSpec(
                self.table.keyspace, self.table.name, term.name or spec_name, cql_type
            )
            self.bound.names[term.index] = term.name
            return Bind(term.index)
        if isinstance(term, cql.FunctionCall):
            return self.function(term, cql_type)
        try:
            return Const(literal_to_bytes(cql_type, term.value))
        except LiteralError as exc:
            raise Invalid(f"{exc} for column {spec_name}") from None

    def function(self, call: cql.FunctionCall, cql_type: CQLType) -> Source:
        typename = cql_type.typename
        name = call.name
        if name == "now" and typename == "timeuuid":
            return Func(_fresh_timeuuid)
        if name == "uuid" and typename == "uuid":
            return Func(lambda: uuid.uuid4().bytes)
        if typename == "timestamp" and (
            name == "currenttimestamp"
            or (
                name == "totimestamp"
                and call.args
                and isinstance(call.args[0], cql.FunctionCall)
                and call.args[0].name == "now"
            )
        ):
            return Func(_now_millis)
        raise Invalid(f"Type error: {name}() cannot be used as a value of type {typename}")

    def in_source(self, relation: cql.Relation | cql.Condition, column: Column) -> InSource:
        if relation.terms is not None:
            return InSource(
                [self.source(t, column.cql_type, column.name) for t in relation.terms], None
            )
        assert relation.term is not None
        if isinstance(relation.term, cql.Marker):
            list_type = cqltypes.ListType.apply_parameters([column.cql_type])
            source = self.source(relation.term, list_type, f"in({column.name})")
            assert isinstance(source, Bind)
            return InSource(None, source)
        raise Invalid(f"IN restriction on {column.name} needs a list of values or a bind marker")

    def int_source(self, term: cql.Term | None, name: str) -> Source | None:
        if term is None:
            return None
        return self.source(term, _INT_TYPE, name)


def _int_value(source: Source | None, values: Values, what: str) -> int | None:
    if source is None:
        return None
    raw = source.get(values)
    if raw is None or isinstance(raw, Unset):
        return None
    if len(raw) != 4:
        raise Invalid(f"Invalid value for {what}: expected a 4-byte int")
    value: int = _INT.unpack(raw)[0]
    return value


# --- WHERE clauses -----------------------------------------------------------------------


@dataclass
class Where:
    partition: list[Source | InSource] = field(default_factory=list)  # per pk column, or empty
    clustering_eq: list[Source | InSource] = field(default_factory=list)  # prefix
    range_position: int = -1
    lower: tuple[Source, bool] | None = None
    upper: tuple[Source, bool] | None = None
    filters: list[tuple[Column, str, Source | InSource]] = field(default_factory=list)

    @property
    def single_partition(self) -> bool:
        return bool(self.partition) and all(isinstance(s, Source) for s in self.partition)

    def partition_keys(self, values: Values, table: Table) -> list[list[bytes]]:
        choices: list[list[bytes]] = []
        for column, source in zip(table.partition_key, self.partition, strict=True):
            if isinstance(source, InSource):
                choices.append(source.get_all(values, column.name))
            else:
                choices.append([_required(source.get(values), column.name)])
        return [list(combo) for combo in itertools.product(*choices)]

    def clustering_prefixes(self, values: Values, table: Table) -> list[tuple[bytes, ...]]:
        choices: list[list[bytes]] = []
        for column, source in zip(table.clustering, self.clustering_eq, strict=False):
            if isinstance(source, InSource):
                choices.append(source.get_all(values, column.name))
            else:
                choices.append([_required(source.get(values), column.name)])
        return [tuple(combo) for combo in itertools.product(*choices)]

    def row_matcher(
        self, values: Values, table: Table
    ) -> Callable[[tuple[bytes, ...]], bool] | None:
        """A predicate on clustering bytes for the clustering restrictions, or None (all)."""
        prefixes = self.clustering_prefixes(values, table) if self.clustering_eq else []
        prefix_len = len(self.clustering_eq)
        prefix_set = set(prefixes)
        bounds: list[tuple[int, Any, bool, bool]] = []  # (pos, key, inclusive, is_lower)
        if self.range_position >= 0:
            column = table.clustering[self.range_position]
            for bound, is_lower in ((self.lower, True), (self.upper, False)):
                if bound is not None:
                    raw = _required(bound[0].get(values), column.name)
                    bounds.append(
                        (self.range_position, compare_key(column.cql_type, raw), bound[1], is_lower)
                    )
        if not prefix_len and not bounds:
            return None
        types = [c.cql_type for c in table.clustering]

        def matches(ck: tuple[bytes, ...]) -> bool:
            if prefix_len and ck[:prefix_len] not in prefix_set:
                return False
            for pos, key, inclusive, is_lower in bounds:
                value = compare_key(types[pos], ck[pos])
                if is_lower:
                    if value < key or (value == key and not inclusive):
                        return False
                elif value > key or (value == key and not inclusive):
                    return False
            return True

        return matches


def plan_where(
    planner: Planner, relations: list[cql.Relation], *, allow_filtering: bool, for_write: bool
) -> Where:
    table = planner.table
    where = Where()
    by_column: dict[str, list[cql.Relation]] = {}
    for relation in relations:
        planner.column(relation.column)
        by_column.setdefault(relation.column, []).append(relation)

    def eq_or_in(column: Column, rels: list[cql.Relation]) -> Source | InSource | None:
        if len(rels) == 1 and rels[0].op == "=":
            assert rels[0].term is not None
            return planner.source(rels[0].term, column.cql_type, column.name)
        if len(rels) == 1 and rels[0].op == "IN":
            return planner.in_source(rels[0], column)
        return None

    # partition key
    pk_sources: list[Source | InSource] = []
    for column in table.partition_key:
        rels = by_column.pop(column.name, [])
        source = eq_or_in(column, rels) if rels else None
        if source is None:
            if rels:
                if for_write:
                    raise Invalid(
                        "Only EQ and IN relation are supported on the partition key (column "
                        f"{column.name})"
                    )
                for rel in rels:
                    where.filters.append(_filter(planner, column, rel))
            pk_sources = []
            break
        pk_sources.append(source)
    if len(pk_sources) == len(table.partition_key):
        where.partition = pk_sources
    else:
        for column, source in zip(table.partition_key, pk_sources, strict=False):
            where.filters.append((column, "=" if isinstance(source, Source) else "IN", source))
        for column in table.partition_key:
            for rel in by_column.pop(column.name, []):
                where.filters.append(_filter(planner, column, rel))
        if for_write:
            missing = [c.name for c in table.partition_key]
            raise Invalid(f"Some partition key parts are missing: {', '.join(missing)}")

    # clustering columns
    stop = False
    for position, column in enumerate(table.clustering):
        rels = by_column.pop(column.name, [])
        if not rels:
            stop = True
            continue
        if stop or where.range_position >= 0:
            if not allow_filtering:
                previous = table.clustering[position - 1].name
                raise Invalid(
                    f'PRIMARY KEY column "{column.name}" cannot be restricted as preceding '
                    f'column "{previous}" is not restricted'
                )
            for rel in rels:
                where.filters.append(_filter(planner, column, rel))
            continue
        source = eq_or_in(column, rels)
        if source is not None:
            where.clustering_eq.append(source)
            continue
        for rel in rels:
            assert rel.term is not None
            if rel.op == "IN" or rel.op == "=":
                raise Invalid(f"Invalid restrictions on clustering column {column.name}")
            bound = (planner.source(rel.term, column.cql_type, column.name), rel.op in ("<=", ">="))
            if rel.op in (">", ">="):
                if where.lower is not None:
                    raise Invalid(
                        f"More than one restriction was found for the start bound on {column.name}"
                    )
                where.lower = bound
            else:
                if where.upper is not None:
                    raise Invalid(
                        f"More than one restriction was found for the end bound on {column.name}"
                    )
                where.upper = bound
        where.range_position = position

    # everything else is filtering
    for name, rels in by_column.items():
        column = table.columns[name]
        if for_write:
            raise Invalid(f"Non PRIMARY KEY columns found in where clause: {name}")
        for rel in rels:
            where.filters.append(_filter(planner, column, rel))
    if where.filters and not allow_filtering and not for_write:
        raise Invalid(
            "Cannot execute this query as it might involve data filtering and thus may have "
            "unpredictable performance. If you want to execute this query despite the "
            "performance unpredictability, use ALLOW FILTERING"
        )
    return where


def _filter(
    planner: Planner, column: Column, rel: cql.Relation
) -> tuple[Column, str, Source | InSource]:
    if rel.op == "IN":
        return column, "IN", planner.in_source(rel, column)
    assert rel.term is not None
    return column, rel.op, planner.source(rel.term, column.cql_type, column.name)


def _compare(op: str, actual: bytes | None, expected: bytes | None, cql_type: CQLType) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    left = compare_key(cql_type, actual)
    right = compare_key(cql_type, expected)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _cell(
    column: Column, partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
) -> bytes | None:
    kind = column.kind
    if kind == "partition_key":
        return partition.key_parts[column.position]
    if kind == "clustering":
        return ck[column.position] if ck is not None else None
    if kind == "static":
        return partition.static.live_cells(now).get(column.name)
    if row is None:
        return None
    return row.live_cells(now).get(column.name)


# --- plans -------------------------------------------------------------------------------


class Plan:
    """A statement bound to the schema. ``run`` returns a RESULT body."""

    table: Table | None = None
    result: RowsMetadata | None = None
    pk_indexes: list[int]
    bound: Bound

    def run(
        self, values: Values, page_size: int, paging_state: bytes | None, skip_metadata: bool
    ) -> bytes:
        raise NotImplementedError


class _Getter:
    __slots__ = ("key", "kind", "name")

    def __init__(self, kind: int, key: int, name: str) -> None:
        self.kind = kind  # 0 partition key part, 1 clustering part, 2 regular cell, 3 static cell
        self.key = key
        self.name = name


_PAGING_VERSION = 1


def _encode_paging(remaining: int, partition: Partition, ck: tuple[bytes, ...] | None) -> bytes:
    parts = [
        bytes([_PAGING_VERSION]),
        _INT.pack(remaining),
        _INT.pack(len(partition.key)),
        partition.key,
    ]
    if ck is None:
        parts.append(_INT.pack(-1))
    else:
        parts.append(_INT.pack(len(ck)))
        for value in ck:
            parts.append(_INT.pack(len(value)))
            parts.append(value)
    return b"".join(parts)


def _decode_paging(state: bytes) -> tuple[int, bytes, tuple[bytes, ...] | None]:
    try:
        if state[0] != _PAGING_VERSION:
            raise ValueError
        remaining = _INT.unpack_from(state, 1)[0]
        size = _INT.unpack_from(state, 5)[0]
        key = state[9 : 9 + size]
        pos = 9 + size
        count = _INT.unpack_from(state, pos)[0]
        pos += 4
        if count < 0:
            return remaining, key, None
        ck = []
        for _ in range(count):
            size = _INT.unpack_from(state, pos)[0]
            pos += 4
            ck.append(state[pos : pos + size])
            pos += size
        if pos != len(state):
            raise ValueError
        return remaining, key, tuple(ck)
    except (IndexError, ValueError, struct.error):
        raise Invalid(
            "Invalid paging state: it was not produced by this server for this query"
        ) from None


class SelectPlan(Plan):
    def __init__(self, table: Table, stmt: cql.Select, bound: Bound) -> None:
        self.table = table
        self.bound = bound
        planner = Planner(table, bound)
        self.where = plan_where(
            planner, stmt.where, allow_filtering=stmt.allow_filtering, for_write=False
        )
        self.count = False
        self.distinct = stmt.distinct
        columns: list[Column] = []
        names: list[str] = []
        if stmt.star:
            columns = list(table.star_columns)
            names = [c.name for c in columns]
        else:
            for selector in stmt.selectors:
                if selector.count:
                    if len(stmt.selectors) != 1:
                        raise cql.Unsupported("mixing COUNT(*) with other selectors")
                    self.count = True
                    names.append(selector.alias or "count")
                else:
                    assert selector.column is not None
                    columns.append(planner.column(selector.column))
                    names.append(selector.alias or selector.column)
        if self.distinct:
            for column in columns:
                if column.kind not in ("partition_key", "static"):
                    raise Invalid(
                        "SELECT DISTINCT queries must only request partition key columns "
                        f"and/or static columns (not {column.name})"
                    )
        if self.count:
            self.result = RowsMetadata(
                [ColumnSpec(table.keyspace, table.name, names[0], _BIGINT_TYPE)]
            )
        else:
            self.result = RowsMetadata(
                [
                    ColumnSpec(table.keyspace, table.name, n, c.cql_type)
                    for n, c in zip(names, columns, strict=True)
                ]
            )
        self.getters = [
            _Getter(
                {"partition_key": 0, "clustering": 1, "regular": 2, "static": 3}[c.kind],
                c.position,
                c.name,
            )
            for c in columns
        ]
        self.reversed = False
        if stmt.order_by:
            self.reversed = self._order(stmt.order_by)
        self.limit = planner.int_source(stmt.limit, "[limit]")
        self.per_partition_limit = planner.int_source(
            stmt.per_partition_limit, "[per_partition_limit]"
        )
        self.has_static = any(c.kind == "static" for c in table.columns.values())
        self.pk_indexes = _pk_indexes(self.where, table)
        # one-row lookups by full primary key skip the general machinery entirely
        self.fast = (
            self.where.single_partition
            and not self.where.filters
            and self.where.range_position < 0
            and len(self.where.clustering_eq) == len(table.clustering)
            and all(isinstance(s, Source) for s in self.where.clustering_eq)
            and not self.count
            and not self.distinct
            and self.limit is None
        )

        self._fast_pk = [
            (c, s)
            for c, s in zip(table.partition_key, self.where.partition, strict=False)
            if isinstance(s, Source)
        ]
        self._fast_ck = [
            (c, s)
            for c, s in zip(table.clustering, self.where.clustering_eq, strict=False)
            if isinstance(s, Source)
        ]

    def _order(self, order_by: list[tuple[str, bool]]) -> bool:
        table = self.table
        assert table is not None
        if not self.where.partition:
            raise Invalid(
                "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."
            )
        reversed_flags = []
        for position, (name, descending) in enumerate(order_by):
            column = table.columns.get(name)
            if column is None:
                raise Invalid(f"Undefined column name {name}")
            if column.kind != "clustering" or column.position != position:
                raise Invalid(
                    "Order by currently only supports the ordering of columns following "
                    f"their declared order in the PRIMARY KEY (bad column {name})"
                )
            reversed_flags.append(descending != column.descending)
        if len(set(reversed_flags)) != 1:
            raise Invalid(
                "Unsupported order by relation: mixed directions must match the "
                "clustering order or its reverse"
            )
        return reversed_flags[0]

    def run(
        self, values: Values, page_size: int, paging_state: bytes | None, skip_metadata: bool
    ) -> bytes:
        assert self.result is not None
        if self.fast and paging_state is None:
            return rows_body(self.result, self._fast_rows(values), None, skip_metadata)
        return self._run_general(values, page_size, paging_state, skip_metadata)

    def _fast_rows(self, values: Values) -> list[list[bytes | None]]:
        table = self.table
        assert table is not None
        parts = [_required(s.get(values), c.name) for c, s in self._fast_pk]
        partition = table.partitions.get(parts[0] if len(parts) == 1 else routing_key(parts))
        if partition is None:
            return []
        ck = tuple(_required(s.get(values), c.name) for c, s in self._fast_ck)
        row = partition.rows.get(ck)
        now = time.time()
        if (row is None or not row.is_live(now)) and (
            ck or not self.has_static or not partition.static.is_live(now)
        ):
            return []
        return [self._row(partition, ck if row is not None else None, row, now)]

    def _row(
        self, partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> list[bytes | None]:
        out: list[bytes | None] = []
        cells = row.live_cells(now) if row is not None else {}
        static: dict[str, bytes] | None = None
        for getter in self.getters:
            kind = getter.kind
            if kind == 2:
                out.append(cells.get(getter.name))
            elif kind == 0:
                out.append(partition.key_parts[getter.key])
            elif kind == 1:
                out.append(ck[getter.key] if ck is not None else None)
            else:
                if static is None:
                    static = partition.static.live_cells(now)
                out.append(static.get(getter.name))
        return out

    def _partitions(self, values: Values) -> list[Partition]:
        table = self.table
        assert table is not None
        if self.where.partition:
            found: dict[bytes, Partition] = {}
            for parts in self.where.partition_keys(values, table):
                partition = table.partitions.get(routing_key(parts))
                if partition is not None:
                    found[partition.key] = partition
            return sorted(found.values(), key=lambda p: (p.token, p.key))
        return table.partitions_in_token_order()

    def _run_general(
        self, values: Values, page_size: int, paging_state: bytes | None, skip_metadata: bool
    ) -> bytes:
        table = self.table
        assert table is not None
        assert self.result is not None
        now = time.time()
        limit = _int_value(self.limit, values, "LIMIT")
        if limit is not None and limit <= 0:
            raise Invalid(f"LIMIT must be strictly positive (got {limit})")
        per_partition = _int_value(self.per_partition_limit, values, "PER PARTITION LIMIT")
        matcher = self.where.row_matcher(values, table)
        filters = [(c, op, s) for c, op, s in self.where.filters]
        resume_key: bytes | None = None
        resume_ck: tuple[bytes, ...] | None = None
        resume_whole = False
        if paging_state is not None and not self.count:
            remaining, resume_key, resume_ck = _decode_paging(paging_state)
            resume_whole = resume_ck is None
            limit = remaining if remaining >= 0 else None
        partitions = self._partitions(values)
        if resume_key is not None:
            from cassandra.murmur3 import murmur3

            position = (murmur3(resume_key), resume_key)
            partitions = [p for p in partitions if (p.token, p.key) >= position]
            if resume_whole and partitions and partitions[0].key == resume_key:
                partitions = partitions[1:]
        if self.count:
            page_size = -1
        rows: list[list[bytes | None]] = []
        counted = 0
        next_state: bytes | None = None
        budget = limit if limit is not None else -1
        for partition in partitions:
            in_partition = 0
            skip_to: Any = None
            if resume_ck is not None and partition.key == resume_key:
                skip_to = table.clustering_sort_key(resume_ck)
            emitted_any = False
            for ck, row in self._rows_of(partition, matcher, now, skip_to):
                if filters and not self._filters_pass(filters, values, partition, ck, row, now):
                    continue
                if self.distinct:
                    row, ck = None, None
                if self.count:
                    counted += 1
                else:
                    rows.append(self._row(partition, ck, row, now))
                emitted_any = True
                in_partition += 1
                if budget > 0:
                    budget -= 1
                full = 0 < page_size <= len(rows)
                if budget == 0:
                    return self._finish(rows, counted, None, skip_metadata)
                if full:
                    next_state = _encode_paging(budget, partition, None if self.distinct else ck)
                    return self._finish(rows, counted, next_state, skip_metadata)
                if self.distinct or (per_partition is not None and in_partition >= per_partition):
                    break
            del emitted_any
        return self._finish(rows, counted, None, skip_metadata)

    def _finish(
        self, rows: list[list[bytes | None]], counted: int, state: bytes | None, skip: bool
    ) -> bytes:
        assert self.result is not None
        if self.count:
            return rows_body(self.result, [[struct.pack(">q", counted)]], None, skip)
        return rows_body(self.result, rows, state, skip)

    def _rows_of(
        self,
        partition: Partition,
        matcher: Callable[[tuple[bytes, ...]], bool] | None,
        now: float,
        skip_to: Any,
    ) -> Any:
        table = self.table
        assert table is not None
        ordered = partition.sorted_rows(table)
        if self.reversed:
            ordered = list(reversed(ordered))
        produced = False
        for sort_key, ck in ordered:
            if skip_to is not None and (
                (not self.reversed and sort_key <= skip_to)
                or (self.reversed and sort_key >= skip_to)
            ):
                continue
            if matcher is not None and not matcher(ck):
                continue
            row = partition.rows.get(ck)
            if row is None or not row.is_live(now):
                continue
            produced = True
            yield ck, row
        if (
            not produced
            and skip_to is None
            and self.has_static
            and matcher is None
            and partition.static.is_live(now)
        ):
            yield None, None

    def _filters_pass(
        self,
        filters: list[tuple[Column, str, Source | InSource]],
        values: Values,
        partition: Partition,
        ck: tuple[bytes, ...] | None,
        row: Row | None,
        now: float,
    ) -> bool:
        for column, op, source in filters:
            actual = _cell(column, partition, ck, row, now)
            if isinstance(source, InSource):
                if actual not in source.get_all(values, column.name):
                    return False
            else:
                expected = source.get(values)
                if isinstance(expected, Unset):
                    raise Invalid(f"Invalid unset value for column {column.name}")
                if not _compare(op, actual, expected, column.cql_type):
                    return False
        return True


def _pk_indexes(where: Where, table: Table) -> list[int]:
    if not where.partition or len(where.partition) != len(table.partition_key):
        return []
    indexes = []
    for source in where.partition:
        if not isinstance(source, Bind):
            return []
        indexes.append(source.index)
    return indexes


# --- writes ------------------------------------------------------------------------------


class WritePlan(Plan):
    """INSERT, UPDATE and DELETE share key resolution, TTLs and lightweight transactions."""

    conditional = False

    def apply(self, values: Values, now: float) -> None:
        raise NotImplementedError

    def check(
        self, values: Values, now: float
    ) -> tuple[bool, list[ColumnSpec], list[bytes | None]]:
        """Evaluate the IF clause: (applied, columns to report, their current values)."""
        return True, [], []

    def run(
        self, values: Values, page_size: int, paging_state: bytes | None, skip_metadata: bool
    ) -> bytes:
        now = time.time()
        if not self.conditional:
            self.apply(values, now)
            from .results import VOID

            return VOID
        applied, columns, current = self.check(values, now)
        if applied:
            self.apply(values, now)
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
        column.cql_type.deserialize(value, PROTOCOL_VERSION)
    except Exception:
        raise Invalid(
            f"Invalid value for column {column.name} of type {column.type_text}"
        ) from None
    if is_collection(column.cql_type):
        return normalize_collection(column.cql_type, value)
    return value


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


class InsertPlan(WritePlan):
    def __init__(self, table: Table, stmt: cql.Insert, bound: Bound) -> None:
        _check_writable(table)
        self.table = table
        self.bound = bound
        planner = Planner(table, bound)
        self.assigned: list[tuple[Column, Source]] = []
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
        self.ttl = planner.int_source(stmt.ttl, "[ttl]")
        if stmt.timestamp is not None:
            planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")
        self.conditional = stmt.if_not_exists
        self.pk_indexes = [s.index for s in self.pk_sources if isinstance(s, Bind)]
        if len(self.pk_indexes) != len(self.pk_sources):
            self.pk_indexes = []

    def _key(self, values: Values) -> tuple[list[bytes], tuple[bytes, ...]]:
        assert self.table is not None
        parts = [
            _required(s.get(values), c.name)
            for c, s in zip(self.table.partition_key, self.pk_sources, strict=True)
        ]
        ck = tuple(
            _required(s.get(values), c.name)
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
        return False, specs, [_cell(c, partition, ck, row, now) for c in columns]

    def apply(self, values: Values, now: float) -> None:
        table = self.table
        assert table is not None
        parts, ck = self._key(values)
        deadline = _ttl_deadline(_int_value(self.ttl, values, "TTL"), now, table)
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
            target.set_cell(column.name, value, deadline)
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
        if self.conditional and (
            not self.where.single_partition
            or not full_key
            or any(isinstance(s, InSource) for s in self.where.clustering_eq)
        ):
            raise Invalid(
                "IN on the clustering key columns or ranges are not supported with "
                "conditional updates"
            )
        self.pk_indexes = _pk_indexes(self.where, table)

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
            actual = _cell(column, partition, ck, row, now) if partition is not None else None
            if column not in reported:
                reported.append(column)
            if isinstance(source, InSource):
                ok = actual in source.get_all(values, column.name)
            else:
                expected = source.get(values)
                if isinstance(expected, Unset):
                    raise Invalid(f"Invalid unset value for column {column.name}")
                ok = _compare(op, actual, expected, column.cql_type)
            applied = applied and ok
        if applied:
            return True, [], []
        specs = [ColumnSpec(table.keyspace, table.name, c.name, c.cql_type) for c in reported]
        current = [
            _cell(c, partition, ck, row, now) if partition is not None else None for c in reported
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
            elif assignment.kind in ("add", "prepend", "remove"):
                if not is_collection(cql_type):
                    raise cql.Unsupported(
                        f"arithmetic on {column.type_text} column {column.name} (counters)"
                    )
                if assignment.kind == "prepend" and cql_type.typename != "list":
                    raise Invalid(f"Invalid operation (prepend) for non-list column {column.name}")
                if assignment.kind == "remove" and cql_type.typename == "map":
                    elem_set = cqltypes.SetType.apply_parameters([cql_type.subtypes[0]])
                    value_source = self.planner.source(assignment.term, elem_set, column.name)
                else:
                    value_source = self.planner.source(assignment.term, cql_type, column.name)
            else:
                value_source = self.planner.source(assignment.term, cql_type, column.name)
            self.assignments.append((column, assignment.kind, value_source, key_source))
        self.ttl = self.planner.int_source(stmt.ttl, "[ttl]")
        if stmt.timestamp is not None:
            self.planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")

    def apply(self, values: Values, now: float) -> None:
        table = self.table
        assert table is not None
        deadline = _ttl_deadline(_int_value(self.ttl, values, "TTL"), now, table)
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
                        target.set_cell(column.name, _validated(column, value), deadline)
                    else:
                        key = key_source.get(values) if key_source is not None else None
                        current = target.live_cells(now).get(column.name)
                        updated = _collection_update(column, kind, current, value, key)
                        target.set_cell(column.name, updated, deadline)
            table.cleanup(partition, cks or [], now)


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
            self.planner.source(stmt.timestamp, _BIGINT_TYPE, "[timestamp]")

    def apply(self, values: Values, now: float) -> None:
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


def plan_statement(stmt: cql.Statement, table: Table, bound: Bound) -> Plan:
    if isinstance(stmt, cql.Select):
        return SelectPlan(table, stmt, bound)
    if isinstance(stmt, cql.Insert):
        return InsertPlan(table, stmt, bound)
    if isinstance(stmt, cql.Update):
        return UpdatePlan(table, stmt, bound)
    if isinstance(stmt, cql.Delete):
        return DeletePlan(table, stmt, bound)
    raise TypeError(f"no plan for {type(stmt).__name__}")


def new_bound(count: int) -> Bound:
    return Bound([None] * count, [None] * count)


__all__ += ["UNSET", "lwt_result", "new_bound"]
