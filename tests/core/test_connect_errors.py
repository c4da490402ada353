"""Connect failures that the driver reports vaguely are named in the user's terms.

Every name that must not resolve is under ``.invalid`` (RFC 6761), which is never looked up:
no test here sends anything beyond loopback, not even a DNS query.
"""

from __future__ import annotations

import logging

import pytest

from cassandra_asgi import CassandraConfig, ConnectError, connect


async def test_a_missing_keyspace_is_said_not_to_exist_naming_those_that_do(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    with pytest.raises(ConnectError) as caught:
        await connect(cassandra_config.replace(keyspace="no_such_keyspace"))
    message = str(caught.value)
    assert "keyspace 'no_such_keyspace' does not exist" in message
    assert keyspace in message  # the test's own keyspace exists


async def test_an_unknown_local_dc_is_named_with_the_data_centres_seen(
    cassandra_config: CassandraConfig,
) -> None:
    with pytest.raises(ConnectError, match=r"no node is in data centre 'dc9'.*seen are in '\w"):
        await connect(cassandra_config.replace(local_dc="dc9", connect_timeout=10))


@pytest.mark.memory_only
async def test_the_in_memory_servers_data_centre_is_the_one_named(
    cassandra_config: CassandraConfig,
) -> None:
    with pytest.raises(ConnectError, match="seen are in 'datacenter1'"):
        await connect(cassandra_config.replace(local_dc="dc9"))


async def test_a_contact_point_that_does_not_resolve_is_named() -> None:
    config = CassandraConfig(contact_points=["cassandra.example.invalid"], connect_timeout=5)
    with pytest.raises(ConnectError, match=r"cannot resolve .*'cassandra\.example\.invalid'"):
        await connect(config)


async def test_contact_points_that_do_not_resolve_are_left_out_when_others_do(
    cassandra_config: CassandraConfig, caplog: pytest.LogCaptureFixture
) -> None:
    points = ("typo.invalid", *cassandra_config.contact_points)
    with caplog.at_level(logging.WARNING, logger="cassandra_asgi"):
        async with connect(cassandra_config.replace(contact_points=points)) as session:
            assert await session.ping() > 0
    assert "'typo.invalid'" in caplog.text
