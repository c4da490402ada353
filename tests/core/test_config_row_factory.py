"""CassandraConfig.row_factory: the row shape chosen by name, callable or environment."""

from __future__ import annotations

from typing import Any

import pytest

from cassandra_asgi import CassandraConfig, ConfigError


def test_named_tuples_are_the_default() -> None:
    assert CassandraConfig().row_factory == "named_tuple"


@pytest.mark.parametrize("name", ["named_tuple", "dict", "tuple"])
def test_known_names_are_accepted(name: str) -> None:
    assert CassandraConfig(row_factory=name).row_factory == name


def test_a_callable_is_accepted() -> None:
    def first_column(names: list[str], rows: list[Any]) -> list[Any]:
        return [row[0] for row in rows]

    assert CassandraConfig(row_factory=first_column).row_factory is first_column


def test_an_unknown_name_is_rejected_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"row_factory: expected one of \['dict'"):
        CassandraConfig(row_factory="yaml")


def test_row_factory_is_read_from_the_environment() -> None:
    config = CassandraConfig.from_env(environ={"CASSANDRA_ROW_FACTORY": "dict"})
    assert config.row_factory == "dict"


def test_a_bad_row_factory_in_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CASSANDRA_ROW_FACTORY"):
        CassandraConfig.from_env(environ={"CASSANDRA_ROW_FACTORY": "yaml"})


def test_replace_keeps_the_row_factory() -> None:
    assert CassandraConfig(row_factory="tuple").replace(port=9043).row_factory == "tuple"
