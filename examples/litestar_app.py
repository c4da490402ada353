"""Notes service on Litestar: the same endpoints as ``fastapi_app.py``.

Run: ``CASSANDRA_CONTACT_POINTS=127.0.0.1 uvicorn litestar_app:app --app-dir examples``.

``CassandraPlugin`` opens the worker's one session when the server starts the app and closes
it at shutdown, after the requests in flight; handlers take it as the dependency
``cassandra``. An ``on_startup`` hook (which Litestar runs once the plugin has connected)
creates the schema and prepares the statements, then the ``notes`` dependency hands them out.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from notes import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SEED,
    BadRequest,
    Notes,
    keyspace_for,
    parse_note_id,
)
from startup import app_from_env

from cassandra_asgi import AsyncSession, CassandraConfig
from cassandra_asgi.adapters.litestar import CassandraPlugin


class NoteIn(msgspec.Struct):
    """Validated by Litestar: a bad body gets a 400 naming the field."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=10_000)]


def notes_of(state: State) -> Notes:
    """The statements the ``on_startup`` hook prepared for the current session."""
    notes = state.get("notes")
    if not isinstance(notes, Notes):
        raise RuntimeError("app.state.notes is missing: the app's lifespan did not run")
    return notes


def bad_request(request: Request[object, object, State], exc: BadRequest) -> Response[object]:
    """``BadRequest`` (a bad note id or page token) becomes a 400 with its reason."""
    return Response({"status_code": 400, "detail": str(exc)}, status_code=400)


NotesTable = NamedDependency[Notes]
PageSize = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)]
SeedCount = Annotated[int, QueryParameter(ge=1, le=MAX_SEED)]


@get("/health")
async def health(cassandra: NamedDependency[AsyncSession]) -> dict[str, float | str]:
    return {"status": "ok", "cassandra_rtt_ms": round(await cassandra.ping() * 1000, 3)}


@post("/notes")
async def add_note(data: JSONBody[NoteIn], notes: NotesTable) -> dict[str, str]:
    return (await notes.add(data.title, data.body)).to_json()


@get("/notes")
async def list_notes(
    notes: NotesTable, limit: PageSize = DEFAULT_PAGE_SIZE, page: FromQuery[str | None] = None
) -> dict[str, object]:
    return (await notes.page(limit, page)).to_json()


@get("/notes/stream")
async def stream_notes(notes: NotesTable) -> Stream:
    return Stream(notes.ndjson(), media_type="application/x-ndjson")


@post("/notes/seed")
async def seed_notes(notes: NotesTable, count: SeedCount = 1000) -> dict[str, int]:
    return {"inserted": await notes.seed(count)}


# Ids are taken as text and parsed here, so a malformed one is a 400 (a typed {note_id:uuid}
# path would not match it at all: 404).
@get("/notes/{note_id:str}")
async def get_note(note_id: FromPath[str], notes: NotesTable) -> dict[str, str]:
    note = await notes.get(parse_note_id(note_id))
    if note is None:
        raise NotFoundException("note not found")
    return note.to_json()


@put("/notes/{note_id:str}")
async def put_note(
    note_id: FromPath[str], data: JSONBody[NoteIn], notes: NotesTable
) -> dict[str, str]:
    return (await notes.put(parse_note_id(note_id), data.title, data.body)).to_json()


@delete("/notes/{note_id:str}")
async def delete_note(note_id: FromPath[str], notes: NotesTable) -> None:
    await notes.delete(parse_note_id(note_id))


def create_app(config: CassandraConfig | None = None) -> Litestar:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now.

    ``app`` below calls this when the server starts it (so does ``uvicorn --factory
    litestar_app:create_app``), never at import.
    """
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)

    async def prepare_notes(app: Litestar) -> None:
        app.state.notes = await Notes.create(app.state.cassandra, keyspace)

    return Litestar(
        [health, add_note, list_notes, stream_notes, seed_notes, get_note, put_note, delete_note],
        # Connect without a keyspace: on a fresh cluster it does not exist until prepare_notes.
        plugins=[CassandraPlugin(config.replace(keyspace=None))],
        on_startup=[prepare_notes],
        dependencies={"notes": Provide(notes_of, sync_to_thread=False)},
        exception_handlers={BadRequest: bad_request},
    )


app = app_from_env(create_app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
