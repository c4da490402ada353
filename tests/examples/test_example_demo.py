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
from example_servers import import_example

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo.py"
URL_LINE = re.compile(r"serving at (http://\S+)")
SEEDING_STOPPED = re.compile(r"demo: seeding stopped after (\d+) of (\d+) notes")
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


async def read_until(stream: asyncio.StreamReader | None, text: str) -> list[str]:
    """Read ``stream`` until a line contains ``text``; return the lines read."""
    assert stream is not None
    printed: list[str] = []

    async def scan() -> list[str]:
        while line := (await stream.readline()).decode():
            printed.append(line)
            if text in line:
                return printed
        raise AssertionError(f"demo never printed {text!r}:\n{''.join(printed)}")

    try:
        return await asyncio.wait_for(scan(), STARTUP_TIMEOUT)
    except TimeoutError:
        raise AssertionError(
            f"no {text!r} within {STARTUP_TIMEOUT} s:\n{''.join(printed)}"
        ) from None


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


async def test_demo_on_its_embedded_server_logs_no_warning() -> None:
    env = demo_environment()
    env.pop("CASSANDRA_CONTACT_POINTS", None)  # the embedded server, whatever the target
    async with demo_process("--port", "0", "--seed", "2", env=env) as demo:
        _, printed = await read_until_url(demo)
        demo.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)
    output = "".join(printed) + stdout.decode() + stderr.decode()

    assert demo.returncode == 0
    assert "connected to" in output  # the library's log lines are shown, so a warning would be
    assert [line for line in output.splitlines() if "WARNING" in line] == []


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_while_seeding_stops_the_writes_and_exits_0(
    keyspace: str, signum: signal.Signals
) -> None:
    seed = 300_000  # far more than a busy machine writes before the signal arrives
    async with demo_process(
        "--port", "0", "--seed", str(seed), env=demo_environment(keyspace)
    ) as demo:
        progress = await read_until(demo.stderr, f"demo: seeding {seed} notes")
        demo.send_signal(signum)
        stdout, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)
    errors = "".join(progress) + stderr.decode()

    assert demo.returncode == 0, errors
    assert stdout.decode().rstrip().endswith("demo: stopped")
    assert "serving at" not in stdout.decode()
    stopped = SEEDING_STOPPED.search(errors)
    assert stopped is not None, errors
    assert int(stopped[1]) < seed == int(stopped[2])
    assert re.search(r"session to \S+ closed", errors), errors  # the seeding session closed
    assert "Traceback" not in errors


async def test_sigterm_while_serving_shuts_the_app_down_and_exits_0(keyspace: str) -> None:
    async with demo_process("--port", "0", "--seed", "3", env=demo_environment(keyspace)) as demo:
        await read_until_url(demo)
        demo.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert demo.returncode == 0
    assert "Application shutdown complete" in stderr.decode()  # the lifespan shutdown ran
    assert "Traceback" not in stderr.decode()
    assert stdout.decode().rstrip().endswith("demo: stopped")


async def test_seeding_reports_progress_lines_when_not_on_a_terminal(keyspace: str) -> None:
    async with demo_process(
        "--port", "0", "--seed", "4500", env=demo_environment(keyspace)
    ) as demo:
        progress = await read_until(demo.stderr, "demo: seeded 4500 of 4500 notes")
        demo.send_signal(signal.SIGINT)
        await asyncio.wait_for(demo.communicate(), EXIT_TIMEOUT)

    assert "demo: seeding 4500 notes (Ctrl-C stops)\n" in progress
    assert not any("\r" in line for line in progress)  # no bar drawn into a pipe


class FakeStream:
    """A text stream that says whether it is a terminal and keeps what it was given."""

    def __init__(self, *, terminal: bool) -> None:
        self.terminal = terminal
        self.text = ""

    def isatty(self) -> bool:
        return self.terminal

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


demo_module = import_example("demo")


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    stream = FakeStream(terminal=True)
    progress = demo_module.SeedProgress(4000, stream)

    progress(2000)
    progress(4000)

    first, bar = stream.text.split("\n", 1)
    assert first == "demo: seeding 4000 notes (Ctrl-C stops)"
    assert bar.count("\r") == 2  # the same line, redrawn
    assert "]  50% 2000/4000" in bar
    assert bar.endswith("] 100% 4000/4000\n")


def test_progress_elsewhere_is_a_line_every_interval_and_the_last() -> None:
    now = [0.0]
    stream = FakeStream(terminal=False)
    progress = demo_module.SeedProgress(10_000, stream, interval=5.0, clock=lambda: now[0])

    for done, at in [(2000, 1.0), (4000, 5.5), (6000, 6.0), (8000, 7.0), (10_000, 8.0)]:
        now[0] = at
        progress(done)

    assert stream.text.splitlines() == [
        "demo: seeding 10000 notes (Ctrl-C stops)",
        "demo: seeded 4000 of 10000 notes",
        "demo: seeded 10000 of 10000 notes",
    ]


def test_progress_stopped_on_a_terminal_leaves_the_bar_line() -> None:
    stream = FakeStream(terminal=True)
    progress = demo_module.SeedProgress(4000, stream)
    progress(2000)

    progress.stopped()

    assert stream.text.endswith("2000/4000\ndemo: seeding stopped after 2000 of 4000 notes\n")
