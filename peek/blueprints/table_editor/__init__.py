from peek.blueprints.table_editor.blueprint import bp

__all__ = ["bp"]
