"""Cassandra's native scalar functions, on serialized values.

The blob conversions (``intAsBlob``, ``blobAsText``...), the time functions (``now()``,
``toTimestamp``, ``toDate``, ``minTimeuuid``...), ``CAST``, and the JSON conversions behind
``toJson``, ``fromJson``, ``SELECT JSON`` and ``INSERT JSON``. Values arrive and leave as the
bytes the store keeps; the driver's codecs decode them where a conversion needs the value.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import cqltypes, util

from ..errors import Invalid
from ..language.types import (
    PROTOCOL_VERSION,
    CQLType,
    LiteralError,
    MapLiteral,
    SetLiteral,
    TupleLiteral,
    UdtLiteral,
    is_collection,
    is_tuple,
    is_udt,
    literal_to_bytes,
    parse_type,
    quote_identifier,
    split_collection,
    split_fields,
    type_name,
    validate_value,
)

__all__ = [
    "Function",
    "cast_value",
    "from_json",
    "json_field_name",
    "parse_json",
    "resolve_function",
    "to_json",
]

Args = Sequence[bytes | None]

_NATIVE = (
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varchar",
    "varint",
)
_TIMESTAMP = cqltypes.DateType
_TIMEUUID = cqltypes.TimeUUIDType
_DATE = cqltypes.SimpleDateType
_BIGINT = cqltypes.LongType
_TEXT = cqltypes.UTF8Type
_BLOB = cqltypes.BytesType
_LONG = struct.Struct(">q")
_UINT = struct.Struct(">I")
_DAY_MS = 86_400_000
_DATE_EPOCH = 2**31
# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch
_UUID_EPOCH_OFFSET = 0x01B21DD213814000


@dataclass(frozen=True, slots=True)
class Function:
    """A resolved native function: its CQL name, parameter and return types, and body."""

    name: str
    arg_types: tuple[CQLType, ...]
    return_type: CQLType
    apply: Callable[[Args], bytes | None]
    deterministic: bool = True


def _native(name: str) -> CQLType:
    return parse_type(name)


# --- time ----------------------------------------------------------------------------------


def _timeuuid_ms(data: bytes) -> int:
    return (uuid.UUID(bytes=data).time - _UUID_EPOCH_OFFSET) // 10_000


def _now_timeuuid(args: Args) -> bytes:
    return uuid.uuid1().bytes


def _now_ms() -> int:
    return int(time.time() * 1000)


def _to_timestamp(source: str) -> Callable[[Args], bytes | None]:
    def apply(args: Args) -> bytes | None:
        data = args[0]
        if data is None:
            return None
        if source == "timeuuid":
            return _LONG.pack(_timeuuid_ms(data))
        if source == "date":
            return _LONG.pack((_UINT.unpack(data)[0] - _DATE_EPOCH) * _DAY_MS)
        return data

    return apply


def _to_date(source: str) -> Callable[[Args], bytes | None]:
    def apply(args: Args) -> bytes | None:
        data = args[0]
        if data is None:
            return None
        if source == "date":
            return data
        ms = _timeuuid_ms(data) if source == "timeuuid" else _LONG.unpack(data)[0]
        return _UINT.pack(ms // _DAY_MS + _DATE_EPOCH)

    return apply


def _bound_timeuuid(upper: bool) -> Callable[[Args], bytes | None]:
    def apply(args: Args) -> bytes | None:
        data = args[0]
        if data is None:
            return None
        seconds = _LONG.unpack(data)[0] / 1000
        made = util.max_uuid_from_time(seconds) if upper else util.min_uuid_from_time(seconds)
        raw: bytes = made.bytes
        return raw

    return apply


_TIME_FUNCTIONS: dict[str, list[tuple[tuple[str, ...], str, Callable[[Args], bytes | None]]]] = {
    "now": [((), "timeuuid", _now_timeuuid)],
    "currenttimeuuid": [((), "timeuuid", _now_timeuuid)],
    "uuid": [((), "uuid", lambda args: uuid.uuid4().bytes)],
    "currenttimestamp": [((), "timestamp", lambda args: _LONG.pack(_now_ms()))],
    "currentdate": [((), "date", lambda args: _UINT.pack(_now_ms() // _DAY_MS + _DATE_EPOCH))],
    "currenttime": [
        (
            (),
            "time",
            lambda args: _LONG.pack(int(time.time() * 1e9) % (86_400 * 1_000_000_000)),
        )
    ],
    "totimestamp": [
        (("timeuuid",), "timestamp", _to_timestamp("timeuuid")),
        (("date",), "timestamp", _to_timestamp("date")),
        (("timestamp",), "timestamp", _to_timestamp("timestamp")),
    ],
    "dateof": [(("timeuuid",), "timestamp", _to_timestamp("timeuuid"))],
    "todate": [
        (("timeuuid",), "date", _to_date("timeuuid")),
        (("timestamp",), "date", _to_date("timestamp")),
        (("date",), "date", _to_date("date")),
    ],
    "tounixtimestamp": [
        (("timeuuid",), "bigint", _to_timestamp("timeuuid")),
        (("timestamp",), "bigint", _to_timestamp("timestamp")),
        (("date",), "bigint", _to_timestamp("date")),
    ],
    "unixtimestampof": [(("timeuuid",), "bigint", _to_timestamp("timeuuid"))],
    "mintimeuuid": [(("timestamp",), "timeuuid", _bound_timeuuid(False))],
    "maxtimeuuid": [(("timestamp",), "timeuuid", _bound_timeuuid(True))],
}
_NOT_DETERMINISTIC = {"now", "currenttimeuuid", "uuid", "currenttimestamp", "currentdate"}


def _blob_conversion(name: str) -> Function | None:
    """``intasblob`` (int -> blob) and ``blobasint`` (blob -> int): the bytes stay as they are;
    only a blob read as a type is checked to be a valid value of it."""
    if name.startswith("blobas") and name[6:] in _NATIVE:
        target = _native(name[6:])

        def from_blob(args: Args) -> bytes | None:
            data = args[0]
            if data is not None:
                try:
                    validate_value(target, data)
                except LiteralError:
                    raise Invalid(
                        f"In call to function system.{name}, value 0x{data.hex()} is not a valid "
                        f"binary representation for type {type_name(target)}"
                    ) from None
            return data

        return Function(name, (_BLOB,), target, from_blob)
    if name.endswith("asblob") and name[:-6] in _NATIVE:
        return Function(name, (_native(name[:-6]),), _BLOB, lambda args: args[0])
    return None


def resolve_function(
    name: str, arg_types: Sequence[CQLType | None], expected: CQLType | None
) -> Function:
    """The native function ``name`` for these argument types (None: a literal or a marker,
    typed by the function), or Invalid naming the problem. ``expected`` types ``fromJson``."""
    name = name.lower()
    blob = _blob_conversion(name)
    if blob is not None:
        _check_arity(name, arg_types, 1)
        return blob
    if name == "tojson":
        _check_arity(name, arg_types, 1)
        arg = arg_types[0]
        if arg is None:
            raise Invalid("Ambiguous call to function system.tojson: use a column, not a literal")

        def apply_to_json(args: Args, arg_type: CQLType = arg) -> bytes | None:
            return to_json(arg_type, args[0]).encode("utf-8")

        return Function(name, (arg,), _TEXT, apply_to_json)
    if name == "fromjson":
        _check_arity(name, arg_types, 1)
        if expected is None:
            raise Invalid("fromJson() cannot be used in the selection clause of a SELECT")

        def apply_from_json(args: Args, target: CQLType = expected) -> bytes | None:
            if args[0] is None:
                return None
            return from_json(target, parse_json(args[0].decode("utf-8")), "fromJson()")

        return Function(name, (_TEXT,), expected, apply_from_json)
    overloads = _TIME_FUNCTIONS.get(name)
    if overloads is None:
        raise Invalid(f"Unknown function '{name}'")
    for params, returns, body in overloads:
        if len(params) != len(arg_types):
            continue
        if all(
            given is None
            or given.typename == wanted
            or (wanted == "text" and given.typename == "varchar")
            for given, wanted in zip(arg_types, params, strict=True)
        ):
            return Function(
                name,
                tuple(_native(p) for p in params),
                _native(returns),
                body,
                name not in _NOT_DETERMINISTIC,
            )
    shown = ", ".join(type_name(t) if t is not None else "?" for t in arg_types)
    raise Invalid(f"Invalid call to function {name}({shown}): no overload takes those arguments")


def _check_arity(name: str, arg_types: Sequence[CQLType | None], count: int) -> None:
    if len(arg_types) != count:
        raise Invalid(
            f"Invalid number of arguments in call to function {name}: {count} required but "
            f"{len(arg_types)} provided"
        )


# --- CAST ----------------------------------------------------------------------------------

_NUMERIC = (
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "counter",
    "varint",
    "float",
    "double",
    "decimal",
)
_TEXTUAL = ("text", "varchar", "ascii")
_WIDTH = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "counter": 64}


def cast_value(source: CQLType, target: CQLType, data: bytes | None) -> bytes | None:
    """CAST(x AS type) as Cassandra 3.11 does it: between numeric types (narrowing wraps like
    Java's casts), to text, between timestamp and date, timeuuid to timestamp or date."""
    if data is None:
        return None
    src, dst = source.typename, target.typename
    if src == dst or (src in _TEXTUAL and dst in _TEXTUAL):
        return data
    if dst in _TEXTUAL:
        return _as_text(source, data).encode("utf-8")
    if src in _NUMERIC and dst in _NUMERIC:
        value = source.deserialize(data, PROTOCOL_VERSION)
        if dst in _WIDTH or dst == "varint":
            number = (
                int(value) if not (isinstance(value, float) and not math.isfinite(value)) else 0
            )
            bits = _WIDTH.get(dst)
            if bits is not None:
                number = (number + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)
            out: bytes = target.serialize(number, PROTOCOL_VERSION)
            return out
        if dst == "decimal":
            return target.serialize(decimal.Decimal(str(value)), PROTOCOL_VERSION)  # type: ignore[no-any-return]
        return target.serialize(float(value), PROTOCOL_VERSION)  # type: ignore[no-any-return]
    if dst == "timestamp" and src in ("date", "timeuuid"):
        return _to_timestamp(src)([data])
    if dst == "date" and src in ("timestamp", "timeuuid"):
        return _to_date(src)([data])
    raise Invalid(f"{type_name(source)} cannot be cast to {type_name(target)}")


def _as_text(cls: CQLType, data: bytes) -> str:
    """A value as Cassandra's CAST to text writes it (its JSON form, without string quotes)."""
    rendered = to_json(cls, data)
    if rendered.startswith('"') and not (is_collection(cls) or is_udt(cls) or is_tuple(cls)):
        decoded: str = json.loads(rendered)
        return decoded
    return rendered


# --- JSON ----------------------------------------------------------------------------------


def _timestamp_text(ms: int) -> str:
    try:
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _duration_text(value: util.Duration) -> str:
    """Cassandra's Duration.toString: 1y2mo3d4h5m6s7ms8us9ns (zero units left out)."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    negative = months < 0 or days < 0 or nanos < 0
    months, days, nanos = abs(months), abs(days), abs(nanos)
    parts = []
    for amount, unit in ((months // 12, "y"), (months % 12, "mo"), (days, "d")):
        if amount:
            parts.append(f"{amount}{unit}")
    for size, unit in (
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ):
        if nanos >= size:
            parts.append(f"{nanos // size}{unit}")
            nanos %= size
    text = "".join(parts) or "0s"
    return "-" + text if negative else text


def to_json(cls: CQLType, data: bytes | None) -> str:
    """A serialized value as Cassandra's toJson() writes it."""
    if data is None:
        return "null"
    typename = cls.typename
    if typename in _TEXTUAL:
        return json.dumps(data.decode("utf-8"), ensure_ascii=False)
    if typename == "blob":
        return '"0x' + data.hex() + '"'
    if not data:
        return "null"
    if typename == "timestamp":
        return '"' + _timestamp_text(_LONG.unpack(data)[0]) + '"'
    if typename in ("tinyint", "smallint", "int", "bigint", "counter", "varint"):
        return str(cls.deserialize(data, PROTOCOL_VERSION))
    if typename in ("float", "double"):
        number = cls.deserialize(data, PROTOCOL_VERSION)
        if not math.isfinite(number):
            return (
                '"'
                + ("NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity"))
                + '"'
            )
        return repr(float(number)) if typename == "double" else repr(float(f"{number:.7g}"))
    if typename == "decimal":
        return str(cls.deserialize(data, PROTOCOL_VERSION))
    if typename == "boolean":
        return "true" if data != b"\x00" else "false"
    if typename in ("uuid", "timeuuid"):
        return '"' + str(uuid.UUID(bytes=data)) + '"'
    if typename == "inet":
        return '"' + str(cls.deserialize(data, PROTOCOL_VERSION)) + '"'
    if typename == "date":
        return '"' + str(util.Date(_UINT.unpack(data)[0] - _DATE_EPOCH)) + '"'
    if typename == "time":
        nanos = _LONG.unpack(data)[0]
        seconds, fraction = divmod(nanos, 1_000_000_000)
        return f'"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:09d}"'
    if typename == "duration":
        return '"' + _duration_text(cls.deserialize(data, PROTOCOL_VERSION)) + '"'
    if typename in ("list", "set"):
        element_type = cls.subtypes[0]
        return "[" + ", ".join(to_json(element_type, e) for e in split_collection(data)) + "]"
    if typename == "map":
        key_type, value_type = cls.subtypes
        elements = split_collection(data, True)
        entries = []
        for index in range(0, len(elements), 2):
            key = to_json(key_type, elements[index])
            if key_type.typename not in _TEXTUAL:
                key = json.dumps(key)
            entries.append(f"{key}: {to_json(value_type, elements[index + 1])}")
        return "{" + ", ".join(entries) + "}"
    if is_udt(cls):
        fields = split_fields(data)
        entries = []
        for index, (name, field_type) in enumerate(zip(cls.fieldnames, cls.subtypes, strict=True)):
            value = fields[index] if index < len(fields) else None
            entries.append(f"{json.dumps(quote_identifier(name))}: {to_json(field_type, value)}")
        return "{" + ", ".join(entries) + "}"
    if is_tuple(cls):
        fields = split_fields(data)
        return (
            "["
            + ", ".join(
                to_json(sub, fields[i] if i < len(fields) else None)
                for i, sub in enumerate(cls.subtypes)
            )
            + "]"
        )
    return json.dumps(str(cls.deserialize(data, PROTOCOL_VERSION)))


def parse_json(text: str) -> Any:
    """JSON text with exact decimals (a decimal column must not go through a float)."""
    try:
        return json.loads(text, parse_float=decimal.Decimal)
    except ValueError as exc:
        raise Invalid(f"Could not decode JSON string as a map: {exc}") from None


def from_json(cls: CQLType, value: Any, where: str) -> bytes | None:
    """A parsed JSON value as a serialized value of ``cls``, as Cassandra's fromJson() reads it
    (numbers may also be given as strings, blobs as "0x..." strings)."""
    try:
        return literal_to_bytes(cls, _json_literal(cls, value))
    except LiteralError as exc:
        raise Invalid(f"Error decoding JSON value for {where}: {exc}") from None


def _json_literal(cls: CQLType, value: Any) -> Any:
    """The CQL literal form (as the parser would produce it) of a JSON value for ``cls``."""
    if value is None:
        return None
    typename = cls.typename
    if typename in ("tinyint", "smallint", "int", "bigint", "counter", "varint"):
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise LiteralError(f"Unable to make {typename} from '{value}'") from None
        if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
            return int(value)
        return value
    if typename in ("float", "double", "decimal"):
        if isinstance(value, str):
            try:
                return decimal.Decimal(value)
            except decimal.InvalidOperation:
                raise LiteralError(f"Unable to make {typename} from '{value}'") from None
        return value
    if typename == "boolean" and isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise LiteralError(f"Unable to make boolean from '{value}'")
    if typename == "blob":
        if not isinstance(value, str) or not value.lower().startswith("0x"):
            raise LiteralError(f"Value '{value}' is not a valid blob representation")
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise LiteralError(f"Value '{value}' is not a valid blob representation") from None
    if typename == "timestamp" and isinstance(value, decimal.Decimal):
        return int(value)
    if typename in ("list", "set"):
        if not isinstance(value, list):
            raise LiteralError(f"Expected a list, but got a {type(value).__name__}: {value}")
        items = [_json_literal(cls.subtypes[0], item) for item in value]
        return SetLiteral(items) if typename == "set" else items
    if typename == "map":
        if not isinstance(value, dict):
            raise LiteralError(f"Expected a map, but got a {type(value).__name__}: {value}")
        key_type, value_type = cls.subtypes
        pairs = MapLiteral()
        for key, item in value.items():
            if key_type.typename in _TEXTUAL:
                parsed_key: Any = key
            else:
                parsed_key = _json_literal(key_type, _json_key(key))
            pairs.append((parsed_key, _json_literal(value_type, item)))
        return pairs
    if is_udt(cls):
        if not isinstance(value, dict):
            raise LiteralError(f"Expected a map, but got a {type(value).__name__}: {value}")
        fields = UdtLiteral()
        for key, item in value.items():
            name = json_field_name(key)
            if name not in cls.fieldnames:
                raise LiteralError(
                    f"Unknown field '{name}' in value of user defined type {cls.typename}"
                )
            fields[name] = _json_literal(cls.subtypes[cls.fieldnames.index(name)], item)
        return fields
    if is_tuple(cls):
        if not isinstance(value, list):
            raise LiteralError(f"Expected a list representation of a tuple, but got {value}")
        return TupleLiteral(
            _json_literal(sub, item) for sub, item in zip(cls.subtypes, value, strict=False)
        )
    return value


def _json_key(key: str) -> Any:
    """A JSON map key names a non-text key as its own JSON (``"1"``, ``"\\"uuid...\\""``)."""
    try:
        return json.loads(key, parse_float=decimal.Decimal)
    except ValueError:
        return key


def json_field_name(key: str) -> str:
    """JSON keys name columns and fields case-insensitively unless double-quoted."""
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        return key[1:-1].replace('""', '"')
    return key.lower()
