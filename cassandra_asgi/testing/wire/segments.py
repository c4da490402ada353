"""Protocol v5 framing: envelopes travel inside CRC-protected segments, optionally LZ4-compressed.

A segment is a little-endian header (3 bytes, or 5 when compression was negotiated) followed
by its CRC24, then the payload (at most 128 KiB - 1) and the payload's CRC32. A
*self-contained* segment carries one or more whole envelopes; a large envelope is cut into a
run of segments without that flag. Cassandra switches a connection to this framing right
after its answer to a v5 STARTUP, and so does the server.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from ..errors import ProtocolViolation
from .compression import lz4_block

__all__ = [
    "CRC24_INIT",
    "CRC24_POLY",
    "MAX_PAYLOAD",
    "SegmentCodec",
    "crc24",
    "crc32",
]

CRC24_INIT = 0x875060
CRC24_POLY = 0x1974F0B
#: the largest payload one segment carries (17 bits)
MAX_PAYLOAD = (1 << 17) - 1
_ENVELOPE_HEADER = 9
_CRC32_SEED = zlib.crc32(b"\xfa\x2d\x55\xca")  # Cassandra primes its CRC32 with these bytes


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_CRC24_TABLE = _crc24_table()


def crc24(value: int, length: int) -> int:
    """CRC24 of the ``length`` low bytes of ``value``, least significant byte first."""
    crc = CRC24_INIT
    table = _CRC24_TABLE
    for _ in range(length):
        crc = ((crc << 8) & 0xFFFFFF) ^ table[((crc >> 16) ^ value) & 0xFF]
        value >>= 8
    return crc


def crc32(payload: bytes) -> int:
    """The payload checksum: CRC32 primed with Cassandra's four initial bytes."""
    return zlib.crc32(payload, _CRC32_SEED)


class SegmentCodec:
    """Reads segments off one connection and frames envelopes into segments for it.

    ``feed`` returns the whole envelopes that arrived; any corruption raises a
    ProtocolViolation (the connection cannot be resynchronised after it, so it must close).
    """

    __slots__ = ("_buffer", "_header_size", "_large", "_large_size", "_limit", "compressed")

    def __init__(self, *, compressed: bool, max_envelope: int) -> None:
        if compressed and lz4_block is None:
            raise ProtocolViolation("LZ4 segment compression needs the lz4 package")
        self.compressed = compressed
        self._header_size = 5 if compressed else 3
        self._buffer = bytearray()
        self._large = bytearray()
        self._large_size = -1
        self._limit = max_envelope

    # --- reading -------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        envelopes: list[bytes] = []
        size = self._header_size
        while len(buffer) >= size + 3:
            header = int.from_bytes(buffer[:size], "little")
            sent_crc = int.from_bytes(buffer[size : size + 3], "little")
            computed = crc24(header, size)
            if sent_crc != computed:
                raise ProtocolViolation(
                    "invalid, unrecoverable CRC mismatch detected in frame header. "
                    f"Read {sent_crc}, Computed {computed}"
                )
            length = header & MAX_PAYLOAD
            if self.compressed:
                uncompressed = (header >> 17) & MAX_PAYLOAD
                self_contained = bool((header >> 34) & 1)
            else:
                uncompressed = 0
                self_contained = bool((header >> 17) & 1)
            start = size + 3
            end = start + length + 4
            if len(buffer) < end:
                break
            payload = bytes(buffer[start : start + length])
            sent_crc = int.from_bytes(buffer[start + length : end], "little")
            del buffer[:end]
            computed = crc32(payload)
            if sent_crc != computed:
                raise ProtocolViolation(
                    "invalid, unrecoverable CRC mismatch detected in frame body. "
                    f"Read {sent_crc}, Computed {computed}"
                )
            if uncompressed:
                payload = self._decompress(payload, uncompressed)
            if self_contained:
                if self._large_size >= 0:
                    raise ProtocolViolation(
                        "a self-contained frame arrived before the large message in progress "
                        "was complete"
                    )
                envelopes.extend(self._split(payload))
            else:
                message = self._gather(payload)
                if message is not None:
                    envelopes.append(message)
        return envelopes

    def _decompress(self, payload: bytes, size: int) -> bytes:
        try:
            data: bytes = lz4_block.decompress(payload, uncompressed_size=size)
        except Exception as exc:
            raise ProtocolViolation(f"Cannot decompress the LZ4 frame payload: {exc}") from None
        if len(data) != size:
            raise ProtocolViolation(
                f"LZ4 frame payload decompressed to {len(data)} bytes, its header says {size}"
            )
        return data

    def _body_length(self, data: bytes | bytearray, position: int) -> int:
        length = int.from_bytes(data[position + 5 : position + 9], "big", signed=True)
        if length < 0:
            raise ProtocolViolation(
                f"Invalid value for envelope header body length field: {length}"
            )
        if length > self._limit:
            raise ProtocolViolation(
                f"Envelope body of {length} bytes exceeds the maximum of {self._limit} bytes"
            )
        return length

    def _split(self, payload: bytes) -> Iterator[bytes]:
        position = 0
        total = len(payload)
        while position < total:
            if total - position < _ENVELOPE_HEADER:
                raise ProtocolViolation("a self-contained frame ends inside an envelope header")
            end = position + _ENVELOPE_HEADER + self._body_length(payload, position)
            if end > total:
                raise ProtocolViolation("a self-contained frame ends inside an envelope body")
            yield payload[position:end] if position or end != total else payload
            position = end

    def _gather(self, payload: bytes) -> bytes | None:
        """One part of a large envelope; the whole envelope once its last part arrived."""
        large = self._large
        large += payload
        if self._large_size < 0:
            if len(large) < _ENVELOPE_HEADER:
                return None
            self._large_size = _ENVELOPE_HEADER + self._body_length(large, 0)
        if len(large) < self._large_size:
            return None
        if len(large) > self._large_size:
            raise ProtocolViolation("a large message's frames carry more bytes than its envelope")
        message = bytes(large)
        large.clear()
        self._large_size = -1
        return message

    # --- writing -------------------------------------------------------------------------

    def encode(self, envelopes: list[bytes]) -> bytes:
        """Pack envelopes into self-contained segments; a large one into a run of segments."""
        out: list[bytes] = []
        batch: list[bytes] = []
        batched = 0
        for envelope in envelopes:
            size = len(envelope)
            if size > MAX_PAYLOAD:
                if batch:
                    out.append(self._segment(b"".join(batch), True))
                    batch, batched = [], 0
                for start in range(0, size, MAX_PAYLOAD):
                    out.append(self._segment(envelope[start : start + MAX_PAYLOAD], False))
                continue
            if batched + size > MAX_PAYLOAD:
                out.append(self._segment(b"".join(batch), True))
                batch, batched = [], 0
            batch.append(envelope)
            batched += size
        if batch:
            out.append(self._segment(batch[0] if len(batch) == 1 else b"".join(batch), True))
        return b"".join(out)

    def _segment(self, payload: bytes, self_contained: bool) -> bytes:
        length = len(payload)
        if self.compressed:
            compressed: bytes = lz4_block.compress(payload, store_size=False)
            uncompressed = length
            if len(compressed) < length:
                payload, length = compressed, len(compressed)
            else:
                uncompressed = 0  # not worth it: sent as is, which a zero length announces
            header = length | (uncompressed << 17) | (int(self_contained) << 34)
        else:
            header = length | (int(self_contained) << 17)
        size = self._header_size
        return b"".join(
            (
                header.to_bytes(size, "little"),
                crc24(header, size).to_bytes(3, "little"),
                payload,
                crc32(payload).to_bytes(4, "little"),
            )
        )
