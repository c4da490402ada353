"""CassandraMiddleware under real ASGI servers, in their own process, over a real socket.

The served app reads its settings from ``CASSANDRA_*`` variables (``config=None``), as a
deployed app would, and prints whether the session was closed once its lifespan ended.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cassandra_asgi import CassandraConfig

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # bound for a server to start or stop on a loaded machine; not a speed check

SERVED_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from cassandra_asgi.adapters.asgi import CassandraMiddleware


async def release(request):
    row = (await request.state.cassandra.execute("SELECT release_version FROM system.local")).one()
    return JSONResponse({"release_version": str(row[0])})


middleware = CassandraMiddleware(Starlette(routes=[Route("/release", release)]))


async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return await middleware(scope, receive, send)
    sessions = []

    async def spy(message):
        if message["type"] == "lifespan.startup.complete":
            sessions.append(scope["state"]["cassandra"])
        await send(message)

    try:
        await middleware(scope, receive, spy)
    finally:
        print(f"sessions closed after lifespan: {[s.closed for s in sessions]}", flush=True)
"""

SERVERS = {
    "uvicorn": (
        ["-m", "uvicorn", "served_app:app", "--host", "127.0.0.1", "--port", "0"],
        r"Uvicorn running on http://127\.0\.0\.1:(\d+)",
    ),
    # --workers 0 serves in-process: hypercorn 0.18's supervisor reports exit status 0 when its
    # worker fails at startup (pgjones/hypercorn#269, PR #372), hiding the failure under test.
    "hypercorn": (
        ["-m", "hypercorn", "served_app:app", "--bind", "127.0.0.1:0", "--workers", "0"],
        r"Running on http://127\.0\.0\.1:(\d+)",
    ),
}


class ServerProcess:
    """An ASGI server subprocess whose merged output is read line by line in a thread."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._output_ended = False
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str) -> re.Match[str] | None:
        """The first output line matching ``pattern``, or None if the process ended first."""
        while True:
            line = self._queue.get(timeout=WAIT)
            if line is None:
                self._output_ended = True
                return None
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=WAIT)
        while not self._output_ended:
            line = self._queue.get(timeout=WAIT)
            if line is None:
                self._output_ended = True
            else:
                self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


def environment_for(config: CassandraConfig, tmp_path: Path) -> dict[str, str]:
    if config.ssl_context is not None:
        pytest.skip("an SSL context cannot be passed to a server process through the environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSANDRA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(tmp_path)])
    env["CASSANDRA_CONTACT_POINTS"] = ",".join(config.contact_points)
    env["CASSANDRA_PORT"] = str(config.port)
    env["CASSANDRA_CONNECT_TIMEOUT"] = "5"
    for name in ("local_dc", "username", "password", "protocol_version"):
        value = getattr(config, name)
        if value is not None:
            env[f"CASSANDRA_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "served_app.py").write_text(SERVED_APP)
    return tmp_path


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=sorted(SERVERS))
def server_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def served(
    server_name: str, cassandra_config: CassandraConfig, app_dir: Path
) -> Iterator[tuple[ServerProcess, int]]:
    argv, ready = SERVERS[server_name]
    server = ServerProcess(argv, environment_for(cassandra_config, app_dir), app_dir)
    try:
        match = server.wait_for(ready)
        assert match is not None, server.output
        yield server, int(match.group(1))
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=WAIT)


def test_served_app_answers_a_request_with_the_session(served: tuple[ServerProcess, int]) -> None:
    _, port = served
    response = httpx.get(f"http://127.0.0.1:{port}/release", timeout=WAIT)
    assert response.status_code == 200, response.text
    assert response.json()["release_version"]


def test_sigint_shuts_down_cleanly_and_closes_the_session(
    served: tuple[ServerProcess, int],
) -> None:
    server, port = served
    assert httpx.get(f"http://127.0.0.1:{port}/release", timeout=WAIT).status_code == 200
    assert server.stop(signal.SIGINT) == 0, server.output
    assert "sessions closed after lifespan: [True]" in server.output


def test_unreachable_cassandra_makes_the_server_exit_non_zero_naming_the_contact_point(
    server_name: str, app_dir: Path, closed_port: int
) -> None:
    unreachable = CassandraConfig(contact_points=(f"127.0.0.1:{closed_port}",))
    env = environment_for(unreachable, app_dir)
    env["CASSANDRA_CONNECT_TIMEOUT"] = "1"
    argv, ready = SERVERS[server_name]
    server = ServerProcess(argv, env, app_dir)
    assert server.wait_for(ready) is None, "the server started serving without a database"
    assert server.stop() != 0
    assert f"127.0.0.1:{closed_port}" in server.output
    assert "no Cassandra session at startup" in server.output


def test_hypercorn_supervisor_never_serves_when_cassandra_is_unreachable(
    app_dir: Path, closed_port: int
) -> None:
    unreachable = CassandraConfig(contact_points=(f"127.0.0.1:{closed_port}",))
    env = environment_for(unreachable, app_dir)
    env["CASSANDRA_CONNECT_TIMEOUT"] = "1"
    argv = ["-m", "hypercorn", "served_app:app", "--bind", "127.0.0.1:0"]  # default: 1 worker
    server = ServerProcess(argv, env, app_dir)
    assert server.wait_for(SERVERS["hypercorn"][1]) is None, "served without a database"
    server.stop()  # its exit status is 0 here: see the comment on SERVERS
    assert f"127.0.0.1:{closed_port}" in server.output
