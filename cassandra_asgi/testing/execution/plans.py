"""Statement plans: a parsed statement bound to the schema, ready to run many times.

Plans are cached per statement text (and per prepared id) until the next schema change; the
pieces live in ``binding`` (value sources), ``where``, ``selects`` and ``writes``.
"""

from __future__ import annotations

from ..language import cql
from .binding import Bound, Plan
from .selects import SelectPlan
from .store import Table
from .writes import DeletePlan, InsertPlan, UpdatePlan, WritePlan, lwt_result

__all__ = ["Bound", "Plan", "SelectPlan", "WritePlan", "lwt_result", "new_bound", "plan_statement"]


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
