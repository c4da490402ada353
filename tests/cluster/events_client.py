"""A raw client connection that registers for events and reads them, with the driver's codecs.

The driver acts on events in ways a test cannot always see (it ignores a DOWN for a host it
still has a connection to, it delays UP by a random fraction of a window); this client shows
exactly what a node pushed, and when.
"""

from __future__ import annotations

import asyncio
import struct
import time
from types import TracebackType
from typing import Any

from cassandra.protocol import (
    EventMessage,
    OptionsMessage,
    ProtocolHandler,
    RegisterMessage,
    StartupMessage,
)

__all__ = ["EventListener"]

_HEADER = struct.Struct(">BBhBi")
_VERSION = 4
ALL_EVENTS = ("STATUS_CHANGE", "TOPOLOGY_CHANGE", "SCHEMA_CHANGE")


class EventListener:
    """``async with EventListener(address, port) as events: await events.next()``."""

    def __init__(self, address: str, port: int, kinds: tuple[str, ...] = ALL_EVENTS) -> None:
        self.address = address
        self.port = port
        self.kinds = kinds
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._events: asyncio.Queue[tuple[float, dict[str, Any], str]] = asyncio.Queue()
        self._replies: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventListener:
        self._reader, self._writer = await asyncio.open_connection(self.address, self.port)
        self._task = asyncio.get_running_loop().create_task(self._read())
        await self.request(StartupMessage(cqlversion="3.4.4", options={}))
        await self.request(RegisterMessage(event_list=list(self.kinds)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def request(self, message: Any, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Send ``message`` on stream 1 and return the decoded reply."""
        assert self._writer is not None
        frame = ProtocolHandler.encode_message(message, 1, _VERSION, None, False)
        self._writer.write(frame)
        await self._writer.drain()
        return await asyncio.wait_for(self._replies.get(), timeout)

    async def options(self, timeout: float) -> Any:  # noqa: ASYNC109
        """An OPTIONS round trip (raises TimeoutError when the node does not answer)."""
        return await self.request(OptionsMessage(), timeout)

    async def _read(self) -> None:
        reader = self._reader
        assert reader is not None
        while True:
            header = await reader.readexactly(_HEADER.size)
            _version, flags, stream, opcode, length = _HEADER.unpack(header)
            body = await reader.readexactly(length)
            message = ProtocolHandler.decode_message(
                _VERSION, {}, stream, flags, opcode, body, None, None
            )
            if isinstance(message, EventMessage):
                self._events.put_nowait((time.monotonic(), message.event_args, message.event_type))
            else:
                self._replies.put_nowait(message)

    async def next(self, within: float = 5.0) -> tuple[float, str, dict[str, Any]]:
        """(arrival time, event type, its fields) of the next event; TimeoutError if none."""
        arrived, args, kind = await asyncio.wait_for(self._events.get(), within)
        return arrived, kind, args

    async def quiet_for(self, seconds: float) -> bool:
        """True when no event arrives for ``seconds``."""
        try:
            await asyncio.wait_for(self._events.get(), seconds)
        except TimeoutError:
            return True
        return False
