"""Declaring a table editor: which model, which of its columns, who to notify.

``platform.add_table_editor`` checks the declaration here, once, when the
plugin loads, so that a mistake fails the plugin with a message naming it
rather than the page later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Mapper

from peek.table_editor.fields import Field, kind_of
from peek.vortex.selector import TupleSelector

#: Where the admin site serves the editors: ``/tables/<plugin>/<table>``.
URL_PREFIX = "/tables"

#: What a saved change notifies: a tuple type (or its name), a selector, or a
#: function given the row's values (before and after the change) returning
#: selectors or tuple types.
Notify = TupleSelector | type | str | Callable[[dict[str, Any]], Any]
_STATIC = (TupleSelector, type, str)


@dataclass(frozen=True, eq=False)
class TableEditor:
    platform: Any  # the declaring plugin's Platform: plugin_name, db_session, notify, log
    model: type
    title: str
    #: Every column of the table in order; those ``editable`` are the admin's to change.
    fields: tuple[Field, ...]
    notify: Notify | None = None

    @property
    def plugin(self) -> str:
        return self.platform.plugin_name

    @property
    def table(self) -> sa.Table:
        return sa.inspect(self.model).local_table

    @property
    def url(self) -> str:
        return f"{URL_PREFIX}/{self.plugin}/{self.table.name}"

    @property
    def editable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.editable)

    @property
    def key_fields(self) -> tuple[Field, ...]:
        """The primary key's fields, in the order ``Session.get`` takes them."""
        return tuple(next(f for f in self.fields if f.column is column)
                     for column in sa.inspect(self.model).primary_key)

    def field_of_column(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.column.name == name), None)

    def values_of(self, row: Any) -> dict[str, Any]:
        """A row's column values by field key (what pages show and notify gets)."""
        return {f.key: getattr(row, f.key) for f in self.fields}

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values[f.key] for f in self.key_fields)

    def key_text(self, values: dict[str, Any]) -> list[str]:
        """The primary key as the page's URLs carry it."""
        return [f.form_value(values[f.key]) for f in self.key_fields]

    def selectors(self, before: dict[str, Any] | None,
                  after: dict[str, Any] | None) -> list[TupleSelector | type | str]:
        """What to notify after a change from ``before`` to ``after`` (None: no row)."""
        if self.notify is None:
            return []
        if isinstance(self.notify, _STATIC):
            return [self.notify]
        found: list[Any] = []
        for values in (before, after):
            if values is not None:
                result = self.notify(dict(values))
                found += [result] if isinstance(result, _STATIC) else list(result or ())
        return list(dict.fromkeys(found))


def declare_editor(platform: Any, model: Any, *, title: str | None = None,
                   columns: Iterable[Any] | None = None,
                   notify: Notify | None = None) -> TableEditor:
    """A :class:`TableEditor` of ``model``, one of the plugin's own ORM classes;
    ValueError says what is wrong with the declaration."""
    plugin = platform.plugin_name
    try:
        mapper = sa.inspect(model)
    except NoInspectionAvailable:
        mapper = None
    if not isinstance(mapper, Mapper):
        raise ValueError(f"{plugin}: a table editor edits an SQLAlchemy ORM model class, "
                         f"not {model!r}")
    table = mapper.local_table
    if not isinstance(table, sa.Table) or mapper.inherits is not None:
        raise ValueError(f"{plugin}: {model.__name__} must map one table of its own")
    if table.schema != platform.schema:
        raise ValueError(f"{plugin} can only edit its own tables, in schema "
                         f"{platform.schema}, not {table.schema or '(no schema)'}.{table.name}")
    own = [a for a in mapper.column_attrs
           if len(a.columns) == 1 and a.columns[0].table is table]
    editable = _editable_keys(plugin, model, table, {a.key: a.columns[0] for a in own},
                              columns)
    fields = tuple(Field(a.key, a.columns[0], kind_of(a.columns[0]), a.key in editable)
                   for a in own)
    return TableEditor(platform, model, title or table.name.replace("_", " ").capitalize(),
                       fields, _checked_notify(plugin, notify))


def _editable_keys(plugin: str, model: type, table: sa.Table,
                   by_key: dict[str, sa.Column], columns: Iterable[Any] | None) -> set[str]:
    """The keys of the editable columns: those named (as strings or model
    attributes), else every column but an autoincrement primary key, a
    generated one or one of a type the editor cannot edit."""
    if columns is None:
        keys = {k for k, c in by_key.items() if c is not table.autoincrement_column
                and c.computed is None and kind_of(c) is not None}
    else:
        keys = set()
        for column in columns:
            key = getattr(column, "key", column)
            if getattr(column, "class_", model) is not model or key not in by_key:
                raise ValueError(f"{plugin}: {table.name} has no column {key!r}; its "
                                 f"columns: {', '.join(by_key)}")
            if kind_of(by_key[key]) is None or by_key[key].computed is not None:
                raise ValueError(f"{plugin}: column {key!r} of {table.name} "
                                 f"({by_key[key].type}) cannot be edited in a table editor")
            keys.add(key)
    if not keys:
        raise ValueError(f"{plugin}: {table.name} has no column a table editor can edit")
    return keys


def _checked_notify(plugin: str, notify: Any) -> Notify | None:
    tuple_class = getattr(notify, "__tuple_type__", notify)
    if (notify is None or isinstance(notify, TupleSelector)
            or (isinstance(notify, str) and notify)
            or (isinstance(notify, type) and hasattr(tuple_class, "__struct_config__"))
            or (callable(notify) and not isinstance(notify, type))):
        return notify
    raise ValueError(f"{plugin}: notify takes a tuple type, a TupleSelector or a function "
                     f"returning selectors, not {notify!r}")
