"""The protocol's notations ([string], [short bytes], [bytes], maps), encoded for every layer."""

from __future__ import annotations

import struct

__all__ = [
    "long_string",
    "short_bytes",
    "string",
    "string_list",
    "string_map",
    "string_multimap",
    "value_bytes",
]

_SHORT = struct.Struct(">H")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


def string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _SHORT.pack(len(data)) + data


def long_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _INT.pack(len(data)) + data


def short_bytes(data: bytes) -> bytes:
    return _SHORT.pack(len(data)) + data


def value_bytes(data: bytes | None) -> bytes:
    if data is None:
        return b"\xff\xff\xff\xff"
    return _INT.pack(len(data)) + data


def string_list(items: list[str]) -> bytes:
    return _SHORT.pack(len(items)) + b"".join(string(item) for item in items)


def string_map(mapping: dict[str, str]) -> bytes:
    return _SHORT.pack(len(mapping)) + b"".join(string(k) + string(v) for k, v in mapping.items())


def string_multimap(mapping: dict[str, list[str]]) -> bytes:
    return _SHORT.pack(len(mapping)) + b"".join(
        string(k) + string_list(v) for k, v in mapping.items()
    )
