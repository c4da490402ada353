"""FastAPI: the application's session as a typed dependency, ``session: CassandraSession``.

FastAPI hands out resources through ``Annotated[T, Depends(...)]`` aliases, so that is the form
offered here. The dependency opens nothing: it returns the one session of the application,
found in the request's lifespan state, where ``CassandraMiddleware`` puts it and where a
FastAPI lifespan that yields ``{"cassandra": session}`` puts it too. Handing out the
app-lifetime session (rather than opening one per request in a ``yield`` dependency) also
keeps it usable from background tasks, which FastAPI >= 0.106 runs after ``yield``
dependencies have finished.

Several clusters: one middleware (or lifespan entry) per cluster under its own ``state_key``,
and ``Annotated[AsyncSession, Depends(session_dependency("analytics"))]`` for each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from ..lifetime import checked_key
from ..session import AsyncSession
from .asgi import SessionNotFoundError, get_session

__all__ = ["CassandraSession", "session_dependency"]


def session_dependency(state_key: str = "cassandra") -> Callable[[HTTPConnection], AsyncSession]:
    """The FastAPI dependency returning the session stored under ``state_key``.

    Works in HTTP and websocket routes, and in apps mounted under the one that holds the
    session. The same key always gives the same callable, so tests can override it with
    ``app.dependency_overrides[session_dependency()] = ...``.
    """
    return _dependency_for(checked_key("state_key", state_key))


@functools.cache
def _dependency_for(state_key: str) -> Callable[[HTTPConnection], AsyncSession]:
    def cassandra_session(connection: HTTPConnection) -> AsyncSession:
        try:
            return get_session(connection, state_key)
        except SessionNotFoundError as exc:
            exc.add_note(
                f"With FastAPI, either add the middleware (app.add_middleware(CassandraMiddleware"
                f", state_key={state_key!r})) or yield {{{state_key!r}: session}} from the "
                "app's lifespan."
            )
            raise

    cassandra_session.__qualname__ = f"session_dependency({state_key!r})"
    return cassandra_session


#: The application's session, typed: ``async def handler(session: CassandraSession)``.
CassandraSession = Annotated[AsyncSession, Depends(session_dependency())]
