"""CQL data types on top of the driver's own codecs.

The server keeps every cell as the serialized bytes a client sent; this module is where those
bytes meet Python values: parsing type names from DDL, turning CQL literals into bytes,
ordering clustering values, and writing the protocol's ``[option]`` type descriptions.
Nothing here re-implements a codec: ``cassandra.cqltypes`` does all (de)serialization.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import struct
import uuid
from collections.abc import Callable
from typing import Any

from cassandra import cqltypes, type_codes, util

__all__ = [
    "PROTOCOL_VERSION",
    "CQLType",
    "LiteralError",
    "compare_key",
    "encode_type_option",
    "literal_to_bytes",
    "normalize_collection",
    "parse_type",
    "type_name",
]

#: Cell bytes are the same in v3 and v4, so one version is used for every codec call.
PROTOCOL_VERSION = 4

CQLType = Any  # a subclass of cassandra.cqltypes._CassandraType

_SIMPLE_TYPES: dict[str, CQLType] = {
    "ascii": cqltypes.AsciiType,
    "bigint": cqltypes.LongType,
    "blob": cqltypes.BytesType,
    "boolean": cqltypes.BooleanType,
    "date": cqltypes.SimpleDateType,
    "decimal": cqltypes.DecimalType,
    "double": cqltypes.DoubleType,
    "float": cqltypes.FloatType,
    "inet": cqltypes.InetAddressType,
    "int": cqltypes.Int32Type,
    "smallint": cqltypes.ShortType,
    "text": cqltypes.UTF8Type,
    "time": cqltypes.TimeType,
    "timestamp": cqltypes.DateType,
    "timeuuid": cqltypes.TimeUUIDType,
    "tinyint": cqltypes.ByteType,
    "uuid": cqltypes.UUIDType,
    "varchar": cqltypes.VarcharType,
    "varint": cqltypes.IntegerType,
}
_COLLECTIONS: dict[str, tuple[CQLType, int]] = {
    "list": (cqltypes.ListType, 1),
    "set": (cqltypes.SetType, 1),
    "map": (cqltypes.MapType, 2),
}
_TYPE_CODES: dict[str, int] = {
    name: code for name, code in vars(type_codes).items() if isinstance(code, int)
}
# Protocol v3 dropped option 0x000A (text): Cassandra describes text columns as varchar, and
# strict clients (the Rust and C++ drivers) reject 0x000A.
_TYPE_CODES["UTF8Type"] = type_codes.VarcharType
_INT16 = struct.Struct(">H")


class LiteralError(ValueError):
    """A literal that cannot be a value of the column's type (the message says why)."""


def parse_type(text: str) -> CQLType:
    """Turn ``int``, ``list<text>``, ``frozen<map<text, int>>`` into a driver type class."""
    tokens = text.replace("<", " < ").replace(">", " > ").replace(",", " , ").split()
    cls, pos = _parse_type_tokens(tokens, 0)
    if pos != len(tokens):
        raise LiteralError(f"unexpected {' '.join(tokens[pos:])!r} after type in {text!r}")
    return cls


def _parse_type_tokens(tokens: list[str], pos: int) -> tuple[CQLType, int]:
    if pos >= len(tokens):
        raise LiteralError("missing type name")
    name = tokens[pos].lower()
    pos += 1
    if name == "frozen":
        if pos >= len(tokens) or tokens[pos] != "<":
            raise LiteralError("frozen must be followed by <type>")
        inner, pos = _parse_type_tokens(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ">":
            raise LiteralError("unclosed frozen<...>")
        return inner, pos + 1
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name], pos
    if name in _COLLECTIONS:
        base, arity = _COLLECTIONS[name]
        if pos >= len(tokens) or tokens[pos] != "<":
            raise LiteralError(f"{name} needs element types, e.g. {name}<int>")
        pos += 1
        subtypes = []
        for index in range(arity):
            sub, pos = _parse_type_tokens(tokens, pos)
            subtypes.append(sub)
            expected = "," if index < arity - 1 else ">"
            if pos >= len(tokens) or tokens[pos] != expected:
                raise LiteralError(f"malformed {name}<...> type")
            pos += 1
        return base.apply_parameters(subtypes), pos
    raise LiteralError(f"type {name!r} is not supported by the in-memory server")


def type_name(cls: CQLType) -> str:
    """The CQL spelling of a type, as system_schema.columns shows it."""
    name: str = cls.cql_parameterized_type()
    return name


def encode_type_option(cls: CQLType) -> bytes:
    """The protocol's ``[option]`` describing a type in result and prepared metadata."""
    for klass in cls.__mro__:
        code = _TYPE_CODES.get(klass.__name__)
        if code is None:
            continue
        if code in (0x20, 0x22):
            return _INT16.pack(code) + encode_type_option(cls.subtypes[0])
        if code == 0x21:
            key_type, value_type = cls.subtypes
            return _INT16.pack(code) + encode_type_option(key_type) + encode_type_option(value_type)
        return _INT16.pack(code)
    raise LiteralError(f"no protocol type code for {cls!r}")


def is_collection(cls: CQLType) -> bool:
    return cls.typename in _COLLECTIONS


def normalize_collection(cls: CQLType, data: bytes) -> bytes | None:
    """Sets and maps are stored sorted and de-duplicated, like Cassandra; empty means null."""
    value = cls.deserialize(data, PROTOCOL_VERSION)
    if not value:
        return None
    if cls.typename == "set":
        value = sorted(set(value), key=_element_sort_key(cls.subtypes[0]))
    elif cls.typename == "map":
        key_of = _element_sort_key(cls.subtypes[0])
        value = dict(sorted(dict(value.items()).items(), key=lambda item: key_of(item[0])))
    out: bytes = cls.serialize(value, PROTOCOL_VERSION)
    return out


def _element_sort_key(cls: CQLType) -> Callable[[Any], Any]:
    def key(value: Any) -> Any:
        return compare_key(cls, cls.serialize(value, PROTOCOL_VERSION))

    return key


def compare_key(cls: CQLType, data: bytes | None) -> Any:
    """A Python value that sorts like Cassandra sorts this column's serialized values."""
    if data is None:
        return (0, b"")
    typename = cls.typename
    if not data and typename not in ("blob", "text", "varchar", "ascii"):
        # Cassandra's "empty" value of a fixed-width type (int, uuid...) sorts before all others.
        return (0, b"\x00")
    if typename in ("blob", "text", "varchar", "ascii", "inet", "uuid"):
        return (1, data)
    if typename == "timeuuid":
        return (1, uuid.UUID(bytes=data).time, data)
    if typename == "boolean":
        return (1, data != b"\x00")
    if is_collection(cls):
        return (1, data)
    return (1, cls.deserialize(data, PROTOCOL_VERSION))


def literal_to_bytes(cls: CQLType, value: Any) -> bytes | None:
    """Serialize a parsed CQL literal (str, int, float, Decimal, bool, UUID, bytes, list,
    set-literal, dict or None) as a value of ``cls``; raise LiteralError naming the mismatch."""
    if value is None:
        return None
    try:
        python_value = _coerce(cls, value)
        out: bytes = cls.serialize(python_value, PROTOCOL_VERSION)
    except LiteralError:
        raise
    except Exception as exc:
        raise LiteralError(f"invalid {type_name(cls)} literal {_show(value)}: {exc}") from None
    return out


class SetLiteral(list[Any]):
    """``{a, b}`` in CQL text: a set literal (a ``{}`` can be a set or a map)."""


def _show(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value + "'"
    return repr(value)


def _mismatch(cls: CQLType, value: Any) -> LiteralError:
    return LiteralError(f"invalid {type_name(cls)} literal {_show(value)}")


def _coerce(cls: CQLType, value: Any) -> Any:
    typename = cls.typename
    if typename in ("text", "varchar", "ascii"):
        if not isinstance(value, str):
            raise _mismatch(cls, value)
        if typename == "ascii" and not value.isascii():
            raise LiteralError(f"invalid ascii literal {_show(value)}: non-ASCII characters")
        return value
    if typename in ("int", "bigint", "smallint", "tinyint", "varint"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(cls, value)
        bits = {"int": 32, "bigint": 64, "smallint": 16, "tinyint": 8}.get(typename)
        if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise LiteralError(f"{value} is out of range for {typename}")
        return value
    if typename in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            raise _mismatch(cls, value)
        return float(value)
    if typename == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            raise _mismatch(cls, value)
        return decimal.Decimal(str(value)) if isinstance(value, float) else decimal.Decimal(value)
    if typename == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(cls, value)
        return value
    if typename in ("uuid", "timeuuid"):
        if isinstance(value, str):
            try:
                value = uuid.UUID(value)
            except ValueError:
                raise _mismatch(cls, value) from None
        if not isinstance(value, uuid.UUID):
            raise _mismatch(cls, value)
        if typename == "timeuuid" and value.version != 1:
            raise LiteralError(f"{value} is not a time-based (version 1) uuid")
        return value
    if typename == "blob":
        if not isinstance(value, bytes):
            raise _mismatch(cls, value)
        return value
    if typename == "inet":
        if not isinstance(value, str):
            raise _mismatch(cls, value)
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _mismatch(cls, value) from None
    if typename == "timestamp":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _parse_timestamp(value)
        raise _mismatch(cls, value)
    if typename == "date":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return util.Date(value)
        raise _mismatch(cls, value)
    if typename == "time":
        if isinstance(value, int) and not isinstance(value, bool):
            return util.Time(value)
        if isinstance(value, str):
            return util.Time(value)
        raise _mismatch(cls, value)
    if typename in ("list", "set"):
        if not isinstance(value, list):
            raise _mismatch(cls, value)
        if typename == "list" and isinstance(value, SetLiteral) and value:
            raise LiteralError("a list literal uses [...], not {...}")
        if typename == "set" and not isinstance(value, SetLiteral) and value:
            raise LiteralError("a set literal uses {...}, not [...]")
        sub = cls.subtypes[0]
        return [_coerce(sub, item) for item in value]
    if typename == "map":
        if isinstance(value, SetLiteral) and not value:
            return {}
        if not isinstance(value, dict):
            raise _mismatch(cls, value)
        key_type, value_type = cls.subtypes
        return {_coerce(key_type, k): _coerce(value_type, v) for k, v in value.items()}
    raise LiteralError(f"literals of type {typename} are not supported")


def _parse_timestamp(text: str) -> datetime.datetime:
    cleaned = text.strip().replace("T", " ")
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if len(cleaned) >= 5 and cleaned[-5] in "+-" and cleaned[-4:].isdigit():
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    try:
        parsed = datetime.datetime.fromisoformat(cleaned)
    except ValueError:
        raise LiteralError(f"invalid timestamp literal '{text}'") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return parsed
