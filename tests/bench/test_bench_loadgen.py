"""The bench's HTTP load generators count what a server answered, whichever one sends the load.

A tiny asyncio HTTP server stands in for the apps: it answers 200 on ``/ok/...`` and 404
elsewhere, so a round can be checked against what the server itself counted.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bench.loadgen import Endpoint, run_round, run_wrk_round

Round = Callable[[Endpoint, list[str], Path, int, float], Coroutine[Any, Any, dict[str, Any]]]


class CountingServer:
    """HTTP/1.1 keep-alive: 200 with a small body for ``/ok/...``, 404 for anything else."""

    def __init__(self) -> None:
        self.answered: dict[int, int] = {200: 0, 404: 0}
        self.paths: set[str] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                status = 200 if path.startswith("/ok/") else 404
                self.answered[status] += 1
                self.paths.add(path)
                body = b'{"ok": true}'
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def counting_server() -> AsyncIterator[tuple[CountingServer, Endpoint]]:
    counting = CountingServer()
    server = await asyncio.start_server(counting.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield counting, Endpoint("counting", "127.0.0.1", port)


async def python_round(
    endpoint: Endpoint, paths: list[str], _: Path, connections: int, duration: float
) -> dict[str, Any]:
    return await run_round(endpoint, paths, connections, duration)


async def wrk_round(
    endpoint: Endpoint, _: list[str], paths_file: Path, connections: int, duration: float
) -> dict[str, Any]:
    return await run_wrk_round(endpoint, paths_file, connections, duration)


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
TOOLS = [
    pytest.param(python_round, id="python"),
    pytest.param(wrk_round, id="wrk", marks=needs_wrk),
]


def write_paths(tmp_path: Path, paths: list[str]) -> Path:
    paths_file = tmp_path / "paths"
    paths_file.write_text("".join(f"{path}\n" for path in paths))
    return paths_file


RunRound = Callable[[list[str], int], Coroutine[Any, Any, dict[str, Any]]]


@pytest.fixture(params=TOOLS)
def run_one_round(
    request: pytest.FixtureRequest, counting_server: tuple[CountingServer, Endpoint], tmp_path: Path
) -> RunRound:
    """One second of load on the counting server through each generator in turn."""
    load: Round = request.param
    _, endpoint = counting_server

    async def run(paths: list[str], connections: int) -> dict[str, Any]:
        return await load(endpoint, paths, write_paths(tmp_path, paths), connections, 1.0)

    return run


async def test_a_round_reports_every_request_the_server_answered(
    counting_server: tuple[CountingServer, Endpoint], run_one_round: RunRound
) -> None:
    counting, _ = counting_server
    result = await run_one_round([f"/ok/{i}" for i in range(10)], 4)
    assert result["errors"] == 0
    assert result["first_error"] is None
    assert result["requests"] > 0
    # the generator may cut off answers still in flight when the round ends
    assert counting.answered[200] - 4 <= result["requests"] <= counting.answered[200]
    assert result["rps"] == pytest.approx(result["requests"] / result["elapsed"])
    assert 0 < result["p50_ms"] <= result["p99_ms"]


async def test_a_round_cycles_through_every_path(
    counting_server: tuple[CountingServer, Endpoint], run_one_round: RunRound
) -> None:
    counting, _ = counting_server
    paths = [f"/ok/{i}" for i in range(10)]
    await run_one_round(paths, 2)
    assert counting.paths == set(paths)


async def test_answers_other_than_200_are_counted_as_errors_not_as_served(
    counting_server: tuple[CountingServer, Endpoint], run_one_round: RunRound
) -> None:
    counting, _ = counting_server
    result = await run_one_round(["/ok/1", "/missing/1"], 2)
    assert result["errors"] > 0
    assert result["first_error"]
    assert result["requests"] <= counting.answered[200]
    assert counting.answered[404] > 0
