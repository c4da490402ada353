"""``ClusterProcess``: a ``CQLCluster`` in a child process, its nodes broken from here.

A cluster on a thread of the test process competes with the test's event loop for the GIL:
serving a thousand requests it can hold the loop off for tens of milliseconds, which a stall
measurement cannot tell from a blocking call. In its own process it cannot. The child is
``python -m cassandra_asgi.testing.cluster --control``; every call here is one JSON line there
and back, and blocks for about a millisecond (from a coroutine, run it with
``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

__all__ = ["ClusterProcess", "RemoteNode"]


class RemoteNode:
    """A node of a ``ClusterProcess``: the fault methods of ``Node``, called in the child."""

    def __init__(self, process: ClusterProcess, address: str, dc: str, rack: str) -> None:
        self._process = process
        self.address = address
        self.dc = dc
        self.rack = rack

    def _call(self, call: str, *args: Any) -> Any:
        return self._process.command({"node": self.address, "call": call, "args": list(args)})

    @property
    def contact_point(self) -> str:
        return f"{self.address}:{self._process.port}"

    @property
    def requests(self) -> dict[str, int]:
        result: dict[str, int] = self._call("requests")
        return result

    def reset_counters(self) -> None:
        self._call("reset_counters")

    def add_latency(self, seconds: float, pattern: str | None = None) -> None:
        self._call("add_latency", seconds, pattern)

    def fail(self, error: str, pattern: str | None = None, message: str | None = None) -> None:
        self._call("fail", error, pattern, message)

    def blackhole(self, pattern: str | None = None) -> None:
        self._call("blackhole", pattern)

    def clear_faults(self) -> None:
        self._call("clear_faults")

    def drop_connections(self) -> None:
        self._call("drop_connections")

    def go_down(self) -> None:
        self._call("go_down")

    def kill(self) -> None:
        self._call("kill")

    def partition(self) -> None:
        self._call("partition")

    def come_up(self) -> None:
        self._call("come_up")

    def __repr__(self) -> str:
        return f"<RemoteNode {self.contact_point} {self.dc}/{self.rack}>"


class ClusterProcess:
    """``with ClusterProcess({"dc1": 3, "dc2": 2}) as cluster:`` the same reading surface as
    ``CQLCluster`` (``contact_points``, ``port``, ``nodes``, ``node(address)``,
    ``add_node``, ``remove_node``) for a cluster served by a child process.

    ``options``: ``detection_delay``, ``up_delay``, ``schema_lag``, ``racks``, ``port``,
    ``first_address``, ``peers_v2`` (as ``CQLCluster`` takes them).
    """

    def __init__(self, shape: int | Mapping[str, int] = 3, **options: Any) -> None:
        nodes = (
            str(shape)
            if isinstance(shape, int)
            else ",".join(f"{dc}:{count}" for dc, count in shape.items())
        )
        command = [sys.executable, "-m", "cassandra_asgi.testing.cluster", "--control"]
        command += ["--nodes", nodes, "--port", str(options.pop("port", 0))]
        if not options.pop("peers_v2", True):
            command.append("--no-peers-v2")
        for name, value in options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        self._command = command
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.contact_points: tuple[str, ...] = ()
        self.port = 0
        self._nodes: dict[str, RemoteNode] = {}

    def start(self) -> None:
        process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the cluster process did not start (it said {line!r})")
        self.contact_points = tuple(line.removeprefix("listening on ").split(","))
        self.port = int(self.contact_points[0].rsplit(":", 1)[1])
        self._refresh_nodes()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ClusterProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def command(self, command: dict[str, Any]) -> Any:
        """Send one command to the child and return its result (raise its error)."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise RuntimeError("the cluster process is not running")
        with self._lock:
            process.stdin.write(json.dumps(command) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the cluster process exited (code {process.poll()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"the cluster process refused {command}: {answer['error']}")
        return answer["result"]

    def _refresh_nodes(self) -> None:
        known = self._nodes
        self._nodes = {
            address: known.get(address) or RemoteNode(self, address, dc, rack)
            for address, dc, rack in self.command({"call": "nodes"})
        }
        self.contact_points = tuple(node.contact_point for node in self._nodes.values())

    @property
    def nodes(self) -> list[RemoteNode]:
        return list(self._nodes.values())

    def node(self, address: str) -> RemoteNode:
        found = self._nodes.get(address)
        if found is None:
            raise KeyError(f"no node at {address}; the nodes are {', '.join(self._nodes)}")
        return found

    def add_node(self, dc: str | None = None, rack: str | None = None) -> RemoteNode:
        address: str = self.command({"call": "add_node", "args": [dc, rack]})
        self._refresh_nodes()
        return self._nodes[address]

    def remove_node(self, node: RemoteNode) -> None:
        self.command({"call": "remove_node", "args": [node.address]})
        self._refresh_nodes()
