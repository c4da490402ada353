"""Litestar: an init plugin that owns one session for the app's lifespan and injects it.

``Litestar(plugins=[CassandraPlugin()])`` and a handler parameter named after the dependency
is all an application needs, the shape of Litestar's own database integrations:
``cassandra: NamedDependency[AsyncSession]`` (Litestar >= 2.23; it is ``AsyncSession`` to type
checkers), or plain ``cassandra: AsyncSession``, which Litestar 2.24+ still injects but warns
about, since it will stop inferring dependencies in 3.0. The plugin adds to the app's config:

- a lifespan context, entered before every other one and before the ``on_startup`` hooks, so
  those can already use ``app.state.cassandra``; it closes the session when the app shuts
  down, which servers do after in-flight requests have finished;
- the dependency ``dependency_key``, the session from the app's state;
- ``AsyncSession`` in the signature namespace, so handlers may import it under
  ``TYPE_CHECKING`` only.

Several clusters: one plugin each, with its own ``dependency_key`` and ``state_key``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import InitPlugin

from ..config import CassandraConfig
from ..errors import ConfigError, LifespanNotRunError
from ..lifetime import OnConnect, app_session, check_config, checked_key
from ..session import AsyncSession

__all__ = ["CassandraPlugin"]


class CassandraPlugin(InitPlugin):
    """One Cassandra session per application, for its lifespan, as the dependency
    ``dependency_key``.

    ``config=None`` reads ``CassandraConfig.from_env()`` at each startup, not here, so an app
    built at import time connects with the environment of the worker that serves it.
    ``on_connect(session)`` runs after connecting and before the app accepts requests; if
    connecting or the hook fails, the app does not start (the server exits non-zero).
    """

    __slots__ = ("config", "dependency_key", "on_connect", "state_key")

    def __init__(
        self,
        config: CassandraConfig | None = None,
        *,
        dependency_key: str = "cassandra",
        state_key: str = "cassandra",
        on_connect: OnConnect | None = None,
    ) -> None:
        check_config(config)
        self.config = config
        self.dependency_key = checked_key("dependency_key", dependency_key)
        self.state_key = checked_key("state_key", state_key)
        self.on_connect = on_connect

    def __repr__(self) -> str:
        return (
            f"CassandraPlugin(dependency_key={self.dependency_key!r}, state_key={self.state_key!r})"
        )

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        for other in app_config.plugins:
            if not isinstance(other, CassandraPlugin) or other is self:
                continue
            for name in ("state_key", "dependency_key"):
                if getattr(other, name) == (key := getattr(self, name)):
                    raise ConfigError(
                        f"two CassandraPlugin share {name} {key!r}; give each cluster its own "
                        "state_key and dependency_key"
                    )
        if self.dependency_key in app_config.dependencies:
            raise ConfigError(
                f"{self!r}: the app already has a dependency named {self.dependency_key!r}; "
                "pass another dependency_key"
            )
        app_config.dependencies[self.dependency_key] = Provide(
            self.provide_session, sync_to_thread=False
        )
        app_config.lifespan.insert(0, self.lifespan)
        app_config.signature_namespace.setdefault("AsyncSession", AsyncSession)
        return app_config

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Open the session at startup, keep it in ``app.state``, close it at shutdown."""
        async with app_session(self.config, self.on_connect, repr(self)) as session:
            app.state[self.state_key] = session
            try:
                yield
            finally:
                if app.state.get(self.state_key) is session:
                    del app.state[self.state_key]

    def provide_session(self, state: State) -> AsyncSession:
        """The dependency: the session the lifespan put in the app's state."""
        session = state.get(self.state_key)
        if not isinstance(session, AsyncSession):
            raise LifespanNotRunError(
                f"{self!r} has no Cassandra session: the app's lifespan has not run, which is "
                "when it connects. Serve the app with an ASGI server (lifespan on, the "
                "default) or test it inside `async with AsyncTestClient(app)` / "
                "`with TestClient(app)`."
            )
        return session
