"""Independent client implementations against the in-memory server.

The Python driver is lenient; these are not. scyllapy wraps the ScyllaDB Rust driver and
acsylla the C++ driver: each has its own protocol codec, so a wrong type id, flag or length
that the Python driver tolerates fails here. Both speak protocol v4 (their highest).
A client whose wheel is missing for this interpreter is skipped with the reason.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cassandra_asgi.testing import CQLServer

KEYSPACE = (
    "CREATE KEYSPACE clients WITH replication = "
    "{'class': 'SimpleStrategy', 'replication_factor': 1}"
)
#: column -> (CQL type, a literal, the value it stands for)
TYPES: dict[str, tuple[str, str, Any]] = {
    "c_ascii": ("ascii", "'plain'", "plain"),
    "c_text": ("text", "'héllo'", "héllo"),
    "c_varchar": ("varchar", "'v'", "v"),
    "c_int": ("int", "-42", -42),
    "c_bigint": ("bigint", "9000000000", 9_000_000_000),
    "c_smallint": ("smallint", "-300", -300),
    "c_tinyint": ("tinyint", "7", 7),
    "c_varint": ("varint", "123456789012345678901234567890", 123456789012345678901234567890),
    "c_boolean": ("boolean", "true", True),
    "c_float": ("float", "1.5", 1.5),
    "c_double": ("double", "2.25", 2.25),
    "c_decimal": ("decimal", "3.14", decimal.Decimal("3.14")),
    "c_uuid": (
        "uuid",
        "123e4567-e89b-12d3-a456-426614174000",
        uuid.UUID("123e4567-e89b-12d3-a456-426614174000"),
    ),
    "c_timeuuid": (
        "timeuuid",
        "50554d6e-29bb-11e5-b345-feff819cdc9f",
        uuid.UUID("50554d6e-29bb-11e5-b345-feff819cdc9f"),
    ),
    "c_timestamp": (
        "timestamp",
        "'2024-05-06 07:08:09+0000'",
        datetime.datetime(2024, 5, 6, 7, 8, 9),
    ),
    "c_date": ("date", "'2024-05-06'", datetime.date(2024, 5, 6)),
    "c_time": ("time", "'12:34:56'", datetime.time(12, 34, 56)),
    "c_blob": ("blob", "0xcafe", b"\xca\xfe"),
    "c_inet": ("inet", "'10.0.0.1'", ipaddress.ip_address("10.0.0.1")),
    "c_list": ("list<int>", "[3, 1, 2]", [3, 1, 2]),
    "c_set": ("set<text>", "{'b', 'a'}", {"a", "b"}),
    "c_map": ("map<text, int>", "{'x': 1, 'y': 2}", {"x": 1, "y": 2}),
}
TYPES_TABLE = (
    "CREATE TABLE clients.types (k int PRIMARY KEY, "
    + ", ".join(f"{name} {cql}" for name, (cql, _, _) in TYPES.items())
    + ")"
)
TYPES_INSERT = (
    f"INSERT INTO clients.types (k, {', '.join(TYPES)}) VALUES "
    f"(1, {', '.join(literal for _, literal, _ in TYPES.values())})"
)
SCHEMA = [
    KEYSPACE,
    TYPES_TABLE,
    "CREATE TABLE clients.kv (k int, c int, v text, PRIMARY KEY (k, c))",
]


@pytest.fixture
async def server() -> AsyncIterator[CQLServer]:
    async with CQLServer() as node:
        yield node
