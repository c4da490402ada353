"""Table properties as Cassandra normalises them: compression (off with ``{}``), compaction."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.cluster import Session
from cassandra.protocol import ConfigurationException


def _options(session: Session, keyspace: str, table: str) -> Any:
    return session.execute(
        "SELECT compression, compaction FROM system_schema.tables "
        "WHERE keyspace_name = %s AND table_name = %s",
        (keyspace, table),
    ).one()


def test_empty_compression_map_turns_compression_off(session: Session, keyspace: str) -> None:
    session.execute("CREATE TABLE plain (k int PRIMARY KEY) WITH compression = {}")
    assert dict(_options(session, keyspace, "plain").compression) == {"enabled": "false"}


def test_enabled_false_turns_compression_off(session: Session, keyspace: str) -> None:
    session.execute("CREATE TABLE plain (k int PRIMARY KEY) WITH compression = {'enabled': false}")
    assert dict(_options(session, keyspace, "plain").compression) == {"enabled": "false"}


def test_short_compressor_class_is_qualified_with_the_default_chunk_length(
    session: Session, keyspace: str
) -> None:
    session.execute(
        "CREATE TABLE packed (k int PRIMARY KEY) WITH compression = {'class': 'DeflateCompressor'}"
    )
    assert dict(_options(session, keyspace, "packed").compression) == {
        "chunk_length_in_kb": "64",
        "class": "org.apache.cassandra.io.compress.DeflateCompressor",
    }


def test_unknown_compressor_is_a_configuration_error(session: Session) -> None:
    with pytest.raises(ConfigurationException):
        session.execute("CREATE TABLE bad (k int PRIMARY KEY) WITH compression = {'class': 'Nope'}")


def test_short_compaction_class_is_qualified(session: Session, keyspace: str) -> None:
    session.execute(
        "CREATE TABLE levelled (k int PRIMARY KEY) "
        "WITH compaction = {'class': 'LeveledCompactionStrategy'}"
    )
    compaction = dict(_options(session, keyspace, "levelled").compaction)
    assert compaction["class"] == "org.apache.cassandra.db.compaction.LeveledCompactionStrategy"


def test_a_trailing_comma_in_the_column_list_is_accepted(session: Session) -> None:
    session.execute("CREATE TABLE trailing (k int PRIMARY KEY, v int,)")
    session.execute("INSERT INTO trailing (k, v) VALUES (1, 2)")
    assert session.execute("SELECT v FROM trailing WHERE k = 1").one().v == 2
