"""``python -m cassandra_asgi.testing``: announces its address, serves, stops on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cassandra.cluster import Cluster
from cassandra.policies import RoundRobinPolicy

pytestmark = pytest.mark.memory_only

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "cassandra_asgi.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_prints_listening_serves_and_exits_cleanly_on_signal(stop_signal: int) -> None:
    process = _start("--host", "127.0.0.1", "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        cluster = Cluster(
            ["127.0.0.1"], port=port, load_balancing_policy=RoundRobinPolicy(), protocol_version=4
        )
        try:
            assert cluster.connect().execute("SELECT key FROM system.local").one().key == "local"
        finally:
            cluster.shutdown()
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_busy_port_is_reported_with_a_non_zero_exit() -> None:
    first = _start("--port", "0")
    try:
        assert first.stdout is not None
        port = first.stdout.readline().strip().rsplit(":", 1)[1]
        second = _start("--port", port)
        _out, err = second.communicate(timeout=10)
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in err
    finally:
        first.terminate()
        first.wait(10)


def test_latency_option_delays_every_reply() -> None:
    process = _start("--port", "0", "--latency", "0.3")
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
        cluster = Cluster(
            ["127.0.0.1"], port=port, load_balancing_policy=RoundRobinPolicy(), protocol_version=4
        )
        try:
            session = cluster.connect()
            started = time.perf_counter()
            assert session.execute("SELECT key FROM system.local").one().key == "local"
            # A lower bound only: the reply cannot come before the injected delay.
            assert time.perf_counter() - started >= 0.3
        finally:
            cluster.shutdown()
    finally:
        process.terminate()
        process.wait(10)


def test_negative_latency_is_refused_naming_the_option() -> None:
    process = _start("--latency", "-1")
    _out, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "--latency must not be negative" in err


def test_protocol_versions_option_pins_the_served_versions() -> None:
    process = _start("--port", "0", "--protocol-versions", "3,4")
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
        cluster = Cluster(["127.0.0.1"], port=port, load_balancing_policy=RoundRobinPolicy())
        try:
            cluster.connect().execute("SELECT key FROM system.local")
            assert cluster.protocol_version == 4  # v5 refused, so the driver settled lower
        finally:
            cluster.shutdown()
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("value", ["2,4", "five", ""])
def test_protocol_versions_outside_3_4_5_are_refused_naming_the_option(value: str) -> None:
    process = _start("--protocol-versions", value)
    _out, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "--protocol-versions" in err


def test_version_option_prints_the_package_version() -> None:
    from importlib.metadata import version

    process = _start("--version")
    out, _err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out.strip() == f"cassandra-asgi {version('cassandra-asgi')}"
