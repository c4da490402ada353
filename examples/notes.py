"""The data layer every example shares: a ``notes`` table, reached only through cassandra-asgi.

This module knows nothing about web frameworks; each ``*_app.py`` next to it shows how one
framework hands it the application's session. Reading this file shows the library itself:
schema creation at startup, statements prepared once, stateless paging with an opaque token,
streaming a large result page by page, and bulk writes with bounded concurrency.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra import InvalidRequest
from cassandra.protocol import ProtocolException

from cassandra_asgi import AsyncSession, CassandraConfig

__all__ = [
    "DEFAULT_KEYSPACE",
    "DEFAULT_PAGE_SIZE",
    "INVALID_PAGE_TOKEN",
    "MAX_PAGE_SIZE",
    "MAX_SEED",
    "BadRequest",
    "InvalidPageToken",
    "Note",
    "NotePage",
    "Notes",
    "Statements",
    "checked_keyspace",
    "decode_page_token",
    "encode_page_token",
    "int_param",
    "keyspace_for",
    "ndjson_lines",
    "parse_note",
    "parse_note_id",
]

#: Used when ``CASSANDRA_KEYSPACE`` is not set.
DEFAULT_KEYSPACE = "demo"
#: Rows per page of ``/notes`` when the client does not ask for a size.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
#: Rows per driver page while streaming: big enough to amortise round trips, small enough
#: that only a page or two is ever held in memory.
STREAM_FETCH_SIZE = 1000
#: Rows written per ``execute_concurrent`` call while seeding, so memory stays bounded.
SEED_CHUNK = 2000
MAX_SEED = 1_000_000

log = logging.getLogger(__name__)

# Keyspace names end up inside CQL text (they cannot be bound parameters), so accept only
# what Cassandra itself accepts for an unquoted name.
_KEYSPACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def keyspace_for(config: CassandraConfig) -> str:
    """The keyspace the examples use: ``CASSANDRA_KEYSPACE``, else ``demo``."""
    return checked_keyspace(config.keyspace or DEFAULT_KEYSPACE)


def checked_keyspace(name: str) -> str:
    if not _KEYSPACE_NAME.fullmatch(name):
        raise ValueError(
            f"keyspace {name!r} is not a plain CQL name (a letter, then up to 47 letters, "
            "digits or underscores)"
        )
    return name


class BadRequest(ValueError):
    """The request is malformed; the message says how (answer 400)."""


class InvalidPageToken(BadRequest):
    """The client sent a ``page`` token this service did not issue (answer 400)."""


#: What a client learns about a token that decodes but that Cassandra refuses.
INVALID_PAGE_TOKEN = "page token is invalid or has expired"


def encode_page_token(paging_state: bytes) -> str:
    """Turn the driver's paging state into a URL-safe opaque token."""
    return base64.urlsafe_b64encode(paging_state).rstrip(b"=").decode("ascii")


def decode_page_token(token: str) -> bytes:
    """Inverse of ``encode_page_token``; anything else raises ``InvalidPageToken``."""
    if not _BASE64URL.fullmatch(token):
        raise InvalidPageToken("page token must be non-empty base64url text")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageToken("page token is not valid base64url") from None


@dataclass(frozen=True, slots=True)
class Note:
    id: uuid.UUID
    title: str
    body: str

    def to_json(self) -> dict[str, str]:
        return {"id": str(self.id), "title": self.title, "body": self.body}

    @classmethod
    def from_row(cls, row: Any) -> Note:
        """Accept every row shape ``CASSANDRA_ROW_FACTORY`` can select."""
        if isinstance(row, Mapping):  # dict rows
            row = (row["id"], row["title"], row["body"])
        note_id, title, body = row  # named tuples and tuples, in SELECT order
        return cls(id=note_id, title=title, body=body)


@dataclass(frozen=True, slots=True)
class NotePage:
    notes: list[Note]
    #: Token for the following page, or ``None`` on the last one.
    next_page: str | None

    def to_json(self) -> dict[str, Any]:
        return {"items": [note.to_json() for note in self.notes], "next_page": self.next_page}


@dataclass(frozen=True, slots=True)
class Statements:
    """Prepared once at startup: executing one then sends only its id and the values."""

    insert: Any
    select_one: Any
    select_all: Any
    delete: Any


class Notes:
    """Notes stored in ``<keyspace>.notes``; build one with ``await Notes.create(...)``.

    Table names are qualified with the keyspace instead of connecting to the keyspace, so
    the same session can create the keyspace on a fresh cluster.
    """

    def __init__(self, session: AsyncSession, keyspace: str, statements: Statements) -> None:
        self.session = session
        self.keyspace = keyspace
        self._statements = statements

    @classmethod
    async def create(cls, session: AsyncSession, keyspace: str) -> Notes:
        """Create the schema if missing and prepare every statement, once, at startup."""
        keyspace = checked_keyspace(keyspace)
        # SimpleStrategy with one replica suits a laptop; production keyspaces are created
        # by operators with NetworkTopologyStrategy, and this statement then does nothing.
        await session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        table = f"{keyspace}.notes"
        await session.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, title text, body text)"
        )
        statements = Statements(
            insert=await session.prepare(f"INSERT INTO {table} (id, title, body) VALUES (?, ?, ?)"),
            select_one=await session.prepare(f"SELECT id, title, body FROM {table} WHERE id = ?"),
            select_all=await session.prepare(f"SELECT id, title, body FROM {table}"),
            delete=await session.prepare(f"DELETE FROM {table} WHERE id = ?"),
        )
        return cls(session, keyspace, statements)

    async def add(self, title: str, body: str) -> Note:
        note = Note(id=uuid.uuid4(), title=title, body=body)
        await self.session.execute(self._statements.insert, (note.id, note.title, note.body))
        return note

    async def get(self, note_id: uuid.UUID) -> Note | None:
        result = await self.session.execute(self._statements.select_one, (note_id,))
        row = result.one()
        return None if row is None else Note.from_row(row)

    async def put(self, note_id: uuid.UUID, title: str, body: str) -> Note:
        """Create or replace: a Cassandra write is an upsert, so PUT needs no read first."""
        await self.session.execute(self._statements.insert, (note_id, title, body))
        return Note(id=note_id, title=title, body=body)

    async def delete(self, note_id: uuid.UUID) -> None:
        """Idempotent, like every Cassandra delete: deleting a missing note is not an error."""
        await self.session.execute(self._statements.delete, (note_id,))

    async def page(self, size: int = DEFAULT_PAGE_SIZE, token: str | None = None) -> NotePage:
        """One page of notes; pass the previous page's ``next_page`` to continue.

        The server keeps no cursor: the token carries the driver's paging state, so any
        worker process can serve the next page.
        """
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise BadRequest(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {size}")
        paging_state = None if token is None else decode_page_token(token)
        try:
            result = await self.session.execute(
                self._statements.select_all, fetch_size=size, paging_state=paging_state
            )
        except (InvalidRequest, ProtocolException) as exc:
            if paging_state is None:
                raise
            # Cassandra validates the paging state itself and refuses one it cannot decode. Its
            # message is about the server's internals: the operator's business, not the client's.
            log.warning("page token %r refused by Cassandra: %s", token, exc)
            raise InvalidPageToken(INVALID_PAGE_TOKEN) from None
        notes = [Note.from_row(row) for row in result.current_rows]
        next_page = (
            encode_page_token(result.paging_state)
            if result.has_more_pages and result.paging_state
            else None
        )
        return NotePage(notes=notes, next_page=next_page)

    async def ndjson(self) -> AsyncGenerator[bytes, None]:
        """Every note as NDJSON, one chunk per driver page; the result is never buffered.

        ``session.stream`` holds at most one page ahead of this generator. When the caller
        stops early (the HTTP client went away) and closes the generator, the stream is
        closed too and no further pages are fetched.
        """
        async with self.session.stream(
            self._statements.select_all, fetch_size=STREAM_FETCH_SIZE
        ) as rows:
            async for page in rows.pages():
                yield ndjson_lines(Note.from_row(row) for row in page)

    async def seed(self, count: int, progress: Callable[[int], object] | None = None) -> int:
        """Insert ``count`` generated notes, at most 100 writes in flight at a time.

        ``progress(done)`` is called after every chunk of ``SEED_CHUNK`` rows. Cancelling the
        caller stops the writes at once: nothing here waits for the rest of a chunk.
        """
        if count < 0:
            raise BadRequest(f"count must not be negative, got {count}")
        insert = self._statements.insert
        for start in range(0, count, SEED_CHUNK):
            numbers = range(start, min(start + SEED_CHUNK, count))
            await self.session.execute_concurrent(
                _seed_rows(insert, numbers), concurrency=100, raise_on_first_error=True
            )
            if progress is not None:
                progress(numbers.stop)
        return count

    async def is_empty(self) -> bool:
        result = await self.session.execute(self._statements.select_all, fetch_size=1)
        return not result.current_rows


def _seed_rows(insert: Any, numbers: Iterable[int]) -> list[tuple[Any, tuple[Any, ...]]]:
    return [(insert, (uuid.uuid4(), f"note {n}", f"generated note number {n}")) for n in numbers]


# Input checks for the apps whose framework does not validate requests (all but FastAPI).


def parse_note(payload: object) -> tuple[str, str]:
    """``(title, body)`` from a decoded JSON body, with the same limits as the FastAPI model."""
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object with 'title' and 'body'")
    title, body = payload.get("title"), payload.get("body")
    if not isinstance(title, str) or not 1 <= len(title) <= 200:
        raise BadRequest("'title' must be a string of 1 to 200 characters")
    if not isinstance(body, str) or len(body) > 10_000:
        raise BadRequest("'body' must be a string of at most 10000 characters")
    return title, body


def int_param(name: str, raw: str | None, *, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def parse_note_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"{raw!r} is not a note id (a UUID)") from None


def ndjson_lines(notes: Iterable[Note]) -> bytes:
    """One JSON object per line: a whole page becomes one chunk of the response body."""
    return b"".join(
        json.dumps(note.to_json(), separators=(",", ":")).encode() + b"\n" for note in notes
    )
