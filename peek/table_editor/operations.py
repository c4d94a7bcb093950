"""Every change a table editor makes goes through here: one transaction in the
plugin's session per change, then the observers the editor names are told.

Values arrive converted and checked (:func:`peek.table_editor.fields.read_form`).
What the database refuses is rolled back and raised as
:class:`~peek.table_editor.db_errors.RowRefused`; a row that is not there
(deleted meanwhile) is :class:`RowGone`.  The row changed is locked until
the commit, so two administrators saving the same row wait for each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from peek.table_editor.db_errors import refusal
from peek.table_editor.editor import TableEditor

PER_PAGE = 100
Values = dict[str, Any]


class RowGone(LookupError):
    """The row is not in the table (deleted meanwhile, or never there)."""


@dataclass(frozen=True)
class Page:
    rows: list[Values]
    number: int
    pages: int
    total: int


@dataclass(frozen=True)
class Saved:
    #: The row as stored after the change (a deleted row: as it was).
    row: Values
    #: Why telling the observers failed (the change is saved all the same).
    warning: str | None = None


def rows_page(editor: TableEditor, number: int) -> Page:
    """Page ``number`` (from 1, kept in range) of the rows, by primary key."""
    with editor.platform.db_session() as session:
        total = session.scalar(select(func.count()).select_from(editor.table))
        pages = max(1, math.ceil(total / PER_PAGE))
        number = min(max(1, number), pages)
        rows = session.scalars(select(editor.model)
                               .order_by(*(f.column for f in editor.key_fields))
                               .offset((number - 1) * PER_PAGE).limit(PER_PAGE))
        return Page([editor.values_of(row) for row in rows], number, pages, total)


def stored_row(editor: TableEditor, key: tuple) -> Values:
    with editor.platform.db_session() as session:
        return editor.values_of(_row(session, editor, key, lock=False))


def add_row(editor: TableEditor, values: Values) -> Saved:
    def change(session: Session) -> tuple[None, Values]:
        row = editor.model(**values)
        session.add(row)
        session.flush()
        session.refresh(row)  # what the database made of it: defaults, the new key
        return None, editor.values_of(row)
    return _write(editor, change)


def update_row(editor: TableEditor, key: tuple, values: Values) -> Saved:
    def change(session: Session) -> tuple[Values, Values]:
        row = _row(session, editor, key)
        before = editor.values_of(row)
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        session.refresh(row)
        return before, editor.values_of(row)
    return _write(editor, change)


def delete_row(editor: TableEditor, key: tuple) -> Saved:
    def change(session: Session) -> tuple[Values, None]:
        row = _row(session, editor, key)
        before = editor.values_of(row)
        session.delete(row)
        session.flush()
        return before, None
    return _write(editor, change)


def _row(session: Session, editor: TableEditor, key: tuple, lock: bool = True) -> Any:
    row = session.get(editor.model, key, with_for_update=lock)
    if row is None:
        raise RowGone(f"row {', '.join(map(str, key))} is no longer in {editor.table.name}: "
                      "someone deleted it meanwhile")
    return row


def _write(editor: TableEditor,
           change: Callable[[Session], tuple[Values | None, Values | None]]) -> Saved:
    with editor.platform.db_session() as session:
        try:
            before, after = change(session)
            session.commit()
        except DBAPIError as e:
            session.rollback()
            refused = refusal(editor, e)
            editor.platform.log.warning("The database refused a change to %s: %s",
                                        editor.table.fullname, refused)
            raise refused from None
    return Saved(after or before, _notify_observers(editor, before, after))


def _notify_observers(editor: TableEditor, before: Values | None,
                      after: Values | None) -> str | None:
    try:
        for what in editor.selectors(before, after):
            editor.platform.notify(what)
    except Exception as e:  # the change is committed: say so, and what failed
        editor.platform.log.exception("Notifying the observers of %s failed",
                                      editor.table.fullname)
        return f"telling the observers failed: {type(e).__name__}: {e}"
    return None
