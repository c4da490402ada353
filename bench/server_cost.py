"""What the in-memory server costs per query, compared with one driver client.

``python -m bench.server_cost [--queries 20000] [--concurrency 100] [--versions 4,5]
[--rounds 10] [--client driver|raw] [--json]``

The server runs in its own process (``python -m cassandra_asgi.testing``); this process
drives prepared one-row SELECTs by key through the real driver (``execute_async`` with the
next request issued from each callback, default row factory). CPU time is read for both
processes around the measured run: the server's from ``/proc`` (every thread, user and
system), the client's with ``time.process_time()`` (every thread, the driver's reactor included).
The issue's target: server CPU per query at most a third of the client's (ratio <= 0.33).
With several ``--versions`` each version gets its own server process and client, all kept up,
and they take turns for ``--rounds`` rounds (every other round in the reverse order), sharing
``--queries`` per version among the rounds; the server CPU per query of each is compared with
the first's in the same round: protocol v5 must cost the server at most 10% more per query
than v4. Compression is off in every run, so the figures compare framing, not codecs. Each
figure is the median of its rounds and v5/v4 the median of the rounds' ratios: a shared
machine's load changes within seconds, and short alternating turns see nearly the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "measure"]

_TICKS = os.sysconf("SC_CLK_TCK")
_ROOT = Path(__file__).resolve().parent.parent


def _process_cpu_seconds(pid: int) -> float:
    """The CPU time of every thread of ``pid``, in nanoseconds where the kernel keeps them.

    ``/proc/<pid>/task/<tid>/schedstat`` starts with the time the thread spent on a CPU in
    ns; ``/proc/<pid>/stat`` counts 10 ms ticks, too coarse for a run of a few seconds (the
    fallback when schedstat is not compiled in).
    """
    try:
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / _TICKS


def _start_server() -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "cassandra_asgi.testing", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"the in-memory server did not start (said {line!r})")
    return process, int(line.rsplit(":", 1)[1])


def _drive(session: Any, prepared: Any, queries: int, concurrency: int, keys: int) -> None:
    """Issue ``queries`` executions, ``concurrency`` at a time, chaining from callbacks."""
    done = threading.Event()
    lock = threading.Lock()
    state = {"issued": 0, "finished": 0, "errors": 0}

    def issue() -> None:
        with lock:
            if state["issued"] >= queries:
                return
            number = state["issued"]
            state["issued"] += 1
        future = session.execute_async(prepared, (number % keys,))
        future.add_callbacks(on_result, on_error)

    def finish() -> None:
        with lock:
            state["finished"] += 1
            complete = state["finished"] >= queries
        if complete:
            done.set()
        else:
            issue()

    def on_result(rows: Any) -> None:
        finish()

    def on_error(error: BaseException) -> None:
        state["errors"] += 1
        finish()

    for _ in range(concurrency):
        issue()
    if not done.wait(600):
        raise TimeoutError("the benchmark run did not finish within 600 s")
    if state["errors"]:
        raise RuntimeError(f"{state['errors']} queries failed")


class _RawClient:
    """One connection that pipelines pre-encoded EXECUTEs, a batch of ``concurrency`` at a time.

    Its requests are encoded once, by the driver's own codecs (frames, and segments on v5), so
    the client costs the same at every version and sends the server equal batches: the server's
    CPU per query then compares the server's protocol work alone. The Python driver's own v5
    path is slower than its v4 path, which hands the server smaller batches per read and so
    more per-read overhead per query; the driver-driven figure includes that.
    """

    def __init__(self, port: int, version: int) -> None:
        import socket

        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.pending = b""
        self.frames = b""

    def handshake(self) -> None:
        from cassandra.protocol import ProtocolHandler, StartupMessage

        startup = StartupMessage(cqlversion="3.0.0", options={"CQL_VERSION": "3.0.0"})
        self.sock.sendall(ProtocolHandler.encode_message(startup, 0, self.version, None, False))
        header = self._read(9)
        self._read(int.from_bytes(header[5:9], "big"))  # READY: plain, even on v5

    def batch(self, prepared: Any, concurrency: int, keys: int) -> bytes:
        import io
        import struct

        from cassandra.connection import segment_codec_no_compression
        from cassandra.protocol import ExecuteMessage, ProtocolHandler

        out = io.BytesIO()
        for stream in range(concurrency):
            message = ExecuteMessage(
                prepared.query_id,
                [struct.pack(">i", stream % keys)],
                1,
                skip_meta=True,
                result_metadata_id=prepared.result_metadata_id,
            )
            frame = ProtocolHandler.encode_message(message, stream, self.version, None, False)
            if self.version >= 5:
                segment_codec_no_compression.encode(out, frame)
            else:
                out.write(frame)
        return out.getvalue()

    def run(self, batch: bytes, concurrency: int, rounds: int) -> None:
        for _ in range(rounds):
            self.sock.sendall(batch)
            answered = 0
            while answered < concurrency:
                answered += self._answers()

    def _answers(self) -> int:
        """Read until at least one whole answer is in; return how many arrived."""
        if self.version >= 5:
            head = self._read(6)
            length = int.from_bytes(head[:3], "little") & 0x1FFFF
            self.frames += self._read(length + 4)[:length]
        else:
            self.frames += self.sock.recv(65536)
        count = 0
        while len(self.frames) >= 9:
            end = 9 + int.from_bytes(self.frames[5:9], "big")
            if len(self.frames) < end:
                break
            if self.frames[4] == 0x00:
                raise RuntimeError("the server answered with an ERROR")
            self.frames = self.frames[end:]
            count += 1
        return count

    def _read(self, size: int) -> bytes:
        while len(self.pending) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.pending += chunk
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def close(self) -> None:
        self.sock.close()


class _Target:
    """One server process with its client, kept up so that versions can take turns quickly."""

    def __init__(self, protocol_version: int, raw: bool, concurrency: int, keys: int) -> None:
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import RoundRobinPolicy

        self.protocol_version = protocol_version
        self.concurrency = concurrency
        self.keys = keys
        self.raw: _RawClient | None = None
        self.process, port = _start_server()
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
        self.cluster = Cluster(
            ["127.0.0.1"],
            port=port,
            protocol_version=protocol_version,
            compression=False,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        try:
            self.session = self.cluster.connect()
            self.session.execute(
                "CREATE KEYSPACE bench WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            self.session.execute("CREATE TABLE bench.kv (k int PRIMARY KEY, v text)")
            insert = self.session.prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
            for key in range(keys):
                self.session.execute(insert, (key, f"value-{key}"))
            self.prepared = self.session.prepare("SELECT k, v FROM bench.kv WHERE k = ?")
            if raw:
                self.raw = _RawClient(port, protocol_version)
                self.raw.handshake()
                self.batch = self.raw.batch(self.prepared, concurrency, keys)
        except BaseException:
            self.close()
            raise

    def run(self, queries: int) -> dict[str, float]:
        """``queries`` more (rounded to whole batches for the raw client), with their cost."""
        if self.raw is not None:
            batches = max(queries // self.concurrency, 1)
            queries = batches * self.concurrency
        server_before = _process_cpu_seconds(self.process.pid)
        client_before = time.process_time()
        wall_before = time.perf_counter()
        if self.raw is not None:
            self.raw.run(self.batch, self.concurrency, batches)
        else:
            _drive(self.session, self.prepared, queries, self.concurrency, self.keys)
        wall = time.perf_counter() - wall_before
        client = time.process_time() - client_before
        server = _process_cpu_seconds(self.process.pid) - server_before
        return {
            "protocol_version": float(self.protocol_version),
            "queries": float(queries),
            "concurrency": float(self.concurrency),
            "server_cpu_per_query_s": server / queries,
            "client_cpu_per_query_s": client / queries,
            "ratio": server / client if client else float("inf"),
            "queries_per_second": queries / wall,
        }

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
        self.cluster.shutdown()
        self.process.terminate()
        self.process.wait(10)


def measure(
    queries: int = 20_000,
    concurrency: int = 100,
    keys: int = 1_000,
    protocol_version: int = 4,
    raw: bool = False,
) -> dict[str, float]:
    """One run; ``raw`` drives the server with ``_RawClient`` instead of the driver's session."""
    target = _Target(protocol_version, raw, concurrency, keys)
    try:
        target.run(max(queries // 10, concurrency))  # warm-up
        return target.run(queries)
    finally:
        target.close()


def _median(rounds: list[dict[str, float]], base: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds of one version, and its server CPU compared with
    the first version's round by round: the median of those paired ratios, since the load
    of a shared machine drifts between rounds more than between the two halves of one."""
    merged = {key: statistics.median(run[key] for run in rounds) for key in rounds[0]}
    merged["rounds"] = float(len(rounds))
    ratios = [
        run["server_cpu_per_query_s"] / first["server_cpu_per_query_s"]
        for run, first in zip(rounds, base, strict=True)
        if first["server_cpu_per_query_s"]
    ]
    merged["server_cpu_vs_first"] = statistics.median(ratios) if ratios else 0.0
    for number, ratio in enumerate(ratios):
        merged[f"server_cpu_vs_first_round_{number + 1}"] = ratio
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_cost", description=__doc__)
    parser.add_argument(
        "--queries", type=int, default=20_000, help="queries measured per version, all rounds"
    )
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--versions",
        default="4,5",
        help="protocol versions to measure in turn, compared with the first (default 4,5)",
    )
    parser.add_argument(
        "--client",
        choices=["driver", "raw"],
        default="driver",
        help="driver: the Python driver's session; raw: pre-encoded pipelined EXECUTEs",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="turns each version takes, alternating, --queries shared among them (medians "
        "reported)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    versions = [int(part) for part in args.versions.split(",") if part.strip()]
    rounds = max(args.rounds, 1)
    runs: dict[int, list[dict[str, float]]] = {version: [] for version in versions}
    targets: dict[int, _Target] = {}
    try:
        for version in versions:
            targets[version] = _Target(version, args.client == "raw", args.concurrency, 1_000)
            targets[version].run(max(args.queries // 10, args.concurrency))  # warm-up
        for number in range(rounds):
            # every other round in the reverse order, so a drifting load favours neither
            for version in versions if number % 2 == 0 else versions[::-1]:
                runs[version].append(targets[version].run(max(args.queries // rounds, 1)))
    finally:
        for target in targets.values():
            target.close()
    results = [_median(runs[version], runs[versions[0]]) for version in versions]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        count, in_flight = int(result["queries"]), int(result["concurrency"])
        print(f"protocol v{int(result['protocol_version'])}")
        rounds = int(result["rounds"])
        print(f"  queries:                {rounds} rounds of {count}, {in_flight} in flight")
        print(f"  server CPU per query:   {result['server_cpu_per_query_s'] * 1e6:8.1f} us")
        if args.client == "driver":  # the raw client's own cost means nothing
            print(f"  client CPU per query:   {result['client_cpu_per_query_s'] * 1e6:8.1f} us")
            print(f"  ratio server/client:    {result['ratio']:8.3f}  (target <= 0.333)")
        print(f"  throughput:             {result['queries_per_second']:8.0f} queries/s")
    for result in results[1:]:
        each_round = ", ".join(
            f"{result[f'server_cpu_vs_first_round_{number + 1}']:.3f}"
            for number in range(int(result["rounds"]))
        )
        print(
            f"server CPU per query, v{int(result['protocol_version'])} / "
            f"v{versions[0]}: {result['server_cpu_vs_first']:.3f}  (target <= 1.10; "
            f"median of the rounds {each_round})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
