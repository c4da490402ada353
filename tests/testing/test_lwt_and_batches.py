"""Lightweight transactions and batches, as the driver sees them."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType


@pytest.fixture
def accounts(session: Session) -> Session:
    session.execute("CREATE TABLE accounts (id text PRIMARY KEY, owner text, balance int)")
    return session


def test_insert_if_not_exists_applies_once_and_then_reports_the_existing_row(
    accounts: Session,
) -> None:
    first = accounts.execute(
        "INSERT INTO accounts (id, owner, balance) VALUES ('a', 'ann', 10) IF NOT EXISTS"
    )
    assert first.was_applied
    second = accounts.execute(
        "INSERT INTO accounts (id, owner, balance) VALUES ('a', 'bob', 99) IF NOT EXISTS"
    )
    assert not second.was_applied
    row = second.one()
    assert (row.id, row.owner, row.balance) == ("a", "ann", 10)
    assert accounts.execute("SELECT owner FROM accounts WHERE id = 'a'").one().owner == "ann"


def test_update_if_condition_applies_only_when_it_holds(accounts: Session) -> None:
    accounts.execute("INSERT INTO accounts (id, owner, balance) VALUES ('a', 'ann', 10)")
    missed = accounts.execute("UPDATE accounts SET balance = 5 WHERE id = 'a' IF balance = 11")
    assert not missed.was_applied
    assert missed.one().balance == 10
    hit = accounts.execute(
        "UPDATE accounts SET balance = 5 WHERE id = 'a' IF balance = 10 AND owner = 'ann'"
    )
    assert hit.was_applied
    assert accounts.execute("SELECT balance FROM accounts WHERE id = 'a'").one().balance == 5


def test_prepared_conditional_update(accounts: Session) -> None:
    accounts.execute("INSERT INTO accounts (id, owner, balance) VALUES ('a', 'ann', 10)")
    cas = accounts.prepare("UPDATE accounts SET balance = ? WHERE id = ? IF balance = ?")
    assert accounts.execute(cas, (20, "a", 10)).was_applied
    assert not accounts.execute(cas, (30, "a", 10)).was_applied


def test_update_and_delete_if_exists(accounts: Session) -> None:
    assert not accounts.execute(
        "UPDATE accounts SET owner = 'x' WHERE id = 'z' IF EXISTS"
    ).was_applied
    assert accounts.execute("SELECT * FROM accounts WHERE id = 'z'").one() is None
    accounts.execute("INSERT INTO accounts (id, owner) VALUES ('z', 'zed')")
    assert accounts.execute("DELETE FROM accounts WHERE id = 'z' IF EXISTS").was_applied
    assert accounts.execute("SELECT * FROM accounts WHERE id = 'z'").one() is None


def test_logged_batch_message_applies_every_statement(accounts: Session) -> None:
    insert = accounts.prepare("INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    batch.add(insert, ("a", "ann", 1))
    batch.add(insert, ("b", "bob", 2))
    batch.add("UPDATE accounts SET balance = 3 WHERE id = %s", ("a",))
    accounts.execute(batch)
    rows = accounts.execute("SELECT id, balance FROM accounts")
    assert sorted(tuple(r) for r in rows) == [("a", 3), ("b", 2)]


def test_unlogged_batch_message(accounts: Session) -> None:
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    batch.add("INSERT INTO accounts (id, balance) VALUES ('u', 1)")
    batch.add("DELETE FROM accounts WHERE id = 'u'")
    accounts.execute(batch)
    assert accounts.execute("SELECT * FROM accounts WHERE id = 'u'").one() is None


def test_batch_in_query_text_with_bind_markers(accounts: Session) -> None:
    prepared = accounts.prepare(
        "BEGIN BATCH "
        "INSERT INTO accounts (id, balance) VALUES (?, ?); "
        "INSERT INTO accounts (id, balance) VALUES (?, ?); "
        "APPLY BATCH"
    )
    accounts.execute(prepared, ("x", 1, "y", 2))
    accounts.execute(
        "BEGIN UNLOGGED BATCH UPDATE accounts SET owner = 'o' WHERE id = 'x' APPLY BATCH"
    )
    rows = accounts.execute("SELECT id, owner, balance FROM accounts")
    assert sorted(tuple(r) for r in rows) == [("x", "o", 1), ("y", None, 2)]


def test_conditional_batch_applies_all_or_nothing(accounts: Session) -> None:
    accounts.execute("INSERT INTO accounts (id, balance) VALUES ('a', 10)")
    failing = BatchStatement()
    failing.add("UPDATE accounts SET balance = 0 WHERE id = 'a' IF balance = 99")
    failing.add("INSERT INTO accounts (id, balance) VALUES ('a', 7)")
    assert not accounts.execute(failing).was_applied
    assert accounts.execute("SELECT balance FROM accounts WHERE id = 'a'").one().balance == 10
    passing = BatchStatement()
    passing.add("UPDATE accounts SET balance = 0 WHERE id = 'a' IF balance = 10")
    passing.add("UPDATE accounts SET owner = 'ann' WHERE id = 'a'")
    assert accounts.execute(passing).was_applied
    row = accounts.execute("SELECT owner, balance FROM accounts WHERE id = 'a'").one()
    assert (row.owner, row.balance) == ("ann", 0)


def test_select_is_refused_inside_a_batch(accounts: Session) -> None:
    batch = BatchStatement()
    batch.add("SELECT * FROM accounts")
    with pytest.raises(InvalidRequest, match="only UPDATE, INSERT and DELETE"):
        accounts.execute(batch)


def test_conditional_batch_must_stay_in_one_partition(accounts: Session) -> None:
    batch = BatchStatement()
    batch.add("INSERT INTO accounts (id, balance) VALUES ('p', 1) IF NOT EXISTS")
    batch.add("INSERT INTO accounts (id, balance) VALUES ('q', 1)")
    with pytest.raises(InvalidRequest, match="cannot span multiple partitions"):
        accounts.execute(batch)
