"""``python -m cassandra_asgi.testing --host 127.0.0.1 --port 9042``: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import signal
import sys

from .cluster.server import CQLServer
from .wire.frames import SUPPORTED_VERSIONS

__all__ = ["main"]


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with CQLServer(
        args.host,
        args.port,
        username=args.username,
        password=args.password,
        protocol_versions=args.protocol_versions,
    ) as server:
        if args.latency:
            server.add_latency(args.latency)
        print(f"listening on {server.host}:{server.port}", flush=True)
        await stop.wait()


def _versions(text: str) -> tuple[int, ...]:
    try:
        versions = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of version numbers: {text!r}") from None
    unknown = [v for v in versions if v not in SUPPORTED_VERSIONS]
    if not versions or unknown:
        served = ",".join(map(str, SUPPORTED_VERSIONS))
        raise argparse.ArgumentTypeError(f"choose among {served}, got {text!r}")
    return versions


def _package_version() -> str:
    try:
        return importlib.metadata.version("cassandra-asgi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cassandra_asgi.testing",
        description=(
            "In-memory CQL server for tests and demos (not a database: data lives in memory)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042, help="0 picks a free port")
    parser.add_argument(
        "--username", default=None, help="require PasswordAuthenticator with this user"
    )
    parser.add_argument("--password", default=None)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay every reply by this long (a slow node, for demos and tests)",
    )
    parser.add_argument(
        "--protocol-versions",
        type=_versions,
        default=SUPPORTED_VERSIONS,
        metavar="3,4,5",
        help="the native protocol versions to accept (default: all of 3,4,5, as Cassandra 4.1)",
    )
    parser.add_argument(
        "--version", action="version", version=f"cassandra-asgi {_package_version()}"
    )
    args = parser.parse_args(argv)
    if args.latency < 0:
        parser.error("--latency must not be negative")
    if (args.username is None) != (args.password is None):
        parser.error("--username and --password must be given together")
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
