"""Plan building blocks: where values come from at run time, and the Plan interface.

Planning resolves column names, turns literals into serialized bytes and records the type of
every bind marker; running a plan then only moves bytes around.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cassandra import cqltypes

from ..errors import Invalid
from ..language import cql
from ..language.types import CQLType, LiteralError, compare_key, literal_to_bytes
from ..wire.frames import Unset
from ..wire.results import ColumnSpec, RowsMetadata
from .store import Column, Partition, Row, Table

__all__ = [
    "Bind",
    "Bound",
    "Const",
    "Func",
    "InSource",
    "Plan",
    "Planner",
    "Source",
    "Values",
    "cell_value",
    "compare_values",
    "int_value",
    "required_value",
    "split_collection",
]

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
            return [required_value(source.get(values), column) for source in self.items]
        assert self.bind is not None
        data = required_value(self.bind.get(values), column)
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


def required_value(value: bytes | Unset | None, column: str) -> bytes:
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


def int_value(source: Source | None, values: Values, what: str) -> int | None:
    if source is None:
        return None
    raw = source.get(values)
    if raw is None or isinstance(raw, Unset):
        return None
    if len(raw) != 4:
        raise Invalid(f"Invalid value for {what}: expected a 4-byte int")
    value: int = _INT.unpack(raw)[0]
    return value


def compare_values(
    op: str, actual: bytes | None, expected: bytes | None, cql_type: CQLType
) -> bool:
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


def cell_value(
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
