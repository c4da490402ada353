"""Replies that reach the client in two reads, the first ending in the reply's last bytes.

With protocol v5 and LZ4, Cassandra sends a segment uncompressed when compressing would not
shrink it (a small reply) and marks it with an uncompressed length of 0; its header is still
the 5-byte compressed one. A read that ends in such a segment's CRC must wait for the rest.
"""

from __future__ import annotations

from typing import Any

import pytest

from cassandra_asgi import connect
from cassandra_asgi.testing import CQLServer

from .conftest import create_keyspace, server_config

#: Seconds the end of each reply is held back: long enough for the client to read the rest.
HOLD = 0.05


@pytest.mark.memory_only
@pytest.mark.parametrize("compression", [False, "lz4"], ids=["uncompressed", "lz4"])
@pytest.mark.parametrize("held_back", [1, 2, 3, 4, 6, 9])
async def test_a_reply_whose_last_bytes_arrive_later_is_read_whole(
    cql_server: CQLServer, compression: Any, held_back: int
) -> None:
    if compression:
        pytest.importorskip("lz4")
    async with connect(server_config(cql_server, compression=compression)) as session:
        assert session.cluster.protocol_version == 5
        await create_keyspace(session, "partial")
        await session.execute("CREATE TABLE IF NOT EXISTS partial.kv (k int PRIMARY KEY, v int)")
        insert = await session.prepare("INSERT INTO partial.kv (k, v) VALUES (?, ?)")
        select = await session.prepare("SELECT v FROM partial.kv WHERE k = ?")
        cql_server.hold_back_tails(held_back, HOLD)
        for k in range(3):  # replies too small to compress: the case the header length matters
            await session.execute(insert, (k, k * 10))
            assert (await session.execute(select, (k,))).one().v == k * 10
        cql_server.clear_faults()
        assert (await session.execute(select, (2,))).one().v == 20


def test_holding_back_no_bytes_is_refused_naming_the_count(cql_server: CQLServer) -> None:
    with pytest.raises(ValueError, match="count must be a positive number of bytes, got 0"):
        cql_server.hold_back_tails(0, HOLD)
