"""``connect(config)``: build a driver ``Cluster`` and open a session without blocking the loop.

``Cluster(...)`` resolves contact points with blocking DNS lookups and ``Cluster.connect()``
blocks for the control connection, the schema and the pools, so both run on the session's own
thread. The whole attempt is bounded by ``connect_timeout``; when it fails or times out, the
half-built cluster is shut down on a background thread once the connect thread lets go of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from types import TracebackType
from typing import Any

from cassandra import OperationTimedOut
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import DCAwareRoundRobinPolicy

from . import _compat
from ._core import SessionCore
from ._loop_io import connection_class_for, watch_loop
from ._losses import report_losses_to, reporting_reactor_connection
from .config import CassandraConfig
from .errors import ConnectError
from .health import NoHostExplainer, describe_cluster, local_dc_down
from .rows import ROW_FACTORIES
from .session import AsyncSession
from .tracing import Tracing, tracing_for

__all__ = ["ROW_PROFILES", "Connecting", "build_cluster", "connect"]

log = logging.getLogger("cassandra_asgi")

#: Extra execution profiles registered on every cluster: ``execute(..., execution_profile="dict")``.
ROW_PROFILES = ROW_FACTORIES


def session_connection_class(config: CassandraConfig, loop: asyncio.AbstractEventLoop) -> Any:
    """A connection class of the session's own, which reports connections that die
    (``_losses``), reads v5 segments only once whole and sends short ones without trying LZ4
    (``_compat.V5Segments``):
    loop-served with ``io="loop"``, else the driver's reactor one; ``None`` when the
    application chose its own ``connection_class``."""
    if config.io == "loop":
        return connection_class_for(loop)
    if "connection_class" in config.cluster_options:
        return None
    reactor = Cluster.connection_class
    fixed = type(reactor.__name__, (_compat.V5Segments, reactor), {})
    return reporting_reactor_connection(fixed)


def build_cluster(config: CassandraConfig, connection_class: Any = None) -> Any:
    """The driver ``Cluster`` for ``config`` (blocking: resolves contact points with DNS),
    with ``connection_class`` if given (``session_connection_class``)."""
    kwargs = config.cluster_kwargs()
    if connection_class is not None:
        kwargs["connection_class"] = connection_class
    return Cluster(**kwargs)


def _describe(config: CassandraConfig) -> str:
    return ", ".join(f"{host}:{port}" for host, port in config.endpoints)


class _Diagnosis(Exception):
    """Why a connect failed, in the user's terms; the driver's own error is the cause."""


def _resolve(host: str, port: int) -> None:
    """Look ``host`` up as the driver will. Names under ``.invalid`` never resolve (RFC 6761),
    so they fail here without a query."""
    if host.lower().rstrip(".").rpartition(".")[2] == "invalid":
        raise socket.gaierror(socket.EAI_NONAME, "names under .invalid never resolve")
    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _resolvable(config: CassandraConfig) -> CassandraConfig:
    """``config`` with only the contact points that resolve (the driver would skip the others
    with a debug message); ``_Diagnosis`` naming them when none does."""
    kept, failed = [], []
    for entry, (host, port) in zip(config.contact_points, config.endpoints, strict=True):
        try:
            _resolve(host, port)
            kept.append(entry)
        except OSError as exc:
            failed.append(f"{host!r} ({exc.strerror or exc})")
    if not failed:
        return config
    if not kept:
        raise _Diagnosis(f"cannot resolve the contact point name {', '.join(failed)}")
    log.warning("contact points that do not resolve, left out: %s", ", ".join(failed))
    return config.replace(contact_points=kept)


def _explain(cluster: Any, config: CassandraConfig, exc: Exception) -> str | None:
    """What the cluster's metadata says about a failed connect, when it says it better than
    the driver's "Unable to connect to any servers"."""
    metadata = cluster.metadata
    keyspaces = set(metadata.keyspaces)
    if config.keyspace is not None and keyspaces and config.keyspace not in keyspaces:
        names = sorted(name for name in keyspaces if not name.startswith("system"))
        existing = ", ".join(names) if names else "none besides the system keyspaces"
        return f"keyspace {config.keyspace!r} does not exist (existing keyspaces: {existing})"
    seen = sorted({host.datacenter for host in metadata.all_hosts() if host.datacenter})
    if config.local_dc is not None and seen and config.local_dc not in seen:
        return (
            f"no node is in data centre {config.local_dc!r} (local_dc); the nodes seen are in "
            f"{', '.join(map(repr, seen))}"
        )
    down = local_dc_down(cluster, config)
    if down is not None:
        return str(down)
    return _silence(exc, cluster, config)


def _silence(exc: Exception, cluster: Any, config: CassandraConfig) -> str | None:
    """Every contact point was silent (a hung process, or a firewall dropping packets)."""
    if not isinstance(exc, NoHostAvailable) or not exc.errors:
        return None
    errors = exc.errors
    if not all(isinstance(error, OperationTimedOut) for error in errors.values()):
        return None
    return (
        f"no answer from {', '.join(map(str, errors))} within {cluster.connect_timeout}s "
        f"(the time one connection attempt gets; connect_timeout={config.connect_timeout}s)"
    )


def _warn_without_local_dc(cluster: Any, config: CassandraConfig) -> None:
    """A cluster in several data centres and no ``local_dc``: the driver quietly takes the
    data centre of the first node it reached as the local one."""
    if config.local_dc is not None:
        return
    seen = sorted({host.datacenter for host in cluster.metadata.all_hosts() if host.datacenter})
    if len(seen) > 1:
        log.warning(
            "the cluster has nodes in data centres %s and local_dc is not set: requests stay "
            "in whichever data centre the first contact point reached is in; set local_dc "
            "(CASSANDRA_LOCAL_DC) to choose",
            ", ".join(map(repr, seen)),
        )


def _through_remote_dc(cluster: Any, config: CassandraConfig) -> Any | None:
    """A driver session opened while every node of the local data centre is down, or ``None``.

    The driver refuses to open a session without a connection pool, and with remote-DC
    fallback off (the default) it opens pools in the local data centre only. The cluster
    answers, though: the control connection reached another data centre and the driver's
    reconnection is already trying the local nodes. So the session is opened with one remote
    pool, lent for the opening only: requests still stay in the local data centre (failing
    with ``LocalDCDownError`` until one of its nodes is back, within a second or so), and the
    lent pool is closed once the local data centre is back.
    """
    policy = _compat.child_policy(cluster.profile_manager.default.load_balancing_policy)
    if config._own_balancing() or not isinstance(policy, DCAwareRoundRobinPolicy):
        return None
    down = local_dc_down(cluster, config)
    if down is None or not down.live_dcs or config.used_hosts_per_remote_dc:
        return None
    policy.used_hosts_per_remote_dc = 1
    try:
        driver_session = cluster.connect(config.keyspace)
    finally:
        policy.used_hosts_per_remote_dc = 0
    log.warning(
        "connected while every node of local DC %s is down, through %s: requests fail with "
        "LocalDCDownError until a node of %s is back (set used_hosts_per_remote_dc to serve "
        "them from another DC meanwhile)",
        down.local_dc,
        ", ".join(down.live_dcs),
        down.local_dc,
    )
    return driver_session


#: Longest wait, once the driver opened its first pool, for the pools of the other nodes.
_OTHER_POOLS_WAIT = 2.0


def _wait_for_the_other_pools(driver_session: Any, config: CassandraConfig) -> None:
    """Let the pools of every reachable node open before the session is handed out.

    The driver's session is ready as soon as one pool is open, so the first requests of an
    app that starts under load would all go to that node, and a speculative execution or a
    retry would find no other node to try. A node that does not answer is only waited for
    briefly (its pool keeps opening in the background) so it cannot hold up the app's start.
    """
    futures_wait(
        _compat.initial_pool_futures(driver_session),
        timeout=min(_OTHER_POOLS_WAIT, config.connect_timeout / 4),
    )


class _Attempt:
    """What the connect thread has built so far, for cleanup if the caller gives up."""

    def __init__(self) -> None:
        self.cluster: Any = None

    def run(
        self, config: CassandraConfig, connection_class: Any
    ) -> tuple[Any, Any, Tracing | None]:
        self.cluster = build_cluster(_resolvable(config), connection_class)
        try:
            driver_session = self.cluster.connect(config.keyspace)
        except Exception as exc:
            driver_session = None
            if isinstance(exc, NoHostAvailable):
                driver_session = _through_remote_dc(self.cluster, config)
            if driver_session is None:
                reason = _explain(self.cluster, config, exc)
                if reason is None:
                    raise
                raise _Diagnosis(reason) from exc
        _warn_without_local_dc(self.cluster, config)
        _wait_for_the_other_pools(driver_session, config)
        driver_session.default_fetch_size = config.fetch_size
        _compat.set_prepare_timeout(driver_session, config.request_timeout)
        # Here, not on the loop: the first call imports opentelemetry and looks up its
        # entry points, tens of milliseconds (hundreds on a cold disk).
        return self.cluster, driver_session, tracing_for(config)

    def discard(self, outcome: Future[Any], admin: ThreadPoolExecutor) -> None:
        """Shut down whatever was built, after the connect thread is done with it."""

        def wait_then_shutdown() -> None:
            with contextlib.suppress(BaseException):  # cancelled: nothing was started
                outcome.exception()  # blocks this helper thread until the attempt ends
            if self.cluster is not None:
                try:
                    self.cluster.shutdown()
                except Exception:
                    log.exception("cassandra_asgi: shutting down a failed connection attempt")
            admin.shutdown(wait=False)

        threading.Thread(
            target=wait_then_shutdown, name="cassandra_asgi-discard", daemon=True
        ).start()


async def _open(config: CassandraConfig) -> AsyncSession:
    if not isinstance(config, CassandraConfig):
        raise TypeError(f"connect() expects a CassandraConfig, got {type(config).__name__}")
    loop = asyncio.get_running_loop()
    admin = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cassandra_asgi")
    attempt = _Attempt()
    connection_class = session_connection_class(config, loop)
    outcome = admin.submit(attempt.run, config, connection_class)
    where = _describe(config)
    log.info("connecting to %s (keyspace %s)", where, config.keyspace)
    try:
        cluster, driver_session, tracing = await asyncio.wait_for(
            asyncio.wrap_future(outcome), config.connect_timeout
        )
    except asyncio.CancelledError:
        attempt.discard(outcome, admin)
        raise
    except TimeoutError:
        attempt.discard(outcome, admin)
        raise ConnectError(
            f"could not connect to {where}: no session within connect_timeout="
            f"{config.connect_timeout}s"
        ) from None
    except Exception as exc:
        attempt.discard(outcome, admin)
        if isinstance(exc, _Diagnosis):
            raise ConnectError(f"could not connect to {where}: {exc}") from exc.__cause__
        raise ConnectError(f"could not connect to {where}: {type(exc).__name__}: {exc}") from exc
    core = SessionCore(loop, config.max_in_flight)
    core.tracing = tracing
    if config.io == "loop":
        core.loop_io = watch_loop(connection_class)
    if connection_class is not None:
        report_losses_to(connection_class, cluster)
    explainer = NoHostExplainer(cluster, config)
    cluster.register_listener(explainer)
    core.explain_error = explainer
    log.info(
        "connected to %s: %s, tracing %s",
        where,
        describe_cluster(cluster, keyspace=driver_session.keyspace, io=config.io),
        "on" if core.tracing is not None else "off",
    )
    return AsyncSession(
        core, cluster, driver_session, admin, contact_points=tuple(where.split(", "))
    )


class Connecting:
    """What ``connect()`` returns: await it for a session, or use it with ``async with``."""

    def __init__(self, config: CassandraConfig) -> None:
        self._config = config
        self._session: AsyncSession | None = None

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return _open(self._config).__await__()

    async def __aenter__(self) -> AsyncSession:
        self._session = await _open(self._config)
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()


def connect(config: CassandraConfig) -> Connecting:
    """Open an ``AsyncSession``: ``session = await connect(cfg)`` or
    ``async with connect(cfg) as session: ...`` (closed on exit)."""
    return Connecting(config)
