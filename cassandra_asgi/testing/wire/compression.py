"""Body compression as Cassandra negotiates it: ``lz4`` (v4 frames and v5 segments), ``snappy``.

Cassandra always offers ``lz4`` and offers ``snappy`` when its library is present; this server
does the same with the Python packages: ``lz4`` (the driver compresses whenever it is
installed and the server offers it) and ``python-snappy``. An algorithm whose package is
missing is simply not offered. v5 compresses whole segments, and only with LZ4.
"""

from __future__ import annotations

import importlib
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolViolation

__all__ = ["FrameCompressor", "available_compressions", "frame_compressor", "lz4_block"]

_LENGTH = struct.Struct(">i")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


#: ``lz4.block`` when the ``lz4`` package is installed, else None
lz4_block: Any = _optional("lz4.block")
_snappy: Any = _optional("snappy")


@dataclass(frozen=True, slots=True)
class FrameCompressor:
    """Compression of a v3/v4 frame body (the frame's 0x01 flag)."""

    name: str

    def compress(self, body: bytes) -> bytes:
        if self.name == "lz4":
            # the uncompressed length comes first, big-endian (the lz4 block format stores it
            # little-endian, so it is written here and left out of the block)
            block: bytes = lz4_block.compress(body, store_size=False)
            return _LENGTH.pack(len(body)) + block
        data: bytes = _snappy.compress(body)
        return data

    def decompress(self, body: bytes) -> bytes:
        try:
            if self.name == "lz4":
                if len(body) < 4:
                    raise ProtocolViolation("lz4 frame body is shorter than its length prefix")
                size = _LENGTH.unpack_from(body)[0]
                if size < 0:
                    raise ProtocolViolation(f"Invalid lz4 uncompressed length {size}")
                data: bytes = lz4_block.decompress(body[4:], uncompressed_size=size)
                return data
            data = _snappy.decompress(body)
            return data
        except ProtocolViolation:
            raise
        except Exception as exc:
            raise ProtocolViolation(
                f"Cannot decompress the {self.name} frame body: {exc}"
            ) from None


def available_compressions() -> list[str]:
    """The COMPRESSION values of the SUPPORTED message, in Cassandra's order."""
    names = []
    if _snappy is not None:
        names.append("snappy")
    if lz4_block is not None:
        names.append("lz4")
    return names


def frame_compressor(requested: str | None, protocol_version: int) -> FrameCompressor | None:
    """The compressor a STARTUP's COMPRESSION option selects, or Cassandra's error for it.

    From v5 on, compression is per segment and LZ4 only; the frames themselves stay plain, so
    v5 gets no FrameCompressor here (the caller checks ``requested`` for the segment codec).
    """
    if not requested:
        return None
    name = requested.lower()
    if name == "snappy":
        if protocol_version >= 5:
            raise ProtocolViolation(
                "Snappy compression is no longer supported. Please switch to the LZ4 "
                "compressor or another supported compression implementation."
            )
        if _snappy is None:
            raise ProtocolViolation("This instance does not support Snappy compression")
        return FrameCompressor("snappy")
    if name == "lz4" and lz4_block is not None:
        return None if protocol_version >= 5 else FrameCompressor("lz4")
    raise ProtocolViolation(f"Unknown compression algorithm: {requested}")
