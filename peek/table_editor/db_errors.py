"""What the database refused, said on the fields it names, else on the row.

PostgreSQL names the columns of a unique or foreign key violation in its
detail (``Key (code)=(A1) already exists.``) and the column of a NOT NULL
violation in its diagnostics; other refusals are said for the whole row.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError

from peek.table_editor.editor import TableEditor
from peek.table_editor.fields import REQUIRED

UNIQUE, FOREIGN_KEY, NOT_NULL, CHECK = "23505", "23503", "23502", "23514"
_KEY_COLUMNS = re.compile(r"Key \((?P<columns>.*?)\)=\(")
_OTHER_TABLE = re.compile(r'table "(?P<table>[^"]+)"')


class RowRefused(ValueError):
    """A change the database refused: ``fields`` maps field keys to what is
    wrong with them, ``message`` says what is wrong with the row."""

    def __init__(self, message: str | None = None, fields: dict[str, str] | None = None):
        self.message, self.fields = message, fields or {}
        super().__init__(message or "; ".join(f"{k}: {v}" for k, v in self.fields.items()))


def refusal(editor: TableEditor, error: DBAPIError) -> RowRefused:
    """The :class:`RowRefused` an error of the database driver amounts to."""
    diag = getattr(error.orig, "diag", None)
    code = getattr(error.orig, "pgcode", None)
    primary = getattr(diag, "message_primary", None) or str(error.orig).splitlines()[0]
    detail = getattr(diag, "message_detail", None) or ""
    match = _KEY_COLUMNS.search(detail)
    columns = [c.strip().strip('"') for c in match["columns"].split(",")] if match else []
    other = _OTHER_TABLE.search(detail)
    other_table = other["table"] if other else "the other table"
    if code == UNIQUE:
        which = "this value" if len(columns) == 1 else "these values"
        return _on_fields(editor, columns, f"another row already has {which}")
    if code == FOREIGN_KEY and "still referenced" in detail:
        return RowRefused(f"rows of {other_table} still refer to this row: change or "
                          "delete them first")
    if code == FOREIGN_KEY:
        return _on_fields(editor, columns, f"no row of {other_table} has this value")
    if code == NOT_NULL:
        column = getattr(diag, "column_name", None)
        return _on_fields(editor, [column] if column else [], REQUIRED)
    if code == CHECK:
        name = getattr(diag, "constraint_name", None)
        rule = next((str(c.sqltext) for c in editor.table.constraints
                     if name and c.name == name and hasattr(c, "sqltext")), None)
        check = f"the table's check {name}" if name else "a check of the table"
        return RowRefused(check + (f" ({rule})" if rule else "") + " refuses these values")
    return RowRefused(f"the database refused the change: {primary}")


def _on_fields(editor: TableEditor, columns: list[str], message: str) -> RowRefused:
    fields = [editor.field_of_column(name) for name in columns]
    if fields and all(f is not None and f.editable for f in fields):
        return RowRefused(fields={f.key: message for f in fields})
    return RowRefused(f"{', '.join(columns)}: {message}" if columns else message)
