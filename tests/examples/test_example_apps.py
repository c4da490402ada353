"""Every example app, served for real, honours the same HTTP contract.

Each test starts one example (FastAPI, Litestar, Quart, Starlette, raw ASGI, aiohttp) on a
free port against the plugin's ``cassandra_config`` (the in-memory server, or a real cluster
when ``CASSANDRA_CONTACT_POINTS`` is set) in a fresh keyspace, and talks to it with httpx.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from example_servers import EXAMPLE_MODULES, import_example, serving_example

from cassandra_asgi import CassandraConfig
from cassandra_asgi.testing import CQLServer

#: Size of the stream that must not monopolise the server.
LARGE_STREAM_ROWS = 100_000
#: Lines the reader must have received before the second request is sent: the stream is
#: then demonstrably under way.
STREAM_UNDER_WAY_AFTER = 2_000
#: Rows per driver page of the examples' NDJSON stream.
notes = import_example("notes")
STREAM_FETCH_SIZE: int = notes.STREAM_FETCH_SIZE


@pytest.fixture(params=sorted(EXAMPLE_MODULES))
def example_url(
    request: pytest.FixtureRequest, cassandra_config: CassandraConfig, keyspace: str
) -> Iterator[str]:
    with serving_example(request.param, cassandra_config.replace(keyspace=keyspace)) as url:
        yield url


@pytest.fixture
async def client(example_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=example_url, timeout=30.0) as http:
        yield http


async def create_note(client: httpx.AsyncClient, title: str, body: str) -> dict[str, str]:
    response = await client.post("/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    note: dict[str, str] = response.json()
    return note


async def walk_pages(client: httpx.AsyncClient, limit: int) -> list[list[dict[str, str]]]:
    """Follow ``next_page`` tokens from the first page to the last."""
    pages: list[list[dict[str, str]]] = []
    params: dict[str, str | int] = {"limit": limit}
    for _ in range(10_000):  # bounded: a token that never ends must fail, not hang
        response = await client.get("/notes", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        if body["next_page"] is None:
            return pages
        params = {"limit": limit, "page": body["next_page"]}
    raise AssertionError("pagination never reached a last page")


async def test_health_pings_cassandra(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["cassandra_rtt_ms"] >= 0


async def test_created_note_reads_back(client: httpx.AsyncClient) -> None:
    created = await create_note(client, "shopping", "eggs, flour")

    response = await client.get(f"/notes/{created['id']}")

    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "title": "shopping", "body": "eggs, flour"}
    assert uuid.UUID(created["id"])


async def test_put_replaces_a_note(client: httpx.AsyncClient) -> None:
    created = await create_note(client, "draft", "first version")

    response = await client.put(
        f"/notes/{created['id']}", json={"title": "final", "body": "second version"}
    )

    assert response.status_code == 200
    stored = (await client.get(f"/notes/{created['id']}")).json()
    assert stored == {"id": created["id"], "title": "final", "body": "second version"}


async def test_put_creates_a_note_under_a_new_id(client: httpx.AsyncClient) -> None:
    note_id = str(uuid.uuid4())

    response = await client.put(f"/notes/{note_id}", json={"title": "new", "body": "by PUT"})

    assert response.status_code == 200
    assert (await client.get(f"/notes/{note_id}")).json()["title"] == "new"


async def test_deleted_note_is_gone(client: httpx.AsyncClient) -> None:
    created = await create_note(client, "temporary", "delete me")

    response = await client.delete(f"/notes/{created['id']}")

    assert response.status_code == 204
    assert (await client.get(f"/notes/{created['id']}")).status_code == 404


async def test_unknown_note_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/notes/{uuid.uuid4()}")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_malformed_note_id_is_a_client_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes/not-a-uuid")

    assert response.status_code in (400, 422)  # FastAPI validates with 422, the others 400


@pytest.mark.parametrize(
    "payload",
    [{"body": "no title"}, {"title": "", "body": "empty title"}, {"title": 5, "body": "x"}, []],
)
async def test_invalid_note_is_rejected(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/notes", json=payload)

    assert response.status_code in (400, 422)  # FastAPI validates with 422, the others 400
    assert response.json()["detail"]


async def test_body_that_is_not_json_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notes", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code in (400, 422)


async def test_seed_inserts_the_requested_number_of_notes(client: httpx.AsyncClient) -> None:
    response = await client.post("/notes/seed", params={"count": 25})

    assert response.status_code == 201
    assert response.json() == {"inserted": 25}
    pages = await walk_pages(client, limit=1000)
    assert sum(len(page) for page in pages) == 25


async def test_pagination_visits_every_note_exactly_once(client: httpx.AsyncClient) -> None:
    assert (await client.post("/notes/seed", params={"count": 47})).status_code == 201
    created = await create_note(client, "needle", "in the haystack")

    pages = await walk_pages(client, limit=10)

    ids = [note["id"] for page in pages for note in page]
    assert len(ids) == 48
    assert len(set(ids)) == 48
    assert created["id"] in ids
    assert all(len(page) <= 10 for page in pages)
    assert len(pages) >= 5


async def test_page_token_is_opaque_text(client: httpx.AsyncClient) -> None:
    await client.post("/notes/seed", params={"count": 3})

    token = (await client.get("/notes", params={"limit": 1})).json()["next_page"]

    assert isinstance(token, str)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("token", ["!!!", "a", "abc$", "===="])
async def test_malformed_page_token_is_400(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/notes", params={"page": token})

    assert response.status_code == 400
    assert "page token" in response.json()["detail"]


async def test_forged_page_token_gets_a_generic_400_and_the_detail_is_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await client.post("/notes/seed", params={"count": 3})
    forged = base64.urlsafe_b64encode(b"\xff" * 7).rstrip(b"=").decode()

    with caplog.at_level(logging.WARNING, logger="notes"):
        response = await client.get("/notes", params={"page": forged})

    assert response.status_code == 400
    assert response.json()["detail"] == notes.INVALID_PAGE_TOKEN  # not a word from Cassandra
    [record] = [r for r in caplog.records if r.name == "notes"]
    assert forged in record.getMessage()
    assert record.getMessage() != notes.INVALID_PAGE_TOKEN  # the server's reason, for operators


@pytest.mark.parametrize("limit", ["0", "1001", "ten"])
async def test_out_of_range_page_size_is_rejected(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/notes", params={"limit": limit})

    assert response.status_code in (400, 422)


async def test_stream_sends_every_note_as_ndjson(client: httpx.AsyncClient) -> None:
    assert (await client.post("/notes/seed", params={"count": 2500})).status_code == 201
    created = await create_note(client, "streamed", "one of many")

    async with client.stream("GET", "/notes/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        notes = [json.loads(line) async for line in response.aiter_lines() if line]

    assert len(notes) == 2501
    assert len({note["id"] for note in notes}) == 2501
    assert {"id": created["id"], "title": "streamed", "body": "one of many"} in notes


async def test_stream_of_an_empty_table_is_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes/stream")

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_other_requests_are_answered_while_a_large_stream_is_sent(example_url: str) -> None:
    """The assertion is about ordering, never speed: the second request (which also queries
    Cassandra) is answered before the stream's last line has arrived."""
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=example_url, timeout=120.0, limits=limits) as client:
        seeded = await client.post("/notes/seed", params={"count": LARGE_STREAM_ROWS - 1})
        assert seeded.status_code == 201, seeded.text
        marker = await client.post("/notes", json={"title": "marker", "body": "look me up"})
        assert marker.status_code == 201
        marker_id = marker.json()["id"]

        received: list[str] = []
        stream_under_way = asyncio.Event()

        async def read_stream() -> None:
            async with client.stream("GET", "/notes/stream") as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line:
                        received.append(line)
                        if len(received) == STREAM_UNDER_WAY_AFTER:
                            stream_under_way.set()

        reader = asyncio.create_task(read_stream())
        try:
            await asyncio.wait_for(stream_under_way.wait(), timeout=120)
            lines_before = len(received)
            other = await client.get(f"/notes/{marker_id}")
            lines_when_answered = len(received)
            await asyncio.wait_for(reader, timeout=300)
        finally:
            reader.cancel()

    assert other.status_code == 200
    assert other.json()["title"] == "marker"
    # The second request was answered while the stream was still being received, in fact
    # before half of it had arrived (a server stuck behind the stream answers after all of it;
    # measured here: within about one page, 1,000 lines, of asking)...
    assert lines_before >= STREAM_UNDER_WAY_AFTER
    assert lines_when_answered < LARGE_STREAM_ROWS // 2
    # ...and the stream was neither cut short nor duplicated because of it.
    assert len(received) == LARGE_STREAM_ROWS
    ids = {json.loads(line)["id"] for line in received}
    assert len(ids) == LARGE_STREAM_ROWS
    assert marker_id in ids


def executes_once_settled(server: CQLServer, timeout: float = 60.0) -> int:
    """EXECUTE count once it has stopped changing for a second (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = server.requests.get("EXECUTE", 0)
        if count != last:
            last, stable_since = count, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            return count
        time.sleep(0.1)
    raise AssertionError(f"the server kept receiving EXECUTEs for {timeout} s")


@pytest.mark.memory_only
@pytest.mark.timeout(300)
async def test_stream_stops_querying_when_the_client_goes_away(
    client: httpx.AsyncClient, cql_server: CQLServer
) -> None:
    """A client that hangs up after the first line does not make the app read every page."""
    rows = 30_000
    pages = rows // STREAM_FETCH_SIZE
    assert (await client.post("/notes/seed", params={"count": rows})).status_code == 201
    cql_server.reset_counters()

    async with client.stream("GET", "/notes/stream") as response:
        first_line = await anext(response.aiter_lines())
    # Leaving the block closed the connection before the body was complete.
    fetched = await asyncio.to_thread(executes_once_settled, cql_server)

    assert json.loads(first_line)["title"].startswith("note ")
    assert fetched < pages
    assert (await client.get("/health")).status_code == 200


@pytest.fixture(params=["dict", "tuple"])
def url_with_other_row_shape(
    request: pytest.FixtureRequest, cassandra_config: CassandraConfig, keyspace: str
) -> Iterator[str]:
    """The FastAPI example with ``CASSANDRA_ROW_FACTORY`` set to something else."""
    config = cassandra_config.replace(keyspace=keyspace, row_factory=request.param)
    with serving_example("fastapi", config) as url:
        yield url


async def test_examples_read_rows_of_any_configured_shape(url_with_other_row_shape: str) -> None:
    async with httpx.AsyncClient(base_url=url_with_other_row_shape, timeout=30.0) as client:
        created = await create_note(client, "shape", "of rows")

        one = await client.get(f"/notes/{created['id']}")
        listed = await client.get("/notes")

    assert one.json() == created
    assert listed.json()["items"] == [created]


@pytest.mark.memory_only
@pytest.mark.parametrize("name", sorted(EXAMPLE_MODULES))
def test_an_example_that_cannot_create_its_schema_does_not_serve(
    name: str, cql_server: CQLServer, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    cql_server.fail("server_error", pattern="CREATE TABLE", message="disk full")

    with (
        pytest.raises(RuntimeError, match="failed to start"),
        serving_example(name, cassandra_config.replace(keyspace=keyspace)),
    ):
        pytest.fail("the example served without its table")
