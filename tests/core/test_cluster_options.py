"""cluster_kwargs(): what a driver Cluster gets from a CassandraConfig (no network needed)."""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.connection import DefaultEndPoint
from cassandra.policies import (
    ConstantReconnectionPolicy,
    HostDistance,
    RoundRobinPolicy,
    SimpleConvictionPolicy,
    TokenAwarePolicy,
)
from cassandra.pool import Host
from cassandra.query import dict_factory, named_tuple_factory, tuple_factory

from cassandra_asgi import CassandraConfig, ConfigError
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
    cluster = _build(built, compression=False, control_connection_timeout=2.5)
    assert cluster.compression is False
    assert cluster.control_connection_timeout == 2.5


def test_one_connection_attempt_gets_half_of_connect_timeout(built: list[Any]) -> None:
    assert _build(built, connect_timeout=3.0).connect_timeout == 1.5


def test_driver_rows_give_the_driver_its_own_row_factories() -> None:
    profiles = CassandraConfig(row_factory="dict").cluster_kwargs(driver_rows=True)[
        "execution_profiles"
    ]
    assert profiles[EXEC_PROFILE_DEFAULT].row_factory is dict_factory
    assert profiles["named_tuple"].row_factory is named_tuple_factory
    assert profiles["tuple"].row_factory is tuple_factory


def test_by_default_a_down_node_is_retried_at_least_every_second_for_ever() -> None:
    policy = CassandraConfig().cluster_kwargs()["reconnection_policy"]
    delays = list(itertools.islice(policy.new_schedule(), 1000))
    assert len(delays) == 1000  # the driver's own schedule gives up after 64 attempts
    assert delays[0] <= 0.1 * 1.15 + 1e-9  # the driver adds up to 15% of jitter
    assert max(delays) <= 1.0 * 1.15 + 1e-9
    assert delays[-1] >= 1.0 * 0.85 - 1e-9


def test_a_reconnection_policy_of_ones_own_wins() -> None:
    own = ConstantReconnectionPolicy(5.0)
    assert CassandraConfig(reconnection_policy=own).cluster_kwargs()["reconnection_policy"] is own


def _distances(config: CassandraConfig) -> dict[str, Any]:
    """How the default profile's policy ranks a dc1 node and two dc2 nodes."""
    policy = config.cluster_kwargs()["execution_profiles"][EXEC_PROFILE_DEFAULT]
    hosts = [
        Host(DefaultEndPoint(address), SimpleConvictionPolicy, datacenter=dc, rack="r1")
        for address, dc in (("127.0.0.1", "dc1"), ("127.0.0.2", "dc2"), ("127.0.0.3", "dc2"))
    ]
    policy.load_balancing_policy.populate(SimpleNamespace(metadata=None), hosts)
    return {host.address: policy.load_balancing_policy.distance(host) for host in hosts}


def test_remote_dc_fallback_is_off_by_default_and_used_hosts_per_remote_dc_turns_it_on() -> None:
    assert _distances(CassandraConfig(local_dc="dc1")) == {
        "127.0.0.1": HostDistance.LOCAL,
        "127.0.0.2": HostDistance.IGNORED,
        "127.0.0.3": HostDistance.IGNORED,
    }
    fallback = _distances(CassandraConfig(local_dc="dc1", used_hosts_per_remote_dc=1))
    assert fallback["127.0.0.1"] == HostDistance.LOCAL
    assert sorted(fallback[a] for a in ("127.0.0.2", "127.0.0.3")) == sorted(
        [HostDistance.REMOTE, HostDistance.IGNORED]
    )


@pytest.mark.parametrize("value", [-1, True, 1.5, "1"])
def test_used_hosts_per_remote_dc_must_be_a_non_negative_integer(value: Any) -> None:
    with pytest.raises(ConfigError, match="used_hosts_per_remote_dc: expected a non-negative"):
        CassandraConfig(used_hosts_per_remote_dc=value)


def test_used_hosts_per_remote_dc_with_ones_own_policy_is_refused_naming_the_conflict() -> None:
    with pytest.raises(ConfigError, match="with your own load_balancing_policy"):
        CassandraConfig(used_hosts_per_remote_dc=1, load_balancing_policy=RoundRobinPolicy())


def test_used_hosts_per_remote_dc_is_read_from_the_environment() -> None:
    config = CassandraConfig.from_env(environ={"CASSANDRA_USED_HOSTS_PER_REMOTE_DC": "2"})
    assert config.used_hosts_per_remote_dc == 2
    with pytest.raises(ConfigError, match="CASSANDRA_USED_HOSTS_PER_REMOTE_DC"):
        CassandraConfig.from_env(environ={"CASSANDRA_USED_HOSTS_PER_REMOTE_DC": "two"})


def test_used_hosts_per_remote_dc_with_ones_own_default_profile_is_refused_too() -> None:
    own = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
    with pytest.raises(ConfigError, match="with your own load_balancing_policy"):
        CassandraConfig(used_hosts_per_remote_dc=1, execution_profiles={EXEC_PROFILE_DEFAULT: own})
