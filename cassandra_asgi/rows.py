"""Row factories: turn the driver's decoded rows into the objects handlers see.

For ``execute()`` they run on the driver's reactor thread for every page, so they must be cheap.
The driver's own ``named_tuple_factory`` builds a fresh namedtuple *class* per result, which
costs most of the client CPU of a small query; here the class is built once per column set and
reused.

Streams and walks over many pages ask the driver for plain tuples instead and shape rows on the
loop thread a few hundred at a time (``loop_shaper``). Why: CPython's cyclic collector stops
tracking a plain tuple of atomic values at its first collection, but never a named tuple. Whole
pages of named tuples held in a read-ahead buffer survive young collections, get promoted and
keep triggering full collections, each of which holds the GIL (stalls the event loop) for as
long as walking the whole heap takes. Rows shaped just before they are handed out die young.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from cassandra.query import dict_factory, named_tuple_factory, ordered_dict_factory, tuple_factory

from ._compat import clean_column_name, sanitize_identifiers

__all__ = [
    "DRIVER_ROW_FACTORIES",
    "ROW_FACTORIES",
    "RowFactory",
    "dict_rows",
    "loop_shaper",
    "named_tuple_rows",
    "resolve_row_factory",
    "tuple_rows",
]

log = logging.getLogger("cassandra_asgi")

RowFactory = Callable[[list[str], list[Any]], list[Any]]

#: Distinct column sets remembered; ad hoc queries cannot grow the cache without bound.
_MAX_CACHED_ROW_CLASSES = 1024
#: ``namedtuple`` called with run-time field names (typed loosely on purpose).
_make_row_class: Callable[[str, list[str]], type[tuple[Any, ...]]] = namedtuple
_row_classes: dict[tuple[str, ...], Callable[[Sequence[Any]], tuple[Any, ...]]] = {}


def _row_maker(colnames: Sequence[str]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    key = tuple(colnames)
    try:
        return _row_classes[key]
    except KeyError:
        pass
    cleaned = [clean_column_name(name) for name in key]
    try:
        row_class = _make_row_class("Row", cleaned)
    except ValueError:
        # Same fallback as the driver: keywords and duplicates get adjusted names.
        row_class = _make_row_class("Row", sanitize_identifiers(cleaned))
        log.warning(
            "column names %s cannot all be Python attribute names; rows use %s instead "
            "(alias the columns in the SELECT to choose names)",
            list(key),
            list(getattr(row_class, "_fields", ())),
        )
    # tuple.__new__ skips namedtuple's Python-level __new__: one C call per row.
    maker: Callable[[Sequence[Any]], tuple[Any, ...]] = partial(tuple.__new__, row_class)
    if len(_row_classes) >= _MAX_CACHED_ROW_CLASSES:
        _row_classes.clear()
    _row_classes[key] = maker
    return maker


def named_tuple_rows(colnames: list[str], rows: list[Any]) -> list[Any]:
    """Rows as named tuples (``row.name`` and ``row[0]``), the driver's default shape."""
    return list(map(_row_maker(colnames), rows))


def dict_rows(colnames: list[str], rows: list[Any]) -> list[Any]:
    """Rows as ``dict`` keyed by the column names exactly as the server sent them."""
    return [dict(zip(colnames, row, strict=True)) for row in rows]


def tuple_rows(colnames: list[str], rows: list[Any]) -> list[Any]:
    """Rows as plain tuples: the cheapest shape."""
    return rows


#: Row shapes by name: ``CassandraConfig(row_factory=...)`` and ``execute(execution_profile=...)``.
ROW_FACTORIES: dict[str, RowFactory] = {
    "named_tuple": named_tuple_rows,
    "dict": dict_rows,
    "tuple": tuple_rows,
}


#: The driver's own factories for the same shapes: its ``ResultSet.was_applied`` knows only those.
DRIVER_ROW_FACTORIES: dict[str, RowFactory] = {
    "named_tuple": named_tuple_factory,
    "dict": dict_factory,
    "tuple": tuple_factory,
}


def resolve_row_factory(
    choice: str | RowFactory, factories: dict[str, RowFactory] = ROW_FACTORIES
) -> RowFactory:
    """Map a config value (``"named_tuple"``, ``"dict"``, ``"tuple"``, a callable) to a factory."""
    if callable(choice):
        return choice
    try:
        return factories[choice]
    except KeyError:
        raise ValueError(
            f"row_factory: expected one of {sorted(ROW_FACTORIES)} or a callable, got {choice!r}"
        ) from None


#: Factories whose rows can be made on the loop thread from plain tuples, a chunk at a time,
#: with the same result: each maps one row to one row and needs nothing but the column names.
#: The driver's named-tuple factory maps to ours (same fields, the class built once).
_LOOP_SHAPERS: dict[Any, RowFactory] = {
    named_tuple_rows: named_tuple_rows,
    named_tuple_factory: named_tuple_rows,
    dict_rows: dict_rows,
    dict_factory: dict_factory,
    ordered_dict_factory: ordered_dict_factory,
}


def loop_shaper(row_factory: Any) -> RowFactory | None:
    """What to apply on the loop thread to plain-tuple rows instead of ``row_factory``.

    ``None`` means: let the driver apply ``row_factory`` as usual. That is the answer for
    factories that already give plain tuples, and for any other callable, whose contract is a
    whole page at a time (it may aggregate, or build one object per page).
    """
    try:
        return _LOOP_SHAPERS.get(row_factory)
    except TypeError:  # an unhashable callable object
        return None
