"""The in-memory data: keyspaces, tables, partitions and rows of serialized cells.

Cells stay in the exact bytes a client sent, so answering a read copies bytes instead of
re-encoding values. Partitions are found by their serialized (routing) key and ordered by the
Murmur3 token, like Cassandra; clustering keys are decoded only to keep rows sorted.
"""

from __future__ import annotations

import bisect
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cassandra.murmur3 import murmur3

from ..language.types import CQLType, compare_key, quote_identifier, type_name

__all__ = ["Column", "Index", "Keyspace", "Partition", "Row", "Store", "Table", "routing_key"]

_SHORT = struct.Struct(">H")


def routing_key(parts: list[bytes]) -> bytes:
    """The serialized partition key, as the driver computes it for token-aware routing."""
    if len(parts) == 1:
        return parts[0]
    return b"".join(_SHORT.pack(len(part)) + part + b"\x00" for part in parts)


@dataclass(slots=True)
class Column:
    name: str
    cql_type: CQLType
    kind: str  # partition_key | clustering | regular | static
    position: int  # within its kind, -1 for regular columns
    descending: bool = False

    @property
    def type_text(self) -> str:
        return type_name(self.cql_type)


class _Descending:
    """Wraps a sort key so that it orders in reverse (for CLUSTERING ORDER BY ... DESC)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        result: bool = other.key < self.key
        return result

    def __gt__(self, other: _Descending) -> bool:
        result: bool = other.key > self.key
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __le__(self, other: _Descending) -> bool:
        return not self > other

    def __ge__(self, other: _Descending) -> bool:
        return not self < other


@dataclass(slots=True)
class Row:
    """Cells by column name; ``expiry`` holds the TTL deadline of cells that have one."""

    cells: dict[str, bytes] = field(default_factory=dict)
    expiry: dict[str, float] | None = None
    marker: bool = False  # written by INSERT: the row exists even with every cell null
    marker_expiry: float | None = None
    #: write timestamps (microseconds) of the cells, for writetime()
    written: dict[str, int] | None = None

    def live_cells(self, now: float) -> dict[str, bytes]:
        if self.expiry is None:
            return self.cells
        return {
            name: value
            for name, value in self.cells.items()
            if self.expiry.get(name, now + 1) > now
        }

    def is_live(self, now: float) -> bool:
        if self.marker and (self.marker_expiry is None or self.marker_expiry > now):
            return True
        if self.expiry is None:
            return bool(self.cells)
        return any(self.expiry.get(name, now + 1) > now for name in self.cells)

    def set_cell(
        self, name: str, value: bytes | None, deadline: float | None, timestamp: int | None = None
    ) -> None:
        if value is None:
            self.cells.pop(name, None)
            if self.expiry is not None:
                self.expiry.pop(name, None)
            if self.written is not None:
                self.written.pop(name, None)
            return
        self.cells[name] = value
        if timestamp is not None:
            if self.written is None:
                self.written = {}
            self.written[name] = timestamp
        if deadline is not None:
            if self.expiry is None:
                self.expiry = {}
            self.expiry[name] = deadline
        elif self.expiry is not None:
            self.expiry.pop(name, None)


@dataclass(slots=True)
class Partition:
    key: bytes
    key_parts: list[bytes]
    token: int
    rows: dict[tuple[bytes, ...], Row] = field(default_factory=dict)
    static: Row = field(default_factory=Row)
    _sorted: list[tuple[Any, tuple[bytes, ...]]] | None = None

    def sorted_rows(self, table: Table) -> list[tuple[Any, tuple[bytes, ...]]]:
        """(sort key, clustering bytes) in clustering order, rebuilt lazily after inserts."""
        if self._sorted is None:
            self._sorted = sorted(
                ((table.clustering_sort_key(ck), ck) for ck in self.rows),
                key=lambda item: item[0],
            )
        return self._sorted

    def add_row(self, ck: tuple[bytes, ...], table: Table) -> Row:
        row = self.rows.get(ck)
        if row is None:
            row = self.rows[ck] = Row()
            if self._sorted is not None:  # keep the order current: wide partitions stay cheap
                bisect.insort(self._sorted, (table.clustering_sort_key(ck), ck), key=_first)
        return row

    def remove_row(self, ck: tuple[bytes, ...], table: Table) -> None:
        if self.rows.pop(ck, None) is None or self._sorted is None:
            return
        sort_key = table.clustering_sort_key(ck)
        index = bisect.bisect_left(self._sorted, sort_key, key=_first)
        while index < len(self._sorted) and self._sorted[index][1] != ck:
            index += 1
        if index < len(self._sorted):
            del self._sorted[index]
        else:
            self._sorted = None


def _first(item: tuple[Any, tuple[bytes, ...]]) -> Any:
    return item[0]


class Table:
    """Schema plus data of one table. Columns keep their declaration order for ``*``."""

    def __init__(
        self,
        keyspace: str,
        name: str,
        columns: list[Column],
        options: dict[str, Any] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.keyspace = keyspace
        self.name = name
        self.read_only = read_only
        self.partitions: dict[bytes, Partition] = {}
        self._token_order: list[tuple[int, bytes]] | None = None
        #: secondary indexes by name (the index is a scan: only the schema is kept)
        self.indexes: dict[str, Index] = {}
        #: dropped columns: name -> (type text, drop time in microseconds), for system_schema
        self.dropped: dict[str, tuple[str, int]] = {}
        self.options: dict[str, Any] = {}
        self.set_columns(columns)
        self.set_options(options or {})

    def set_columns(self, columns: list[Column]) -> None:
        """Install a column list (CREATE, ALTER TABLE ADD/DROP/RENAME, ALTER TYPE)."""
        self.columns = {column.name: column for column in columns}
        self.partition_key = sorted(
            (c for c in columns if c.kind == "partition_key"), key=lambda c: c.position
        )
        self.clustering = sorted(
            (c for c in columns if c.kind == "clustering"), key=lambda c: c.position
        )
        regular = [c for c in columns if c.kind in ("regular", "static")]
        # Cassandra lists non-key columns of `SELECT *` alphabetically after the key columns.
        self.star_columns = [
            *self.partition_key,
            *self.clustering,
            *sorted(regular, key=lambda c: c.name),
        ]
        self.is_counter = any(c.cql_type.typename == "counter" for c in regular)
        self._clustering_types = [(c.cql_type, c.descending) for c in self.clustering]

    def set_options(self, options: dict[str, Any]) -> None:
        self.options = options
        default_ttl = self.options.get("default_time_to_live", 0)
        self.default_ttl: int | None = int(default_ttl) if default_ttl else None

    def forget_cells(self, name: str) -> None:
        """Drop every stored cell of a column (ALTER TABLE DROP: its data never comes back)."""
        for partition in self.partitions.values():
            partition.static.set_cell(name, None, None)
            for row in partition.rows.values():
                row.set_cell(name, None, None)
        for key in [k for k, p in self.partitions.items() if not p.rows]:
            partition = self.partitions[key]
            if not partition.static.is_live(time.time()):
                self.drop_partition(key)

    def clustering_sort_key(self, ck: tuple[bytes, ...]) -> tuple[Any, ...]:
        keys: list[Any] = []
        for (cql_type, descending), value in zip(self._clustering_types, ck, strict=True):
            key = compare_key(cql_type, value)
            keys.append(_Descending(key) if descending else key)
        return tuple(keys)

    def partition(self, key_parts: list[bytes], *, create: bool) -> Partition | None:
        key = routing_key(key_parts)
        found = self.partitions.get(key)
        if found is None and create:
            found = Partition(key, key_parts, murmur3(key))
            self.partitions[key] = found
            if self._token_order is not None:
                bisect.insort(self._token_order, (found.token, key))
        return found

    def drop_partition(self, key: bytes) -> None:
        partition = self.partitions.pop(key, None)
        if partition is None or self._token_order is None:
            return
        index = bisect.bisect_left(self._token_order, (partition.token, key))
        if index < len(self._token_order) and self._token_order[index][1] == key:
            del self._token_order[index]
        else:
            self._token_order = None

    def partitions_in_token_order(self) -> list[Partition]:
        return list(self.scan_from(None))

    def scan_from(self, position: tuple[int, bytes] | None) -> Iterator[Partition]:
        """Partitions in token order, from ``position`` (token, key) on, found by bisection."""
        if self._token_order is None:
            self._token_order = sorted((p.token, p.key) for p in self.partitions.values())
        order = self._token_order
        start = 0 if position is None else bisect.bisect_left(order, position)
        partitions = self.partitions
        for index in range(start, len(order)):
            found = partitions.get(order[index][1])
            if found is not None:
                yield found

    def truncate(self) -> None:
        self.partitions.clear()
        self._token_order = None

    def cleanup(self, partition: Partition, touched: list[tuple[bytes, ...]], now: float) -> None:
        """Forget the touched rows that are gone, and the partition once it is empty.

        Gone by the clock too: a write's NOW_IN_SECONDS may lie ahead, where rows that are
        live today have expired, and those must stay for the clients that read at today.
        """
        now = min(now, time.time())
        for ck in touched:
            row = partition.rows.get(ck)
            if row is not None and not row.is_live(now):
                partition.remove_row(ck, self)
        if not partition.rows and not partition.static.is_live(now):
            self.drop_partition(partition.key)


@dataclass(slots=True)
class Index:
    """A secondary index: which column, and whether it indexes values, keys or entries."""

    name: str
    column: str
    target: str  # regular | values | keys | entries | full
    custom_class: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def target_text(self) -> str:
        """The ``target`` option Cassandra records: ``v``, ``values(l)``, ``keys(m)``..."""
        column = quote_identifier(self.column)
        return column if self.target == "regular" else f"{self.target}({column})"


@dataclass(slots=True)
class Keyspace:
    name: str
    replication: dict[str, str]
    durable_writes: bool = True
    tables: dict[str, Table] = field(default_factory=dict)
    read_only: bool = False
    #: user-defined types by name, in creation order (a type may use the ones before it)
    types: dict[str, CQLType] = field(default_factory=dict)

    def user_type(self, name: str) -> CQLType | None:
        return self.types.get(name)


class Store:
    """Every keyspace; ``schema_epoch`` changes on each DDL so cached plans can notice."""

    def __init__(self) -> None:
        self.keyspaces: dict[str, Keyspace] = {}
        self.schema_epoch = 0

    def table(self, keyspace: str, name: str) -> Table | None:
        ks = self.keyspaces.get(keyspace)
        if ks is None:
            return None
        return ks.tables.get(name)

    def user_tables(self) -> Iterator[Table]:
        for ks in self.keyspaces.values():
            yield from ks.tables.values()


def now() -> float:
    return time.time()
