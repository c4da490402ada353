"""cluster_kwargs(): what a driver Cluster gets from a CassandraConfig (no network needed)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster
from cassandra.policies import RoundRobinPolicy, TokenAwarePolicy
from cassandra.query import dict_factory, named_tuple_factory, tuple_factory

from cassandra_asgi import CassandraConfig
from cassandra_asgi.connect import build_cluster
from cassandra_asgi.rows import dict_rows, named_tuple_rows, tuple_rows
from cassandra_asgi.testing.pytest_plugin import driver_cluster_kwargs


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
    assert cluster.contact_points == [("127.0.0.1", 9043), "127.0.0.2"]


def test_the_port_reaches_the_cluster_for_the_nodes_it_discovers(built: list[Any]) -> None:
    kwargs = CassandraConfig(contact_points=["127.0.0.1"], port=9044).cluster_kwargs()
    assert (kwargs["contact_points"], kwargs["port"]) == (["127.0.0.1"], 9044)
    assert _build(built, contact_points=["127.0.0.1"], port=9044).port == 9044


@pytest.mark.parametrize(
    "kwargs_of", [CassandraConfig.cluster_kwargs, driver_cluster_kwargs], ids=["config", "plugin"]
)
def test_every_profile_names_its_load_balancing_policy_so_the_driver_does_not_warn(
    kwargs_of: Callable[[CassandraConfig], dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cassandra.cluster"), warnings.catch_warnings():
        warnings.simplefilter("error")  # the legacy-parameter DeprecationWarning as well
        cluster = Cluster(**kwargs_of(CassandraConfig(local_dc="dc1")))
    cluster.shutdown()
    assert [r.getMessage() for r in caplog.records if "load" in r.getMessage()] == []


def test_each_call_builds_new_policies() -> None:
    config = CassandraConfig()
    first, second = config.cluster_kwargs(), config.cluster_kwargs()
    policy = first["execution_profiles"][EXEC_PROFILE_DEFAULT].load_balancing_policy
    assert policy is not second["execution_profiles"][EXEC_PROFILE_DEFAULT].load_balancing_policy


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


def test_driver_rows_give_the_driver_its_own_row_factories() -> None:
    profiles = CassandraConfig(row_factory="dict").cluster_kwargs(driver_rows=True)[
        "execution_profiles"
    ]
    assert profiles[EXEC_PROFILE_DEFAULT].row_factory is dict_factory
    assert profiles["named_tuple"].row_factory is named_tuple_factory
    assert profiles["tuple"].row_factory is tuple_factory
