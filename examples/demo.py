"""Run the FastAPI notes example, on the embedded CQL server unless a cluster is configured.

    python examples/demo.py [--host 127.0.0.1] [--port 8000] [--seed 1000]

Without ``CASSANDRA_CONTACT_POINTS`` the demo starts ``cassandra_asgi.testing.CQLServer``
(an in-memory server speaking the CQL wire protocol) in a background thread, so nothing needs
installing; with it, every ``CASSANDRA_*`` variable is honoured and the real cluster is used.

Before serving, an empty table gets ``--seed`` generated notes, with a progress bar on a
terminal (a line every few seconds otherwise). Ctrl-C or SIGTERM stops the demo at any point
with status 0 and "demo: stopped": while seeding, the writes stop at once; while serving,
uvicorn first shuts the app down gracefully (its lifespan shutdown closes the session).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TextIO

import uvicorn
from fastapi_app import create_app
from notes import Notes, keyspace_for
from startup import show_library_logs

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.testing import CQLServer


def port_number(text: str) -> int:
    port = int(text)  # argparse turns the ValueError into "invalid port_number value"
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0..65535")
    return port


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve the FastAPI notes example (embedded CQL server unless "
        "CASSANDRA_CONTACT_POINTS is set)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port",
        type=port_number,
        default=8000,
        help="HTTP port (0 picks a free one); default 8000",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1000,
        metavar="N",
        help="generate N notes before serving when the table is empty (default 1000)",
    )
    return parser.parse_args(argv)


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a busy port gets a clear message (and port 0 works)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class DemoServer(uvicorn.Server):
    """uvicorn, plus a banner once startup (connect, schema, seed) has succeeded."""

    def __init__(self, config: uvicorn.Config, url: str, cassandra: str) -> None:
        super().__init__(config)
        self.url = url
        self.cassandra = cassandra

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(
                f"\ncassandra-asgi demo is serving at {self.url} (Cassandra: {self.cassandra})\n"
                f"Try:\n"
                f"  curl {self.url}/health\n"
                f"  curl '{self.url}/notes?limit=3'\n"
                f"  curl -X POST {self.url}/notes -H 'content-type: application/json' "
                f"""-d '{{"title": "hello", "body": "from the demo"}}'\n"""
                f"  curl {self.url}/notes/stream | head\n"
                f"  open {self.url}/docs in a browser for the rest\n"
                f"Press Ctrl-C to stop.\n",
                flush=True,
            )


def cassandra_target(stack: contextlib.ExitStack) -> tuple[CassandraConfig, str]:
    """The configured cluster, or an embedded server living as long as ``stack``."""
    if os.environ.get("CASSANDRA_CONTACT_POINTS", "").strip():
        config = CassandraConfig.from_env()
        return config, ", ".join(config.contact_points)
    cql_server = stack.enter_context(CQLServer())
    config = CassandraConfig.from_env(contact_points=[cql_server.contact_point])
    if config.protocol_version is None:
        # Negotiating, the driver opens with the DSE versions 66 and 65 and logs a downgrade
        # warning for each refusal; the embedded server's versions are known, so ask for one.
        config = config.replace(protocol_version=max(cql_server.protocol_versions))
    return config, f"embedded in-memory server at {cql_server.contact_point}"


class SeedProgress:
    """Seeding progress on ``stream``: a bar redrawn in place on a terminal; elsewhere (a log
    file, a pipe) a line every ``interval`` seconds rather than one per chunk."""

    BAR_WIDTH = 30

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.on_terminal = stream.isatty()
        self.interval = interval
        self.clock = clock
        self.last_line = clock()
        self.write(f"demo: seeding {total} notes (Ctrl-C stops)\n")

    def __call__(self, done: int) -> None:
        self.done = done
        if self.on_terminal:
            filled = self.BAR_WIDTH * done // self.total
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            end = "\n" if done == self.total else ""
            self.write(f"\r  [{bar}] {100 * done // self.total:3d}% {done}/{self.total}{end}")
        elif done == self.total or self.clock() - self.last_line >= self.interval:
            self.last_line = self.clock()
            self.write(f"demo: seeded {done} of {self.total} notes\n")

    def stopped(self) -> None:
        if self.on_terminal and self.done < self.total:
            self.write("\n")  # leave the bar's line
        self.write(f"demo: seeding stopped after {self.done} of {self.total} notes\n")

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


async def seed_notes(config: CassandraConfig, count: int) -> None:
    """Create the schema and, when the table is empty, write ``count`` notes.

    Ctrl-C and SIGTERM cancel this task: the writes in flight are abandoned at once and the
    session closes on the way out.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    # Without a keyspace: on a fresh cluster it does not exist until Notes.create.
    async with connect(config.replace(keyspace=None)) as session:
        notes = await Notes.create(session, keyspace_for(config))
        if not await notes.is_empty():
            print("demo: the notes table already has notes; not seeding", flush=True)
            return
        progress = SeedProgress(count, sys.stderr)
        try:
            await notes.seed(count, progress)
        except asyncio.CancelledError:
            progress.stopped()
            raise


def sigterm_as_ctrl_c() -> None:
    """SIGTERM raises ``KeyboardInterrupt``, as Ctrl-C does, so both take the same way out.

    uvicorn handles both while it serves (a graceful shutdown, lifespan included) and then
    raises the signal again; by default SIGTERM would then kill the process before "demo:
    stopped", with status -15.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def stopped() -> int:
    print("demo: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sigterm_as_ctrl_c()
    show_library_logs()
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM between the steps that handle it themselves
        return stopped()


def run(args: argparse.Namespace) -> int:
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"demo: port {args.port} on {args.host} is already in use; "
                f"stop whatever holds it or pass --port (e.g. --port {args.port + 1}, "
                "or --port 0 for any free port)",
                file=sys.stderr,
            )
        else:
            print(f"demo: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"

    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        try:
            config, cassandra = cassandra_target(stack)
            app = create_app(config)
        except ValueError as exc:  # ConfigError, or a keyspace name unfit for CQL
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        if args.seed > 0:
            try:
                asyncio.run(seed_notes(config, args.seed))
            except asyncio.CancelledError:
                return stopped()
            except Exception as exc:
                print(f"demo: {type(exc).__name__}: {exc}", file=sys.stderr)
                print(f"demo: the app did not start with Cassandra at {cassandra}", file=sys.stderr)
                return 1
            finally:
                sigterm_as_ctrl_c()  # closing the event loop reset SIGTERM to its default
        server = DemoServer(uvicorn.Config(app, log_level="info"), url, cassandra)
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except KeyboardInterrupt:
            pass  # uvicorn shut the app down gracefully on Ctrl-C or SIGTERM, then re-raised it
        except SystemExit:
            pass  # uvicorn's way out when the app's startup failed: reported below
    if not server.started:
        print(
            f"demo: the app did not start with Cassandra at {cassandra} (see the error above)",
            file=sys.stderr,
        )
        return 1
    return stopped()


if __name__ == "__main__":
    sys.exit(main())
