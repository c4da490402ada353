"""Encoding RESULT message bodies (void, rows, set-keyspace, prepared, schema-change).

Row-set metadata is encoded once per plan and reused for every response, because the
metadata of a prepared statement never changes while its schema epoch stands.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..language.types import CQLType, encode_type_option
from .notations import string, string_list, value_bytes

__all__ = [
    "EMPTY_METADATA_ID",
    "VOID",
    "ColumnSpec",
    "RowsMetadata",
    "mark_metadata_changed",
    "prepared_body",
    "response_envelope",
    "rows_body",
    "schema_change_body",
    "set_keyspace_body",
]

_INT = struct.Struct(">i")
_SHORT = struct.Struct(">H")
_KIND_VOID = 1
_KIND_ROWS = 2
_KIND_SET_KEYSPACE = 3
_KIND_PREPARED = 4
_KIND_SCHEMA_CHANGE = 5
_GLOBAL_TABLES_SPEC = 0x0001
_HAS_MORE_PAGES = 0x0002
_NO_METADATA = 0x0004
_METADATA_CHANGED = 0x0008

VOID = _INT.pack(_KIND_VOID)
#: the result metadata id of a statement without rows (Cassandra hashes no columns at all)
EMPTY_METADATA_ID = hashlib.md5(b"").digest()


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    cql_type: CQLType


def _specs(columns: Sequence[ColumnSpec]) -> tuple[int, bytes]:
    """Column specs, with a global table spec when every column shares one table."""
    if columns and len({(c.keyspace, c.table) for c in columns}) == 1:
        head = string(columns[0].keyspace) + string(columns[0].table)
        body = b"".join(string(c.name) + encode_type_option(c.cql_type) for c in columns)
        return _GLOBAL_TABLES_SPEC, head + body
    body = b"".join(
        string(c.keyspace) + string(c.table) + string(c.name) + encode_type_option(c.cql_type)
        for c in columns
    )
    return 0, body


class RowsMetadata:
    """Pre-encoded rows metadata: full, and the no-metadata form for skip_metadata requests."""

    __slots__ = (
        "columns",
        "count",
        "flags",
        "full",
        "head_full",
        "head_skip",
        "metadata_id",
        "specs",
    )

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        self.columns = tuple(columns)
        self.count = len(columns)
        self.flags, self.specs = _specs(columns)
        self.full = _INT.pack(self.flags) + _INT.pack(self.count) + self.specs
        #: v5's result metadata id: a digest of the column specs, so any change to the
        #: columns (an ALTER TABLE, a re-planned ``SELECT *``) gives a new id
        self.metadata_id = hashlib.md5(self.full).digest()
        self.head_full = _INT.pack(_KIND_ROWS) + self.full
        self.head_skip = _INT.pack(_KIND_ROWS) + _INT.pack(_NO_METADATA) + _INT.pack(self.count)

    def encode(self, paging_state: bytes | None, skip: bool) -> bytes:
        if paging_state is None:
            return self.head_skip if skip else self.head_full
        flags = self.flags | _HAS_MORE_PAGES
        if skip:
            flags = _NO_METADATA | _HAS_MORE_PAGES
        out = _INT.pack(_KIND_ROWS) + _INT.pack(flags) + _INT.pack(self.count)
        out += value_bytes(paging_state)
        if not skip:
            out += self.specs
        return out


def rows_body(
    metadata: RowsMetadata,
    rows: Sequence[Sequence[bytes | None]],
    paging_state: bytes | None = None,
    skip_metadata: bool = False,
) -> bytes:
    parts = [metadata.encode(paging_state, skip_metadata), _INT.pack(len(rows))]
    pack = _INT.pack
    for row in rows:
        for cell in row:
            if cell is None:
                parts.append(b"\xff\xff\xff\xff")
            else:
                parts.append(pack(len(cell)))
                parts.append(cell)
    return b"".join(parts)


def mark_metadata_changed(body: bytes, metadata: RowsMetadata) -> bytes:
    """A rows body sent with full metadata, re-flagged as v5's "metadata changed" answer.

    The client's result metadata id was stale: the flag and the new id (after the paging
    state) tell it to replace its cached metadata, as Cassandra does after an ALTER TABLE.
    """
    flags = _INT.unpack_from(body, 4)[0]
    position = 12
    if flags & _HAS_MORE_PAGES:
        position += 4 + max(_INT.unpack_from(body, 12)[0], 0)
    new_id = _SHORT.pack(len(metadata.metadata_id)) + metadata.metadata_id
    return b"".join(
        (body[:4], _INT.pack(flags | _METADATA_CHANGED), body[8:position], new_id, body[position:])
    )


def prepared_body(
    statement_id: bytes,
    bind_columns: Sequence[ColumnSpec],
    pk_indexes: Iterable[int],
    result: RowsMetadata | None,
    protocol_version: int,
) -> bytes:
    flags, specs = _specs(bind_columns)
    out = _INT.pack(_KIND_PREPARED) + _SHORT.pack(len(statement_id)) + statement_id
    if protocol_version >= 5:
        metadata_id = result.metadata_id if result is not None else EMPTY_METADATA_ID
        out += _SHORT.pack(len(metadata_id)) + metadata_id
    out += _INT.pack(flags) + _INT.pack(len(bind_columns))
    if protocol_version >= 4:
        indexes = list(pk_indexes)
        out += _INT.pack(len(indexes)) + b"".join(_SHORT.pack(i) for i in indexes)
    out += specs
    if result is None:
        out += _INT.pack(_NO_METADATA) + _INT.pack(0)
    else:
        out += result.full
    return out


TRACING_FLAG = 0x02
WARNING_FLAG = 0x08


def response_envelope(
    body: bytes, trace_id: bytes | None, warnings: list[str] | None, protocol_version: int
) -> tuple[int, bytes]:
    """The frame flags and body of a response carrying a tracing id and client warnings.

    The tracing id (16 bytes) comes first, then the warnings as a [string list]; warnings
    exist from protocol v4 on, so on v3 they are left out.
    """
    flags = 0
    prefix = b""
    if trace_id is not None:
        flags |= TRACING_FLAG
        prefix += trace_id
    if warnings and protocol_version >= 4:
        flags |= WARNING_FLAG
        prefix += string_list(warnings)
    return flags, prefix + body if prefix else body


def set_keyspace_body(keyspace: str) -> bytes:
    return _INT.pack(_KIND_SET_KEYSPACE) + string(keyspace)


def schema_change_event(change: str, target: str, keyspace: str, table: str | None) -> bytes:
    body = string(change) + string(target) + string(keyspace)
    if table is not None:
        body += string(table)
    return body


def schema_change_body(change: str, target: str, keyspace: str, table: str | None) -> bytes:
    return _INT.pack(_KIND_SCHEMA_CHANGE) + schema_change_event(change, target, keyspace, table)
