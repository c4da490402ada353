"""get_session() handed the application instead of a request says where startup work goes."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp import web
from fastapi import FastAPI

from cassandra_asgi.adapters import aiohttp as aiohttp_adapter
from cassandra_asgi.adapters.asgi import CassandraMiddleware, get_session


@pytest.mark.parametrize(
    "app", [FastAPI(), CassandraMiddleware(FastAPI())], ids=["fastapi", "middleware"]
)
def test_an_asgi_app_is_pointed_to_on_connect_or_its_own_lifespan(app: Any) -> None:
    with pytest.raises(TypeError, match="not a request") as caught:
        get_session(app)
    assert "on_connect" in str(caught.value)
    assert "lifespan" in str(caught.value)


def test_an_aiohttp_application_is_pointed_to_a_cleanup_context() -> None:
    app = web.Application()
    with pytest.raises(TypeError, match=r"not a request.*cleanup context.*app\[CASSANDRA\]"):
        aiohttp_adapter.get_session(cast(web.Request, app))
