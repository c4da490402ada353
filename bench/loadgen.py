"""The bench's HTTP load, run as its own process so its CPU never counts against a server's.

``python -m bench.loadgen --target NAME=HOST:PORT [...] --paths-file FILE`` keeps
``--connections`` keep-alive connections busy against each target in turn (rounds rotate the
order), one request at a time per connection, and prints one JSON document with per-round
requests/s and latency percentiles.

The load comes from ``wrk`` when it is on ``PATH`` (``--tool auto``, the default): one Python
process sends far fewer requests than wrk (about 1,200/s on a machine where wrk found the apps
serving 3,000-4,000), so with the Python generator the faster apps' figures, and the ratios
between them, are the generator's ceiling. ``--tool python`` keeps the Python generator, for
machines without wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import percentile

__all__ = ["main", "run_round", "run_wrk_round"]

#: Builds each request once per path, cycles through them, and reports through ``done()`` as
#: one JSON line (times in microseconds), so nothing parses wrk's human-readable table.
_WRK_SCRIPT = """
local requests, count, next_index = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      count = count + 1
      requests[count] = wrk.format("GET", line)
    end
  end
end
function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_REPORT {"requests": %d, "duration_us": %d, "status_errors": %d, ' ..
    '"socket_errors": %d, "p50_us": %.1f, "p99_us": %.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


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


async def run_wrk_round(
    endpoint: Endpoint, paths_file: Path, connections: int, duration: float
) -> dict[str, Any]:
    """The same round as ``run_round``, with ``wrk -t1`` sending the load."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_SCRIPT)
        script.flush()
        wrk = await asyncio.create_subprocess_exec(
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "-s", script.name, f"http://{endpoint.host}:{endpoint.port}", "--", str(paths_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await wrk.communicate()
    text = output.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK_REPORT ")), None)
    if wrk.returncode != 0 or line is None:
        raise RuntimeError(f"wrk against {endpoint.name} failed ({wrk.returncode}):\n{text}")
    report = json.loads(line.removeprefix("WRK_REPORT "))
    elapsed = report["duration_us"] / 1e6
    errors = report["status_errors"] + report["socket_errors"]
    served = report["requests"] - report["status_errors"]
    return {
        "requests": served,
        "errors": errors,
        "first_error": f"wrk counted {errors} failed requests" if errors else None,
        "elapsed": elapsed,
        "rps": served / elapsed if elapsed > 0 else 0.0,
        "p50_ms": report["p50_us"] / 1000.0,
        "p99_ms": report["p99_us"] / 1000.0,
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
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"

    async def load(endpoint: Endpoint, duration: float) -> dict[str, Any]:
        if tool == "wrk":
            return await run_wrk_round(endpoint, args.paths_file, args.connections, duration)
        return await run_round(endpoint, paths, args.connections, duration)

    report: dict[str, Any] = {"connections": args.connections, "tool": tool, "targets": {}}
    for endpoint in targets:  # warm-up: imports, prepared statements, connection setup
        await load(endpoint, args.warmup)
        report["targets"][endpoint.name] = {"rounds": []}
    for round_number in range(args.rounds):
        shift = round_number % len(targets)
        for endpoint in targets[shift:] + targets[:shift]:
            result = await load(endpoint, args.duration)
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
    parser.add_argument(
        "--tool",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="what sends the load: wrk when installed (auto), or this process",
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
