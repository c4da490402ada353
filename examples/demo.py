"""Run the FastAPI notes example, on the embedded CQL server unless a cluster is configured.

    python examples/demo.py [--host 127.0.0.1] [--port 8000] [--seed 1000]

Without ``CASSANDRA_CONTACT_POINTS`` the demo starts ``cassandra_asgi.testing.CQLServer``
(an in-memory server speaking the CQL wire protocol) in a background thread, so nothing needs
installing; with it, every ``CASSANDRA_*`` variable is honoured and the real cluster is used.
Ctrl-C shuts the app down gracefully (the session is closed) and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import sys

import uvicorn

from cassandra_asgi import CassandraConfig
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
        help="generate N notes at startup when the table is empty (default 1000)",
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
    return config, f"embedded in-memory server at {cql_server.contact_point}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
            # Imported here: the module builds its own app from the environment at import
            # time, and a malformed CASSANDRA_* variable should get the one-line message below.
            from fastapi_app import create_app

            app = create_app(config, seed=args.seed)
        except ValueError as exc:  # ConfigError, or a keyspace name unfit for CQL
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        server = DemoServer(uvicorn.Config(app, log_level="info"), url, cassandra)
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except KeyboardInterrupt:
            pass  # uvicorn shut down gracefully on Ctrl-C, then re-raised it
        except SystemExit:
            pass  # uvicorn's way out when the app's startup failed: reported below
    if not server.started:
        print(
            f"demo: the app did not start with Cassandra at {cassandra} (see the error above)",
            file=sys.stderr,
        )
        return 1
    print("demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
