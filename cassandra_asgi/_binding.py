"""Binding values to prepared statements, with errors that name the offending column.

The driver's ``BoundStatement.bind`` names the column only for ``TypeError`` and
``struct.error``; a value of the wrong kind for a text or collection column surfaces as a bare
``AttributeError`` (``'int' object has no attribute 'encode'``). On that failure path, and only
there, each value is serialized again on its own to find the column to name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cassandra.query import UNSET_VALUE

__all__ = ["bind"]


def bind(prepared: Any, parameters: Any) -> Any:
    """``prepared.bind(parameters)``; codec failures become a ``TypeError`` naming the column."""
    try:
        return prepared.bind(parameters)
    except (AttributeError, ValueError, OverflowError) as exc:
        culprit = _failing_column(prepared, parameters)
        if culprit is None:
            raise
        name, cql_type, value = culprit
        raise TypeError(
            f'Received an argument of invalid type for column "{name}". '
            f"Expected: {cql_type}, Got: {type(value).__name__} ({exc})"
        ) from exc


def _failing_column(prepared: Any, parameters: Any) -> tuple[str, str, Any] | None:
    columns = prepared.column_metadata or ()
    protocol_version = prepared.protocol_version
    for index, column in enumerate(columns):
        if isinstance(parameters, Mapping):
            if column.name not in parameters:
                continue
            value = parameters[column.name]
        elif parameters is not None and index < len(parameters):
            value = parameters[index]
        else:
            break
        if value is None or value is UNSET_VALUE:  # neither is serialized
            continue
        try:
            column.type.serialize(value, protocol_version)
        except Exception:
            return column.name, column.type.cql_parameterized_type(), value
    return None
