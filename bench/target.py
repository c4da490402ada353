"""What the bench talks to: the in-memory server in its own process, or a real cluster.

The in-memory server runs as a separate process (``python -m cassandra_asgi.testing``) so that
its CPU time never competes with the clients for the bench process's GIL; with a real cluster
(``CASSANDRA_CONTACT_POINTS`` set) nothing is started and the environment's settings are used.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cassandra_asgi.config import CassandraConfig

__all__ = [
    "KEYSPACE",
    "ServerProcess",
    "Target",
    "driver_cluster",
    "open_target",
]

#: One keyspace for every bench table, so a real cluster is left with a single, obvious name.
KEYSPACE = "cassandra_asgi_bench"
REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class ServerProcess:
    """The in-memory CQL server in a child process, stopped with SIGINT like a user would."""

    def __init__(self, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self.host = ""
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    def start(self) -> None:
        command = [
            sys.executable, "-m", "cassandra_asgi.testing", "--host", "127.0.0.1", "--port", "0",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=child_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        found = threading.Event()

        def read_output() -> None:
            # Keeps draining after the banner so a chatty server never blocks on a full pipe.
            process = self._process
            if process is None or process.stdout is None:
                return
            for line in process.stdout:
                if len(self._output) < 200:
                    self._output.append(line.rstrip())
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.host, self.port = match.group(1), int(match.group(2))
                    found.set()

        threading.Thread(target=read_output, name="bench-server-output", daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while not found.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = "\n".join(self._output[-20:])
                self.stop()
                raise RuntimeError(
                    f"in-memory server did not print 'listening on HOST:PORT' "
                    f"within {self.startup_timeout:.0f} s; its output:\n{output}"
                )

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far (Linux ``/proc``)."""
        process = self._process
        if process is None:
            return None
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        # Fields 14 and 15 of stat(5) (utime, stime), counted after the ")" that ends comm.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(2)  # SIGINT: the documented way to stop it
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for child processes: the checkout importable, plus ``extra``."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    env.update(extra)
    return env


class Target:
    """Where to connect: a config (without keyspace) and a human-readable description."""

    def __init__(
        self,
        config: CassandraConfig,
        description: str,
        in_memory: bool,
        server: ServerProcess | None = None,
    ) -> None:
        self.config = config
        self.description = description
        self.in_memory = in_memory
        self.server = server

    def server_cpu_seconds(self) -> float | None:
        """CPU time used so far by the in-memory server; ``None`` for a real cluster."""
        return None if self.server is None else self.server.cpu_seconds()

    @property
    def contact_points_env(self) -> str:
        """The ``CASSANDRA_CONTACT_POINTS`` value that reaches this target from a child process."""
        return ",".join(f"{host}:{port}" for host, port in self.config.endpoints)


@contextmanager
def open_target() -> Iterator[Target]:
    """A real cluster from the environment, else a fresh in-memory server process."""
    if os.environ.get("CASSANDRA_CONTACT_POINTS", "").strip():
        config = CassandraConfig.from_env(keyspace=None)
        yield Target(config, f"cluster at {','.join(config.contact_points)}", in_memory=False)
        return
    server = ServerProcess()
    server.start()
    try:
        config = CassandraConfig(contact_points=(f"{server.host}:{server.port}",))
        description = f"in-memory server process at {server.host}:{server.port}"
        yield Target(config, description, True, server)
    finally:
        server.stop()


def driver_cluster(
    config: CassandraConfig, *, cluster_class: Any = None, **profile_options: Any
) -> Any:
    """A plain driver ``Cluster`` for the same target, the way a driver user would build one:
    ``config.cluster_kwargs()`` with a default profile of the driver's own row factory and
    retry policy, round-robin over the local DC (the baseline the bench has always used).

    ``profile_options`` go into the default execution profile (``row_factory=tuple_factory``...).
    """
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster
    from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy

    kwargs = config.cluster_kwargs(driver_rows=True)
    default = copy.copy(kwargs["execution_profiles"][EXEC_PROFILE_DEFAULT])
    for name, value in {
        "load_balancing_policy": DCAwareRoundRobinPolicy(local_dc=config.local_dc),
        "retry_policy": RetryPolicy(),
        **profile_options,
    }.items():
        setattr(default, name, value)
    kwargs["execution_profiles"] = {EXEC_PROFILE_DEFAULT: default}
    return (cluster_class or Cluster)(**kwargs)
