"""Notes service on FastAPI: CRUD, token paging and an NDJSON stream over one session.

Run it against the embedded server with ``python examples/demo.py``, or against your own
cluster with ``CASSANDRA_CONTACT_POINTS=127.0.0.1 uvicorn fastapi_app:app --app-dir examples``.

``CassandraMiddleware`` opens the worker's one session when the server starts the app (after
any fork) and closes it at shutdown; its ``on_connect`` hook creates the schema and prepares
every statement before the first request is accepted. Handlers receive that session through
the typed dependency ``CassandraSession`` (an ``AsyncSession`` to type checkers). ``/metrics``
serves the session's Prometheus metrics.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from monitoring import metrics_registry
from notes import MAX_PAGE_SIZE, MAX_SEED, InvalidPageToken, Note, Notes, keyspace_for
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from startup import app_from_env

from cassandra_asgi import AsyncSession, CassandraConfig, CassandraMiddleware
from cassandra_asgi.adapters.fastapi import CassandraSession


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=10_000)


class NoteOut(BaseModel):
    id: uuid.UUID
    title: str
    body: str

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(id=note.id, title=note.title, body=note.body)


class NotePageOut(BaseModel):
    items: list[NoteOut]
    next_page: str | None = Field(description="Pass back as ?page= for the next page")


def notes_table(request: Request) -> Notes:
    """The statements prepared by ``on_connect`` for the current session."""
    notes = getattr(request.app.state, "notes", None)
    if not isinstance(notes, Notes):
        raise RuntimeError("app.state.notes is missing: the app's lifespan did not run")
    return notes


NotesTable = Annotated[Notes, Depends(notes_table)]


def create_app(config: CassandraConfig | None = None) -> FastAPI:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now.

    ``app`` below calls this when the server starts it (so does ``uvicorn --factory
    fastapi_app:create_app``), never at import.
    """
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)

    app = FastAPI(title="cassandra-asgi notes (FastAPI)")

    async def prepare_notes(session: AsyncSession) -> None:
        """Runs after each connect, before the app accepts requests."""
        app.state.notes = await Notes.create(session, keyspace)
        app.state.metrics = metrics_registry(session)

    # Connect without a keyspace: on a fresh cluster it does not exist until prepare_notes.
    app.add_middleware(
        CassandraMiddleware, config=config.replace(keyspace=None), on_connect=prepare_notes
    )

    @app.get("/health")
    async def health(session: CassandraSession) -> dict[str, float | str]:
        return {"status": "ok", "cassandra_rtt_ms": round(await session.ping() * 1000, 3)}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus text format, read on this loop (no thread hop)."""
        body = generate_latest(request.app.state.metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post("/notes", status_code=status.HTTP_201_CREATED)
    async def add_note(note: NoteIn, notes: NotesTable) -> NoteOut:
        return NoteOut.of(await notes.add(note.title, note.body))

    @app.get("/notes")
    async def list_notes(
        notes: NotesTable,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
        page: Annotated[str | None, Query(description="next_page of the previous call")] = None,
    ) -> NotePageOut:
        try:
            result = await notes.page(limit, page)
        except InvalidPageToken as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        return NotePageOut(items=[NoteOut.of(n) for n in result.notes], next_page=result.next_page)

    # Declared before /notes/{note_id} so that "stream" and "seed" are not taken for ids.
    @app.get("/notes/stream", response_class=StreamingResponse)
    async def stream_notes(notes: NotesTable) -> StreamingResponse:
        return StreamingResponse(notes.ndjson(), media_type="application/x-ndjson")

    @app.post("/notes/seed", status_code=status.HTTP_201_CREATED)
    async def seed_notes(
        notes: NotesTable, count: Annotated[int, Query(ge=1, le=MAX_SEED)] = 1000
    ) -> dict[str, int]:
        return {"inserted": await notes.seed(count)}

    @app.get("/notes/{note_id}")
    async def get_note(note_id: uuid.UUID, notes: NotesTable) -> NoteOut:
        note = await notes.get(note_id)
        if note is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
        return NoteOut.of(note)

    @app.put("/notes/{note_id}")
    async def put_note(note_id: uuid.UUID, note: NoteIn, notes: NotesTable) -> NoteOut:
        return NoteOut.of(await notes.put(note_id, note.title, note.body))

    @app.delete("/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_note(note_id: uuid.UUID, notes: NotesTable) -> Response:
        await notes.delete(note_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return app


app = app_from_env(create_app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
