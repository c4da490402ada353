"""SELECT plans: the one-row fast path, scans, ordering, paging, COUNT and DISTINCT."""

from __future__ import annotations

import json
import struct
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cassandra import cqltypes
from cassandra.murmur3 import murmur3

from ..errors import Invalid
from ..language import cql
from ..language.types import quote_identifier, split_collection
from ..wire.frames import Unset
from ..wire.results import ColumnSpec, RowsMetadata, rows_body
from .binding import (
    Bound,
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
from .functions import to_json
from .selectors import Output, compile_output
from .store import Column, Partition, Row, Table, routing_key
from .where import pk_indexes, plan_where

__all__ = ["SelectPlan"]

_INT = struct.Struct(">i")
_BIGINT_TYPE = cqltypes.LongType
_TEXT = cqltypes.VarcharType


class _Getter:
    __slots__ = ("key", "kind", "name")

    def __init__(self, kind: int, key: int, name: str) -> None:
        self.kind = kind  # 0 partition key part, 1 clustering part, 2 regular cell, 3 static cell
        self.key = key
        self.name = name


_PAGING_VERSION = 2


@dataclass(frozen=True, slots=True)
class PagingPosition:
    """Where the previous page stopped: after this row (or after this whole partition).

    Positions, not offsets, so a page resumes correctly even when rows were written or deleted
    since the previous one; ``remaining`` carries LIMIT across pages and ``in_partition`` the
    PER PARTITION LIMIT count of the partition the page stopped in.
    """

    remaining: int
    in_partition: int
    key: bytes
    ck: tuple[bytes, ...] | None

    def encode(self) -> bytes:
        parts = [
            bytes([_PAGING_VERSION]),
            _INT.pack(self.remaining),
            _INT.pack(self.in_partition),
            _INT.pack(len(self.key)),
            self.key,
            _INT.pack(-1 if self.ck is None else len(self.ck)),
        ]
        for value in self.ck or ():
            parts.append(_INT.pack(len(value)))
            parts.append(value)
        return b"".join(parts)

    @classmethod
    def decode(cls, state: bytes) -> PagingPosition:
        try:
            if state[0] != _PAGING_VERSION:
                raise ValueError
            remaining, in_partition, size = struct.unpack_from(">iii", state, 1)
            pos = 13
            key = state[pos : pos + size]
            pos += size
            count = _INT.unpack_from(state, pos)[0]
            pos += 4
            ck: list[bytes] | None = None if count < 0 else []
            for _ in range(max(count, 0)):
                size = _INT.unpack_from(state, pos)[0]
                pos += 4
                assert ck is not None
                ck.append(state[pos : pos + size])
                pos += size
            if pos != len(state):
                raise ValueError
            return cls(remaining, in_partition, key, None if ck is None else tuple(ck))
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
        self.json = stmt.json
        outputs: list[Output] = []
        names: list[str] = []
        if stmt.star:
            for column in table.star_columns:
                outputs.append(compile_output(planner, cql.ColumnRef(column.name)))
                names.append(column.name)
        else:
            for selector in stmt.selectors:
                if selector.count:
                    if len(stmt.selectors) != 1:
                        raise cql.Unsupported("mixing COUNT(*) with other selectors")
                    self.count = True
                    names.append(selector.alias or "count")
                else:
                    outputs.append(compile_output(planner, selector.expr))
                    names.append(selector.alias or outputs[-1].name)
        if self.distinct:
            for output in outputs:
                if output.column is None or output.column.kind not in ("partition_key", "static"):
                    raise Invalid(
                        "SELECT DISTINCT queries must only request partition key columns "
                        f"and/or static columns (not {output.name})"
                    )
        if self.count:
            self.result = RowsMetadata(
                [ColumnSpec(table.keyspace, table.name, names[0], _BIGINT_TYPE)]
            )
            self._unpartitioned_aggregate = not self.where.partition
        elif self.json:
            self.result = RowsMetadata([ColumnSpec(table.keyspace, table.name, "[json]", _TEXT)])
        else:
            self.result = RowsMetadata(
                [
                    ColumnSpec(table.keyspace, table.name, n, o.cql_type)
                    for n, o in zip(names, outputs, strict=True)
                ]
            )
        self.outputs = outputs
        self.quick = not self.count  # COUNT(*) may warn about its partitions
        self._json_keys = [json.dumps(quote_identifier(n)) for n in names]
        # plain columns are copied from the row directly; anything else goes through getters
        self.plain = all(o.column is not None for o in outputs) and not self.json
        columns = [o.column for o in outputs if o.column is not None]
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
        self.pk_indexes = pk_indexes(self.where, table)
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
        self,
        values: Values,
        page_size: int,
        paging_state: bytes | None,
        skip_metadata: bool,
        timestamp: int | None = None,
        now: float | None = None,
    ) -> bytes:
        assert self.result is not None
        if now is None:
            now = time.time()
        if self.fast and paging_state is None:
            return rows_body(self.result, self._fast_rows(values, now), None, skip_metadata)
        return self._run_general(values, page_size, paging_state, skip_metadata, now)

    def _fast_rows(self, values: Values, now: float) -> list[list[bytes | None]]:
        table = self.table
        assert table is not None
        parts = [required_value(s.get(values), c.name) for c, s in self._fast_pk]
        partition = table.partitions.get(parts[0] if len(parts) == 1 else routing_key(parts))
        if partition is None:
            return []
        ck = tuple(required_value(s.get(values), c.name) for c, s in self._fast_ck)
        row = partition.rows.get(ck)
        if (row is None or not row.is_live(now)) and (
            ck or not self.has_static or not partition.static.is_live(now)
        ):
            return []
        return [self._row(partition, ck if row is not None else None, row, now)]

    def _row(
        self, partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> list[bytes | None]:
        if not self.plain:
            values = [output.get(partition, ck, row, now) for output in self.outputs]
            if not self.json:
                return values
            entries = [
                f"{key}: {to_json(output.cql_type, value)}"
                for key, output, value in zip(self._json_keys, self.outputs, values, strict=True)
            ]
            return [("{" + ", ".join(entries) + "}").encode("utf-8")]
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

    def _partitions(self, values: Values, resume: PagingPosition | None) -> Iterator[Partition]:
        """Addressed partitions in token order, starting where a previous page stopped."""
        table = self.table
        assert table is not None
        position = None if resume is None else (murmur3(resume.key), resume.key)
        if self.where.partition:
            found: dict[bytes, Partition] = {}
            for parts in self.where.partition_keys(values, table):
                partition = table.partitions.get(routing_key(parts))
                if partition is not None:
                    found[partition.key] = partition
            chosen: Iterable[Partition] = sorted(found.values(), key=lambda p: (p.token, p.key))
            if position is not None:
                chosen = [p for p in chosen if (p.token, p.key) >= position]
        elif self.where.token_range:
            low, high = self.where.token_bounds(values)
            if low > high:
                return
            start = (low, b"")
            chosen = table.scan_from(start if position is None or position < start else position)
        else:
            chosen = table.scan_from(position)
        high_token = self.where.token_bounds(values)[1] if self.where.token_range else None
        for partition in chosen:
            if high_token is not None and partition.token > high_token:
                return
            if resume is not None and resume.ck is None and partition.key == resume.key:
                continue  # that partition was finished by the previous page
            yield partition

    def _run_general(
        self,
        values: Values,
        page_size: int,
        paging_state: bytes | None,
        skip_metadata: bool,
        now: float,
    ) -> bytes:
        table = self.table
        assert table is not None
        assert self.result is not None
        limit = int_value(self.limit, values, "LIMIT")
        if limit is not None and limit <= 0:
            raise Invalid(f"LIMIT must be strictly positive (got {limit})")
        per_partition = int_value(self.per_partition_limit, values, "PER PARTITION LIMIT")
        matcher = self.where.row_matcher(values, table)
        filters = [(c, op, s) for c, op, s in self.where.filters]
        resume: PagingPosition | None = None
        if paging_state is not None and not self.count:
            resume = PagingPosition.decode(paging_state)
            limit = resume.remaining if resume.remaining >= 0 else None
        partitions = self._partitions(values, resume)
        if self.count:  # one aggregated row: no paging, and LIMIT applies to that row
            page_size = -1
            limit = None
        rows: list[list[bytes | None]] = []
        counted = 0
        budget = limit if limit is not None else -1
        for partition in partitions:
            in_partition = 0
            skip_to: Any = None
            if resume is not None and resume.ck is not None and partition.key == resume.key:
                skip_to = table.clustering_sort_key(resume.ck)
                in_partition = resume.in_partition
            for ck, row in self._rows_of(partition, matcher, now, skip_to):
                if per_partition is not None and in_partition >= per_partition:
                    break
                if filters and not self._filters_pass(filters, values, partition, ck, row, now):
                    continue
                if self.distinct:
                    row, ck = None, None
                if self.count:
                    counted += 1
                else:
                    rows.append(self._row(partition, ck, row, now))
                in_partition += 1
                if budget > 0:
                    budget -= 1
                full = 0 < page_size <= len(rows)
                if budget == 0:
                    return self._finish(rows, counted, None, skip_metadata)
                if full:
                    stop = PagingPosition(
                        budget, in_partition, partition.key, None if self.distinct else ck
                    )
                    return self._finish(rows, counted, stop.encode(), skip_metadata)
                if self.distinct:
                    break
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
            end = len(ordered) if skip_to is None else bisect_left(ordered, skip_to, key=_first)
            positions = range(end - 1, -1, -1)
        else:
            start = 0 if skip_to is None else bisect_right(ordered, skip_to, key=_first)
            positions = range(start, len(ordered))
        produced = False
        for index in positions:
            ck = ordered[index][1]
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
            actual = cell_value(column, partition, ck, row, now)
            if isinstance(source, InSource):
                if actual not in source.get_all(values, column.name):
                    return False
            else:
                expected = source.get(values)
                if isinstance(expected, Unset):
                    raise Invalid(f"Invalid unset value for column {column.name}")
                if op in ("CONTAINS", "CONTAINS KEY"):
                    if not _contains(column, op, actual, expected):
                        return False
                elif not compare_values(op, actual, expected, column.cql_type):
                    return False
        return True


def _contains(column: Column, op: str, actual: bytes | None, expected: bytes | None) -> bool:
    """``l CONTAINS v`` (a list or set element, a map value) and ``m CONTAINS KEY k``."""
    if actual is None or expected is None:
        return False
    typename = column.cql_type.typename
    elements = split_collection(actual, typename == "map")
    if typename == "map":
        elements = elements[0::2] if op == "CONTAINS KEY" else elements[1::2]
    return expected in elements


def _first(item: tuple[Any, tuple[bytes, ...]]) -> Any:
    return item[0]
