"""WHERE clauses: which partitions and rows a statement addresses, and what it filters."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cassandra import cqltypes

from ..errors import Invalid
from ..language import cql
from ..language.types import compare_key, contains_type, is_collection
from .binding import Bind, InSource, Planner, Source, Values, required_value
from .store import Column, Table

__all__ = ["MAX_KEY_COMBINATIONS", "Where", "pk_indexes", "plan_where"]

#: IN lists multiply; past this many keys a statement is refused instead of stalling the server
MAX_KEY_COMBINATIONS = 10_000


def _check_product(choices: list[list[bytes]], what: str) -> None:
    total = 1
    for values in choices:
        total *= len(values)
    if total > MAX_KEY_COMBINATIONS:
        raise Invalid(
            f"IN restrictions select {total} {what}, more than the limit of "
            f"{MAX_KEY_COMBINATIONS} (cartesian product of the IN lists)"
        )


# --- WHERE clauses -----------------------------------------------------------------------


@dataclass
class Where:
    partition: list[Source | InSource] = field(default_factory=list)  # per pk column, or empty
    clustering_eq: list[Source | InSource] = field(default_factory=list)  # prefix
    range_position: int = -1
    lower: tuple[Source, bool] | None = None
    upper: tuple[Source, bool] | None = None
    filters: list[tuple[Column, str, Source | InSource]] = field(default_factory=list)
    #: WHERE token(pk...) bounds: (source of a bigint token, inclusive)
    token_lower: tuple[Source, bool] | None = None
    token_upper: tuple[Source, bool] | None = None

    @property
    def token_range(self) -> bool:
        return self.token_lower is not None or self.token_upper is not None

    def token_bounds(self, values: Values) -> tuple[int, int]:
        """The inclusive range [low, high] of partition tokens the token() restrictions allow."""
        low, high = -(2**63), 2**63 - 1
        if self.token_lower is not None:
            source, inclusive = self.token_lower
            raw = required_value(source.get(values), "partition key token")
            low = _LONG.unpack(raw)[0] + (0 if inclusive else 1)
        if self.token_upper is not None:
            source, inclusive = self.token_upper
            raw = required_value(source.get(values), "partition key token")
            high = _LONG.unpack(raw)[0] - (0 if inclusive else 1)
        return low, high

    @property
    def single_partition(self) -> bool:
        return bool(self.partition) and all(isinstance(s, Source) for s in self.partition)

    def partition_keys(self, values: Values, table: Table) -> list[list[bytes]]:
        choices: list[list[bytes]] = []
        for column, source in zip(table.partition_key, self.partition, strict=True):
            if isinstance(source, InSource):
                choices.append(source.get_all(values, column.name))
            else:
                choices.append([required_value(source.get(values), column.name)])
        _check_product(choices, "partition keys")
        return [list(combo) for combo in itertools.product(*choices)]

    def clustering_prefixes(self, values: Values, table: Table) -> list[tuple[bytes, ...]]:
        choices: list[list[bytes]] = []
        for column, source in zip(table.clustering, self.clustering_eq, strict=False):
            if isinstance(source, InSource):
                choices.append(source.get_all(values, column.name))
            else:
                choices.append([required_value(source.get(values), column.name)])
        _check_product(choices, "clustering keys")
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
                    raw = required_value(bound[0].get(values), column.name)
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
        if relation.token is not None:
            _token_relation(planner, where, relation, for_write=for_write)
            continue
        planner.column(relation.column)
        by_column.setdefault(relation.column, []).append(relation)
    if where.token_range:
        restricted = [c.name for c in table.partition_key if c.name in by_column]
        if restricted:
            raise Invalid(
                f'Columns "{restricted[0]}" cannot be restricted by both a normal relation and '
                "a token relation"
            )

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
        if any(rel.op in _CONTAINS for rel in rels):
            raise Invalid(f"Cannot use {rels[0].op} on non-collection column {column.name}")
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
        if any(rel.op in _CONTAINS for rel in rels):
            raise Invalid(f"Cannot use {rels[0].op} on non-collection column {column.name}")
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
    if (
        where.filters
        and not allow_filtering
        and not for_write
        and not (len(where.filters) == 1 and _indexed(table, *where.filters[0][:2]))
    ):
        raise Invalid(
            "Cannot execute this query as it might involve data filtering and thus may have "
            "unpredictable performance. If you want to execute this query despite the "
            "performance unpredictability, use ALLOW FILTERING"
        )
    return where


_CONTAINS = ("CONTAINS", "CONTAINS KEY")
_LONG = struct.Struct(">q")
_BIGINT_TYPE = cqltypes.LongType


def _indexed(table: Table, column: Column, op: str) -> bool:
    """Whether a secondary index answers this restriction (then no ALLOW FILTERING needed)."""
    for index in table.indexes.values():
        if index.column != column.name:
            continue
        if op == "=" and index.target in ("regular", "full"):
            return True
        if op == "CONTAINS" and index.target == "values":
            return True
        if op == "CONTAINS KEY" and index.target == "keys":
            return True
    return False


def _token_relation(
    planner: Planner, where: Where, relation: cql.Relation, *, for_write: bool
) -> None:
    table = planner.table
    assert relation.token is not None
    if for_write:
        raise Invalid("The token function cannot be used in WHERE clauses for UPDATE and DELETE")
    expected = [c.name for c in table.partition_key]
    if list(relation.token) != expected:
        raise Invalid(
            "The token() function must be applied to all partition key components or none of "
            f"them, in order ({', '.join(expected)})"
        )
    assert relation.term is not None
    if relation.op not in ("=", "<", "<=", ">", ">="):
        raise Invalid(f"Unsupported operator {relation.op} on token()")
    bound = (planner.source(relation.term, _BIGINT_TYPE, "partition key token"), True)
    if relation.op in (">", ">=", "="):
        if where.token_lower is not None:
            raise Invalid("More than one restriction was found for the start bound on token()")
        where.token_lower = (bound[0], relation.op != ">")
    if relation.op in ("<", "<=", "="):
        if where.token_upper is not None:
            raise Invalid("More than one restriction was found for the end bound on token()")
        where.token_upper = (bound[0], relation.op != "<")


def _filter(
    planner: Planner, column: Column, rel: cql.Relation
) -> tuple[Column, str, Source | InSource]:
    if rel.op == "IN":
        return column, "IN", planner.in_source(rel, column)
    assert rel.term is not None
    if rel.op in _CONTAINS:
        cql_type = column.cql_type
        if not is_collection(cql_type):
            raise Invalid(f"Cannot use {rel.op} on non-collection column {column.name}")
        if rel.op == "CONTAINS KEY":
            if cql_type.typename != "map":
                raise Invalid(f"Cannot use CONTAINS KEY on non-map column {column.name}")
            element = cql_type.subtypes[0]
        else:
            element = cql_type.subtypes[-1]
        return column, rel.op, planner.source(rel.term, element, column.name)
    if rel.op in ("<", "<=", ">", ">=") and contains_type(
        column.cql_type, lambda t: t.typename == "duration"
    ):
        raise Invalid("Slice restrictions are not supported on duration columns")
    return column, rel.op, planner.source(rel.term, column.cql_type, column.name)


def pk_indexes(where: Where, table: Table) -> list[int]:
    if not where.partition or len(where.partition) != len(table.partition_key):
        return []
    indexes = []
    for source in where.partition:
        if not isinstance(source, Bind):
            return []
        indexes.append(source.index)
    return indexes
