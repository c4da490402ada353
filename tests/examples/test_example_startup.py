"""The examples started the way their docstrings say: ``uvicorn <module>:app``, ``python <file>``.

They read the ``CASSANDRA_*`` variables when the server starts them, not when it imports them,
so a malformed value is a one-line startup failure naming the variable; and the library's own
log lines show under a plain uvicorn.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from example_servers import EXAMPLE_MODULES

from cassandra_asgi import CassandraConfig

REPO = Path(__file__).resolve().parents[2]
ASGI_EXAMPLES = sorted(name for name in EXAMPLE_MODULES if name != "aiohttp")
TIMEOUT = 60.0


def environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSANDRA_")}
    env.update(variables)
    return env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def uvicorn_args(name: str) -> list[str]:
    """``uvicorn <module>:app`` on any free port."""
    return ["-m", "uvicorn", f"{EXAMPLE_MODULES[name]}:app", "--app-dir", "examples", "--port", "0"]


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODULES))
def test_importing_an_example_reads_no_cassandra_variable(name: str) -> None:
    code = f"import sys; sys.path.insert(0, 'examples'); import {EXAMPLE_MODULES[name]}"

    result = run("-c", code, env=environment(CASSANDRA_PORT="nine thousand"))

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ASGI_EXAMPLES)
def test_a_malformed_variable_fails_startup_under_uvicorn_in_one_line(name: str) -> None:
    result = run(
        *uvicorn_args(name), "--port", "0", env=environment(CASSANDRA_PORT="nine thousand")
    )

    assert result.returncode == 3  # uvicorn's "startup failed"
    assert "ConfigError: CASSANDRA_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_variable_stops_the_aiohttp_example_in_one_line() -> None:
    result = run("examples/aiohttp_app.py", env=environment(CASSANDRA_PORT="nine thousand"))

    assert result.returncode == 1
    assert result.stderr.startswith("aiohttp_app: CASSANDRA_PORT")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ASGI_EXAMPLES)
async def test_plain_uvicorn_shows_the_library_log_lines(
    name: str, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    env = environment(
        CASSANDRA_CONTACT_POINTS=",".join(cassandra_config.contact_points),
        CASSANDRA_PORT=str(cassandra_config.port),
        CASSANDRA_KEYSPACE=keyspace,
    )
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *uvicorn_args(name),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stderr is not None
    logged: list[str] = []
    try:

        async def until_started() -> None:
            assert server.stderr is not None
            while line := (await server.stderr.readline()).decode():
                logged.append(line)
                if "Application startup complete" in line:
                    return
            raise AssertionError("uvicorn exited before startup completed")

        await asyncio.wait_for(until_started(), TIMEOUT)
        server.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(server.communicate(), TIMEOUT)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    log = "".join(logged) + rest.decode()

    # In show_library_logs()'s format, or in the framework's own when it configures logging
    # itself (Litestar does): either way the lines are there.
    assert re.search(r"^INFO.*cassandra_asgi.*connected to ", log, re.M), log
    assert re.search(r"^INFO.*cassandra_asgi.*session to \S+ closed", log, re.M), log
