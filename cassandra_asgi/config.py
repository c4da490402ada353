"""Connection settings as an immutable value object.

Building a config does no I/O, so it can live at module level, be compared in tests and be
shared by several applications; ``connect()`` is where the network is first touched.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

from .errors import ConfigError
from .policies import IdempotenceAwareRetryPolicy
from .rows import DRIVER_ROW_FACTORIES, ROW_FACTORIES, resolve_row_factory

__all__ = ["CassandraConfig"]

#: Protocol versions the driver can speak; ``None`` lets it negotiate.
SUPPORTED_PROTOCOL_VERSIONS = frozenset({3, 4, 5})
#: Stream ids per connection on protocol v3+; the in-flight cap must stay well below it.
MAX_STREAMS_PER_CONNECTION = 32768
#: The default reconnection schedule: 0.1 s doubling to a 1 s ceiling, forever. The driver's
#: own (1 s doubling to 10 min, 64 attempts) leaves a node that was down for a few minutes
#: unvisited for minutes after it answers again; with its control connection on a dead node
#: (a whole local DC down) nothing else tells the driver the node is back.
RECONNECT_BASE_DELAY = 0.1
RECONNECT_MAX_DELAY = 1.0


def _split_host_port(entry: str, default_port: int, *, setting: str) -> tuple[str, int]:
    """Parse ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    entry = entry.strip()
    if not entry:
        raise ConfigError(f"{setting}: empty contact point")
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or not host:
            raise ConfigError(f"{setting}: malformed IPv6 contact point {entry!r}")
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise ConfigError(f"{setting}: malformed contact point {entry!r}")
        port_text = rest[1:]
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    else:  # a plain host name, IPv4 address or bare IPv6 address
        return entry, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{setting}: port {port_text!r} of {entry!r} is not a number") from None
    _check_port(port, setting)
    return host, port


def _split_hosts(text: str, setting: str) -> tuple[str, ...]:
    """``h1,h2:9043,...``: a trailing comma is fine (templated manifests leave one), any other
    empty entry is named."""
    entries = [entry.strip() for entry in text.split(",")]
    if len(entries) > 1 and not entries[-1]:
        entries.pop()
    for number, entry in enumerate(entries, 1):
        if not entry:
            raise ConfigError(f"{setting}: entry {number} of {text!r} is empty")
    return tuple(entries)


def _check_port(port: int, setting: str) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"{setting}: port {port} is outside 1..65535")


#: Settings in declaration order (``repr`` and ``replace`` follow it).
_FIELDS = (
    "contact_points",
    "port",
    "keyspace",
    "local_dc",
    "username",
    "password",
    "ssl_context",
    "protocol_version",
    "connect_timeout",
    "request_timeout",
    "max_in_flight",
    "fetch_size",
    "row_factory",
    "trace_statements",
    "tracer_provider",
    "io",
    "used_hosts_per_remote_dc",
    "cluster_options",
)

#: Values of ``io`` (see ``_loop_io``); ``CASSANDRA_IO`` picks one when ``io`` is not given.
IO_MODES = ("thread", "loop")
IO_ENV = "CASSANDRA_IO"


def _io_mode(io: str | None) -> str:
    """``io`` checked, or when ``None`` the ``CASSANDRA_IO`` environment variable's choice
    (else ``"thread"``), so a deployment or a test run can switch every session at once."""
    if io is None:
        raw = os.environ.get(IO_ENV, "").strip()
        if not raw:
            return "thread"
        if raw not in IO_MODES:
            raise ConfigError(f"{IO_ENV}: expected one of {', '.join(IO_MODES)}, got {raw!r}")
        return raw
    if io not in IO_MODES:
        raise ConfigError(
            f"io: expected one of {', '.join(map(repr, IO_MODES))} (who serves the sockets: the "
            f"driver's reactor thread, or the session's event loop), got {io!r}"
        )
    return io


class CassandraConfig:
    """Everything needed to open a session; frozen, comparable, free of I/O.

    ``contact_points`` entries may carry their own port (``"h1:9043"``); others use ``port``.
    Extra keyword arguments are passed to ``cassandra.cluster.Cluster`` unchanged.
    ``tracer_provider`` (default: OpenTelemetry's global one) and ``trace_statements`` (record
    statement texts in spans; bound values never) are read by the session's tracing
    (docs/observability.md). ``io`` says who serves the sockets: ``"thread"``, the driver's
    reactor thread, or ``"loop"``, the session's own event loop (docs/core.md); left out, the
    ``CASSANDRA_IO`` environment variable decides, else ``"thread"``.
    (docs/observability.md). ``used_hosts_per_remote_dc`` (default 0) lets the default
    load-balancing policy fall back to that many nodes of each remote data centre when no node
    of ``local_dc`` is up (docs/cluster.md: availability against locality).
    """

    __slots__ = _FIELDS

    contact_points: tuple[str, ...]
    port: int
    keyspace: str | None
    local_dc: str | None
    username: str | None
    password: str | None
    ssl_context: ssl.SSLContext | None
    protocol_version: int | None
    connect_timeout: float
    request_timeout: float
    max_in_flight: int
    fetch_size: int
    row_factory: str | Callable[[list[str], list[Any]], list[Any]]
    trace_statements: bool
    tracer_provider: Any
    io: str
    used_hosts_per_remote_dc: int
    cluster_options: Mapping[str, Any]

    def __init__(
        self,
        contact_points: Iterable[str] | str = ("127.0.0.1",),
        port: int = 9042,
        keyspace: str | None = None,
        local_dc: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        protocol_version: int | None = None,
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        max_in_flight: int = 1024,
        fetch_size: int = 5000,
        row_factory: str | Callable[[list[str], list[Any]], list[Any]] = "named_tuple",
        trace_statements: bool = False,
        tracer_provider: Any = None,
        io: str | None = None,
        used_hosts_per_remote_dc: int = 0,
        **cluster_options: Any,
    ) -> None:
        if isinstance(contact_points, str):
            contact_points = _split_hosts(contact_points, "contact_points")
        points = tuple(str(p).strip() for p in contact_points)
        if not points or not all(points):
            raise ConfigError("contact_points: at least one non-empty host is required")
        if isinstance(port, bool) or not isinstance(port, int):
            raise ConfigError(f"port: expected an integer, got {port!r}")
        _check_port(port, "port")
        for point in points:  # validate now, so a typo fails at import time, not at startup
            _split_host_port(point, port, setting="contact_points")
        if keyspace is not None and not keyspace:
            raise ConfigError("keyspace: must be a non-empty name or None")
        if (username is None) != (password is None):
            raise ConfigError("username and password must be given together")
        if (
            isinstance(used_hosts_per_remote_dc, bool)
            or not isinstance(used_hosts_per_remote_dc, int)
            or used_hosts_per_remote_dc < 0
        ):
            raise ConfigError(
                "used_hosts_per_remote_dc: expected a non-negative integer (0: never leave the "
                f"local DC), got {used_hosts_per_remote_dc!r}"
            )
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ConfigError(
                f"ssl_context: expected ssl.SSLContext, got {type(ssl_context).__name__}"
            )
        if protocol_version is not None and protocol_version not in SUPPORTED_PROTOCOL_VERSIONS:
            raise ConfigError(
                f"protocol_version: {protocol_version!r} is not one of "
                f"{sorted(SUPPORTED_PROTOCOL_VERSIONS)} (or None to negotiate)"
            )
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("request_timeout", request_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{name}: expected a positive number of seconds, got {value!r}")
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int):
            raise ConfigError(f"max_in_flight: expected an integer, got {max_in_flight!r}")
        if not 1 <= max_in_flight <= MAX_STREAMS_PER_CONNECTION // 2:
            raise ConfigError(
                f"max_in_flight: {max_in_flight} is outside 1..{MAX_STREAMS_PER_CONNECTION // 2} "
                "(the driver blocks its caller when a connection runs out of stream ids)"
            )
        if isinstance(fetch_size, bool) or not isinstance(fetch_size, int) or fetch_size < 1:
            raise ConfigError(f"fetch_size: expected a positive integer, got {fetch_size!r}")
        if not callable(row_factory) and row_factory not in ROW_FACTORIES:
            raise ConfigError(
                f"row_factory: expected one of {sorted(ROW_FACTORIES)} or a callable "
                f"(column_names, rows) -> list, got {row_factory!r}"
            )
        if not isinstance(trace_statements, bool):
            raise ConfigError(f"trace_statements: expected True or False, got {trace_statements!r}")
        get_tracer = getattr(tracer_provider, "get_tracer", None)
        if tracer_provider is not None and not callable(get_tracer):
            raise ConfigError(
                "tracer_provider: expected an OpenTelemetry TracerProvider (with get_tracer()), "
                f"got {type(tracer_provider).__name__}"
            )
        io = _io_mode(io)
        if io == "loop" and "connection_class" in cluster_options:
            raise ConfigError(
                'connection_class: io="loop" brings its own connection class; leave '
                'connection_class out, or use io="thread"'
            )
        for reserved in ("contact_points", "port", "auth_provider", "ssl_context", "ssl_options"):
            if reserved in cluster_options:
                raise ConfigError(f"{reserved}: set it through CassandraConfig's own arguments")

        values: dict[str, Any] = {
            "contact_points": points,
            "port": port,
            "keyspace": keyspace,
            "local_dc": local_dc,
            "username": username,
            "password": password,
            "ssl_context": ssl_context,
            "protocol_version": protocol_version,
            "connect_timeout": float(connect_timeout),
            "request_timeout": float(request_timeout),
            "max_in_flight": max_in_flight,
            "fetch_size": fetch_size,
            "row_factory": row_factory,
            "trace_statements": trace_statements,
            "tracer_provider": tracer_provider,
            "io": io,
            "used_hosts_per_remote_dc": used_hosts_per_remote_dc,
            "cluster_options": MappingProxyType(dict(cluster_options)),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if used_hosts_per_remote_dc and self._own_balancing():
            raise ConfigError(
                "used_hosts_per_remote_dc: it configures the default load-balancing policy; with "
                "your own load_balancing_policy, set remote-DC fallback on that policy instead"
            )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CassandraConfig is immutable; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("CassandraConfig is immutable")

    def _as_kwargs(self) -> dict[str, Any]:
        kwargs = {name: getattr(self, name) for name in _FIELDS if name != "cluster_options"}
        kwargs.update(self.cluster_options)
        return kwargs

    def _own_balancing(self) -> bool:
        """The application chose the default profile's load-balancing policy itself, so remote-DC
        fallback is set on that policy, not through ``used_hosts_per_remote_dc``."""
        profiles = self.cluster_options.get("execution_profiles") or {}
        return "load_balancing_policy" in self.cluster_options or EXEC_PROFILE_DEFAULT in profiles

    def replace(self, **changes: Any) -> CassandraConfig:
        """Return a copy with some settings changed (the object itself never changes)."""
        kwargs = self._as_kwargs()
        kwargs.update(changes)
        return CassandraConfig(**kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CassandraConfig):
            return NotImplemented
        return self._as_kwargs() == other._as_kwargs()

    def __hash__(self) -> int:
        return hash((self.contact_points, self.port, self.keyspace, self.username))

    def __repr__(self) -> str:
        shown = []
        for name, value in self._as_kwargs().items():
            if name == "password" and value is not None:
                value = "***"
            shown.append(f"{name}={value!r}")
        return f"CassandraConfig({', '.join(shown)})"

    @property
    def endpoints(self) -> tuple[tuple[str, int], ...]:
        """Contact points as ``(host, port)`` pairs, ready for the driver."""
        return tuple(
            _split_host_port(p, self.port, setting="contact_points") for p in self.contact_points
        )

    def cluster_kwargs(self, *, driver_rows: bool = False) -> dict[str, Any]:
        """Keyword arguments for a driver ``cassandra.cluster.Cluster`` built from this config.

        ``connect()``, the pytest plugin and the bench all use it, so a setting means the same
        everywhere. Every profile (the default, and ``"named_tuple"``, ``"dict"``, ``"tuple"``)
        names its load-balancing policy, so the driver neither warns nor guesses; the legacy
        ``load_balancing_policy``/``default_retry_policy`` options are folded into them. The
        driver uses ``port`` for the nodes it discovers too. New policy objects on each call.
        ``driver_rows=True`` gives the driver's own row factories instead of this package's
        faster ones, for a plain driver session (its ``ResultSet.was_applied`` needs them).
        """
        options: dict[str, Any] = dict(self.cluster_options)
        profiles: dict[Any, ExecutionProfile] = dict(options.pop("execution_profiles", None) or {})
        balancing = options.pop("load_balancing_policy", None) or TokenAwarePolicy(
            DCAwareRoundRobinPolicy(
                local_dc=self.local_dc, used_hosts_per_remote_dc=self.used_hosts_per_remote_dc
            )
        )
        retry = options.pop("default_retry_policy", None) or IdempotenceAwareRetryPolicy()
        factories = DRIVER_ROW_FACTORIES if driver_rows else ROW_FACTORIES
        shapes = {EXEC_PROFILE_DEFAULT: resolve_row_factory(self.row_factory, factories)}
        shapes.update(factories)
        for name, row_factory in shapes.items():
            # The profiles share one load-balancing policy, as the driver's own clones do.
            profiles.setdefault(
                name,
                ExecutionProfile(
                    load_balancing_policy=balancing,
                    retry_policy=retry,
                    request_timeout=self.request_timeout,
                    row_factory=row_factory,
                ),
            )
        options["execution_profiles"] = profiles
        if self.username is not None:
            options["auth_provider"] = PlainTextAuthProvider(self.username, self.password)
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        if self.protocol_version is not None:
            options["protocol_version"] = self.protocol_version
        # One connection attempt gets half the budget, so a node that accepts and never
        # answers (a contact point tried first, or a peer whose pool the driver's session
        # waits on) leaves time for the live ones instead of failing the whole connect.
        options.setdefault("connect_timeout", self.connect_timeout / 2)
        options.setdefault(
            "reconnection_policy",
            ExponentialReconnectionPolicy(
                RECONNECT_BASE_DELAY, RECONNECT_MAX_DELAY, max_attempts=None
            ),
        )
        options["contact_points"] = [
            host if port == self.port else (host, port) for host, port in self.endpoints
        ]
        options["port"] = self.port
        return options

    @classmethod
    def from_env(
        cls,
        prefix: str = "CASSANDRA_",
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> CassandraConfig:
        """Read settings from ``{prefix}CONTACT_POINTS``, ``{prefix}PORT`` and friends.

        Unset or empty variables keep the defaults; ``overrides`` win over the environment. A
        malformed value raises ``ConfigError`` naming the variable, so a typo in a deployment
        manifest fails loudly at startup rather than as a connection timeout later.
        """
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}

        def text(name: str) -> str | None:
            value = env.get(prefix + name)
            return value.strip() if value is not None and value.strip() else None

        def number(name: str, kind: type[int] | type[float]) -> None:
            raw = text(name)
            if raw is None:
                return
            try:
                kwargs[name.lower()] = kind(raw)
            except ValueError:
                expected = "an integer" if kind is int else "a number"
                raise ConfigError(f"{prefix}{name}: expected {expected}, got {raw!r}") from None

        points = text("CONTACT_POINTS")
        if points is not None:
            kwargs["contact_points"] = _split_hosts(points, f"{prefix}CONTACT_POINTS")
        for name in ("KEYSPACE", "LOCAL_DC", "USERNAME", "PASSWORD", "ROW_FACTORY", "IO"):
            value = text(name)
            if value is not None:
                kwargs[name.lower()] = value
        for name in (
            "PORT",
            "PROTOCOL_VERSION",
            "MAX_IN_FLIGHT",
            "FETCH_SIZE",
            "USED_HOSTS_PER_REMOTE_DC",
        ):
            number(name, int)
        for name in ("REQUEST_TIMEOUT", "CONNECT_TIMEOUT"):
            number(name, float)
        kwargs.update(overrides)
        given = [name for name in ("username", "password") if kwargs.get(name) is not None]
        if len(given) == 1:
            (present,) = given
            absent = "password" if present == "username" else "username"
            named = {n: n if n in overrides else f"{prefix}{n.upper()}" for n in (present, absent)}
            raise ConfigError(
                f"{named[present]} is set but {named[absent]} is not: password authentication "
                "needs both (set neither to connect without credentials)"
            )
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            # Point at the variable the user actually wrote, not the Python argument name.
            message = str(exc)
            setting = message.split(":", 1)[0]
            if setting.upper() in {k.upper() for k in kwargs} and setting not in overrides:
                message = f"{prefix}{setting.upper()}: {message.split(':', 1)[1].strip()}"
            raise ConfigError(message) from None
