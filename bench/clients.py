"""Opening the clients that are not ours: optional packages, and the native-code drivers.

The point reads and the HTTP app built on acsylla connect the native clients here, so both
sections measure a client set up the same way against the same target.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from cassandra_asgi.config import CassandraConfig

__all__ = ["ContenderUnavailable", "acsylla_session", "import_optional", "scyllapy_client"]


class ContenderUnavailable(Exception):
    """The contender cannot run here (not installed, incompatible); the message says why."""


def import_optional(module: str, distribution: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ContenderUnavailable(
            f"{distribution} is not installed (pip install {distribution}): {exc}"
        ) from exc


def _native_endpoints(config: CassandraConfig, client: str) -> tuple[tuple[str, int], ...]:
    if config.ssl_context is not None:
        raise ContenderUnavailable(
            f"the target uses TLS and the bench hands {client} no certificate files"
        )
    return config.endpoints


async def scyllapy_client(config: CassandraConfig) -> Any:
    """A started ``scyllapy.Scylla`` (the Rust driver) for ``config``'s target."""
    module = import_optional("scyllapy", "scyllapy")
    points = [
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for host, port in _native_endpoints(config, "scyllapy")
    ]
    client = module.Scylla(points, username=config.username, password=config.password)
    await asyncio.wait_for(client.startup(), config.connect_timeout * 3)
    return client


async def acsylla_session(config: CassandraConfig) -> Any:
    """An ``acsylla`` session (the C++ driver) for ``config``'s target.

    It negotiates the protocol version itself (v4 at most) unless ``config`` pins one.
    """
    module = import_optional("acsylla", "acsylla")
    endpoints = _native_endpoints(config, "acsylla")
    ports = {port for _, port in endpoints}
    if len(ports) != 1:
        raise ContenderUnavailable(
            f"acsylla takes one port for every contact point; the target has {sorted(ports)}"
        )
    options: dict[str, Any] = {}
    if config.protocol_version is not None:
        options["protocol_version"] = config.protocol_version
    cluster = module.create_cluster(
        [host for host, _ in endpoints],
        port=ports.pop(),
        username=config.username,
        password=config.password,
        connect_timeout=config.connect_timeout,
        request_timeout=config.request_timeout,
        **options,
    )
    return await cluster.create_session()
