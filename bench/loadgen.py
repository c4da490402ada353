"""A small HTTP/1.1 keep-alive load generator, run as its own process by the bench.

``python -m bench.loadgen --target NAME=HOST:PORT [...] --paths-file FILE`` keeps
``--connections`` connections busy against each target in turn (rounds rotate the order), one
request at a time per connection, and prints one JSON document with per-round requests/s and
latency percentiles. Being a separate process, its CPU never counts against the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import percentile

__all__ = ["main", "run_round"]


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int


class BadResponse(Exception):
    """The server answered something other than a complete 200 response."""


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    length = None
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise BadResponse(f"no Content-Length in response: {status_line!r}")
    await reader.readexactly(length)
    if len(parts) < 2 or parts[1] != b"200":
        raise BadResponse(f"status line {status_line!r}")


async def run_round(
    endpoint: Endpoint,
    paths: Sequence[str],
    connections: int,
    duration: float,
) -> dict[str, Any]:
    """Keep ``connections`` keep-alive connections busy for ``duration`` seconds.

    Requests cycle through ``paths`` so the server reads many different rows.
    """
    streams = [
        await asyncio.open_connection(endpoint.host, endpoint.port) for _ in range(connections)
    ]
    requests = [f"GET {path} HTTP/1.1\r\nHost: {endpoint.host}\r\n\r\n".encode() for path in paths]
    keys = len(requests)
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    sequence = 0
    started = time.perf_counter()
    deadline = started + duration

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors, first_error, sequence
        while time.perf_counter() < deadline:
            request = requests[sequence % keys]
            sequence += 1
            start = time.perf_counter()
            try:
                await _request(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, BadResponse, ValueError) as exc:
                errors += 1
                first_error = first_error or repr(exc)
                if not isinstance(exc, BadResponse):
                    return  # the connection is unusable now
            else:
                latencies.append(time.perf_counter() - start)

    try:
        await asyncio.gather(*(connection(r, w) for r, w in streams))
    finally:
        elapsed = time.perf_counter() - started
        for _, writer in streams:
            writer.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "first_error": first_error,
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000.0,
        "p99_ms": percentile(latencies, 0.99) * 1000.0,
    }


def _endpoint(text: str) -> Endpoint:
    name, sep, address = text.partition("=")
    host, colon, port = address.rpartition(":")
    if not (sep and colon and name and host and port.isdigit()):
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got {text!r}")
    return Endpoint(name, host, int(port))


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    targets: list[Endpoint] = args.target
    paths = [line.strip() for line in args.paths_file.read_text().splitlines() if line.strip()]
    if not paths:
        raise SystemExit(f"{args.paths_file} lists no paths")
    report: dict[str, Any] = {"connections": args.connections, "targets": {}}
    for endpoint in targets:  # warm-up: imports, prepared statements, connection setup
        await run_round(endpoint, paths, args.connections, args.warmup)
        report["targets"][endpoint.name] = {"rounds": []}
    for round_number in range(args.rounds):
        shift = round_number % len(targets)
        for endpoint in targets[shift:] + targets[:shift]:
            result = await run_round(endpoint, paths, args.connections, args.duration)
            report["targets"][endpoint.name]["rounds"].append(result)
            print(
                f"  http round {round_number + 1}/{args.rounds} {endpoint.name:<27}"
                f" {result['rps']:>8,.0f} req/s  p99 {result['p99_ms']:8.2f} ms"
                + (f"  errors {result['errors']}" if result["errors"] else ""),
                file=sys.stderr,
                flush=True,
            )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--target", type=_endpoint, action="append", required=True)
    parser.add_argument(
        "--paths-file", type=Path, required=True, help="request paths, one per line"
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds per target")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
