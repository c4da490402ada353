"""Quart: a Flask-style extension, ``Cassandra(app)`` or ``Cassandra().init_app(app)``.

The session is opened in ``before_serving`` and closed in ``after_serving``, the hooks Quart
runs once per serving process (``app.test_app()`` runs them in tests); servers send the
shutdown that triggers ``after_serving`` only once in-flight requests are done, and Quart
waits for its background tasks before it. Handlers, blueprints and other serving hooks call
``get_session()`` inside a request or app context.

Our ``before_serving`` goes first and our ``after_serving`` last, whatever order hooks were
registered in (blueprint hook order is a common surprise), so every other serving hook can use
the session. If a later ``before_serving`` hook fails, Quart skips ``after_serving``: the
session is then closed on Quart's ``got_serving_exception`` signal instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Quart, current_app, has_app_context
from quart.signals import got_serving_exception

from ..config import CassandraConfig
from ..errors import CassandraASGIError, ConfigError, LifespanNotRunError
from ..lifetime import OnConnect, check_config, checked_key, open_app_session
from ..session import AsyncSession

__all__ = ["Cassandra", "ExtensionNotInitializedError", "get_session"]


class ExtensionNotInitializedError(CassandraASGIError, LookupError):
    """``get_session()`` was asked for a key no ``Cassandra`` extension was set up under."""


@dataclass
class _Installed:
    """What ``init_app`` leaves in ``app.extensions[key]``."""

    extension: Cassandra
    session: AsyncSession | None = None


class Cassandra:
    """One Cassandra session per Quart application, for the time it is serving.

    ``config=None`` reads ``CassandraConfig.from_env()`` when serving starts, in each worker.
    ``on_connect(session)`` runs after connecting, before the app accepts requests; if
    connecting or the hook fails, serving does not start. ``key`` names the extension in
    ``app.extensions``: give each cluster its own.
    """

    def __init__(
        self,
        app: Quart | None = None,
        config: CassandraConfig | None = None,
        *,
        key: str = "cassandra",
        on_connect: OnConnect | None = None,
    ) -> None:
        check_config(config)
        self.config = config
        self.key = checked_key("key", key)
        self.on_connect = on_connect
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"Cassandra(key={self.key!r})"

    def init_app(self, app: Quart, config: CassandraConfig | None = None) -> None:
        """Install on ``app``; ``config`` (else the extension's) is this app's own, so one
        module-level extension serves every app an application factory builds."""
        check_config(config)
        config = self.config if config is None else config
        if self.key in app.extensions:
            raise ConfigError(
                f"app.extensions[{self.key!r}] is already taken; give each Cassandra "
                "extension on one app its own key"
            )
        installed = _Installed(self)
        app.extensions[self.key] = installed

        async def open_session() -> None:
            installed.session = await open_app_session(config, self.on_connect, repr(self))
            # Hooks registered after init_app would otherwise run after the session closed.
            app.after_serving_funcs.remove(close_session)
            app.after_serving_funcs.append(close_session)

        async def close_session() -> None:
            session, installed.session = installed.session, None
            if session is not None:
                await session.close()

        async def close_if_serving_failed(sender: Quart, **_: object) -> None:
            # Quart runs no after_serving when a later before_serving hook fails.
            await close_session()

        app.before_serving_funcs.insert(0, open_session)
        app.after_serving_funcs.append(close_session)
        got_serving_exception.connect(close_if_serving_failed, sender=app, weak=False)

    def get_session(self) -> AsyncSession:
        """The current application's session under this extension's key."""
        return get_session(self.key)


def get_session(key: str = "cassandra") -> AsyncSession:
    """The session of the current Quart app; needs a request or app context."""
    if not has_app_context():  # a request context always has an app context too
        raise RuntimeError(
            "cassandra_asgi.adapters.quart.get_session() needs a request or app context "
            "(call it in a handler or serving hook, or inside `async with app.app_context()`)"
        )
    installed = current_app.extensions.get(key)
    if not isinstance(installed, _Installed):
        raise ExtensionNotInitializedError(
            f"no Cassandra extension under app.extensions[{key!r}] on {current_app.name!r}: "
            f"create it with Cassandra(app, key={key!r}) or call init_app(app)"
        )
    if installed.session is None:
        raise LifespanNotRunError(
            f"{installed.extension!r} has no session: the app is not serving (its "
            "before_serving hooks have not run, or after_serving has). Serve it with an ASGI "
            "server, or test inside `async with app.test_app() as test_app:` and use "
            "test_app.test_client()."
        )
    return installed.session
