"""scyllapy (the ScyllaDB Rust driver) against the in-memory server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from typing import Any

import pytest

from cassandra_asgi.testing import CQLServer

from .conftest import SCHEMA, TYPES, TYPES_INSERT

scyllapy = pytest.importorskip("scyllapy", reason="no scyllapy wheel for this interpreter")
ScyllaPyDBError = pytest.importorskip("scyllapy.exceptions").ScyllaPyDBError

pytestmark = pytest.mark.memory_only


@pytest.fixture
async def scylla(server: CQLServer) -> Any:
    client = scyllapy.Scylla([server.contact_point])
    await client.startup()
    for statement in SCHEMA:
        await client.execute(statement)
    try:
        yield client
    finally:
        await client.shutdown()


def _normalised(name: str, value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    if name == "c_time" and isinstance(value, datetime.timedelta):
        return (datetime.datetime.min + value).time()
    if name == "c_set":
        return set(value)
    if name == "c_inet":
        return ipaddress.ip_address(str(value))
    return value


async def test_every_supported_type_reads_back_through_the_rust_driver(scylla: Any) -> None:
    await scylla.execute(TYPES_INSERT)
    row = (await scylla.execute("SELECT * FROM clients.types WHERE k = 1")).first()
    assert row is not None
    for name, (_cql, _literal, expected) in TYPES.items():
        assert _normalised(name, row[name]) == expected, name


async def test_crud_with_bound_values_and_prepared_statements(scylla: Any) -> None:
    await scylla.execute("INSERT INTO clients.kv (k, c, v) VALUES (?, ?, ?)", [1, 1, "one"])
    insert = await scylla.prepare("INSERT INTO clients.kv (k, c, v) VALUES (?, ?, ?)")
    await scylla.execute(insert, [1, 2, "two"])
    select = await scylla.prepare("SELECT c, v FROM clients.kv WHERE k = ?")
    assert (await scylla.execute(select, [1])).all() == [
        {"c": 1, "v": "one"},
        {"c": 2, "v": "two"},
    ]
    await scylla.execute("UPDATE clients.kv SET v = ? WHERE k = ? AND c = ?", ["deux", 1, 2])
    await scylla.execute("DELETE FROM clients.kv WHERE k = ? AND c = ?", [1, 1])
    assert (await scylla.execute(select, [1])).all() == [{"c": 2, "v": "deux"}]


async def test_paging_walks_every_page_with_the_paging_state(
    scylla: Any, server: CQLServer
) -> None:
    # scyllapy has no page-size knob: the Rust driver asks for 5,000 rows a page, so 5,500
    # rows take two pages, the second one requested with the first one's paging state
    insert = await scylla.prepare("INSERT INTO clients.kv (k, c, v) VALUES (?, ?, ?)")
    for start in range(0, 5_500, 500):
        await asyncio.gather(
            *(scylla.execute(insert, [7, c, f"v{c}"]) for c in range(start, start + 500))
        )
    server.reset_counters()
    rows = await scylla.execute("SELECT c FROM clients.kv WHERE k = 7", paged=True)
    seen = [row["c"] async for row in rows]
    assert seen == list(range(5_500))
    assert server.requests.get("QUERY", 0) == 2


async def test_lightweight_transactions_report_applied(scylla: Any) -> None:
    text = "INSERT INTO clients.kv (k, c, v) VALUES (9, 9, 'first') IF NOT EXISTS"
    assert (await scylla.execute(text)).first()["[applied]"] is True
    again = (await scylla.execute(text.replace("first", "second"))).first()
    assert again["[applied]"] is False
    assert again["v"] == "first"


async def test_batches_apply_every_member(scylla: Any) -> None:
    batch = scyllapy.InlineBatch()
    batch.add_query("INSERT INTO clients.kv (k, c, v) VALUES (?, ?, ?)", [3, 1, "a"])
    prepared = await scylla.prepare("INSERT INTO clients.kv (k, c, v) VALUES (?, ?, ?)")
    batch.add_query(prepared, [3, 2, "b"])
    await scylla.batch(batch)
    rows = (await scylla.execute("SELECT v FROM clients.kv WHERE k = 3")).scalars()
    assert rows == ["a", "b"]


async def test_schema_changes_are_answered(scylla: Any) -> None:
    await scylla.execute("CREATE TABLE clients.extra (k int PRIMARY KEY, v int)")
    await scylla.execute("INSERT INTO clients.extra (k, v) VALUES (1, 1)")
    await scylla.execute("DROP TABLE clients.extra")
    with pytest.raises(ScyllaPyDBError, match="extra"):
        await scylla.execute("SELECT * FROM clients.extra")


async def test_server_errors_reach_the_rust_driver_with_their_messages(scylla: Any) -> None:
    errors = ScyllaPyDBError
    with pytest.raises(errors, match="nope"):
        await scylla.execute("SELECT * FROM clients.nope")
    with pytest.raises(errors, match="FORM"):
        await scylla.execute("SELECT * FORM clients.kv")
    with pytest.raises(errors, match="already existing"):
        await scylla.execute("CREATE TABLE clients.kv (k int PRIMARY KEY)")
