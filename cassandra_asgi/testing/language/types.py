"""CQL data types on top of the driver's own codecs.

The server keeps every cell as the serialized bytes a client sent; this module is where those
bytes meet Python values: parsing type names from DDL, turning CQL literals into bytes,
ordering and validating serialized values, and writing the protocol's ``[option]`` type
descriptions. Nothing here re-implements a codec: ``cassandra.cqltypes`` does all
(de)serialization; the helpers below only split the length-prefixed framing of collections,
tuples and UDTs so that the server can move element bytes around without decoding them.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from cassandra import cqltypes, type_codes, util

__all__ = [
    "COUNTER",
    "DURATION",
    "PROTOCOL_VERSION",
    "CQLType",
    "LiteralError",
    "MapLiteral",
    "SetLiteral",
    "TupleLiteral",
    "TypeResolver",
    "UdtLiteral",
    "compare_key",
    "contains_type",
    "encode_type_option",
    "frozen",
    "is_collection",
    "is_frozen",
    "is_udt",
    "join_collection",
    "join_fields",
    "literal_to_bytes",
    "normalize_collection",
    "parse_duration",
    "parse_type",
    "quote_identifier",
    "split_collection",
    "split_fields",
    "tuple_type",
    "type_name",
    "user_type",
    "validate_value",
]

#: Cell bytes are the same in v3 and v4, so one version is used for every codec call.
PROTOCOL_VERSION = 4

CQLType = Any  # a subclass of cassandra.cqltypes._CassandraType
#: finds a user-defined type of the statement's keyspace by name (None when there is none)
TypeResolver = Callable[[str], "CQLType | None"]

COUNTER = cqltypes.CounterColumnType
DURATION = cqltypes.DurationType

_SIMPLE_TYPES: dict[str, CQLType] = {
    "ascii": cqltypes.AsciiType,
    "bigint": cqltypes.LongType,
    "blob": cqltypes.BytesType,
    "boolean": cqltypes.BooleanType,
    "counter": cqltypes.CounterColumnType,
    "date": cqltypes.SimpleDateType,
    "decimal": cqltypes.DecimalType,
    "double": cqltypes.DoubleType,
    "duration": cqltypes.DurationType,
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
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_NULL = b"\xff\xff\xff\xff"
_FIXED_WIDTH = {
    "int": 4,
    "bigint": 8,
    "counter": 8,
    "smallint": 2,
    "tinyint": 1,
    "timestamp": 8,
    "time": 8,
    "date": 4,
    "float": 4,
    "double": 8,
    "boolean": 1,
    "uuid": 16,
    "timeuuid": 16,
}
_SIGNED_FORMATS = {
    "int": ">i",
    "bigint": ">q",
    "counter": ">q",
    "smallint": ">h",
    "tinyint": ">b",
    "timestamp": ">q",
    "time": ">q",
    "date": ">I",
    "float": ">f",
    "double": ">d",
}


class LiteralError(ValueError):
    """A literal that cannot be a value of the column's type (the message says why)."""


# --- type classes ------------------------------------------------------------------------


class _ServerUserType(cqltypes.UserType):  # type: ignore[misc]
    """The driver's UDT codec with its own class cache, apart from the client's in-process one."""

    _cache: ClassVar[dict[Any, Any]] = {}


def user_type(
    keyspace: str, name: str, field_names: Sequence[str], field_types: Sequence[CQLType]
) -> CQLType:
    """The codec class of a user-defined type (a subclass of the driver's ``UserType``)."""
    return _ServerUserType.make_udt_class(keyspace, name, tuple(field_names), tuple(field_types))


def tuple_type(subtypes: Sequence[CQLType]) -> CQLType:
    return cqltypes.TupleType.apply_parameters(list(subtypes))


def frozen(cls: CQLType) -> CQLType:
    """The frozen form of a collection or UDT type: same codec, shown as ``frozen<...>``."""
    if is_frozen(cls) or not (is_collection(cls) or is_udt(cls)):
        return cls
    return type(cls.__name__, (cls,), {"is_frozen": True})


def is_frozen(cls: CQLType) -> bool:
    """Tuples are always frozen; collections and UDTs when declared ``frozen<...>``."""
    return bool(getattr(cls, "is_frozen", False)) or is_tuple(cls)


def is_collection(cls: CQLType) -> bool:
    return cls.typename in _COLLECTIONS


def is_udt(cls: CQLType) -> bool:
    return isinstance(cls, type) and issubclass(cls, cqltypes.UserType)


def is_tuple(cls: CQLType) -> bool:
    return isinstance(cls, type) and issubclass(cls, cqltypes.TupleType) and not is_udt(cls)


def contains_type(cls: CQLType, predicate: Callable[[CQLType], bool]) -> bool:
    """Whether ``cls`` or any type nested in it satisfies ``predicate``."""
    if predicate(cls):
        return True
    return any(contains_type(sub, predicate) for sub in getattr(cls, "subtypes", ()) or ())


# --- type names --------------------------------------------------------------------------

_TYPE_TOKEN_RE = re.compile(r'\s*(?:("(?:[^"]|"")+")|([A-Za-z0-9_]+)|([<>,.]))')
_PLAIN_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """A name as CQL text: bare when it is lower-case alphanumeric, else double-quoted."""
    if _PLAIN_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _type_tokens(text: str) -> list[tuple[str, bool]]:
    """(token, quoted) pairs; unquoted names are lower-cased as CQL identifiers are."""
    tokens: list[tuple[str, bool]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TYPE_TOKEN_RE.match(text, pos)
        if match is None:
            raise LiteralError(f"invalid type {text!r}")
        quoted, word, op = match.groups()
        if quoted is not None:
            tokens.append((quoted[1:-1].replace('""', '"'), True))
        elif word is not None:
            tokens.append((word.lower(), False))
        else:
            tokens.append((op, False))
        pos = match.end()
    return tokens


def parse_type(text: str, user_types: TypeResolver | None = None) -> CQLType:
    """Turn ``int``, ``list<text>``, ``frozen<map<text, int>>``, ``tuple<int, text>`` or a
    user-defined type name (looked up with ``user_types``) into a driver type class."""
    stripped = text.strip()
    if stripped.startswith("'"):
        return _custom_type(stripped)
    tokens = _type_tokens(text)
    cls, pos = _parse_type_tokens(tokens, 0, user_types, nested=False, in_frozen=False)
    if pos != len(tokens):
        rest = " ".join(token for token, _ in tokens[pos:])
        raise LiteralError(f"unexpected {rest!r} after type in {text!r}")
    return cls


def _custom_type(text: str) -> CQLType:
    """A custom type given by its Cassandra class name: only CompositeType is served."""
    name = text.strip("'")
    try:
        cls = cqltypes.lookup_casstype(name)
    except ValueError as exc:
        raise LiteralError(str(exc)) from None
    if not is_composite(cls):
        raise LiteralError(f"custom type {name} is not supported by the in-memory server")
    return cls


def is_composite(cls: CQLType) -> bool:
    return isinstance(cls, type) and issubclass(cls, cqltypes.CompositeType)


def split_components(data: bytes) -> list[bytes]:
    """Component bytes of a CompositeType value: [uint16 length][bytes][end-of-component]."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LiteralError("truncated composite value")
        size = _INT16.unpack_from(data, pos)[0]
        end = pos + 2 + size
        if end + 1 > len(data):
            raise LiteralError("truncated composite value")
        out.append(data[pos + 2 : end])
        pos = end + 1
    return out


def _composite_literal(cls: CQLType, value: Any) -> bytes:
    """Cassandra's CompositeType string form: components separated by ':' (trailing ones may
    be left out), each read as its component type reads a string."""
    if not isinstance(value, str):
        raise _mismatch(cls, value)
    parts = value.split(":")
    if len(parts) > len(cls.subtypes):
        raise LiteralError(f"too many components in composite value {_show(value)}")
    out = b""
    for sub, part in zip(cls.subtypes, parts, strict=False):
        component = literal_to_bytes(sub, _from_string(sub, part)) or b""
        out += _INT16.pack(len(component)) + component + b"\x00"
    return out


def _from_string(cls: CQLType, text: str) -> Any:
    typename = cls.typename
    if typename in ("int", "bigint", "smallint", "tinyint", "varint", "counter", "timestamp"):
        try:
            return int(text)
        except ValueError:
            return text
    if typename in ("float", "double", "decimal"):
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise LiteralError(f"invalid {typename} component {text!r}") from None
    if typename == "boolean":
        return text.lower() == "true"
    if typename == "blob":
        return bytes.fromhex(text)
    return text


def _expect(tokens: list[tuple[str, bool]], pos: int, op: str, what: str) -> int:
    if pos >= len(tokens) or tokens[pos] != (op, False):
        raise LiteralError(what)
    return pos + 1


def _parse_type_tokens(
    tokens: list[tuple[str, bool]],
    pos: int,
    user_types: TypeResolver | None,
    *,
    nested: bool,
    in_frozen: bool,
) -> tuple[CQLType, int]:
    """``nested``: inside a collection, tuple or frozen<>; ``in_frozen``: everything inside is
    implicitly frozen (the elements of a frozen collection, of a tuple)."""
    if pos >= len(tokens):
        raise LiteralError("missing type name")
    name, quoted = tokens[pos]
    pos += 1
    if not quoted and name == "frozen":
        pos = _expect(tokens, pos, "<", "frozen must be followed by <type>")
        inner, pos = _parse_type_tokens(tokens, pos, user_types, nested=True, in_frozen=True)
        pos = _expect(tokens, pos, ">", "unclosed frozen<...>")
        if not (is_collection(inner) or is_udt(inner) or is_tuple(inner)):
            raise LiteralError(
                f"frozen<> is only allowed on collections, tuples, and UDTs ({name})"
            )
        return frozen(inner), pos
    if not quoted and name in _SIMPLE_TYPES:
        if nested and name == "counter":
            raise LiteralError("Counters are not allowed inside collections, tuples or UDTs")
        return _SIMPLE_TYPES[name], pos
    if not quoted and (name in _COLLECTIONS or name == "tuple"):
        pos = _expect(tokens, pos, "<", f"{name} needs element types, e.g. {name}<int>")
        subtypes: list[CQLType] = []
        arity = _COLLECTIONS[name][1] if name in _COLLECTIONS else -1
        while True:
            sub, pos = _parse_type_tokens(
                tokens, pos, user_types, nested=True, in_frozen=in_frozen or name == "tuple"
            )
            if in_frozen or name == "tuple":
                sub = frozen(sub)
            elif (is_collection(sub) or is_udt(sub)) and not is_frozen(sub):
                what = "collections" if is_collection(sub) else "UDTs"
                raise LiteralError(
                    f"Non-frozen {what} are not allowed inside collections: "
                    f"{name}<{type_name(sub)}>"
                )
            if name in ("set", "map") and not subtypes and sub.typename == "duration":
                raise LiteralError(f"Durations are not allowed inside sets or as map keys: {name}")
            subtypes.append(sub)
            if pos < len(tokens) and tokens[pos] == (",", False):
                pos += 1
                continue
            pos = _expect(tokens, pos, ">", f"malformed {name}<...> type")
            break
        if name == "tuple":
            return tuple_type(subtypes), pos
        if len(subtypes) != arity:
            raise LiteralError(f"{name} takes {arity} type parameter(s), got {len(subtypes)}")
        return _COLLECTIONS[name][0].apply_parameters(subtypes), pos
    if pos < len(tokens) and tokens[pos] == (".", False) and pos + 1 < len(tokens):
        name = tokens[pos + 1][0]  # keyspace-qualified: the statement's keyspace is used
        pos += 2
    found = user_types(name) if user_types is not None else None
    if found is None:
        raise LiteralError(f"Unknown type {name}")
    return found, pos


def type_name(cls: CQLType) -> str:
    """The CQL spelling of a type, as ``system_schema`` shows it (``frozen<...>`` included)."""
    if is_composite(cls):
        quoted: str = cls.cql_parameterized_type()
        return quoted
    if is_udt(cls):
        quoted = quote_identifier(cls.typename)
        return f"frozen<{quoted}>" if is_frozen(cls) else quoted
    if is_tuple(cls):
        return "frozen<tuple<" + ", ".join(type_name(sub) for sub in cls.subtypes) + ">>"
    if is_collection(cls):
        inner = f"{cls.typename}<" + ", ".join(type_name(sub) for sub in cls.subtypes) + ">"
        return f"frozen<{inner}>" if is_frozen(cls) else inner
    if cls.typename == "varchar":
        return "text"
    name: str = cls.typename
    return name


def encode_type_option(cls: CQLType) -> bytes:
    """The protocol's ``[option]`` describing a type in result and prepared metadata."""
    if is_composite(cls):
        return _INT16.pack(0) + _string(cls.cass_parameterized_type(full=True))
    if is_udt(cls):
        out = _INT16.pack(type_codes.UserType) + _string(cls.keyspace) + _string(cls.typename)
        out += _INT16.pack(len(cls.fieldnames))
        for field_name, field_type in zip(cls.fieldnames, cls.subtypes, strict=True):
            out += _string(field_name) + encode_type_option(field_type)
        return out
    if is_tuple(cls):
        return (
            _INT16.pack(type_codes.TupleType)
            + _INT16.pack(len(cls.subtypes))
            + b"".join(encode_type_option(sub) for sub in cls.subtypes)
        )
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


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _INT16.pack(len(data)) + data


# --- serialized framing ------------------------------------------------------------------


def _read_values(
    data: bytes, pos: int, count: int | None, what: str
) -> tuple[list[bytes | None], int]:
    """``count`` [int32 length][bytes] values from ``pos`` (a negative length is null), or as
    many as there are when ``count`` is None; returns them and the position after the last."""
    out: list[bytes | None] = []
    try:
        while (len(out) < count) if count is not None else (pos < len(data)):
            size = _INT32.unpack_from(data, pos)[0]
            pos += 4
            if size < 0:
                out.append(None)
                continue
            if pos + size > len(data):
                raise LiteralError(f"truncated {what}")
            out.append(data[pos : pos + size])
            pos += size
    except struct.error:
        raise LiteralError(f"truncated {what}") from None
    return out, pos


def split_collection(data: bytes, is_map: bool = False) -> list[bytes | None]:
    """Element bytes of a serialized list or set; for a map, keys and values alternately."""
    try:
        count = _INT32.unpack_from(data, 0)[0]
    except struct.error:
        raise LiteralError("truncated collection") from None
    out, pos = _read_values(data, 4, 2 * count if is_map else count, "collection")
    if pos != len(data):
        raise LiteralError("trailing bytes after a collection")
    return out


def join_collection(elements: Sequence[bytes | None], count: int | None = None) -> bytes:
    """The inverse of split_collection (``count`` is the number of entries for a map)."""
    return _INT32.pack(len(elements) if count is None else count) + join_fields(elements)


def split_fields(data: bytes) -> list[bytes | None]:
    """Field bytes of a serialized tuple or UDT (a value may carry fewer fields than its type)."""
    return _read_values(data, 0, None, "tuple or UDT value")[0]


def join_fields(fields: Sequence[bytes | None]) -> bytes:
    return b"".join(_NULL if f is None else _INT32.pack(len(f)) + f for f in fields)


# --- validation and ordering -------------------------------------------------------------


def validate_value(cls: CQLType, data: bytes) -> None:
    """Raise LiteralError unless ``data`` is a well-formed serialized value of ``cls``.

    Fixed-width types are checked by size only: Cassandra stores any 64-bit timestamp, even
    outside the years 1-9999 that Python's datetime (and so the codec) can represent.
    """
    typename = cls.typename
    width = _FIXED_WIDTH.get(typename)
    if width is not None:
        if data and len(data) != width:
            raise LiteralError(f"expected {width} bytes for a {typename}, got {len(data)}")
        if typename == "timeuuid" and data and (data[6] >> 4) != 1:
            raise LiteralError("a timeuuid must be a version 1 uuid")
        return
    if is_collection(cls):
        elements = split_collection(data, typename == "map")
        if any(element is None for element in elements):
            raise LiteralError("null is not allowed inside a collection")
        if typename == "map":
            if len(elements) % 2:
                raise LiteralError("truncated map")
            key_type, value_type = cls.subtypes
            for index, element in enumerate(elements):
                assert element is not None
                validate_value(key_type if index % 2 == 0 else value_type, element)
        else:
            for element in elements:
                assert element is not None
                validate_value(cls.subtypes[0], element)
        return
    if is_composite(cls):
        components = split_components(data)
        if len(components) > len(cls.subtypes):
            raise LiteralError("too many components for a composite value")
        for sub, component in zip(cls.subtypes, components, strict=False):
            validate_value(sub, component)
        return
    if is_udt(cls) or is_tuple(cls):
        fields = split_fields(data)
        if len(fields) > len(cls.subtypes):
            raise LiteralError(f"too many fields for {type_name(cls)}")
        for sub, field_data in zip(cls.subtypes, fields, strict=False):
            if field_data is not None:
                validate_value(sub, field_data)
        return
    try:
        cls.deserialize(data, PROTOCOL_VERSION)
    except Exception as exc:
        raise LiteralError(str(exc)) from None


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
    fmt = _SIGNED_FORMATS.get(typename)
    if fmt is not None:
        return (1, struct.unpack(fmt, data)[0])
    if typename == "timeuuid":
        return (1, uuid.UUID(bytes=data).time, data)
    if typename == "boolean":
        return (1, data != b"\x00")
    if is_collection(cls):
        elements = split_collection(data, typename == "map")
        if typename == "map":
            key_type, value_type = cls.subtypes
            return (
                1,
                tuple(
                    (compare_key(key_type, elements[i]), compare_key(value_type, elements[i + 1]))
                    for i in range(0, len(elements), 2)
                ),
            )
        return (1, tuple(compare_key(cls.subtypes[0], element) for element in elements))
    if is_udt(cls) or is_tuple(cls):
        fields = split_fields(data)
        return (
            1,
            tuple(
                compare_key(sub, fields[i] if i < len(fields) else None)
                for i, sub in enumerate(cls.subtypes)
            ),
        )
    if typename == "duration":
        return (1, data)
    if is_composite(cls):
        components = split_components(data)
        return (
            1,
            tuple(compare_key(sub, c) for sub, c in zip(cls.subtypes, components, strict=False)),
        )
    return (1, cls.deserialize(data, PROTOCOL_VERSION))


def normalize_collection(cls: CQLType, data: bytes) -> bytes | None:
    """Sets and maps are stored sorted and de-duplicated, like Cassandra; empty means null."""
    typename = cls.typename
    elements = split_collection(data, typename == "map")
    if not elements:
        return None
    if typename == "set":
        element_type = cls.subtypes[0]
        unique = {element: compare_key(element_type, element) for element in elements}
        ordered = sorted(unique, key=lambda element: unique[element])
        return join_collection(ordered)
    if typename == "map":
        key_type = cls.subtypes[0]
        entries: dict[bytes | None, bytes | None] = {}
        for index in range(0, len(elements), 2):
            entries[elements[index]] = elements[index + 1]  # the last value for a key wins
        ordered_keys = sorted(entries, key=lambda key: compare_key(key_type, key))
        flat: list[bytes | None] = []
        for key in ordered_keys:
            flat.append(key)
            flat.append(entries[key])
        return join_collection(flat, len(ordered_keys))
    return data


# --- literals ----------------------------------------------------------------------------


class SetLiteral(list[Any]):
    """``{a, b}`` in CQL text: a set literal (a ``{}`` can be a set or a map)."""


class MapLiteral(list[tuple[Any, Any]]):
    """``{k: v, ...}`` in CQL text, as (key, value) pairs: keys may be unhashable literals."""

    def items(self) -> list[tuple[Any, Any]]:
        return list(self)


class UdtLiteral(dict[str, Any]):
    """``{field: value, ...}`` in CQL text: a user-defined type value by field name."""


class TupleLiteral(tuple[Any, ...]):
    """``(a, b, ...)`` in CQL text."""

    __slots__ = ()


def literal_to_bytes(cls: CQLType, value: Any) -> bytes | None:
    """Serialize a parsed CQL literal (str, int, float, Decimal, bool, UUID, bytes, list,
    set/map/tuple/UDT literal, Duration or None) as a value of ``cls``; raise LiteralError
    naming the mismatch."""
    if value is None:
        return None
    if is_composite(cls):
        return _composite_literal(cls, value)
    try:
        python_value = _coerce(cls, value)
        out: bytes = cls.serialize(python_value, PROTOCOL_VERSION)
    except LiteralError:
        raise
    except Exception as exc:
        raise LiteralError(f"invalid {type_name(cls)} literal {_show(value)}: {exc}") from None
    if is_collection(cls):
        return normalize_collection(cls, out) if out is not None else None
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value + "'"
    return repr(value)


def _mismatch(cls: CQLType, value: Any) -> LiteralError:
    return LiteralError(f"invalid {type_name(cls)} literal {_show(value)}")


def _coerce(cls: CQLType, value: Any) -> Any:
    if value is None:
        return None
    typename = cls.typename
    if is_udt(cls):
        if not isinstance(value, UdtLiteral):
            raise LiteralError(f"Invalid literal {_show(value)} for a value of type {cls.typename}")
        unknown = [name for name in value if name not in cls.fieldnames]
        if unknown:
            raise LiteralError(
                f"Unknown field '{unknown[0]}' in value of user defined type {cls.typename}"
            )
        return tuple(
            _coerce(sub, value.get(name))
            for name, sub in zip(cls.fieldnames, cls.subtypes, strict=True)
        )
    if is_tuple(cls):
        if not isinstance(value, TupleLiteral):
            raise LiteralError(
                f"Invalid literal {_show(value)} for a value of type {type_name(cls)}"
            )
        if len(value) > len(cls.subtypes):
            raise LiteralError(
                f"Invalid tuple literal: too many elements. Type {type_name(cls)} expects "
                f"{len(cls.subtypes)} but got {len(value)}"
            )
        return tuple(_coerce(sub, item) for sub, item in zip(cls.subtypes, value, strict=False))
    if isinstance(value, UdtLiteral | TupleLiteral | MapLiteral) and not (
        typename == "map" and isinstance(value, MapLiteral)
    ):
        raise _mismatch(cls, value)
    if typename in ("text", "varchar", "ascii"):
        if not isinstance(value, str):
            raise _mismatch(cls, value)
        if typename == "ascii" and not value.isascii():
            raise LiteralError(f"invalid ascii literal {_show(value)}: non-ASCII characters")
        return value
    if typename in ("int", "bigint", "smallint", "tinyint", "varint", "counter"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(cls, value)
        bits = {"int": 32, "bigint": 64, "counter": 64, "smallint": 16, "tinyint": 8}.get(typename)
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
            if not -(2**63) <= value < 2**63:
                raise LiteralError(f"{value} is out of range for timestamp")
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
    if typename == "duration":
        if isinstance(value, util.Duration):
            return value
        if isinstance(value, str):
            return parse_duration(value)
        raise _mismatch(cls, value)
    if typename in ("list", "set"):
        if not isinstance(value, list) or isinstance(value, MapLiteral):
            raise _mismatch(cls, value)
        if typename == "list" and isinstance(value, SetLiteral) and value:
            raise LiteralError("a list literal uses [...], not {...}")
        if typename == "set" and not isinstance(value, SetLiteral) and value:
            raise LiteralError("a set literal uses {...}, not [...]")
        sub = cls.subtypes[0]
        items = [_coerce(sub, item) for item in value]
        if any(item is None for item in items):
            raise LiteralError(f"null is not supported inside collections ({type_name(cls)})")
        return items
    if typename == "map":
        if isinstance(value, SetLiteral) and not value:
            return {}
        if not isinstance(value, MapLiteral):
            raise _mismatch(cls, value)
        key_type, value_type = cls.subtypes
        pairs = [(_coerce(key_type, k), _coerce(value_type, v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            raise LiteralError(f"null is not supported inside collections ({type_name(cls)})")
        return util.OrderedMap(pairs)
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


# --- durations ---------------------------------------------------------------------------

_NANOS = {
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
_UNIT_RE = re.compile(r"(\d+)(y|mo|w|d|h|ms|m|s|us|µs|ns)", re.IGNORECASE)
_ISO_RE = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE
)
_ISO_WEEKS_RE = re.compile(r"^P(\d+)W$", re.IGNORECASE)
_ISO_ALT_RE = re.compile(r"^P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$", re.IGNORECASE)
#: the unquoted forms the CQL tokenizer recognises as duration literals
DURATION_TOKEN = r"(?:\d+(?:y|mo|w|d|h|ms|m|s|us|µs|ns))+(?![\w])"


def parse_duration(text: str) -> util.Duration:
    """``1y2mo3w4d5h6m7s8ms9us10ns``, ``P1Y2M3DT4H5M6S``, ``P2W`` or ``P0001-02-03T04:05:06``
    (each optionally negative) as months, days and nanoseconds, like Cassandra's Duration."""
    body = text.strip()
    negative = body.startswith("-")
    if negative:
        body = body[1:]
    months = days = nanos = 0
    if body[:1] in ("P", "p"):
        iso = _ISO_RE.match(body)
        weeks = _ISO_WEEKS_RE.match(body)
        alt = _ISO_ALT_RE.match(body)
        if weeks:
            days = 7 * int(weeks.group(1))
        elif alt:
            y, mo, d, h, mi, s = (int(g) for g in alt.groups())
            months, days = 12 * y + mo, d
            nanos = h * _NANOS["h"] + mi * _NANOS["m"] + s * _NANOS["s"]
        elif iso and body.upper() not in ("P", "PT") and not body.upper().endswith("T"):
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in iso.groups())
            months, days = 12 * y + mo, d
            nanos = h * _NANOS["h"] + mi * _NANOS["m"] + s * _NANOS["s"]
        else:
            raise LiteralError(f"Unable to convert '{text}' to a duration")
    else:
        pos = 0
        if not body:
            raise LiteralError(f"Unable to convert '{text}' to a duration")
        for match in _UNIT_RE.finditer(body):
            if match.start() != pos:
                raise LiteralError(f"Unable to convert '{text}' to a duration")
            amount, unit = int(match.group(1)), match.group(2).lower()
            if unit == "y":
                months += 12 * amount
            elif unit == "mo":
                months += amount
            elif unit == "w":
                days += 7 * amount
            elif unit == "d":
                days += amount
            else:
                nanos += amount * _NANOS[unit]
            pos = match.end()
        if pos != len(body):
            raise LiteralError(f"Unable to convert '{text}' to a duration")
    if negative:
        months, days, nanos = -months, -days, -nanos
    return util.Duration(months, days, nanos)
