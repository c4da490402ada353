"""The Prometheus registry behind the FastAPI and aiohttp examples' ``GET /metrics``.

One registry per application, holding the session's collector: the process-wide ``REGISTRY``
would refuse a second app in the same process (the tests run several), and keeps process
metrics the examples do not need.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from cassandra_asgi import AsyncSession
from cassandra_asgi.metrics import PrometheusCollector

__all__ = ["metrics_registry"]


def metrics_registry(session: AsyncSession) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(session))
    return registry
