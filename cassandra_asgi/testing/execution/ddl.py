"""Schema statements: keyspaces, tables, user-defined types and secondary indexes.

Each statement changes the store's schema and reports what changed (for the SCHEMA_CHANGE
result and event), or nothing when ``IF [NOT] EXISTS`` made it a no-op. Validation messages
follow Cassandra 3.11's, so tests written against the in-memory server read like the real thing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..errors import AlreadyExists, ConfigurationProblem, Invalid, Unauthorized
from ..language import cql
from ..language.types import (
    CQLType,
    LiteralError,
    TypeResolver,
    contains_type,
    is_collection,
    is_frozen,
    is_udt,
    parse_type,
    type_name,
    user_type,
)
from .store import Column, Index, Keyspace, Store, Table
from .system import build_table, check_counter_columns, column_type, raise_invalid, table_option

__all__ = ["SchemaChange", "execute_ddl", "named_keyspace"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,48}$")
_STRATEGIES = {
    "simplestrategy": "org.apache.cassandra.locator.SimpleStrategy",
    "networktopologystrategy": "org.apache.cassandra.locator.NetworkTopologyStrategy",
}


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What a schema statement changed; ``invalidates`` names the (keyspace, table or None)
    whose prepared statements Cassandra forgets, so that clients re-prepare them."""

    change: str  # CREATED | UPDATED | DROPPED
    target: str  # KEYSPACE | TABLE | TYPE
    keyspace: str
    name: str | None
    invalidates: tuple[str, str | None] | None = None


def named_keyspace(name: str | None) -> str:
    """The keyspace a statement targets, or Cassandra's error when it names none."""
    if name is None:
        raise Invalid(
            "No keyspace has been specified. USE a keyspace, or explicitly specify "
            "keyspace.tablename"
        )
    return name


def execute_ddl(store: Store, stmt: cql.Statement, current: str | None) -> SchemaChange | None:
    """Run one schema statement; ``current`` is the session's keyspace (from USE)."""
    if isinstance(stmt, cql.CreateKeyspace):
        return _create_keyspace(store, stmt)
    if isinstance(stmt, cql.AlterKeyspace):
        return _alter_keyspace(store, stmt)
    if isinstance(stmt, cql.DropKeyspace):
        return _drop_keyspace(store, stmt)
    if isinstance(stmt, cql.CreateTable):
        return _create_table(store, stmt, current)
    if isinstance(stmt, cql.AlterTable):
        return _alter_table(store, stmt, current)
    if isinstance(stmt, cql.DropTable):
        return _drop_table(store, stmt, current)
    if isinstance(stmt, cql.CreateType):
        return _create_type(store, stmt, current)
    if isinstance(stmt, cql.AlterType):
        return _alter_type(store, stmt, current)
    if isinstance(stmt, cql.DropType):
        return _drop_type(store, stmt, current)
    if isinstance(stmt, cql.CreateIndex):
        return _create_index(store, stmt, current)
    if isinstance(stmt, cql.DropIndex):
        return _drop_index(store, stmt, current)
    raise cql.Unsupported(type(stmt).__name__)


def _writable(store: Store, name: str, missing: str) -> Keyspace:
    keyspace = store.keyspaces.get(name)
    if keyspace is None:
        raise Invalid(missing)
    if keyspace.read_only:
        raise Unauthorized(f"{name} keyspace is not user-modifiable")
    return keyspace


def _table_of(store: Store, ks_name: str, name: str) -> tuple[Keyspace, Table]:
    keyspace = _writable(store, ks_name, f"Keyspace {ks_name} does not exist")
    table = keyspace.tables.get(name)
    if table is None:
        raise Invalid(f"table {name} does not exist")
    return keyspace, table


# --- keyspaces ---------------------------------------------------------------------------


def _replication(keyspace: str, given: dict[str, str]) -> dict[str, str]:
    replication = dict(given)
    strategy = replication.get("class")
    if strategy is None:
        raise ConfigurationProblem("Missing replication strategy class")
    short = strategy.rsplit(".", 1)[-1].lower()
    if short not in _STRATEGIES:
        raise ConfigurationProblem(f"Unable to find replication strategy class '{strategy}'")
    replication["class"] = _STRATEGIES[short]
    if short == "simplestrategy":
        factor = replication.get("replication_factor")
        if factor is None:
            raise ConfigurationProblem(
                "SimpleStrategy requires a replication_factor strategy option."
            )
        if not factor.isdigit():
            raise ConfigurationProblem(f"Replication factor must be non-negative; found {factor}")
        extra = sorted(set(replication) - {"class", "replication_factor"})
        if extra:
            raise ConfigurationProblem(
                f"Unrecognized strategy option {{{extra[0]}}} passed to SimpleStrategy "
                f"for keyspace {keyspace}"
            )
    return replication


def _create_keyspace(store: Store, stmt: cql.CreateKeyspace) -> SchemaChange | None:
    if not _NAME_RE.match(stmt.name):
        raise Invalid(
            "Keyspace name must not be empty, more than 48 characters long, or "
            f'contain non-alphanumeric-underscore characters (got "{stmt.name}")'
        )
    replication = _replication(stmt.name, stmt.replication)
    if stmt.name in store.keyspaces:
        if stmt.if_not_exists:
            return None
        raise AlreadyExists(stmt.name, "")
    store.keyspaces[stmt.name] = Keyspace(stmt.name, replication, stmt.durable_writes)
    return SchemaChange("CREATED", "KEYSPACE", stmt.name, None)


def _alter_keyspace(store: Store, stmt: cql.AlterKeyspace) -> SchemaChange:
    keyspace = _writable(store, stmt.name, f"Keyspace {stmt.name} does not exist")
    if stmt.replication is not None:
        keyspace.replication = _replication(stmt.name, stmt.replication)
    if stmt.durable_writes is not None:
        keyspace.durable_writes = stmt.durable_writes
    return SchemaChange("UPDATED", "KEYSPACE", stmt.name, None)


def _drop_keyspace(store: Store, stmt: cql.DropKeyspace) -> SchemaChange | None:
    keyspace = store.keyspaces.get(stmt.name)
    if keyspace is None:
        if stmt.if_exists:
            return None
        raise Invalid(f"Keyspace '{stmt.name}' doesn't exist")
    if keyspace.read_only:
        raise Unauthorized(f"{stmt.name} keyspace is not user-modifiable")
    del store.keyspaces[stmt.name]
    return SchemaChange("DROPPED", "KEYSPACE", stmt.name, None, (stmt.name, None))


# --- tables ------------------------------------------------------------------------------


def _create_table(store: Store, stmt: cql.CreateTable, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = _writable(store, ks_name, f"Keyspace '{ks_name}' doesn't exist")
    if not _NAME_RE.match(stmt.name):
        raise Invalid(
            "Table name must not be empty, more than 48 characters long, or "
            f'contain non-alphanumeric-underscore characters (got "{stmt.name}")'
        )
    table = build_table(ks_name, _copy_create(stmt), user_types=keyspace.user_type)
    if stmt.name in keyspace.tables:
        if stmt.if_not_exists:
            return None
        raise AlreadyExists(ks_name, stmt.name)
    keyspace.tables[stmt.name] = table
    return SchemaChange("CREATED", "TABLE", ks_name, stmt.name)


def _copy_create(stmt: cql.CreateTable) -> cql.CreateTable:
    """build_table consumes options; parsed statements are cached and must stay intact."""
    return cql.CreateTable(
        keyspace=stmt.keyspace,
        name=stmt.name,
        if_not_exists=stmt.if_not_exists,
        columns=list(stmt.columns),
        partition_key=list(stmt.partition_key),
        clustering=list(stmt.clustering),
        descending=set(stmt.descending),
        options=dict(stmt.options),
    )


def _drop_table(store: Store, stmt: cql.DropTable, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = store.keyspaces.get(ks_name)
    if keyspace is None:
        if stmt.if_exists:
            return None
        raise Invalid(f"Keyspace '{ks_name}' doesn't exist")
    if keyspace.read_only:
        raise Unauthorized(f"{ks_name} keyspace is not user-modifiable")
    if stmt.name not in keyspace.tables:
        if stmt.if_exists:
            return None
        raise Invalid(f"Table '{ks_name}.{stmt.name}' doesn't exist")
    del keyspace.tables[stmt.name]
    return SchemaChange("DROPPED", "TABLE", ks_name, stmt.name, (ks_name, stmt.name))


def _alter_table(store: Store, stmt: cql.AlterTable, current: str | None) -> SchemaChange:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace, table = _table_of(store, ks_name, stmt.name)
    columns = list(table.columns.values())
    if stmt.altered_type is not None:
        raise Invalid("Altering of types is not allowed")
    for spec in stmt.added:
        if spec.name in table.columns:
            raise Invalid(
                f"Invalid column name {spec.name} because it conflicts with an existing column"
            )
        if spec.static and not table.clustering:
            raise Invalid(
                "Static columns are only useful (and thus allowed) if the table has at least "
                "one clustering column"
            )
        kind = "static" if spec.static else "regular"
        cql_type = column_type(spec.type_text, keyspace.user_type, spec.name, kind)
        columns.append(Column(spec.name, cql_type, kind, -1))
    for name in stmt.dropped:
        column = table.columns.get(name)
        if column is None:
            raise Invalid(f"Column {name} was not found in table {stmt.name}")
        if column.kind in ("partition_key", "clustering"):
            raise Invalid(f"Cannot drop PRIMARY KEY part {name}")
        dependent = [i.name for i in table.indexes.values() if i.column == name]
        if dependent:
            raise Invalid(
                f"Cannot drop column {name} because it has dependent secondary indexes "
                f"({', '.join(dependent)})"
            )
        columns = [c for c in columns if c.name != name]
    check_counter_columns(columns)
    renames = dict(stmt.renamed)
    for old, new in stmt.renamed:
        column = table.columns.get(old)
        if column is None:
            raise Invalid(f"Column {old} was not found in table {stmt.name}")
        if column.kind not in ("partition_key", "clustering"):
            raise Invalid(f"Cannot rename non PRIMARY KEY part {old}")
        if new in table.columns and new not in renames:
            raise Invalid(
                f"Cannot rename column {old} to {new} in keyspace {ks_name}; another column of "
                "that name already exist"
            )
    options = dict(table.options)
    for option, value in stmt.options.items():
        options[option] = table_option(option, value)
    if table.is_counter and options.get("default_time_to_live"):
        raise Invalid("Cannot set default_time_to_live on a table with counters")
    # every check passed: apply
    now_us = int(time.time() * 1_000_000)
    for spec in stmt.added:
        table.dropped.pop(spec.name, None)
    for name in stmt.dropped:
        table.dropped[name] = (table.columns[name].type_text, now_us)
        table.forget_cells(name)
    for column in columns:
        if column.name in renames:
            column.name = renames[column.name]
    for index in table.indexes.values():
        index.column = renames.get(index.column, index.column)
    table.set_columns(columns)
    table.set_options(options)
    return SchemaChange("UPDATED", "TABLE", ks_name, stmt.name, (ks_name, stmt.name))


# --- user-defined types ------------------------------------------------------------------


def _field_types(
    fields: list[tuple[str, str]], resolver: TypeResolver, type_label: str
) -> list[CQLType]:
    seen: set[str] = set()
    types = []
    for name, text in fields:
        if name in seen:
            raise Invalid(f"Duplicate field name {name} in type {type_label}")
        seen.add(name)
        try:
            field_type = parse_type(text, resolver)
        except LiteralError as exc:
            raise_invalid(str(exc))
        if field_type.typename == "counter":
            raise Invalid("A user type cannot contain counters")
        if is_udt(field_type) and not is_frozen(field_type):
            raise Invalid(f"A user type cannot contain non-frozen UDTs (field {name})")
        types.append(field_type)
    return types


def _create_type(store: Store, stmt: cql.CreateType, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = _writable(store, ks_name, f"Cannot add type in unknown keyspace {ks_name}")
    if stmt.name in keyspace.types:
        if stmt.if_not_exists:
            return None
        raise Invalid(f"A user type of name {ks_name}.{stmt.name} already exists")
    types = _field_types(stmt.fields, keyspace.user_type, f"{ks_name}.{stmt.name}")
    names = [name for name, _ in stmt.fields]
    keyspace.types[stmt.name] = user_type(ks_name, stmt.name, names, types)
    return SchemaChange("CREATED", "TYPE", ks_name, stmt.name)


def _uses_type(cql_type: CQLType, name: str) -> bool:
    return contains_type(cql_type, lambda t: is_udt(t) and t.typename == name)


def _drop_type(store: Store, stmt: cql.DropType, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = _writable(store, ks_name, f"Keyspace {ks_name} does not exist")
    if stmt.name not in keyspace.types:
        if stmt.if_exists:
            return None
        raise Invalid(f"No user type named {ks_name}.{stmt.name} exists.")
    for other in keyspace.types.values():
        if other.typename != stmt.name and any(_uses_type(t, stmt.name) for t in other.subtypes):
            raise Invalid(
                f"Cannot drop user type {ks_name}.{stmt.name} as it is still used by user type "
                f"{other.typename}"
            )
    for table in keyspace.tables.values():
        if any(_uses_type(c.cql_type, stmt.name) for c in table.columns.values()):
            raise Invalid(
                f"Cannot drop user type {ks_name}.{stmt.name} as it is still used by table "
                f"{ks_name}.{table.name}"
            )
    del keyspace.types[stmt.name]
    return SchemaChange("DROPPED", "TYPE", ks_name, stmt.name)


def _alter_type(store: Store, stmt: cql.AlterType, current: str | None) -> SchemaChange:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = _writable(store, ks_name, f"Keyspace {ks_name} does not exist")
    udt = keyspace.types.get(stmt.name)
    if udt is None:
        raise Invalid(f"No user type named {ks_name}.{stmt.name} exists.")
    names = list(udt.fieldnames)
    types = list(udt.subtypes)
    for name, text in stmt.added:
        if name in names:
            raise Invalid(
                f"Cannot add new field {name} to type {ks_name}.{stmt.name}: a field of the "
                "same name already exists"
            )
        (field_type,) = _field_types([(name, text)], keyspace.user_type, stmt.name)
        if _uses_type(field_type, stmt.name):
            raise Invalid(
                f"Cannot add new field {name} of type {text} to type {stmt.name} as "
                "this would create a circular reference"
            )
        names.append(name)
        types.append(field_type)
    for old, new in stmt.renamed:
        if old not in names:
            raise Invalid(f"Unknown field {old} in type {ks_name}.{stmt.name}")
        if new in names:
            raise Invalid(f"Duplicate field name {new} in type {ks_name}.{stmt.name}")
        names[names.index(old)] = new
    keyspace.types[stmt.name] = user_type(ks_name, stmt.name, names, types)
    _retype(keyspace)
    return SchemaChange("UPDATED", "TYPE", ks_name, stmt.name, (ks_name, None))


def _retype(keyspace: Keyspace) -> None:
    """After ALTER TYPE, rebuild every type and column that embeds a user-defined type."""
    rebuilt: dict[str, CQLType] = {}
    for name, udt in keyspace.types.items():
        subtypes = [parse_type(type_name(sub), rebuilt.get) for sub in udt.subtypes]
        rebuilt[name] = user_type(keyspace.name, name, list(udt.fieldnames), subtypes)
    keyspace.types = rebuilt
    for table in keyspace.tables.values():
        changed = False
        for column in table.columns.values():
            if contains_type(column.cql_type, is_udt):
                column.cql_type = parse_type(type_name(column.cql_type), rebuilt.get)
                changed = True
        if changed:
            table.set_columns(list(table.columns.values()))


# --- secondary indexes -------------------------------------------------------------------


def _create_index(store: Store, stmt: cql.CreateIndex, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace, table = _table_of(store, ks_name, stmt.table)
    column = table.columns.get(stmt.column)
    if column is None:
        raise Invalid(f"No column definition found for column {stmt.column}")
    cql_type = column.cql_type
    target = stmt.target
    if is_collection(cql_type) and is_frozen(cql_type):
        if stmt.explicit_target and target != "full":
            raise Invalid(
                f"Cannot create {target}() index on frozen column {column.name}. Frozen "
                "collections only support full() indexes"
            )
        if not stmt.explicit_target:
            raise Invalid(
                f"Cannot create values() index on frozen column {column.name}. Frozen "
                "collections only support full() indexes"
            )
    elif is_collection(cql_type):
        if target == "full":
            raise Invalid("full() indexes can only be created on frozen collections")
        if target in ("keys", "entries") and cql_type.typename != "map":
            raise Invalid(
                f"Cannot create index on {target} of column {column.name} with non-map type"
            )
    else:
        if stmt.explicit_target:
            raise Invalid(
                f"Cannot create {target}() index on {column.name}. Non-collection columns "
                "support only simple indexes"
            )
        target = "regular"
    if column.kind == "static":
        raise Invalid("Secondary indexes are not supported on static columns")
    if column.kind == "partition_key" and len(table.partition_key) == 1:
        raise Invalid(f"Cannot create secondary index on partition key column {column.name}")
    if table.is_counter:
        raise Invalid("Secondary indexes on counter tables are not supported")
    existing = {index.name for t in keyspace.tables.values() for index in t.indexes.values()}
    name = stmt.name
    if name is None:
        base = re.sub(r"\W", "", f"{table.name}_{column.name}_idx")
        name, suffix = base, 0
        while name in existing:
            suffix += 1
            name = f"{base}_{suffix}"
    if name in existing:
        if stmt.if_not_exists:
            return None
        raise Invalid(f"Index {name} already exists")
    for index in table.indexes.values():
        if index.column == column.name and index.target == target and stmt.custom_class is None:
            if stmt.if_not_exists:
                return None
            raise Invalid(f"Index {name} is a duplicate of existing index {index.name}")
    table.indexes[name] = Index(name, column.name, target, stmt.custom_class, dict(stmt.options))
    return SchemaChange("UPDATED", "TABLE", ks_name, table.name, (ks_name, table.name))


def _drop_index(store: Store, stmt: cql.DropIndex, current: str | None) -> SchemaChange | None:
    ks_name = named_keyspace(stmt.keyspace or current)
    keyspace = _writable(store, ks_name, f"Keyspace {ks_name} does not exist")
    for table in keyspace.tables.values():
        if stmt.name in table.indexes:
            del table.indexes[stmt.name]
            return SchemaChange("UPDATED", "TABLE", ks_name, table.name, (ks_name, table.name))
    if stmt.if_exists:
        return None
    raise Invalid(
        f"Index '{stmt.name}' could not be found in any of the tables of keyspace '{ks_name}'"
    )
