"""HTTP end to end: uvicorn serving each app in its own process, the load from a third.

The bench process only orchestrates: it binds the listening sockets (so ports are known before
uvicorn starts, without racing for a free port), hands them to uvicorn with ``--fd``, waits until
``/health`` answers (which happens after the app's lifespan has connected), then runs
``bench.loadgen`` against both apps, interleaved, in one subprocess.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from bench.dataset import note_id
from bench.iomode import IO_MODES, io_unavailable
from bench.stats import median
from bench.target import KEYSPACE, REPO_ROOT, Target, child_environment
from cassandra_asgi.config import CassandraConfig

__all__ = ["APPS", "App", "HttpResults", "app_unavailable", "measure_http"]

Progress = Callable[[str], None]

EXAMPLES = REPO_ROOT / "examples"


@dataclass(frozen=True)
class App:
    factory: str
    description: str
    app_dir: Path | None = None
    #: Ours' I/O mode (``CASSANDRA_IO`` in the app's environment); ``None``: not built on ours.
    io: str | None = "thread"
    #: A module the app needs; without it the app is skipped with the reason.
    requires: str | None = None


_OURS_APPS: dict[str, App] = {
    "example_http": App(
        "fastapi_app:create_app",
        "examples/fastapi_app.py as shipped (lifespan session, async def endpoint)",
        EXAMPLES,
    ),
    "middleware_http": App(
        "bench.http_apps:create_middleware_app",
        "FastAPI + CassandraMiddleware, async def endpoint awaiting session.execute",
    ),
    "traced_middleware_http": App(
        "bench.http_apps:create_traced_middleware_app",
        "middleware_http with the OpenTelemetry SDK tracing the session (spans dropped)",
    ),
}

#: Every app serves GET /notes/{id} from the same table with the same response model: ours in
#: each I/O mode (thread mode keeps the plain names), then the alternatives.
APPS: dict[str, App] = {
    **{
        name if io == "thread" else f"{name}_{io}": replace(
            app, io=io, description=f"{app.description}, io={io!r}"
        )
        for io in IO_MODES
        for name, app in _OURS_APPS.items()
    },
    "sync_threadpool_http": App(
        "bench.http_apps:create_sync_app",
        "FastAPI, def endpoint calling the blocking driver in FastAPI's thread pool",
        io=None,
    ),
    "acsylla_http": App(
        "bench.http_apps:create_acsylla_app",
        "FastAPI, async def endpoint awaiting acsylla (C++ driver) on the app's loop",
        io=None,
        requires="acsylla",
    ),
}


def app_unavailable(app: App, config_class: type[CassandraConfig] = CassandraConfig) -> str | None:
    """Why ``app`` cannot be served here, or ``None`` when it can."""
    if app.io is not None and (reason := io_unavailable(app.io, config_class)) is not None:
        return reason
    if app.requires is not None and importlib.util.find_spec(app.requires) is None:
        return f"{app.requires} is not installed (pip install {app.requires})"
    return None


class AppServer:
    """uvicorn serving one app factory on a socket this process bound."""

    def __init__(self, app: App, target: Target, probe_path: str) -> None:
        self.factory = app.factory
        self.target = target
        self.probe_path = probe_path
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=2048)
        self.port: int = self.sock.getsockname()[1]
        self.log: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop())
        command = [
            sys.executable, "-m", "uvicorn", "--factory", self.factory,
            "--fd", str(self.sock.fileno()), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        if app.app_dir is not None:
            command += ["--app-dir", str(app.app_dir)]
        env = child_environment(
            CASSANDRA_CONTACT_POINTS=target.contact_points_env,
            CASSANDRA_KEYSPACE=KEYSPACE,
            **({"CASSANDRA_IO": app.io} if app.io is not None else {}),
        )
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            pass_fds=(self.sock.fileno(),),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    async def wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn {self.factory} exited:\n{self.output()}")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 1.0
                )
                writer.write(
                    f"GET {self.probe_path} HTTP/1.1\r\nHost: bench\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                status = await asyncio.wait_for(reader.readline(), 2.0)
                writer.close()
                if b" 200 " in status:
                    return
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"uvicorn {self.factory} did not serve {self.probe_path} within "
                    f"{within:.0f} s:\n{self.output()}"
                )
            await asyncio.sleep(0.2)

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # graceful: lifespan shutdown closes sessions

    def stop(self) -> None:
        self.interrupt()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.sock.close()
        self.log.close()


@dataclass
class HttpSummary:
    description: str
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return median([float(r["rps"]) for r in self.rounds])

    @property
    def p99_ms(self) -> float:
        return median([float(r["p99_ms"]) for r in self.rounds])

    def as_json(self) -> dict[str, Any]:
        errors = [r["first_error"] for r in self.rounds if r.get("first_error")]
        return {
            "description": self.description,
            "rps": self.rps,
            "p50_ms": median([float(r["p50_ms"]) for r in self.rounds]),
            "p99_ms": self.p99_ms,
            "errors": sum(int(r["errors"]) for r in self.rounds),
            "first_error": errors[0] if errors else None,
            "rounds_rps": [r["rps"] for r in self.rounds],
        }


@dataclass
class HttpResults:
    connections: int
    #: What sent the load (``bench.loadgen --tool``): ``"wrk"``, or ``"python"`` without wrk.
    tool: str = "python"
    by_app: dict[str, HttpSummary] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: Ours' I/O mode per app, ``None`` for the apps not built on ours.
    io: dict[str, str | None] = field(default_factory=dict)


def _write_paths(keys: int) -> Path:
    """The request paths for the load generator: one note per key, in a temporary file."""
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as paths:
        paths.write("".join(f"/notes/{note_id(i)}\n" for i in range(keys)))
    return Path(paths.name)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def measure_http(
    target: Target,
    *,
    connections: int,
    duration: float,
    warmup: float,
    rounds: int,
    keys: int,
    progress: Progress,
    only: Sequence[str] | None = None,
    load: str = "auto",
) -> HttpResults:
    """Serve every app of ``APPS`` (or those named in ``only``) that can run here, and load
    them in turn (``load``: ``bench.loadgen --tool``); the others are skipped with the reason."""
    results = HttpResults(connections=connections)
    apps: dict[str, App] = {}
    for name, app in APPS.items():
        if only is not None and name not in only:
            continue
        reason = app_unavailable(app)
        if reason is None:
            apps[name] = app
        else:
            results.skipped[name] = reason
            progress(f"  skipping {name}: {reason}")
    paths_file = _write_paths(keys)
    probe = f"/notes/{note_id(0)}"
    servers = {name: AppServer(app, target, probe) for name, app in apps.items()}
    try:
        for name, server in list(servers.items()):
            try:
                await server.wait_ready(within=60.0)
            except RuntimeError as exc:
                if apps[name].io is not None:
                    raise  # ours failing to serve is a bug to see, not a contender to skip
                results.skipped[name] = str(exc)
                progress(f"  skipping {name}: {exc}")
                del servers[name]
                server.stop()
        command = [
            sys.executable, "-m", "bench.loadgen",
            "--paths-file", str(paths_file),
            "--connections", str(connections), "--duration", str(duration),
            "--warmup", str(warmup), "--rounds", str(rounds), "--tool", load,
        ]  # fmt: skip
        for name, server in servers.items():
            command += ["--target", f"{name}=127.0.0.1:{server.port}"]
        loadgen = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env=child_environment(), stdout=subprocess.PIPE
        )
        # wrk runs whole seconds: at least one each
        budget = (max(warmup, 1.0) + max(duration, 1.0) * rounds) * len(servers) + 60.0
        stdout, _ = await asyncio.wait_for(loadgen.communicate(), budget)
        if loadgen.returncode != 0:
            raise RuntimeError(f"bench.loadgen exited with status {loadgen.returncode}")
        report = json.loads(stdout)
        results.tool = report["tool"]
    finally:
        _remove(paths_file)
        for server in servers.values():
            server.interrupt()  # all shut down at once
        for server in servers.values():
            server.stop()
    for name in servers:
        app = apps[name]
        summary = HttpSummary(app.description, report["targets"][name]["rounds"])
        results.by_app[name] = summary
        results.io[name] = app.io
        progress(f"  http {name:<27} {summary.rps:>8,.0f} req/s  p99 {summary.p99_ms:8.2f} ms")
    return results
