"""build_cluster(): what the driver Cluster gets from a CassandraConfig (no network needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.policies import RoundRobinPolicy, TokenAwarePolicy

from cassandra_asgi import CassandraConfig
from cassandra_asgi.connect import build_cluster
from cassandra_asgi.rows import dict_rows, named_tuple_rows, tuple_rows


@pytest.fixture
def built() -> Iterator[list[Any]]:
    clusters: list[Any] = []
    yield clusters
    for cluster in clusters:
        cluster.shutdown()


def _build(built: list[Any], **settings: Any) -> Any:
    cluster = build_cluster(CassandraConfig(**settings))
    built.append(cluster)
    return cluster


def _profile(cluster: Any, name: Any = EXEC_PROFILE_DEFAULT) -> Any:
    return cluster.profile_manager.profiles[name]


def test_contact_points_keep_their_own_ports(built: list[Any]) -> None:
    cluster = _build(built, contact_points=["127.0.0.1:9043", "127.0.0.2"], port=9044)
    assert cluster.contact_points == [("127.0.0.1", 9043), ("127.0.0.2", 9044)]


def test_default_profile_uses_the_request_timeout_and_cached_named_tuples(
    built: list[Any],
) -> None:
    profile = _profile(_build(built, request_timeout=3.5))
    assert profile.request_timeout == 3.5
    assert profile.row_factory is named_tuple_rows
    assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)


def test_row_factory_setting_picks_the_default_rows(built: list[Any]) -> None:
    assert _profile(_build(built, row_factory="dict")).row_factory is dict_rows


def test_row_shape_profiles_are_available_per_call(built: list[Any]) -> None:
    cluster = _build(built)
    assert _profile(cluster, "dict").row_factory is dict_rows
    assert _profile(cluster, "tuple").row_factory is tuple_rows
    assert _profile(cluster, "named_tuple").row_factory is named_tuple_rows


def test_legacy_load_balancing_policy_is_folded_into_the_profiles(built: list[Any]) -> None:
    cluster = _build(built, load_balancing_policy=RoundRobinPolicy())
    for name in (EXEC_PROFILE_DEFAULT, "dict", "tuple", "named_tuple"):
        assert isinstance(_profile(cluster, name).load_balancing_policy, RoundRobinPolicy)


def test_credentials_become_a_plain_text_auth_provider(built: list[Any]) -> None:
    cluster = _build(built, username="app", password="pw")
    assert isinstance(cluster.auth_provider, PlainTextAuthProvider)


def test_other_cluster_options_pass_through(built: list[Any]) -> None:
    cluster = _build(built, compression=False, connect_timeout=2.5)
    assert cluster.compression is False
    assert cluster.connect_timeout == 2.5
