"""One Cassandra session per ASGI application, handed to every request through the scope.

The session is opened at lifespan startup, before the wrapped app sees ``lifespan.startup``, so
the app's own lifespan can already use it. Requests read it from ``scope["state"]``, which
servers copy from the lifespan state into each request: that is what makes
``request.state.cassandra`` work, in mounted sub-apps too (they never get a lifespan).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..config import CassandraConfig
from ..errors import CassandraASGIError, ConfigError, LifespanNotRunError, StartupHookError
from ..health import DEFAULT_HEALTH_TIMEOUT
from ..lifetime import LoopSessions, OnConnect, check_config, checked_key, log, open_app_session
from ..session import AsyncSession

__all__ = [
    "CassandraMiddleware",
    "HealthEndpoint",
    "SessionNotFoundError",
    "get_session",
    "health_endpoint",
]

#: asgiref's TypedDict scopes and the ``MutableMapping`` scopes of Starlette, httpx and uvicorn
#: are not assignable to one another, so the public boundary is loose, as Starlette's own is.
AnyASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

#: Lifespan-scope key of the state keys this app's middlewares claimed, for servers sending
#: no ``state`` dict, where a duplicate key would otherwise go unnoticed.
_CLAIMED_KEYS = "cassandra_asgi.state_keys"


class SessionNotFoundError(CassandraASGIError, LookupError):
    """``get_session()`` found no session where ``CassandraMiddleware`` would have put it."""


class _Phase(enum.Enum):
    """Where one lifespan conversation stands, as the wrapped app sees it."""

    WAITING = "the app has not read lifespan.startup"
    STARTING = "the app read lifespan.startup and has not answered"
    RUNNING = "startup is complete; the server has not sent lifespan.shutdown"
    STOPPING = "the server sent lifespan.shutdown; the app has not answered"
    ENDED = "the app answered startup.failed or shutdown: the session is closed"


class CassandraMiddleware:
    """Open a session at startup, share it with every request, close it at shutdown.

    ``config=None`` reads ``CassandraConfig.from_env()`` at each startup (not here), so an app
    built at import time still picks up variables a test or a process manager sets later.
    ``on_connect(session)`` runs after each connect and before the app sees startup, since a
    Starlette or FastAPI lifespan function is never handed the scope state.
    """

    def __init__(
        self,
        app: AnyASGIApp,
        config: CassandraConfig | None = None,
        *,
        state_key: str = "cassandra",
        lazy: bool = False,
        on_connect: OnConnect | None = None,
    ) -> None:
        check_config(config)
        self.app, self.config, self.lazy, self.on_connect = app, config, lazy, on_connect
        self.state_key = checked_key("state_key", state_key)
        self._name = f"CassandraMiddleware(state_key={state_key!r})"
        # Our own reference: granian clears the state dict at shutdown, and servers without
        # lifespan state need the session put into each request.
        self._lifespan_session: AsyncSession | None = None
        self._lazy = LoopSessions(lambda: open_app_session(self.config, self.on_connect))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        if scope["type"] in ("http", "websocket"):
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            if state.get(self.state_key) is None:
                session = self._lifespan_session
                state[self.state_key] = session or await self._lazy_session()
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close this loop's ``lazy=True`` session (a request opens another) and dead loops'."""
        await self._lazy.close()

    async def _lazy_session(self) -> AsyncSession:
        if not self.lazy:
            raise LifespanNotRunError(
                f"{self._name} has no Cassandra session: the ASGI server never ran the lifespan "
                "protocol, which is when it connects. Run the server with lifespan enabled "
                "(uvicorn: --lifespan on or auto, the default), use Starlette's TestClient as "
                "a context manager (`with TestClient(app) as client:`), wrap the app in "
                "asgi_lifespan.LifespanManager when testing with httpx.ASGITransport, or pass "
                "lazy=True to connect on the first request."
            )
        return await self._lazy.get()

    async def _lifespan(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Relay the lifespan between the server and the app. The session closes as soon as
        the app is done with it, before the server hears so; what the app leaves unanswered
        (all of it, for an app without lifespan support), the middleware answers."""
        first = await receive()
        if first["type"] != "lifespan.startup":
            raise RuntimeError(f"ASGI server broke the lifespan protocol: got {first['type']!r}")
        session = await self._publish(scope, send)
        phase = _Phase.WAITING

        async def app_receive() -> dict[str, Any]:
            nonlocal phase
            if phase is _Phase.WAITING:  # the middleware already took it from the server
                phase = _Phase.STARTING
                return {"type": "lifespan.startup"}
            message: dict[str, Any] = await receive()
            if message["type"] == "lifespan.shutdown":
                phase = _Phase.STOPPING
            return message

        async def app_send(message: dict[str, Any]) -> None:
            nonlocal phase
            if message["type"] == "lifespan.startup.complete":
                phase = _Phase.RUNNING
            else:  # startup.failed, shutdown.complete or shutdown.failed: done with the session
                phase = _Phase.ENDED
                failure = await self._unpublish(scope, session)
                if failure and message["type"] == "lifespan.shutdown.complete":
                    message = {"type": "lifespan.shutdown.failed", "message": failure}
            await send(message)

        try:
            try:
                await self.app(scope, app_receive, app_send)
            except Exception as exc:
                if phase is not _Phase.WAITING:  # else: how an app says it has no lifespan
                    step = {_Phase.STARTING: "startup", _Phase.STOPPING: "shutdown"}.get(phase)
                    if step is not None:
                        failed = f"{self._name}: application {step} failed: {exc}"
                        await app_send({"type": f"lifespan.{step}.failed", "message": failed})
                    raise
                log.debug("the wrapped app does not handle lifespan (%r)", exc)
            if phase in (_Phase.WAITING, _Phase.STARTING):
                await app_send({"type": "lifespan.startup.complete"})
            while phase is _Phase.RUNNING:
                await app_receive()
            if phase is _Phase.STOPPING:
                await app_send({"type": "lifespan.shutdown.complete"})
        finally:
            if phase is not _Phase.ENDED:  # the app raised, or the task was cancelled
                await self._unpublish(scope, session)

    async def _publish(self, scope: dict[str, Any], send: Any) -> AsyncSession:
        """Connect and put the session in the lifespan state. On failure answer
        ``startup.failed``: uvicorn's ``lifespan="auto"`` takes a bare exception for "no
        lifespan support" and would serve without a database."""
        state: dict[str, Any] | None = scope.get("state")
        claimed: set[str] = scope.setdefault(_CLAIMED_KEYS, set())
        try:
            if self.state_key in claimed or (state is not None and self.state_key in state):
                raise ConfigError(
                    f"state_key {self.state_key!r} is already used in this application's "
                    "lifespan state (two CassandraMiddleware with the same key?); give each "
                    "middleware its own state_key"
                )
            session = await open_app_session(self.config, self.on_connect)
        except Exception as exc:
            failed = isinstance(exc, StartupHookError)
            what = "startup failed" if failed else "no Cassandra session at startup"
            await send(
                {"type": "lifespan.startup.failed", "message": f"{self._name}: {what}: {exc}"}
            )
            raise
        claimed.add(self.state_key)
        self._lifespan_session = session
        if state is not None:
            state[self.state_key] = session
        return session

    async def _unpublish(self, scope: dict[str, Any], session: AsyncSession) -> str | None:
        """Take the session out of the lifespan state and close it; describe a failure."""
        scope[_CLAIMED_KEYS].discard(self.state_key)
        self._lifespan_session = None
        state = scope.get("state")
        if state is not None and state.get(self.state_key) is session:
            del state[self.state_key]
        try:
            await session.close()
        except Exception as exc:
            log.exception("closing the Cassandra session failed")
            return f"{self._name}: closing the Cassandra session failed: {exc}"
        return None


def get_session(request_or_scope: Any, state_key: str = "cassandra") -> AsyncSession:
    """The session ``CassandraMiddleware`` put in a request's scope: from anything with a
    ``.scope`` (Starlette/FastAPI ``Request``, ``WebSocket``) or a raw ASGI scope."""
    scope = getattr(request_or_scope, "scope", request_or_scope)
    if not isinstance(scope, Mapping):
        given = type(request_or_scope).__name__
        raise TypeError(
            f"get_session() was given an application ({given}), not a request: the session is "
            "handed to requests, and exists only while the app runs. For work at startup pass "
            "CassandraMiddleware(app, on_connect=hook), which runs `await hook(session)` after "
            "connecting, or open the session in your own lifespan with `async with "
            "connect(config) as session:`"
            if callable(request_or_scope)
            else f"get_session() expects a request, a websocket or an ASGI scope, got {given}"
        )
    state = scope.get("state")
    session = state.get(state_key) if isinstance(state, Mapping) else None
    if not isinstance(session, AsyncSession):
        raise SessionNotFoundError(
            f"no Cassandra session in scope['state'][{state_key!r}]: wrap the outermost "
            f"application in CassandraMiddleware(app, state_key={state_key!r}) (mounted "
            "sub-apps inherit it) and make sure the request went through it"
        )
    return session


class HealthEndpoint:
    """``session.health()`` as JSON, 200 when ok, 503 when not. A class, so that Starlette's
    ``Route`` (and FastAPI's ``add_route``) serve it as an ASGI app instead of calling it with
    a request."""

    def __init__(self, state_key: str = "cassandra", timeout: float = DEFAULT_HEALTH_TIMEOUT):
        self.state_key, self.timeout = state_key, timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the health endpoint serves HTTP, not {scope['type']!r}")
        report = await get_session(scope, self.state_key).health(timeout=self.timeout)
        body = json.dumps(report.as_dict()).encode()
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": report.http_status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def health_endpoint(
    state_key: str = "cassandra", *, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> HealthEndpoint:
    """For a readiness probe: ``Route("/health", health_endpoint())`` (Starlette),
    ``app.add_route("/health", health_endpoint())`` (FastAPI). ``timeout``: seconds the
    check's query may take (docs/observability.md has the policy)."""
    return HealthEndpoint(state_key, timeout)
