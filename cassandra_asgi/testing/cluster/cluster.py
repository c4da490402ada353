"""CQLCluster: several in-memory nodes, one per loopback address, with one shared data store.

Every node is a ``CQLServer`` with a place in the token ring, a data centre and a rack. It
shows itself in ``system.local`` and the others in ``system.peers`` / ``system.peers_v2``, so
the real driver discovers the whole cluster from one contact point, builds its token map and
routes by token and data centre exactly as against Cassandra. The nodes share their
keyspaces (same objects), so any node can coordinate any request; before running one a node
checks the consistency level against the live replicas (``coordinator.py``).

All nodes run on one event loop: a background thread's (``with``) or the caller's
(``async with``). Cluster state is only touched on that loop.

Liveness has two sides, as in Cassandra: whether a node is really up (``reachable``) and
whether its peers believe so (``seen_up``). A clean ``go_down()`` is announced and the peers
know at once; after ``kill()`` or ``partition()`` they find out after ``detection_delay``
seconds (zero by default), and a node that comes back is seen up after ``up_delay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import itertools
import socket
import ssl
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import TracebackType

from ..execution.store import Store
from ..execution.system import NodeIdentity, SystemTables
from ..wire.frames import SUPPORTED_VERSIONS
from .coordinator import Coordinator
from .events import SCHEMA_CHANGE, STATUS_CHANGE, TOPOLOGY_CHANGE, Pending, node_change
from .server import CQLServer, run_on_loop, serve_in_thread, stop_thread
from .topology import VNODES, Ring, even_tokens, split_widest

__all__ = ["DEFAULT_DATA_CENTER", "CQLCluster", "Node"]

#: The data centre of ``CQLCluster(n)``: Cassandra's default (SimpleSnitch) name.
DEFAULT_DATA_CENTER = "datacenter1"
_LINGER_RESET = struct.pack("ii", 1, 0)
#: seconds between the peers' verdict that a node is down and their DOWN events
_DOWN_EVENT_LAG = 0.1


class Node(CQLServer):
    """One node of a ``CQLCluster``: a ``CQLServer`` with its own address, place in the ring,
    data centre and rack; every ``CQLServer`` fault method works on it, plus ``kill()`` and
    ``partition()``.

    Faults injected with ``add_latency``, ``fail`` and ``blackhole`` apply to the requests this
    node coordinates; its peers still count it as a live replica.
    """

    def __init__(
        self,
        cluster: CQLCluster,
        address: str,
        port: int,
        dc: str,
        rack: str,
        tokens: list[int],
        *,
        username: str | None,
        password: str | None,
        ssl_context: ssl.SSLContext | None,
        protocol_versions: Iterable[int],
    ) -> None:
        super().__init__(
            address,
            port,
            username=username,
            password=password,
            ssl_context=ssl_context,
            protocol_versions=protocol_versions,
        )
        self.cluster = cluster
        self.address = address
        self.dc = dc
        self.rack = rack
        self.tokens = tuple(tokens)
        identity = self.identity
        identity.data_center = dc
        identity.rack = rack
        identity.tokens = [str(token) for token in tokens]
        self.host_id = identity.host_id
        #: really up: listening, answering, reachable by its peers
        self.reachable = False
        #: what the other nodes believe (their failure detector's verdict)
        self.seen_up = False
        self._engine.coordinator = Coordinator(cluster, self, self._engine.store)

    @property
    def identity(self) -> NodeIdentity:
        return self.system.node

    @property
    def system(self) -> SystemTables:
        return self._engine.system

    @property
    def store(self) -> Store:
        return self._engine.store

    # --- faults --------------------------------------------------------------------------

    def go_down(self) -> None:
        """A clean shutdown: stop listening and close every connection. Like a drained
        Cassandra node it says goodbye, so its peers mark it down at once."""

        def down() -> None:
            CQLServer.go_down(self)
            self.cluster._lost(self, announced=True)

        self._on_loop(down)

    def kill(self) -> None:
        """The process dies (``kill -9``): every connection is reset (RST) with its requests
        in flight, nothing listens; the peers notice after the cluster's ``detection_delay``."""

        def die() -> None:
            for connection in list(self._connections):
                transport = connection.transport
                sock = transport.get_extra_info("socket") if transport is not None else None
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            CQLServer.go_down(self)
            self.cluster._lost(self, announced=False)

        self._on_loop(die)

    def partition(self) -> None:
        """Cut the node off: sockets stay open and accept, nothing is ever answered (not even
        OPTIONS or STARTUP), and the peers see it down after ``detection_delay``."""

        def cut() -> None:
            if not self._silent:
                self._silent = True
                self.cluster._lost(self, announced=False)

        self._on_loop(cut)

    def come_up(self) -> None:
        """Back after ``go_down()``, ``kill()`` or ``partition()``; seen up by the peers after
        the cluster's ``up_delay``."""

        def up() -> None:
            was_out = self._silent or self._down
            self._silent = False
            if self._down:
                CQLServer.come_up(self)
            if was_out:
                self.cluster._back(self)

        self._on_loop(up)

    def __repr__(self) -> str:
        state = "up" if self.reachable else "down"
        return f"<Node {self.contact_point} {self.dc}/{self.rack} {state}>"


def _bind_error(node: Node, exc: OSError) -> OSError:
    where = f"{node.host}:{node.port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        hint = (
            "each node needs its own loopback address; Linux routes all of 127.0.0.0/8 to lo, "
            f"elsewhere add it first (macOS: sudo ifconfig lo0 alias {node.host})"
        )
    elif exc.errno == errno.EADDRINUSE:
        hint = "something else listens there; choose another port (or port=0 for a free one)"
    else:
        hint = "every node listens on its own address, all on the same port"
    return OSError(exc.errno, f"CQLCluster cannot bind node {where}: {exc.strerror}; {hint}")


def _shape(shape: int | Mapping[str, int]) -> dict[str, int]:
    if isinstance(shape, bool):
        raise TypeError(f"shape must be a node count or {{dc: count}}, got {shape!r}")
    if isinstance(shape, int):
        shape = {DEFAULT_DATA_CENTER: shape}
    if not isinstance(shape, Mapping):
        raise TypeError(f"shape must be a node count or {{dc: count}}, got {shape!r}")
    counts = dict(shape)
    for dc, count in counts.items():
        if not isinstance(dc, str) or not dc:
            raise ValueError(f"data centre names must be non-empty strings, got {dc!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"data centre {dc!r} needs a positive node count, got {count!r}")
    if not counts:
        raise ValueError("a cluster needs at least one data centre")
    return counts


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
    return float(value)


#: system keyspaces whose data every node shares, as Cassandra replicates them
_SHARED_SYSTEM_KEYSPACES = ("system_traces",)


def _share_keyspaces(source: Store, target: Store) -> None:
    """Make ``target`` hold the very same user keyspaces as ``source``, and its traces (its
    other system keyspaces stay its own)."""
    keyspaces = target.keyspaces
    for name in _SHARED_SYSTEM_KEYSPACES:
        if name in source.keyspaces:
            keyspaces[name] = source.keyspaces[name]
    user = {name: ks for name, ks in source.keyspaces.items() if not ks.read_only}
    for name in [name for name, ks in keyspaces.items() if not ks.read_only]:
        if name not in user:
            del keyspaces[name]
    for name, keyspace in user.items():
        if keyspaces.get(name) is not keyspace:
            keyspaces[name] = keyspace
    target.schema_epoch += 1


class CQLCluster:
    """In-memory multi-node, multi-DC cluster for tests: ``CQLCluster(3)`` is three nodes in
    ``datacenter1``, ``CQLCluster({"dc1": 3, "dc2": 2})`` five in two data centres.

    ``with CQLCluster(...) as cluster`` serves on a background thread; ``async with`` on the
    running loop. Nodes get consecutive loopback addresses from ``first_address``, all on
    one port (``port=0``: a free one). ``racks`` spreads each data centre's nodes over that
    many racks. The realism options reproduce a real cluster's delays and default to none:

    - ``detection_delay``: seconds before the peers of a killed or partitioned node mark it
      down and push ``STATUS_CHANGE DOWN`` (Cassandra's failure detector: often 10-20 s);
    - ``up_delay``: seconds before a node that is back is seen up and ``UP`` is pushed
      (about 0.5 s on Cassandra);
    - ``schema_lag``: seconds before the other nodes report a schema change in their
      ``schema_version`` (0.5-1 s on Cassandra, so the driver's agreement wait polls a few
      times);
    - ``read_timeout`` / ``write_timeout``: how long a coordinator waits for replicas that
      believes alive but are not, before ``ReadTimeout`` / ``WriteTimeout`` (Cassandra's
      ``read_request_timeout`` 5 s and ``write_request_timeout`` 2 s);
    - ``peers_v2=False`` serves only ``system.peers``, as Cassandra 3 does.

    ``username`` / ``password``, ``ssl_context`` and ``protocol_versions`` apply to every
    node, as ``CQLServer`` takes them.
    """

    def __init__(
        self,
        shape: int | Mapping[str, int] = 3,
        *,
        port: int = 0,
        first_address: str = "127.0.0.1",
        vnodes: int = VNODES,
        racks: int = 1,
        detection_delay: float = 0.0,
        up_delay: float = 0.0,
        schema_lag: float = 0.0,
        read_timeout: float = 5.0,
        write_timeout: float = 2.0,
        peers_v2: bool = True,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        protocol_versions: Iterable[int] = SUPPORTED_VERSIONS,
    ) -> None:
        self._shape = _shape(shape)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be 0 (any free port) or 1..65535, got {port!r}")
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be a positive integer, got {vnodes!r}")
        if isinstance(racks, bool) or not isinstance(racks, int) or racks < 1:
            raise ValueError(f"racks must be a positive integer, got {racks!r}")
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        self._first = ipaddress.IPv4Address(first_address)
        self._requested_port = port
        self.port = port
        self.vnodes = vnodes
        self.racks = racks
        self.detection_delay = _seconds("detection_delay", detection_delay)
        self.up_delay = _seconds("up_delay", up_delay)
        self.schema_lag = _seconds("schema_lag", schema_lag)
        self.read_timeout = _seconds("read_timeout", read_timeout)
        self.write_timeout = _seconds("write_timeout", write_timeout)
        self.peers_v2 = peers_v2
        self._credentials = {"username": username, "password": password}
        self._ssl_context = ssl_context
        self._protocol_versions = tuple(protocol_versions)
        self._nodes: list[Node] = []
        self._next_address = 0
        self.ring: Ring[Node] = Ring([])
        #: bumped on every change of topology or liveness (coordinators cache by it)
        self.generation = 0
        #: every node up and seen up: the coordinators' fast path
        self.healthy = False
        self._news = Pending()
        self._schema_news = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listening: set[asyncio.Task[None]] = set()

    # --- what tests read -----------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        """The current nodes, in address order (a copy)."""
        return list(self._nodes)

    @property
    def contact_points(self) -> tuple[str, ...]:
        return tuple(node.contact_point for node in self._nodes)

    @property
    def datacenters(self) -> list[str]:
        return list(dict.fromkeys([*self._shape, *(node.dc for node in self._nodes)]))

    def node(self, address: str) -> Node:
        for node in self._nodes:
            if node.address == address:
                return node
        known = ", ".join(node.address for node in self._nodes)
        raise KeyError(f"no node at {address}; the nodes are {known}")

    # --- lifecycle -----------------------------------------------------------------------

    def _new_node(self, dc: str, rack: str, tokens: list[int]) -> Node:
        address = str(self._first + self._next_address)
        self._next_address += 1
        node = Node(
            self,
            address,
            self.port,
            dc,
            rack,
            tokens,
            ssl_context=self._ssl_context,
            protocol_versions=self._protocol_versions,
            **self._credentials,
        )
        if not self.peers_v2:
            del node.store.keyspaces["system"].tables["peers_v2"]
        return node

    def _bind(self, nodes: list[Node]) -> list[socket.socket]:
        """Bind every node on one port; with ``port=0`` retry when the port chosen for the
        first address is taken on another."""
        for attempt in itertools.count():
            sockets: list[socket.socket] = []
            try:
                for node in nodes:
                    node.port = self.port  # 0 for the first node when any free port will do
                    sockets.append(node._bind())
                    self.port = node.port
                return sockets
            except OSError as exc:
                for sock in sockets:
                    sock.close()
                if exc.errno == errno.EADDRINUSE and not self._requested_port and attempt < 20:
                    self.port = 0
                    continue
                raise _bind_error(node, exc) from exc
        raise AssertionError("unreachable")

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        nodes: list[Node] = []
        for offset, (dc, count) in enumerate(self._shape.items()):
            tokens = even_tokens(count, self.vnodes, offset)
            for index in range(count):
                rack = f"rack{index % self.racks + 1}"
                nodes.append(self._new_node(dc, rack, tokens[index]))
        try:
            sockets = self._bind(nodes)
        except BaseException:
            self._loop = None
            raise
        for node, sock in zip(nodes, sockets, strict=True):
            node.identity.native_port = self.port
            node._loop = loop
            await node._listen(sock)
            node.reachable = node.seen_up = True
            node._engine.schema_listeners.append(partial(self._schema_changed, node))
        for node in nodes:  # one schema everywhere, so one version
            _share_keyspaces(nodes[0].store, node.store)
            node.system.schema_version = nodes[0].system.schema_version
            node.system.refresh()
        self._nodes = nodes
        self._topology_changed()

    def _close(self) -> None:
        self._news.cancel_all()
        for node in self._nodes:
            node._close_now()
            node.reachable = node.seen_up = False

    async def __aenter__(self) -> CQLCluster:
        if self._loop is not None:
            raise RuntimeError("CQLCluster is already running")
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        for node in self._nodes:
            if node._server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(node._server.wait_closed(), 2)
            node._server = None
            node._loop = None
        self._loop = None

    def __enter__(self) -> CQLCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Serve every node on a background thread (returns once all listen)."""
        if self._loop is not None:
            raise RuntimeError("CQLCluster is already running")
        try:
            _, self._thread = serve_in_thread(self._open(), "CQLCluster")
        except BaseException:
            self._loop = None
            raise

    def stop(self) -> None:
        """Stop a background-thread cluster."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stop_thread(loop, thread, self._close, "cluster")
        for node in self._nodes:
            node._server = None
            node._loop = None
        self._loop = None
        self._thread = None

    # --- membership ----------------------------------------------------------------------

    def add_node(self, dc: str | None = None, rack: str | None = None) -> Node:
        """A new node joins (in ``dc``, by default the first data centre): it takes tokens
        from the widest ranges, every node's peers tables list it, and the others push
        ``TOPOLOGY_CHANGE NEW_NODE``."""
        joined: list[Node] = []

        def join() -> None:
            where = dc if dc is not None else next(iter(self._shape))
            node = self._new_node(
                where, rack or "rack1", split_widest(self.ring.tokens(), self.vnodes)
            )
            try:
                sock = node._bind()
            except OSError as exc:
                raise _bind_error(node, exc) from exc
            node.identity.native_port = self.port
            node._loop = self._loop
            task = asyncio.get_running_loop().create_task(node._listen(sock))
            self._listening.add(task)
            task.add_done_callback(self._listening.discard)
            if self._nodes:
                _share_keyspaces(self._nodes[0].store, node.store)
                node.system.schema_version = self._nodes[0].system.schema_version
            node.system.refresh()
            node.reachable = node.seen_up = True
            node._engine.schema_listeners.append(partial(self._schema_changed, node))
            self._nodes.append(node)
            self._topology_changed()
            self._broadcast(TOPOLOGY_CHANGE, "NEW_NODE", node)
            joined.append(node)

        self._on_loop(join)
        return joined[0]

    def remove_node(self, node: Node) -> None:
        """The node leaves the ring (decommission): it stops, the others forget it and push
        ``TOPOLOGY_CHANGE REMOVED_NODE``. Its data stays with the others."""

        def leave() -> None:
            if node not in self._nodes:
                raise ValueError(f"{node!r} is not a node of this cluster")
            if len(self._nodes) == 1:
                raise ValueError("the last node of a cluster cannot leave")
            self._nodes.remove(node)
            self._news.cancel(node)
            node._close_now()
            node._server = None
            node._down = True
            node.reachable = node.seen_up = False
            self._topology_changed()
            self._broadcast(TOPOLOGY_CHANGE, "REMOVED_NODE", node)

        self._on_loop(leave)

    # --- what the nodes tell each other (on the loop) ------------------------------------

    def _on_loop(self, action: Callable[[], None]) -> None:
        run_on_loop(self._loop, action, "CQLCluster")

    def _changed(self) -> None:
        self.generation += 1
        self.healthy = all(node.reachable and node.seen_up for node in self._nodes)

    def _topology_changed(self) -> None:
        self.ring = Ring([(node, node.dc, node.rack, node.tokens) for node in self._nodes])
        self._changed()
        self._write_peers()

    def _write_peers(self) -> None:
        for node in self._nodes:
            node.system.write_peers(
                (other.identity, other.system.schema_version)
                for other in self._nodes
                if other is not node
            )

    def _broadcast(self, kind: str, change: str, about: Node) -> None:
        """The other live nodes push an event about ``about`` to their registered clients."""
        body = node_change(change, about.address, about.port)
        for node in self._nodes:
            if node is not about and node.reachable:
                node.push_event(kind, body)

    def _lost(self, node: Node, *, announced: bool) -> None:
        node.reachable = False
        self._changed()
        delay = 0.0 if announced else self.detection_delay
        self._news.send(node, delay, partial(self._seen, node, False))

    def _back(self, node: Node) -> None:
        node.reachable = True
        self._changed()
        self._news.send(node, self.up_delay, partial(self._seen, node, True))

    def _seen(self, node: Node, up: bool) -> None:
        if node.seen_up is up or node not in self._nodes:
            return
        node.seen_up = up
        self._changed()
        if up:
            self._broadcast(STATUS_CHANGE, "UP", node)
            return
        # The driver ignores DOWN for a host it still holds an open connection to; pushed in
        # the same instant as the resets, the event would often be read before them.
        asyncio.get_running_loop().call_later(_DOWN_EVENT_LAG, self._broadcast_down, node)

    def _broadcast_down(self, node: Node) -> None:
        if not node.seen_up and node in self._nodes:
            self._broadcast(STATUS_CHANGE, "DOWN", node)

    def _schema_changed(self, origin: Node, event: bytes) -> None:
        """A node changed the schema: the others share its keyspaces at once and report its
        schema version (and push the event) after ``schema_lag``."""
        version = origin.system.schema_version
        for node in self._nodes:
            if node is not origin:
                _share_keyspaces(origin.store, node.store)
                self._news.send(
                    ("schema", next(self._schema_news)),
                    self.schema_lag,
                    partial(self._schema_applied, node, version, event),
                )
        self._write_peers()

    def _schema_applied(self, node: Node, version: uuid.UUID, event: bytes) -> None:
        system = node.system
        system.schema_version = version
        system.refresh()
        node.push_event(SCHEMA_CHANGE, event)
        self._write_peers()

    def __repr__(self) -> str:
        shape = ", ".join(f"{dc}: {count}" for dc, count in self._shape.items())
        state = "running" if self._loop is not None else "stopped"
        return f"<CQLCluster {{{shape}}} port {self.port} {state}>"
