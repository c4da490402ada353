"""The ``system``, ``system_schema`` and virtual keyspaces the driver and tools read.

They are ordinary read-only tables in the store, refilled after every schema change, so the
driver's own queries (with their WHERE clauses) go through the normal SELECT path. The node
claims Cassandra 4.1, with 4.1's columns, so the driver reads it with the parser it uses in
production (SchemaParserV4, which also reads the virtual tables). The node's identity
(address, host id, data center, rack, tokens) lives in one ``NodeIdentity``.
"""

from __future__ import annotations

import decimal
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..errors import ConfigurationProblem, Invalid, SyntaxProblem
from ..language import cql
from ..language.types import (
    PROTOCOL_VERSION,
    CQLType,
    LiteralError,
    MapLiteral,
    SetLiteral,
    TypeResolver,
    contains_type,
    is_collection,
    is_frozen,
    is_udt,
    parse_type,
    type_name,
)
from .store import Column, Keyspace, Row, Store, Table

__all__ = [
    "CQL_VERSION",
    "NATIVE_PROTOCOL_VERSION",
    "RELEASE_VERSION",
    "NodeIdentity",
    "SystemTables",
    "Trace",
    "build_table",
    "check_counter_columns",
    "column_type",
    "raise_invalid",
    "table_option",
]

RELEASE_VERSION = "4.1.7"
CQL_VERSION = "3.4.6"
#: what system.local reports: the version Cassandra 4.1 prefers (ProtocolVersion.CURRENT)
NATIVE_PROTOCOL_VERSION = "5"
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
DATA_CENTER = "datacenter1"
RACK = "rack1"
CLUSTER_NAME = "cassandra-asgi in-memory"
STORAGE_PORT = 7000
NATIVE_PORT = 9042
_LOCAL_STRATEGY = {"class": "org.apache.cassandra.locator.LocalStrategy"}
_NUM_TOKENS = 8
#: keyspaces served but, like Cassandra's virtual keyspaces, absent from system_schema
VIRTUAL_KEYSPACES = ("system_views", "system_virtual_schema")


def _even_tokens(count: int) -> list[str]:
    step = 2**64 // count
    return [str(-(2**63) + step * i + step // 2) for i in range(count)]


@dataclass(slots=True)
class NodeIdentity:
    """Who the node is: one place, so that a cluster of several nodes can give each its own."""

    address: str
    host_id: uuid.UUID = field(default_factory=uuid.uuid4)
    data_center: str = DATA_CENTER
    rack: str = RACK
    tokens: list[str] = field(default_factory=lambda: _even_tokens(_NUM_TOKENS))
    native_port: int = NATIVE_PORT


_SYSTEM_TABLES = {
    "system": [
        """CREATE TABLE local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet,
           broadcast_port int, cluster_name text, cql_version text, data_center text,
           gossip_generation int, host_id uuid, listen_address inet, listen_port int,
           native_protocol_version text, partitioner text, rack text, release_version text,
           rpc_address inet, rpc_port int, schema_version uuid, tokens set<text>,
           truncated_at map<uuid, blob>)""",
        """CREATE TABLE peers (peer inet PRIMARY KEY, data_center text, host_id uuid,
           preferred_ip inet, rack text, release_version text, rpc_address inet,
           schema_version uuid, tokens set<text>)""",
        """CREATE TABLE peers_v2 (peer inet, peer_port int, data_center text, host_id uuid,
           native_address inet, native_port int, preferred_ip inet, preferred_port int,
           rack text, release_version text, schema_version uuid, tokens set<text>,
           PRIMARY KEY ((peer), peer_port))""",
    ],
    "system_schema": [
        """CREATE TABLE keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean,
           replication frozen<map<text, text>>)""",
        """CREATE TABLE tables (keyspace_name text, table_name text,
           additional_write_policy text, bloom_filter_fp_chance double,
           caching frozen<map<text, text>>, cdc boolean, comment text,
           compaction frozen<map<text, text>>, compression frozen<map<text, text>>,
           crc_check_chance double, default_time_to_live int,
           extensions frozen<map<text, blob>>, flags frozen<set<text>>, gc_grace_seconds int,
           id uuid, max_index_interval int, memtable text, memtable_flush_period_in_ms int,
           min_index_interval int, read_repair text, speculative_retry text,
           PRIMARY KEY (keyspace_name, table_name))""",
        """CREATE TABLE columns (keyspace_name text, table_name text, column_name text,
           clustering_order text, column_name_bytes blob, kind text, position int, type text,
           PRIMARY KEY (keyspace_name, table_name, column_name))""",
        """CREATE TABLE dropped_columns (keyspace_name text, table_name text, column_name text,
           dropped_time timestamp, type text,
           PRIMARY KEY (keyspace_name, table_name, column_name))""",
        """CREATE TABLE triggers (keyspace_name text, table_name text, trigger_name text,
           options frozen<map<text, text>>,
           PRIMARY KEY (keyspace_name, table_name, trigger_name))""",
        """CREATE TABLE views (keyspace_name text, view_name text, base_table_id uuid,
           base_table_name text, include_all_columns boolean, where_clause text,
           PRIMARY KEY (keyspace_name, view_name))""",
        """CREATE TABLE types (keyspace_name text, type_name text, field_names frozen<list<text>>,
           field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))""",
        """CREATE TABLE functions (keyspace_name text, function_name text,
           argument_types frozen<list<text>>, argument_names frozen<list<text>>, body text,
           called_on_null_input boolean, language text, return_type text,
           PRIMARY KEY (keyspace_name, function_name, argument_types))""",
        """CREATE TABLE aggregates (keyspace_name text, aggregate_name text,
           argument_types frozen<list<text>>, final_func text, initcond text, return_type text,
           state_func text, state_type text,
           PRIMARY KEY (keyspace_name, aggregate_name, argument_types))""",
        """CREATE TABLE indexes (keyspace_name text, table_name text, index_name text,
           kind text, options frozen<map<text, text>>,
           PRIMARY KEY (keyspace_name, table_name, index_name))""",
    ],
    "system_traces": [
        """CREATE TABLE sessions (session_id uuid PRIMARY KEY, client inet, command text,
           coordinator inet, duration int, parameters map<text, text>, request text,
           started_at timestamp)""",
        """CREATE TABLE events (session_id uuid, event_id timeuuid, activity text, source inet,
           source_elapsed int, thread text, PRIMARY KEY ((session_id), event_id))""",
    ],
    "system_virtual_schema": [
        """CREATE TABLE keyspaces (keyspace_name text PRIMARY KEY)""",
        """CREATE TABLE tables (keyspace_name text, table_name text, comment text,
           PRIMARY KEY (keyspace_name, table_name))""",
        """CREATE TABLE columns (keyspace_name text, table_name text, column_name text,
           clustering_order text, column_name_bytes blob, kind text, position int, type text,
           PRIMARY KEY (keyspace_name, table_name, column_name))""",
    ],
    # of 4.1's system_views, the settings (what tools read to learn how a node is set up)
    "system_views": [
        """CREATE TABLE settings (name text PRIMARY KEY, value text)""",
    ],
}
_VIRTUAL_TABLE_COMMENTS = {
    ("system_virtual_schema", "keyspaces"): "virtual keyspace definitions",
    ("system_virtual_schema", "tables"): "virtual table definitions",
    ("system_virtual_schema", "columns"): "virtual column definitions",
    ("system_views", "settings"): "current settings",
}
_WRITABLE_DATA = ("system_traces",)
_KEYSPACE_REPLICATION = {
    "system_traces": {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "2",
    }
}

_TABLE_DEFAULTS: dict[str, Any] = {
    "additional_write_policy": "99p",
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
    "cdc": False,
    "comment": "",
    "compaction": {
        "class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
        "max_threshold": "32",
        "min_threshold": "4",
    },
    "compression": {
        "chunk_length_in_kb": "64",
        "class": "org.apache.cassandra.io.compress.LZ4Compressor",
    },
    "crc_check_chance": 1.0,
    "default_time_to_live": 0,
    "extensions": {},
    "flags": ["compound"],
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "speculative_retry": "99p",
}


def column_type(text: str, user_types: TypeResolver | None, name: str, kind: str) -> CQLType:
    """The type of a column declared ``name text`` with Cassandra's rules for its kind."""
    try:
        cql_type = parse_type(text, user_types)
    except LiteralError as exc:
        raise_invalid(str(exc))
    if kind in ("partition_key", "clustering"):
        if is_collection(cql_type) and not is_frozen(cql_type):
            raise_invalid(f"Invalid non-frozen collection type for PRIMARY KEY component {name}")
        if is_udt(cql_type) and not is_frozen(cql_type):
            raise_invalid(f"Invalid non-frozen user-defined type for PRIMARY KEY component {name}")
        for forbidden in ("counter", "duration"):
            if contains_type(cql_type, _named(forbidden)):
                raise_invalid(f"{forbidden} type is not supported for PRIMARY KEY column '{name}'")
    if kind == "static" and cql_type.typename == "counter":
        raise_invalid(f"Static counter columns are not supported (column {name})")
    return cql_type


def _named(typename: str) -> Callable[[CQLType], bool]:
    def matches(cql_type: CQLType) -> bool:
        return bool(cql_type.typename == typename)

    return matches


def build_table(
    keyspace: str,
    stmt: cql.CreateTable,
    *,
    read_only: bool = False,
    user_types: TypeResolver | None = None,
) -> Table:
    """A Table from a parsed CREATE TABLE (validation messages follow Cassandra's)."""
    declared: dict[str, cql.ColumnSpec] = {}
    for spec in stmt.columns:
        if spec.name in declared:
            raise_invalid(f"Multiple definition of identifier {spec.name}")
        declared[spec.name] = spec
    if not stmt.partition_key:
        raise_invalid("No PRIMARY KEY specifed (exactly one required)")
    key_names = [*stmt.partition_key, *stmt.clustering]
    for name in key_names:
        if name not in declared:
            raise_invalid(f"Unknown definition {name} referenced in PRIMARY KEY")
    if len(set(key_names)) != len(key_names):
        raise_invalid("A column cannot be part of the PRIMARY KEY twice")
    order = stmt.options.pop("_clustering_order", [])
    if order and order != stmt.clustering[: len(order)]:
        raise_invalid(
            "The order of columns in the CLUSTERING ORDER directive must be the "
            "one of the clustering key"
        )
    columns: list[Column] = []
    for spec in stmt.columns:
        if spec.name in stmt.partition_key:
            kind, position = "partition_key", stmt.partition_key.index(spec.name)
        elif spec.name in stmt.clustering:
            kind, position = "clustering", stmt.clustering.index(spec.name)
        else:
            kind, position = ("static" if spec.static else "regular"), -1
        if spec.static and kind != "static":
            raise_invalid(f"Static column {spec.name} cannot be part of the PRIMARY KEY")
        if spec.static and not stmt.clustering:
            raise_invalid(
                "Static columns are only useful (and thus allowed) if the table has at "
                "least one clustering column"
            )
        cql_type = column_type(spec.type_text, user_types, spec.name, kind)
        columns.append(Column(spec.name, cql_type, kind, position, spec.name in stmt.descending))
    for name in stmt.descending:
        if name not in stmt.clustering:
            raise_invalid(
                f"Only clustering key columns can be defined in CLUSTERING ORDER directive ({name})"
            )
    check_counter_columns(columns)
    options = {name: table_option(name, value) for name, value in stmt.options.items()}
    if options.get("default_time_to_live") and any(
        c.cql_type.typename == "counter" for c in columns
    ):
        raise_invalid("Cannot set default_time_to_live on a table with counters")
    return Table(keyspace, stmt.name, columns, options, read_only=read_only)


def check_counter_columns(columns: list[Column]) -> None:
    """Cassandra's rule: a table's non-key columns are all counters or none is."""
    regular = [c for c in columns if c.kind in ("regular", "static")]
    counters = [c for c in regular if c.cql_type.typename == "counter"]
    if counters and len(counters) != len(regular):
        raise_invalid("Cannot mix counter and non counter columns in the same table")


_COMPRESSORS = ("LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor")
_COMPACTIONS = (
    "SizeTieredCompactionStrategy",
    "LeveledCompactionStrategy",
    "DateTieredCompactionStrategy",
    "TimeWindowCompactionStrategy",
)


def table_option(name: str, value: Any) -> Any:
    """A table property as system_schema.tables keeps it (ConfigurationException if invalid)."""
    if name not in _TABLE_DEFAULTS:
        raise SyntaxProblem(f"Unknown property '{name}'")
    value = _option_value(name, value)
    if name == "compression":
        return _compression(value)
    if name == "compaction":
        return _compaction(value)
    return value


def _compression(value: dict[str, str]) -> dict[str, str]:
    """``{}`` or ``{'enabled': 'false'}`` turn compression off, as in Cassandra 3.x."""
    if not value or value.get("enabled") == "false":
        return {"enabled": "false"}
    options = dict(value)
    options.pop("enabled", None)
    klass = options.pop("class", None) or options.pop("sstable_compression", None)
    if klass is None:
        raise ConfigurationProblem("Missing sub-option 'class' for the 'compression' option.")
    short = klass.rsplit(".", 1)[-1]
    if short not in _COMPRESSORS:
        raise ConfigurationProblem(f"Could not create Compression for type {klass}")
    chunk = options.pop("chunk_length_in_kb", None) or options.pop("chunk_length_kb", None)
    out = {
        "chunk_length_in_kb": chunk or "64",
        "class": f"org.apache.cassandra.io.compress.{short}",
    }
    options.pop("crc_check_chance", None)
    if options:
        raise ConfigurationProblem(f"Unknown compression options {sorted(options)}")
    return out


def _compaction(value: dict[str, str]) -> dict[str, str]:
    options = dict(value)
    klass = options.pop("class", None)
    if klass is None:
        raise ConfigurationProblem("Missing sub-option 'class' for the 'compaction' option.")
    short = klass.rsplit(".", 1)[-1]
    if short not in _COMPACTIONS:
        raise ConfigurationProblem(f"Unable to find compaction strategy class '{klass}'")
    options.setdefault("max_threshold", "32")
    options.setdefault("min_threshold", "4")
    return {"class": f"org.apache.cassandra.db.compaction.{short}", **options}


def _option_value(name: str, value: Any) -> Any:
    """Table options keep the type system_schema.tables gives them."""
    default = _TABLE_DEFAULTS[name]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif isinstance(default, float):
        ok = isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, dict):
        if isinstance(value, SetLiteral) and not value:
            value = MapLiteral()  # `{}` reads as an empty set literal
        ok = isinstance(value, MapLiteral)
        value = {str(k): _text(v) for k, v in value.items()} if ok else value
    else:
        ok = False
    if not ok:
        raise ConfigurationProblem(f"Invalid value {value!r} for table property '{name}'")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def raise_invalid(message: str) -> NoReturn:
    raise Invalid(message)


class Trace:
    """One traced request: its session id and the events seen so far (for system_traces)."""

    __slots__ = ("_clock", "events", "session_id", "started")

    def __init__(self) -> None:
        self.session_id = uuid.uuid1()
        self.started = time.time()
        self._clock = time.perf_counter()
        self.events: list[tuple[uuid.UUID, str, int]] = []

    def elapsed_us(self) -> int:
        return int((time.perf_counter() - self._clock) * 1_000_000)

    def event(self, activity: str) -> None:
        self.events.append((uuid.uuid1(), activity, self.elapsed_us()))


class SystemTables:
    """Owns the system keyspaces' contents and the node's identity."""

    def __init__(self, store: Store, address: str) -> None:
        self.store = store
        self.node = NodeIdentity(address)
        self.schema_version = uuid.uuid4()
        for ks_name, definitions in _SYSTEM_TABLES.items():
            replication = _KEYSPACE_REPLICATION.get(ks_name, _LOCAL_STRATEGY)
            keyspace = Keyspace(ks_name, dict(replication), True, read_only=True)
            store.keyspaces[ks_name] = keyspace
            for text in definitions:
                stmt = cql.parse(" ".join(text.split()))
                assert isinstance(stmt, cql.CreateTable)
                stmt.options = {}
                # rows of system_traces may be changed (not its schema), as in Cassandra
                writable = ks_name in _WRITABLE_DATA
                keyspace.tables[stmt.name] = build_table(ks_name, stmt, read_only=not writable)
        self.refresh()

    @property
    def address(self) -> str:
        return self.node.address

    def schema_changed(self) -> None:
        self.schema_version = uuid.uuid4()
        self.store.schema_epoch += 1
        self.refresh()

    def refresh(self) -> None:
        store = self.store
        for table in store.keyspaces["system_schema"].tables.values():
            table.truncate()
        for table in store.keyspaces["system_virtual_schema"].tables.values():
            table.truncate()
        self._settings()
        local = self._table("system", "local")
        local.truncate()
        node = self.node
        _put(
            local,
            {
                "key": "local",
                "bootstrapped": "COMPLETED",
                "broadcast_address": node.address,
                "broadcast_port": STORAGE_PORT,
                "cluster_name": CLUSTER_NAME,
                "cql_version": CQL_VERSION,
                "data_center": node.data_center,
                "gossip_generation": 1,
                "host_id": node.host_id,
                "listen_address": node.address,
                "listen_port": STORAGE_PORT,
                "native_protocol_version": NATIVE_PROTOCOL_VERSION,
                "partitioner": PARTITIONER,
                "rack": node.rack,
                "release_version": RELEASE_VERSION,
                "rpc_address": node.address,
                "rpc_port": node.native_port,
                "schema_version": self.schema_version,
                "tokens": node.tokens,
            },
        )
        for name in VIRTUAL_KEYSPACES:
            self._describe_virtual(store.keyspaces[name])
        keyspaces = self._table("system_schema", "keyspaces")
        tables = self._table("system_schema", "tables")
        columns = self._table("system_schema", "columns")
        types = self._table("system_schema", "types")
        indexes = self._table("system_schema", "indexes")
        dropped = self._table("system_schema", "dropped_columns")
        for keyspace in store.keyspaces.values():
            if keyspace.name in VIRTUAL_KEYSPACES:
                continue
            _put(
                keyspaces,
                {
                    "keyspace_name": keyspace.name,
                    "durable_writes": keyspace.durable_writes,
                    "replication": keyspace.replication,
                },
            )
            for udt in keyspace.types.values():
                _put(
                    types,
                    {
                        "keyspace_name": keyspace.name,
                        "type_name": udt.typename,
                        "field_names": list(udt.fieldnames),
                        "field_types": [type_name(sub) for sub in udt.subtypes],
                    },
                )
            for table in keyspace.tables.values():
                values = dict(_TABLE_DEFAULTS)
                values.update(table.options)
                values.update(
                    {
                        "keyspace_name": keyspace.name,
                        "table_name": table.name,
                        "id": uuid.uuid5(uuid.NAMESPACE_OID, f"{keyspace.name}.{table.name}"),
                        "flags": ["compound", "counter"] if table.is_counter else ["compound"],
                    }
                )
                _put(tables, values)
                for index in table.indexes.values():
                    options = {**index.options, "target": index.target_text}
                    if index.custom_class is not None:
                        options["class_name"] = index.custom_class
                    _put(
                        indexes,
                        {
                            "keyspace_name": keyspace.name,
                            "table_name": table.name,
                            "index_name": index.name,
                            "kind": "CUSTOM" if index.custom_class else "COMPOSITES",
                            "options": options,
                        },
                    )
                for name, (dropped_type, dropped_at) in table.dropped.items():
                    _put(
                        dropped,
                        {
                            "keyspace_name": keyspace.name,
                            "table_name": table.name,
                            "column_name": name,
                            "dropped_time": dropped_at // 1000,
                            "type": dropped_type,
                        },
                    )
                _describe_columns(columns, keyspace.name, table)

    def _describe_virtual(self, keyspace: Keyspace) -> None:
        """A virtual keyspace's rows, in system_virtual_schema (never in system_schema)."""
        _put(self._table("system_virtual_schema", "keyspaces"), {"keyspace_name": keyspace.name})
        tables = self._table("system_virtual_schema", "tables")
        columns = self._table("system_virtual_schema", "columns")
        for table in keyspace.tables.values():
            comment = _VIRTUAL_TABLE_COMMENTS.get((keyspace.name, table.name), "")
            _put(
                tables,
                {"keyspace_name": keyspace.name, "table_name": table.name, "comment": comment},
            )
            _describe_columns(columns, keyspace.name, table)

    def _settings(self) -> None:
        """The settings of cassandra.yaml that hold for this node, under 4.1's names."""
        settings = self._table("system_views", "settings")
        settings.truncate()
        node = self.node
        for name, value in (
            ("cluster_name", CLUSTER_NAME),
            ("endpoint_snitch", "SimpleSnitch"),
            ("listen_address", node.address),
            ("native_transport_port", str(node.native_port)),
            ("num_tokens", str(len(node.tokens))),
            ("partitioner", PARTITIONER),
            ("rpc_address", node.address),
            ("start_native_transport", "true"),
            ("storage_port", str(STORAGE_PORT)),
        ):
            _put(settings, {"name": name, "value": value})

    def record_trace(
        self, trace: Trace, client: str, command: str, request: str, parameters: dict[str, str]
    ) -> None:
        """Write a finished trace to system_traces.sessions and events, as a node does."""
        trace.event("Request complete")
        _put(
            self._table("system_traces", "sessions"),
            {
                "session_id": trace.session_id,
                "client": client,
                "command": command,
                "coordinator": self.address,
                "duration": trace.elapsed_us(),
                "parameters": parameters,
                "request": request,
                "started_at": int(trace.started * 1000),
            },
        )
        events = self._table("system_traces", "events")
        for event_id, activity, elapsed in trace.events:
            _put(
                events,
                {
                    "session_id": trace.session_id,
                    "event_id": event_id,
                    "activity": activity,
                    "source": self.address,
                    "source_elapsed": elapsed,
                    "thread": "Native-Transport-Requests-1",
                },
            )

    def write_peers(self, peers: Iterable[tuple[NodeIdentity, uuid.UUID]]) -> None:
        """Fill system.peers and system.peers_v2 with the other nodes of a cluster, each with
        the schema version it reports; a node without peers_v2 (Cassandra 3) skips that."""
        system = self.store.keyspaces["system"].tables
        targets = [system[name] for name in ("peers", "peers_v2") if name in system]
        for table in targets:
            table.truncate()
        for peer, schema_version in peers:
            common = {
                "peer": peer.address,
                "data_center": peer.data_center,
                "host_id": peer.host_id,
                "preferred_ip": None,
                "rack": peer.rack,
                "release_version": RELEASE_VERSION,
                "schema_version": schema_version,
                "tokens": peer.tokens,
            }
            for table in targets:
                if table.name == "peers":
                    _put(table, {**common, "rpc_address": peer.address})
                else:
                    _put(
                        table,
                        {
                            **common,
                            "peer_port": STORAGE_PORT,
                            "native_address": peer.address,
                            "native_port": peer.native_port,
                            "preferred_port": None,
                        },
                    )

    def _table(self, keyspace: str, name: str) -> Table:
        table = self.store.table(keyspace, name)
        assert table is not None
        return table


def _describe_columns(columns: Table, keyspace: str, table: Table) -> None:
    for column in table.columns.values():
        order = "none"
        if column.kind == "clustering":
            order = "desc" if column.descending else "asc"
        _put(
            columns,
            {
                "keyspace_name": keyspace,
                "table_name": table.name,
                "column_name": column.name,
                "clustering_order": order,
                "column_name_bytes": column.name.encode("utf-8"),
                "kind": column.kind,
                "position": column.position,
                "type": column.type_text,
            },
        )


def _put(table: Table, values: dict[str, Any]) -> None:
    """Insert one row given as Python values, serialized with the driver's codecs."""

    def encode(name: str) -> bytes:
        column = table.columns[name]
        data: bytes = column.cql_type.serialize(values[name], PROTOCOL_VERSION)
        return data

    parts = [encode(c.name) for c in table.partition_key]
    ck = tuple(encode(c.name) for c in table.clustering)
    partition = table.partition(parts, create=True)
    assert partition is not None
    row: Row = partition.add_row(ck, table)
    row.marker = True
    for name, value in values.items():
        column = table.columns[name]
        if column.kind in ("regular", "static") and value is not None:
            row.cells[name] = encode(name)
