"""Opening and closing a session imports nothing on the loop thread.

A module's first import runs on whichever thread asks for it, and one that scans installed
packages' metadata (as OpenTelemetry does for its providers) takes tens of milliseconds, and
hundreds on a cold disk. Only a fresh process shows it: here everything is imported already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cassandra_asgi import CassandraConfig
from cassandra_asgi.config import IO_MODES

CHILD = """
import asyncio, json, sys, threading

from cassandra_asgi import CassandraConfig, connect

watching = False
imported = []


def on_audit(event, args):
    if event == "import" and watching and threading.current_thread() is threading.main_thread():
        imported.append(args[0])


async def main():
    global watching
    config = CassandraConfig.from_env(keyspace=None, io=sys.argv[1])
    watching = True
    async with connect(config) as session:
        await session.execute("SELECT release_version FROM system.local")
    watching = False
    print(json.dumps(imported))


sys.addaudithook(on_audit)
asyncio.run(main())
"""


@pytest.mark.parametrize("io", IO_MODES)
def test_connect_execute_and_close_import_nothing_on_the_loop_thread(
    cassandra_config: CassandraConfig, io: str
) -> None:
    endpoints = ",".join(f"{host}:{port}" for host, port in cassandra_config.endpoints)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, io],
        env={**os.environ, "CASSANDRA_CONTACT_POINTS": endpoints},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    imported_on_the_loop = json.loads(child.stdout.strip().splitlines()[-1])
    assert imported_on_the_loop == []
