"""Table editors: tables of a plugin the administrator edits on the admin site.

A server hook declares one with ``self.platform.add_table_editor(Model)``
(:mod:`peek.table_editor.editor`); the ``table_editor`` blueprint serves its
page; every change goes through :mod:`peek.table_editor.operations`.
"""
