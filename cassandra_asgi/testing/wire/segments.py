"""Protocol v5 framing: envelopes travel inside CRC-protected segments, optionally LZ4-compressed.

A segment is a little-endian header (3 bytes, or 5 when compression was negotiated) followed
by its CRC24, then the payload (at most 128 KiB - 1) and the payload's CRC32. A
*self-contained* segment carries one or more whole envelopes; a large envelope is cut into a
run of segments without that flag. Cassandra switches a connection to this framing right
after its answer to a v5 STARTUP, and so does the server.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import ProtocolViolation
from .compression import lz4_block

#: (version byte, flags, stream, opcode, body) of one envelope read off the connection
Envelope = tuple[int, int, int, int, bytes]

__all__ = [
    "CRC24_INIT",
    "CRC24_POLY",
    "MAX_PAYLOAD",
    "Envelope",
    "SegmentCodec",
    "crc24",
    "crc32",
]

CRC24_INIT = 0x875060
CRC24_POLY = 0x1974F0B
#: the largest payload one segment carries (17 bits)
MAX_PAYLOAD = (1 << 17) - 1
_ENVELOPE_HEADER = 9
_U32 = struct.Struct("<I")
#: version, flags, stream, opcode, body length: the header every envelope starts with
_ENVELOPE = struct.Struct(">BBhBi")
_BODY_LENGTH = struct.Struct(">i")
_CRC32_SEED = zlib.crc32(b"\xfa\x2d\x55\xca")  # Cassandra primes its CRC32 with these bytes
#: what a checked header says: payload length, uncompressed length (0: not compressed),
#: self-contained, whether one envelope may fill the payload exactly, and the segment's size
_Header = tuple[int, int, bool, bool, int]


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

    __slots__ = (
        "_buffer",
        "_contained",
        "_header_size",
        "_headers",
        "_large",
        "_large_size",
        "_limit",
        "_prefix_size",
        "_prefixes",
        "compressed",
    )

    def __init__(self, *, compressed: bool, max_envelope: int) -> None:
        if compressed and lz4_block is None:
            raise ProtocolViolation("LZ4 segment compression needs the lz4 package")
        self.compressed = compressed
        self._header_size = 5 if compressed else 3
        self._prefix_size = self._header_size + 3  # with the CRC24
        self._buffer = bytearray()
        self._large = bytearray()
        self._large_size = -1
        self._limit = max_envelope
        self._prefixes: dict[int, bytes] = {}
        #: the prefixes of plain self-contained segments by payload length (the usual answer)
        self._contained: dict[int, bytes] = {}
        self._headers: dict[bytes, _Header] = {}

    # --- reading -------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray) -> list[Envelope]:
        if not self._buffer and type(data) is bytes and self._large_size < 0:
            # A client waiting on each answer sends one segment per read, with one envelope:
            # that case skips the loop below (its checks are the same).
            fields = self._headers.get(data[: self._prefix_size])
            if fields is not None and fields[3] and len(data) == fields[4]:
                payload = data[self._prefix_size : -4]
                if zlib.crc32(payload, _CRC32_SEED) == _U32.unpack_from(data, len(data) - 4)[0]:
                    version, flags, stream, opcode, size = _ENVELOPE.unpack_from(payload)
                    if size == fields[0] - _ENVELOPE_HEADER:
                        return [(version, flags, stream, opcode, payload[_ENVELOPE_HEADER:])]
        if self._buffer:  # the rest of a segment that arrived in pieces
            self._buffer += data
            data = bytes(self._buffer)
            self._buffer.clear()
        elif type(data) is not bytes:
            data = bytes(data)
        envelopes: list[Envelope] = []
        prefix_size = self._prefix_size
        known = self._headers
        total = len(data)
        position = 0
        while total - position >= prefix_size:
            start = position + prefix_size
            prefix = data[position:start]
            fields = known.get(prefix) or self._read_header(prefix)
            length, uncompressed, self_contained, single, _whole = fields
            stop = start + length
            if stop + 4 > total:
                break
            position = stop + 4
            payload = data[start:stop]
            if zlib.crc32(payload, _CRC32_SEED) != _U32.unpack_from(data, stop)[0]:
                raise self._payload_crc_error(payload, data, stop)
            if single and self._large_size < 0:
                # the usual segment: exactly one whole envelope (its length says so)
                version, flags, stream, opcode, size = _ENVELOPE.unpack_from(payload)
                if size == length - _ENVELOPE_HEADER:
                    envelopes.append((version, flags, stream, opcode, payload[_ENVELOPE_HEADER:]))
                    continue
            if uncompressed:
                payload = self._decompress(payload, uncompressed)
            if self_contained:
                if self._large_size >= 0:
                    raise ProtocolViolation(
                        "a self-contained frame arrived before the large message in progress "
                        "was complete"
                    )
                self._split(payload, envelopes)
            else:
                message = self._gather(payload)
                if message is not None:
                    self._split(message, envelopes)
        if position < total:
            self._buffer += data[position:]
        return envelopes

    @staticmethod
    def _payload_crc_error(payload: bytes, data: bytes, stop: int) -> ProtocolViolation:
        sent = _U32.unpack_from(data, stop)[0]
        computed = zlib.crc32(payload, _CRC32_SEED)
        return ProtocolViolation(
            "invalid, unrecoverable CRC mismatch detected in frame body. "
            f"Read {sent}, Computed {computed}"
        )

    def _read_header(self, prefix: bytes) -> _Header:
        """What a header says, once its CRC24 is checked.

        A connection sends the same few headers again and again (the same lengths), so each
        checked header is remembered and the next one like it costs a dictionary lookup.
        """
        size = self._header_size
        header = int.from_bytes(prefix[:size], "little")
        sent_crc = int.from_bytes(prefix[size:], "little")
        computed = crc24(header, size)
        if sent_crc != computed:
            raise ProtocolViolation(
                "invalid, unrecoverable CRC mismatch detected in frame header. "
                f"Read {sent_crc}, Computed {computed}"
            )
        if self.compressed:
            length, uncompressed = header & MAX_PAYLOAD, (header >> 17) & MAX_PAYLOAD
            self_contained = bool(header >> 34 & 1)
        else:
            length, uncompressed, self_contained = header & MAX_PAYLOAD, 0, bool(header >> 17 & 1)
        # a plain self-contained payload whose first envelope may fill it exactly
        single = (
            self_contained
            and not uncompressed
            and _ENVELOPE_HEADER <= length <= _ENVELOPE_HEADER + self._limit
        )
        if len(self._headers) > 4096:
            self._headers.clear()
        fields = (length, uncompressed, self_contained, single, len(prefix) + length + 4)
        self._headers[prefix] = fields
        return fields

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
        length: int = _BODY_LENGTH.unpack_from(data, position + 5)[0]
        if length < 0:
            raise ProtocolViolation(
                f"Invalid value for envelope header body length field: {length}"
            )
        if length > self._limit:
            raise ProtocolViolation(
                f"Envelope body of {length} bytes exceeds the maximum of {self._limit} bytes"
            )
        return length

    def _split(self, payload: bytes, into: list[Envelope]) -> None:
        """The whole envelopes one payload holds (it must hold nothing else)."""
        position = 0
        total = len(payload)
        while position < total:
            if total - position < _ENVELOPE_HEADER:
                raise ProtocolViolation("a self-contained frame ends inside an envelope header")
            version, flags, stream, opcode, _size = _ENVELOPE.unpack_from(payload, position)
            start = position + _ENVELOPE_HEADER
            end = start + self._body_length(payload, position)
            if end > total:
                raise ProtocolViolation("a self-contained frame ends inside an envelope body")
            into.append((version, flags, stream, opcode, payload[start:end]))
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
        if not self.compressed:  # the usual answer: everything fits one plain segment
            payload = b"".join(envelopes) if len(envelopes) > 1 else envelopes[0]
            length = len(payload)
            prefix = self._contained.get(length)
            if prefix is None and length <= MAX_PAYLOAD:
                prefix = self._contained[length] = self._prefix(length | 1 << 17)
            if prefix is not None:
                return b"".join((prefix, payload, _U32.pack(zlib.crc32(payload, _CRC32_SEED))))
        out: list[bytes] = []
        batch: list[bytes] = []
        batched = 0
        for envelope in envelopes:
            size = len(envelope)
            if size > MAX_PAYLOAD:
                if batch:
                    self._segment(batch, batched, True, out)
                    batch, batched = [], 0
                for start in range(0, size, MAX_PAYLOAD):
                    part = envelope[start : start + MAX_PAYLOAD]
                    self._segment([part], len(part), False, out)
                continue
            if batched + size > MAX_PAYLOAD:
                self._segment(batch, batched, True, out)
                batch, batched = [], 0
            batch.append(envelope)
            batched += size
        if batch:
            self._segment(batch, batched, True, out)
        return b"".join(out)

    def _prefix(self, header: int) -> bytes:
        """A header and its CRC24 as sent, remembered (the same headers come again and again)."""
        if len(self._prefixes) > 4096:
            self._prefixes.clear()
            self._contained.clear()
        size = self._header_size
        prefix = header.to_bytes(size, "little") + crc24(header, size).to_bytes(3, "little")
        self._prefixes[header] = prefix
        return prefix

    def _segment(
        self, parts: list[bytes], length: int, self_contained: bool, out: list[bytes]
    ) -> None:
        """One segment carrying ``parts`` (``length`` bytes together), appended to ``out``."""
        payload = b"".join(parts) if len(parts) > 1 else parts[0]
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
        prefix = self._prefixes.get(header) or self._prefix(header)
        out.append(prefix)
        out.append(payload)
        out.append(_U32.pack(zlib.crc32(payload, _CRC32_SEED)))
