"""Run one point-read contender (or the stream) steadily, for a profiler to watch.

``py-spy record --threads --format raw -o stacks.txt -- python -m bench.profile_run --contender
ours --concurrency 500 --seconds 10`` samples every thread of this process (the driver's
reactor thread included, which ``cProfile`` cannot see); ``python -m bench.stacks stacks.txt``
then summarises where the time went. The in-memory server runs in its own process, so its
CPU time does not appear in the profile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace

from bench.cli import FULL, prepare_data
from bench.point_reads import Contender, all_contenders
from bench.streaming import DriverPagingInThread, OursStream, OursStreamTupleRows, StreamContender
from bench.target import Target, open_target

__all__ = ["main"]

STREAM_CONTENDERS = {
    "ours_stream": OursStream,
    "ours_stream_tuple_rows": OursStreamTupleRows,
    "driver_paging_thread": DriverPagingInThread,
}


async def _run_point(contender: Contender, concurrency: int, seconds: float) -> None:
    await contender.open()
    try:
        await contender.run(concurrency, 0.5, 10**9)  # warm-up
        result = await contender.run(concurrency, seconds, 10**9)
        print(
            f"{contender.name}: {result.rate:,.0f} q/s at {concurrency} in flight, "
            f"p99 {result.latency_ms(0.99):.2f} ms, errors {result.errors}",
            file=sys.stderr,
        )
    finally:
        await contender.close()


async def _run_stream(contender: StreamContender, seconds: float) -> None:
    """Read the partition again and again for ``seconds``."""
    await contender.open()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            run = await contender.run()
            print(
                f"{contender.name}: {run.rate:,.0f} rows/s, stall {run.max_stall_ms:.2f} ms "
                f"({contender.query})",
                file=sys.stderr,
            )
    finally:
        await contender.close()


async def _run(target: Target, args: argparse.Namespace) -> None:
    if args.contender in STREAM_CONTENDERS:
        kind = STREAM_CONTENDERS[args.contender]
        await _run_stream(kind(target.config, args.fetch_size, args.stream_rows), args.seconds)
        return
    by_name = {c.name: c for c in all_contenders(target.config, FULL.keys)}
    if args.contender not in by_name:
        raise SystemExit(f"unknown contender {args.contender!r}; choose from {sorted(by_name)}")
    await _run_point(by_name[args.contender], args.concurrency, args.seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_run", description=__doc__)
    parser.add_argument("--contender", default="ours", help="a point-read or stream contender")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stream-rows", type=int, default=FULL.stream_rows)
    parser.add_argument("--fetch-size", type=int, default=FULL.fetch_size)
    args = parser.parse_args(argv)
    streaming = args.contender in STREAM_CONTENDERS
    settings = replace(
        FULL,
        stream_rows=args.stream_rows,
        sections=("point", "stream") if streaming else ("point",),
    )
    with open_target() as target:
        prepare_data(target, settings)
        asyncio.run(_run(target, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
