"""A table editor's page, and the row fragments HTMX swaps into it.

Fragments answer 200 even when they carry errors, so that HTMX swaps them in.
"""

import hashlib
import logging

from flask import abort, redirect, render_template, request

from peek.auth.guard import current_admin
from peek.runtime import current_runtime
from peek.table_editor import operations
from peek.table_editor.db_errors import RowRefused
from peek.table_editor.editor import TableEditor
from peek.table_editor.fields import FieldError, read_form
from peek.table_editor.operations import RowGone, Saved

log = logging.getLogger(__name__)


def table_page(plugin: str, table: str):
    editor = _editor(plugin, table)
    page = operations.rows_page(editor, request.args.get("page", 1, type=int))
    return render_template("table_editor/page.html", editor=editor, page=page,
                           values=_initial(editor), errors={})


def add_row(plugin: str, table: str):
    editor = _editor(plugin, table)
    values, errors = read_form(editor.editable, request.form, adding=True)
    message = None
    if not errors:
        try:
            saved = operations.add_row(editor, values)
        except RowRefused as e:
            errors, message = e.fields, e.message
        else:
            key = _logged("added", editor, saved)
            return render_template("table_editor/_add_form.html", editor=editor,
                                   values=_initial(editor), errors={}, message=None,
                                   row=saved.row, **_notice(f"Added row {key}", saved))
    return render_template("table_editor/_add_form.html", editor=editor,
                           values=_typed(editor), errors=errors, message=message, row=None)


def _stored_fragment(plugin: str, table: str, render):
    """``render(editor, row)`` for the stored row; the page itself when not
    asked by HTMX, and the gone notice when the row was deleted meanwhile."""
    editor, key = _target(plugin, table)
    if not request.headers.get("HX-Request"):
        return redirect(editor.url)
    try:
        row = operations.stored_row(editor, key)
    except RowGone as e:
        return _gone(editor, str(e))
    return render(editor, row)


def show_row(plugin: str, table: str):
    """The row as stored: what Reset shows, whatever was typed."""
    return _stored_fragment(plugin, table, lambda editor, row: render_template(
        "table_editor/_row.html", editor=editor, row=row, note=None, notice=None))


def edit_row(plugin: str, table: str):
    return _stored_fragment(plugin, table, lambda editor, row: _edit_form(
        editor, row, {f.key: f.form_value(row[f.key]) for f in editor.editable}))


def save_row(plugin: str, table: str):
    editor, key = _target(plugin, table)
    values, errors = read_form(editor.editable, request.form, adding=False)
    message = None
    try:
        if not errors:
            try:
                saved = operations.update_row(editor, key, values)
            except RowRefused as e:
                errors, message = e.fields, e.message
            else:
                done = _logged("changed", editor, saved)
                return render_template("table_editor/_row.html", editor=editor,
                                       row=saved.row, note=None,
                                       **_notice(f"Saved row {done}", saved))
        stored = operations.stored_row(editor, key)
    except RowGone as e:
        return _gone(editor, str(e))
    return _edit_form(editor, stored, _typed(editor), errors, message)


def delete_row(plugin: str, table: str):
    editor, key = _target(plugin, table)
    try:
        saved = operations.delete_row(editor, key)
    except RowGone:
        return render_template("table_editor/_notice.html", notice_error=False,
                               notice=f"Row {', '.join(request.args.getlist('key'))} "
                                      "was deleted already.")
    except RowRefused as e:
        try:
            row = operations.stored_row(editor, key)
        except RowGone as gone:
            return _gone(editor, str(gone))
        return render_template("table_editor/_row.html", editor=editor, row=row,
                               note=str(e), notice=None)
    done = _logged("deleted", editor, saved)
    return render_template("table_editor/_notice.html", **_notice(f"Deleted row {done}", saved))


def _editor(plugin: str, table: str) -> TableEditor:
    plugins = current_runtime().plugins
    editor = plugins.table_editor(plugin, table) if plugins else None
    if editor is None:
        abort(404, f"No table editor for {table} of {plugin} (is the plugin started?)")
    return editor


def _target(plugin: str, table: str) -> tuple[TableEditor, tuple]:
    """The editor and the primary key of the row the request names in ``?key=``."""
    editor = _editor(plugin, table)
    raw = request.args.getlist("key")
    try:
        if len(raw) != len(editor.key_fields):
            raise FieldError(f"the key has {len(editor.key_fields)} values")
        return editor, tuple(f.parse(value) for f, value in zip(editor.key_fields, raw))
    except FieldError as e:
        abort(400, f"Not a row of {editor.table.name}: {e}")


def _initial(editor: TableEditor) -> dict[str, str]:
    return {f.key: f.initial for f in editor.editable}


def _typed(editor: TableEditor) -> dict[str, str]:
    """What the administrator typed, to show it again with the errors."""
    return {f.key: f.raw_from(request.form) for f in editor.editable}


def _edit_form(editor: TableEditor, row: dict, values: dict[str, str],
               errors: dict[str, str] | None = None, message: str | None = None):
    key = editor.key_text(row)
    row_id = "row-" + hashlib.blake2s("\0".join(key).encode(), digest_size=5).hexdigest()
    return render_template("table_editor/_edit_row.html", editor=editor, key=key,
                           row_id=row_id, row=row, values=values, errors=errors or {},
                           message=message)


def _gone(editor: TableEditor, message: str):
    return render_template("table_editor/_gone.html", editor=editor,
                           key=request.args.getlist("key"), message=message)


def _notice(done: str, saved: Saved) -> dict:
    if saved.warning:
        return {"notice": f"{done}, but {saved.warning}.", "notice_error": True}
    return {"notice": f"{done}.", "notice_error": False}


def _logged(what: str, editor: TableEditor, saved: Saved) -> str:
    """Log an administrator's change; returns the row's key, as shown."""
    key = ", ".join(editor.key_text(saved.row))
    log.info("Administrator %s %s row %s of %s", current_admin().name, what, key,
             editor.table.fullname)
    return key
