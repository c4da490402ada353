"""``mypy --strict`` sees the session each framework injects as an ``AsyncSession``, not ``Any``.

A probe module takes the session the way the examples do (FastAPI's ``CassandraSession``
alias, Litestar's ``NamedDependency[AsyncSession]``, the Quart example's own extension) and
is type-checked together with the examples. ``assert_type`` fails if the type is anything
else, and calling a method ``AsyncSession`` lacks must be reported: a session typed ``Any``
would let it pass silently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("fastapi_app.py", "litestar_app.py", "quart_app.py")

PROBE = """
from typing import assert_type

from litestar.di import NamedDependency
from quart_app import cassandra

from cassandra_asgi import AsyncSession
from cassandra_asgi.adapters.fastapi import CassandraSession


async def as_in_fastapi_app(session: CassandraSession) -> None:
    assert_type(session, AsyncSession)
    session.no_such_method()


async def as_in_litestar_app(cassandra: NamedDependency[AsyncSession]) -> None:
    assert_type(cassandra, AsyncSession)
    cassandra.no_such_method()


async def as_in_quart_app() -> None:
    session = cassandra.get_session()
    assert_type(session, AsyncSession)
    session.no_such_method()
"""
EXPECTED_ERROR = '"AsyncSession" has no attribute "no_such_method"'


@pytest.mark.timeout(600)
def test_mypy_strict_types_the_injected_sessions_as_async_session(tmp_path: Path) -> None:
    probe = tmp_path / "session_types_probe.py"
    probe.write_text(PROBE)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        str(tmp_path / "mypy_cache"),
        "--config-file",
        str(REPO / "pyproject.toml"),
        str(probe),
        *(str(REPO / "examples" / name) for name in EXAMPLES),
    ]
    result = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "MYPYPATH": str(REPO / "examples")},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )

    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    reported = {int(m[1]) for line in errors if (m := re.search(r"probe\.py:(\d+): error", line))}
    expected = {n for n, line in enumerate(PROBE.splitlines(), 1) if "no_such_method()" in line}
    assert len(expected) == 3
    assert reported == expected, result.stdout + result.stderr
    assert all(EXPECTED_ERROR in line for line in errors), result.stdout
