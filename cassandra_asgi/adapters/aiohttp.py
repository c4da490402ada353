"""aiohttp.web integration: one ``AsyncSession`` per application, tied to its cleanup context.

The session is opened when the application starts and closed in the cleanup context, which
aiohttp runs only after graceful shutdown has waited for running handlers: queries already under
way finish before the session goes away. Connecting, closing and everything in between is the
core's job (``cassandra_asgi.connect``); this module only wires its lifetime to the app.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from aiohttp import web

from ..config import CassandraConfig
from ..errors import CassandraASGIError, LifespanNotRunError
from ..health import DEFAULT_HEALTH_TIMEOUT
from ..lifetime import app_session
from ..session import AsyncSession

__all__ = [
    "CASSANDRA",
    "AlreadySetUpError",
    "AppNotStartedError",
    "CassandraContext",
    "SessionNotConfiguredError",
    "cassandra_context",
    "get_session",
    "health_handler",
    "make_health_handler",
    "setup",
]

#: The default key the session is stored under; create another ``web.AppKey`` per extra cluster.
CASSANDRA: web.AppKey[AsyncSession] = web.AppKey("cassandra", AsyncSession)

#: What ``cassandra_context()`` returns: an entry for ``app.cleanup_ctx``.
CassandraContext = Callable[[web.Application], AsyncIterator[None]]

# Which key each context made by this module stores its session under. Lets ``setup()`` refuse a
# duplicate and ``get_session()`` tell "never set up" from "set up but not started".
_CONTEXT_KEYS: weakref.WeakKeyDictionary[Callable[..., Any], web.AppKey[AsyncSession]] = (
    weakref.WeakKeyDictionary()
)


class SessionNotConfiguredError(CassandraASGIError, LookupError):
    """A handler asked for a session that no application on its route ever set up."""


class AppNotStartedError(LifespanNotRunError):
    """The session is set up but the application has not run its startup (no session yet)."""


class AlreadySetUpError(CassandraASGIError, RuntimeError):
    """``setup()`` was called twice for the same key on the same application."""


def _require_app_key(app_key: object) -> None:
    # String keys work in aiohttp but warn and collide silently between libraries.
    if not isinstance(app_key, web.AppKey):
        raise TypeError(
            f"app_key must be a web.AppKey, got {type(app_key).__name__} {app_key!r}; "
            'create one with web.AppKey("name", AsyncSession)'
        )


def _is_set_up(app: web.Application, app_key: web.AppKey[AsyncSession]) -> bool:
    return any(_CONTEXT_KEYS.get(entry) is app_key for entry in app.cleanup_ctx)


def cassandra_context(
    config: CassandraConfig | None = None, app_key: web.AppKey[AsyncSession] = CASSANDRA
) -> CassandraContext:
    """Build a cleanup context that owns one session: ``app.cleanup_ctx.append(...)``.

    ``config=None`` reads ``CassandraConfig.from_env()`` when the app starts (so each worker
    process reads its own environment and connects after any fork).
    """
    _require_app_key(app_key)

    async def cassandra_session_context(app: web.Application) -> AsyncIterator[None]:
        if app_key in app and not app[app_key].closed:  # a closed one is from a previous run
            raise AlreadySetUpError(
                f"{app_key!r} already holds an open session on this application; "
                "give each cluster its own web.AppKey"
            )
        async with app_session(config, owner=repr(app_key)) as session:
            app[app_key] = session
            yield

    _CONTEXT_KEYS[cassandra_session_context] = app_key
    return cassandra_session_context


def setup(
    app: web.Application,
    config: CassandraConfig | None = None,
    app_key: web.AppKey[AsyncSession] = CASSANDRA,
) -> None:
    """Install a session on ``app``: the one-line form of appending ``cassandra_context``."""
    _require_app_key(app_key)
    if _is_set_up(app, app_key):
        raise AlreadySetUpError(
            f"a Cassandra session is already set up on this application under {app_key!r}; "
            'for a second cluster pass app_key=web.AppKey("other", AsyncSession)'
        )
    app.cleanup_ctx.append(cassandra_context(config, app_key))


def get_session(
    request: web.Request, app_key: web.AppKey[AsyncSession] = CASSANDRA
) -> AsyncSession:
    """Return the application's session; works in sub-applications' handlers too.

    Looks the key up through ``request.config_dict``, so a sub-app sees its parents' sessions.
    """
    _require_app_key(app_key)
    if isinstance(cast(object, request), web.Application):  # a mistake type checkers catch
        raise TypeError(
            "get_session() was given the application, not a request: for work at startup "
            "append a cleanup context after setup(app) and read app[CASSANDRA] there"
        )
    try:
        return request.config_dict[app_key]
    except KeyError:
        pass
    if any(_is_set_up(app, app_key) for app in request.match_info.apps):
        raise AppNotStartedError(
            f"no Cassandra session under {app_key!r} yet: the application has not run its "
            "startup (serve it with web.run_app/AppRunner or aiohttp's TestServer/TestClient; "
            "make_mocked_request runs no startup)"
        )
    raise SessionNotConfiguredError(
        f"no Cassandra session under {app_key!r}: call "
        "cassandra_asgi.adapters.aiohttp.setup(app) or "
        "app.cleanup_ctx.append(cassandra_context()) on this application or a parent"
    )


def make_health_handler(
    app_key: web.AppKey[AsyncSession] = CASSANDRA, *, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering ``session.health()`` as JSON: 200 when ok, 503 when not.
    ``timeout``: seconds the check's query may take (docs/observability.md has the policy)."""
    _require_app_key(app_key)

    async def health(request: web.Request) -> web.Response:
        report = await get_session(request, app_key).health(timeout=timeout)
        return web.json_response(
            report.as_dict(), status=report.http_status, headers={"Cache-Control": "no-store"}
        )

    return health


#: ``app.router.add_get("/health", health_handler)``: the health of the default session.
health_handler = make_health_handler()
