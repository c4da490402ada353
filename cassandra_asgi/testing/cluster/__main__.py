"""``python -m cassandra_asgi.testing.cluster --nodes dc1:3,dc2:2``: serve a cluster.

Prints ``listening on 127.0.0.1:PORT,127.0.0.2:PORT,...`` once every node listens, then
serves until interrupted. With ``--control`` it also obeys one JSON command per line on
stdin and answers each with one JSON line on stdout (``ClusterProcess`` speaks it), so a test
can break nodes of a cluster that runs in another process, where its work does not compete
with the test's event loop for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from ..wire.frames import SUPPORTED_VERSIONS
from .cluster import DEFAULT_DATA_CENTER, CQLCluster

__all__ = ["main", "parse_nodes"]

#: Node methods a control command may call (the fault methods and the counters).
NODE_CALLS = frozenset(
    {
        "add_latency",
        "blackhole",
        "clear_faults",
        "come_up",
        "drop_connections",
        "fail",
        "go_down",
        "kill",
        "partition",
        "requests",
        "reset_counters",
    }
)


def parse_nodes(text: str) -> int | dict[str, int]:
    """``"3"`` or ``"dc1:3,dc2:2"``."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    shape: dict[str, int] = {}
    for part in text.split(","):
        dc, sep, count = part.strip().partition(":")
        if not sep or not dc or not count.isdigit():
            raise ValueError(f"expected a node count or DC:COUNT,..., got {text!r}")
        shape[dc] = int(count)
    return shape


def _versions(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected versions like 4,5, got {text!r}") from None


def _obey(cluster: CQLCluster, command: dict[str, Any]) -> Any:
    call = command.get("call")
    args = command.get("args", [])
    kwargs = command.get("kwargs", {})
    address = command.get("node")
    if address is None:
        if call == "add_node":
            return cluster.add_node(*args, **kwargs).address
        if call == "remove_node":
            cluster.remove_node(cluster.node(args[0]))
            return None
        if call == "nodes":
            return [[node.address, node.dc, node.rack] for node in cluster.nodes]
        raise ValueError(f"unknown cluster call {call!r}")
    if call not in NODE_CALLS:
        raise ValueError(f"unknown node call {call!r}; choose one of {sorted(NODE_CALLS)}")
    node = cluster.node(address)
    if call == "requests":
        return node.requests
    return getattr(node, call)(*args, **kwargs)


async def _control(cluster: CQLCluster, stop: asyncio.Event) -> None:
    """One JSON command per stdin line, one JSON answer per stdout line, until EOF."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        line = await reader.readline()
        if not line:
            break
        try:
            answer = {"ok": True, "result": _obey(cluster, json.loads(line))}
        except Exception as exc:  # reported to the controller, the cluster keeps serving
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    stop.set()


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with CQLCluster(
        parse_nodes(args.nodes),
        port=args.port,
        first_address=args.first_address,
        racks=args.racks,
        detection_delay=args.detection_delay,
        up_delay=args.up_delay,
        schema_lag=args.schema_lag,
        peers_v2=not args.no_peers_v2,
        protocol_versions=args.protocol_versions,
    ) as cluster:
        print(f"listening on {','.join(cluster.contact_points)}", flush=True)
        if args.control:
            await _control(cluster, stop)
        else:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cassandra_asgi.testing.cluster",
        description="In-memory multi-node CQL cluster for tests and demos (not a database).",
    )
    parser.add_argument(
        "--nodes",
        default="3",
        help=f"node count (in {DEFAULT_DATA_CENTER}) or DC:COUNT,... (default 3)",
    )
    parser.add_argument("--port", type=int, default=9042, help="one port for every node; 0: any")
    parser.add_argument("--first-address", default="127.0.0.1")
    parser.add_argument("--racks", type=int, default=1, help="racks per data centre")
    for name, meaning in (
        ("detection-delay", "before the peers of a killed node mark it down"),
        ("up-delay", "before a node that is back is seen up"),
        ("schema-lag", "before the other nodes report a schema change"),
    ):
        parser.add_argument(f"--{name}", type=float, default=0.0, metavar="SECONDS", help=meaning)
    parser.add_argument("--no-peers-v2", action="store_true", help="serve system.peers only")
    parser.add_argument(
        "--protocol-versions",
        type=_versions,
        default=SUPPORTED_VERSIONS,
        metavar="3,4,5",
        help="the native protocol versions every node accepts",
    )
    parser.add_argument(
        "--control", action="store_true", help="obey JSON commands on stdin (ClusterProcess)"
    )
    args = parser.parse_args(argv)
    try:
        parse_nodes(args.nodes)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve(args))
    except (OSError, ValueError) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
