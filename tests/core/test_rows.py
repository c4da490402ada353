"""Row factories: cached named-tuple classes, dicts, tuples, awkward column names."""

from __future__ import annotations

import pytest

from cassandra_asgi.rows import dict_rows, named_tuple_rows, resolve_row_factory, tuple_rows


def test_named_tuple_rows_expose_columns_by_name_and_position() -> None:
    rows = named_tuple_rows(["id", "name"], [(1, "a"), (2, "b")])
    assert rows[0].id == 1
    assert rows[1].name == "b"
    assert rows[1][0] == 2
    assert rows == [(1, "a"), (2, "b")]


def test_named_tuple_class_is_reused_for_the_same_columns() -> None:
    first = named_tuple_rows(["k", "v"], [(1, 2)])
    second = named_tuple_rows(["k", "v"], [(3, 4)])
    assert type(first[0]) is type(second[0])


def test_named_tuple_class_differs_for_other_columns() -> None:
    first = named_tuple_rows(["k", "v"], [(1, 2)])
    other = named_tuple_rows(["k", "w"], [(1, 2)])
    assert type(first[0]) is not type(other[0])
    assert other[0].w == 2


def test_lwt_applied_column_is_cleaned_like_the_driver_does() -> None:
    (row,) = named_tuple_rows(["[applied]", "count"], [(True, 3)])
    assert row.applied is True
    assert row[0] is True
    assert row.count == 3


def test_keyword_column_names_fall_back_to_positional_fields() -> None:
    (row,) = named_tuple_rows(["class", "from"], [(1, 2)])
    assert tuple(row) == (1, 2)


def test_dict_rows_keep_the_server_column_names() -> None:
    assert dict_rows(["[applied]", "id"], [(False, 7)]) == [{"[applied]": False, "id": 7}]


def test_tuple_rows_are_the_decoded_rows_unchanged() -> None:
    rows = [(1, 2)]
    assert tuple_rows(["a", "b"], rows) is rows


@pytest.mark.parametrize(
    ("name", "factory"),
    [("named_tuple", named_tuple_rows), ("dict", dict_rows), ("tuple", tuple_rows)],
)
def test_row_factories_resolve_by_name(name: str, factory: object) -> None:
    assert resolve_row_factory(name) is factory


def test_unknown_row_factory_name_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="named_tuple"):
        resolve_row_factory("yaml")


def test_duplicate_column_names_get_distinct_fields() -> None:
    (row,) = named_tuple_rows(["v", "v"], [(1, 2)])
    assert tuple(row) == (1, 2)
    assert len(set(type(row)._fields)) == 2


def test_function_call_columns_become_attribute_names() -> None:
    (row,) = named_tuple_rows(["writetime(v)", "system.now()"], [(1, 2)])
    assert row.writetime_v == 1
    assert row.system_now == 2
