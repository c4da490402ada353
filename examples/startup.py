"""How the examples start under a plain server: settings read at startup, the library's logs shown.

Each ASGI example ends with ``app = app_from_env(create_app)``, so ``uvicorn fastapi_app:app``
(or hypercorn, granian...) reads the ``CASSANDRA_*`` variables when it starts the app, not when
it imports the module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cassandra_asgi import CassandraConfig

__all__ = ["app_from_env", "show_library_logs"]

#: Any ASGI 3 application.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def show_library_logs() -> None:
    """Print cassandra-asgi's (and the examples') INFO lines and everything's warnings.

    uvicorn configures only its own loggers. Without a handler on the root logger, the
    library's INFO lines (connected, closed) are dropped and warnings come out bare. This
    leaves alone logging that is already configured.
    """
    logging.basicConfig(format="%(levelname)-8s %(name)s: %(message)s")
    for name in ("cassandra_asgi", "notes"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def app_from_env(build: Callable[[CassandraConfig], ASGIApp]) -> ASGIApp:
    """An ASGI app that runs ``build(CassandraConfig.from_env())`` each time a server starts it.

    Building at import (``app = create_app(CassandraConfig.from_env())``) would turn a malformed
    variable into an import traceback. Built here, the error fails the lifespan startup with
    its one-line message, as ``CassandraMiddleware(config=None)`` reports it, and the server
    exits without serving.
    """
    built: ASGIApp | None = None

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal built
        if scope["type"] == "lifespan" or built is None:
            show_library_logs()
            try:
                built = build(CassandraConfig.from_env())
            except ValueError as exc:  # ConfigError naming the variable, or a bad keyspace name
                if scope["type"] != "lifespan":
                    raise
                await receive()  # lifespan.startup
                await send(
                    {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
                )
                return
        await built(scope, receive, send)

    return app
