"""``python examples/demo.py``, README's first command, run the way a newcomer runs it.

Without ``CASSANDRA_CONTACT_POINTS`` the demo brings its own in-memory server; with it set
(a real cluster) it uses the cluster, in the test's own keyspace.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo.py"
URL_LINE = re.compile(r"serving at (http://\S+)")
STARTUP_TIMEOUT = 90.0
EXIT_TIMEOUT = 30.0


def demo_environment(keyspace: str | None = None) -> dict[str, str]:
    """The test's environment (so a real cluster's settings pass through), run from the
    checkout, in the test's keyspace when it has one."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if keyspace is not None:
        env["CASSANDRA_KEYSPACE"] = keyspace
    return env


@asynccontextmanager
async def demo_process(
    *args: str, env: Mapping[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DEMO),
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until_url(process: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    """Read stdout until the demo prints its URL; return it and what was printed so far."""
    assert process.stdout is not None
    printed: list[str] = []

    async def scan() -> str:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            printed.append(line)
            if match := URL_LINE.search(line):
                return match.group(1)
        raise AssertionError(f"demo exited without printing its URL:\n{''.join(printed)}")

    try:
        return await asyncio.wait_for(scan(), STARTUP_TIMEOUT), printed
    except TimeoutError:
        raise AssertionError(
            f"demo printed no URL within {STARTUP_TIMEOUT} s:\n{''.join(printed)}"
        ) from None


async def test_demo_prints_its_url_serves_requests_and_exits_on_sigint(keyspace: str) -> None:
    async with demo_process("--port", "0", "--seed", "7", env=demo_environment(keyspace)) as demo:
        url, printed = await read_until_url(demo)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            health = await client.get("/health")
            listing = await client.get("/notes", params={"limit": 100})
            openapi = await client.get("/openapi.json")  # behind the /docs the banner points to

        demo.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)
    output = "".join(printed) + stdout.decode()

    assert health.status_code == 200
    assert len(listing.json()["items"]) == 7
    assert "/notes/stream" in openapi.json()["paths"]
    assert f"curl {url}/health" in output
    assert demo.returncode == 0
    # A clean exit: the app's lifespan shut down (closing the session) before the process ended.
    assert "Application shutdown complete" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert output.rstrip().endswith("demo: stopped")


async def test_demo_explains_a_busy_port() -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen(1)
        port = occupant.getsockname()[1]
        async with demo_process("--port", str(port), env=demo_environment()) as demo:
            _, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert demo.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in stderr.decode()
    assert "--port" in stderr.decode()


@pytest.mark.parametrize("port", ["eighty", "70000"])
async def test_demo_rejects_an_invalid_port(port: str) -> None:
    async with demo_process("--port", port, env=demo_environment()) as demo:
        _, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert demo.returncode != 0
    assert "port" in stderr.decode()


async def test_demo_exits_with_an_error_when_cassandra_is_unreachable() -> None:
    with socket.socket() as probe:  # a port nothing listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = demo_environment()
    env["CASSANDRA_CONTACT_POINTS"] = f"127.0.0.1:{closed_port}"
    env["CASSANDRA_CONNECT_TIMEOUT"] = "5"

    async with demo_process("--port", "0", env=env) as demo:
        stdout, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert demo.returncode == 1
    assert f"did not start with Cassandra at 127.0.0.1:{closed_port}" in stderr.decode()
    assert "serving at" not in stdout.decode()


async def test_demo_names_a_malformed_variable_without_a_traceback() -> None:
    env = demo_environment()
    env["CASSANDRA_CONTACT_POINTS"] = "127.0.0.1"
    env["CASSANDRA_PORT"] = "nine thousand"

    async with demo_process("--port", "0", env=env) as demo:
        _, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert demo.returncode == 2
    assert "CASSANDRA_PORT" in stderr.decode()
    assert "Traceback" not in stderr.decode()
