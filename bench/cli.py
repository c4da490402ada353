"""``python -m bench``: parse options, prepare the target, run each section, report.

Full mode takes several minutes; ``--quick`` keeps every section but shrinks levels, rounds and
sizes to stay under a minute. Progress goes to stderr; the table to stdout (or to stderr when
``--json`` without a path puts the JSON document on stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.dataset import create_schema, load_notes, load_point_rows, load_wide_partition
from bench.error_storm import ErrorStormResults, measure_error_storm
from bench.http_e2e import APPS, HttpResults, measure_http
from bench.point_reads import PointReadResults, all_contenders, measure_point_reads
from bench.report import build_report, format_table, json_safe
from bench.streaming import StreamResults, measure_streaming
from bench.target import Target, driver_cluster, open_target

__all__ = ["Settings", "main"]

SECTIONS = ("point", "stream", "http", "errors")


@dataclass(frozen=True)
class Settings:
    mode: str
    levels: tuple[int, ...]
    rounds: int
    duration: float
    warmup: float
    max_requests: int
    keys: int
    contenders: tuple[str, ...] | None
    stream_rows: int
    stream_rounds: int
    fetch_size: int
    stream_memory: bool
    http_connections: int
    http_duration: float
    http_warmup: float
    http_rounds: int
    http_apps: tuple[str, ...] | None
    http_load: str
    error_failures: int
    error_rounds: int
    sections: tuple[str, ...]


FULL = Settings(
    mode="full",
    levels=(1, 10, 100, 500, 2000),
    rounds=5,
    duration=2.0,
    warmup=0.5,
    max_requests=1_000_000,
    keys=1000,
    contenders=None,
    stream_rows=200_000,
    stream_rounds=5,
    fetch_size=5000,
    stream_memory=True,
    http_connections=64,
    http_duration=3.0,
    http_warmup=0.5,
    http_rounds=5,
    http_apps=None,
    http_load="auto",
    error_failures=20_000,
    error_rounds=3,
    sections=SECTIONS,
)
QUICK = replace(
    FULL,
    mode="quick",
    levels=(10, 500),
    rounds=3,
    duration=0.5,
    warmup=0.2,
    stream_rows=50_000,
    stream_rounds=3,
    http_duration=0.8,
    http_warmup=0.3,
    http_rounds=3,
    error_failures=5_000,
    error_rounds=2,
)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark cassandra-asgi against the raw driver and the alternatives.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH",
        help="write the JSON report to PATH, or to stdout when no PATH is given",
    )  # fmt: skip
    parser.add_argument("--plot", type=Path, metavar="PATH", help="write a PNG plot to PATH")
    tuning = parser.add_argument_group("overrides of the full/quick presets")
    tuning.add_argument("--levels", type=_int_list, help="concurrency levels, e.g. 1,10,500")
    tuning.add_argument("--rounds", type=int, help="interleaved rounds per level")
    tuning.add_argument("--duration", type=float, help="seconds per contender per round")
    tuning.add_argument("--warmup", type=float, help="warm-up seconds per contender per level")
    tuning.add_argument("--max-requests", type=int, help="cap on requests per run")
    tuning.add_argument("--keys", type=int, help="distinct keys to read")
    tuning.add_argument("--contenders", type=_name_list, help="only these point-read contenders")
    tuning.add_argument("--stream-rows", type=int, help="rows in the streamed partition")
    tuning.add_argument("--stream-rounds", type=int)
    tuning.add_argument("--fetch-size", type=int, help="page size for streaming")
    tuning.add_argument(
        "--no-stream-memory", dest="stream_memory", action="store_false", default=None,
        help="skip the tracemalloc pass that measures peak memory",
    )  # fmt: skip
    tuning.add_argument("--http-connections", type=int)
    tuning.add_argument("--http-duration", type=float)
    tuning.add_argument("--http-warmup", type=float)
    tuning.add_argument("--http-rounds", type=int)
    tuning.add_argument("--http-apps", type=_name_list, help="only these HTTP apps")
    tuning.add_argument(
        "--http-load", choices=("auto", "wrk", "python"),
        help="what sends the HTTP load: wrk when installed (auto), or the Python generator",
    )  # fmt: skip
    tuning.add_argument("--error-failures", type=int, help="failing requests per storm round")
    tuning.add_argument("--error-rounds", type=int)
    tuning.add_argument(
        "--sections", type=_name_list, help=f"which sections to run ({','.join(SECTIONS)})"
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else FULL
    overrides = {
        name: getattr(args, name)
        for name in Settings.__dataclass_fields__
        if name != "mode" and getattr(args, name, None) is not None
    }
    settings = replace(settings, **overrides)
    unknown = set(settings.sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"bench: unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    unknown = set(settings.http_apps or ()) - set(APPS)
    if unknown:
        raise SystemExit(f"bench: unknown HTTP app(s) {sorted(unknown)}; choose from {list(APPS)}")
    return settings


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_data(target: Target, settings: Settings) -> None:
    """Schema and rows, written with the plain driver before anything is timed."""
    cluster = driver_cluster(target.config)
    try:
        session = cluster.connect()
        create_schema(session)
        load_point_rows(session, settings.keys)
        if "stream" in settings.sections:
            load_wide_partition(session, settings.stream_rows)
        if "http" in settings.sections:
            load_notes(session, settings.keys)
    finally:
        cluster.shutdown()


async def run_sections(
    target: Target, settings: Settings
) -> tuple[
    PointReadResults | None, StreamResults | None, HttpResults | None, ErrorStormResults | None
]:
    points = stream = http = errors = None
    began = time.perf_counter()
    if "point" in settings.sections:
        progress("point reads:")
        contenders = [
            c
            for c in all_contenders(target.config, settings.keys)
            if settings.contenders is None or c.name in settings.contenders
        ]
        points = await measure_point_reads(
            contenders,
            settings.levels,
            rounds=settings.rounds,
            duration=settings.duration,
            warmup=settings.warmup,
            max_requests=settings.max_requests,
            progress=progress,
            server_cpu=target.server_cpu_seconds,
        )
    if "stream" in settings.sections:
        progress(f"streaming (after {time.perf_counter() - began:.1f} s):")
        stream = await measure_streaming(
            target.config,
            rows=settings.stream_rows,
            fetch_size=settings.fetch_size,
            rounds=settings.stream_rounds,
            measure_memory=settings.stream_memory,
            progress=progress,
            server_cpu=target.server_cpu_seconds,
        )
    if "http" in settings.sections:
        progress(f"http (after {time.perf_counter() - began:.1f} s):")
        http = await measure_http(
            target,
            connections=settings.http_connections,
            duration=settings.http_duration,
            warmup=settings.http_warmup,
            rounds=settings.http_rounds,
            keys=settings.keys,
            progress=progress,
            only=settings.http_apps,
            load=settings.http_load,
        )
    if "errors" in settings.sections:
        progress(f"error storm (after {time.perf_counter() - began:.1f} s):")
        errors = await measure_error_storm(
            target.config,
            failures=settings.error_failures,
            concurrency=500,
            rounds=settings.error_rounds,
            progress=progress,
        )
    return points, stream, http, errors


def _meta(target: Target, settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    import cassandra

    return {
        "mode": settings.mode,
        "target": target.description,
        "in_memory_server": target.in_memory,
        "python": platform.python_version(),
        "driver": cassandra.__version__,
        "cpus": os.cpu_count(),
        "started_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m bench " + " ".join(argv),
        "settings": asdict(settings),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    settings = settings_from(args)
    began = time.perf_counter()
    with open_target() as target:
        progress(f"target: {target.description}; preparing data")
        meta = _meta(target, settings, argv)
        prepare_data(target, settings)
        progress(f"data ready after {time.perf_counter() - began:.1f} s")
        points, stream, http, errors = asyncio.run(run_sections(target, settings))
    meta["elapsed_s"] = time.perf_counter() - began
    report = json_safe(build_report(meta, points, stream, http, errors))
    table = format_table(report)
    if args.json == "-":
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        if points is None:
            progress("bench: --plot needs the point section; no plot written")
        else:
            from bench.plot import write_plot

            write_plot(report, args.plot)
            progress(f"plot written to {args.plot}")
    return 0
