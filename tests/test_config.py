"""CassandraConfig: a frozen value object, validated on construction, readable from the env."""

from __future__ import annotations

import ssl

import pytest

from cassandra_asgi import CassandraConfig, ConfigError


def test_defaults_match_the_documented_contract() -> None:
    cfg = CassandraConfig()
    assert cfg.contact_points == ("127.0.0.1",)
    assert cfg.port == 9042
    assert cfg.keyspace is None
    assert cfg.connect_timeout == 10.0
    assert cfg.request_timeout == 10.0
    assert cfg.max_in_flight == 1024
    assert cfg.fetch_size == 5000
    assert dict(cfg.cluster_options) == {}


def test_config_is_immutable() -> None:
    cfg = CassandraConfig()
    with pytest.raises(AttributeError, match="immutable"):
        cfg.port = 1


def test_replace_returns_a_changed_copy() -> None:
    cfg = CassandraConfig(keyspace="a")
    other = cfg.replace(keyspace="b")
    assert (cfg.keyspace, other.keyspace) == ("a", "b")
    assert other == CassandraConfig(keyspace="b")


def test_equal_configs_compare_and_hash_equal() -> None:
    a = CassandraConfig(contact_points=["h1", "h2"], idle_heartbeat_interval=5)
    b = CassandraConfig(contact_points=("h1", "h2"), idle_heartbeat_interval=5)
    assert a == b
    assert hash(a) == hash(b)


def test_repr_never_shows_the_password() -> None:
    cfg = CassandraConfig(username="app", password="hunter2-secret")
    assert "hunter2-secret" not in repr(cfg)
    assert "password='***'" in repr(cfg)


def test_contact_points_string_is_split_on_commas() -> None:
    assert CassandraConfig(contact_points="h1, h2").contact_points == ("h1", "h2")


def test_endpoints_resolve_per_host_ports() -> None:
    cfg = CassandraConfig(contact_points=("h1", "h2:9043", "[::1]:9044", "[::1]", "::1"), port=9050)
    assert cfg.endpoints == (
        ("h1", 9050),
        ("h2", 9043),
        ("::1", 9044),
        ("::1", 9050),
        ("::1", 9050),
    )


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"contact_points": ()}, "contact_points"),
        ({"contact_points": ("h:notaport",)}, "contact_points"),
        ({"contact_points": ("[::1",)}, "contact_points"),
        ({"port": 0}, "port"),
        ({"port": "9042"}, "port"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"request_timeout": -1.0}, "request_timeout"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_in_flight": 100_000}, "max_in_flight"),
        ({"fetch_size": 0}, "fetch_size"),
        ({"protocol_version": 2}, "protocol_version"),
        ({"username": "only-user"}, "username"),
        ({"ssl_context": "yes"}, "ssl_context"),
        ({"auth_provider": object()}, "auth_provider"),
    ],
)
def test_bad_values_raise_config_error_naming_the_setting(
    kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        CassandraConfig(**kwargs)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        CassandraConfig(port=-5)


def test_ssl_context_is_accepted() -> None:
    ctx = ssl.create_default_context()
    assert CassandraConfig(ssl_context=ctx).ssl_context is ctx


def test_from_env_reads_every_variable() -> None:
    env = {
        "CASSANDRA_CONTACT_POINTS": "h1,h2:9043",
        "CASSANDRA_PORT": "9100",
        "CASSANDRA_KEYSPACE": "shop",
        "CASSANDRA_LOCAL_DC": "dc2",
        "CASSANDRA_USERNAME": "app",
        "CASSANDRA_PASSWORD": "pw",
        "CASSANDRA_PROTOCOL_VERSION": "4",
        "CASSANDRA_REQUEST_TIMEOUT": "2.5",
        "CASSANDRA_CONNECT_TIMEOUT": "3",
        "CASSANDRA_MAX_IN_FLIGHT": "256",
        "CASSANDRA_FETCH_SIZE": "100",
    }
    cfg = CassandraConfig.from_env(environ=env)
    assert cfg.endpoints == (("h1", 9100), ("h2", 9043))
    assert (cfg.keyspace, cfg.local_dc, cfg.username, cfg.password) == ("shop", "dc2", "app", "pw")
    assert cfg.protocol_version == 4
    assert (cfg.request_timeout, cfg.connect_timeout) == (2.5, 3.0)
    assert (cfg.max_in_flight, cfg.fetch_size) == (256, 100)


def test_from_env_with_nothing_set_gives_defaults() -> None:
    assert CassandraConfig.from_env(environ={}) == CassandraConfig()


def test_from_env_honours_a_custom_prefix() -> None:
    cfg = CassandraConfig.from_env(prefix="ANALYTICS_", environ={"ANALYTICS_KEYSPACE": "events"})
    assert cfg.keyspace == "events"


def test_from_env_overrides_win() -> None:
    cfg = CassandraConfig.from_env(environ={"CASSANDRA_KEYSPACE": "a"}, keyspace="b")
    assert cfg.keyspace == "b"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CASSANDRA_PORT", "ninety"),
        ("CASSANDRA_PORT", "70000"),
        ("CASSANDRA_CONTACT_POINTS", "h1:abc"),
        ("CASSANDRA_REQUEST_TIMEOUT", "soon"),
        ("CASSANDRA_CONNECT_TIMEOUT", "-1"),
        ("CASSANDRA_MAX_IN_FLIGHT", "0"),
        ("CASSANDRA_PROTOCOL_VERSION", "9"),
    ],
)
def test_from_env_malformed_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        CassandraConfig.from_env(environ={variable: value})


def test_from_env_error_never_echoes_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        CassandraConfig.from_env(environ={"CASSANDRA_PASSWORD": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(info.value)
    assert "CASSANDRA_USERNAME" in str(info.value) or "username" in str(info.value)


def test_a_trailing_comma_in_contact_points_is_accepted() -> None:
    env = {"CASSANDRA_CONTACT_POINTS": "h1, h2:9043,"}
    assert CassandraConfig.from_env(environ=env).contact_points == ("h1", "h2:9043")
    assert CassandraConfig(contact_points="h1,").contact_points == ("h1",)


def test_an_empty_contact_point_elsewhere_is_named() -> None:
    with pytest.raises(ConfigError, match=r"CASSANDRA_CONTACT_POINTS: entry 2 of 'h1,,h2'"):
        CassandraConfig.from_env(environ={"CASSANDRA_CONTACT_POINTS": "h1,,h2"})


@pytest.mark.parametrize(
    ("variable", "missing"),
    [("CASSANDRA_USERNAME", "CASSANDRA_PASSWORD"), ("CASSANDRA_PASSWORD", "CASSANDRA_USERNAME")],
)
def test_half_of_the_credentials_names_both_variables(variable: str, missing: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} is set but {missing} is not") as info:
        CassandraConfig.from_env(environ={variable: "v4lue-kept-secret"})
    assert "v4lue-kept-secret" not in str(info.value)


def test_half_of_the_credentials_given_in_code_names_the_argument() -> None:
    with pytest.raises(ConfigError, match="CASSANDRA_USERNAME is set but password is not"):
        CassandraConfig.from_env(environ={"CASSANDRA_USERNAME": "app"}, password=None)
