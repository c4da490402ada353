"""Plan building blocks: where values come from at run time, and the Plan interface.

Planning resolves column names, turns literals into serialized bytes and records the type of
every bind marker; running a plan then only moves bytes around.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cassandra import cqltypes

from ..errors import Invalid
from ..language import cql
from ..language.types import (
    CQLType,
    LiteralError,
    compare_key,
    literal_to_bytes,
    split_collection,
    type_name,
)
from ..wire.frames import Unset
from ..wire.results import ColumnSpec, RowsMetadata
from .functions import resolve_function
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
    """A function call evaluated at run time (``now()``, ``intAsBlob(?)``...)."""

    __slots__ = ("apply", "args", "name")

    def __init__(
        self, name: str, apply: Callable[[list[bytes | None]], bytes | None], args: list[Source]
    ) -> None:
        self.name = name
        self.apply = apply
        self.args = args

    def get(self, values: Values) -> bytes | Unset | None:
        arguments: list[bytes | None] = []
        for source in self.args:
            value = source.get(values)
            if isinstance(value, Unset):
                raise Invalid(f"Invalid unset value for argument in call to function {self.name}")
            arguments.append(value)
        return self.apply(arguments)


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
        return _in_list(data)


def _in_list(data: bytes) -> list[bytes]:
    """Element bytes of the list bound to ``IN ?``, without decoding the elements."""
    try:
        elements = split_collection(data)
    except LiteralError:
        raise Invalid("Invalid list value for IN restriction") from None
    out = []
    for element in elements:
        if element is None:
            raise Invalid("Invalid null value in IN list")
        out.append(element)
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
            source, returned = self.function(term, cql_type)
            if not _same_type(returned, cql_type):
                raise Invalid(
                    f"Type error: {term.name}() cannot be used as a value of type "
                    f"{type_name(cql_type)}"
                )
            return source
        try:
            return Const(literal_to_bytes(cql_type, term.value))
        except LiteralError as exc:
            raise Invalid(f"{exc} for column {spec_name}") from None

    def function(self, call: cql.FunctionCall, expected: CQLType | None) -> tuple[Source, CQLType]:
        """A native function call as a value source, typed by its resolved return type."""
        if call.name == "token":
            raise cql.Unsupported("token() as a value (use it on the left of a WHERE relation)")
        nested = [
            self.function(arg, None) if isinstance(arg, cql.FunctionCall) else None
            for arg in call.args
        ]
        function = resolve_function(call.name, [n[1] if n else None for n in nested], expected)
        sources: list[Source] = []
        for index, (arg, done) in enumerate(zip(call.args, nested, strict=True)):
            if done is not None:
                sources.append(done[0])
            else:
                sources.append(self.source(arg, function.arg_types[index], f"arg{index}"))
        if function.deterministic and all(isinstance(s, Const) for s in sources):
            constant = function.apply([s.get(()) for s in sources])  # type: ignore[misc]
            return Const(constant), function.return_type
        return Func(function.name, function.apply, sources), function.return_type

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


def _same_type(left: CQLType, right: CQLType) -> bool:
    return type_name(left) == type_name(right) or {left.typename, right.typename} <= {
        "text",
        "varchar",
    }


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
    #: runs with no engine-side checks (warnings, consistency) when the request is not traced
    quick = True
    pk_indexes: list[int]
    bound: Bound

    def run(
        self,
        values: Values,
        page_size: int,
        paging_state: bytes | None,
        skip_metadata: bool,
        timestamp: int | None = None,
        now: float | None = None,
    ) -> bytes:
        """``timestamp``: the client's default write timestamp (us), when it sent one;
        ``now``: the time TTLs expire against (a v5 client's NOW_IN_SECONDS), else the clock's."""
        raise NotImplementedError
