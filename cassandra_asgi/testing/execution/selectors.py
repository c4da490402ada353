"""The SELECT clause: columns, UDT fields, writetime()/ttl(), token(), CAST and native
functions, each compiled once into a getter that reads a row's serialized cells."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Invalid
from ..language import cql
from ..language.types import (
    CQLType,
    LiteralError,
    is_collection,
    is_frozen,
    is_udt,
    literal_to_bytes,
    parse_type,
    split_fields,
    type_name,
)
from .binding import Planner, cell_value
from .functions import cast_value, resolve_function
from .store import Column, Partition, Row

__all__ = ["Getter", "Output", "compile_output", "expression_name"]

#: (partition, clustering key or None, row or None, now) -> the selected value's bytes
Getter = Callable[[Partition, tuple[bytes, ...] | None, Row | None, float], bytes | None]

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
_BIGINT_TYPE = parse_type("bigint")
_INT_TYPE = parse_type("int")


@dataclass(slots=True)
class Output:
    """One column of a SELECT's result: its name, type and how to read it from a row."""

    name: str
    cql_type: CQLType
    get: Getter
    column: Column | None = None  # set for a plain column (read by the fast path)


def expression_name(expr: cql.Expr) -> str:
    """The result column name Cassandra 3.11 gives a selector without an alias."""
    if isinstance(expr, cql.ColumnRef):
        return expr.name
    if isinstance(expr, cql.FieldRef):
        return f"{expression_name(expr.base)}.{expr.field}"
    if isinstance(expr, cql.CastExpr):
        return f"cast({expression_name(expr.expr)} as {expr.type_text})"
    if isinstance(expr, cql.Call):
        if expr.star:
            return "count"
        args = ", ".join(expression_name(arg) for arg in expr.args)
        if expr.name in ("writetime", "ttl"):
            return f"{expr.name}({args})"
        return f"system.{expr.name}({args})"
    if isinstance(expr, cql.Literal):
        return repr(expr.value)
    return "?"


def compile_output(planner: Planner, expr: cql.Expr, expected: CQLType | None = None) -> Output:
    name = expression_name(expr)
    if isinstance(expr, cql.ColumnRef):
        column = planner.column(expr.name)

        def get_column(
            partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
        ) -> bytes | None:
            return cell_value(column, partition, ck, row, now)

        return Output(column.name, column.cql_type, get_column, column)
    if isinstance(expr, cql.FieldRef):
        return _field(planner, expr, name)
    if isinstance(expr, cql.CastExpr):
        inner = compile_output(planner, expr.expr)
        try:
            target = parse_type(expr.type_text)
        except LiteralError as exc:
            raise Invalid(str(exc)) from None
        if is_collection(inner.cql_type) or is_udt(inner.cql_type):
            raise Invalid(f"{type_name(inner.cql_type)} cannot be cast to {expr.type_text}")
        source_type, read = inner.cql_type, inner.get

        def get_cast(
            partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
        ) -> bytes | None:
            return cast_value(source_type, target, read(partition, ck, row, now))

        return Output(name, target, get_cast)
    if isinstance(expr, cql.Literal):
        if expected is None:
            raise Invalid(f"Cannot infer the type of the literal {name} in the selection clause")
        try:
            constant = literal_to_bytes(expected, expr.value)
        except LiteralError as exc:
            raise Invalid(str(exc)) from None
        return Output(name, expected, lambda partition, ck, row, now: constant)
    if isinstance(expr, cql.Marker):
        raise cql.Unsupported("bind markers in the selection clause")
    assert isinstance(expr, cql.Call)
    if expr.star:
        raise Invalid("count(*) cannot be combined with other selectors")
    if expr.name in ("writetime", "ttl"):
        return _cell_metadata(planner, expr, name)
    if expr.name == "token":
        return _token(planner, expr, name)
    if expr.name in ("count", "min", "max", "sum", "avg"):
        raise cql.Unsupported(f"the aggregate {expr.name}() on a column")
    args = [
        None if isinstance(arg, cql.Literal | cql.Marker) else compile_output(planner, arg)
        for arg in expr.args
    ]
    function = resolve_function(expr.name, [a.cql_type if a else None for a in args], None)
    getters = [
        (a if a is not None else compile_output(planner, arg, function.arg_types[i])).get
        for i, (arg, a) in enumerate(zip(expr.args, args, strict=True))
    ]
    apply = function.apply

    def get_call(
        partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> bytes | None:
        return apply([get(partition, ck, row, now) for get in getters])

    return Output(name, function.return_type, get_call)


def _field(planner: Planner, expr: cql.FieldRef, name: str) -> Output:
    base = compile_output(planner, expr.base)
    udt = base.cql_type
    if not is_udt(udt):
        raise Invalid(
            f"Invalid field selection: {expression_name(expr.base)} of type "
            f"{type_name(udt)} is not a user type"
        )
    if expr.field not in udt.fieldnames:
        raise Invalid(f"{udt.typename} has no field {expr.field}")
    position = udt.fieldnames.index(expr.field)
    read = base.get

    def get_field(
        partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> bytes | None:
        value = read(partition, ck, row, now)
        if value is None:
            return None
        fields = split_fields(value)
        return fields[position] if position < len(fields) else None

    return Output(name, udt.subtypes[position], get_field)


def _cell_metadata(planner: Planner, expr: cql.Call, name: str) -> Output:
    """writetime(c): the microsecond timestamp of the write; ttl(c): seconds left, or null."""
    label = "writeTime" if expr.name == "writetime" else "ttl"
    if len(expr.args) != 1 or not isinstance(expr.args[0], cql.ColumnRef):
        raise Invalid(f"{label}() takes exactly one column as its argument")
    column = planner.column(expr.args[0].name)
    if column.kind in ("partition_key", "clustering"):
        raise Invalid(f"Cannot use selection function {label} on PRIMARY KEY part {column.name}")
    if is_collection(column.cql_type) and not is_frozen(column.cql_type):
        raise Invalid(f"Cannot use selection function {label} on collections")
    if column.cql_type.typename == "counter":
        raise Invalid(f"Cannot use selection function {label} on counters")
    column_name = column.name
    static = column.kind == "static"
    if expr.name == "writetime":

        def get_writetime(
            partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
        ) -> bytes | None:
            target = partition.static if static else row
            if target is None or column_name not in target.live_cells(now):
                return None
            written = target.written.get(column_name) if target.written is not None else None
            return _LONG.pack(written) if written is not None else None

        return Output(name, _BIGINT_TYPE, get_writetime)

    def get_ttl(
        partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> bytes | None:
        target = partition.static if static else row
        if target is None or target.expiry is None or column_name not in target.live_cells(now):
            return None
        deadline = target.expiry.get(column_name)
        if deadline is None:
            return None
        return _INT.pack(max(0, math.ceil(deadline - now)))

    return Output(name, _INT_TYPE, get_ttl)


def _token(planner: Planner, expr: cql.Call, name: str) -> Output:
    table = planner.table
    names = [arg.name if isinstance(arg, cql.ColumnRef) else None for arg in expr.args]
    if names != [c.name for c in table.partition_key]:
        raise Invalid(
            "The token() function must be applied to all partition key components, in order "
            f"({', '.join(c.name for c in table.partition_key)})"
        )

    def get_token(
        partition: Partition, ck: tuple[bytes, ...] | None, row: Row | None, now: float
    ) -> bytes | None:
        return _LONG.pack(partition.token)

    return Output(name, _BIGINT_TYPE, get_token)
