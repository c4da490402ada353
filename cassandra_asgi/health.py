"""What the session knows of the cluster's nodes: health reports, startup and host-state logs.

Everything here reads the driver's public view of the cluster: ``Cluster.metadata`` for the
nodes (each driver ``Host`` has its data centre, rack, version and up/down state), the
load-balancing policy's ``distance()`` for which nodes are local, ``Session.get_pool_state()``
for connections, and a ``HostStateListener`` for nodes going down and coming back.

The health policy: a session is **ok** when at least one node of the local data centre (a node
the load-balancing policy ranks ``LOCAL``) is up *and* a trivial query answers within the
timeout. The first alone would call a session healthy whose every node accepts connections and
answers nothing; the second alone would call it healthy while it only reaches a remote DC.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cassandra.policies import HostDistance, HostStateListener

from .config import CassandraConfig
from .errors import LocalDCDownError, NoHostAvailable

if TYPE_CHECKING:
    from .session import AsyncSession

__all__ = [
    "DEFAULT_HEALTH_TIMEOUT",
    "DatacenterHealth",
    "HealthReport",
    "HostStateLog",
    "NoHostExplainer",
    "check_health",
    "describe_cluster",
    "local_datacenters",
    "local_dc_down",
]

log = logging.getLogger("cassandra_asgi")

#: Seconds the health check's query may take before the session counts as not ok.
DEFAULT_HEALTH_TIMEOUT = 2.0


@dataclass(frozen=True)
class DatacenterHealth:
    """Nodes of one data centre the driver considers up and down; ``unknown``: nodes it never
    connected to (its load-balancing policy ignores them, as a remote DC's by default)."""

    up: int = 0
    down: int = 0
    unknown: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"up": self.up, "down": self.down, "unknown": self.unknown}


@dataclass(frozen=True)
class HealthReport:
    """``await session.health()``: whether the session can serve, and why not.

    ``ok``: a node of ``local_dc`` is up and the ping answered within the timeout. ``rtt`` is
    the ping's round trip in seconds (``None`` if it failed), ``error`` what failed.
    """

    ok: bool
    rtt: float | None
    local_dc: str | None
    datacenters: dict[str, DatacenterHealth] = field(default_factory=dict)
    in_flight: int = 0
    waiting: int = 0
    error: str | None = None

    @property
    def http_status(self) -> int:
        """What a health endpoint answers: 200 when ok, else 503 (Service Unavailable)."""
        return 200 if self.ok else 503

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a JSON health endpoint."""
        return {
            "status": "ok" if self.ok else "unavailable",
            "rtt_ms": None if self.rtt is None else round(self.rtt * 1000, 3),
            "local_dc": self.local_dc,
            "datacenters": {dc: counts.as_dict() for dc, counts in self.datacenters.items()},
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "error": self.error,
        }


def _hosts(cluster: Any) -> list[Any]:
    return list(cluster.metadata.all_hosts())


def _is_local(cluster: Any, host: Any) -> bool:
    policy = cluster.profile_manager.default.load_balancing_policy
    return policy.distance(host) == HostDistance.LOCAL  # type: ignore[no-any-return]


def local_datacenters(cluster: Any, hosts: Iterable[Any] | None = None) -> list[str]:
    """The data centres whose nodes the default profile's policy ranks ``LOCAL``."""
    found = {
        host.datacenter or "?"
        for host in (_hosts(cluster) if hosts is None else hosts)
        if _is_local(cluster, host)
    }
    return sorted(found)


def local_dc_down(cluster: Any, config: CassandraConfig) -> LocalDCDownError | None:
    """The error to give when every node of the local data centre is down, or ``None`` while
    one is up (or the driver knows no node's data centre yet: it never reached the cluster).

    A remote data centre counts as live while one of its nodes is not known to be down: without
    fallback the driver holds no connection there, and hears of its nodes only by events.
    """
    hosts = _hosts(cluster)
    if not any(host.datacenter for host in hosts):
        return None
    local = [host for host in hosts if _is_local(cluster, host)]
    if not local or any(host.is_up for host in local):
        return None
    local_dc = ",".join(local_datacenters(cluster, local))
    remote = [host for host in hosts if host.datacenter and host not in local]
    live = sorted({host.datacenter for host in remote if host.is_up is not False})
    fallback = config.used_hosts_per_remote_dc
    if fallback:
        hint = f"the remote-DC fallback hosts (used_hosts_per_remote_dc={fallback}) are down too"
    elif live and config._own_balancing():
        has = "has" if len(live) == 1 else "have"
        hint = (
            f"{', '.join(live)} {has} live hosts; set used_hosts_per_remote_dc on the "
            "DCAwareRoundRobinPolicy of your load_balancing_policy to allow remote-DC fallback"
        )
    elif live:
        has = "has" if len(live) == 1 else "have"
        hint = (
            f"{', '.join(live)} {has} live hosts; set used_hosts_per_remote_dc=1 to allow "
            "remote-DC fallback"
        )
    elif remote:
        hint = "no other DC has live hosts either"
    else:
        return LocalDCDownError(f"all hosts in local DC {local_dc} are down", local_dc, live)
    return LocalDCDownError(f"all hosts in local DC {local_dc} are down ({hint})", local_dc, live)


class NoHostExplainer(HostStateListener):  # type: ignore[misc]
    """Turns the driver's ``NoHostAvailable`` for an empty query plan (no host tried) into a
    ``LocalDCDownError`` while the whole local data centre is down; any other error is returned
    as is. Failure path only.

    Reading the cluster's view costs tens of microseconds, and during an outage every request
    fails (thousands a second), so the verdict is kept until a host changes state (the driver
    tells its listeners) or for ``ttl`` seconds at most: a remote node's state can change
    without the listeners hearing of it. Each failure still gets its own exception object.
    """

    def __init__(self, cluster: Any, config: CassandraConfig, ttl: float = 1.0) -> None:
        self._cluster = cluster
        self._config = config
        self._ttl = ttl
        self._verdict: LocalDCDownError | None = None
        self._until = 0.0

    def __call__(self, error: BaseException) -> BaseException:
        if type(error) is not NoHostAvailable or error.errors:
            return error
        now = time.monotonic()
        if now >= self._until:
            self._verdict = local_dc_down(self._cluster, self._config)
            self._until = now + self._ttl
        verdict = self._verdict
        if verdict is None:
            return error
        return LocalDCDownError(verdict.message, verdict.local_dc, list(verdict.live_dcs))

    def _changed(self, host: Any) -> None:
        self._until = 0.0

    on_up = on_down = on_add = on_remove = _changed


def _datacenters(hosts: Iterable[Any]) -> dict[str, DatacenterHealth]:
    counts: dict[str, list[int]] = {}
    for host in hosts:
        states = counts.setdefault(host.datacenter or "?", [0, 0, 0])
        states[0 if host.is_up else 2 if host.is_up is None else 1] += 1
    return {dc: DatacenterHealth(*states) for dc, states in sorted(counts.items())}


async def check_health(session: AsyncSession, timeout: float) -> HealthReport:  # noqa: ASYNC109
    """The report of ``session.health()`` (see the policy in the module docstring)."""
    cluster = session.cluster
    hosts = _hosts(cluster)
    local = [host for host in hosts if _is_local(cluster, host)]
    local_dc = ",".join(local_datacenters(cluster, local)) or None
    rtt: float | None = None
    error: str | None = None
    if not any(host.is_up for host in local):
        error = f"no node of the local data centre ({local_dc or 'none known'}) is up"
    else:
        started = time.perf_counter()
        try:
            await session.ping(timeout=timeout)
        except Exception as exc:
            error = f"the health query failed: {type(exc).__name__}: {exc}"
        else:
            rtt = time.perf_counter() - started
    return HealthReport(
        ok=error is None,
        rtt=rtt,
        local_dc=local_dc,
        datacenters=_datacenters(_hosts(cluster)),  # again: the ping may have changed them
        in_flight=session.in_flight,
        waiting=session.metrics.waiting,
        error=error,
    )


def _node(host: Any) -> str:
    return f"{host.endpoint} (DC {host.datacenter}, rack {host.rack})"


class HostStateLog(HostStateListener):  # type: ignore[misc]
    """Logs the driver's host-state changes: WARNING when a node goes down, INFO otherwise.

    The driver calls it from its own threads; logging is thread-safe.
    """

    def on_up(self, host: Any) -> None:
        log.info("Cassandra node %s is up", _node(host))

    def on_down(self, host: Any) -> None:
        log.warning("Cassandra node %s is down", _node(host))

    def on_add(self, host: Any) -> None:
        log.info("Cassandra node %s joined the cluster", _node(host))

    def on_remove(self, host: Any) -> None:
        log.info("Cassandra node %s left the cluster", _node(host))


def describe_cluster(cluster: Any, *, keyspace: str | None, io: str) -> str:
    """One line on what a new session reached, for the log at connect."""
    hosts = _hosts(cluster)
    per_dc = ", ".join(
        f"{dc}: {counts.up} up"
        + (f" {counts.down} down" if counts.down else "")
        + (f" {counts.unknown} not connected" if counts.unknown else "")
        for dc, counts in _datacenters(hosts).items()
    )
    versions = sorted({host.release_version for host in hosts if host.release_version})
    count = len(hosts)
    return (
        f"{count} node{'s' if count != 1 else ''} ({per_dc or 'none'}), "
        f"local DC {','.join(local_datacenters(cluster, hosts)) or 'none'}, "
        f"protocol v{cluster.protocol_version}, "
        f"Cassandra {', '.join(versions) or 'version unknown'}, "
        f"keyspace {keyspace or 'none'}, I/O {io}"
    )
